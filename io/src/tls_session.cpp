// TlsSession: one SSL object over a BIO of the session's own (see Impl::bio_read). Every
// input and command ends in pump(), which moves the handshake on, decrypts into the
// plaintext buffer and encrypts the waiting plaintext, each within its limit.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <climits>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "tls_byte_queue.hpp"
#include "tls_context_impl.hpp"
#include "tls_errors.hpp"

namespace weft::io {

using tls_detail::ByteQueue;

namespace {

// The most plaintext one TLS record carries, and what a TLS 1.3 record adds to it (header,
// inner content type, AEAD tag) with room for a KeyUpdate OpenSSL may send ahead of it.
constexpr std::size_t kMaxRecordPlaintextBytes = 16 * 1024;
constexpr std::size_t kRecordOverheadBytes = 64;
// TLS control messages (KeyUpdate answers) may pass max_ciphertext_out_bytes by this much.
constexpr std::size_t kControlSlackBytes = 16 * 1024;

// The largest ClientHello a server reads. A weft client's is a few hundred bytes (one key
// share, no tickets, no padding); OpenSSL would otherwise allocate for up to 128 KiB as
// soon as a header announces it, for each connection that has proved nothing yet.
constexpr std::size_t kMaxClientHelloBytes = 16 * 1024;
// A record header (type, version, length) and a handshake message header (type, length).
constexpr std::size_t kRecordHeaderBytes = 5;
constexpr std::size_t kFirstHeadersBytes = kRecordHeaderBytes + 4;

// TLS record types that may start a TLS peer's stream.
constexpr std::uint8_t kRecordHandshake = 22;
constexpr std::uint8_t kRecordAlert = 21;
// The first byte of every weft frame (PROTOCOL.md).
constexpr std::uint8_t kWeftMagic = 0x77;

std::string hex_byte(std::uint8_t byte) {
  constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[byte >> 4] + kDigits[byte & 15];
}

void check_config(const TlsContext* context, const TlsSessionConfig& config) {
  auto refuse = [](const std::string& why) {
    throw std::invalid_argument("weft::io::TlsSession: " + why);
  };
  if (context == nullptr) refuse("no context");
  if (!config.verify_time_unix_s) refuse("verify_time_unix_s is required");
  if (config.role == TlsRole::client && config.peer_name.empty()) {
    refuse("a client needs the peer_name it dials");
  }
  // OpenSSL takes the name as a C string: a NUL would cut it short.
  if (config.peer_name.find('\0') != std::string::npos) refuse("peer_name holds a NUL byte");
  if (config.role == TlsRole::server && !config.peer_name.empty()) {
    refuse("a server takes no peer_name (it reads the client's from its certificate)");
  }
  if (const std::optional<std::string> problem = tls_limits_problem(config.limits)) {
    refuse(*problem);
  }
}

}  // namespace

std::optional<std::string> tls_limits_problem(const TlsLimits& limits) {
  // BIO and SSL calls take int sizes.
  constexpr std::size_t kMaxLimitBytes = INT_MAX / 2;
  for (const std::size_t limit : {limits.max_ciphertext_in_bytes, limits.max_plaintext_in_bytes,
                                  limits.max_plaintext_out_bytes}) {
    if (limit == 0 || limit > kMaxLimitBytes) return "a TLS limit is 0 or over 1 GiB";
  }
  if (limits.max_ciphertext_out_bytes <= kRecordOverheadBytes ||
      limits.max_ciphertext_out_bytes > kMaxLimitBytes) {
    return "max_ciphertext_out_bytes must exceed one record's overhead (64) and be under 1 GiB";
  }
  return std::nullopt;
}

struct TlsSession::Impl {
  // Declared first, freed last: the SSL object refers to the context's SSL_CTX.
  std::shared_ptr<const TlsContext> context;
  TlsSessionConfig config;
  // Declared before ssl, freed after it: the session's BIO (owned by ssl) uses it.
  tls_detail::BioMethodPtr bio_method;
  tls_detail::SslPtr ssl;
  // Fed ciphertext OpenSSL has not read yet: during feed_ciphertext, the caller's bytes
  // themselves (ciphertext_feeding); what is left of them after it, copied (ciphertext_in).
  ByteQueue ciphertext_in;
  Bytes ciphertext_feeding;
  ByteQueue plaintext_in;
  ByteQueue plaintext_out;
  ByteQueue ciphertext_out;
  TlsState state = TlsState::handshaking;
  std::optional<TlsError> error;
  bool first_byte_checked = false;
  // Server: the headers of the client's first record and message, gathered until whole.
  std::array<std::uint8_t, kFirstHeadersBytes> first_headers{};
  std::size_t first_headers_bytes = 0;
  bool close_requested = false;
  bool close_sent = false;
  bool close_received = false;
  std::vector<std::string> peer_names;
  std::uint64_t random_seed = 0;  // deterministic contexts only

