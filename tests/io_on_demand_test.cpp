// Connections on demand through the libevent adapter, over real loopback sockets: the
// adapter carries the core's dials (the dialer's and the acceptor's knock) and closes
// (goaway(idle)) like any other, so nothing adapter-specific is needed beyond listing every
// peer's address (the side the dial rule makes the acceptor dials to knock).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "io_test_support.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::reply_within;
using testing::wait_until;

constexpr std::uint16_t kEcho = 1;

// A port nothing listens on now (bound once and released), for a node to listen on.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::unique_ptr<EventNode> on_demand_node(const std::string& name, std::uint16_t port,
                                          const std::string& peer, std::uint16_t peer_port) {
  EventNodeOptions options;
  options.config = testing::config_for(name, peer);
  options.config.connect_on_demand = true;
  options.config.timeouts.idle_close_ms = 300;
  options.listen_port = port;
  options.addresses.push_back({peer, "127.0.0.1", peer_port});
  auto node = std::make_unique<EventNode>(std::move(options));
  node->handle(kEcho, "",
               [](IncomingRequest&& request) { request.responder.respond(request.payload); });
  EXPECT_EQ(node->start(), Errc::ok);
  return node;
}

// Two on-demand nodes on loopback: d, the side the dial rule makes the dialer, and a. With
// `dialer_reaches_acceptor` false, d knows a port where nothing listens for a.
struct OnDemandPair {
  std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  std::uint16_t dialer_port = free_port();
  std::uint16_t acceptor_port = free_port();
  std::unique_ptr<EventNode> d;
  std::unique_ptr<EventNode> a;

  explicit OnDemandPair(bool dialer_reaches_acceptor = true) {
    d = on_demand_node(dialer, dialer_port, acceptor,
                       dialer_reaches_acceptor ? acceptor_port : free_port());
    a = on_demand_node(acceptor, acceptor_port, dialer, dialer_port);
  }
};

PeerState state_of(EventNode& node) {
  const auto peers = node.peers();
  return peers.empty() ? PeerState::removed : peers[0].stats.state;
}

TEST(IoOnDemand, FirstUseFromEitherSideConnectsAndIdleConnectionsClose) {
  OnDemandPair pair;
  EventNode& d = *pair.d;
  EventNode& a = *pair.a;
  const std::string& dialer = pair.dialer;
  const std::string& acceptor = pair.acceptor;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(state_of(d), PeerState::idle);  // nothing dials before there is work
  EXPECT_EQ(state_of(a), PeerState::idle);

  // The acceptor's first request knocks; the dialer dials back and the call is served.
  Reply knocked = reply_within(a.request(dialer, kEcho, as_bytes("knock")));
  EXPECT_EQ(knocked.error, Errc::ok);
  EXPECT_EQ(std::string(knocked.payload.begin(), knocked.payload.end()), "knock");
  // Idle for 300 ms: both sides close.
  EXPECT_TRUE(wait_until(
      [&] { return state_of(a) == PeerState::idle && state_of(d) == PeerState::idle; }, 5s));
  // The dialer's next request dials again.
  Reply again = reply_within(d.request(acceptor, kEcho, as_bytes("again")));
  EXPECT_EQ(again.error, Errc::ok);
  EXPECT_GE(d.peers()[0].stats.generation, 2u);
}

// stop() ends a request held for an on-demand peer that has no socket: after a knock, the
// knocker waits for the peer's dial back (up to connect plus handshake timeout), and no
// transport's close reaches what it holds. Before, the request never ended: its future
// stayed unready after stop() returned.
TEST(IoOnDemand, StopEndsARequestWaitingForThePeersDialBack) {
  // The dialer knows a port where nothing listens for the acceptor: it cannot dial back.
  OnDemandPair pair(false);
  EventNode& a = *pair.a;
  const std::string& dialer = pair.dialer;
  std::future<Reply> waiting = a.request(dialer, kEcho, as_bytes("knock"));
  // The knock is answered (reject wrong_dialer) within milliseconds on loopback, and the
  // dial back fails: the acceptor waits with no socket, the request held.
  EXPECT_EQ(waiting.wait_for(1s), std::future_status::timeout);
  EXPECT_EQ(state_of(a), PeerState::idle);
  a.stop();
  ASSERT_EQ(waiting.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(waiting.get().error, Errc::disconnected);
}

// A request to an idle on-demand peer queued in the same turn as stop(): its dial is not
// made (no socket opens after the others closed) and the request ends. Before, the socket
// opened after shutdown and the request was never answered.
TEST(IoOnDemand, StopEndsARequestWhoseDialWasAskedForInTheLastTurn) {
  OnDemandPair pair;
  EventNode& d = *pair.d;
  // The loop is busy while the request and the stop are queued: both run in one turn.
  ASSERT_EQ(d.run_on_loop([] { std::this_thread::sleep_for(200ms); }), Errc::ok);
  std::future<Reply> last = d.request(pair.acceptor, kEcho, as_bytes("last"));
  d.stop();
  ASSERT_EQ(last.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(last.get().error, Errc::disconnected);
}

}  // namespace
}  // namespace weft::io
