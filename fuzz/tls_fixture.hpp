// The fixed PKI and sessions of the TLS fuzz target and its corpus maker: certificates made
// once (weft::io::make_ca and make_node_certificate, valid 2020 to 2100) and kept here as
// text, and deterministic contexts (tls.hpp), so a session recorded by
// weft_make_tls_corpus replays byte for byte in the target: the session under test draws
// the same random bytes, so the recorded peer's encrypted flights decrypt.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "weft/io/tls.hpp"

namespace weft::fuzz_tls {

inline constexpr std::string_view kCaPem = R"(-----BEGIN CERTIFICATE-----
MIIBLzCB4qADAgECAhAarzZ7eZ2MiJ0B788fzd9kMAUGAytlcDAXMRUwEwYDVQQD
DAx3ZWZ0IGZ1enogQ0EwIBcNMjAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBa
MBcxFTATBgNVBAMMDHdlZnQgZnV6eiBDQTAqMAUGAytlcAMhAJ30eOILQe7Qi7E8
AKD8+FcyBKzDl8JGDAk9eY0GZbtFo0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1Ud
DwEB/wQEAwIBBjAdBgNVHQ4EFgQUbH3FFGZ2HZD6nzdiy34Iw3EHyRowBQYDK2Vw
A0EAT8/uIQWpf/SbxjtUo5EjUbKAtZ9AuVkpkJC6En7V/Bf6FXgk0PYJM6uN+8zR
IVNNCYcDdJQJuz3wUlavfe3rCw==
-----END CERTIFICATE-----
)";
inline constexpr std::string_view kNodeACertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIBfDCCAS6gAwIBAgIQKOVjNf+aJghejjF/rPTguDAFBgMrZXAwFzEVMBMGA1UE
AwwMd2VmdCBmdXp6IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAw
WjARMQ8wDQYDVQQDDAZub2RlLWEwKjAFBgMrZXADIQCsr8AYxLLODSXojKauh1sq
zkP7ZH9qP7W66pbdQdgmsaOBkzCBkDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQE
AwIHgDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwHQYDVR0OBBYEFAO6
7u4EoqJbvU7iiVSM3gJQTcTEMB8GA1UdIwQYMBaAFGx9xRRmdh2Q+p83Yst+CMNx
B8kaMBEGA1UdEQQKMAiCBm5vZGUtYTAFBgMrZXADQQDS9dAmsbwZZadjBvSnpZ3C
qHTzB9I/4qNKtBWpr1QT/jdBd8qelm5djJXiKRkF0pQJGZaJ+2yFlqZ3N8+oc04M
-----END CERTIFICATE-----
)";
inline constexpr std::string_view kNodeAKeyPem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMQIjeOwBowVSK21Xw1nunhVuVUmdrre3fK9y7YbsnRh
-----END PRIVATE KEY-----
)";
inline constexpr std::string_view kNodeBCertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIBfDCCAS6gAwIBAgIQWzhp9B1oX8wQtBpM4In3MTAFBgMrZXAwFzEVMBMGA1UE
AwwMd2VmdCBmdXp6IENBMCAXDTIwMDEwMTAwMDAwMFoYDzIxMDAwMTAxMDAwMDAw
WjARMQ8wDQYDVQQDDAZub2RlLWIwKjAFBgMrZXADIQCUQnRH2vcbbBhE+D7mCOpE
GNkEsytl29sQ+r2S0kne76OBkzCBkDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQE
AwIHgDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwHQYDVR0OBBYEFFyO
h/QQvVqVEyNIQJ20oVXqRWCRMB8GA1UdIwQYMBaAFGx9xRRmdh2Q+p83Yst+CMNx
B8kaMBEGA1UdEQQKMAiCBm5vZGUtYjAFBgMrZXADQQD9ZDS4aGhveTGk6wZCLTrI
DIc0qeNJpo5gaKQI76dhuKglVuEzfnvT6gvubLLGH8WyKw43hxmqidROrXmwsqsE
-----END CERTIFICATE-----
)";
inline constexpr std::string_view kNodeBKeyPem = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKLxqNrijJGg3Pt4gFPkZKCCinnwA6YsnApDr32yA5ST
-----END PRIVATE KEY-----
)";

// The wall time certificates are verified at (2023-11-14).
inline constexpr std::int64_t kVerifyTimeUnixS = 1'700'000'000;
inline constexpr std::uint64_t kContextSeed = 0x77656674;  // "weft"
inline constexpr std::uint64_t kClientSessionSeed = 1;
inline constexpr std::uint64_t kServerSessionSeed = 2;

// Small limits, so that inputs reach them.
inline io::TlsLimits fuzz_limits() {
  io::TlsLimits limits;
  limits.max_ciphertext_in_bytes = 8 * 1024;
  limits.max_plaintext_in_bytes = 4 * 1024;
  limits.max_plaintext_out_bytes = 4 * 1024;
  limits.max_ciphertext_out_bytes = 4 * 1024;
  return limits;
}

// The deterministic context of node-a (the dialer) or node-b (the acceptor).
inline std::shared_ptr<const io::TlsContext> make_context(bool node_a) {
  io::TlsCredentials credentials;
  credentials.ca_pem = std::string(kCaPem);
  credentials.chain_pem = std::string(node_a ? kNodeACertificatePem : kNodeBCertificatePem);
  credentials.key_pem = std::string(node_a ? kNodeAKeyPem : kNodeBKeyPem);
  io::TlsContextOptions options;
  options.deterministic_seed = kContextSeed;
  io::TlsContextResult result = io::TlsContext::create(credentials, options);
  if (!result.ok()) throw std::runtime_error("fuzz TLS context: " + result.error->message);
  return result.context;
}

// node-a dialing node-b, or node-b accepting.
inline io::TlsSession make_session(const std::shared_ptr<const io::TlsContext>& context,
                                   io::TlsRole role) {
  io::TlsSessionConfig config;
  config.role = role;
  if (role == io::TlsRole::client) config.peer_name = "node-b";
  config.verify_time_unix_s = kVerifyTimeUnixS;
  config.limits = fuzz_limits();
  config.deterministic_seed = role == io::TlsRole::client ? kClientSessionSeed : kServerSessionSeed;
  return io::TlsSession(context, config);
}

}  // namespace weft::fuzz_tls