  Impl(std::shared_ptr<const TlsContext> context_in, TlsSessionConfig config_in);
  // The SSL object goes first, while the buffers its BIO's callbacks use are still there.
  ~Impl() { ssl.reset(); }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void fail(TlsError failure);
  void fail(TlsErrc code, std::string message) { fail(TlsError{code, std::move(message), 0}); }
  bool setup();
  bool feed_random();
  void pump();
  bool advance_handshake();
  void read_records();
  std::size_t encrypt(Bytes plaintext, std::size_t ciphertext_goal_bytes = SIZE_MAX);
  void send_close_if_due();
  bool check_first_byte(std::uint8_t byte);
  bool check_client_hello_size(Bytes ciphertext);

  std::size_t ciphertext_waiting() const {
    return ciphertext_in.size() + ciphertext_feeding.size();
  }

  // The BIO between OpenSSL and the session's buffers. A memory BIO pair cost two copies of
  // every byte more (fed bytes into the BIO and out of it again; records into the BIO and out
  // into ciphertext_out); here OpenSSL reads the fed bytes where they lie and writes records
  // straight into ciphertext_out.
  static int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written);
  static int bio_read(BIO* bio, char* into, std::size_t size, std::size_t* read);
  static long bio_ctrl(BIO* bio, int command, long number, void* pointer);
  static int bio_create(BIO* bio);
  static int bio_destroy(BIO* bio);
  bool make_bio();
  std::size_t ciphertext_out_room(std::size_t goal_bytes = SIZE_MAX) const {
    const std::size_t limit = std::min(config.limits.max_ciphertext_out_bytes, goal_bytes);
    return ciphertext_out.size() >= limit ? 0 : limit - ciphertext_out.size();
  }
};

TlsSession::Impl::Impl(std::shared_ptr<const TlsContext> context_in, TlsSessionConfig config_in)
    : context(std::move(context_in)), config(std::move(config_in)) {
  const TlsContext::Impl& shared = context->impl();
  if (shared.deterministic_seed) {
    // The context's seed and the session's give the session random bytes of its own.
    random_seed = *shared.deterministic_seed ^ (config.deterministic_seed * 0xd1342543de82ef95ULL);
  }
  tls_detail::clear_errors();
  if (setup()) pump();
  tls_detail::clear_errors();
}

