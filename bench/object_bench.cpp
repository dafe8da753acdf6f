// Object streams through two nodes wired back to back in memory (bench/node_pair.hpp): the
// core alone, without sockets.
//  - 1 MiB objects held in memory (shared, never copied on posting), with and without
//    frame checksums: the receiver reads every byte;
//  - header-only objects (control messages): objects per second;
//  - 1 MiB objects of compressible (text-like) and random data, with and without LZ4
//    (ObjectCompression::lz4), and the ratio of data bytes to object_data payload bytes.
//
//   build/release/bench/weft_object_bench
#include <benchmark/benchmark.h>

#include <string_view>

#include "node_pair.hpp"
#include "weft/random.hpp"

namespace {

using namespace weft;

// An open object stream between two nodes in memory; the server serves endpoint "store".
struct ObjectFixture {
  explicit ObjectFixture(bool checksums, ObjectCompression compression = ObjectCompression::none)
      : pair(checksums), client(pair.to_server()), server(pair.to_client()) {
    pair.server().register_object_endpoint("store", ObjectWindow{1024, 64u << 20});
    stream = client.open_object_stream(pair.now(), "store", ObjectStreamOptions{compression}).id;
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

// Posts `data` as 16 objects at a time and lets them complete, for every iteration; counts
// the bytes read and the objects completed.
void run_1mib_objects(benchmark::State& state, ObjectFixture& fixture, const SharedBytes& data) {
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

void BM_Objects1MiB(benchmark::State& state) {
  ObjectFixture fixture(state.range(0) != 0);
  run_1mib_objects(state, fixture, SharedBytes(std::vector<std::uint8_t>(1 << 20, 0x5a)));
}
BENCHMARK(BM_Objects1MiB)->Arg(0)->Arg(1)->ArgName("checksums")->UseRealTime();

// Text-like data: words drawn from a few dozen, as logs or JSON would repeat them.
std::vector<std::uint8_t> compressible_data(std::size_t size) {
  static constexpr std::string_view kWords[] = {
      "bucket",    "object",  "replica", "chunk", "stream", "node", "version", "checksum",
      "xxhash",    "size",    "access",  "time",  "owner",  "ops",  "status",  "ok",
      "\"name\":", "\"id\":", "{",       "}",     "[",      "]",    ", ",      "\n"};
  Rng rng(7);
  std::vector<std::uint8_t> data;
  data.reserve(size);
  while (data.size() < size) {
    const std::string_view word = kWords[rng.next() % std::size(kWords)];
    for (std::size_t i = 0; i < word.size() && data.size() < size; ++i)
      data.push_back(static_cast<std::uint8_t>(word[i]));
    if (data.size() < size) data.push_back(' ');
  }
  return data;
}

std::vector<std::uint8_t> random_data(std::size_t size) {
  Rng rng(11);
  std::vector<std::uint8_t> data(size);
  for (std::uint8_t& byte : data)
    byte = static_cast<std::uint8_t>(rng.next());
  return data;
}

// range(0): 0 compressible data, 1 random; range(1): 0 no compression, 1 LZ4. The counter
// `ratio` is data bytes over object_data payload bytes (1.0 when nothing shrank).
void BM_Objects1MiBCompression(benchmark::State& state) {
  const bool random = state.range(0) != 0;
  ObjectFixture fixture(false,
                        state.range(1) != 0 ? ObjectCompression::lz4 : ObjectCompression::none);
  run_1mib_objects(state, fixture,
                   SharedBytes(random ? random_data(1 << 20) : compressible_data(1 << 20)));
  const auto stats = fixture.client.object_stream_stats(fixture.pair.now(), fixture.stream);
  if (stats && stats->wire_bytes > 0) {
    state.counters["ratio"] =
        static_cast<double>(stats->bytes) / static_cast<double>(stats->wire_bytes);
  }
}
BENCHMARK(BM_Objects1MiBCompression)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"random", "lz4"})
    ->UseRealTime();

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
