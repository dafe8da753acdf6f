// TlsContext's OpenSSL objects, shared by the layer's sources (never by its users).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tls_openssl.hpp"
#include "weft/io/tls.hpp"

namespace weft::io {

struct TlsContext::Impl {
  // A deterministic context's own library context (its random source is TEST-RAND, fed by
  // the sessions); null otherwise (OpenSSL's default one). Declared before ssl_ctx, so it is
  // freed after it.
  tls_detail::LibCtxPtr libctx;
  tls_detail::SslCtxPtr ssl_ctx;
  std::vector<std::string> own_names;
  std::optional<std::uint64_t> deterministic_seed;
};

namespace tls_detail {

// The subjectAltName DNS entries of `certificate`, in order; entries holding a NUL byte (which
// no weft name has) are left out.
std::vector<std::string> dns_names(const X509* certificate);

// Feeds the random source of a deterministic context's library context on this thread with
// bytes drawn from `seed` alone: what OpenSSL draws before the next feed comes from them.
// False if OpenSSL refused (the caller fails the session).
bool feed_deterministic_random(OSSL_LIB_CTX* libctx, std::uint64_t seed);

}  // namespace tls_detail
}  // namespace weft::io
