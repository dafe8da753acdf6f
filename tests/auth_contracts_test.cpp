// What the handshake's proofs protect against (issue 18, PROTOCOL.md §4.2), each attack a
// test: a captured handshake replayed or spliced, a node that holds one key claiming
// another name, someone answering at a peer's address, an impostor trying to replace a
// live connection, a knock without a proof; and the rules around them (a goaway instead of
// the auth, an auth before the challenge, the transport's names and channel binding,
// checksums under TLS, an old version's hello). Part of weft_handshake_contract_tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "scripted_peer.hpp"
#include "test_keys.hpp"

namespace weft::protocol_test {
namespace {

using testing::accepted;
using testing::accepting;
using testing::acceptor_config;
using testing::challenge_dialer;
using testing::dialing;
using testing::expect_refused;
using testing::expect_still_up;
using testing::frames_in;
using testing::frames_with;
using testing::hello_frame;
using testing::prove_as_dialer;
using testing::roles;
using testing::ScriptedPeer;
using testing::text_of;

// Whether `needle` occurs anywhere in `haystack`.
bool contains(Bytes haystack, Bytes needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// A new accepted transport of `peer` for the script.
void new_transport(ScriptedPeer& peer) {
  peer.set_transport(peer.node().on_accepted(0));
}

// The challenge the node wrote on the script's current transport (after a hello).
OwnedFrame challenge_written(ScriptedPeer& peer) {
  const auto challenges = frames_with(peer.written(), Op::challenge);
  EXPECT_EQ(challenges.size(), 1u);
  return challenges.empty() ? OwnedFrame() : challenges.front();
}

TEST(AuthContracts, AReplayedHelloAndAuthFailOnANewConnectionAndTheLiveOneStays) {
  ScriptedPeer driven = accepting(acceptor_config());
  // A handshake someone recorded: the hello, and the auth for the node's first challenge.
  const Frame hello = hello_frame(1);
  driven.feed(hello);
  const OwnedFrame first_challenge = challenge_written(driven);
  std::vector<std::uint8_t> recorded_proof;
  const Frame recorded_auth = testing::auth_frame(hello, first_challenge.view(), recorded_proof);
  driven.feed(recorded_auth);
  ASSERT_EQ(driven.all<event::PeerUp>().size(), 1u);
  driven.read();
  // Played again on a new connection: a new challenge, with a new nonce, which the recorded
  // proof does not answer.
  new_transport(driven);
  Frame replayed = hello;
  replayed.seq = 2;  // even a later attempt, so the stale rule does not stop it first
  driven.feed(replayed);
  const OwnedFrame second_challenge = challenge_written(driven);
  EXPECT_FALSE(std::ranges::equal(second_challenge.view().nonce, first_challenge.view().nonce));
  driven.feed(recorded_auth);
  expect_refused(driven, Status::auth_failed, Op::reject);
  EXPECT_EQ(driven.last<event::HandshakeFailed>()->message,
            "the proof of " + roles().dialer + " does not verify");
  // The live connection was never touched.
  EXPECT_TRUE(driven.all<event::PeerDown>().empty());
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 1u);
  EXPECT_EQ(driven.connection().state(), PeerState::established);
}

TEST(AuthContracts, ASplicedHandshakeFails) {
  // The auth of one connection after the hello of another (both by the real dialer, both
  // valid on their own connection) proves nothing on the second.
  ScriptedPeer driven = accepting(acceptor_config());
  const Frame hello_a = hello_frame(1);
  driven.feed(hello_a);
  const OwnedFrame challenge_a = challenge_written(driven);
  std::vector<std::uint8_t> proof_a;
  const Frame auth_a = testing::auth_frame(hello_a, challenge_a.view(), proof_a);
  new_transport(driven);
  const Frame hello_b = hello_frame(2);
  driven.feed(hello_b);
  challenge_written(driven);
  driven.feed(auth_a);  // the auth of connection a on connection b
  expect_refused(driven, Status::auth_failed, Op::reject);
  EXPECT_TRUE(driven.all<event::PeerUp>().empty());
}

// Three nodes of a cluster with a key per node: the dialer, the node under test, and a
// third member "node-c" whose own key is valid and listed.
struct KeyPerNode {
  std::string dialer_pem = testing::new_ed25519_pem();
  std::string acceptor_pem = testing::new_ed25519_pem();
  std::string third_pem = testing::new_ed25519_pem();
  std::map<std::string, Ed25519PublicKey> ring{
      {roles().dialer, KeyRingAuth::public_key_of(dialer_pem)},
      {roles().acceptor, KeyRingAuth::public_key_of(acceptor_pem)},
      {"node-c", KeyRingAuth::public_key_of(third_pem)}};