bool TlsSession::Impl::setup() {
  if (!feed_random()) return false;
  ssl.reset(SSL_new(context->impl().ssl_ctx.get()));
  if (!ssl || !make_bio()) {
    fail(TlsErrc::internal, "TLS setup: " + tls_detail::take_openssl_errors("out of memory"));
    return false;
  }

  X509_VERIFY_PARAM* const verify = SSL_get0_param(ssl.get());
  X509_VERIFY_PARAM_set_time(verify, static_cast<time_t>(*config.verify_time_unix_s));
  bool ok = true;
  if (config.role == TlsRole::client) {
    SSL_set_connect_state(ssl.get());
    // The dialed name must be a subjectAltName DNS entry, exactly: no wildcard, no
    // fallback to the subject's common name.
    SSL_set_hostflags(ssl.get(),
                      X509_CHECK_FLAG_NO_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    ok = SSL_set1_host(ssl.get(), config.peer_name.c_str()) == 1;
  } else {
    SSL_set_accept_state(ssl.get());
  }
  if (!ok) {
    fail(TlsErrc::internal, "TLS setup: " + tls_detail::take_openssl_errors("SSL_set1_host"));
  }
  return ok;
}

// Deterministic contexts only: what OpenSSL draws during the next call comes from this
// session's seed and its handshake state. Not from a count of calls: a step that waits for
// more input draws nothing, so how the transport chunked the input changes no byte.
bool TlsSession::Impl::feed_random() {
  OSSL_LIB_CTX* const libctx = context->impl().libctx.get();
  if (libctx == nullptr) return true;
  constexpr std::uint64_t kBeforeSsl = 0xffff;
  const std::uint64_t step =
      ssl ? static_cast<std::uint64_t>(SSL_get_state(ssl.get())) : kBeforeSsl;
  if (tls_detail::feed_deterministic_random(libctx, random_seed ^ ((step + 1) << 32))) {
    return true;
  }
  fail(TlsErrc::internal,
       "TLS deterministic random source: " + tls_detail::take_openssl_errors("refused"));
  return false;
}

void TlsSession::Impl::fail(TlsError failure) {
  if (state == TlsState::failed) return;
  state = TlsState::failed;
  error = std::move(failure);
  // What OpenSSL wrote on its way out (an alert telling the peer why) is in ciphertext_out
  // already and still goes out.
  tls_detail::clear_errors();
}

bool TlsSession::Impl::make_bio() {
  // One method per session: a type index from BIO_get_new_index would run out after a
  // hundred or so, and nothing looks the type up.
  bio_method.reset(BIO_meth_new(BIO_TYPE_SOURCE_SINK, "weft TLS session"));
  if (!bio_method || BIO_meth_set_write_ex(bio_method.get(), &Impl::bio_write) != 1 ||
      BIO_meth_set_read_ex(bio_method.get(), &Impl::bio_read) != 1 ||
      BIO_meth_set_ctrl(bio_method.get(), &Impl::bio_ctrl) != 1 ||
      BIO_meth_set_create(bio_method.get(), &Impl::bio_create) != 1 ||
      BIO_meth_set_destroy(bio_method.get(), &Impl::bio_destroy) != 1) {
    return false;
  }
  BIO* const bio = BIO_new(bio_method.get());
  if (bio == nullptr) return false;
  BIO_set_data(bio, this);           // the Impl stays where it is: TlsSession moves its pointer
  SSL_set_bio(ssl.get(), bio, bio);  // reads and writes; the SSL object owns it now
  return true;
}

int TlsSession::Impl::bio_write(BIO* bio, const char* data, std::size_t size,
                                std::size_t* written) {
  Impl& self = *static_cast<Impl*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  self.ciphertext_out.append(Bytes(reinterpret_cast<const std::uint8_t*>(data), size));
  *written = size;
  return 1;
}

int TlsSession::Impl::bio_read(BIO* bio, char* into, std::size_t size, std::size_t* read) {
  Impl& self = *static_cast<Impl*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  // The bytes kept from an earlier feed come before the ones being fed.
  const bool kept = !self.ciphertext_in.empty();
  const Bytes source = kept ? self.ciphertext_in.view() : self.ciphertext_feeding;
  if (source.empty()) {
    // "Wait for more", never end of stream: the driver reports the transport's end
    // through transport_closed.
    BIO_set_retry_read(bio);
    *read = 0;
    return 0;
  }
  const std::size_t count = std::min(size, source.size());
  std::memcpy(into, source.data(), count);
  if (kept) {
    self.ciphertext_in.consume(count);
  } else {
    self.ciphertext_feeding = self.ciphertext_feeding.subspan(count);
  }
  *read = count;
  return 1;
}

long TlsSession::Impl::bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
    case BIO_CTRL_FLUSH:  // records go to ciphertext_out as they are written
      return 1;
    case BIO_CTRL_PENDING:
      return static_cast<long>(static_cast<Impl*>(BIO_get_data(bio))->ciphertext_waiting());
    default:  // no other control applies (no kernel TLS, nothing buffered in the BIO)
      return 0;
  }
}

int TlsSession::Impl::bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int TlsSession::Impl::bio_destroy(BIO* bio) {
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 0);
  return 1;
}

void TlsSession::Impl::pump() {
  if (state == TlsState::handshaking && !advance_handshake()) return;
  if (state != TlsState::established) return;
  read_records();
  if (state != TlsState::established) return;
  if (!plaintext_out.empty()) plaintext_out.consume(encrypt(plaintext_out.view()));
  send_close_if_due();
}

