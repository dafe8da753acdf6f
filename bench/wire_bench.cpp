// Encode and decode throughput of frames with 64 B, 4 KiB and 1 MiB payloads, with and
// without checksum. Counters: frames/s ("frames") and payload+framing bytes/s.
//
//   build/release/bench/weft_wire_bench
#include <benchmark/benchmark.h>

#include <vector>

#include "weft/wire.hpp"

namespace {

weft::Frame stream_msg(weft::Bytes payload, bool checksum) {
  return {
      .op = weft::Op::stream_msg, .checksum = checksum, .mux = 6, .seq = 1000, .payload = payload};
}

// Enough frames to fill ~4 MiB (at least 1 and at most 4096), so that small frames are
// measured in a loop over distinct bytes rather than one hot frame.
std::size_t frames_per_batch(std::size_t payload_bytes) {
  return std::clamp<std::size_t>((4u << 20) / (payload_bytes + 16), 1, 4096);
}

void BM_Encode(benchmark::State& state) {
  const std::vector<std::uint8_t> payload(static_cast<std::size_t>(state.range(0)), 0xab);
  const bool checksum = state.range(1) != 0;
  const weft::Frame frame = stream_msg(payload, checksum);
  const std::size_t batch = frames_per_batch(payload.size());
  weft::ByteBuffer out;
  out.reserve(batch * weft::encoded_size(frame));
  for (auto _ : state) {
    out.clear();
    for (std::size_t i = 0; i < batch; ++i)
      weft::encode_frame(out, frame);
    benchmark::DoNotOptimize(out.view().data());
    benchmark::ClobberMemory();
  }
  const auto frames = static_cast<double>(state.iterations() * batch);
  state.counters["frames"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * batch * weft::encoded_size(frame)));
}

void BM_Decode(benchmark::State& state) {
  const std::vector<std::uint8_t> payload(static_cast<std::size_t>(state.range(0)), 0xab);
  const bool checksum = state.range(1) != 0;
  const weft::Frame frame = stream_msg(payload, checksum);
  const std::size_t batch = frames_per_batch(payload.size());
  weft::ByteBuffer wire;
  for (std::size_t i = 0; i < batch; ++i)
    weft::encode_frame(wire, frame);
  weft::DecoderOptions options;
  options.limits.max_frame_bytes = 2u << 20;
  weft::FrameDecoder decoder(options);
  std::uint64_t payload_bytes = 0;
  for (auto _ : state) {
    weft::Bytes input = wire.view();
    while (!input.empty()) {
      const weft::DecodeStep step = decoder.next(input);
      if (step.status != weft::DecodeStatus::frame) {
        state.SkipWithError("decode failed");
        return;
      }
      payload_bytes += step.frame.payload.size();
      input = input.subspan(step.consumed);
    }
  }
  benchmark::DoNotOptimize(payload_bytes);
  const auto frames = static_cast<double>(state.iterations() * batch);
  state.counters["frames"] = benchmark::Counter(frames, benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void payload_sizes(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"payload", "cksum"});
  for (std::int64_t size : {64, 4096, 1 << 20}) {
    for (std::int64_t checksum : {0, 1})
      bench->Args({size, checksum});
  }
}

BENCHMARK(BM_Encode)->Apply(payload_sizes);
BENCHMARK(BM_Decode)->Apply(payload_sizes);

}  // namespace

BENCHMARK_MAIN();
