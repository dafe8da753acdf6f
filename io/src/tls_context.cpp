// TlsContext: credentials and options checked once and turned into an SSL_CTX that every
// session of the context shares.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "tls_context_impl.hpp"
#include "weft/io/regular_file.hpp"

namespace weft::io {

using tls_detail::PkeyPtr;
using tls_detail::X509Ptr;

namespace {

// Files larger than this are not credentials: loading stops with `unreadable`.
constexpr std::size_t kMaxCredentialFileBytes = 1 << 20;

TlsLoadError load_error(TlsLoadErrc code, std::string_view source, std::string_view what) {
  TlsLoadError error;
  error.code = code;
  error.source = std::string(source);
  error.message = error.source + ": " + std::string(what) + ": " +
                  tls_detail::take_openssl_errors("no reason from OpenSSL");
  return error;
}

// Whether OpenSSL's last error says a PEM reader found no (further) PEM block.
bool no_more_pem() {
  const unsigned long code = ERR_peek_last_error();
  return ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
}

// Every certificate in `pem`, in order; an error when there is none or a block is bad.
std::optional<TlsLoadError> read_certificates(std::string_view pem, std::string_view source,
                                              std::vector<X509Ptr>& out) {
  const tls_detail::BioPtr bio = tls_detail::memory_bio(pem);
  if (!bio) return load_error(TlsLoadErrc::internal, source, "cannot read PEM text");
  while (true) {
    X509Ptr certificate(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (certificate) {
      out.push_back(std::move(certificate));
      continue;
    }
    if (no_more_pem()) {
      if (!out.empty()) {
        ERR_clear_error();
        return std::nullopt;
      }
      return load_error(TlsLoadErrc::no_certificate, source, "no PEM certificate found");
    }
    return load_error(TlsLoadErrc::bad_certificate, source, "bad certificate");
  }
}

struct Builder {
  const TlsCredentials& credentials;
  const TlsContextOptions& options;
  std::unique_ptr<TlsContext::Impl> impl = std::make_unique<TlsContext::Impl>();

  std::optional<TlsLoadError> make_ssl_ctx();
  std::optional<TlsLoadError> set_protocol();
  std::optional<TlsLoadError> add_trusted_cas();
  std::optional<TlsLoadError> use_own_chain_and_key();
  SSL_CTX* ctx() const { return impl->ssl_ctx.get(); }
};

std::optional<TlsLoadError> Builder::make_ssl_ctx() {
  OSSL_LIB_CTX* libctx = nullptr;  // OpenSSL's default library context
  if (options.deterministic_seed) {
    // A library context of the context's own whose generators are TEST-RAND instances the
    // sessions feed (tls_detail::feed_deterministic_random); nothing process-wide changes.
    impl->libctx.reset(OSSL_LIB_CTX_new());
    if (!impl->libctx ||
        RAND_set_DRBG_type(impl->libctx.get(), "TEST-RAND", nullptr, nullptr, nullptr) != 1) {
      return load_error(TlsLoadErrc::internal, "deterministic_seed", "no TEST-RAND source");
    }
    libctx = impl->libctx.get();
    impl->deterministic_seed = options.deterministic_seed;
    // SSL_CTX_new_ex draws random ticket keys (unused: tickets are off).
    if (!tls_detail::feed_deterministic_random(libctx, *options.deterministic_seed)) {
      return load_error(TlsLoadErrc::internal, "deterministic_seed", "cannot seed TEST-RAND");
    }
  }
  impl->ssl_ctx.reset(SSL_CTX_new_ex(libctx, nullptr, TLS_method()));
  if (!impl->ssl_ctx) return load_error(TlsLoadErrc::internal, "SSL_CTX", "cannot create");
  return std::nullopt;
}

std::optional<TlsLoadError> Builder::set_protocol() {
  SSL_CTX* const c = ctx();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1) {
    return load_error(TlsLoadErrc::internal, "TLS version", "TLS 1.3 refused");
  }
  // No tickets (TLS 1.3 sends them unless num_tickets is 0), no session cache, no
  // compression; no middlebox compatibility mode (no legacy session id or fake
  // ChangeCipherSpec: shorter flights and fewer random bytes).
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_clear_options(c, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
  if (SSL_CTX_set_num_tickets(c, 0) != 1) {
    return load_error(TlsLoadErrc::internal, "tickets", "cannot turn tickets off");
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // Idle sessions give their record buffers back: a node may hold many connections. The
  // chain sent is the configured one, not one OpenSSL completes from the trusted CAs (a
  // peer has the CA already).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
  // Mutual authentication: a server asks for and requires the client's certificate.
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  if (options.max_chain_depth < 0 || options.max_chain_depth > 100) {
    return load_error(TlsLoadErrc::invalid_option, "max_chain_depth", "not in 0..100");
  }
  SSL_CTX_set_verify_depth(c, options.max_chain_depth);
  if (options.max_peer_chain_bytes == 0 || options.max_peer_chain_bytes > (1u << 24)) {
    return load_error(TlsLoadErrc::invalid_option, "max_peer_chain_bytes", "not in 1..16 MiB");
  }
  SSL_CTX_set_max_cert_list(c, static_cast<long>(options.max_peer_chain_bytes));
  if (SSL_CTX_set_ciphersuites(c, options.ciphersuites.c_str()) != 1) {
    return load_error(TlsLoadErrc::invalid_option, "ciphersuites '" + options.ciphersuites + "'",
                      "refused");
  }
  if (SSL_CTX_set1_groups_list(c, options.groups.c_str()) != 1) {
    return load_error(TlsLoadErrc::invalid_option, "groups '" + options.groups + "'", "refused");
  }
  return std::nullopt;
}

std::optional<TlsLoadError> Builder::add_trusted_cas() {
  std::vector<X509Ptr> cas;
  if (auto error = read_certificates(credentials.ca_pem, credentials.ca_source, cas)) {
    return error;
  }
  X509_STORE* const store = SSL_CTX_get_cert_store(ctx());
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return load_error(TlsLoadErrc::bad_certificate, credentials.ca_source,
                        "CA certificate refused");
    }
  }
  return std::nullopt;
}

std::optional<TlsLoadError> Builder::use_own_chain_and_key() {
  const TlsCredentials& c = credentials;
  std::vector<X509Ptr> chain;
  if (auto error = read_certificates(c.chain_pem, c.chain_source, chain)) return error;
  if (SSL_CTX_use_certificate(ctx(), chain.front().get()) != 1) {
    return load_error(TlsLoadErrc::bad_certificate, c.chain_source, "certificate refused");
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx(), chain[i].get()) != 1) {
      return load_error(TlsLoadErrc::bad_certificate, c.chain_source,
                        "intermediate certificate refused");
    }
  }
  impl->own_names = tls_detail::dns_names(chain.front().get());
  if (impl->own_names.empty()) {
    ERR_clear_error();
    TlsLoadError error{TlsLoadErrc::bad_certificate, c.chain_source, ""};
    error.message =
        c.chain_source + ": the certificate has no subjectAltName DNS name (the node's weft name)";
    return error;
  }
  const tls_detail::BioPtr bio = tls_detail::memory_bio(c.key_pem);
  // Read into the context's library context: a key that draws randomness when it signs
  // (ECDSA) then draws it from the deterministic source too. No pass phrase is ever given,
  // so an encrypted key fails to load rather than OpenSSL asking for one on the terminal
  // (where a node reloading its credentials on SIGHUP would wait for ever).
  const auto refuse_pass_phrase = [](char*, int, int, void*) { return -1; };
  PkeyPtr key(PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, refuse_pass_phrase, nullptr,
                                         impl->libctx.get(), nullptr));
  if (!key && c.key_pem.find("ENCRYPTED") != std::string::npos) {
    return load_error(TlsLoadErrc::bad_private_key, c.key_source,
                      "encrypted keys are not supported (keep the key unencrypted, mode 0600)");
  }
  if (!key) return load_error(TlsLoadErrc::bad_private_key, c.key_source, "no usable private key");
  if (SSL_CTX_use_PrivateKey(ctx(), key.get()) != 1) {
    const unsigned long code = ERR_peek_last_error();
    const bool mismatch =
        ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH;
    if (mismatch) {
      return load_error(TlsLoadErrc::key_mismatch, c.key_source,
                        "the key does not match the certificate in " + c.chain_source);
    }
    return load_error(TlsLoadErrc::bad_private_key, c.key_source, "private key refused");
  }
  if (SSL_CTX_check_private_key(ctx()) != 1) {
    return load_error(TlsLoadErrc::key_mismatch, c.key_source,
                      "the key does not match the certificate in " + c.chain_source);
  }
  return std::nullopt;
}

