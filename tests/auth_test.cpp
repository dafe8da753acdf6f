// The authenticators of weft/auth.hpp on their own: SharedKeyAuth (HMAC-SHA256 of a cluster
// key), KeyRingAuth (Ed25519, a key per node, and its ring's text form), CertificateAuth
// (the transport's certificate names), and the transcript both sides prove.
#include "weft/auth.hpp"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sample_frames.hpp"
#include "test_keys.hpp"

namespace weft {
namespace {

const std::vector<std::uint8_t> kTranscript = testing::example_handshake().acceptor_transcript;
const TransportSecurity kPlain;

TEST(SharedKeyAuth, KeysShorterThan16BytesAreRefused) {
  EXPECT_THROW(SharedKeyAuth(std::string_view("fifteen-bytes!!")), std::invalid_argument);
  EXPECT_NO_THROW(SharedKeyAuth(std::string_view("sixteen-bytes!!!")));
}

TEST(SharedKeyAuth, OnlyTheSameKeyOverTheSameTranscriptVerifies) {
  const SharedKeyAuth ours(std::string_view("the-cluster-key-1"));
  const SharedKeyAuth theirs(std::string_view("the-cluster-key-2"));
  const std::vector<std::uint8_t> proof = ours.prove(kTranscript).value();
  ASSERT_EQ(proof.size(), 32u);
  EXPECT_TRUE(ours.verify("anyone", kTranscript, proof, kPlain));  // the name plays no part
  EXPECT_FALSE(theirs.verify("anyone", kTranscript, proof, kPlain));
  std::vector<std::uint8_t> other = kTranscript;
  other[16] ^= 1;  // the role byte
  EXPECT_FALSE(ours.verify("anyone", other, proof, kPlain));
  for (std::size_t i = 0; i < proof.size(); ++i) {
    std::vector<std::uint8_t> flipped = proof;
    flipped[i] ^= 0x80;
    EXPECT_FALSE(ours.verify("anyone", kTranscript, flipped, kPlain)) << i;
  }
  const std::vector<std::uint8_t> longer = [&] {
    std::vector<std::uint8_t> bytes = proof;
    bytes.push_back(0);
    return bytes;
  }();
  EXPECT_FALSE(ours.verify("anyone", kTranscript, longer, kPlain));
  EXPECT_FALSE(ours.verify("anyone", kTranscript, {}, kPlain));
}

TEST(KeyRingAuth, RingTextIsParsedWithCommentsAndEveryMistakeNamesItsLine) {
  const std::string key_a(64, 'a');
  const std::string key_b(64, 'B');
  const auto ring = KeyRingAuth::parse_ring("# the cluster\n\nnode-a " + key_a + "\n  node-b\t" +
                                            key_b + "  \r\n");
  ASSERT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.at("node-a")[0], 0xaa);
  EXPECT_EQ(ring.at("node-b")[31], 0xbb);
  const auto error_of = [](const std::string& text) {
    try {
      KeyRingAuth::parse_ring(text);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("node-a\n"), "key ring line 1: expected `<name> <64 hex digits>`");
  EXPECT_EQ(error_of("\nnode-a " + key_a.substr(2) + "\n"),
            "key ring line 2: the key of node-a is not 64 hex digits");
  EXPECT_EQ(error_of("node-a " + std::string(63, 'a') + "g\n"),
            "key ring line 1: the key of node-a is not 64 hex digits");
  EXPECT_EQ(error_of("node-a " + key_a + "\nnode-a " + key_b + "\n"),
            "key ring line 2: node-a is listed twice");
  EXPECT_EQ(error_of(std::string(256, 'n') + " " + key_a),
            "key ring line 1: not a node name: " + std::string(256, 'n'));
}

// One public key under two names (a key file copied to another node's name, a cloned
// image) would let its holder prove either name: the ring is refused, parsed or built.
// Before, both were taken in silence, against "knowing one node's key lets nobody prove
// another name" (PROTOCOL.md §4.2).
TEST(KeyRingAuth, ARingWithOneKeyUnderTwoNamesIsRefused) {
  const std::string key_a(64, 'a');
  try {
    KeyRingAuth::parse_ring("node-a " + key_a + "\nnode-b " + std::string(64, 'b') + "\nnode-c " +
                            key_a + "\n");
    ADD_FAILURE() << "taken";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "key ring line 3: node-c has the public key of node-a");
  }
  const std::string pem = testing::new_ed25519_pem();
  const Ed25519PublicKey shared = KeyRingAuth::public_key_of(pem);
  try {
    KeyRingAuth(pem, {{"node-a", shared}, {"node-c", shared}});
    ADD_FAILURE() << "taken";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "key ring: node-a and node-c have one public key: its holder could prove "
                 "either name");
  }
}

