// libFuzzer target for the frame decoder. The input is a raw byte stream, one direction of
// a connection (so every corpus file is also a capture weft-dump can read).
//
// Checked for every input, in two decoding passes:
//  1. The input decoded whole gives frames F and ends (error code and offset) in E; the
//     frames lie inside the input, in its first P bytes.
//  2. The frames re-encoded followed by the input's tail after P, decoded in pieces (sizes
//     drawn from the input's own bytes), give frames equal to F and then the same end E,
//     its offset moved by how much longer the re-encoding is. So one pass checks both that
//     decode and encode are inverse and that the split decoder (which gathers frames across
//     pieces) agrees with the whole one, on the good frames and on the error after them.
//  3. When a checksum stopped the stream, it is decoded again with verification off (so
//     the fuzzer reaches the parsing behind a checksum): the same frames first, then
//     perhaps more, which re-encode and decode to themselves too.
// The input's last bit says whether the decoder requires a checksum on every frame.
//
// Kept fast (see README.md): the decoders, frame lists and buffers live across inputs, so
// a run allocates nothing once warm, and frames compare with operator==.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "weft/wire.hpp"

namespace {

// Aborts (a crash for libFuzzer) naming the line of the check that failed.
void check_at(bool condition, int line) {
  if (condition) return;
  std::fprintf(stderr, "decoder_fuzz.cpp:%d: check failed\n", line);
  std::abort();
}
#define check(condition) check_at((condition), __LINE__)

// How decoding a stream ended.
struct End {
  weft::WireError error = weft::WireError::none;
  std::uint64_t offset = 0;
};

// Feeds `stream` to `decoder` in pieces of 1..97 bytes drawn from a fixed LCG started at
// `seed` (seed 0: the stream whole) and calls `on_frame(step)` for each frame it yields.
template <typename OnFrame>
End decode(weft::FrameDecoder& decoder, weft::Bytes stream, std::uint32_t seed,
           OnFrame&& on_frame) {
  while (!stream.empty() && !decoder.failed()) {
    std::size_t piece = stream.size();
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;  // the split is a function of the input
      piece = std::min<std::size_t>(stream.size(), 1 + (seed >> 16) % 97);
    }
    weft::Bytes input = stream.first(piece);
    stream = stream.subspan(piece);
    while (true) {
      const weft::DecodeStep step = decoder.next(input);
      input = input.subspan(step.consumed);
      if (step.status != weft::DecodeStatus::frame) break;
      on_frame(step);
    }
  }
  if (decoder.failed()) return {decoder.error().code, decoder.error().offset};  // no copy
  const weft::DecodeError end = decoder.finish();
  return {end.code, end.offset};
}

// What decoding a stream whole gave: its frames (views into the stream, which they lie
// inside), how many bytes they take, and how it ended.
struct Whole {
  std::vector<weft::Frame> frames;
  std::size_t frame_bytes = 0;
  End end;
};

void decode_whole(weft::FrameDecoder& decoder, weft::Bytes stream,
                  const weft::DecoderOptions& options, Whole& whole) {
  whole.frames.clear();
  whole.frame_bytes = 0;
  decoder.reset(options);
  whole.end = decode(decoder, stream, 0, [&](const weft::DecodeStep& step) {
    whole.frames.push_back(step.frame);
    whole.frame_bytes += step.consumed;
  });
  check(whole.end.offset <= stream.size());
  check(whole.end.error != weft::WireError::none || whole.frame_bytes == stream.size());
}

// Passes 2 and 3 above: `whole` came from `stream`; the frames re-encoded, then the
// stream's tail, decoded in pieces split by `seed`, give the same frames and the same end.
void check_reencoded_in_pieces(const Whole& whole, weft::Bytes stream,
                               const weft::DecoderOptions& options, std::uint32_t seed) {
  static weft::ByteBuffer rebuilt;
  static weft::FrameDecoder decoder;
  rebuilt.clear();
  for (const weft::Frame& frame : whole.frames)
    weft::encode_frame(rebuilt, frame);
  const std::size_t encoded_bytes = rebuilt.size();
  rebuilt.append(stream.subspan(whole.frame_bytes));

  // The encoder writes correct checksums, so verification stays on for the re-encoded
  // frames; with it off (pass 3), the tail must fail as it did, which verification
  // could not change since it failed without it.
  decoder.reset(options);
  std::size_t index = 0;
  const End end = decode(decoder, rebuilt.view(), seed, [&](const weft::DecodeStep& step) {
    check(index < whole.frames.size() && step.frame == whole.frames[index]);
    ++index;
  });
  check(index == whole.frames.size());
  check(end.error == whole.end.error);
  if (end.error != weft::WireError::none) {
    check(end.offset + whole.frame_bytes == whole.end.offset + encoded_bytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const weft::Bytes stream(data, size);
  weft::DecoderOptions options;
  options.limits.max_frame_bytes = 1 << 20;  // keeps the fuzzer's memory small
  // Half the inputs decode as a connection that negotiated checksums (every frame must
  // carry one): the last byte decides, so a mutation elsewhere keeps the mode.
  options.require_checksum = size > 0 && (data[size - 1] & 1) != 0;
  const std::uint32_t seed = size == 0 ? 1u : 1u + data[size / 2] + (std::uint32_t{data[0]} << 8);

  static weft::FrameDecoder decoder;
  static Whole whole;
  decode_whole(decoder, stream, options, whole);
  check_reencoded_in_pieces(whole, stream, options, seed);

  // Checksums must not hide what lies behind them: a stream that failed on one is decoded
  // again without verification. It yields the same frames first, then perhaps more.
  if (whole.end.error != weft::WireError::checksum_mismatch) return 0;
  options.verify_checksum = false;
  static Whole unverified;
  decode_whole(decoder, stream, options, unverified);
  check(unverified.frames.size() >= whole.frames.size());
  for (std::size_t i = 0; i < whole.frames.size(); ++i)
    check(unverified.frames[i] == whole.frames[i]);
  check_reencoded_in_pieces(unverified, stream, options, seed);
  return 0;
}
