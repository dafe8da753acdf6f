// Node::set_authenticator checks again the proof each connected peer gave in its handshake
// (PROTOCOL.md §4.6): a connection whose peer's proof no longer verifies with the new
// authenticator (its key taken out of the ring, a shared key changed) closes with
// goaway(auth_failed), from either role and in a dialer's handshake waiting for its
// welcome; one whose proof still verifies stays up. Before, connections up stayed up
// whatever the new keys said: a revoked key kept its connection until it dropped.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "cluster.hpp"
#include "scripted_peer.hpp"
#include "test_keys.hpp"
#include "weft/auth.hpp"
#include "weft/metrics.hpp"
#include "weft/node.hpp"

namespace weft {
namespace {

using testing::accepted;
using testing::dialed;
using testing::final_frame;
using testing::ScriptedPeer;

constexpr TimeNs kSecond = 1'000'000'000;
constexpr std::string_view kOtherKey = "not the cluster key, 32 bytes...";

std::shared_ptr<const Authenticator> shared_key(std::string_view key) {
  return std::make_shared<SharedKeyAuth>(key);
}

// The connection closed with goaway(auth_failed) naming the replaced authenticator, and the
// application saw the peer go down once.
void expect_revoked(const ScriptedPeer& peer) {
  const auto goaway = final_frame(peer);
  ASSERT_TRUE(goaway.has_value()) << "no goaway";
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(status_name(goaway->view().status),
            status_name(static_cast<std::uint16_t>(Status::auth_failed)));
  EXPECT_EQ(testing::text_of(goaway->view().payload),
            "authenticator replaced: the proof of " + testing::roles().dialer + " does not verify");
}

TEST(AuthRevocation, AnAcceptorWhoseNewKeyRefusesThePeersProofClosesItsConnection) {
  ScriptedPeer peer = accepted();
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = testing::kEchoHandler, .payload = as_bytes("q")});
  ASSERT_EQ(call.error, Errc::ok);
  EXPECT_EQ(peer.node().set_authenticator(1, shared_key(kOtherKey)), 1u);
  peer.collect();
  expect_revoked(peer);
  const auto down = peer.last<event::PeerDown>();
  ASSERT_TRUE(down.has_value());
  EXPECT_NE(down->reason.find("credentials no longer verify"), std::string::npos) << down->reason;
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::disconnected));
  EXPECT_NE(peer.connection().state(), PeerState::established);
}

TEST(AuthRevocation, ANewAuthenticatorThatStillVerifiesThePeerLeavesTheConnectionUp) {
  ScriptedPeer peer = accepted();
  EXPECT_EQ(peer.node().set_authenticator(1, shared_key(testing::kClusterKey)), 0u);
  peer.collect();
  testing::expect_still_up(peer);
}

// The kept proof is exactly what the handshake checked: the same key verifies it again, in
// either role and in a dialer's handshake (a false revocation would drop healthy peers).
TEST(AuthRevocation, TheSameKeyVerifiesEveryKeptProofAgain) {
  ScriptedPeer acceptor = accepted();
  ScriptedPeer dialer = dialed();
  ScriptedPeer handshaking = testing::dialing();
  const auto [hello, step] = testing::challenge_dialer(handshaking);
  ASSERT_EQ(testing::frames_with(step.sent, Op::auth).size(), 1u);
  for (ScriptedPeer* peer : {&acceptor, &dialer, &handshaking}) {
    EXPECT_EQ(peer->node().set_authenticator(1, shared_key(testing::kClusterKey)), 0u);
    peer->collect();
    EXPECT_FALSE(peer->last<event::CloseTransport>().has_value());
    EXPECT_TRUE(peer->all<event::PeerDown>().empty());
  }
  handshaking.feed(testing::welcome_frame(), 2);
  EXPECT_EQ(handshaking.connection().state(), PeerState::established);
}

