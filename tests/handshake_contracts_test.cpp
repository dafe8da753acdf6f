// Contract tests of docs/PROTOCOL.md's handshake rules (§4.2, §4.3), each at its boundary
// and one past it: the stale-hello rule, version negotiation, the dialer's checks of the
// challenge, clock skew and the handshake timeout. (The proofs: auth_contracts_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <optional>

#include "scripted_peer.hpp"

namespace weft::protocol_test {
namespace {

using testing::accepting;
using testing::acceptor_config;
using testing::challenge_dialer;
using testing::dialing;
using testing::expect_handshake_protocol_error;
using testing::expect_refused;
using testing::expect_still_up;
using testing::hello_frame;
using testing::kHandshakeTimeoutMs;
using testing::kHelloTimeoutMs;
using testing::kMaxSkewMs;
using testing::kPeerIncarnation;
using testing::kWallMs;
using testing::prove_as_dialer;
using testing::roles;
using testing::ScriptedPeer;
using testing::welcome_frame;

// ---- §4.2 stale hellos --------------------------------------------------------------------

// Adopts `first`, then offers `second` on a new transport: whether it was adopted (if not,
// it must have been refused as stale, and the first connection kept).
bool adopts_after(const Frame& first, const Frame& second) {
  auto driven = accepting(acceptor_config());
  prove_as_dialer(driven, first);
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 1u);
  driven.set_transport(driven.node().on_accepted(0));
  prove_as_dialer(driven, second);
  if (driven.all<event::PeerUp>().size() == 2) return true;
  expect_refused(driven, Status::stale_hello, Op::reject);
  EXPECT_EQ(driven.connection().state(), PeerState::established);
  return false;
}

TEST(ProtocolContracts, StaleHelloRuleAtItsBoundaries) {
  const auto hello = [](std::uint64_t seq, std::uint64_t incarnation = kPeerIncarnation) {
    Frame frame = hello_frame(seq);
    frame.incarnation = incarnation;
    return frame;
  };
  // Same incarnation: stale when seq is not 0 and not greater than the adopted one's.
  EXPECT_FALSE(adopts_after(hello(5), hello(5)));  // equal
  EXPECT_FALSE(adopts_after(hello(5), hello(4)));  // one less
  EXPECT_FALSE(adopts_after(hello(5), hello(1)));
  EXPECT_TRUE(adopts_after(hello(5), hello(6)));  // one more
  EXPECT_TRUE(adopts_after(hello(5), hello(0)));  // 0: not numbered, never stale
  EXPECT_TRUE(adopts_after(hello(0), hello(0)));
  EXPECT_TRUE(adopts_after(hello(0), hello(1)));
  EXPECT_FALSE(adopts_after(hello(UINT64_MAX), hello(UINT64_MAX)));
  // Another incarnation is never stale, whatever its seq.
  EXPECT_TRUE(adopts_after(hello(5), hello(5, kPeerIncarnation + 1)));
  EXPECT_TRUE(adopts_after(hello(5), hello(1, kPeerIncarnation + 1)));
}

TEST(ProtocolContracts, StaleRuleComparesWithTheLastAdoptedHelloOnly) {
  // §4.2: the acceptor remembers the last hello it adopted. After seq 5 and then an
  // unnumbered hello (seq 0), the remembered seq is 0, so seq 5 is no longer stale.
  auto driven = accepting(acceptor_config());
  for (const std::uint64_t seq : {5u, 0u, 5u}) {
    driven.set_transport(driven.node().on_accepted(0));
    prove_as_dialer(driven, hello_frame(seq));
  }
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 3u);
  EXPECT_TRUE(driven.all<event::HandshakeFailed>().empty());
}

// ---- §4.2 version negotiation ---------------------------------------------------------------

struct VersionCase {
  std::uint16_t dialer_min, dialer_max, acceptor_min, acceptor_max;
  std::uint16_t chosen;  // 0: no common version
};