TEST(KeyRingAuth, AnEncryptedKeyIsRefusedWithoutAskingForAPassPhrase) {
  // Encrypted with a pass phrase: loading it must not prompt (a daemon would hang), and the
  // error says what is wrong.
  const std::string encrypted = testing::encrypted_ed25519_pem("pass phrase");
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  try {
    KeyRingAuth(encrypted, {});
    ADD_FAILURE() << "an encrypted key was taken";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "private key: encrypted keys are not supported (keep it unencrypted, mode 0600)");
  }
}

TEST(KeyRingAuth, OnlyEd25519PrivateKeysAreTaken) {
  EXPECT_THROW(KeyRingAuth("not a key", {}), std::invalid_argument);
  EXPECT_THROW(KeyRingAuth(testing::new_p256_pem(), {}), std::invalid_argument);  // P-256
  EXPECT_NO_THROW(KeyRingAuth(testing::new_ed25519_pem(), {}));
  try {
    KeyRingAuth(testing::new_p256_pem(), {});
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "private key: not an Ed25519 key");
  }
}

// The property a key per node exists for: a node's key proves its own name only.
TEST(KeyRingAuth, AProofVerifiesOnlyAsItsKeysNameAndOnlyForRingedNames) {
  const std::string pem_a = testing::new_ed25519_pem();
  const std::string pem_c = testing::new_ed25519_pem();
  const std::map<std::string, Ed25519PublicKey> ring{{"node-a", KeyRingAuth::public_key_of(pem_a)},
                                                     {"node-c", KeyRingAuth::public_key_of(pem_c)}};
  const KeyRingAuth a(pem_a, ring);
  const KeyRingAuth c(pem_c, ring);
  const std::vector<std::uint8_t> proof_of_c = c.prove(kTranscript).value();
  ASSERT_EQ(proof_of_c.size(), 64u);
  EXPECT_TRUE(a.verify("node-c", kTranscript, proof_of_c, kPlain));
  EXPECT_FALSE(a.verify("node-a", kTranscript, proof_of_c, kPlain));  // c claiming to be a
  EXPECT_FALSE(a.verify("node-x", kTranscript, proof_of_c, kPlain));  // not in the ring
  std::vector<std::uint8_t> flipped = proof_of_c;
  flipped[63] ^= 1;
  EXPECT_FALSE(a.verify("node-c", kTranscript, flipped, kPlain));
  EXPECT_EQ(KeyRingAuth::hex(ring.at("node-a")).size(), 64u);
  EXPECT_EQ(KeyRingAuth::parse_ring("node-a " + KeyRingAuth::hex(ring.at("node-a"))).at("node-a"),
            ring.at("node-a"));
}

TEST(CertificateAuth, OnlyAnEncryptedTransportWhoseCertificateNamesThePeerVerifies) {
  const CertificateAuth auth;
  EXPECT_EQ(auth.prove(kTranscript).value(), std::vector<std::uint8_t>{});
  const TransportSecurity tls{
      .encrypted = true, .peer_names = {"node-a", "a.example"}, .channel_binding = {}};
  EXPECT_TRUE(auth.verify("node-a", kTranscript, {}, tls));
  EXPECT_FALSE(auth.verify("node-b", kTranscript, {}, tls));
  EXPECT_FALSE(auth.verify("node-a", kTranscript, {}, kPlain));
  const std::vector<std::uint8_t> some_proof{1};
  EXPECT_FALSE(auth.verify("node-a", kTranscript, some_proof, tls));
  TransportSecurity unencrypted = tls;
  unencrypted.encrypted = false;
  EXPECT_FALSE(auth.verify("node-a", kTranscript, {}, unencrypted));
}

TEST(HandshakeTranscript, FramesGiveTheSameBytesAsTheirHeadersAndTheBindingCounts) {
  const testing::ExampleHandshake example = testing::example_handshake();
  EXPECT_EQ(
      handshake_transcript(ProofRole::acceptor, example.hello.view(), example.challenge.view()),
      example.acceptor_transcript);
  const std::vector<std::uint8_t> binding(32, 7);
  const std::vector<std::uint8_t> bound = handshake_transcript(
      ProofRole::acceptor, example.hello.view(), example.challenge.view(), binding);
  EXPECT_EQ(bound.size(), example.acceptor_transcript.size() + 32);
  EXPECT_TRUE(std::equal(bound.end() - 32, bound.end(), binding.begin()));
}

}  // namespace
}  // namespace weft
