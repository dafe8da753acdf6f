// libFuzzer target for the frame decoder. The input is a raw byte stream, one direction of
// a connection (so every corpus file is also a capture weft-dump can read).
//
// Checked for every input:
//  - decoding it whole and in pieces (sizes drawn from the input's own bytes) gives the same
//    frames, the same error and the same error offset;
//  - every frame the decoder yields passes validate_frame and survives re-encoding;
//  - with checksum verification off (so the fuzzer can reach header parsing behind a
//    checksum), the same holds; frames decoded with verification on are a prefix of them.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "weft/wire.hpp"

namespace {

struct Outcome {
  std::vector<weft::OwnedFrame> frames;
  weft::WireError error = weft::WireError::none;
  std::uint64_t error_offset = 0;
};

void check(bool condition) {
  if (!condition) std::abort();
}

// Decodes `stream` in pieces of the given sizes (0 = all the rest).
Outcome decode(weft::Bytes stream, const weft::DecoderOptions& options, std::uint32_t seed) {
  Outcome outcome;
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
      outcome.frames.emplace_back(step.frame);
    }
  }
  const weft::DecodeError end = decoder.finish();
  outcome.error = end.code;
  outcome.error_offset = end.offset;
  return outcome;
}

bool same_frames(const Outcome& lhs, const Outcome& rhs) {
  if (lhs.frames.size() != rhs.frames.size()) return false;
  for (std::size_t i = 0; i < lhs.frames.size(); ++i) {
    if (!(lhs.frames[i].view() == rhs.frames[i].view())) return false;
  }
  return true;
}

void check_frames_reencode(const Outcome& outcome, const weft::WireLimits& limits) {
  for (const weft::OwnedFrame& owned : outcome.frames) {
    const weft::Frame frame = owned.view();
    check(weft::validate_frame(frame, limits).code == weft::WireError::none);
    weft::ByteBuffer wire;
    weft::encode_frame(wire, frame);
    const std::optional<weft::Frame> again = weft::decode_one(wire.view(), {.limits = limits});
    check(again.has_value() && *again == frame);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const weft::Bytes stream(data, size);
  weft::DecoderOptions options;
  options.limits.max_frame_bytes = 1 << 20;  // keeps the fuzzer's memory small
  const std::uint32_t seed = size == 0 ? 1u : 1u + data[size / 2] + (std::uint32_t{data[0]} << 8);

  const Outcome whole = decode(stream, options, 0);
  const Outcome pieces = decode(stream, options, seed);
  check(same_frames(whole, pieces));
  check(whole.error == pieces.error && whole.error_offset == pieces.error_offset);
  check(whole.error_offset <= size);
  check_frames_reencode(whole, options.limits);

  options.verify_checksum = false;
  const Outcome unverified = decode(stream, options, seed);
  check(unverified.frames.size() >= whole.frames.size());
  for (std::size_t i = 0; i < whole.frames.size(); ++i) {
    check(whole.frames[i].view() == unverified.frames[i].view());
  }
  check_frames_reencode(unverified, options.limits);
  return 0;
}