  std::shared_ptr<KeyRingAuth> auth(const std::string& pem) const {
    return std::make_shared<KeyRingAuth>(pem, ring);
  }
};

TEST(AuthContracts, HoldingOneNodesKeyDoesNotLetAnyoneBeAnotherNode) {
  const KeyPerNode keys;
  ScriptedPeer driven = accepting(acceptor_config([&](NodeConfig& config) {
    config.peers.push_back("node-c");
    config.auth = keys.auth(keys.acceptor_pem);
  }));
  // The real dialer connects with its own key.
  const auto real = keys.auth(keys.dialer_pem);
  const testing::DialedNode first = testing::dial_node(driven.node(), hello_frame(1), real.get());
  const auto peer_up = std::find_if(first.events.begin(), first.events.end(), [](const Event& e) {
    return std::holds_alternative<event::PeerUp>(e);
  });
  ASSERT_NE(peer_up, first.events.end());
  // node-c, a member with a valid key of its own, claims the dialer's name: refused, and the
  // dialer's connection stays.
  const auto impostor = keys.auth(keys.third_pem);
  const testing::DialedNode second =
      testing::dial_node(driven.node(), hello_frame(2), impostor.get());
  bool refused = false;
  for (const Event& event : second.events) {
    if (const auto* failed = std::get_if<event::HandshakeFailed>(&event)) {
      EXPECT_EQ(failed->status, Status::auth_failed);
      refused = true;
    }
    EXPECT_FALSE(std::holds_alternative<event::PeerDown>(event));
    EXPECT_FALSE(std::holds_alternative<event::PeerUp>(event));
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(driven.node().connection(0).state(), PeerState::established);
}

TEST(AuthContracts, WhoeverAnswersAtAPeersAddressLearnsNoSecretAndGetsNoProof) {
  // The node dials "its peer", and an impostor answers: it has the hello (a nonce, names, no
  // secret) and cannot make the acceptor's proof; the node refuses and sends no proof of
  // its own.
  ScriptedPeer driven = dialing();
  const std::vector<std::uint8_t> wrong(32, 0x42);
  const auto [hello, step] = challenge_dialer(
      driven, [&](Frame& challenge) { challenge.payload = wrong; }, false);
  expect_refused(driven, Status::auth_failed, Op::goaway);
  EXPECT_EQ(driven.last<event::HandshakeFailed>()->message,
            "the proof of " + roles().acceptor + " does not verify");
  // Everything the node wrote: the hello, then the goaway. No auth, and the key nowhere.
  std::vector<std::uint8_t> wire = testing::encode_to_vector(hello.view());
  const auto close = driven.last<event::CloseTransport>();
  wire.insert(wire.end(), close->final_bytes.begin(), close->final_bytes.end());
  const std::vector<OwnedFrame> frames = frames_in(wire);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].view().op, Op::hello);
  EXPECT_EQ(frames[1].view().op, Op::goaway);
  EXPECT_FALSE(contains(wire, as_bytes(testing::kClusterKey)));
  EXPECT_TRUE(frames_with(step.sent, Op::auth).empty());
}

TEST(AuthContracts, AHelloAloneNeverTouchesTheLiveConnection) {
  ScriptedPeer driven = accepted();
  // Someone who knows the dialer's name sends a perfect hello (a later attempt) and then
  // nothing, or garbage for a proof: the connection stays, and the stranger is timed out or
  // refused.
  new_transport(driven);
  driven.feed(hello_frame(9));
  expect_still_up(driven);
  challenge_written(driven);
  const std::vector<std::uint8_t> garbage(32, 0x17);
  driven.feed(Frame{.op = Op::auth, .checksum = true, .payload = garbage});
  expect_refused(driven, Status::auth_failed, Op::reject);
  EXPECT_TRUE(driven.all<event::PeerDown>().empty());
  EXPECT_EQ(driven.connection().state(), PeerState::established);
  // The real dialer's next attempt still replaces it as usual.
  new_transport(driven);
  prove_as_dialer(driven, hello_frame(10));
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 2u);
}

