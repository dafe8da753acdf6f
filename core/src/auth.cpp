#include "weft/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <algorithm>
#include <stdexcept>

#include "weft/wire.hpp"

namespace weft {
namespace {

constexpr std::string_view kTranscriptLabel = "weft-handshake-3";
constexpr std::size_t kHmacBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

void append_u32(std::vector<std::uint8_t>& out, std::size_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void append_part(std::vector<std::uint8_t>& out, Bytes part) {
  append_u32(out, part.size());
  out.insert(out.end(), part.begin(), part.end());
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// OpenSSL's pass phrase callback: none is ever given, so an encrypted key fails to load
// instead of OpenSSL asking on the terminal (a daemon would wait there for ever).
int refuse_pass_phrase(char*, int, int, void*) {
  return -1;
}

PkeyPtr read_private_key(std::string_view pem) {
  const std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw std::invalid_argument("private key: out of memory");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_pass_phrase, nullptr));
  ERR_clear_error();
  if (!key && pem.find("ENCRYPTED") != std::string_view::npos) {
    throw std::invalid_argument(
        "private key: encrypted keys are not supported (keep it unencrypted, mode 0600)");
  }
  if (!key) throw std::invalid_argument("private key: not a PEM private key");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    throw std::invalid_argument("private key: not an Ed25519 key");
  }
  return key;
}

Ed25519PublicKey raw_public_key(const EVP_PKEY* key) {
  Ed25519PublicKey raw{};
  std::size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, raw.data(), &length) != 1 || length != raw.size()) {
    throw std::invalid_argument("private key: no Ed25519 public key in it");
  }
  return raw;
}

std::optional<std::uint8_t> hex_digit(char c) {
  if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
  return std::nullopt;
}

std::optional<Ed25519PublicKey> parse_hex_key(std::string_view text) {
  Ed25519PublicKey key{};
  if (text.size() != key.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto high = hex_digit(text[2 * i]);
    const auto low = hex_digit(text[2 * i + 1]);
    if (!high || !low) return std::nullopt;
    key[i] = static_cast<std::uint8_t>(*high << 4 | *low);
  }
  return key;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

}  // namespace

std::vector<std::uint8_t> handshake_transcript(ProofRole role, Bytes hello_header,
                                               Bytes challenge_header, Bytes channel_binding) {
  std::vector<std::uint8_t> out(kTranscriptLabel.begin(), kTranscriptLabel.end());
  out.reserve(out.size() + 1 + 12 + hello_header.size() + challenge_header.size() +
              channel_binding.size());
  out.push_back(static_cast<std::uint8_t>(role));
  append_part(out, hello_header);
  append_part(out, challenge_header);
  append_part(out, channel_binding);
  return out;
}

std::vector<std::uint8_t> handshake_transcript(ProofRole role, const Frame& hello,
                                               const Frame& challenge, Bytes channel_binding) {
  Frame unproved = challenge;
  unproved.payload = {};
  ByteBuffer hello_bytes;
  ByteBuffer challenge_bytes;
  encode_frame(hello_bytes, hello);
  encode_frame(challenge_bytes, unproved);
  return handshake_transcript(role, frame_header_bytes(hello_bytes.view()),
                              frame_header_bytes(challenge_bytes.view()), channel_binding);
}

// ---- SharedKeyAuth ------------------------------------------------------------------------

SharedKeyAuth::SharedKeyAuth(std::vector<std::uint8_t> key) : key_(std::move(key)) {
  if (key_.size() < kMinKeyBytes) {
    OPENSSL_cleanse(key_.data(), key_.size());  // ~SharedKeyAuth does not run for it
    throw std::invalid_argument("a cluster key needs at least " + std::to_string(kMinKeyBytes) +
                                " bytes, got " + std::to_string(key_.size()));
  }
}

SharedKeyAuth::~SharedKeyAuth() {
  OPENSSL_cleanse(key_.data(), key_.size());
}

std::optional<std::vector<std::uint8_t>> SharedKeyAuth::prove(Bytes transcript) const {
  std::vector<std::uint8_t> mac(kHmacBytes);
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), transcript.data(),
           transcript.size(), mac.data(), &length) == nullptr ||
      length != kHmacBytes) {
    return std::nullopt;
  }
  return mac;
}

bool SharedKeyAuth::verify(std::string_view, Bytes transcript, Bytes proof,
                           const TransportSecurity&) const {
  if (proof.size() != kHmacBytes) return false;
  const auto expected = prove(transcript);
  return expected && CRYPTO_memcmp(expected->data(), proof.data(), kHmacBytes) == 0;
}

