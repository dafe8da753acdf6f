// TLS 1.3 with mutual certificates as a sans-I/O layer (OpenSSL): it sits between a
// transport's bytes and the core's, so the libevent adapter, a poll(2) loop and the simulator
// all run the same TLS. It never opens a socket, reads a clock, starts a thread or keeps a
// global; it only turns bytes into bytes. See docs/TLS.md.
//
// Two types:
//  - TlsContext: the configuration of one node (its CA bundle, its certificate chain and
//    private key, the protocol options). Immutable once built and shared through
//    std::shared_ptr<const TlsContext> by every session made from it; a reload (new files)
//    builds a new context for new sessions while existing sessions keep theirs.
//  - TlsSession: one per transport, as the dialer (client) or the acceptor (server).
//
// The protocol, always: TLS 1.3 only; both sides present a certificate and verify the other's
// against the context's CA bundle, at a wall time the caller passes per session; no session
// tickets or resumption; no renegotiation (TLS 1.3 has none); no early data; no compression.
//
// Names: a weft node's name is bound to its certificate by a subjectAltName DNS entry equal to
// the name (e.g. "node-a"). The client names the peer it dials and the handshake fails with
// name_mismatch when the server's certificate does not carry that name (exact match: no
// wildcards, never the subject's common name); a server fails it with name_mismatch when the
// client's certificate carries no DNS name at all. Both sides expose the peer certificate's
// verified DNS names (peer_names) so the core can check the name in the weft hello.
//
// Randomness and the simulator. TLS draws random bytes for its hello randoms and key shares.
// What the layer emits has lengths that do not depend on them when the certificates use
// Ed25519 (or RSA) keys, whose signatures have one size: no tickets, no padding, one key share
// (X25519), no legacy session id (middlebox compatibility mode is off). A context built with
// TlsContextOptions::deterministic_seed goes further: it gets an OpenSSL library context of
// its own whose random generator is OpenSSL's TEST-RAND, fed by the layer before each
// handshake step with bytes drawn from the seeds and the step's handshake state, so the
// same seeds give the same bytes on the wire however the transport chunks them. That is for
// the simulator (and the fuzzer) only: its keys are predictable.
//
// Threads: a TlsContext may be shared by sessions on any threads. A TlsSession is used by one
// thread at a time. OpenSSL's error queue is per thread; every call leaves it empty.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/bytes.hpp"

