// Accepting a few at a time (EventNodeOptions::accepts_per_wake, and the metrics endpoint's
// MetricsHttpOptions::accepts_per_wake): a flood waiting in the listen queue is accepted over
// several turns, each wake-up stopping at the budget, and none of it is left behind. And the
// peer's address as the source of an accepted connection (NodeConfig's per-source cap).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;
using testing::connect_to;
using testing::driver_metric;
using testing::LoopFreeze;
using testing::wait_until;
using namespace std::chrono_literals;

EventNodeOptions node_options(std::size_t accepts_per_wake) {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");  // bravo has no address: nothing is dialed
  options.accepts_per_wake = accepts_per_wake;
  return options;
}

TEST(IoAccept, AFloodInTheListenQueueIsAcceptedABudgetAtATimeAndWhole) {
  EventNode node(node_options(2));
  ASSERT_EQ(node.start(), Errc::ok);
  ASSERT_EQ(driver_metric(node, "io_sockets"), 0);
  constexpr int kConnections = 10;
  std::vector<int> connections;
  {
    // Ten connections complete in the kernel while the loop is held: all ten wait in the
    // listen queue when it looks next.
    LoopFreeze freeze(node);
    ASSERT_EQ(freeze.posted(), Errc::ok);
    ASSERT_TRUE(freeze.wait_held());
    for (int i = 0; i < kConnections; ++i) {
      connections.push_back(connect_to(node.port()));
      ASSERT_GE(connections.back(), 0);
    }
  }
  EXPECT_TRUE(wait_until([&] { return driver_metric(node, "io_sockets") == kConnections; }));
  // Two a wake-up: five wake-ups, each stopped by the budget (the fifth took the last two).
  EXPECT_EQ(driver_metric(node, "io_accept_budget_reached"), kConnections / 2);
  for (const int fd : connections)
    ::close(fd);
}

// A connection to `port` on 127.0.0.1 made from the loopback address `source` (any of
// 127.0.0.0/8 is this host's): -1 if it could not be made.
int connect_from(const char* source, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Whether the node closed `fd` (end of stream or a reset), waiting up to two seconds for it.
bool closed_by_node(int fd) {
  return wait_until([&] {
    char byte = 0;
    const ssize_t got = ::recv(fd, &byte, 1, MSG_DONTWAIT);
    return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  });
}

// Connections from one address past the per-source cap close that address's own oldest
// handshakes; a stranger's at another address, older and as silent, stays, although the flood
// brings more than the cap of all in total. Before, the node could not tell sources apart,
// and the flood's eighth connection closed the stranger's, the oldest of all.
TEST(IoAccept, AFloodFromOneAddressClosesOnlyItsOwnHandshakes) {
  EventNodeOptions options = node_options(16);
  options.config.max_transports_awaiting_hello = 8;
  options.config.max_transports_awaiting_hello_per_source = 4;
  options.config.timeouts.hello_timeout_ms = 30'000;  // no place frees itself meanwhile
  EventNode node(options);
  ASSERT_EQ(node.start(), Errc::ok);
  const int elsewhere = connect_from("127.0.0.3", node.port());
  ASSERT_GE(elsewhere, 0);
  ASSERT_TRUE(wait_until([&] { return driver_metric(node, "io_sockets") == 1; }));
  constexpr int kFlood = 20;
  std::vector<int> flood;
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(connect_from("127.0.0.2", node.port()));
    ASSERT_GE(flood.back(), 0);
  }
  // The flood's four newest stay; its sixteen oldest were closed, one for each newer.
  EXPECT_TRUE(wait_until([&] { return driver_metric(node, "io_sockets") == 1 + 4; }));
  for (int i = 0; i < kFlood - 4; ++i)
    EXPECT_TRUE(closed_by_node(flood[i])) << i;
  char byte = 0;
  EXPECT_EQ(::recv(elsewhere, &byte, 1, MSG_DONTWAIT), -1) << "closed: the flood took its place";
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  for (const int fd : flood)
    ::close(fd);
  ::close(elsewhere);
}

TEST(IoAccept, NoAcceptsPerWakeIsRefusedAtStart) {
  EventNode node(node_options(0));
  EXPECT_EQ(node.start(), Errc::invalid_argument);
}

TEST(IoAccept, TheMetricsEndpointAnswersAFloodOfScrapesOneAcceptAtATime) {
  EventNode node(node_options(16));
  ASSERT_EQ(node.start(), Errc::ok);
  MetricsHttpOptions none;
  none.accepts_per_wake = 0;
  EXPECT_EQ(node.serve_metrics(none).error, Errc::invalid_argument);
  MetricsHttpOptions options;
  options.accepts_per_wake = 1;
  options.min_render_interval_ms = 0;
  const MetricsEndpoint endpoint = node.serve_metrics(options);
  ASSERT_EQ(endpoint.error, Errc::ok);
  const std::string scrape = "GET /metrics HTTP/1.1\r\n\r\n";
  constexpr int kScrapes = 6;
  std::vector<int> scrapes;
  {
    // On libevent the endpoint runs on the held loop, so the six wait in its listen queue.
    LoopFreeze freeze(node);
    ASSERT_TRUE(freeze.wait_held());
    for (int i = 0; i < kScrapes; ++i) {
      scrapes.push_back(connect_to(endpoint.port));
      ASSERT_GE(scrapes.back(), 0);
      ASSERT_EQ(::send(scrapes.back(), scrape.data(), scrape.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(scrape.size()));
    }
  }
  for (const int fd : scrapes) {
    const std::string answer = testing::answer_on(fd);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer.substr(0, 80);
  }
  // One accept a wake-up: every wake-up used the budget.
  EXPECT_EQ(driver_metric(node, "io_metrics_accept_budget_reached"), kScrapes);
}

}  // namespace
}  // namespace weft::io
