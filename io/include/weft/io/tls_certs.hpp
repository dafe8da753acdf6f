// Certificates for weft's TLS layer, made in memory with libcrypto (no files, no openssl
// command): a CA, and node certificates it signs whose subjectAltName DNS entries are the
// nodes' weft names. Tests use it, and so does the weft-certs tool. Keys are Ed25519, so
// every signature has one size (see weft/io/tls.hpp on randomness). Reads no clock: the
// validity window is the caller's. With a deterministic seed (the simulator's, the
// fuzzers'), the key and the serial number come from the seed instead of the OS's random
// source, so the same seed makes the same certificate byte for byte (Ed25519 signatures are
// deterministic): such keys are predictable, never use them outside a simulation.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace weft::io {

// A certificate and its private key, as PEM text (the key in unencrypted PKCS#8).
struct CertifiedKey {
  std::string certificate_pem;
  std::string key_pem;
};

// When a certificate is valid: [not_before, not_after], seconds since the Unix epoch.
struct Validity {
  std::int64_t not_before_unix_s = 0;
  std::int64_t not_after_unix_s = 0;
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign) named
// `common_name` (its first 64 bytes), with a new Ed25519 key (from `deterministic_seed` when
// given). Throws std::runtime_error if OpenSSL fails.
CertifiedKey make_ca(std::string_view common_name, Validity validity,
                     std::optional<std::uint64_t> deterministic_seed = std::nullopt);

// A certificate for a node, signed by `ca`, with a new Ed25519 key (from
// `deterministic_seed` when given; give every certificate its own seed): subject CN the first
// name (its first 64 bytes, X.509's bound), one subjectAltName DNS entry per name (at least one;
// each 1 to 253 bytes, no NUL), not a CA, usable for both TLS client and server authentication.
// Throws std::invalid_argument for bad names, std::runtime_error if OpenSSL fails (a CA PEM it
// cannot read included).
CertifiedKey make_node_certificate(const CertifiedKey& ca, std::span<const std::string> names,
                                   Validity validity,
                                   std::optional<std::uint64_t> deterministic_seed = std::nullopt);

}  // namespace weft::io
