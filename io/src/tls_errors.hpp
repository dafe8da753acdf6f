// How an OpenSSL failure becomes a TlsError (private to the TLS layer).
#pragma once

#include <openssl/ssl.h>

#include <string_view>

#include "weft/io/tls.hpp"

namespace weft::io::tls_detail {

// The error for a call on `ssl` that failed with SSL_get_error's `ssl_error`, from the
// verification result and this thread's error queue (which it empties). `during` starts the
// message ("TLS handshake").
TlsError classify_failure(SSL* ssl, int ssl_error, std::string_view during);

}  // namespace weft::io::tls_detail