bool TlsSession::Impl::advance_handshake() {
  if (!feed_random()) return false;
  tls_detail::clear_errors();
  const int result = SSL_do_handshake(ssl.get());
  if (result != 1) {
    const int ssl_error = SSL_get_error(ssl.get(), result);
    if (ssl_error != SSL_ERROR_WANT_READ) {
      fail(tls_detail::classify_failure(ssl.get(), ssl_error, "TLS handshake"));
    }
    return false;
  }
  peer_names = tls_detail::dns_names(SSL_get0_peer_certificate(ssl.get()));
  // A server learns whom it serves from the client's DNS names alone: a certificate without
  // one (a CA's certificate for a person or an IP address) would bind the weft hello to no
  // name at all, so its holder could claim any node's.
  if (config.role == TlsRole::server && peer_names.empty()) {
    fail(TlsErrc::name_mismatch,
         "TLS handshake: the client's certificate carries no subjectAltName DNS name, so it "
         "names no weft node");
    return false;
  }
  // OpenSSL verified the peer (SSL_VERIFY_PEER fails the handshake otherwise) and, on a
  // client, the name; checked again so that a change of OpenSSL options cannot let an
  // unverified peer through silently.
  const bool named =
      config.role == TlsRole::server ||
      std::find(peer_names.begin(), peer_names.end(), config.peer_name) != peer_names.end();
  if (SSL_get_verify_result(ssl.get()) != X509_V_OK ||
      SSL_get0_peer_certificate(ssl.get()) == nullptr || !named) {
    fail(TlsErrc::internal, "TLS handshake: ended without a verified, named peer certificate");
    return false;
  }
  state = TlsState::established;
  return true;
}

void TlsSession::Impl::read_records() {
  const std::size_t limit = config.limits.max_plaintext_in_bytes;
  while (!close_received && plaintext_in.size() < limit) {
    const std::size_t room = std::min(limit - plaintext_in.size(), kMaxRecordPlaintextBytes);
    std::uint8_t* const into = plaintext_in.prepare(room);
    std::size_t got = 0;
    tls_detail::clear_errors();
    const int result = SSL_read_ex(ssl.get(), into, room, &got);
    plaintext_in.commit(result == 1 ? got : 0);
    if (result == 1) continue;
    const int ssl_error = SSL_get_error(ssl.get(), result);
    if (ssl_error == SSL_ERROR_WANT_READ) break;
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
      close_received = true;
      break;
    }
    fail(tls_detail::classify_failure(ssl.get(), ssl_error, "TLS read"));
    return;
  }
  // Replies OpenSSL wrote while reading (a KeyUpdate answering the peer's). A peer that
  // asks for them and never reads could make them pile up: past the slack, it is cut off.
  if (ciphertext_out.size() > config.limits.max_ciphertext_out_bytes + kControlSlackBytes) {
    fail(TlsErrc::limit, "TLS read: the peer's messages made " +
                             std::to_string(ciphertext_out.size()) +
                             " bytes of ciphertext wait, over max_ciphertext_out_bytes " +
                             std::to_string(config.limits.max_ciphertext_out_bytes) +
                             " and the 16 KiB allowed for TLS control messages");
    return;
  }
  if (close_received && ciphertext_waiting() > 0) {
    fail(TlsErrc::protocol, "TLS read: " + std::to_string(ciphertext_waiting()) +
                                " bytes came after the peer's close_notify");
  }
}

std::size_t TlsSession::Impl::encrypt(Bytes plaintext, std::size_t ciphertext_goal_bytes) {
  [[maybe_unused]] const std::size_t waiting_before = ciphertext_out.size();
  std::size_t taken = 0;
  while (taken < plaintext.size() &&
         ciphertext_out_room(ciphertext_goal_bytes) > kRecordOverheadBytes) {
    const std::size_t chunk =
        std::min({plaintext.size() - taken, kMaxRecordPlaintextBytes,
                  ciphertext_out_room(ciphertext_goal_bytes) - kRecordOverheadBytes});
    std::size_t written = 0;
    tls_detail::clear_errors();
    const int result = SSL_write_ex(ssl.get(), plaintext.data() + taken, chunk, &written);
    if (result != 1) {
      fail(tls_detail::classify_failure(ssl.get(), SSL_get_error(ssl.get(), result), "TLS write"));
      return taken;
    }
    taken += written;
  }
  // Records go out only within the limit; answers to the peer's KeyUpdate requests may
  // already have passed it (by up to the control slack, read_records sees to that).
  assert(ciphertext_out.size() <= std::max(waiting_before, config.limits.max_ciphertext_out_bytes));
  return taken;
}