namespace weft::io {

// ---- errors ------------------------------------------------------------------------------

// Why a session failed. A failure is final: the session takes no more input and emits
// nothing more than what pending_ciphertext() already holds (perhaps an alert for the peer).
enum class TlsErrc : std::uint8_t {
  // The peer's first bytes are not a TLS record: a plain weft peer (its frames begin with
  // 0x77) or some other protocol.
  not_tls = 1,
  // Malformed or unexpected TLS data: a record that fails its integrity check (garbage or a
  // tampered byte), a bad message, an unsupported version or no common cipher suite.
  protocol,
  // The peer's certificate failed verification for a reason below none of the others names
  // (a bad signature, a wrong key usage, a chain longer than the limit, ...).
  bad_certificate,
  unknown_ca,     // the peer's chain does not lead to a CA in this context's bundle
  expired,        // a certificate of the peer's chain expired before the verify time
  not_yet_valid,  // a certificate of the peer's chain is valid only after the verify time
  // Client: the server's certificate does not carry the dialed name. Server: the client's
  // certificate carries no subjectAltName DNS name (it names no node).
  name_mismatch,
  no_certificate,  // server: the client sent no certificate
  // The peer ended the handshake or the connection with a fatal alert (it refused this
  // side's certificate, for instance): TlsError::alert says which.
  peer_alert,
  // The transport ended before the handshake did, or after it without a close_notify
  // (reported by transport_closed).
  truncated,
  // The driver fed more ciphertext than ciphertext_room() allowed.
  limit,
  // OpenSSL failed for a reason that is not the peer's (out of memory, the random source).
  internal,
};

// The name of `code` ("name_mismatch").
std::string_view tls_errc_name(TlsErrc code);

struct TlsError {
  TlsErrc code = TlsErrc::internal;
  // What happened, with OpenSSL's reason ("certificate verify failed: certificate has
  // expired"); for not_tls, the offending first byte.
  std::string message;
  // peer_alert: the alert description the peer sent (RFC 8446 §6, e.g. 42 bad_certificate,
  // 48 unknown_ca, 116 certificate_required); 0 otherwise.
  std::uint8_t alert = 0;
};

// Why a context could not be built. The message names the source (a file path, or what the
// caller called the PEM text) and OpenSSL's reason.
enum class TlsLoadErrc : std::uint8_t {
  unreadable = 1,   // a file could not be read
  no_certificate,   // no PEM certificate in the CA bundle or the chain
  bad_certificate,  // a PEM block that is not a valid certificate
  bad_private_key,  // no PEM private key, or one OpenSSL cannot use
  key_mismatch,     // the private key does not belong to the chain's first certificate
  invalid_option,   // an option OpenSSL refused (cipher suites, groups) or out of range
  internal,         // OpenSSL failed otherwise (out of memory)
};

// The name of `code` ("key_mismatch").
std::string_view tls_load_errc_name(TlsLoadErrc code);

struct TlsLoadError {
  TlsLoadErrc code = TlsLoadErrc::internal;
  std::string source;   // the file or PEM text at fault ("/etc/weft/node-a.key")
  std::string message;  // "<source>: <what>: <OpenSSL's reason>"
};

// ---- the context -------------------------------------------------------------------------

// A node's credentials as PEM text in memory.
struct TlsCredentials {
  std::string ca_pem;     // the trusted CA certificates: one or more PEM blocks
  std::string chain_pem;  // this node's certificate first, then any intermediates
  std::string key_pem;    // this node's private key, unencrypted (PKCS#8 or traditional)
  // How load errors name each part (TlsContext::load sets them to the file paths).
  std::string ca_source = "CA PEM";
  std::string chain_source = "certificate PEM";
  std::string key_source = "private key PEM";
};

// The same, as file paths.
struct TlsFiles {
  std::string ca_path;
  std::string chain_path;
  std::string key_path;
};

struct TlsContextOptions {
  // TLS 1.3 cipher suites in preference order (OpenSSL's SSL_CTX_set_ciphersuites syntax).
  std::string ciphersuites =
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
      "TLS_CHACHA20_POLY1305_SHA256";
  // Key exchange groups in preference order; a client sends a key share for the first only.
  std::string groups = "X25519:P-256";
  // The most bytes of certificates a peer may send (its Certificate message); more fails
  // the handshake. Bounds what a peer can make the handshake hold.
  std::size_t max_peer_chain_bytes = 32 * 1024;
  // Intermediate CAs allowed between a peer's certificate and the trusted CA (0 to 100).
  int max_chain_depth = 4;
  // Simulator only (see the top of this file): a random source of the context's own, fed
  // from this seed and each session's TlsSessionConfig::deterministic_seed. Its keys are
  // predictable; never set it outside a simulation.
  std::optional<std::uint64_t> deterministic_seed;
};

class TlsContext;

// What TlsContext::create and load return: a context, or why there is none.
struct TlsContextResult {
  std::shared_ptr<const TlsContext> context;  // set on success
  std::optional<TlsLoadError> error;          // set on failure
  bool ok() const { return context != nullptr; }
};

class TlsContext {
 public:
  // Builds a context from PEM text. Checks everything it can before any session: the CA
  // bundle and chain parse, the key parses and matches the chain's first certificate, the
  // options are accepted. Never throws (failures come back as TlsLoadError).
  static TlsContextResult create(const TlsCredentials& credentials,
                                 const TlsContextOptions& options = {});
  // Reads the three files (each at most 1 MiB) and builds a context from them; errors name
  // the file. For a reload, call it again and give the new context to new sessions.
  static TlsContextResult load(const TlsFiles& files, const TlsContextOptions& options = {});

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The subjectAltName DNS names of this node's own certificate, in certificate order.
  const std::vector<std::string>& own_names() const;
  // Whether the context was built with a deterministic_seed.
  bool deterministic() const;