TEST(ProtocolContracts, VersionNegotiationPicksTheHighestCommonVersion) {
  // Versions from 3 on (a node speaks none before kProtocolVersionMin); the later ones play
  // future releases.
  const VersionCase cases[] = {
      {3, 3, 3, 3, 3},  {5, 5, 5, 5, 5},  // the same single version
      {3, 5, 4, 7, 5},  {4, 7, 3, 5, 5},  // overlapping, either side higher
      {3, 7, 4, 5, 5},  {4, 5, 3, 7, 5},  // one range inside the other
      {3, 4, 4, 6, 4},  {4, 6, 3, 4, 4},  // touching at one version
      {3, 4, 5, 6, 0},  {5, 6, 3, 4, 0},  // disjoint, one apart
      {3, 3, 7, 11, 0},
  };
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  for (const VersionCase& c : cases) {
    SCOPED_TRACE("dialer [" + std::to_string(c.dialer_min) + "," + std::to_string(c.dialer_max) +
                 "] acceptor [" + std::to_string(c.acceptor_min) + "," +
                 std::to_string(c.acceptor_max) + "]");
    testing::Cluster cluster({"alpha", "bravo"}, {}, [&](NodeConfig& config) {
      const bool dials = config.name == dialer;
      config.version_min = dials ? c.dialer_min : c.acceptor_min;
      config.version_max = dials ? c.dialer_max : c.acceptor_max;
    });
    const std::size_t d = cluster.net().index_of(dialer);
    const std::size_t a = 1 - d;
    if (c.chosen != 0) {
      ASSERT_TRUE(cluster.run_until_connected());
      const auto challenge = decode_one(cluster.net().wire_log(a, d), {});
      ASSERT_TRUE(challenge.has_value());
      ASSERT_EQ(challenge->op, Op::challenge);
      EXPECT_EQ(challenge->version, c.chosen);
      continue;
    }
    cluster.net().run_for(ns_from_ms(300));
    EXPECT_FALSE(cluster.connected(a, d));
    for (const std::size_t side : {a, d}) {
      const auto& failures = cluster.recorder(side).handshake_failures;
      ASSERT_FALSE(failures.empty());
      EXPECT_EQ(failures.front().event.status, Status::version_mismatch);
      EXPECT_EQ(failures.front().event.rejected_by_us, side == a);
    }
  }
}

// ---- §4.2 the dialer's checks of the challenge ------------------------------------------------

TEST(ProtocolContracts, DialerChecksEveryFieldOfTheChallenge) {
  struct Case {
    std::string label;
    std::function<void(Frame&)> change;
    Status status;  // ok: accepted
  };
  const std::string stranger = "someone-else";
  const std::vector<std::uint8_t> short_nonce(kNonceBytes - 1, 0x5a);
  const std::vector<std::uint8_t> long_nonce(kNonceBytes + 1, 0x5a);
  const std::vector<std::uint8_t> wrong_proof(32, 0x00);
  const Case cases[] = {
      {"version at our min", [](Frame& c) { c.version = 3; }, Status::ok},
      {"version at our max", [](Frame& c) { c.version = 4; }, Status::ok},
      {"version below our min", [](Frame& c) { c.version = 2; }, Status::version_mismatch},
      {"version above our max", [](Frame& c) { c.version = 5; }, Status::version_mismatch},
      {"name of another node", [&](Frame& c) { c.name = stranger; }, Status::wrong_target},
      {"nonce one byte short", [&](Frame& c) { c.nonce = short_nonce; }, Status::protocol_error},
      {"nonce one byte long", [&](Frame& c) { c.nonce = long_nonce; }, Status::protocol_error},
      {"proof that does not verify", [&](Frame& c) { c.payload = wrong_proof; },
       Status::auth_failed},
      {"no proof", [](Frame& c) { c.payload = {}; }, Status::auth_failed},
      {"wall clock 5 min ahead", [](Frame& c) { c.wall_ms += kMaxSkewMs; }, Status::ok},
      {"wall clock 5 min + 1 ms ahead", [](Frame& c) { c.wall_ms += kMaxSkewMs + 1; },
       Status::clock_skew},
      {"wall clock 5 min behind", [](Frame& c) { c.wall_ms -= kMaxSkewMs; }, Status::ok},
      {"wall clock 5 min + 1 ms behind", [](Frame& c) { c.wall_ms -= kMaxSkewMs + 1; },
       Status::clock_skew},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = dialing([](NodeConfig& config) {
      config.version_min = 3;
      config.version_max = 4;
    });
    // The proof is made again for the changed challenge (but for the proof cases), so only
    // the change itself can fail it.
    const auto [hello, step] = challenge_dialer(driven, c.change, c.status != Status::auth_failed);
    if (c.status == Status::ok) {
      EXPECT_EQ(testing::frames_with(step.sent, Op::auth).size(), 1u);
      driven.feed(welcome_frame());
      EXPECT_TRUE(driven.last<event::PeerUp>().has_value());
      expect_still_up(driven);
      continue;
    }
    // §4.2: the dialer closes, sending goaway with the matching status, and dials again
    // later; it never sent an auth.
    EXPECT_TRUE(testing::frames_with(step.sent, Op::auth).empty());
    expect_refused(driven, c.status, Op::goaway);
    EXPECT_EQ(driven.last<event::HandshakeFailed>()->peer_name, roles().acceptor);
    EXPECT_EQ(driven.connection().state(), PeerState::backoff);
  }
}

