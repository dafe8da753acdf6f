#include "handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

#include "invariant.hpp"

namespace weft::detail {

namespace {

// HMAC-SHA256(key, prefix ‖ number as 8 bytes big-endian). Over memory it cannot fail short
// of the library being unusable; a node must never use a predictable value, so that is fatal.
Nonce keyed_hash(const std::array<std::uint8_t, 32>& key, const std::array<char, 10>& prefix,
                 std::uint64_t number) {
  std::array<std::uint8_t, 18> input{};
  std::copy(prefix.begin(), prefix.end(), input.begin());
  for (std::size_t i = 0; i < 8; ++i)
    input[10 + i] = static_cast<std::uint8_t>(number >> (56 - 8 * i));
  Nonce out{};
  unsigned int length = 0;
  const unsigned char* made = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                   input.data(), input.size(), out.data(), &length);
  if (made == nullptr || length != out.size()) {
    invariant_failed("HMAC-SHA256 of a nonce failed", __FILE__, __LINE__);
  }
  return out;
}

}  // namespace

NonceSource::~NonceSource() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

Nonce NonceSource::next() {
  return keyed_hash(key_, {'w', 'e', 'f', 't', '-', 'n', 'o', 'n', 'c', 'e'}, counter_++);
}

std::uint64_t NonceSource::secret_word(std::uint64_t label) const {
  const Nonce bits = keyed_hash(key_, {'w', 'e', 'f', 't', '-', 's', 'a', 'l', 't', '!'}, label);
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < 8; ++i)
    word = (word << 8) | bits[i];
  return word;
}

std::array<std::uint8_t, 32> key_of_bits(const std::array<std::uint64_t, 4>& bits) {
  std::array<std::uint8_t, 32> key{};
  for (std::size_t word = 0; word < bits.size(); ++word) {
    for (std::size_t i = 0; i < 8; ++i)
      key[8 * word + i] = static_cast<std::uint8_t>(bits[word] >> (56 - 8 * i));
  }
  return key;
}

NonceSource take_nonce_source(NodeConfig& config, const std::array<std::uint64_t, 4>& seed_bits) {
  if (!config.nonce_key) return NonceSource(key_of_bits(seed_bits));
  NonceSource source(*config.nonce_key);
  OPENSSL_cleanse(config.nonce_key->data(), config.nonce_key->size());
  config.nonce_key.reset();
  return source;
}

bool wants_checksums(const NodeConfig& config, const TransportSecurity& transport) {
  return config.checksums && (!transport.encrypted || config.checksums_when_encrypted);
}

EncodedFrame encode_handshake(const Frame& frame) {
  ByteBuffer buffer;
  encode_frame(buffer, frame);
  const Bytes view = buffer.view();
  return EncodedFrame{{view.begin(), view.end()}};
}

Status check_transport_name(std::string_view name, const TransportSecurity& transport,
                            std::string& message) {
  const auto& names = transport.peer_names;
  if (names.empty() || std::find(names.begin(), names.end(), name) != names.end()) {
    return Status::ok;
  }
  message = "the peer's certificate is not for " + std::string(name) + " (it names";
  for (const std::string& listed : names)
    message += " " + listed;
  message += ")";
  return Status::auth_failed;
}

Status check_nonce(const Frame& handshake, std::string& message) {
  if (handshake.nonce.size() == kNonceBytes) return Status::ok;
  message = "nonce is " + std::to_string(handshake.nonce.size()) + " bytes, not " +
            std::to_string(kNonceBytes);
  return Status::protocol_error;
}

Status check_clock(const NodeConfig& config, std::int64_t own_wall_ms, std::uint64_t peer_wall_ms,
                   std::string& message) {
  // The peer's clock is any u64 the wire can carry: compare as unsigned distances, which
  // cannot overflow (a signed difference did for values at and past 2^63).
  const auto ours = static_cast<std::uint64_t>(std::max<std::int64_t>(0, own_wall_ms));
  const std::uint64_t distance_ms = peer_wall_ms > ours ? peer_wall_ms - ours : ours - peer_wall_ms;
  if (distance_ms <= static_cast<std::uint64_t>(config.timeouts.max_clock_skew_ms)) {
    return Status::ok;
  }
  message = "wall clocks differ by " + std::to_string(distance_ms) + " ms (the peer's is " +
            (peer_wall_ms > ours ? "ahead)" : "behind)");
  return Status::clock_skew;
}

std::optional<std::vector<std::uint8_t>> make_proof(const Authenticator& auth, ProofRole role,
                                                    Bytes hello_header, Bytes challenge_header,
                                                    const TransportSecurity& transport) {
  const std::vector<std::uint8_t> transcript =
      handshake_transcript(role, hello_header, challenge_header, transport.channel_binding);
  auto proof = auth.prove(transcript);
  if (proof && proof->size() > kMaxProofBytes) return std::nullopt;
  return proof;
}

Status check_proof(const Authenticator& auth, std::string_view peer_name, ProofRole role,
                   Bytes hello_header, Bytes challenge_header, Bytes proof,
                   const TransportSecurity& transport, std::string& message) {
  const std::vector<std::uint8_t> transcript =
      handshake_transcript(role, hello_header, challenge_header, transport.channel_binding);
  if (proof.size() <= kMaxProofBytes && auth.verify(peer_name, transcript, proof, transport)) {
    return Status::ok;
  }
  message = "the proof of " + std::string(peer_name) + " does not verify";
  return Status::auth_failed;
}

PeerProof keep_proof(ProofRole role, Bytes hello_header, Bytes challenge_header, Bytes proof) {
  return PeerProof{.role = role,
                   .hello_header = {hello_header.begin(), hello_header.end()},
                   .challenge_header = {challenge_header.begin(), challenge_header.end()},
                   .proof = {proof.begin(), proof.end()}};
}

Status check_proof(const Authenticator& auth, std::string_view peer_name, const PeerProof& kept,
                   const TransportSecurity& transport, std::string& message) {
  return check_proof(auth, peer_name, kept.role, kept.hello_header, kept.challenge_header,
                     kept.proof, transport, message);
}

}  // namespace weft::detail
