// Properties of the codec over arbitrary frames, splits and bytes.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "frame_gen.hpp"
#include "weft/frame_text.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::gen_split;
using testing::gen_valid_frame;

// What decoding a stream produced: the frames (deep copies) and the final error.
struct Outcome {
  std::vector<OwnedFrame> frames;
  WireError error = WireError::none;
  std::uint64_t error_offset = 0;
};

Outcome decode_pieces(Bytes stream, const std::vector<std::size_t>& pieces,
                      const DecoderOptions& options = {}) {
  Outcome outcome;
  FrameDecoder decoder(options);
  std::size_t at = 0;
  for (std::size_t piece : pieces) {
    Bytes input = stream.subspan(at, piece);
    at += piece;
    while (true) {
      const DecodeStep step = decoder.next(input);
      input = input.subspan(step.consumed);
      if (step.status != DecodeStatus::frame) break;
      outcome.frames.emplace_back(step.frame);
    }
    if (decoder.failed()) break;
  }
  const DecodeError end = decoder.finish();
  outcome.error = end.code;
  outcome.error_offset = end.offset;
  return outcome;
}

bool same_frames(const std::vector<OwnedFrame>& lhs, const std::vector<OwnedFrame>& rhs) {
  if (lhs.size() != rhs.size()) return false;
  for (std::size_t i = 0; i < lhs.size(); ++i) {
    if (!(lhs[i].view() == rhs[i].view())) return false;
  }
  return true;
}

std::vector<std::uint8_t> encode_all(const std::vector<OwnedFrame>& frames) {
  ByteBuffer buffer;
  for (const OwnedFrame& frame : frames)
    encode_frame(buffer, frame.view());
  return {buffer.view().begin(), buffer.view().end()};
}

RC_GTEST_PROP(WireProperties, DecodeOfEncodeIsIdentity, ()) {
  const OwnedFrame owned = *gen_valid_frame();
  const Frame frame = owned.view();
  RC_ASSERT(validate_frame(frame, {}).code == WireError::none);
  const auto wire = encode_all({owned});
  RC_ASSERT(wire.size() == encoded_size(frame));
  DecodeError error;
  const std::optional<Frame> decoded = decode_one(wire, {}, &error);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(*decoded == frame);
  RC_ASSERT(format_frame(*decoded) == format_frame(frame));
}

RC_GTEST_PROP(WireProperties, AnySplitGivesTheSameFrames, ()) {
  const auto frames = *rc::gen::container<std::vector<OwnedFrame>>(
      *rc::gen::inRange<std::size_t>(0, 12), gen_valid_frame());
  const auto stream = encode_all(frames);
  const Outcome whole = decode_pieces(stream, {stream.size()});
  RC_ASSERT(whole.error == WireError::none);
  RC_ASSERT(same_frames(whole.frames, frames));
  const Outcome split = decode_pieces(stream, *gen_split(stream.size()));
  RC_ASSERT(split.error == WireError::none);
  RC_ASSERT(same_frames(split.frames, frames));
  const Outcome bytewise = decode_pieces(stream, std::vector<std::size_t>(stream.size(), 1));
  RC_ASSERT(same_frames(bytewise.frames, frames));
}

RC_GTEST_PROP(WireProperties, ArbitraryBytesNeverCrashAndSplitsAgree, ()) {
  // Random bytes, sometimes behind a plausible prefix so the header parser gets exercised.
  auto bytes = *rc::gen::arbitrary<std::vector<std::uint8_t>>();
  if (*rc::gen::arbitrary<bool>() && bytes.size() < 0xffff) {
    const auto header_bytes = static_cast<std::uint16_t>(bytes.size());
    const std::vector<std::uint8_t> prefix{kFrameMagic,
                                           0,
                                           static_cast<std::uint8_t>(header_bytes >> 8),
                                           static_cast<std::uint8_t>(header_bytes),
                                           0,
                                           0,
                                           static_cast<std::uint8_t>(header_bytes >> 8),
                                           static_cast<std::uint8_t>(header_bytes)};
    bytes.insert(bytes.begin(), prefix.begin(), prefix.end());
  }
  const Outcome whole = decode_pieces(bytes, {bytes.size()});
  const Outcome split = decode_pieces(bytes, *gen_split(bytes.size()));
  RC_ASSERT(same_frames(whole.frames, split.frames));
  RC_ASSERT(whole.error == split.error);
  RC_ASSERT(whole.error_offset == split.error_offset);
  RC_ASSERT(whole.error_offset <= bytes.size());
  for (const OwnedFrame& frame : whole.frames) {
    RC_ASSERT(validate_frame(frame.view(), {}).code == WireError::none);
  }
}

RC_GTEST_PROP(WireProperties, CorruptionNeverDeliversADifferentFrameWhenChecksummed, ()) {
  // With checksums required, changing any byte of a stream yields a prefix of the original
  // frames, then an error (or a truncated tail); never a frame that differs.
  auto frames = *rc::gen::container<std::vector<OwnedFrame>>(*rc::gen::inRange<std::size_t>(1, 6),
                                                             gen_valid_frame());
  for (OwnedFrame& frame : frames)
    frame.scalars().checksum = true;
  auto stream = encode_all(frames);
  const std::size_t at = *rc::gen::inRange<std::size_t>(0, stream.size());
  const auto flip = *rc::gen::inRange<int>(1, 256);
  stream[at] = static_cast<std::uint8_t>(stream[at] ^ flip);
  DecoderOptions options;
  options.require_checksum = true;
  const Outcome outcome = decode_pieces(stream, *gen_split(stream.size()), options);
  RC_ASSERT(outcome.error != WireError::none);
  RC_ASSERT(outcome.frames.size() < frames.size());
  for (std::size_t i = 0; i < outcome.frames.size(); ++i) {
    RC_ASSERT(outcome.frames[i].view() == frames[i].view());
  }
}

}  // namespace
}  // namespace weft