// §4.2 dialer steps 2 and 4, §4.6: a goaway in place of the challenge or of the welcome (an
// acceptor going away) is the acceptor's refusal, reported with its status and text; the
// dialer closes without answering it. Before, it was a protocol error: the dialer answered
// with goaway(protocol_error) and reported that instead of the acceptor's reason.
TEST(ProtocolContracts, DialerTakesAGoawayDuringTheHandshakeAsTheAcceptorsRefusal) {
  for (const bool after_auth : {false, true}) {
    SCOPED_TRACE(after_auth ? "in place of the welcome" : "in place of the challenge");
    auto driven = dialing();
    if (after_auth) {
      challenge_dialer(driven);
    } else {
      driven.written();  // the hello
    }
    driven.feed(Frame{.op = Op::goaway,
                      .status = static_cast<std::uint16_t>(Status::shutting_down),
                      .payload = as_bytes("node stopping")});
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(status_name(static_cast<std::uint16_t>(failed->status)),
              status_name(static_cast<std::uint16_t>(Status::shutting_down)));
    EXPECT_FALSE(failed->rejected_by_us);
    EXPECT_EQ(failed->message, "node stopping");
    EXPECT_FALSE(testing::final_frame(driven).has_value()) << "the goaway was answered";
    EXPECT_TRUE(driven.written().empty());
    EXPECT_TRUE(driven.all<event::PeerUp>().empty());
    EXPECT_EQ(driven.connection().state(), PeerState::backoff);
  }
}

// A peer's reason text (a reject, or a goaway during the handshake or after it) reaches the
// application and the node's log cut to the 4096 bytes a node sends at most, at a UTF-8
// character's start: a dialer's limit lets an acceptor send 8 MiB of it, and before the
// proofs anyone who can connect can. Before, each was reported whole.
TEST(ProtocolContracts, AReasonTextFromThePeerIsReportedCutTo4096Bytes) {
  std::string long_text = "x";  // then two-byte characters: the cut at 4096 splits one
  for (int i = 0; i < 6000; ++i)
    long_text += "\u00e9";
  const std::string expected = long_text.substr(0, 4095);
  const Frame goaway{.op = Op::goaway,
                     .status = static_cast<std::uint16_t>(Status::auth_failed),
                     .payload = as_bytes(long_text)};
  {  // the dialer, refused by the acceptor
    auto driven = dialing();
    driven.written();
    Frame reject = goaway;
    reject.op = Op::reject;
    driven.feed(reject);
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->message, expected);
  }
  {  // the acceptor, refused by a dialer that proved nothing yet
    auto driven = accepting(acceptor_config());
    driven.feed(hello_frame());
    driven.read();
    driven.feed(goaway);
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->message, expected);
  }
  {  // an established connection's peer going away
    auto driven = testing::accepted();
    driven.feed(goaway);
    const auto down = driven.last<event::PeerDown>();
    ASSERT_TRUE(down.has_value());
    EXPECT_EQ(down->reason, "peer going away: auth_failed " + expected);
  }
}