void TlsSession::Impl::send_close_if_due() {
  if (!close_requested || close_sent || !plaintext_out.empty()) return;
  tls_detail::clear_errors();
  const int result = SSL_shutdown(ssl.get());  // 0: sent; 1: the peer's came already
  if (result < 0) {
    fail(tls_detail::classify_failure(ssl.get(), SSL_get_error(ssl.get(), result), "TLS close"));
    return;
  }
  close_sent = true;
}

// Server: the first message's announced length, read from the headers before OpenSSL sees
// them (it would size its buffer for it at once).
bool TlsSession::Impl::check_client_hello_size(Bytes ciphertext) {
  if (config.role != TlsRole::server || first_headers_bytes == kFirstHeadersBytes) return true;
  const std::size_t take = std::min(kFirstHeadersBytes - first_headers_bytes, ciphertext.size());
  std::copy_n(ciphertext.data(), take, first_headers.data() + first_headers_bytes);
  first_headers_bytes += take;
  if (first_headers_bytes < kFirstHeadersBytes || first_headers[0] != kRecordHandshake) {
    return true;  // an alert, or not whole yet: OpenSSL reads it as it is
  }
  const std::size_t record_bytes = std::size_t{first_headers[3]} << 8 | first_headers[4];
  const std::size_t message_bytes =
      std::size_t{first_headers[6]} << 16 | std::size_t{first_headers[7]} << 8 | first_headers[8];
  if (record_bytes < kFirstHeadersBytes - kRecordHeaderBytes) {
    fail(TlsErrc::protocol, "TLS handshake: the client's first record of " +
                                std::to_string(record_bytes) +
                                " bytes does not hold its message's header");
    return false;
  }
  if (message_bytes > kMaxClientHelloBytes) {
    fail(TlsErrc::protocol, "TLS handshake: the client's first message announces " +
                                std::to_string(message_bytes) + " bytes, over the " +
                                std::to_string(kMaxClientHelloBytes) + " a ClientHello may have");
    return false;
  }
  return true;
}

bool TlsSession::Impl::check_first_byte(std::uint8_t byte) {
  first_byte_checked = true;
  if (byte == kRecordHandshake || byte == kRecordAlert) return true;
  if (byte == kWeftMagic) {
    fail(TlsErrc::not_tls,
         "the peer sent 0x77, the first byte of a weft frame, where a TLS record must "
         "start: it speaks weft without TLS (configure TLS on both nodes or on neither)");
  } else {
    fail(TlsErrc::not_tls, "the peer's first byte " + hex_byte(byte) +
                               " starts no TLS record (handshake 0x16 or alert 0x15)");
  }
  return false;
}

// ---- TlsSession --------------------------------------------------------------------------

TlsSession::TlsSession(std::shared_ptr<const TlsContext> context, TlsSessionConfig config) {
  check_config(context.get(), config);
  impl_ = std::make_unique<Impl>(std::move(context), std::move(config));
}

TlsSession::~TlsSession() = default;
TlsSession::TlsSession(TlsSession&&) noexcept = default;
TlsSession& TlsSession::operator=(TlsSession&&) noexcept = default;

std::size_t TlsSession::ciphertext_room() const {
  if (impl_->state == TlsState::failed) return 0;
  const std::size_t waiting = impl_->ciphertext_waiting();
  const std::size_t limit = impl_->config.limits.max_ciphertext_in_bytes;
  return waiting >= limit ? 0 : limit - waiting;
}

void TlsSession::feed_ciphertext(Bytes ciphertext) {
  Impl& s = *impl_;
  if (s.state == TlsState::failed || ciphertext.empty()) return;
  if (ciphertext.size() > ciphertext_room()) {
    s.fail(TlsErrc::limit, "fed " + std::to_string(ciphertext.size()) +
                               " bytes of ciphertext with room for " +
                               std::to_string(ciphertext_room()) + " (max_ciphertext_in_bytes " +
                               std::to_string(s.config.limits.max_ciphertext_in_bytes) + ")");
    return;
  }
  if (s.close_received) {
    s.fail(TlsErrc::protocol, "TLS read: " + std::to_string(ciphertext.size()) +
                                  " bytes came after the peer's close_notify");
    return;
  }
  if (!s.first_byte_checked && !s.check_first_byte(ciphertext[0])) return;
  if (!s.check_client_hello_size(ciphertext)) return;
  // OpenSSL reads the bytes where they lie; only what it leaves is copied, to wait.
  s.ciphertext_feeding = ciphertext;
  s.pump();
  s.ciphertext_in.append(s.ciphertext_feeding);
  s.ciphertext_feeding = {};
  tls_detail::clear_errors();
}