TEST(AuthContracts, AKnockWithoutAValidProofDialsNothing) {
  // The node (the dial rule's dialer, on demand) receives a knock from its peer's name:
  // challenged, and the bad auth refused auth_failed; it does not dial.
  ScriptedPeer driven(
      testing::dialer_config([](NodeConfig& config) { config.connect_on_demand = true; }));
  driven.timer(0);
  new_transport(driven);
  Frame knock = hello_frame();
  knock.name = roles().acceptor;
  knock.peer_name = roles().dialer;
  driven.feed(knock);
  challenge_written(driven);
  const std::vector<std::uint8_t> garbage(32, 0x17);
  driven.feed(Frame{.op = Op::auth, .checksum = true, .payload = garbage});
  expect_refused(driven, Status::auth_failed, Op::reject);
  EXPECT_FALSE(driven.last<event::Dial>().has_value());
}

TEST(AuthContracts, ADialersGoawayInsteadOfTheAuthIsReportedAsThePeersRefusal) {
  ScriptedPeer driven = accepting(acceptor_config());
  driven.feed(hello_frame());
  challenge_written(driven);
  driven.feed(Frame{.op = Op::goaway,
                    .checksum = true,
                    .status = static_cast<std::uint16_t>(Status::clock_skew),
                    .payload = as_bytes("wall clocks differ by 400000 ms (the peer's is ahead)")});
  const auto failed = driven.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, Status::clock_skew);
  EXPECT_FALSE(failed->rejected_by_us);
  EXPECT_EQ(failed->peer_name, roles().dialer);
  EXPECT_EQ(failed->message, "wall clocks differ by 400000 ms (the peer's is ahead)");
  const auto close = driven.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_TRUE(close->final_bytes.empty());  // nothing sent back
}

TEST(AuthContracts, AcceptorTakesOnlyAnAuthAfterTheChallengeAndOnlyOneWrittenOut) {
  {  // another frame where the auth belongs
    ScriptedPeer driven = accepting(acceptor_config());
    driven.feed(hello_frame());
    challenge_written(driven);
    driven.feed(Frame{.op = Op::ping, .seq = 1});
    expect_refused(driven, Status::protocol_error, Op::reject);
    EXPECT_EQ(driven.last<event::HandshakeFailed>()->message, "expected auth, got ping");
  }
  {  // an auth while the challenge is still in the node's output: it cannot be its answer
    ScriptedPeer driven = accepting(acceptor_config());
    driven.feed(hello_frame());
    const std::vector<std::uint8_t> garbage(32, 0x17);
    driven.feed(Frame{.op = Op::auth, .checksum = true, .payload = garbage});
    expect_refused(driven, Status::protocol_error, Op::reject);
    EXPECT_EQ(driven.last<event::HandshakeFailed>()->message, "auth before the challenge was sent");
    // The unwritten challenge goes out before the reject (§9.1).
    const auto close = driven.last<event::CloseTransport>();
    const std::vector<OwnedFrame> last = frames_in(close->final_bytes);
    ASSERT_EQ(last.size(), 2u);
    EXPECT_EQ(last[0].view().op, Op::challenge);
    EXPECT_EQ(last[1].view().op, Op::reject);
  }
}

TEST(AuthContracts, ARejectOfTheAuthIsTheAcceptorsRefusal) {
  ScriptedPeer driven = dialing();
  challenge_dialer(driven);
  driven.feed(Frame{.op = Op::reject,
                    .checksum = true,
                    .status = static_cast<std::uint16_t>(Status::auth_failed),
                    .payload = as_bytes("the proof of n0 does not verify")});
  const auto failed = driven.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, Status::auth_failed);
  EXPECT_FALSE(failed->rejected_by_us);
  EXPECT_TRUE(driven.all<event::PeerUp>().empty());
  EXPECT_EQ(driven.connection().state(), PeerState::backoff);
}

// A node dialing with `dialer_security` reported by its transport, against the script as
// acceptor on a transport with `acceptor_binding`: whether the node accepted the challenge.
bool dialer_accepts(const TransportSecurity& dialer_security,
                    const std::vector<std::uint8_t>& acceptor_binding) {
  ScriptedPeer driven(testing::dialer_config());
  driven.timer(0);
  const auto dial = driven.last<event::Dial>();
  driven.set_transport(dial->transport);
  driven.node().on_connected(0, dial->transport, dialer_security);
  driven.collect();
  const std::vector<OwnedFrame> hello = frames_with(driven.written(), Op::hello);
  std::vector<std::uint8_t> proof;
  Frame challenge = testing::challenge_frame(hello.front().view(), proof);
  proof = SharedKeyAuth(testing::kClusterKey)
              .prove(handshake_transcript(ProofRole::acceptor, hello.front().view(), challenge,
                                          acceptor_binding))
              .value();
  challenge.payload = proof;
  driven.feed(challenge);
  return frames_with(driven.written(), Op::auth).size() == 1;
}

