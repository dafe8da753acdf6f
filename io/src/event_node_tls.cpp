// EventNode::Impl on the loop thread, TLS: a TlsTransport (weft/io/tls_transport.hpp) per
// socket when EventNodeOptions::tls is set, its reads and writes, and its failures turned
// into what the core, the log and the peer-change callback are told. The plain data path
// (event_node_loop.cpp) branches here only for sockets that carry a session.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {

bool EventNode::Impl::check_tls_context(const TlsContext& context) const {
  if (context.deterministic()) {
    log(LogLevel::error,
        "TLS context refused: it is deterministic (its keys are predictable): simulations only");
    return false;
  }
  const std::vector<std::string>& names = context.own_names();
  if (std::find(names.begin(), names.end(), options.config.name) == names.end()) {
    // Allowed (a test plays an impostor so), but every peer will refuse this node: an
    // error, which an operator sees (weft-call shows errors only).
    log(LogLevel::error, "the TLS certificate does not carry this node's name '" +
                             options.config.name +
                             "' as a subjectAltName DNS entry: peers will refuse it");
  }
  return true;
}

void EventNode::Impl::start_tls(TransportId transport, Socket& socket, TlsRole role) {
  TlsSessionConfig config;
  config.role = role;
  if (role == TlsRole::client) config.peer_name = socket.remote;
  config.verify_time_unix_s = wall_now_ms() / 1000;
  config.limits = options.tls_limits;
  socket.tls = std::make_unique<TlsTransport>(transport, tls_context, std::move(config));
}

bool EventNode::Impl::receive_tls(TransportId transport, Bytes bytes) {
  Socket& socket = sockets.at(transport);
  socket.tls->receive(*node, fresh_now(), bytes);
  if (socket.tls->failed()) {
    fail_tls(transport);
    return false;
  }
  write_tls(transport, socket);  // the handshake's answers, KeyUpdate replies
  return sockets.contains(transport);
}

void EventNode::Impl::write_tls(TransportId transport, Socket& socket) {
  TlsTransport& tls = *socket.tls;
  while (true) {
    tls.take_output(*node);
    const Bytes output = tls.ciphertext();
    if (output.empty()) break;
    const ssize_t sent =
        ::send(socket.fd, output.data(), output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      tls.consume_ciphertext(static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return want_write(transport, socket, true);
    }
    return transport_failed(transport, "write: " + errno_text(errno));
  }
  if (tls.failed()) return fail_tls(transport);  // encrypting failed
  want_write(transport, socket, false);
}

void EventNode::Impl::fail_tls(TransportId transport) {
  const auto found = sockets.find(transport);
  if (found == sockets.end()) return;
  Socket& socket = found->second;
  const std::unique_ptr<TlsTransport> tls = std::move(socket.tls);
  report_tls_failure(socket.remote, *tls);
  // What the peer sent and this side will never read is dropped first: closing a socket
  // with unread bytes resets the connection, and a reset can cost the peer the alert.
  for (int round = 0; round < 4; ++round) {
    if (::recv(socket.fd, read_buffer, options.read_buffer_bytes, MSG_DONTWAIT) <= 0) break;
  }
  close_socket(transport, tls->ciphertext());  // the alert telling the peer why, if any
  tls->report_down(*node, fresh_now(), "");
}

void EventNode::Impl::send_close_notify(TransportId transport) {
  const auto found = sockets.find(transport);
  if (found == sockets.end() || !found->second.tls || found->second.connecting) return;
  TlsTransport& tls = *found->second.tls;
  if (tls.failed()) return;  // fail_tls sent its alert already
  tls.close({});
  send_best_effort(found->second.fd, tls.ciphertext());
}

void EventNode::Impl::tls_closed(TransportId transport) {
  Socket& socket = sockets.at(transport);
  socket.tls->transport_closed();
  if (socket.tls->failed()) report_tls_failure(socket.remote, *socket.tls);
  transport_failed(transport, "peer closed the connection");
}

void EventNode::Impl::report_tls_failure(const std::string& remote, const TlsTransport& tls) {
  const std::string text = tls.failure_text();
  const std::optional<TlsErrc> code = tls.failure_code();
  ++io_counters.tls_failures[{std::string(code ? tls_errc_name(*code) : "unknown"),
                              tls.failed_in_handshake()}];
  if (tls.failed_in_handshake()) {
    return notify({PeerChange::Kind::handshake_failed, remote, text});
  }
  log_connection(LogLevel::warning, "connection with " + remote + ": " + text);
}

// ---- EventNode ----------------------------------------------------------------------------

Errc EventNode::set_tls_context(std::shared_ptr<const TlsContext> context) {
  Impl& impl = *impl_;
  if (!context || !impl.options.tls || !impl.check_tls_context(*context)) {
    return Errc::invalid_argument;
  }
  if (!impl.started) {
    impl.options.tls = std::move(context);
    return Errc::ok;
  }
  auto install = [&impl, context = std::move(context)] {
    impl.tls_context = context;
    impl.log(LogLevel::info, "TLS context replaced: new connections use it");
    return Errc::ok;
  };
  return ask_loop<Errc>(impl, std::move(install)).first;
}

}  // namespace weft::io
