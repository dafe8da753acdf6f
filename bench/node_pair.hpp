// Two nodes joined back to back in one thread: the benchmarks' driver. It moves each
// node's pending output straight into the other's on_bytes (no sockets, no simulator), so
// what is measured is the core alone; or, with tls, through a TLS session on each side
// (weft/io/tls_transport.hpp), so that the core and TLS are measured together.
#pragma once

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "weft/io/tls_certs.hpp"
#include "weft/io/tls_transport.hpp"
#include "weft/node.hpp"

namespace weft::bench {

inline constexpr std::uint16_t kEchoHandler = 1;
inline constexpr std::uint16_t kStreamHandler = 2;

class Pair {
 public:
  // `checksums`: whether both nodes ask for checksums on every frame (under TLS too).
  // `stream_window`: what the server grants stream openers. `tls`: every byte through TLS
  // 1.3 (AES-128-GCM), certificates made in memory.
  explicit Pair(bool checksums, StreamWindow stream_window = {4096, 64u << 20}, bool tls = false)
      : client_(config_for("client", "server", checksums), 0, 0),
        server_(config_for("server", "client", checksums), 0, 0) {
    server_.register_handler(kEchoHandler);
    server_.register_stream_handler(kStreamHandler, {}, stream_window);
    Node& dialer = dial_rule_dials("client", "server") ? client_ : server_;
    Node& acceptor = &dialer == &client_ ? server_ : client_;
    dialer.on_timer(0);
    const auto dial = std::get<event::Dial>(*dialer.poll_event());
    const TransportId accepted = acceptor.on_accepted(0);
    (&dialer == &client_ ? client_transport_ : server_transport_) = dial.transport;
    (&dialer == &client_ ? server_transport_ : client_transport_) = accepted;
    if (tls) {
      start_tls(dialer, dial.transport, acceptor, accepted);
    } else {
      dialer.on_connected(0, dial.transport);
    }
    pump();
    if (client_.connection(0).state() != PeerState::established) {
      throw std::runtime_error("bench::Pair: the nodes did not connect");
    }
    while (client_.poll_event()) {
    }
    while (server_.poll_event()) {
    }
  }

  Node& client() { return client_; }
  Node& server() { return server_; }
  PeerConnection to_server() { return client_.connection(*client_.find_peer("server")); }
  PeerConnection to_client() { return server_.connection(*server_.find_peer("client")); }
  TimeNs now() const { return 1; }

  // Moves every pending byte across until both directions are empty.
  void pump() {
    bool moved = true;
    while (moved) {
      moved = move(client_, client_transport_, server_, server_transport_);
      moved = move(server_, server_transport_, client_, client_transport_) || moved;
    }
  }

 private:
  static NodeConfig config_for(std::string name, std::string peer, bool checksums) {
    NodeConfig config;
    config.name = std::move(name);
    config.peers = {std::move(peer)};
    config.auth = std::make_shared<SharedKeyAuth>("bench-cluster-key");
    config.checksums = checksums;
    config.checksums_when_encrypted = checksums;
    config.seed = 1;  // in-memory pair: a fixed seed keeps runs comparable
    return config;
  }

  // Certificates valid around a fixed time, at which both sides verify.
  void start_tls(Node& dialer, TransportId dialed, Node& acceptor, TransportId accepted) {
    constexpr std::int64_t kVerifyAtS = 1'700'000'000;
    const io::Validity validity{kVerifyAtS - 86'400, kVerifyAtS + 86'400};
    const io::CertifiedKey ca = io::make_ca("bench CA", validity, 1);
    auto context = [&](const std::string& name, std::uint64_t seed) {
      const io::CertifiedKey node =
          io::make_node_certificate(ca, std::vector<std::string>{name}, validity, seed);
      return io::TlsContext::create({ca.certificate_pem, node.certificate_pem, node.key_pem})
          .context;
    };
    io::TlsSessionConfig config;
    config.verify_time_unix_s = kVerifyAtS;
    config.role = io::TlsRole::server;
    tls_of(acceptor) =
        std::make_unique<io::TlsTransport>(accepted, context(acceptor.name(), 2), config);
    config.role = io::TlsRole::client;
    config.peer_name = acceptor.name();
    tls_of(dialer) = std::make_unique<io::TlsTransport>(dialed, context(dialer.name(), 3), config);
  }

  std::unique_ptr<io::TlsTransport>& tls_of(const Node& node) {
    return &node == &client_ ? client_tls_ : server_tls_;
  }

  // Under TLS: `from`'s output through its session, into `to`'s session and node.
  bool move_tls(Node& from, Node& to) {
    io::TlsTransport& out = *tls_of(from);
    io::TlsTransport& in = *tls_of(to);
    bool moved = false;
    out.take_output(from);
    for (Bytes ciphertext = out.ciphertext(); !ciphertext.empty(); ciphertext = out.ciphertext()) {
      const std::size_t count = std::min(ciphertext.size(), in.room());
      if (count == 0) break;
      in.receive(to, now(), ciphertext.first(count));
      out.consume_ciphertext(count);
      out.take_output(from);
      moved = true;
    }
    return moved;
  }

  bool move(Node& from, TransportId from_transport, Node& to, TransportId to_transport) {
    bool moved = false;
    while (from.poll_transmit()) {
    }
    if (client_tls_) return move_tls(from, to);
    for (Bytes out = from.pending_output(from_transport); !out.empty();
         out = from.pending_output(from_transport)) {
      to.on_bytes(now(), to_transport, out);
      from.consume_output(from_transport, out.size());
      moved = true;
    }
    return moved;
  }

  Node client_;
  Node server_;
  TransportId client_transport_ = 0;
  TransportId server_transport_ = 0;
  std::unique_ptr<io::TlsTransport> client_tls_;  // with tls: the client node's session
  std::unique_ptr<io::TlsTransport> server_tls_;
};

}  // namespace weft::bench