// The whole of the regular file `path`, or why not (read_regular_file: a FIFO put in a
// credential's place must not hang weft-node's signal thread, reloading on SIGHUP).
std::optional<TlsLoadError> read_file(const std::string& path, std::string& out) {
  if (const std::optional<std::string> why =
          read_regular_file(path.c_str(), kMaxCredentialFileBytes, out)) {
    return TlsLoadError{TlsLoadErrc::unreadable, path, path + ": " + *why};
  }
  return std::nullopt;
}

}  // namespace

TlsContextResult TlsContext::create(const TlsCredentials& credentials,
                                    const TlsContextOptions& options) {
  ERR_clear_error();
  Builder builder{credentials, options};
  TlsContextResult result;
  result.error = builder.make_ssl_ctx();
  if (!result.error) result.error = builder.set_protocol();
  if (!result.error) result.error = builder.add_trusted_cas();
  if (!result.error) result.error = builder.use_own_chain_and_key();
  ERR_clear_error();
  if (!result.error) {
    result.context = std::shared_ptr<const TlsContext>(new TlsContext(std::move(builder.impl)));
  }
  return result;
}

TlsContextResult TlsContext::load(const TlsFiles& files, const TlsContextOptions& options) {
  TlsCredentials credentials;
  credentials.ca_source = files.ca_path;
  credentials.chain_source = files.chain_path;
  credentials.key_source = files.key_path;
  TlsContextResult result;
  result.error = read_file(files.ca_path, credentials.ca_pem);
  if (!result.error) result.error = read_file(files.chain_path, credentials.chain_pem);
  if (!result.error) result.error = read_file(files.key_path, credentials.key_pem);
  if (!result.error) result = create(credentials, options);
  // The context holds the key as OpenSSL's (which wipes it when freed): the files' text goes
  // (a chain file may hold the key too).
  for (std::string* text : {&credentials.key_pem, &credentials.chain_pem})
    OPENSSL_cleanse(text->data(), text->size());
  return result;
}

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

const std::vector<std::string>& TlsContext::own_names() const {
  return impl_->own_names;
}

bool TlsContext::deterministic() const {
  return impl_->deterministic_seed.has_value();
}

}  // namespace weft::io
