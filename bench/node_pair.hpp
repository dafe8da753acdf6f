// Two nodes joined back to back in one thread: the benchmarks' driver. It moves each
// node's pending output straight into the other's on_bytes (no sockets, no simulator), so
// what is measured is the core alone.
#pragma once

#include <memory>
#include <string>

#include "weft/node.hpp"

namespace weft::bench {

inline constexpr std::uint16_t kEchoHandler = 1;
inline constexpr std::uint16_t kStreamHandler = 2;

class Pair {
 public:
  // `checksums`: whether both nodes ask for checksums on every frame.
  // `stream_window`: what the server grants stream openers.
  explicit Pair(bool checksums, StreamWindow stream_window = {4096, 64u << 20})
      : client_(config_for("client", "server", checksums), 0, 0),
        server_(config_for("server", "client", checksums), 0, 0) {
    server_.register_handler(kEchoHandler);
    server_.register_stream_handler(kStreamHandler, {}, stream_window);
    Node& dialer = dial_rule_dials("client", "server") ? client_ : server_;
    Node& acceptor = &dialer == &client_ ? server_ : client_;
    dialer.on_timer(0);
    const auto dial = std::get<event::Dial>(*dialer.poll_event());
    const TransportId accepted = acceptor.on_accepted(0);
    dialer.on_connected(0, dial.transport);
    (&dialer == &client_ ? client_transport_ : server_transport_) = dial.transport;
    (&dialer == &client_ ? server_transport_ : client_transport_) = accepted;
    pump();
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
    config.seed = 1;  // in-memory pair: a fixed seed keeps runs comparable
    return config;
  }

  bool move(Node& from, TransportId from_transport, Node& to, TransportId to_transport) {
    bool moved = false;
    while (from.poll_transmit()) {
    }
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
};

}  // namespace weft::bench