TEST(ProtocolContracts, DialerTreatsAnythingButChallengeWelcomeOrRejectAsAProtocolError) {
  {  // a frame other than challenge / reject first (§4.2 dialer step 3)
    auto driven = dialing();
    driven.feed(Frame{.op = Op::ping, .seq = 1});
    expect_handshake_protocol_error(driven);
  }
  {  // a welcome before any challenge: the acceptor proved nothing
    auto driven = dialing();
    driven.feed(welcome_frame());
    EXPECT_NE(expect_handshake_protocol_error(driven).find("expected challenge or reject"),
              std::string::npos);
  }
  {  // after the auth, anything but welcome or reject
    auto driven = dialing();
    challenge_dialer(driven);
    driven.feed(Frame{.op = Op::ping, .seq = 1});
    EXPECT_NE(expect_handshake_protocol_error(driven).find("expected welcome or reject"),
              std::string::npos);
  }
  {  // a challenge announcing a frame limit under 65536 (§4.3) is malformed; 65536 is fine
    for (const std::uint32_t limit : {kMinMaxFrameBytes, kMinMaxFrameBytes - 1}) {
      SCOPED_TRACE("max_frame_bytes " + std::to_string(limit));
      auto driven = dialing();
      const std::vector<OwnedFrame> hello = testing::frames_with(driven.written(), Op::hello);
      ASSERT_EQ(hello.size(), 1u);
      // The encoder refuses a limit under 65536, so encode 65536 (uint 32: ce 00 01 00 00)
      // and patch the value; any integer form is valid (§3.1). No checksum: the patch would
      // break it, and handshake frames only SHOULD carry one.
      std::vector<std::uint8_t> proof;
      Frame challenge = testing::challenge_frame(hello.front().view(), proof);
      challenge.checksum = false;
      challenge.max_frame_bytes = kMinMaxFrameBytes;
      proof = testing::script_proof(ProofRole::acceptor, hello.front().view(), challenge);
      challenge.payload = proof;
      std::vector<std::uint8_t> bytes = testing::encode_to_vector(challenge);
      const std::array<std::uint8_t, 5> field{0xce, 0x00, 0x01, 0x00, 0x00};
      const auto at = std::search(bytes.begin(), bytes.end(), field.begin(), field.end());
      ASSERT_NE(at, bytes.end());
      for (int i = 0; i < 4; ++i) {
        at[1 + i] = static_cast<std::uint8_t>(limit >> (24 - 8 * i));
      }
      driven.feed_bytes(bytes);
      if (limit == kMinMaxFrameBytes) {
        EXPECT_EQ(testing::frames_with(driven.written(), Op::auth).size(), 1u);
        driven.feed(welcome_frame());
        EXPECT_TRUE(driven.last<event::PeerUp>().has_value());
        continue;
      }
      EXPECT_NE(expect_handshake_protocol_error(driven).find("invalid_field"), std::string::npos);
    }
  }
  {  // a reject: the dialer reports it as the acceptor's refusal and closes
    auto driven = dialing();
    driven.feed(Frame{.op = Op::reject,
                      .status = static_cast<std::uint16_t>(Status::stale_hello),
                      .payload = as_bytes("older than the connection")});
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, Status::stale_hello);
    EXPECT_FALSE(failed->rejected_by_us);
    EXPECT_EQ(failed->message, "older than the connection");
    EXPECT_TRUE(driven.last<event::CloseTransport>().has_value());
    EXPECT_EQ(driven.connection().state(), PeerState::backoff);
  }
}

// ---- §4.2 clock skew ------------------------------------------------------------------------

