// Request round trips through two nodes wired back to back in memory: no sockets, no
// simulator, one thread. Measures the core alone: encoding, decoding, lanes, the request
// tables, events. 64 B payloads, echoed; K requests kept in flight.
//
//   build/release/bench/weft_request_bench
#include <benchmark/benchmark.h>

#include <memory>

#include "weft/node.hpp"

namespace {

using namespace weft;

constexpr std::uint16_t kEcho = 1;

NodeConfig config_for(std::string name, std::string peer) {
  NodeConfig config;
  config.name = std::move(name);
  config.peers = {std::move(peer)};
  config.auth = std::make_shared<StaticTokenAuth>("bench");
  config.checksums = false;  // what a trusted cluster network would choose; see README
  return config;
}

// Two nodes joined by one transport pair, pumped by hand.
class Pair {
 public:
  explicit Pair(bool checksums)
      : client_(
            [&] {
              NodeConfig c = config_for("client", "server");
              c.checksums = checksums;
              return c;
            }(),
            0, 0),
        server_(
            [&] {
              NodeConfig c = config_for("server", "client");
              c.checksums = checksums;
              return c;
            }(),
            0, 0) {
    server_.register_handler(kEcho);
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
    peer_ = *client_.find_peer("server");
  }

  // Keeps `in_flight` requests going until `total` have completed.
  void run(std::size_t total, std::size_t in_flight, Bytes payload) {
    std::size_t started = 0;
    std::size_t completed = 0;
    PeerConnection to_server = client_.connection(peer_);
    const RequestArgs args{kEcho, {}, payload, 0};
    for (; started < in_flight && started < total; ++started)
      to_server.request(now_, args);
    while (completed < total) {
      pump();
      while (auto event = server_.poll_event()) {
        auto& request = std::get<event::RequestReceived>(*event);
        server_.connection(request.peer).respond(now_, request.id, request.payload);
      }
      while (auto event = client_.poll_event()) {
        ++completed;
        benchmark::DoNotOptimize(std::get<event::RequestDone>(*event).payload.data());
        if (started < total) {
          to_server.request(now_, args);
          ++started;
        }
      }
    }
  }

 private:
  // Moves every pending byte across until both directions are empty.
  void pump() {
    bool moved = true;
    while (moved) {
      moved = move(client_, client_transport_, server_, server_transport_);
      moved = move(server_, server_transport_, client_, client_transport_) || moved;
    }
  }
  bool move(Node& from, TransportId from_transport, Node& to, TransportId to_transport) {
    bool moved = false;
    while (from.poll_transmit()) {
    }
    for (Bytes out = from.pending_output(from_transport); !out.empty();
         out = from.pending_output(from_transport)) {
      to.on_bytes(now_, to_transport, out);
      from.consume_output(from_transport, out.size());
      moved = true;
    }
    return moved;
  }

  Node client_;
  Node server_;
  TransportId client_transport_ = 0;
  TransportId server_transport_ = 0;
  PeerId peer_ = 0;
  TimeNs now_ = 1;
};

void BM_RequestRoundTrip(benchmark::State& state) {
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  const bool checksums = state.range(1) != 0;
  Pair pair(checksums);
  const std::vector<std::uint8_t> payload(64, 0x5a);
  constexpr std::size_t kBatch = 20'000;
  for (auto _ : state)
    pair.run(kBatch, in_flight, payload);
  state.counters["requests"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                  benchmark::Counter::kIsRate);
}

BENCHMARK(BM_RequestRoundTrip)
    ->ArgNames({"in_flight", "cksum"})
    ->Args({1, 0})
    ->Args({64, 0})
    ->Args({1, 1})
    ->Args({64, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
