// Streams through two nodes wired back to back in memory (bench/node_pair.hpp), 64 B
// messages under credit flow control:
//  - one way: the client writes as fast as credit allows, the server reads everything;
//  - echo: the server writes every message it reads back; the client reads the echoes.
//
//   build/release/bench/weft_stream_bench
#include <benchmark/benchmark.h>

#include "node_pair.hpp"

namespace {

using namespace weft;

StreamId open(bench::Pair& pair, StreamWindow window) {
  StreamArgs args;
  args.handler = bench::kStreamHandler;
  args.has_input = true;
  args.window = window;
  const OpenedStream opened = pair.to_server().open_stream(pair.now(), args);
  pair.pump();
  return opened.id;
}

// The server's id of the stream it was opened with.
StreamId served_id(bench::Pair& pair) {
  while (auto event = pair.server().poll_event()) {
    if (auto* opened = std::get_if<event::StreamOpened>(&*event)) return opened->id;
  }
  return {};
}

// One open stream between two nodes in memory, with both ends' handles; built in place
// (the handles point into `pair`).
struct OpenStream {
  OpenStream(bool checksums, StreamWindow window)
      : pair(checksums), id(open(pair, window)), served(served_id(pair)) {}

  bench::Pair pair;
  StreamId id;      // the client's id
  StreamId served;  // the server's id
  PeerConnection client = pair.to_server();
  PeerConnection server = pair.to_client();
  const std::vector<std::uint8_t> message = std::vector<std::uint8_t>(64, 0x42);
};

// Reads every waiting message of `id` at `side`, writing each back first when `echo`
// (stopping when the echo finds no credit); returns how many were consumed.
std::size_t drain(PeerConnection side, TimeNs now, StreamId id, bool echo = false) {
  std::size_t count = 0;
  while (std::optional<Bytes> message = side.stream_peek(id)) {
    if (echo && side.stream_write(now, id, *message) != Errc::ok) break;
    side.stream_consume(now, id);
    ++count;
  }
  return count;
}

// Writes `message` on `id` until `sent` reaches `wanted` or the credit runs out.
void write_until_no_credit(PeerConnection side, TimeNs now, StreamId id, Bytes message,
                           std::size_t& sent, std::size_t wanted) {
  while (sent < wanted && side.stream_write(now, id, message) == Errc::ok)
    ++sent;
}

// Moves every byte across (credit included) and drops the events neither benchmark reads.
void settle(bench::Pair& pair) {
  pair.pump();
  while (pair.client().poll_event()) {
  }
  while (pair.server().poll_event()) {
  }
}

void BM_StreamOneWay(benchmark::State& state) {
  OpenStream stream(state.range(0) != 0, {});
  constexpr std::size_t kBatch = 100'000;
  for (auto _ : state) {
    std::size_t sent = 0;
    std::size_t received = 0;
    while (received < kBatch) {
      write_until_no_credit(stream.client, stream.pair.now(), stream.id, stream.message, sent,
                            kBatch);
      stream.pair.pump();
      received += drain(stream.server, stream.pair.now(), stream.served);
      settle(stream.pair);
    }
  }
  state.counters["messages"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                  benchmark::Counter::kIsRate);
}

void BM_StreamEcho(benchmark::State& state) {
  OpenStream stream(state.range(0) != 0, StreamWindow{4096, 64u << 20});
  constexpr std::size_t kBatch = 100'000;
  for (auto _ : state) {
    std::size_t sent = 0;
    std::size_t echoed = 0;
    while (echoed < kBatch) {
      write_until_no_credit(stream.client, stream.pair.now(), stream.id, stream.message, sent,
                            kBatch);
      stream.pair.pump();
      drain(stream.server, stream.pair.now(), stream.served, true);
      stream.pair.pump();
      echoed += drain(stream.client, stream.pair.now(), stream.id);
      settle(stream.pair);
    }
  }
  state.counters["echoes"] = benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                                                benchmark::Counter::kIsRate);
}

BENCHMARK(BM_StreamOneWay)->ArgNames({"cksum"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamEcho)->ArgNames({"cksum"})->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