TEST(AuthContracts, TheChannelBindingIsProvedSoARelayBetweenTwoTlsSessionsFails) {
  const std::vector<std::uint8_t> binding(32, 0x11);
  const std::vector<std::uint8_t> other(32, 0x22);
  const auto tls = [](std::vector<std::uint8_t> b) {
    return TransportSecurity{.encrypted = true, .peer_names = {}, .channel_binding = std::move(b)};
  };
  EXPECT_TRUE(dialer_accepts(tls(binding), binding));
  EXPECT_FALSE(dialer_accepts(tls(binding), other));  // the acceptor's session is another
  EXPECT_FALSE(dialer_accepts(tls(binding), {}));
  EXPECT_TRUE(dialer_accepts(TransportSecurity{}, {}));
}

TEST(AuthContracts, CertificateOnlyAuthenticationNeedsATransportThatNamesThePeer) {
  const auto certificates = [](NodeConfig& config) {
    config.auth = std::make_shared<CertificateAuth>();
  };
  const TransportSecurity named{.encrypted = true,
                                .peer_names = {roles().dialer},
                                .channel_binding = std::vector<std::uint8_t>(32, 5)};
  {  // over TLS naming the dialer: a handshake with empty proofs
    ScriptedPeer driven = accepting(acceptor_config(certificates));
    driven.node().on_secured(0, driven.transport(), named);
    const Frame hello = hello_frame();
    driven.feed(hello);
    const OwnedFrame challenge = challenge_written(driven);
    EXPECT_TRUE(challenge.view().payload.empty());
    driven.feed(Frame{.op = Op::auth, .checksum = true});
    EXPECT_EQ(driven.all<event::PeerUp>().size(), 1u);
  }
  {  // over a plain transport nothing verifies
    ScriptedPeer driven = accepting(acceptor_config(certificates));
    driven.feed(hello_frame());
    challenge_written(driven);
    driven.feed(Frame{.op = Op::auth, .checksum = true});
    expect_refused(driven, Status::auth_failed, Op::reject);
  }
}

TEST(AuthContracts, UnderTlsANodeAsksForNoChecksumsUnlessConfiguredTo) {
  const TransportSecurity tls{.encrypted = true, .peer_names = {}, .channel_binding = {}};
  for (const bool when_encrypted : {false, true}) {
    SCOPED_TRACE(when_encrypted ? "checksums_when_encrypted" : "default");
    ScriptedPeer driven = accepting(acceptor_config(
        [&](NodeConfig& config) { config.checksums_when_encrypted = when_encrypted; }));
    driven.node().on_secured(0, driven.transport(), tls);
    Frame hello = hello_frame();
    hello.flags = 0;  // nor does the peer
    const auto step = prove_as_dialer(driven, hello);
    const auto challenge = frames_with(step.sent, Op::challenge);
    ASSERT_EQ(challenge.size(), 1u);
    EXPECT_EQ((challenge[0].view().flags & flag::kChecksums) != 0, when_encrypted);
    ASSERT_EQ(driven.all<event::PeerUp>().size(), 1u);
    driven.set_checksum(false);
    driven.feed(Frame{.op = Op::ping, .seq = 1});
    if (when_encrypted) {
      EXPECT_NE(testing::expect_protocol_error(driven).find("checksum_missing"), std::string::npos);
    } else {
      expect_still_up(driven);
    }
  }
}

TEST(AuthContracts, AVersionOneHelloIsRefusedForItsVersionAndItsTokenGoesNowhere) {
  // A node of the previous release sends its token in the nonce's place.
  ScriptedPeer driven = accepting(acceptor_config());
  const std::string token = "old-cluster-token";
  Frame old = hello_frame();
  old.version_min = 1;
  old.version_max = 2;
  old.nonce = as_bytes(token);
  driven.feed(old);
  expect_refused(driven, Status::version_mismatch, Op::reject);
  EXPECT_EQ(
      driven.last<event::HandshakeFailed>()->message,
      "no common protocol version: " + roles().acceptor + " speaks 3..3, the hello offers 1..2");
  for (const Event& event : driven.events()) {
    if (const auto* failed = std::get_if<event::HandshakeFailed>(&event)) {
      EXPECT_EQ(failed->message.find(token), std::string::npos);
    }
  }
  EXPECT_FALSE(contains(driven.last<event::CloseTransport>()->final_bytes, as_bytes(token)));
}

