// When a socket is readable and writable in the same wake-up, EventNode reads first
// (event_node_impl.hpp, on_writable / on_write_turn): a reply that makes the next request
// puts it ahead of the bulk that turn writes, not behind it. Under saturating bulk that is
// the difference between a small request waiting for about one exchange of buffers and
// waiting for two (bench/README.md, "Reads before writes").
//
// The order is checked on the wire, where the serving node sees it: the server records the
// order in which it is handed the requests, so the bulk requests it takes before the second
// ping are the ones the client wrote ahead of that ping.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::LoopFreeze;
using testing::wait_until;

constexpr std::uint16_t kPing = 1;
constexpr std::uint16_t kBulk = 2;
constexpr std::size_t kBulkBytes = 32 * 1024;
// 6 MiB: the frozen server's socket takes at most its window (a SO_RCVBUF of 1 MiB, which
// the kernel doubles), so at least 4 MiB stays in the client's lanes.
constexpr std::size_t kBulkRequests = 192;
constexpr std::size_t kStuckBytes = 3u << 20;  // lanes at least this full: the client is stuck

// Names for which `client` dials `server`, so only the client needs an address.
std::pair<std::string, std::string> dialing_names() {
  for (int i = 0;; ++i) {
    const std::string client = "turn-client-" + std::to_string(i);
    if (dial_rule_dials(client, "turn-server")) return {client, "turn-server"};
  }
}

// What the server was handed, in order: 'B' for a bulk request, the payload of a ping.
class Arrivals {
 public:
  void add(char what) {
    std::lock_guard lock(mutex_);
    order_.push_back(what);
  }
  std::string order() const {
    std::lock_guard lock(mutex_);
    return order_;
  }

 private:
  mutable std::mutex mutex_;
  std::string order_;
};

TEST(IoTurnOrder, AReplyReadInTheSameWakeUpAsRoomToWriteSendsItsNextRequestBeforeMoreBulk) {
  const auto [client_name, server_name] = dialing_names();
  const auto arrivals = std::make_shared<Arrivals>();
  // Declared before the nodes: replies that come as they stop still count here.
  std::atomic<int> second_ping_replies{0};
  std::atomic<int> bulk_replies{0};
  const std::vector<std::uint8_t> bulk(kBulkBytes, 0x62);
  std::size_t taken_before_wake = 0;  // bulk requests the server had when the client woke

  EventNodeOptions server_options;
  server_options.config = config_for(server_name, client_name);
  // A window of a megabyte: a client that writes before it reads fills it with bulk
  // before the next ping.
  server_options.socket_receive_bytes = 1 << 20;
  EventNode server(std::move(server_options));
  server.handle(kPing, "", [arrivals](IncomingRequest&& request) {
    arrivals->add(static_cast<char>(request.payload.at(0)));
    request.responder.respond(request.payload);
  });
  server.handle(kBulk, "", [arrivals](IncomingRequest&& request) {
    arrivals->add('B');
    request.responder.respond({});
  });
  ASSERT_EQ(server.start(), Errc::ok);

  EventNodeOptions client_options;
  client_options.config = config_for(client_name, server_name);
  // Bulk requests are whole frames of the bulk lane; at most 16 KiB committed ahead.
  client_options.config.limits.chunk_bytes = 64 * 1024;
  client_options.config.limits.output_high_water_bytes = 16 * 1024;
  client_options.addresses = {{server_name, "127.0.0.1", server.port()}};
  EventNode client(std::move(client_options));
  ASSERT_EQ(client.start(), Errc::ok);
  ASSERT_TRUE(testing::wait_established(client));

  {
    // The server reads nothing: the first ping and then bulk fill the sockets and the
    // client's lanes.
    LoopFreeze server_frozen(server);
    ASSERT_TRUE(server_frozen.wait_held());
    EventNode* const client_node = &client;
    const std::string server_peer = server_name;
    ASSERT_EQ(client.request(server_name, kPing, as_bytes("1"), 0,
                             [client_node, server_peer, &second_ping_replies](Reply&& reply) {
                               if (reply.error != Errc::ok) return;  // the test fails below
                               // On the loop thread, while the client has bulk to write.
                               client_node->request(server_peer, kPing, as_bytes("2"), 0,
                                                    [&second_ping_replies](Reply&& second) {
                                                      if (second.error == Errc::ok)
                                                        ++second_ping_replies;
                                                    });
                             }),
              Errc::ok);
    for (std::size_t i = 0; i < kBulkRequests; ++i) {
      ASSERT_EQ(client.request(server_name, kBulk, Payload(bulk), 0,
                               [&bulk_replies](Reply&&) { ++bulk_replies; }),
                Errc::ok);
    }
    // The client is stuck once most of the bulk waits in its lanes.
    ASSERT_TRUE(wait_until(
        [&] {
          const auto peers = client.peers();
          return !peers.empty() && peers[0].stats.queued_data_bytes >= kStuckBytes;
        },
        20s));
    // Now the client sleeps too; the server drains what the kernel holds and answers the
    // first ping, so the client's socket becomes readable and writable at once.
    LoopFreeze client_frozen(client);
    ASSERT_TRUE(client_frozen.wait_held());
    server_frozen.release();
    ASSERT_TRUE(wait_until([&] { return arrivals->order().find('1') != std::string::npos; }));
    // The server has taken everything the client's socket held once its byte count stays
    // the same over five looks 50 ms apart. (One look was not enough on a loaded machine:
    // a server loop kept off the CPU for 50 ms looked drained with bulk still in the
    // kernel, which it then read as if the woken client had written it first.)
    std::uint64_t received = 0;
    int unchanged_looks = 0;
    ASSERT_TRUE(wait_until(
        [&] {
          const auto peers = server.peers();
          if (peers.empty()) return false;
          const std::uint64_t now = peers[0].stats.bytes_received;
          unchanged_looks = now == received ? unchanged_looks + 1 : 0;
          received = now;
          if (unchanged_looks >= 5) return true;
          std::this_thread::sleep_for(50ms);
          return false;
        },
        10s));
    const std::string before = arrivals->order();
    taken_before_wake = static_cast<std::size_t>(std::count(before.begin(), before.end(), 'B'));
  }  // the client wakes with the answer and room to write

  ASSERT_TRUE(wait_until([&] { return second_ping_replies.load() == 1; }, 10s));
  const std::string order = arrivals->order();
  const std::size_t first = order.find('1');
  const std::size_t second = order.find('2');
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(second, std::string::npos);
  // Bulk the server had taken before the client woke, then what the client wrote ahead of
  // the second ping: at most what was committed to its output when it slept (16 KiB and
  // the frame that crossed the mark, so two bulk requests, one of them perhaps partly
  // written before). A client that writes first sends as much bulk as the megabyte window
  // takes before it even reads the answer.
  const std::size_t bulk_before_second = static_cast<std::size_t>(
      std::count(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(second), 'B'));
  EXPECT_LE(bulk_before_second, taken_before_wake + 2) << order;
  ASSERT_TRUE(wait_until([&] { return bulk_replies.load() == int{kBulkRequests}; }, 20s));
}

}  // namespace
}  // namespace weft::io
