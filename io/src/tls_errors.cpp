// The TLS layer's error names, and how an OpenSSL failure becomes a TlsError.
#include "tls_errors.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "tls_openssl.hpp"

namespace weft::io {

std::string_view tls_errc_name(TlsErrc code) {
  switch (code) {
    case TlsErrc::not_tls:
      return "not_tls";
    case TlsErrc::protocol:
      return "protocol";
    case TlsErrc::bad_certificate:
      return "bad_certificate";
    case TlsErrc::unknown_ca:
      return "unknown_ca";
    case TlsErrc::expired:
      return "expired";
    case TlsErrc::not_yet_valid:
      return "not_yet_valid";
    case TlsErrc::name_mismatch:
      return "name_mismatch";
    case TlsErrc::no_certificate:
      return "no_certificate";
    case TlsErrc::peer_alert:
      return "peer_alert";
    case TlsErrc::truncated:
      return "truncated";
    case TlsErrc::limit:
      return "limit";
    case TlsErrc::internal:
      return "internal";
  }
  return "unknown";
}

std::string_view tls_load_errc_name(TlsLoadErrc code) {
  switch (code) {
    case TlsLoadErrc::unreadable:
      return "unreadable";
    case TlsLoadErrc::no_certificate:
      return "no_certificate";
    case TlsLoadErrc::bad_certificate:
      return "bad_certificate";
    case TlsLoadErrc::bad_private_key:
      return "bad_private_key";
    case TlsLoadErrc::key_mismatch:
      return "key_mismatch";
    case TlsLoadErrc::invalid_option:
      return "invalid_option";
    case TlsLoadErrc::internal:
      return "internal";
  }
  return "unknown";
}

namespace tls_detail {
namespace {

// The code for a certificate verification result (X509_V_ERR_*) other than ok.
TlsErrc errc_of_verify_result(long result) {
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return TlsErrc::expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return TlsErrc::not_yet_valid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
      return TlsErrc::name_mismatch;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return TlsErrc::unknown_ca;
    default:
      return TlsErrc::bad_certificate;
  }
}

}  // namespace

TlsError classify_failure(SSL* ssl, int ssl_error, std::string_view during) {
  TlsError error;
  const std::string prefix = std::string(during) + ": ";
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    // Only the handshake reports this as a failure: a close_notify before it ended.
    ERR_clear_error();
    error.code = TlsErrc::truncated;
    error.message = prefix + "the peer sent close_notify before the handshake ended";
    return error;
  }
  const unsigned long first = ERR_peek_error();
  const int library = ERR_GET_LIB(first);
  const int reason = ERR_GET_REASON(first);
  const long verify_result = SSL_get_verify_result(ssl);
  if (ssl_error != SSL_ERROR_SSL || first == 0) {
    error.code = TlsErrc::internal;
  } else if (library == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED &&
             verify_result != X509_V_OK) {
    error.code = errc_of_verify_result(verify_result);
    error.message = prefix +
                    "the peer's certificate: " + X509_verify_cert_error_string(verify_result) +
                    " (" + take_openssl_errors("") + ")";
    return error;
  } else if (library == ERR_LIB_SSL && reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
    error.code = TlsErrc::no_certificate;
  } else if (library == ERR_LIB_SSL && reason > SSL_AD_REASON_OFFSET &&
             reason < SSL_AD_REASON_OFFSET + 256) {
    // OpenSSL reports an alert received as reason SSL_AD_REASON_OFFSET + its description.
    error.code = TlsErrc::peer_alert;
    error.alert = static_cast<std::uint8_t>(reason - SSL_AD_REASON_OFFSET);
    error.message = prefix + "the peer sent alert " + std::to_string(error.alert) + " (" +
                    SSL_alert_desc_string_long(error.alert) + "): " + take_openssl_errors("");
    return error;
  } else if (ERR_GET_REASON(first) == ERR_R_MALLOC_FAILURE) {
    error.code = TlsErrc::internal;
  } else {
    error.code = TlsErrc::protocol;
  }
  error.message = prefix + take_openssl_errors("OpenSSL error " + std::to_string(ssl_error));
  return error;
}

}  // namespace tls_detail
}  // namespace weft::io
