// OpenSSL helpers private to the TLS layer: one owner per OpenSSL object (unique_ptr with the
// matching free function) and the error queue turned into text.
#pragma once

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

namespace weft::io::tls_detail {

// Frees with OpenSSL's own function; a unique_ptr with it is the object's one owner.
template <auto free_fn>
struct FreeWith {
  template <typename T>
  void operator()(T* object) const {
    free_fn(object);
  }
};

using SslPtr = std::unique_ptr<SSL, FreeWith<SSL_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, FreeWith<SSL_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, FreeWith<BIO_free_all>>;
using BioMethodPtr = std::unique_ptr<BIO_METHOD, FreeWith<BIO_meth_free>>;
using X509Ptr = std::unique_ptr<X509, FreeWith<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, FreeWith<EVP_PKEY_free>>;
using LibCtxPtr = std::unique_ptr<OSSL_LIB_CTX, FreeWith<OSSL_LIB_CTX_free>>;

// Drains this thread's OpenSSL error queue into "reason; reason" (library and reason of each
// entry, oldest first), or `fallback` when it is empty. Leaves the queue empty.
std::string take_openssl_errors(std::string_view fallback);

// A read-only memory BIO over `text` (which must outlive it).
BioPtr memory_bio(std::string_view text);

// Empties this thread's OpenSSL error queue. ERR_clear_error itself costs as much as an
// AES-GCM record of a few hundred bytes (it resets every slot of the queue), and the queue
// is almost always empty: looking first keeps small records cheap.
inline void clear_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace weft::io::tls_detail