// The dialer's hello is answered, then the application removes the dialer before its auth:
// the removal refuses the waiting handshake at once, once, while the name is unknown.
void remove_while_the_challenge_waits(ScriptedPeer& driven) {
  driven.feed(hello_frame());
  (void)challenge_written(driven);
  ASSERT_EQ(driven.node().remove_peer(0, 0), Errc::ok);
  driven.collect();
  expect_refused(driven, Status::unknown_node, Op::reject);
  const auto refusals = driven.all<event::HandshakeFailed>();
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals.front().peer_name, roles().dialer);
  EXPECT_TRUE(driven.all<event::PeerUp>().empty());
}

// Found by the simulator: a peer removed while its dialer answered the challenge must stay
// removed (the auth used to bring its connection back, and add_peer then failed).
TEST(AuthContracts, APeerRemovedDuringItsHandshakeIsRefusedAndStaysRemoved) {
  ScriptedPeer driven = accepting(acceptor_config());
  remove_while_the_challenge_waits(driven);
  EXPECT_EQ(driven.node().connection(0).state(), PeerState::removed);
  const AddedPeer again = driven.node().add_peer(0, roles().dialer);
  EXPECT_EQ(again.error, Errc::ok);
}

// Found by the simulator: removed and added again while its dialer answered the challenge,
// the peer was refused at the auth as an unknown node although the acceptor listed it by
// then. The removal refuses the old relationship's handshake; a new one serves the new.
TEST(AuthContracts, APeerRemovedAndAddedDuringItsHandshakeIsRefusedOnlyWhileUnknown) {
  ScriptedPeer driven = accepting(acceptor_config());
  remove_while_the_challenge_waits(driven);
  const AddedPeer again = driven.node().add_peer(0, roles().dialer);
  ASSERT_EQ(again.error, Errc::ok);
  new_transport(driven);
  const Frame next_hello = hello_frame(2);
  driven.feed(next_hello);
  const OwnedFrame challenge = challenge_written(driven);
  std::vector<std::uint8_t> proof;
  driven.feed(testing::auth_frame(next_hello, challenge.view(), proof));
  EXPECT_EQ(driven.all<event::HandshakeFailed>().size(), 1u);  // nothing more refused
  ASSERT_EQ(driven.all<event::PeerUp>().size(), 1u);
  EXPECT_EQ(driven.all<event::PeerUp>().front().peer, again.peer);
  EXPECT_EQ(driven.node().connection(again.peer).state(), PeerState::established);
}

// An authenticator that cannot make its proof (its crypto failed, or the proof it made is
// over kMaxProofBytes) fails the handshake auth_failed and closes that transport, nothing
// else. Before, the acceptor read the refused transport's freed entry (a use after free:
// asan aborted).
TEST(AuthContracts, AnAcceptorThatCannotMakeItsProofRefusesTheHelloAuthFailed) {
  struct NoProof final : Authenticator {
    explicit NoProof(std::size_t bytes) : proof_bytes(bytes) {}
    std::optional<std::vector<std::uint8_t>> prove(Bytes) const override {
      if (proof_bytes == 0) return std::nullopt;
      return std::vector<std::uint8_t>(proof_bytes, 1);
    }
    bool verify(std::string_view, Bytes, Bytes, const TransportSecurity&) const override {
      return false;
    }
    std::size_t proof_bytes;
  };
  for (const std::size_t proof_bytes : {std::size_t{0}, kMaxProofBytes + 1}) {
    ScriptedPeer driven = accepting(acceptor_config(
        [&](NodeConfig& config) { config.auth = std::make_shared<NoProof>(proof_bytes); }));
    driven.node().on_accepted(0);  // another handshake under way: the map is not empty
    driven.feed(hello_frame(1));
    expect_refused(driven, Status::auth_failed, Op::reject);
    EXPECT_EQ(driven.last<event::HandshakeFailed>()->message, "this node could not make its proof");
    EXPECT_TRUE(driven.all<event::PeerUp>().empty());
  }
}