  struct Impl;  // the OpenSSL objects; private to the layer
  const Impl& impl() const { return *impl_; }

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- the session -------------------------------------------------------------------------

enum class TlsRole : std::uint8_t {
  client,  // the dialer: sends the first flight
  server,  // the acceptor
};

// Every byte a session holds falls under one of these (plus OpenSSL's own record buffer, at
// most one record of 16 KiB and its overhead, and the peer's certificates, under
// TlsContextOptions::max_peer_chain_bytes).
struct TlsLimits {
  // Ciphertext fed and not yet decrypted. feed_ciphertext beyond it fails the session; it
  // fills only while the application does not take plaintext.
  std::size_t max_ciphertext_in_bytes = 64 * 1024;
  // Plaintext decrypted and not yet taken (consume_plaintext). At the limit the session
  // stops decrypting and the fed ciphertext waits (so ciphertext_room() shrinks).
  std::size_t max_plaintext_in_bytes = 256 * 1024;
  // Plaintext given (write_plaintext) and not yet encrypted: before the handshake ends, or
  // while the ciphertext waits to be taken.
  std::size_t max_plaintext_out_bytes = 256 * 1024;
  // Ciphertext not yet taken (consume_ciphertext): the session encrypts no more plaintext
  // past it. The handshake's own messages and alerts are written regardless (their size is
  // bounded by this node's certificate chain), and so are answers to the peer's KeyUpdate
  // requests up to 16 KiB past the limit; a peer that makes more wait fails the session
  // (limit).
  std::size_t max_ciphertext_out_bytes = 256 * 1024;
};

// Why `limits` cannot serve a session (a limit of 0, one over 1 GiB, a ciphertext output
// limit that holds no record), or nothing when they can. TlsSession's constructor throws on
// the same; EventNode::start refuses its tls_limits with it.
std::optional<std::string> tls_limits_problem(const TlsLimits& limits);

struct TlsSessionConfig {
  TlsRole role = TlsRole::client;
  // Client: the weft name of the node dialed; the server's certificate must carry it as a
  // subjectAltName DNS entry. Server: must be empty (the server learns the client's names
  // from its certificate, peer_names()).
  std::string peer_name;
  // Required: the wall time (seconds since the Unix epoch) at which the peer's certificates
  // must be valid. The layer reads no clock.
  std::optional<std::int64_t> verify_time_unix_s;
  TlsLimits limits;
  // With a deterministic context, distinguishes this session's random bytes from other
  // sessions' (the simulator gives each connection its own); ignored otherwise.
  std::uint64_t deterministic_seed = 0;
};

enum class TlsState : std::uint8_t {
  handshaking,  // no application data yet (plaintext given now waits for the handshake)
  established,  // the handshake is done: the peer's certificate verified, data flows
  failed,       // error() says why; final
};

// One TLS connection over one transport, driven by the caller:
//
//   transport bytes in  -> feed_ciphertext   (at most ciphertext_room() bytes)
//   core's bytes out    -> write_plaintext   (returns how many it took)
//   plaintext()         -> bytes for the core; then consume_plaintext(n)
//   pending_ciphertext()-> bytes for the transport; then consume_ciphertext(n)
//
// After every call, look at pending_ciphertext() (the client's first flight is there right
// after construction), plaintext() and state(). Nothing is ever dropped: ciphertext that
// cannot be decrypted yet waits inside, plaintext that cannot be encrypted yet waits inside,
// both within TlsLimits. The layer has no timers: the driver bounds how long a handshake may
// take (weft's hello timeout does). Copying is impossible; moving keeps the session whole
// (a moved-from session may only be assigned to or destroyed).
class TlsSession {
 public:
  // Starts a session; a client writes its first flight into pending_ciphertext() at once.
  // Throws std::invalid_argument for a bad config (no verify time, a client without a peer
  // name or a server with one, a name holding a NUL byte, a zero limit, a null context). If OpenSSL
  // fails to set it up (out of memory), the session starts in state failed with an internal error.
  TlsSession(std::shared_ptr<const TlsContext> context, TlsSessionConfig config);
  ~TlsSession();
  TlsSession(TlsSession&&) noexcept;
  TlsSession& operator=(TlsSession&&) noexcept;
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // ---- inputs ----
  // How many bytes feed_ciphertext takes now: max_ciphertext_in_bytes less what waits to be
  // decrypted. 0 after a failure.
  std::size_t ciphertext_room() const;
  // Bytes received from the transport, in order. Decrypts what it can into plaintext();
  // handshake messages it answers go to pending_ciphertext(). More than ciphertext_room()
  // fails the session (limit) and takes nothing; bytes after the peer's close_notify fail
  // it (protocol). Ignored once failed.
  void feed_ciphertext(Bytes ciphertext);
  // The transport ended (the peer closed it, or it broke). Fails the session (truncated)
  // unless the peer's close_notify came first or it already failed; plaintext() keeps what
  // was decrypted before.
  void transport_closed();

