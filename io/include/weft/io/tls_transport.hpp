// One transport of a weft::Node carried over TLS: the glue between the node's bytes and a
// TlsSession (weft/io/tls.hpp) that every driver needs, whatever moves the bytes. The
// libevent adapter (EventNode), the poll(2) example and the simulator all use it, so the
// rules below hold the same way under each of them. Sans-I/O like the rest of the layer:
// it reads no clock and touches no socket; the driver passes the time and moves the
// ciphertext.
//
// The rules it keeps for the driver (docs/TLS.md, "Driving a node over TLS"):
//  - A dialed transport is reported to the node (Node::on_connected, with what TLS proved)
//    only once its TLS handshake is done, so the node's connect timeout covers the TLS
//    handshake. An accepted one is reported with Node::on_accepted by the driver at once
//    (the node's hello timeout then covers the TLS handshake) and with Node::on_secured
//    here when TLS is established, before its first byte reaches the node.
//  - TransportSecurity: encrypted, the peer certificate's names, the channel binding.
//  - Every buffer is the session's, under its TlsLimits: receive takes at most room()
//    bytes, take_output moves only what the session takes (the rest stays in the node's
//    output, which the node bounds).
//  - A failure is final: the driver writes what ciphertext() still holds (an alert telling
//    the peer why), closes the transport and calls report_down, which tells the node with
//    the TLS error's text.
//
// Not thread-safe: one thread drives it, the thread that drives the node.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "weft/io/tls.hpp"
#include "weft/node.hpp"

namespace weft::io {

class TlsTransport {
 public:
  // `transport` is the node's id of the transport. A dialed transport (config.role client,
  // config.peer_name the name of the peer dialed) is made once it connected, in place of
  // Node::on_connected; its first flight is in ciphertext() at once. An accepted one
  // (config.role server) is made right after Node::on_accepted returned `transport`.
  // Throws std::invalid_argument as TlsSession does for a bad config.
  TlsTransport(TransportId transport, std::shared_ptr<const TlsContext> context,
               TlsSessionConfig config);

  TransportId transport() const { return transport_; }

  // ---- bytes in ----
  // How many bytes receive takes now (0 once failed).
  std::size_t room() const;
  // Bytes from the transport (at most room(); more fails the transport with limit). Moves
  // the TLS handshake on; when it completes, tells the node (on_connected for a dialed
  // transport, on_secured for an accepted one); then hands the node every byte of
  // plaintext. Afterwards write ciphertext() (handshake answers), and look at failed().
  void receive(Node& node, TimeNs now_ns, Bytes ciphertext);

  // ---- bytes out ----
  // Moves the node's pending output on this transport into TLS (TlsSession::encrypt_now:
  // straight into records, none kept as plaintext) until about 64 KiB of ciphertext wait
  // to be written (Node::consume_output for what it took); returns how many bytes it moved.
  // The rest stays in the node's output: call it again after writing ciphertext() (the
  // driver's write loop does: take_output, write, consume_ciphertext, until nothing is left
  // or the socket is full). Takes nothing before the TLS handshake ended or once failed.
  std::size_t take_output(Node& node);
  // The same for bytes the caller holds: returns how many the session took.
  std::size_t write(Bytes plaintext);
  // Bytes to write on the transport, in order. Valid until the next non-const call.
  Bytes ciphertext() const;
  // The driver wrote the first `count` bytes of ciphertext().
  void consume_ciphertext(std::size_t count);
  // The node closed the transport (event::CloseTransport): its final bytes (as far as they
  // fit) and then close_notify go into ciphertext(), for the driver's last best-effort write.
  // Before the TLS handshake ended nothing more can go out.
  void close(Bytes final_bytes);

  // ---- the end ----
  // The peer closed the transport (end of stream): a failure (truncated) unless the peer's
  // close_notify came first. Then report_down.
  void transport_closed() { session_.transport_closed(); }
  // The transport is gone (closed by the peer, reset, a write error, or this side's TLS
  // failure). Tells the node: on_connect_failed for a dialed transport the node never
  // heard was connected, on_transport_down otherwise; the reason is the TLS failure's text
  // when TLS failed, else `reason`. Call it once, after closing the transport.
  void report_down(Node& node, TimeNs now_ns, std::string_view reason);

  // ---- state ----
  bool established() const { return session_.established(); }
  bool failed() const { return session_.failed() || own_error_.has_value(); }
  // "TLS <code>: <message>" (e.g. "TLS expired: TLS handshake: the peer's certificate: ...")
  // once failed; empty before.
  std::string failure_text() const;
  // The code of the failure; nullopt before one.
  std::optional<TlsErrc> failure_code() const;
  // Whether the failure came before the peer's first weft byte: a refusal of the peer's
  // certificate by this side, or of this side's by the peer (an alert), or a peer that does
  // not speak TLS. What a driver reports as a failed handshake; a later failure ends a
  // connection the node itself reports.
  bool failed_in_handshake() const { return failed() && plaintext_received_ == 0; }
  // Plaintext bytes the node has received through this transport.
  std::uint64_t plaintext_received() const { return plaintext_received_; }
  const TlsSession& session() const { return session_; }

 private:
  void report_secured(Node& node, TimeNs now_ns);

  TransportId transport_;
  TlsSession session_;
  // A failure of this glue rather than the session's (no channel binding to report).
  std::optional<TlsError> own_error_;
  bool reported_ = false;  // the node heard on_connected / on_secured
  std::uint64_t plaintext_received_ = 0;
};

}  // namespace weft::io
