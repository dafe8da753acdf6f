// EventNodeOptions::loop_backend and WEFT_LOOP_BACKEND (event_node.hpp): the loop asked for
// is the one that runs (seen from the node, from its metrics and from the process's open
// rings), a name that is no loop fails start(), and nodes on the two loops talk to each
// other: small requests (the ring's copied sends), large ones (written in place) and a
// stream that fills the socket (sends the kernel cuts short or refuses until it drains).
// The whole adapter suite runs once more over io_uring (tests/CMakeLists.txt: io.uring.*).
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;
using testing::reply_within;
using testing::wait_established;
using testing::wait_until;
using namespace std::chrono_literals;

// The io_uring instances this process holds open (each ring is one anon inode).
std::size_t open_rings() {
  DIR* listing = ::opendir("/proc/self/fd");
  if (listing == nullptr) return 0;
  std::size_t rings = 0;
  while (const dirent* entry = ::readdir(listing)) {
    char target[256] = {};
    const std::string path = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t size = ::readlink(path.c_str(), target, sizeof target - 1);
    if (size > 0 &&
        std::string(target, static_cast<std::size_t>(size)) == "anon_inode:[io_uring]") {
      ++rings;
    }
  }
  ::closedir(listing);
  return rings;
}

// Sets WEFT_LOOP_BACKEND for one test and puts back what was there.
class ScopedLoopVariable {
 public:
  explicit ScopedLoopVariable(const char* value) {
    if (const char* before = std::getenv(kName)) before_ = before;
    if (value != nullptr) {
      ::setenv(kName, value, 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ~ScopedLoopVariable() {
    if (before_) {
      ::setenv(kName, before_->c_str(), 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ScopedLoopVariable(const ScopedLoopVariable&) = delete;
  ScopedLoopVariable& operator=(const ScopedLoopVariable&) = delete;

 private:
  static constexpr const char* kName = "WEFT_LOOP_BACKEND";
  std::optional<std::string> before_;
};

TEST(IoLoopBackend, NamesParseBothWaysAndNothingElseParses) {
  for (const LoopBackend backend : {LoopBackend::libevent, LoopBackend::io_uring}) {
    EXPECT_EQ(parse_loop_backend(loop_backend_name(backend)), backend);
  }
  EXPECT_EQ(parse_loop_backend("epoll"), std::nullopt);
  EXPECT_EQ(parse_loop_backend("IO_URING"), std::nullopt);
  EXPECT_EQ(parse_loop_backend(""), std::nullopt);
  EXPECT_EQ(loop_backend_unavailable(LoopBackend::libevent), std::nullopt);
}

TEST(IoLoopBackend, TheLoopTheEnvironmentNamesIsTheOneThatRuns) {
  const char* named = std::getenv("WEFT_LOOP_BACKEND");
  const LoopBackend expected = named != nullptr && *named != 0
                                   ? parse_loop_backend(named).value_or(LoopBackend::libevent)
                                   : LoopBackend::libevent;
  if (const auto why = loop_backend_unavailable(expected)) GTEST_SKIP() << *why;
  const std::size_t rings_before = open_rings();
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  EventNode node(options);
  ASSERT_EQ(node.start(), Errc::ok);
  EXPECT_EQ(node.loop_backend(), expected);
  // The same fact from the process: a ring is open exactly when the node runs on one.
  EXPECT_EQ(open_rings(), rings_before + (expected == LoopBackend::io_uring ? 1 : 0));
  // And from the metrics an operator scrapes.
  const MetricsSnapshot snapshot = node.metrics();
  std::string reported;
  for (const DriverMetric& metric : snapshot.driver) {
    if (metric.name == "io_loop" && !metric.labels.empty()) reported = metric.labels[0].second;
  }
  EXPECT_EQ(reported, loop_backend_name(expected));
  node.stop();
  EXPECT_EQ(open_rings(), rings_before);  // the loop thread closed its ring
}

TEST(IoLoopBackend, AVariableThatNamesNoLoopFailsStartAndSaysWhy) {
  const ScopedLoopVariable variable("epoll");
  std::vector<std::string> errors;
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.log = [&errors](LogLevel level, std::string_view text) {
    if (level == LogLevel::error) errors.emplace_back(text);
  };
  EventNode node(options);
  EXPECT_EQ(node.start(), Errc::invalid_argument);
  EXPECT_EQ(node.port(), 0);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].find("WEFT_LOOP_BACKEND"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("epoll"), std::string::npos) << errors[0];
}

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kSink = 2;

// What the serving side of a stream saw (the nodes' callbacks write here until they stop).
struct Sink {
  std::atomic<std::uint64_t> messages{0};
  std::atomic<bool> in_order{true};
  std::atomic<bool> ended{false};
  std::atomic<Errc> end_result{Errc::ok};
};

// Two connected nodes, the acceptor on `accepting` and the dialer on `dialing` (the
// environment variable is cleared for the test, so the options decide). The acceptor echoes
// requests (kEcho) and checks a stream's messages carry 0, 1, 2, ... (kSink); the first
// message waits 500 ms in its handler, so the dialer's socket fills behind it.
struct MixedPair {
  MixedPair(LoopBackend accepting_loop, LoopBackend dialing_loop,
            std::size_t dialer_send_copy_bytes = EventNodeOptions{}.uring_send_copy_bytes) {
    const std::string dialer_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    acceptor_name = dialer_name == "alpha" ? "bravo" : "alpha";
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name, dialer_name);
    accepting.loop_backend = accepting_loop;
    // A small socket receive buffer and a wide window (kSink): while the first message
    // waits, the dialer's socket fills.
    accepting.socket_receive_bytes = EventNodeOptions::kMinSocketReceiveBytes;
    acceptor = std::make_unique<EventNode>(std::move(accepting));
    acceptor->handle(kEcho, "", [](IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    acceptor->handle_stream(
        kSink, "", StreamWindow{1 << 16, 16 << 20}, [this](const IncomingStream&, StreamSession) {
          StreamCallbacks callbacks;
          callbacks.on_message = [this](StreamSession&, Bytes message) {
            const std::uint64_t expected = sink.messages.load();
            if (expected == 0) std::this_thread::sleep_for(500ms);
            std::uint64_t value = 0;
            for (std::size_t i = 0; i < 8 && i < message.size(); ++i)
              value |= static_cast<std::uint64_t>(message[i]) << (8 * i);
            if (value != expected || message.size() != 64) sink.in_order = false;
            ++sink.messages;
          };
          callbacks.on_input_end = [](StreamSession& session) { session.close(); };
          callbacks.on_end = [this](StreamSession&, Errc result, std::string_view) {
            sink.end_result = result;
            sink.ended = true;
          };
          return callbacks;
        });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    EventNodeOptions dialing;
    dialing.config = config_for(dialer_name, acceptor_name);
    dialing.loop_backend = dialing_loop;
    dialing.uring_send_copy_bytes = dialer_send_copy_bytes;
    dialing.addresses.push_back({acceptor_name, "127.0.0.1", acceptor->port()});
    dialer = std::make_unique<EventNode>(std::move(dialing));
    EXPECT_EQ(dialer->start(), Errc::ok);
    EXPECT_TRUE(wait_established(*dialer));
  }
  const ScopedLoopVariable variable{nullptr};
  Sink sink;
  std::string acceptor_name;
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
};

// The value of the adapter's metric `name` on `node` (-1: not reported).
double driver_metric(EventNode& node, std::string_view name) {
  for (const DriverMetric& metric : node.metrics().driver) {
    if (metric.name == name) return metric.value;
  }
  return -1;
}

TEST(IoLoopBackend, ANodeOnIoUringAndOneOnLibeventServeEachOtherSmallAndLargeRequests) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  for (const bool uring_accepts : {true, false}) {
    SCOPED_TRACE(uring_accepts ? "io_uring accepts" : "io_uring dials");
    MixedPair pair(uring_accepts ? LoopBackend::io_uring : LoopBackend::libevent,
                   uring_accepts ? LoopBackend::libevent : LoopBackend::io_uring);
    EXPECT_EQ(pair.acceptor->loop_backend(),
              uring_accepts ? LoopBackend::io_uring : LoopBackend::libevent);
    EXPECT_EQ(pair.dialer->loop_backend(),
              uring_accepts ? LoopBackend::libevent : LoopBackend::io_uring);
    // Many small requests in flight at once: a turn's output goes as one copied send.
    std::vector<std::future<Reply>> small;
    for (int i = 0; i < 2000; ++i) {
      small.push_back(pair.dialer->request(pair.acceptor_name, kEcho,
                                           as_bytes("request " + std::to_string(i))));
    }
    for (int i = 0; i < 2000; ++i) {
      const Reply reply = reply_within(std::move(small[i]));
      ASSERT_EQ(reply.error, Errc::ok) << i;
      ASSERT_EQ(std::string(reply.payload.begin(), reply.payload.end()),
                "request " + std::to_string(i));
    }
    // Larger than uring_send_copy_bytes: written in place, from the core's buffers.
    std::string big(3 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4099)
      big[i] = static_cast<char>(i * 7);
    const Reply large =
        reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big), 20'000), 30s);
    ASSERT_EQ(large.error, Errc::ok);
    EXPECT_TRUE(std::string(large.payload.begin(), large.payload.end()) == big);
  }
}

TEST(IoLoopBackend, AStreamThatFillsTheSocketOverIoUringArrivesWholeAndInOrder) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  // Every write of the dialer goes as a send operation (none is large enough to be written in
  // place), so a full socket always meets one.
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring, 1 << 20);
  StreamCallbacks callbacks;
  std::atomic<bool> sender_ended{false};
  std::atomic<Errc> sender_result{Errc::ok};
  callbacks.on_end = [&](StreamSession&, Errc result, std::string_view) {
    sender_result = result;
    sender_ended = true;
  };
  StreamSession session =
      pair.dialer->open_stream(pair.acceptor_name, kSink, {}, nullptr, true, {}, 0, callbacks);
  constexpr std::uint64_t kMessages = 200'000;
  for (std::uint64_t sent = 0; sent < kMessages;) {
    std::array<std::uint8_t, 64> message{};
    for (std::size_t i = 0; i < 8; ++i)
      message[i] = static_cast<std::uint8_t>(sent >> (8 * i));
    const Errc written = session.write(Bytes(message.data(), message.size()));
    if (written == Errc::queue_full) {
      std::this_thread::sleep_for(200us);
      continue;
    }
    ASSERT_EQ(written, Errc::ok) << sent;
    ++sent;
  }
  ASSERT_EQ(session.close(), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pair.sink.ended.load() && sender_ended.load(); }, 60s));
  EXPECT_EQ(pair.sink.end_result.load(), Errc::ok);
  EXPECT_EQ(sender_result.load(), Errc::ok);
  EXPECT_EQ(pair.sink.messages.load(), kMessages);
  EXPECT_TRUE(pair.sink.in_order.load());
  // The sender's full socket really did cut send operations short or refuse them.
  EXPECT_GT(driver_metric(*pair.dialer, "io_uring_sends_cut"), 0)
      << "no send operation met a full socket: the test proves less than it says";
}

