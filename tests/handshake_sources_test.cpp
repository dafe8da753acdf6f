// Sources of accepted transports (NodeConfig::max_transports_awaiting_hello_per_source,
// PROTOCOL.md §4.2). The cap on transports in their handshake made the oldest that showed
// least give way to a newer one; a single address that reopened connections faster than a
// peer's handshake finished could then close that peer's handshake every time. Now a source
// at its own cap churns its own places, and at the cap of all the place taken comes from
// the source holding the most.
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
  // Showing less still comes first: with the lone one silent and the others greeted, the
  // lone one goes although its source holds one.
  Node second = acceptor_with({.all = 3, .per_source = 3});
  const TransportId silent = second.on_accepted(0, std::uint64_t{2});
  const TransportId greeted_a = second.on_accepted(0, std::uint64_t{1});
  const TransportId greeted_b = second.on_accepted(0, std::uint64_t{1});
  send_hello(second, 0, greeted_a);
  send_hello(second, 0, greeted_b);
  while (second.poll_event()) {
  }
  second.on_accepted(ns_from_ms(1), std::uint64_t{4});
  EXPECT_EQ(made_room(second, false), Closed{silent});
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
