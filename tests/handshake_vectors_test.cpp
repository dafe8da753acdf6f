// Checks docs/PROTOCOL.md §10.4 (the handshake's transcripts and proofs) against weft's
// code: the transcripts of the §10.1 hello and challenge, the shared-key proofs, and the
// Ed25519 keys and signatures of a key per node. A change to the transcript's layout, the
// role bytes or a proof method fails here.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sample_frames.hpp"
#include "test_keys.hpp"
#include "vector_text.hpp"
#include "weft/auth.hpp"

namespace weft {
namespace {

// The labelled hex values of §10.4 ("name: 01 02 ...", continued on indented lines).
std::map<std::string, std::vector<std::uint8_t>> section_values() {
  const std::string doc = testing::read_text_file(WEFT_PROTOCOL_MD);
  const std::size_t start = doc.find("### 10.4 Handshake vectors");
  EXPECT_NE(start, std::string::npos);
  std::map<std::string, std::vector<std::uint8_t>> values;
  std::string current;
  std::size_t at = start;
  while (at < doc.size()) {
    const std::size_t end = std::min(doc.find('\n', at), doc.size());
    const std::string_view line(doc.data() + at, end - at);
    at = end + 1;
    if (line.starts_with("### ") && line.find("10.4") == std::string_view::npos) break;
    const std::size_t colon = line.find(": ");
    std::string_view hex;
    if (!line.empty() && line.front() != ' ' && colon != std::string_view::npos &&
        line.find(' ') > colon) {
      current = std::string(line.substr(0, colon));
      hex = line.substr(colon + 2);
    } else if (!current.empty() && line.starts_with(' ')) {
      hex = line;
    } else {
      current.clear();
      continue;
    }
    for (std::size_t i = 0; i + 1 < hex.size(); ++i) {
      if (hex[i] == ' ') continue;
      values[current].push_back(
          static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
      ++i;
    }
  }
  return values;
}

Ed25519PublicKey key_of(const std::vector<std::uint8_t>& bytes) {
  Ed25519PublicKey key{};
  EXPECT_EQ(bytes.size(), key.size());
  std::copy_n(bytes.begin(), std::min(bytes.size(), key.size()), key.begin());
  return key;
}

TEST(HandshakeVectors, TranscriptsAreTheLabelTheRoleAndTheHeadersOfTheFrameVectors) {
  const auto values = section_values();
  const testing::ExampleHandshake example = testing::example_handshake();
  EXPECT_EQ(values.at("transcript_acceptor"), example.acceptor_transcript);
  EXPECT_EQ(values.at("transcript_dialer"), example.dialer_transcript);
  EXPECT_EQ(example.acceptor_transcript.size(), 177u);
}

TEST(HandshakeVectors, SharedKeyProofsAreTheHmacsAndThePayloadsOfChallengeAndAuth) {
  const auto values = section_values();
  const testing::ExampleHandshake example = testing::example_handshake();
  const SharedKeyAuth auth(testing::kExampleClusterKey);
  EXPECT_EQ(auth.prove(example.acceptor_transcript).value(), values.at("hmac_acceptor"));
  EXPECT_EQ(auth.prove(example.dialer_transcript).value(), values.at("hmac_dialer"));
  const Bytes challenge_proof = example.challenge.view().payload;
  const Bytes auth_proof = example.auth.view().payload;
  EXPECT_EQ(std::vector<std::uint8_t>(challenge_proof.begin(), challenge_proof.end()),
            values.at("hmac_acceptor"));
  EXPECT_EQ(std::vector<std::uint8_t>(auth_proof.begin(), auth_proof.end()),
            values.at("hmac_dialer"));
}

TEST(HandshakeVectors, KeyPerNodeProofsAreTheEd25519SignaturesOfEachSide) {
  const auto values = section_values();
  const testing::ExampleHandshake example = testing::example_handshake();
  const std::string pem_a = testing::ed25519_pem_of_seed(values.at("seed_node_a"));
  const std::string pem_b = testing::ed25519_pem_of_seed(values.at("seed_node_b"));
  const Ed25519PublicKey public_a = KeyRingAuth::public_key_of(pem_a);
  const Ed25519PublicKey public_b = KeyRingAuth::public_key_of(pem_b);
  EXPECT_EQ(public_a, key_of(values.at("public_node_a")));
  EXPECT_EQ(public_b, key_of(values.at("public_node_b")));
  const std::map<std::string, Ed25519PublicKey> ring{{"node-a", public_a}, {"node-b", public_b}};
  const KeyRingAuth node_a(pem_a, ring);
  const KeyRingAuth node_b(pem_b, ring);
  EXPECT_EQ(node_b.prove(example.acceptor_transcript).value(), values.at("ed25519_acceptor"));
  EXPECT_EQ(node_a.prove(example.dialer_transcript).value(), values.at("ed25519_dialer"));
  // Each side checks the other's with its ring; a proof of the other role, or by the other
  // key, does not verify.
  const TransportSecurity plain;
  EXPECT_TRUE(
      node_a.verify("node-b", example.acceptor_transcript, values.at("ed25519_acceptor"), plain));
  EXPECT_TRUE(
      node_b.verify("node-a", example.dialer_transcript, values.at("ed25519_dialer"), plain));
  EXPECT_FALSE(
      node_b.verify("node-a", example.acceptor_transcript, values.at("ed25519_dialer"), plain));
  EXPECT_FALSE(
      node_a.verify("node-a", example.acceptor_transcript, values.at("ed25519_acceptor"), plain));
}

}  // namespace
}  // namespace weft