// The inverse of x * odd modulo 2^64.
std::uint64_t inverse(std::uint64_t odd) {
  std::uint64_t inverse = odd;
  for (int i = 0; i < 6; ++i)
    inverse *= 2 - odd * inverse;
  return inverse;
}
std::uint64_t undo_xor_shift(std::uint64_t y, int shift) {
  std::uint64_t x = y;
  for (int i = 0; i < 64 / shift + 1; ++i)
    x = y ^ (x >> shift);
  return x;
}

// A node given a seed but no nonce_key derives its nonce key from the seed. Its hello or
// challenge carries its incarnation, which must tell nothing of that seed: otherwise anyone
// who reads one handshake knows every nonce the node will draw. Before, the incarnation was
// the first output of the generator seeded with it, which two multiplications, a rotation
// and splitmix64's inverse take back to the seed: this test is that attack.
TEST(AuthContracts, AnIncarnationOnTheWireDoesNotGiveAwayTheSeedOrTheNonces) {
  const auto challenge_of = [](std::uint64_t seed) {
    ScriptedPeer driven = accepting(acceptor_config([seed](NodeConfig& config) {
      config.seed = seed;
      config.nonce_key.reset();
    }));
    driven.feed(hello_frame(1));
    return challenge_written(driven);
  };
  const OwnedFrame seen = challenge_of(0x5eed'1234'abcd'0042);
  const std::uint64_t incarnation = seen.view().incarnation;
  for (const std::uint64_t low_bit : {0u, 1u}) {
    const std::uint64_t output = (incarnation & ~std::uint64_t{1}) | low_bit;
    // xoshiro256**'s output rotl(s1 * 5, 7) * 9, undone.
    std::uint64_t s1 = output * inverse(9);
    s1 = (s1 >> 7) | (s1 << 57);
    s1 *= inverse(5);
    // s1 is splitmix64's second output: undo its mixing, then its two steps.
    std::uint64_t z = undo_xor_shift(s1, 31) * inverse(0x94d049bb133111ebULL);
    z = undo_xor_shift(z, 27) * inverse(0xbf58476d1ce4e5b9ULL);
    z = undo_xor_shift(z, 30);
    const std::uint64_t guessed_seed = z - 2 * 0x9e3779b97f4a7c15ULL;
    const OwnedFrame guessed = challenge_of(guessed_seed);
    EXPECT_FALSE(std::ranges::equal(guessed.view().nonce, seen.view().nonce))
        << "the seed " << guessed_seed << " follows from the incarnation";
  }
}

TEST(AuthContracts, NoncesAreFreshPerHandshakeAndFixedByTheNonceKey) {
  const auto nonces_of = [](const std::function<void(NodeConfig&)>& adjust) {
    std::vector<std::vector<std::uint8_t>> nonces;
    ScriptedPeer driven = accepting(acceptor_config(adjust));
    for (int i = 0; i < 3; ++i) {
      new_transport(driven);
      driven.feed(hello_frame(static_cast<std::uint64_t>(i + 1)));
      const OwnedFrame challenge = challenge_written(driven);
      const Bytes nonce = challenge.view().nonce;
      nonces.emplace_back(nonce.begin(), nonce.end());
    }
    return nonces;
  };
  std::array<std::uint8_t, 32> key{};
  key.fill(9);
  const auto with_key = [&](NodeConfig& config) { config.nonce_key = key; };
  const auto first = nonces_of(with_key);
  EXPECT_EQ(first, nonces_of(with_key));  // the same key: the same sequence
  EXPECT_NE(first[0], first[1]);
  EXPECT_NE(first[1], first[2]);
  EXPECT_NE(first, nonces_of({}));  // another key (derived from the seed): other nonces
  for (const auto& nonce : first)
    EXPECT_EQ(nonce.size(), kNonceBytes);
}

// The nonce key is a secret: a Node keeps it only in its nonce source (which overwrites it
// when the node goes) and overwrites the copy it was given, so its config shows none; the
// nonces still come from that key (above).
TEST(ProtocolContracts, ANodeKeepsItsNonceKeyOnlyInItsNonceSource) {
  NodeConfig config = acceptor_config();
  std::array<std::uint8_t, 32> key{};
  key.fill(7);
  config.nonce_key = key;
  const Node node(config, 0, testing::kWallMs);
  EXPECT_FALSE(node.config().nonce_key.has_value());
  ASSERT_TRUE(config.nonce_key.has_value()) << "the caller's copy is the caller's";
  EXPECT_EQ(*config.nonce_key, key);
}

}  // namespace
}  // namespace weft::protocol_test
