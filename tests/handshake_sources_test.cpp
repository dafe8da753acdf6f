// Sources of accepted transports (NodeConfig::max_transports_awaiting_hello_per_source,
// PROTOCOL.md §4.2). The cap on transports in their handshake made the oldest that showed
// least give way to a newer one; a single address that reopened connections faster than a
// peer's handshake finished could then close that peer's handshake every time. Now a source
// at its own cap churns its own places, and at the cap of all the place taken comes from
// the source holding the most, short of a verified certificate.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "scripted_peer.hpp"
#include "weft/node.hpp"

namespace weft::protocol_test {
namespace {

using testing::acceptor_config;
using testing::hello_frame;
using testing::kHelloTimeoutMs;
using testing::kWallMs;

using Closed = std::vector<TransportId>;

struct Caps {
  std::size_t all = 0;
  std::size_t per_source = 0;
};

Node acceptor_with(Caps caps) {
  return Node(acceptor_config([&](NodeConfig& config) {
                config.max_transports_awaiting_hello = caps.all;
                config.max_transports_awaiting_hello_per_source = caps.per_source;
              }),
              0, kWallMs);
}

// The transports closed to make room since the last look, in order; each must come with a
// HandshakeFailed (busy) and a CloseTransport whose texts name the cap that chose it.
Closed made_room(Node& node, bool by_source) {
  Closed closed;
  std::size_t failures = 0;
  while (const std::optional<Event> event = node.poll_event()) {
    if (const auto* failed = std::get_if<event::HandshakeFailed>(&*event)) {
      ++failures;
      EXPECT_EQ(failed->status, Status::busy);
      EXPECT_TRUE(failed->rejected_by_us);
      EXPECT_NE(failed->message.find(by_source ? "(max_transports_awaiting_hello_per_source)"
                                               : "(max_transports_awaiting_hello)"),
                std::string::npos)
          << failed->message;
    }
    if (const auto* close = std::get_if<event::CloseTransport>(&*event)) {
      closed.push_back(close->transport);
      EXPECT_EQ(close->reason, by_source ? "too many connections in their handshake from one "
                                           "source: the oldest closed for a newer one"
                                         : "too many connections in their handshake: the "
                                           "oldest closed for a newer one");
    }
  }
  EXPECT_EQ(failures, closed.size());
  return closed;
}

void send_hello(Node& node, TimeNs now_ns, TransportId transport) {
  node.on_bytes(now_ns, transport, testing::encode_to_vector(hello_frame()));
}

TEST(HandshakeSources, ASourceAtItsCapChurnsItsOwnPlacesAndNoOthers) {
  Node node = acceptor_with({.all = 8, .per_source = 3});
  constexpr std::uint64_t kFlooder = 1;
  const TransportId peer = node.on_accepted(0, std::uint64_t{2});  // the oldest, silent
  Closed flood;
  for (int i = 0; i < 3; ++i)
    flood.push_back(node.on_accepted(ns_from_ms(1), kFlooder));
  EXPECT_EQ(made_room(node, true), Closed{}) << "within both caps";
  // A hello puts one of the flood's places above its silent ones.
  send_hello(node, ns_from_ms(1), flood[0]);
  while (node.poll_event()) {
  }
  // Ten more from the flood, more than the cap of all (8) in total: each closes one of the
  // flood's own silent places, never the peer's, older and as silent as they are (without
  // sources, the fifth would have reached the cap of all and closed the peer's).
  for (int i = 0; i < 10; ++i) {
    const TransportId newest = node.on_accepted(ns_from_ms(2 + i), kFlooder);
    const Closed closed = made_room(node, true);
    ASSERT_EQ(closed.size(), 1u) << i;
    EXPECT_NE(closed.front(), peer);
    EXPECT_NE(closed.front(), flood[0]) << "a silent place goes before one that sent a hello";
    flood.push_back(newest);
  }
  // The peer's handshake is still there: its hello is answered with a challenge.
  send_hello(node, ns_from_ms(20), peer);
  EXPECT_FALSE(node.pending_output(peer).empty());
  EXPECT_EQ(made_room(node, true), Closed{});
}

TEST(HandshakeSources, TheSourceCapClosesTheOldestSilentPlaceOfThatSource) {
  Node node = acceptor_with({.all = 256, .per_source = 2});
  const TransportId first = node.on_accepted(0, std::uint64_t{7});
  const TransportId second = node.on_accepted(0, std::uint64_t{7});
  const TransportId elsewhere = node.on_accepted(0, std::uint64_t{8});
  EXPECT_EQ(made_room(node, true), Closed{});
  const TransportId third = node.on_accepted(ns_from_ms(1), std::uint64_t{7});
  EXPECT_EQ(made_room(node, true), Closed{first});
  node.on_accepted(ns_from_ms(2), std::uint64_t{7});
  EXPECT_EQ(made_room(node, true), Closed{second});
  // A place freed another way (the transport went down) is the source's again.
  node.on_transport_down(ns_from_ms(3), third, "reset by peer");
  node.on_accepted(ns_from_ms(3), std::uint64_t{7});
  EXPECT_EQ(made_room(node, true), Closed{});
  static_cast<void>(elsewhere);
}

TEST(HandshakeSources, AtTheCapOfAllThePlaceTakenIsFromTheSourceHoldingTheMost) {
  Node node = acceptor_with({.all = 4, .per_source = 3});
  const TransportId lone = node.on_accepted(0, std::uint64_t{2});  // the oldest of all
  const TransportId busy_first = node.on_accepted(ns_from_ms(1), std::uint64_t{1});
  node.on_accepted(ns_from_ms(1), std::uint64_t{1});
  node.on_accepted(ns_from_ms(1), std::uint64_t{1});
  EXPECT_EQ(made_room(node, false), Closed{});
  // All four silent: the oldest of the source holding three goes, not the older lone one.
  node.on_accepted(ns_from_ms(2), std::uint64_t{3});
  EXPECT_EQ(made_room(node, false), Closed{busy_first});
  // Places come before what a transport showed short of a certificate: with the lone one
  // silent and the others greeted, the oldest greeted one of the source holding two goes
  // (before, the silent lone one went: a flood's hellos cost it nothing).
  Node second = acceptor_with({.all = 3, .per_source = 3});
  const TransportId silent = second.on_accepted(0, std::uint64_t{2});
  const TransportId greeted_a = second.on_accepted(0, std::uint64_t{1});
  const TransportId greeted_b = second.on_accepted(0, std::uint64_t{1});
  send_hello(second, 0, greeted_a);
  send_hello(second, 0, greeted_b);
  while (second.poll_event()) {
  }
  second.on_accepted(ns_from_ms(1), std::uint64_t{4});
  EXPECT_EQ(made_room(second, false), Closed{greeted_a});
  // At a tie of places, the one that showed less goes, though it is the newer.
  Node third = acceptor_with({.all = 2, .per_source = 3});
  const TransportId greeted = third.on_accepted(0, std::uint64_t{5});
  send_hello(third, 0, greeted);
  while (third.poll_event()) {
  }
  const TransportId quiet = third.on_accepted(ns_from_ms(1), std::uint64_t{6});
  third.on_accepted(ns_from_ms(2), std::uint64_t{7});
  EXPECT_EQ(made_room(third, false), Closed{quiet});
  static_cast<void>(silent);
  static_cast<void>(greeted_b);
  static_cast<void>(lone);
}

// The newcomer counts with its source: at a tie of the places held, the newcomer's source
// gives way, not the older peer's (before, the older peer's handshake was closed).
TEST(HandshakeSources, AtTheCapOfAllTheNewcomersSourceGivesWayOnATie) {
  Node node = acceptor_with({.all = 2, .per_source = 8});
  const TransportId peer = node.on_accepted(0, std::uint64_t{2});
  const TransportId first = node.on_accepted(ns_from_ms(1), std::uint64_t{1});
  EXPECT_EQ(made_room(node, false), Closed{});
  node.on_accepted(ns_from_ms(2), std::uint64_t{1});
  EXPECT_EQ(made_room(node, false), Closed{first});
  static_cast<void>(peer);
}

// A flood from more sources than the cap of all divided by the cap of one: every source is
// below its own cap, so only the cap of all acts. The flood sends its hellos at once (anyone
// can); a peer whose hello is a round trip away showed less, and before, each new connection
// of the flood closed the peer's handshake. Now the place taken is from a source holding
// the most, whatever the transports there showed short of a verified certificate.
TEST(HandshakeSources, AFloodFromSeveralSourcesBelowTheirCapsChurnsItsOwnPlaces) {
  Node node = acceptor_with({.all = 10, .per_source = 4});
  std::vector<TransportId> flood;
  for (std::uint64_t source = 10; source < 13; ++source) {  // 3 sources, 3 places each
    for (int i = 0; i < 3; ++i) {
      flood.push_back(node.on_accepted(0, source));
      send_hello(node, 0, flood.back());
    }
  }
  while (node.poll_event()) {
  }
  const TransportId peer = node.on_accepted(ns_from_ms(1), std::uint64_t{2});  // silent yet
  EXPECT_EQ(made_room(node, false), Closed{}) << "the tenth place was free";
  for (int i = 0; i < 12; ++i) {
    const std::uint64_t source = 10 + static_cast<std::uint64_t>(i % 4);  // a fourth joins
    const TransportId newest = node.on_accepted(ns_from_ms(2 + i), source);
    send_hello(node, ns_from_ms(2 + i), newest);
    const Closed closed = made_room(node, false);
    ASSERT_EQ(closed.size(), 1u) << i;
    EXPECT_NE(closed.front(), peer) << "connection " << i << " of the flood closed the peer's";
  }
  send_hello(node, ns_from_ms(20), peer);
  EXPECT_FALSE(node.pending_output(peer).empty());
}

// A verified TLS certificate still comes first: a transport that showed one keeps its place
// although its source holds the most (nodes behind one address).
TEST(HandshakeSources, AtTheCapOfAllAVerifiedCertificateKeepsItsPlaceWhateverItsSourceHolds) {
  Node node = acceptor_with({.all = 3, .per_source = 3});
  const TransportId verified_a = node.on_accepted(0, std::uint64_t{1});
  const TransportId verified_b = node.on_accepted(0, std::uint64_t{1});
  TransportSecurity verified;
  verified.encrypted = true;
  verified.peer_names = {"node-x"};
  node.on_secured(0, verified_a, verified);
  node.on_secured(0, verified_b, verified);
  const TransportId stranger = node.on_accepted(0, std::uint64_t{2});
  send_hello(node, 0, stranger);
  while (node.poll_event()) {
  }
  node.on_accepted(ns_from_ms(1), std::uint64_t{3});
  EXPECT_EQ(made_room(node, false), Closed{stranger});
}

TEST(HandshakeSources, TransportsWithoutASourceCountEachAsASourceOfTheirOwn) {
  Node node = acceptor_with({.all = 3, .per_source = 1});
  // Unnamed: no per-source cap between them, whatever it is.
  const TransportId first = node.on_accepted(0);
  node.on_accepted(0);
  node.on_accepted(0);
  EXPECT_EQ(made_room(node, false), Closed{});
  node.on_accepted(ns_from_ms(1));
  EXPECT_EQ(made_room(node, false), Closed{first}) << "the cap of all: the oldest";
}

TEST(HandshakeSources, PlacesTimedOutAreTheSourcesAgain) {
  Node node = acceptor_with({.all = 256, .per_source = 2});
  node.on_accepted(0, std::uint64_t{5});
  node.on_accepted(0, std::uint64_t{5});
  node.on_timer(ns_from_ms(kHelloTimeoutMs));
  while (node.poll_event()) {
  }
  node.on_accepted(ns_from_ms(kHelloTimeoutMs), std::uint64_t{5});
  node.on_accepted(ns_from_ms(kHelloTimeoutMs), std::uint64_t{5});
  EXPECT_EQ(made_room(node, true), Closed{});
}

TEST(HandshakeSources, APerSourceCapOfZeroIsRefused) {
  EXPECT_THROW(acceptor_with({.all = 4, .per_source = 0}), std::invalid_argument);
}

}  // namespace
}  // namespace weft::protocol_test
