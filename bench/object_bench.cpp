// Object streams through two nodes wired back to back in memory (bench/node_pair.hpp): the
// core alone, without sockets.
//  - 1 MiB objects held in memory (shared, never copied on posting), with and without
//    frame checksums: the receiver reads every byte;
//  - header-only objects (control messages): objects per second.
//
//   build/release/bench/weft_object_bench
#include <benchmark/benchmark.h>

#include "node_pair.hpp"

namespace {

using namespace weft;

// An open object stream between two nodes in memory; the server serves endpoint "store".
struct ObjectFixture {
  explicit ObjectFixture(bool checksums)
      : pair(checksums), client(pair.to_server()), server(pair.to_client()) {
    pair.server().register_object_endpoint("store", ObjectWindow{1024, 64u << 20});
    stream = client.open_object_stream(pair.now(), "store").id;
  }

  // Lets both applications run until nothing is left to do: the server reads every byte it
  // has, the client counts its completions. Returns the completions seen.
  std::size_t settle() {
    std::size_t completed = 0;
    bool busy = true;
    while (busy) {
      pair.pump();
      busy = false;
      while (auto event = pair.server().poll_event()) {
        const ObjectStreamId* at = nullptr;
        if (const auto* arrived = std::get_if<event::ObjectArrived>(&*event)) at = &arrived->stream;
        if (const auto* readable = std::get_if<event::ObjectReadable>(&*event)) {
          at = &readable->stream;
        }
        if (at == nullptr) continue;
        while (auto read = server.object_read(*at)) {
          read_bytes += read->data.size();
          server.object_consume(pair.now(), *at, read->data.size());
          busy = true;
          if (read->end) break;
        }
      }
      while (auto event = pair.client().poll_event()) {
        if (const auto* done = std::get_if<event::ObjectCompleted>(&*event)) {
          completed += done->result == Errc::ok ? 1 : 0;
          busy = true;
        }
      }
    }
    return completed;
  }

  bench::Pair pair;
  PeerConnection client;
  PeerConnection server;
  ObjectStreamId stream;
  std::uint64_t read_bytes = 0;
};

void BM_Objects1MiB(benchmark::State& state) {
  ObjectFixture fixture(state.range(0) != 0);
  const SharedBytes data(std::vector<std::uint8_t>(1 << 20, 0x5a));
  constexpr int kBatch = 16;
  std::size_t completed = 0;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      ObjectArgs args;
      args.header.name = "bucket/object";
      args.size = data.size();
      args.data = data;
      fixture.client.object_post(fixture.pair.now(), fixture.stream, std::move(args));
    }
    completed += fixture.settle();
  }
  if (completed != static_cast<std::size_t>(state.iterations()) * kBatch)
    state.SkipWithError("an object did not complete");
  state.SetBytesProcessed(static_cast<std::int64_t>(fixture.read_bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(completed));
}
BENCHMARK(BM_Objects1MiB)->Arg(0)->Arg(1)->ArgName("checksums")->UseRealTime();

void BM_HeaderOnlyObjects(benchmark::State& state) {
  ObjectFixture fixture(state.range(0) != 0);
  constexpr int kBatch = 512;
  std::size_t completed = 0;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      ObjectArgs args;
      args.kind = ObjectSize::header_only;
      args.header.opcode = 1;
      fixture.client.object_post(fixture.pair.now(), fixture.stream, std::move(args));
    }
    completed += fixture.settle();
  }
  if (completed != static_cast<std::size_t>(state.iterations()) * kBatch)
    state.SkipWithError("an object did not complete");
  state.SetItemsProcessed(static_cast<std::int64_t>(completed));
}
BENCHMARK(BM_HeaderOnlyObjects)->Arg(0)->Arg(1)->ArgName("checksums")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
