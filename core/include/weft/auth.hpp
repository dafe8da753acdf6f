// Authentication of the handshake (PROTOCOL.md §4.2). Each side proves it holds its key by a
// proof over a transcript of both sides' fresh nonces, names, incarnations, versions and
// the proof's role; no secret ever crosses the wire, and a replayed or spliced handshake
// does not verify. The core calls an Authenticator synchronously while handling a hello,
// challenge or auth: implementations must be pure (no I/O, no calls back into weft) and
// thread-safe, since one may be shared by several nodes and threads.
//
// Three authenticators come with weft:
// - KeyRingAuth: a key per node. Each node holds its own Ed25519 private key and the public
//   keys of its peers (name -> key); a proof is a signature. Knowing one node's key lets
//   nobody be another node, and a stolen key ring (public keys) proves nothing.
// - SharedKeyAuth: one secret for the whole cluster (HMAC-SHA256). Simpler to deploy, but
//   every holder of the key can claim any name: an explicit, weaker choice.
// - CertificateAuth: no proof in the handshake; the transport's verified certificate (TLS,
//   see docs/TLS.md) must carry the peer's name. Only for connections under TLS.
// Crypto is OpenSSL's libcrypto; nothing here reads a clock or draws random numbers.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/bytes.hpp"
#include "weft/wire.hpp"

namespace weft {

// What the transport under a connection proved about the peer, if anything. A driver that
// runs connections over TLS reports it (Node::on_connected, Node::on_secured); a plain
// transport proves nothing (the default).
struct TransportSecurity {
  // The bytes are encrypted and integrity-protected below weft (TLS). Frame checksums are
  // then asked for only when NodeConfig::checksums_when_encrypted says so.
  bool encrypted = false;
  // The names the peer's verified certificate carries (subjectAltName DNS entries). When
  // not empty, the peer's node name in the handshake must be one of them (auth_failed).
  std::vector<std::string> peer_names;
  // Bytes both ends derive from their TLS session (an exporter): part of the transcript,
  // so a handshake relayed between two different TLS sessions does not verify.
  std::vector<std::uint8_t> channel_binding;
};

// Whose proof a transcript is for. The value is the role byte of the transcript.
enum class ProofRole : std::uint8_t {
  acceptor = 0x41,  // 'A': the proof in the challenge
  dialer = 0x44,    // 'D': the proof in the auth
};

// The bytes a proof covers (PROTOCOL.md §4.2 "Proofs"): the label "weft-handshake-3", the
// role byte, then the hello's header, the challenge's header and the channel binding, each
// preceded by its length as a big-endian u32. The headers are the exact msgpack header
// bytes of the frames as sent (bytes [8, 8 + header_length) of each frame).
std::vector<std::uint8_t> handshake_transcript(ProofRole role, Bytes hello_header,
                                               Bytes challenge_header, Bytes channel_binding);

// The same over two frames as weft's encoder writes them (the challenge's payload, its
// proof, is left out): for tools and tests that build their own handshake frames with
// encode_frame. An implementation with an encoder of its own uses the bytes it sent.
std::vector<std::uint8_t> handshake_transcript(ProofRole role, const Frame& hello,
                                               const Frame& challenge, Bytes channel_binding = {});

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // This node's proof over `transcript` (at most kMaxProofBytes bytes; may be empty for an
  // authenticator that relies on the transport). nullopt when no proof can be made (the
  // crypto library failed): the node then fails the handshake with auth_failed.
  virtual std::optional<std::vector<std::uint8_t>> prove(Bytes transcript) const = 0;
  // Whether `proof` over `transcript` shows its sender is `peer_name`, given what the
  // transport proved. Must take time independent of where a wrong proof differs.
  virtual bool verify(std::string_view peer_name, Bytes transcript, Bytes proof,
                      const TransportSecurity& transport) const = 0;
};

// One secret shared by the whole cluster: a proof is HMAC-SHA256(key, transcript), 32 bytes.
// Anyone holding the key can claim any node's name: choose it knowingly. Make the key random
// (32 bytes from /dev/urandom): anyone who can reach a node gets the challenge's proof, an
// HMAC under the key of bytes they know, and can test guesses of a passphrase offline.
class SharedKeyAuth final : public Authenticator {
 public:
  // Throws std::invalid_argument for a key shorter than kMinKeyBytes.
  explicit SharedKeyAuth(std::vector<std::uint8_t> key);
  // The bytes of `key` (the content of a key file) as the key.
  explicit SharedKeyAuth(std::string_view key)
      : SharedKeyAuth(std::vector<std::uint8_t>(key.begin(), key.end())) {}
  // Overwrites the key with zeros before its memory goes back (a copy the caller kept of
  // it is the caller's to wipe).
  ~SharedKeyAuth() override;
  static constexpr std::size_t kMinKeyBytes = 16;

  std::optional<std::vector<std::uint8_t>> prove(Bytes transcript) const override;
  bool verify(std::string_view peer_name, Bytes transcript, Bytes proof,
              const TransportSecurity& transport) const override;

 private:
  std::vector<std::uint8_t> key_;
};

// A 32-byte Ed25519 public key.
using Ed25519PublicKey = std::array<std::uint8_t, 32>;

// A key per node: this node's Ed25519 private key, and its peers' public keys by name. A
// proof is the Ed25519 signature of the transcript (64 bytes); a peer missing from the ring
// never verifies. Immutable once made; to change keys, make a new one (EventNode and
// weft-node swap it for new connections on reload).
class KeyRingAuth final : public Authenticator {
 public:
  // From a PEM private key (PKCS#8, as `openssl genpkey -algorithm ed25519` or weft-keys
  // writes it) and a ring (parse_ring reads one from text, checking each line). Throws
  // std::invalid_argument naming the problem: a private key that is not Ed25519 or does not
  // parse, a ring key that is not Ed25519 (naming its node), two names with one public key
  // (its holder could prove either name).
  KeyRingAuth(std::string_view private_key_pem, std::map<std::string, Ed25519PublicKey> ring);
  ~KeyRingAuth() override;
  KeyRingAuth(const KeyRingAuth&) = delete;
  KeyRingAuth& operator=(const KeyRingAuth&) = delete;

  // Parses a ring: one line per node, `<name> <public key as 64 hex digits>`; blank lines
  // and lines starting with '#' are skipped. Throws std::invalid_argument naming the line
  // for a malformed line, a bad name or key, a name listed twice, or a key listed under a
  // second name.
  static std::map<std::string, Ed25519PublicKey> parse_ring(std::string_view ring_text);
  // The public key of a PEM private key (to list this node in its peers' rings). Throws
  // std::invalid_argument as the constructor does.
  static Ed25519PublicKey public_key_of(std::string_view private_key_pem);
  // `key` as the 64 lowercase hex digits a ring line holds.
  static std::string hex(const Ed25519PublicKey& key);

  std::optional<std::vector<std::uint8_t>> prove(Bytes transcript) const override;
  bool verify(std::string_view peer_name, Bytes transcript, Bytes proof,
              const TransportSecurity& transport) const override;

 private:
  struct Keys;
  std::unique_ptr<Keys> keys_;
};

// Identity from the transport alone: the proof is empty, and a peer verifies when the
// transport is encrypted and its verified certificate carries the peer's name. Over a plain
// transport nothing verifies.
class CertificateAuth final : public Authenticator {
 public:
  std::optional<std::vector<std::uint8_t>> prove(Bytes transcript) const override;
  bool verify(std::string_view peer_name, Bytes transcript, Bytes proof,
              const TransportSecurity& transport) const override;
};

}  // namespace weft
