// Pieces of the handshake (PROTOCOL.md §4.2) both roles use: nonces, the frames' shared
// fields, the checks of the peer's parameters, and proofs. Internal to core/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/auth.hpp"
#include "weft/config.hpp"
#include "weft/time.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

using Nonce = std::array<std::uint8_t, kNonceBytes>;

// Draws handshake nonces: HMAC-SHA256(key, "weft-nonce" ‖ big-endian u64 counter). Given
// the key, the sequence is fixed (a simulation replays it); without the key, no nonce can
// be predicted from the ones seen, which is what keeps an old proof from being replayed.
class NonceSource {
 public:
  explicit NonceSource(const std::array<std::uint8_t, 32>& key) : key_(key) {}
  NonceSource(const NonceSource&) = default;
  NonceSource& operator=(const NonceSource&) = default;
  // Overwrites the key with zeros: whoever could read the memory later could otherwise
  // predict every nonce the node draws.
  ~NonceSource();
  Nonce next();
  // A secret 64-bit value for `label`, the same for the same key and label, unrelated to
  // any nonce (another HMAC input): keys the hash of tables a peer chooses the keys of.
  std::uint64_t secret_word(std::uint64_t label) const;

 private:
  std::array<std::uint8_t, 32> key_;
  std::uint64_t counter_ = 0;
};

// The 32 bytes of `bits`, each word big-endian.
std::array<std::uint8_t, 32> key_of_bits(const std::array<std::uint64_t, 4>& bits);

// The nonce source of a node: from config.nonce_key, which is then overwritten with zeros
// and reset (the source keeps the only copy, and wipes it when destroyed), or, when the
// config has none, from a key derived from `seed_bits` (from the node's seeded generator).
NonceSource take_nonce_source(NodeConfig& config, const std::array<std::uint64_t, 4>& seed_bits);

// Whether this node asks for checksums on a connection over `transport`.
bool wants_checksums(const NodeConfig& config, const TransportSecurity& transport);

// A handshake frame encoded once, so that its exact header bytes (which the proofs cover)
// are at hand: `bytes` is the whole frame.
struct EncodedFrame {
  std::vector<std::uint8_t> bytes;
  Bytes header() const { return frame_header_bytes(bytes); }
};
EncodedFrame encode_handshake(const Frame& frame);

// The peer's claimed `name` against what the transport proved (TransportSecurity's names,
// if it reported any): auth_failed when the certificate does not carry it.
Status check_transport_name(std::string_view name, const TransportSecurity& transport,
                            std::string& message);
// The nonce field of a hello or challenge: exactly kNonceBytes (protocol_error otherwise).
Status check_nonce(const Frame& handshake, std::string& message);
// The peer's wall clock (`peer_wall_ms`) against this node's at `now_ns`, within
// max_clock_skew_ms (clock_skew otherwise).
Status check_clock(const NodeConfig& config, std::int64_t own_wall_ms, std::uint64_t peer_wall_ms,
                   std::string& message);

// This node's proof for `role` over the two headers and the channel binding.
std::optional<std::vector<std::uint8_t>> make_proof(const Authenticator& auth, ProofRole role,
                                                    Bytes hello_header, Bytes challenge_header,
                                                    const TransportSecurity& transport);
// A proof the peer gave in a handshake, kept while its connection lives, so that a
// replaced authenticator can check it again (Node::set_authenticator).
struct PeerProof {
  ProofRole role = ProofRole::dialer;
  std::vector<std::uint8_t> hello_header;
  std::vector<std::uint8_t> challenge_header;  // without the proof
  std::vector<std::uint8_t> proof;
};
// Whether `proof` (the payload of a challenge or auth) proves `peer_name` for `role`.
// auth_failed with a message when it does not.
Status check_proof(const Authenticator& auth, std::string_view peer_name, ProofRole role,
                   Bytes hello_header, Bytes challenge_header, Bytes proof,
                   const TransportSecurity& transport, std::string& message);
// A PeerProof holding copies of the bytes a check_proof call was given.
PeerProof keep_proof(ProofRole role, Bytes hello_header, Bytes challenge_header, Bytes proof);
// check_proof of a kept proof.
Status check_proof(const Authenticator& auth, std::string_view peer_name, const PeerProof& kept,
                   const TransportSecurity& transport, std::string& message);

}  // namespace weft::detail
