// Completions the kernel drops (EventNodeOptions::uring_completion_fault): with its
// completion queue full and no memory for its overflow list, the kernel drops a completion,
// and its operation ends unseen. Whichever it was (a receive, the wake-up poll of commands,
// the deadline timer, the listener), the node goes on: the connections that had an operation
// posted end and come back, calls made afterwards are answered, and stop() returns (before,
// a dropped wake-up poll left the loop deaf to commands, stop() among them, and a dropped
// receive stalled its connection and then stop()'s drain for good).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;
using testing::driver_metric;
using testing::LogLines;
using testing::wait_established;
using testing::wait_until;
using namespace std::chrono_literals;

constexpr std::uint16_t kEcho = 1;

// Drops completions of one kind of operation while armed, and counts them.
class DropFault {
 public:
  explicit DropFault(std::string operation, int times = 1)
      : operation_(std::move(operation)), left_(times) {}
  void arm() { armed_ = true; }
  int dropped() const { return dropped_; }
  std::function<bool(std::string_view)> seam() {
    return [this](std::string_view operation) {
      if (!armed_ || operation != operation_ || left_.load() == 0) return false;
      --left_;
      ++dropped_;
      return true;
    };
  }

 private:
  const std::string operation_;
  std::atomic<bool> armed_{false};
  std::atomic<int> left_;
  std::atomic<int> dropped_{0};
};

// Two io_uring nodes: `server` echoes (kEcho), `client` dials it. The fault is the server's
// when `on_server`, else the client's; so is the log. `tune`, if given, changes both nodes'
// options before they start.
using Tune = std::function<void(EventNodeOptions& serving, EventNodeOptions& dialing)>;
struct Pair {
  Pair(DropFault& fault, bool on_server, LogLines& log, std::int64_t ping_interval_ms,
       std::function<int()> wait_fault = nullptr, const Tune& tune = nullptr) {
    const std::string client_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    server_name = client_name == "alpha" ? "bravo" : "alpha";
    EventNodeOptions serving = options_for(server_name, client_name, ping_interval_ms);
    EventNodeOptions dialing = options_for(client_name, server_name, ping_interval_ms);
    EventNodeOptions& faulty = on_server ? serving : dialing;
    faulty.uring_completion_fault = fault.seam();
    faulty.uring_wait_fault = std::move(wait_fault);
    faulty.log = log.sink();
    if (tune) tune(serving, dialing);
    server = std::make_unique<EventNode>(std::move(serving));
    server->handle(kEcho, "", [](IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    EXPECT_EQ(server->start(), Errc::ok);
    dialing.addresses.push_back({server_name, "127.0.0.1", server->port()});
    client = std::make_unique<EventNode>(std::move(dialing));
    EXPECT_EQ(client->start(), Errc::ok);
  }
  static EventNodeOptions options_for(const std::string& name, const std::string& peer,
                                      std::int64_t ping_interval_ms) {
    EventNodeOptions options;
    options.config = config_for(name, peer);
    options.config.timeouts.ping_interval_ms = ping_interval_ms;
    options.loop_backend = LoopBackend::io_uring;
    return options;
  }
  // Whether an echo of 64 B comes back whole within 2 s.
  bool echoes() {
    const std::vector<std::uint8_t> sent(64, 0x5a);
    auto reply = client->request(server_name, kEcho, std::vector<std::uint8_t>(sent), 2000);
    if (reply.wait_for(5s) != std::future_status::ready) return false;
    const Reply got = reply.get();
    return got.error == Errc::ok && got.payload == sent;
  }
  // Whether both nodes stop within 15 s (stop() hung before, after some drops).
  bool stop_both() {
    auto stopped = std::async(std::launch::async, [this] {
      client->stop();
      server->stop();
    });
    if (stopped.wait_for(15s) == std::future_status::ready) return true;
    ADD_FAILURE() << "stop() did not return";
    std::abort();  // the future would wait for the hung stop() forever
  }
  std::string server_name;
  std::unique_ptr<EventNode> server;
  std::unique_ptr<EventNode> client;
};

class IoUringDrops : public ::testing::TestWithParam<std::pair<const char*, bool>> {};

TEST_P(IoUringDrops, TheNodeRecoversAndStops) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  const auto [operation, on_server] = GetParam();
  DropFault fault(operation);
  LogLines log;
  // A dropped listen poll is armed from the start: the client's connection is what it
  // drops, and the connection must still be accepted.
  if (std::string_view(operation) == "listen") fault.arm();
  Pair pair(fault, on_server, log, 100);  // the timer fires often
  ASSERT_TRUE(wait_established(*pair.client));
  ASSERT_TRUE(pair.echoes());
  fault.arm();
  // Calls from the application's thread wake the loop (a "wake"), their answers come in
  // (a "receive"), and the pings keep the timer going (a "timer").
  ASSERT_TRUE(wait_until(
      [&] {
        pair.echoes();
        return fault.dropped() == 1;
      },
      20s))
      << operation << " was never dropped";
  // The connection comes back, and every call from then on is answered.
  ASSERT_TRUE(wait_until([&] { return pair.echoes(); }, 20s));
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(pair.echoes()) << "echo " << i;
  EventNode& faulty = on_server ? *pair.server : *pair.client;
  EXPECT_EQ(driver_metric(faulty, "io_uring_completions_dropped"), 1);
  EXPECT_EQ(log.with(LogLevel::error, "io_uring: the kernel dropped 1 completions").size(), 1U);
  // The socket the recovery closed is not parked for good: the cancellation of the
  // operation whose completion was dropped finds nothing (ENOENT), which frees it. Before,
  // its buffers (up to read_buffer_bytes) waited for a completion that never comes, until
  // stop().
  EXPECT_TRUE(wait_until([&] { return driver_metric(faulty, "io_uring_sockets_parked") == 0; }, 5s))
      << driver_metric(faulty, "io_uring_sockets_parked") << " sockets parked";
  EXPECT_TRUE(pair.stop_both());
}

INSTANTIATE_TEST_SUITE_P(Operations, IoUringDrops,
                         ::testing::Values(std::pair{"wake", false}, std::pair{"receive", false},
                                           std::pair{"timer", false}, std::pair{"receive", true},
                                           std::pair{"listen", true}, std::pair{"timer", true}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.first) +
                                  (param_info.param.second ? "_server" : "_client");
                         });

