// libFuzzer target for the frame decoder. The input is a raw byte stream, one direction of
// a connection (so every corpus file is also a capture weft-dump can read).
//
// Checked for every input:
//  - decoding it whole and in pieces (sizes drawn from the input's own bytes) gives the same
//    frames, the same error and the same error offset;
//  - every frame the decoder yields passes validate_frame, and the frames re-encoded decode
//    again to themselves;
//  - when a checksum stopped the stream, decoding it again with verification off (so the
//    fuzzer reaches the parsing behind a checksum) gives the same frames first.
// The input's last bit says whether the decoder requires a checksum on every frame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "weft/wire.hpp"

namespace {

// What decoding a stream gave: every frame re-encoded, one after the other (a frame compares
// equal to another exactly when their encodings do), and how it ended.
struct Outcome {
  weft::ByteBuffer reencoded;
  std::size_t frames = 0;
  weft::WireError error = weft::WireError::none;
  std::uint64_t error_offset = 0;
};

// Aborts (a crash for libFuzzer) naming the line of the check that failed.
void check_at(bool condition, int line) {
  if (condition) return;
  std::fprintf(stderr, "decoder_fuzz.cpp:%d: check failed\n", line);
  std::abort();
}
#define check(condition) check_at((condition), __LINE__)

// Decodes `stream` in pieces (seed 0: whole) into `outcome` (its buffer is reused from one
// input to the next: allocation is most of a run's cost under ASan), checking each frame as
// it comes: it passes validate_frame, and it is appended to the outcome re-encoded.
void decode(weft::Bytes stream, const weft::DecoderOptions& options, std::uint32_t seed,
            Outcome& outcome) {
  outcome.reencoded.clear();
  outcome.frames = 0;
  weft::FrameDecoder decoder(options);
  while (!stream.empty() && !decoder.failed()) {
    std::size_t piece = stream.size();
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;  // a fixed LCG: the split is a function of the input
      piece = std::min<std::size_t>(stream.size(), 1 + (seed >> 16) % 97);
    }
    weft::Bytes input = stream.first(piece);
    stream = stream.subspan(piece);
    while (true) {
      const weft::DecodeStep step = decoder.next(input);
      input = input.subspan(step.consumed);
      if (step.status != weft::DecodeStatus::frame) break;
      check(weft::validate_frame(step.frame, options.limits).code == weft::WireError::none);
      weft::encode_frame(outcome.reencoded, step.frame);
      ++outcome.frames;
    }
  }
  const weft::DecodeError end = decoder.finish();
  outcome.error = end.code;
  outcome.error_offset = end.offset;
}

bool same_bytes(weft::Bytes lhs, weft::Bytes rhs) {
  return lhs.size() == rhs.size() && std::equal(lhs.begin(), lhs.end(), rhs.begin());
}

// The re-encoded frames decode again, whole, to themselves: encode and decode are inverse.
void check_reencoding(const Outcome& outcome, weft::DecoderOptions options) {
  options.verify_checksum = true;  // the encoder wrote correct checksums
  static Outcome again;
  decode(outcome.reencoded.view(), options, 0, again);
  check(again.error == weft::WireError::none && again.frames == outcome.frames);
  check(same_bytes(again.reencoded.view(), outcome.reencoded.view()));
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

  static Outcome whole;
  static Outcome pieces;
  decode(stream, options, 0, whole);
  decode(stream, options, seed, pieces);
  check(whole.frames == pieces.frames);
  check(same_bytes(whole.reencoded.view(), pieces.reencoded.view()));
  check(whole.error == pieces.error && whole.error_offset == pieces.error_offset);
  check(whole.error_offset <= size);
  check_reencoding(whole, options);

  // Checksums must not hide what lies behind them: a stream that failed on one is decoded
  // again without verification. It yields the same frames first, then perhaps more.
  if (whole.error != weft::WireError::checksum_mismatch) return 0;
  options.verify_checksum = false;
  static Outcome unverified;
  decode(stream, options, seed, unverified);
  check(unverified.frames >= whole.frames);
  check(same_bytes(unverified.reencoded.view().first(whole.reencoded.size()),
                   whole.reencoded.view()));
  check_reencoding(unverified, options);
  return 0;
}