TEST(IoLoopBackend, AReceiveBufferGrowsForBulkAndGoesBackToSixteenKibWhenTrafficIsSmall) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring);
  constexpr double kFirst = 16 * 1024;
  const double large = static_cast<double>(EventNodeOptions{}.read_buffer_bytes);
  const auto buffers = [&] {
    return std::array<double, 2>{driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes"),
                                 driver_metric(*pair.dialer, "io_uring_receive_buffer_bytes")};
  };
  // One connection each: its buffer starts small.
  EXPECT_EQ(buffers(), (std::array<double, 2>{kFirst, kFirst}));
  // A 1 MiB request and its echo fill both sides' receives: both grow.
  const std::string big(1 << 20, 'b');
  const Reply echoed = reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big)));
  ASSERT_EQ(echoed.error, Errc::ok);
  ASSERT_EQ(echoed.payload.size(), big.size());
  EXPECT_EQ(buffers(), (std::array<double, 2>{large, large}));
  // Small requests one at a time: each receive is one small frame, and after 64 in a row
  // each side's buffer is back to 16 KiB.
  for (int i = 0; i < 100; ++i) {
    const Reply small =
        reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes("s")));
    ASSERT_EQ(small.error, Errc::ok) << i;
  }
  EXPECT_EQ(buffers(), (std::array<double, 2>{kFirst, kFirst}));
  // And it grows again for the next bulk.
  ASSERT_EQ(reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big))).error,
            Errc::ok);
  EXPECT_EQ(buffers(), (std::array<double, 2>{large, large}));
}

TEST(IoLoopBackend, OnLibeventNoRingReceiveBufferIsReported) {
  MixedPair pair(LoopBackend::libevent, LoopBackend::libevent);
  EXPECT_EQ(driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes"), 0);
  EXPECT_EQ(driver_metric(*pair.dialer, "io_uring_receive_buffer_bytes"), 0);
}

}  // namespace
}  // namespace weft::io