// The protocol errors `node` closed connections for, of every peer and kind.
std::uint64_t protocol_errors(EventNode& node) {
  std::uint64_t errors = 0;
  for (const PeerMetrics& peer : node.metrics().peers) {
    for (const std::uint64_t count : peer.counters.protocol_errors)
      errors += count;
  }
  return errors;
}

// A send with nothing behind it completes quietly: only its failure (a full socket cut it
// short) has a completion. When the kernel drops completions in the turn such a send went
// out, its failure may be the one dropped, so the send cannot be taken as whole: its
// connection ends. Taken as whole, the bytes it did not send would be skipped, and the peer
// would read the next frame from the middle of this one. (Two guards keep it so: the send's
// own confirmation, and the recovery that ends every connection with an operation posted;
// with both taken out the server counts a protocol error here, with either one it does not.)
TEST(IoUringDrops, ADroppedFailureOfAQuietSendEndsItsConnectionWithNothingSkipped) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  DropFault fault("quiet_send");
  LogLines log;
  // The client copies output of up to 8 MiB into its ring sends (16 KiB by default), so
  // a large request goes by ring sends. The server's receive buffer is kept at its floor:
  // autotuned, it grows to tens of MiB on loopback, takes a whole request in one send, and
  // no send ever fails (the test then timed out under load, waiting for a failure).
  Pair pair(fault, false, log, 10'000, nullptr,
            [](EventNodeOptions& serving, EventNodeOptions& dialing) {
              serving.socket_receive_bytes = EventNodeOptions::kMinSocketReceiveBytes;
              dialing.uring_send_copy_bytes = 8 << 20;
            });
  ASSERT_TRUE(wait_established(*pair.client));
  ASSERT_TRUE(pair.echoes());
  fault.arm();
  // Requests of 4 MiB, one at a time: the last part of each goes out with nothing behind it
  // into a socket the earlier parts filled.
  const std::vector<std::uint8_t> large(4 << 20, 0x6b);
  ASSERT_TRUE(wait_until(
      [&] {
        auto reply =
            pair.client->request(pair.server_name, kEcho, std::vector<std::uint8_t>(large), 5000);
        reply.wait_for(10s);
        return fault.dropped() == 1;
      },
      20s))
      << "no failed quiet send was dropped";
  ASSERT_TRUE(wait_until([&] { return pair.echoes(); }, 20s));
  for (int i = 0; i < 5; ++i) {
    auto reply =
        pair.client->request(pair.server_name, kEcho, std::vector<std::uint8_t>(large), 5000);
    ASSERT_EQ(reply.wait_for(10s), std::future_status::ready);
    const Reply got = reply.get();
    ASSERT_EQ(got.error, Errc::ok) << i;
    EXPECT_TRUE(got.payload == large) << i;
  }
  EXPECT_EQ(driver_metric(*pair.client, "io_uring_completions_dropped"), 1);
  EXPECT_EQ(log.with(LogLevel::error, "io_uring: the kernel dropped 1 completions").size(), 1U);
  // The server read every frame whole: no connection ended for a frame cut short.
  EXPECT_EQ(protocol_errors(*pair.server), 0U);
  EXPECT_TRUE(pair.stop_both());
}

