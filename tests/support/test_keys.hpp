// Private keys for tests, as PEM text (what weft-keys or `openssl genpkey` writes): fresh
// ones from OpenSSL's generator, or an Ed25519 key from a fixed seed (PROTOCOL.md §10.4).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft::testing {

// A new Ed25519 private key.
std::string new_ed25519_pem();
// A new P-256 (EC) private key: a key of another kind, for the refusals.
std::string new_p256_pem();
// A new Ed25519 private key encrypted (PKCS#8, AES-256-CBC) with `pass_phrase`.
std::string encrypted_ed25519_pem(const std::string& pass_phrase);
// The Ed25519 private key of the 32-byte seed `seed` (RFC 8032 §5.1.5).
std::string ed25519_pem_of_seed(const std::vector<std::uint8_t>& seed);

}  // namespace weft::testing