TEST(ProtocolContracts, ClockSkewUpToTheLimitIsAcceptedAndOneMillisecondMoreIsNotOnBothSides) {
  // The node's wall clock is moved with set_wall_clock (an hour on) before it reads the
  // peer's: the skew is measured against the moved clock.
  constexpr std::int64_t kMovedWallMs = kWallMs + 3'600'000;
  const TimeNs now = ns_from_ms(2'000);
  for (const std::int64_t limit_ms : {kMaxSkewMs, std::int64_t{0}}) {
    for (const std::int64_t skew_ms : {limit_ms, -limit_ms, limit_ms + 1, -(limit_ms + 1)}) {
      SCOPED_TRACE("limit " + std::to_string(limit_ms) + " ms, skew " + std::to_string(skew_ms) +
                   " ms");
      const bool allowed = skew_ms >= -limit_ms && skew_ms <= limit_ms;
      const auto adjust = [&](NodeConfig& config) { config.timeouts.max_clock_skew_ms = limit_ms; };
      const auto peer_wall_ms = static_cast<std::uint64_t>(kMovedWallMs + skew_ms);
      {  // the acceptor's check of the hello
        ScriptedPeer driven(acceptor_config(adjust));
        driven.node().set_wall_clock(now, kMovedWallMs);
        driven.set_transport(driven.node().on_accepted(now));
        Frame hello = hello_frame();
        hello.wall_ms = peer_wall_ms;
        prove_as_dialer(driven, hello, testing::Welcome::read, now);
        if (allowed) {
          EXPECT_TRUE(driven.last<event::PeerUp>().has_value());
        } else {
          expect_refused(driven, Status::clock_skew, Op::reject);
        }
      }
      {  // the dialer's check of the challenge
        auto driven = dialing(adjust);
        driven.node().set_wall_clock(now, kMovedWallMs);
        challenge_dialer(
            driven, [&](Frame& challenge) { challenge.wall_ms = peer_wall_ms; }, true, now);
        if (allowed) {
          driven.feed(welcome_frame(), now);
          EXPECT_TRUE(driven.last<event::PeerUp>().has_value());
        } else {
          expect_refused(driven, Status::clock_skew, Op::goaway);
        }
      }
    }
  }
}

// A peer's wall_ms is a u64 from the wire: values at and past 2^63 (and 0, the far past) are
// refused as clock_skew with the true distance in the message, on both sides, without the
// signed overflow the check once had (UBSan in the asan preset reports that one).
TEST(ProtocolContracts, WallClocksAnywhereInTheU64RangeAreComparedWithoutOverflow) {
  const TimeNs now = ns_from_ms(2'000);
  const auto ours = static_cast<std::uint64_t>(kWallMs);
  for (const std::uint64_t theirs : {std::uint64_t{1} << 63, (std::uint64_t{1} << 63) + 1,
                                     std::numeric_limits<std::uint64_t>::max(), std::uint64_t{0}}) {
    SCOPED_TRACE("peer wall_ms " + std::to_string(theirs));
    const std::uint64_t distance = theirs > ours ? theirs - ours : ours - theirs;
    const std::string expected_text = "wall clocks differ by " + std::to_string(distance) + " ms";
    {  // the acceptor's check of the hello
      ScriptedPeer driven(acceptor_config());
      driven.node().set_wall_clock(now, kWallMs);
      driven.set_transport(driven.node().on_accepted(now));
      Frame hello = hello_frame();
      hello.wall_ms = theirs;
      driven.feed(hello, now);
      expect_refused(driven, Status::clock_skew, Op::reject);
      const auto failed = driven.last<event::HandshakeFailed>();
      ASSERT_TRUE(failed.has_value());
      EXPECT_NE(failed->message.find(expected_text), std::string::npos) << failed->message;
    }
    {  // the dialer's check of the challenge
      auto driven = dialing();
      driven.node().set_wall_clock(now, kWallMs);
      challenge_dialer(
          driven, [&](Frame& challenge) { challenge.wall_ms = theirs; }, true, now);
      expect_refused(driven, Status::clock_skew, Op::goaway);
      const auto failed = driven.last<event::HandshakeFailed>();
      ASSERT_TRUE(failed.has_value());
      EXPECT_NE(failed->message.find(expected_text), std::string::npos) << failed->message;
    }
  }
}

// ---- §4.2 handshake timeout -------------------------------------------------------------------

TEST(ProtocolContracts, AcceptedTransportWithoutAHelloClosesAtExactlyTheHelloTimeout) {
  for (const std::int64_t timeout_ms : {kHelloTimeoutMs, std::int64_t{250}}) {
    SCOPED_TRACE("hello_timeout_ms " + std::to_string(timeout_ms));
    const TimeNs accepted_at = ns_from_ms(1'000) + 7;
    auto driven = accepting(
        acceptor_config([&](NodeConfig& config) { config.timeouts.hello_timeout_ms = timeout_ms; }),
        accepted_at);
    const TimeNs deadline = accepted_at + ns_from_ms(timeout_ms);
    EXPECT_EQ(driven.node().next_deadline(), deadline);
    // Half a hello does not extend the timeout.
    const std::vector<std::uint8_t> hello = testing::encode_to_vector(hello_frame());
    const Bytes all = hello;
    driven.feed_bytes(all.first(hello.size() / 2), accepted_at + ns_from_ms(timeout_ms) / 2);
    driven.timer(deadline - 1);
    EXPECT_TRUE(driven.events().empty());
    driven.timer(deadline);
    ASSERT_EQ(driven.events().size(), 2u);
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, Status::handshake_timeout);
    EXPECT_TRUE(failed->rejected_by_us);
    EXPECT_EQ(failed->peer_name, "");  // no hello: the node does not know who it was
    const auto close = driven.last<event::CloseTransport>();
    ASSERT_TRUE(close.has_value());
    EXPECT_EQ(close->transport, driven.transport());
    // The rest of the hello, too late, is ignored: the node forgot the transport.
    driven.feed_bytes(all.subspan(hello.size() / 2), deadline);
    EXPECT_EQ(driven.events().size(), 2u);
    EXPECT_EQ(driven.node().next_deadline(), kNever);
  }
}

// §4.2: the hello timeout is one deadline from the accept for the hello and the auth
// together; a hello that arrives just in time leaves the auth almost no time.
TEST(ProtocolContracts, TheHelloTimeoutCoversTheHelloAndTheAuthFromTheAccept) {
  const TimeNs accepted_at = ns_from_ms(1'000);
  auto driven = accepting(acceptor_config(), accepted_at);
  const TimeNs deadline = accepted_at + ns_from_ms(kHelloTimeoutMs);
  driven.feed(hello_frame(), deadline - ns_from_ms(1));
  ASSERT_TRUE(driven.events().empty());  // answered with a challenge, not refused
  EXPECT_EQ(driven.node().next_deadline(), deadline);
  driven.timer(deadline);
  const auto failed = driven.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, Status::handshake_timeout);
  EXPECT_EQ(failed->message, "no auth answered the challenge in time");
  EXPECT_TRUE(driven.last<event::CloseTransport>().has_value());
}

// What strangers can make an acceptor hold is bounded (issue 14, item 2): at most
// max_transports_awaiting_hello accepted transports are in their handshake. One more takes
// the place of the oldest of those that showed least (nothing, then a hello, then a verified
// certificate; no sources are named here, so each holds one place: handshake_sources_test
// has the order with sources), which is closed at once; the auth that adopts a transport,
// or a wait that times out, frees a place. (Before, the newest was closed: anyone who kept
// the places filled, reopening each as it timed out, kept out every peer that lost its
// connection.)
TEST(ProtocolContracts, AtTheCapOfTransportsInTheirHandshakeTheOldestThatShowedLeastMakesRoom) {
  constexpr std::size_t kCap = 3;
  Node node(
      acceptor_config([](NodeConfig& config) { config.max_transports_awaiting_hello = kCap; }), 0,
      kWallMs);
  // The transports closed to make room since the last look, each reported busy (with the
  // name its hello gave, if any), in order.
  const auto made_room = [&](std::string_view hello_name = "") {
    std::vector<TransportId> closed;
    while (const std::optional<Event> event = node.poll_event()) {
      if (const auto* failed = std::get_if<event::HandshakeFailed>(&*event)) {
        EXPECT_EQ(failed->status, Status::busy);
        EXPECT_TRUE(failed->rejected_by_us);
        EXPECT_EQ(failed->peer_name, hello_name);
        EXPECT_EQ(failed->message,
                  "closed for a newer connection: 3 were in their handshake "
                  "(max_transports_awaiting_hello)");
      }
      if (const auto* close = std::get_if<event::CloseTransport>(&*event)) {
        closed.push_back(close->transport);
        EXPECT_EQ(close->reason,
                  "too many connections in their handshake: the oldest closed for a newer one");
        EXPECT_TRUE(close->final_bytes.empty());
      }
    }
    return closed;
  };
  using Closed = std::vector<TransportId>;
  const auto hello = [&](TimeNs now_ns, TransportId transport) {
    node.on_bytes(now_ns, transport, testing::encode_to_vector(hello_frame()));
  };
  const TransportId certified = node.on_accepted(0);
  TransportSecurity verified;
  verified.encrypted = true;
  verified.peer_names = {roles().dialer};
  node.on_secured(0, certified, verified);
  const TransportId greeted = node.on_accepted(0);
  hello(0, greeted);
  const TransportId silent = node.on_accepted(0);
  EXPECT_EQ(made_room(), Closed{}) << "within the cap";
  // Past the cap: the silent one goes, though it is the newest; then the one past the cap,
  // silent too.
  const TransportId fourth = node.on_accepted(ns_from_ms(1));
  EXPECT_EQ(made_room(), Closed{silent});
  const TransportId fifth = node.on_accepted(ns_from_ms(2));
  EXPECT_EQ(made_room(), Closed{fourth});
  // With none silent, the oldest that sent a hello goes; the certified one stays.
  hello(ns_from_ms(3), fifth);
  const TransportId sixth = node.on_accepted(ns_from_ms(3));
  EXPECT_EQ(made_room(roles().dialer), Closed{greeted});
  // The auth that adopts a transport frees its place.
  const auto challenge = decode_one(node.pending_output(fifth), {});
  ASSERT_TRUE(challenge.has_value());
  ASSERT_EQ(challenge->op, Op::challenge);
  const OwnedFrame kept_challenge(*challenge);
  node.consume_output(fifth, node.pending_output(fifth).size());
  std::vector<std::uint8_t> proof;
  node.on_bytes(
      ns_from_ms(4), fifth,
      testing::encode_to_vector(testing::auth_frame(hello_frame(), kept_challenge.view(), proof)));
  EXPECT_EQ(node.connection(0).state(), PeerState::established);
  node.on_accepted(ns_from_ms(5));  // with the certified one and the sixth
  EXPECT_EQ(made_room(), Closed{});
  static_cast<void>(sixth);
  // The waits time out at hello_timeout_ms: every place is free again.
  node.on_timer(ns_from_ms(5 + kHelloTimeoutMs));
  while (node.poll_event()) {
  }
  for (std::size_t i = 0; i < kCap; ++i) {
    node.on_accepted(ns_from_ms(5 + kHelloTimeoutMs));
    EXPECT_EQ(made_room(), Closed{}) << i;
  }
}

TEST(ProtocolContracts, DialerWithoutAWelcomeGivesUpAtExactlyTheHandshakeTimeout) {
  auto driven = dialing();  // connected at time 0
  const TimeNs deadline = ns_from_ms(kHandshakeTimeoutMs);
  EXPECT_EQ(driven.node().next_deadline(), deadline);
  driven.timer(deadline - 1);
  EXPECT_FALSE(driven.last<event::HandshakeFailed>().has_value());
  EXPECT_EQ(driven.connection().state(), PeerState::handshaking);
  driven.timer(deadline);
  const auto failed = driven.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, Status::handshake_timeout);
  EXPECT_EQ(failed->peer_name, roles().acceptor);
  EXPECT_TRUE(driven.last<event::CloseTransport>().has_value());
  EXPECT_EQ(driven.connection().state(), PeerState::backoff);
}

}  // namespace
}  // namespace weft::protocol_test