  // ---- commands ----
  // How many bytes write_plaintext takes now (0 after close() or a failure).
  std::size_t plaintext_room() const;
  // Plaintext from the core to send. Takes up to plaintext_room() bytes and returns how
  // many; the caller keeps the rest for later (after consume_ciphertext makes room).
  // Before the handshake ends the bytes wait inside and go out right after it.
  std::size_t write_plaintext(Bytes plaintext);
  // Encrypts plaintext from the core straight into pending_ciphertext() and keeps none of
  // it: takes bytes from the front until pending_ciphertext() holds `ciphertext_goal_bytes`
  // (or max_ciphertext_out_bytes, if smaller) and returns how many it took; the caller
  // keeps the rest and offers it again after consume_ciphertext. A driver that takes the
  // core's output this way copies it once fewer than through write_plaintext, and a small
  // goal keeps the ciphertext in cache until it is written. Takes nothing (returns 0)
  // before the handshake ended, after close() or a failure, and while plaintext given to
  // write_plaintext still waits (that goes first, as consume_ciphertext makes room).
  std::size_t encrypt_now(Bytes plaintext, std::size_t ciphertext_goal_bytes);
  // Ends this side: close_notify goes out after all plaintext already given; later
  // write_plaintext takes nothing. Reading goes on until the peer's close_notify
  // (TLS 1.3 half-close). Repeated calls do nothing; ignored once failed.
  void close();
  // The caller took the first `count` bytes of plaintext() (count <= its size). Makes room,
  // so ciphertext that waited is decrypted now.
  void consume_plaintext(std::size_t count);
  // The caller wrote the first `count` bytes of pending_ciphertext() (count <= its size).
  // Makes room, so plaintext that waited is encrypted now.
  void consume_ciphertext(std::size_t count);

  // ---- outputs ----
  // Decrypted bytes for the core, in order. Valid until the next non-const call.
  Bytes plaintext() const;
  // Bytes to write to the transport, in order: handshake messages, records, alerts (after a
  // failure, perhaps one alert telling the peer why: write it, then close the transport).
  // Valid until the next non-const call.
  Bytes pending_ciphertext() const;

  // ---- getters ----
  TlsRole role() const;
  TlsState state() const;
  bool established() const { return state() == TlsState::established; }
  bool failed() const { return state() == TlsState::failed; }
  // Set once failed.
  const std::optional<TlsError>& error() const;
  // The peer sent close_notify: it sends nothing more (plaintext() may still hold data).
  bool close_notify_received() const;
  // This side's close_notify is in pending_ciphertext() (or was taken already).
  bool close_notify_sent() const;
  // The subjectAltName DNS names of the peer's verified certificate, in certificate order;
  // empty until established. A client's list contains its peer_name.
  const std::vector<std::string>& peer_names() const;
  // 32 bytes both sides derive from the handshake's secrets (RFC 8446 §7.5 exporter, label
  // kChannelBindingLabel, no context): equal on both ends of one connection and nowhere
  // else, so a MAC over them binds weft's handshake to this TLS connection. nullopt until
  // established and after a failure.
  std::optional<std::array<std::uint8_t, 32>> channel_binding() const;
  // Bytes this session holds in its own buffers (plaintext and ciphertext, both ways).
  std::size_t buffered_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The exporter label of TlsSession::channel_binding.
inline constexpr std::string_view kChannelBindingLabel = "EXPORTER-weft-handshake";

}  // namespace weft::io
