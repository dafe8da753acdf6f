// TlsTransport: a node's transport over a TlsSession (weft/io/tls_transport.hpp).
#include "weft/io/tls_transport.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>

namespace weft::io {
namespace {

// The ciphertext take_output lets wait before the driver writes it: a few records, so that
// each write finds them still in cache (the session's own limit, 256 KiB by default, is
// larger than the caches that matter here).
constexpr std::size_t kCiphertextBatchBytes = 64 * 1024;

}  // namespace

TlsTransport::TlsTransport(TransportId transport, std::shared_ptr<const TlsContext> context,
                           TlsSessionConfig config)
    : transport_(transport), session_(std::move(context), std::move(config)) {}

std::size_t TlsTransport::room() const {
  return failed() ? 0 : session_.ciphertext_room();
}

void TlsTransport::receive(Node& node, TimeNs now_ns, Bytes ciphertext) {
  if (failed()) return;
  session_.feed_ciphertext(ciphertext);
  if (!reported_ && session_.established()) report_secured(node, now_ns);
  if (!reported_) return;  // nothing reaches the node before it heard what TLS proved
  // Every byte goes to the node at once (it takes any amount, in any pieces), so plaintext
  // never piles up here and room() stays near the session's limit. Taking plaintext lets the
  // session decrypt what waited behind max_plaintext_in_bytes: that goes too, or it would
  // wait for the peer's next bytes (and a close_notify behind it would be read as truncated).
  while (!failed()) {
    const Bytes plaintext = session_.plaintext();
    if (plaintext.empty()) return;
    plaintext_received_ += plaintext.size();
    node.on_bytes(now_ns, transport_, plaintext);
    session_.consume_plaintext(plaintext.size());
  }
}

void TlsTransport::report_secured(Node& node, TimeNs now_ns) {
  const std::optional<std::array<std::uint8_t, 32>> binding = session_.channel_binding();
  if (!binding) {
    own_error_ = TlsError{TlsErrc::internal, "TLS: no channel binding from the session", 0};
    return;
  }
  TransportSecurity security;
  security.encrypted = true;
  security.peer_names = session_.peer_names();
  security.channel_binding.assign(binding->begin(), binding->end());
  reported_ = true;
  if (session_.role() == TlsRole::client) {
    node.on_connected(now_ns, transport_, std::move(security));
  } else {
    node.on_secured(now_ns, transport_, std::move(security));
  }
}

std::size_t TlsTransport::take_output(Node& node) {
  std::size_t moved = 0;
  while (true) {
    const Bytes output = node.pending_output(transport_);
    if (output.empty()) return moved;
    const std::size_t taken = own_error_ ? 0 : session_.encrypt_now(output, kCiphertextBatchBytes);
    if (taken == 0) return moved;
    node.consume_output(transport_, taken);
    moved += taken;
  }
}

std::size_t TlsTransport::write(Bytes plaintext) {
  if (own_error_) return 0;
  return session_.write_plaintext(plaintext);
}

Bytes TlsTransport::ciphertext() const {
  return session_.pending_ciphertext();
}

void TlsTransport::consume_ciphertext(std::size_t count) {
  session_.consume_ciphertext(count);
}

void TlsTransport::close(Bytes final_bytes) {
  if (session_.established()) write(final_bytes);
  session_.close();
}

void TlsTransport::report_down(Node& node, TimeNs now_ns, std::string_view reason) {
  const std::string text = failed() ? failure_text() : std::string(reason);
  if (session_.role() == TlsRole::client && !reported_) {
    node.on_connect_failed(now_ns, transport_, text);
  } else {
    node.on_transport_down(now_ns, transport_, text);
  }
}

std::optional<TlsErrc> TlsTransport::failure_code() const {
  const std::optional<TlsError>& error = own_error_ ? own_error_ : session_.error();
  if (!error) return std::nullopt;
  return error->code;
}

std::string TlsTransport::failure_text() const {
  const std::optional<TlsError>& error = own_error_ ? own_error_ : session_.error();
  if (!error) return {};
  return "TLS " + std::string(tls_errc_name(error->code)) + ": " + error->message;
}

}  // namespace weft::io