void TlsSession::transport_closed() {
  Impl& s = *impl_;
  if (s.state == TlsState::failed || s.close_received) return;
  s.fail(TlsErrc::truncated, s.state == TlsState::handshaking
                                 ? "the transport closed during the TLS handshake"
                                 : "the transport closed without the peer's close_notify");
}

std::size_t TlsSession::plaintext_room() const {
  const Impl& s = *impl_;
  if (s.state == TlsState::failed || s.close_requested) return 0;
  const std::size_t limit = s.config.limits.max_plaintext_out_bytes;
  return s.plaintext_out.size() >= limit ? 0 : limit - s.plaintext_out.size();
}

std::size_t TlsSession::write_plaintext(Bytes plaintext) {
  Impl& s = *impl_;
  const std::size_t accepted = std::min(plaintext.size(), plaintext_room());
  if (accepted == 0) return 0;
  Bytes rest = plaintext.first(accepted);
  // Straight into records when nothing waits ahead of these bytes: one copy fewer.
  if (s.state == TlsState::established && s.plaintext_out.empty()) {
    rest = rest.subspan(s.encrypt(rest));
  }
  if (s.state != TlsState::failed) s.plaintext_out.append(rest);
  tls_detail::clear_errors();
  return accepted;
}

std::size_t TlsSession::encrypt_now(Bytes plaintext, std::size_t ciphertext_goal_bytes) {
  Impl& s = *impl_;
  if (s.state != TlsState::established || s.close_requested || !s.plaintext_out.empty()) {
    return 0;
  }
  const std::size_t taken = s.encrypt(plaintext, ciphertext_goal_bytes);
  tls_detail::clear_errors();
  return taken;
}

void TlsSession::close() {
  Impl& s = *impl_;
  if (s.state == TlsState::failed || s.close_requested) return;
  s.close_requested = true;
  s.pump();
  tls_detail::clear_errors();
}

void TlsSession::consume_plaintext(std::size_t count) {
  Impl& s = *impl_;
  assert(count <= s.plaintext_in.size());
  s.plaintext_in.consume(std::min(count, s.plaintext_in.size()));
  if (s.state == TlsState::failed) return;
  s.pump();
  tls_detail::clear_errors();
}

void TlsSession::consume_ciphertext(std::size_t count) {
  Impl& s = *impl_;
  assert(count <= s.ciphertext_out.size());
  s.ciphertext_out.consume(std::min(count, s.ciphertext_out.size()));
  if (s.state == TlsState::failed) return;
  s.pump();
  tls_detail::clear_errors();
}

Bytes TlsSession::plaintext() const {
  return impl_->plaintext_in.view();
}

Bytes TlsSession::pending_ciphertext() const {
  return impl_->ciphertext_out.view();
}

TlsRole TlsSession::role() const {
  return impl_->config.role;
}

TlsState TlsSession::state() const {
  return impl_->state;
}

const std::optional<TlsError>& TlsSession::error() const {
  return impl_->error;
}

bool TlsSession::close_notify_received() const {
  return impl_->close_received;
}

bool TlsSession::close_notify_sent() const {
  return impl_->close_sent;
}

const std::vector<std::string>& TlsSession::peer_names() const {
  return impl_->peer_names;
}

std::optional<std::array<std::uint8_t, 32>> TlsSession::channel_binding() const {
  if (impl_->state != TlsState::established) return std::nullopt;
  std::array<std::uint8_t, 32> binding{};
  const int ok = SSL_export_keying_material(impl_->ssl.get(), binding.data(), binding.size(),
                                            kChannelBindingLabel.data(),
                                            kChannelBindingLabel.size(), nullptr, 0, 0);
  tls_detail::clear_errors();
  if (ok != 1) return std::nullopt;
  return binding;
}

std::size_t TlsSession::buffered_bytes() const {
  const Impl& s = *impl_;
  const std::size_t waiting_in = s.ciphertext_waiting();
  return s.plaintext_in.size() + s.plaintext_out.size() + s.ciphertext_out.size() + waiting_in;
}

}  // namespace weft::io