// A dial's connect completes as a poll_out; dropped, the recovery ends the dial as a failed
// dial (connect_failures, as libevent reports a connect that fails), not as a connection
// that went down: the dialer's log and counters say what happened. Before, it counted no
// connect failure and logged a transport down.
TEST(IoUringDrops, ADroppedCompletionOfAConnectFailsTheDial) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  DropFault fault("poll_out");
  fault.arm();  // from the start: the first poll_out of the client is its connect's
  LogLines log;
  Pair pair(fault, false, log, 10'000);
  ASSERT_TRUE(wait_established(*pair.client));
  if (fault.dropped() == 0) GTEST_SKIP() << "the connect completed at once, without a poll_out";
  ASSERT_TRUE(pair.echoes());
  const std::vector<PeerMetrics> peers = pair.client->metrics().peers;
  ASSERT_EQ(peers.size(), 1U);
  EXPECT_EQ(peers[0].counters.connect_failures, 1U);
  EXPECT_EQ(peers[0].counters.disconnects, 0U);
  EXPECT_TRUE(pair.stop_both());
}

// A socket closed with its receive posted is parked until that receive's own completion
// (canceled) frees its buffers. When the kernel drops that completion, the recovery asks
// again (a cancellation that finds nothing, ENOENT, tells the completion will never come),
// so the socket does not stay parked until stop().
TEST(IoUringDrops, ADroppedCompletionOfAClosedSocketsOperationDoesNotParkItForGood) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  DropFault fault("receive");
  LogLines log;
  Pair pair(fault, false, log, 10'000);
  ASSERT_TRUE(wait_established(*pair.client));
  ASSERT_TRUE(pair.echoes());
  // The client drops the server: its idle connection closes with its receive posted.
  fault.arm();
  ASSERT_EQ(pair.client->remove_peer(pair.server_name), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return fault.dropped() == 1; }, 5s));
  EXPECT_TRUE(
      wait_until([&] { return driver_metric(*pair.client, "io_uring_sockets_parked") == 0; }, 5s))
      << driver_metric(*pair.client, "io_uring_sockets_parked") << " sockets parked";
  EXPECT_TRUE(pair.stop_both());
}

// While the node stops: the drain's own cancellation, or a canceled receive, completes
// unseen, and the drain does not wait for it for ever.
TEST(IoUringDropsWhileStopping, TheDrainEndsWithoutTheDroppedCompletion) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  for (const char* operation : {"cancel", "receive"}) {
    SCOPED_TRACE(operation);
    DropFault fault(operation, 1000);
    LogLines log;
    // Pings far apart: the idle client receives nothing between the arming and the stop.
    Pair pair(fault, false, log, 10'000);
    ASSERT_TRUE(wait_established(*pair.client));
    ASSERT_TRUE(pair.echoes());
    // Armed on the loop thread, as its last act before the stop: only the drain's
    // completions are dropped.
    std::promise<void> armed;
    ASSERT_EQ(pair.client->run_on_loop([&] {
      fault.arm();
      armed.set_value();
    }),
              Errc::ok);
    armed.get_future().wait();
    auto stopped = std::async(std::launch::async, [&] { pair.client->stop(); });
    if (stopped.wait_for(15s) != std::future_status::ready) {
      ADD_FAILURE() << "stop() did not return";
      std::abort();
    }
    EXPECT_GE(fault.dropped(), 1);
    EXPECT_EQ(log.with(LogLevel::warning, "never completed").size(), 1U);
    pair.server->stop();
  }
}

// After a drop the kernel's next wait fails once with EBADR (Linux 6.1 on): that is news of
// the drop, which the loop handles from the count, not a failing io_uring_enter (before, it
// was logged as one, paced every 1 ms, and ended stop()'s drain at once).
TEST(IoUringDrops, AWaitThatSaysCompletionsWereDroppedIsNoFailure) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  DropFault unused("none");
  LogLines log;
  std::atomic<int> news{0};
  Pair pair(unused, false, log, 10'000, [&news] {
    if (news.load() == 0) return 0;
    --news;
    return -EBADR;
  });
  ASSERT_TRUE(wait_established(*pair.client));
  news = 3;
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(pair.echoes()) << i;
  EXPECT_EQ(news.load(), 0);
  EXPECT_EQ(log.with(LogLevel::error, "io_uring_enter").size(), 0U);
  EXPECT_EQ(log.with(LogLevel::warning, "io_uring_enter").size(), 0U);
  EXPECT_TRUE(pair.stop_both());
}

}  // namespace
}  // namespace weft::io