// ---- KeyRingAuth --------------------------------------------------------------------------

struct KeyRingAuth::Keys {
  PkeyPtr own;
  std::map<std::string, PkeyPtr, std::less<>> peers;
};

KeyRingAuth::KeyRingAuth(std::string_view private_key_pem,
                         std::map<std::string, Ed25519PublicKey> ring)
    : keys_(std::make_unique<Keys>()) {
  keys_->own = read_private_key(private_key_pem);
  std::map<Ed25519PublicKey, std::string_view> names_by_key;
  for (const auto& [name, raw] : ring) {
    if (const auto [other, added] = names_by_key.emplace(raw, name); !added) {
      throw std::invalid_argument("key ring: " + std::string(other->second) + " and " + name +
                                  " have one public key: its holder could prove either name");
    }
    PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
    if (!key) throw std::invalid_argument("key ring: the key of " + name + " is not Ed25519");
    keys_->peers.emplace(name, std::move(key));
  }
}

KeyRingAuth::~KeyRingAuth() = default;

std::map<std::string, Ed25519PublicKey> KeyRingAuth::parse_ring(std::string_view ring_text) {
  std::map<std::string, Ed25519PublicKey> ring;
  std::map<Ed25519PublicKey, std::string> names_by_key;
  std::size_t line_number = 0;
  while (!ring_text.empty()) {
    const std::size_t end = std::min(ring_text.find('\n'), ring_text.size());
    const std::string_view line = trim(ring_text.substr(0, end));
    ring_text.remove_prefix(std::min(end + 1, ring_text.size()));
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const auto fail = [&](std::string_view what) {
      throw std::invalid_argument("key ring line " + std::to_string(line_number) + ": " +
                                  std::string(what));
    };
    const std::size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) fail("expected `<name> <64 hex digits>`");
    const std::string_view name = line.substr(0, space);
    const auto key = parse_hex_key(trim(line.substr(space)));
    if (!valid_node_name(name)) fail("not a node name: " + std::string(name));
    if (!key) fail("the key of " + std::string(name) + " is not 64 hex digits");
    if (!ring.emplace(std::string(name), *key).second) {
      fail(std::string(name) + " is listed twice");
    }
    // Whoever holds that key could prove either name (a copied key file, a cloned image).
    if (const auto [other, added] = names_by_key.emplace(*key, name); !added) {
      fail(std::string(name) + " has the public key of " + other->second);
    }
  }
  return ring;
}

Ed25519PublicKey KeyRingAuth::public_key_of(std::string_view private_key_pem) {
  return raw_public_key(read_private_key(private_key_pem).get());
}

std::string KeyRingAuth::hex(const Ed25519PublicKey& key) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string text;
  for (const std::uint8_t byte : key) {
    text.push_back(kDigits[byte >> 4]);
    text.push_back(kDigits[byte & 0xf]);
  }
  return text;
}

std::optional<std::vector<std::uint8_t>> KeyRingAuth::prove(Bytes transcript) const {
  const MdCtxPtr ctx(EVP_MD_CTX_new());
  std::vector<std::uint8_t> signature(kSignatureBytes);
  std::size_t length = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, keys_->own.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &length, transcript.data(), transcript.size()) !=
          1 ||
      length != kSignatureBytes) {
    return std::nullopt;
  }
  return signature;
}

bool KeyRingAuth::verify(std::string_view peer_name, Bytes transcript, Bytes proof,
                         const TransportSecurity&) const {
  const auto found = keys_->peers.find(peer_name);
  if (found == keys_->peers.end() || proof.size() != kSignatureBytes) return false;
  const MdCtxPtr ctx(EVP_MD_CTX_new());
  return ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, found->second.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), proof.data(), proof.size(), transcript.data(),
                          transcript.size()) == 1;
}

// ---- CertificateAuth ----------------------------------------------------------------------

std::optional<std::vector<std::uint8_t>> CertificateAuth::prove(Bytes) const {
  return std::vector<std::uint8_t>{};
}

bool CertificateAuth::verify(std::string_view peer_name, Bytes, Bytes proof,
                             const TransportSecurity& transport) const {
  return proof.empty() && transport.encrypted &&
         std::find(transport.peer_names.begin(), transport.peer_names.end(), peer_name) !=
             transport.peer_names.end();
}

}  // namespace weft
