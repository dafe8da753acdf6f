// Request round trips through two nodes wired back to back in memory (bench/node_pair.hpp):
// 64 B payloads, echoed; K requests kept in flight; with and without checksums, and through
// TLS (every byte encrypted and decrypted on this one core).
//
//   build/release/bench/weft_request_bench
#include <benchmark/benchmark.h>

#include "node_pair.hpp"

namespace {

using namespace weft;

// Keeps `in_flight` requests going until `total` have completed.
void run_requests(bench::Pair& pair, std::size_t total, std::size_t in_flight, Bytes payload) {
  std::size_t started = 0;
  std::size_t completed = 0;
  PeerConnection to_server = pair.to_server();
  const RequestArgs args{bench::kEchoHandler, {}, payload, 0};
  for (; started < in_flight && started < total; ++started)
    to_server.request(pair.now(), args);
  while (completed < total) {
    pair.pump();
    while (auto event = pair.server().poll_event()) {
      auto& request = std::get<event::RequestReceived>(*event);
      pair.server().connection(request.peer).respond(pair.now(), request.id, request.payload);
      pair.server().recycle_payload(std::move(request.payload));  // as io::EventNode does
    }
    while (auto event = pair.client().poll_event()) {
      ++completed;
      auto& done = std::get<event::RequestDone>(*event);
      benchmark::DoNotOptimize(done.payload.data());
      pair.client().recycle_payload(std::move(done.payload));
      if (started < total) {
        to_server.request(pair.now(), args);
        ++started;
      }
    }
  }
}

void BM_RequestRoundTrip(benchmark::State& state) {
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  bench::Pair pair(state.range(1) != 0, {}, state.range(2) != 0);
  const std::vector<std::uint8_t> payload(64, 0x5a);
  constexpr std::size_t kBatch = 20'000;
  for (auto _ : state)
    run_requests(pair, kBatch, in_flight, payload);
  state.counters["requests"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                  benchmark::Counter::kIsRate);
}

BENCHMARK(BM_RequestRoundTrip)
    ->ArgNames({"in_flight", "cksum", "tls"})
    ->Args({1, 0, 0})
    ->Args({64, 0, 0})
    ->Args({1, 1, 0})
    ->Args({64, 1, 0})
    ->Args({1, 0, 1})
    ->Args({64, 0, 1})
    ->Args({64, 1, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