TEST(AuthRevocation, ADialerChecksTheAcceptorsProofAgainAndDialsAgainLater) {
  ScriptedPeer peer = dialed();
  EXPECT_EQ(peer.node().set_authenticator(1, shared_key(kOtherKey)), 1u);
  peer.collect();
  const auto goaway = final_frame(peer);
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->view().status, static_cast<std::uint16_t>(Status::auth_failed));
  EXPECT_EQ(
      testing::text_of(goaway->view().payload),
      "authenticator replaced: the proof of " + testing::roles().acceptor + " does not verify");
  ASSERT_TRUE(peer.last<event::PeerDown>().has_value());
  const std::size_t dials = peer.all<event::Dial>().size();
  peer.timer(10 * kSecond);  // past the backoff: the next handshake decides
  EXPECT_EQ(peer.all<event::Dial>().size(), dials + 1);
}

// The dialer verified the challenge and sent its auth; the authenticator changes before the
// welcome comes: the handshake is refused as a failed check of the challenge would be.
TEST(AuthRevocation, ADialerWaitingForItsWelcomeRefusesTheHandshake) {
  ScriptedPeer peer = testing::dialing();
  const auto [hello, step] = testing::challenge_dialer(peer);
  ASSERT_EQ(testing::frames_with(step.sent, Op::auth).size(), 1u);
  EXPECT_EQ(peer.node().set_authenticator(1, shared_key(kOtherKey)), 1u);
  peer.collect();
  testing::expect_refused(peer, Status::auth_failed, Op::goaway);
  peer.feed(testing::welcome_frame(), 2);  // on a closed transport: nothing
  EXPECT_TRUE(peer.all<event::PeerUp>().empty());
}

// Three nodes, a key each. b's ring loses a's key: the a-b connection closes at once, b-c
// stays, and a's dials are refused until b's ring holds its key again.
TEST(AuthRevocation, AKeyTakenOutOfTheRingClosesThatPeersConnectionOnly) {
  std::map<std::string, std::string> pems;
  std::map<std::string, Ed25519PublicKey> ring;
  for (const char* name : {"a", "b", "c"}) {
    pems[name] = testing::new_ed25519_pem();
    ring[name] = KeyRingAuth::public_key_of(pems[name]);
  }
  testing::Cluster cluster({"a", "b", "c"}, {}, [&](NodeConfig& config) {
    config.auth = std::make_shared<KeyRingAuth>(pems.at(config.name), ring);
  });
  ASSERT_TRUE(cluster.run_until_connected());
  std::map<std::string, Ed25519PublicKey> without_a = ring;
  without_a.erase("a");
  Node& b = cluster.node(1);
  EXPECT_EQ(b.set_authenticator(cluster.now(), std::make_shared<KeyRingAuth>(pems["b"], without_a)),
            1u);
  cluster.net().run_for(10 * kSecond);
  EXPECT_FALSE(cluster.connected(0, 1));
  EXPECT_TRUE(cluster.connected(1, 2));
  EXPECT_TRUE(cluster.connected(0, 2));
  EXPECT_EQ(cluster.recorder(1).downs.size(), 1u);
  EXPECT_EQ(cluster.recorder(2).downs.size(), 0u);
  bool refused = false;
  for (const auto& failure : cluster.recorder(1).handshake_failures)
    refused = refused || failure.event.status == Status::auth_failed;
  EXPECT_TRUE(refused) << "a's dials were not refused for its proof";
  const std::string text = format_prometheus(b.metrics(cluster.now()));
  EXPECT_NE(text.find("weft_peer_proofs_revoked_total{peer=\"a\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_peer_proofs_revoked_total{peer=\"c\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(b.set_authenticator(cluster.now(), std::make_shared<KeyRingAuth>(pems["b"], ring)), 0u);
  EXPECT_TRUE(cluster.run_until_connected(10 * kSecond));
}

}  // namespace
}  // namespace weft
