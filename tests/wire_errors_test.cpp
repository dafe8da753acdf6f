// Bad inputs, each mapped to its specific error code and byte offset. Headers are built
// with msgpack-c's packer, an encoder independent of the one under test.
#include <gtest/gtest.h>

#include <functional>
#include <msgpack.hpp>

#include "sample_frames.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;
using testing::encode_to_vector;
using testing::sample_frames;

// A frame whose header is whatever `build` packs; prefix (and checksum) computed honestly.
std::vector<std::uint8_t> raw_frame(const std::function<void(Packer&)>& build,
                                    std::string_view payload = {}, bool checksum = false) {
  msgpack::sbuffer header;
  Packer pack(header);
  build(pack);
  const std::size_t body = header.size() + payload.size() + (checksum ? 8 : 0);
  std::vector<std::uint8_t> wire{kFrameMagic,
                                 static_cast<std::uint8_t>(checksum ? 1 : 0),
                                 static_cast<std::uint8_t>(header.size() >> 8),
                                 static_cast<std::uint8_t>(header.size()),
                                 static_cast<std::uint8_t>(body >> 24),
                                 static_cast<std::uint8_t>(body >> 16),
                                 static_cast<std::uint8_t>(body >> 8),
                                 static_cast<std::uint8_t>(body)};
  wire.insert(wire.end(), header.data(), header.data() + header.size());
  wire.insert(wire.end(), payload.begin(), payload.end());
  if (checksum) {
    const std::uint64_t sum = checksum64(wire);
    for (int shift = 56; shift >= 0; shift -= 8)
      wire.push_back(static_cast<std::uint8_t>(sum >> shift));
  }
  return wire;
}

// [op, flags, mux, seq] then nothing: the start of every header.
void common(Packer& p, std::uint32_t elements, Op op, std::uint64_t flags, std::uint64_t mux,
            std::uint64_t seq) {
  p.pack_array(elements);
  p.pack(static_cast<std::uint64_t>(op));
  p.pack(flags);
  p.pack(mux);
  p.pack(seq);
}

// A well-formed request header with the given values, for mutation.
std::function<void(Packer&)> request_header(std::uint64_t mux, std::uint64_t handler,
                                            std::uint64_t seq = 0, std::uint64_t flags = 0) {
  return [=](Packer& p) {
    common(p, 7, Op::request, flags, mux, seq);
    p.pack(handler);
    p.pack(std::uint64_t{0});
    p.pack(std::uint64_t{1000});
  };
}

// A hello header with the given name, version range, max frame and token.
std::function<void(Packer&)> hello_header(std::string name, std::uint64_t version_min = 1,
                                          std::uint64_t version_max = 1,
                                          std::uint64_t max_frame = 1 << 20,
                                          std::size_t token_bytes = 4) {
  return [=](Packer& p) {
    common(p, 12, Op::hello, 0, 0, 0);
    p.pack(version_min);
    p.pack(version_max);
    p.pack(name);
    p.pack(std::string("peer"));
    p.pack(std::uint64_t{5});
    p.pack(std::uint64_t{6});
    p.pack(max_frame);
    const std::string token(token_bytes, 't');
    p.pack_bin(static_cast<std::uint32_t>(token.size()));
    p.pack_bin_body(token.data(), static_cast<std::uint32_t>(token.size()));
  };
}

struct BadCase {
  std::string label;
  std::vector<std::uint8_t> bytes;
  WireError code;
  std::uint64_t offset;
  DecoderOptions options = {};
};

std::vector<std::uint8_t> patched(std::vector<std::uint8_t> bytes, std::size_t at,
                                  std::uint8_t value) {
  bytes[at] = value;
  return bytes;
}

std::vector<std::uint8_t> with_lengths(std::vector<std::uint8_t> bytes, std::uint16_t header,
                                       std::uint32_t body) {
  bytes[2] = static_cast<std::uint8_t>(header >> 8);
  bytes[3] = static_cast<std::uint8_t>(header);
  for (int i = 0; i < 4; ++i)
    bytes[4 + i] = static_cast<std::uint8_t>(body >> (24 - 8 * i));
  return bytes;
}

std::vector<BadCase> bad_cases() {
  const auto cancel = encode_to_vector(Frame{.op = Op::cancel, .mux = 4});  // 12 bytes
  const auto request = raw_frame(request_header(2, 7), "hello");
  const auto request_cksum = raw_frame(request_header(2, 7), "hello", true);
  const std::size_t request_header_bytes = request[3];
  DecoderOptions require;
  require.require_checksum = true;
  DecoderOptions small;
  small.limits.max_frame_bytes = 1000;
  std::vector<BadCase> cases = {
      // The 8-byte prefix.
      {"bad magic", patched(cancel, 0, 0x78), WireError::bad_magic, 0},
      {"unknown frame flag", patched(cancel, 1, 0x02), WireError::unknown_frame_flags, 1},
      {"zero body length", with_lengths(cancel, 4, 0), WireError::zero_length, 4},
      {"zero header length", with_lengths(cancel, 0, 4), WireError::zero_length, 2},
      {"body over max_frame_bytes", with_lengths(cancel, 4, 1001), WireError::frame_too_large, 4,
       small},
      {"body at 4 GiB", with_lengths(cancel, 4, 0xffffffff), WireError::frame_too_large, 4},
      {"header over max_header_bytes", with_lengths(cancel, 1025, 2000),
       WireError::header_too_large, 2},
      {"header longer than body", with_lengths(cancel, 5, 4), WireError::header_exceeds_body, 2},
      {"header plus checksum longer than body", with_lengths(patched(cancel, 1, 1), 4, 11),
       WireError::header_exceeds_body, 2},
      {"checksum required but absent", request, WireError::checksum_missing, 1, require},
      {"checksum mismatch", patched(request_cksum, 8 + request_header_bytes, 'j'),
       WireError::checksum_mismatch, request_cksum.size() - 8},
      // The header's msgpack shape.
      {"header is a map", raw_frame([](Packer& p) { p.pack_map(0); }), WireError::header_not_array,
       8},
      {"header array is empty", raw_frame([](Packer& p) { p.pack_array(0); }),
       WireError::field_count, 8},
      {"missing field",
       raw_frame([](Packer& p) { common(p, 6, Op::request, 0, 2, 0), p.pack(7), p.pack(0); }),
       WireError::field_count, 8},
      {"extra field", raw_frame([](Packer& p) { common(p, 5, Op::cancel, 0, 2, 0), p.pack(1); }),
       WireError::field_count, 8},
      {"op is a string", raw_frame([](Packer& p) { p.pack_array(4), p.pack("x"); }),
       WireError::wrong_type, 9},
      {"mux is a string", raw_frame([](Packer& p) {
         p.pack_array(4), p.pack(18), p.pack(0), p.pack("two"), p.pack(0);
       }),
       WireError::wrong_type, 11},
      {"seq is nil", raw_frame([](Packer& p) {
         p.pack_array(4), p.pack(18), p.pack(0), p.pack(2), p.pack_nil();
       }),
       WireError::wrong_type, 12},
      {"name is bin", raw_frame([](Packer& p) {
         common(p, 12, Op::hello, 0, 0, 0), p.pack(1), p.pack(1), p.pack_bin(1),
             p.pack_bin_body("a", 1);
       }),
       WireError::wrong_type, 15},
      {"token is str", raw_frame([](Packer& p) {
         common(p, 12, Op::hello, 0, 0, 0), p.pack(1), p.pack(1), p.pack("a"), p.pack("b"),
             p.pack(1), p.pack(1), p.pack(65536), p.pack("tok");
       }),
       WireError::wrong_type, 26},
      {"negative mux",
       raw_frame([](Packer& p) { p.pack_array(4), p.pack(18), p.pack(0), p.pack(-1), p.pack(0); }),
       WireError::integer_out_of_range, 11},
      {"op above 255", raw_frame([](Packer& p) { p.pack_array(4), p.pack(300); }),
       WireError::integer_out_of_range, 9},
      {"flags above 16 bits",
       raw_frame([](Packer& p) { p.pack_array(4), p.pack(18), p.pack(0x10000); }),
       WireError::integer_out_of_range, 10},
      {"handler above 16 bits", raw_frame(request_header(2, 70000)),
       WireError::integer_out_of_range, 13},
      {"unknown op", raw_frame([](Packer& p) { common(p, 4, static_cast<Op>(99), 0, 2, 0); }),
       WireError::unknown_op, 9},
      {"header array cut by header length",
       raw_frame([](Packer& p) { p.pack_array(4), p.pack(18), p.pack(0); }),
       WireError::header_truncated, 11},
      {"string runs past header", raw_frame([](Packer& p) {
         common(p, 12, Op::hello, 0, 0, 0), p.pack(1), p.pack(1), p.pack_str(20),
             p.pack_str_body("ab", 2);
       }),
       WireError::header_truncated, 15},
      {"bytes after the header array",
       raw_frame([](Packer& p) { common(p, 4, Op::cancel, 0, 2, 0), p.pack(0); }),
       WireError::header_trailing_bytes, 13},
      // Values the schema forbids.
      {"unknown op flag", raw_frame(request_header(2, 7, 0, 4)), WireError::unknown_flags, 10},
      {"request on mux 0", raw_frame(request_header(0, 7)), WireError::invalid_field, 11},
      {"ping on a mux", raw_frame([](Packer& p) { common(p, 4, Op::ping, 0, 3, 1); }),
       WireError::invalid_field, 11},
      {"seq on a request", raw_frame(request_header(2, 7, 5)), WireError::invalid_field, 12},
      {"request in parts announcing less than it carries",
       raw_frame(request_header(2, 7, 4, flag::kMore), "hello"), WireError::invalid_field, 12},
      {"handler 0", raw_frame(request_header(2, 0)), WireError::invalid_field, 13},
      {"version_min 0", raw_frame(hello_header("a", 0, 1)), WireError::invalid_field, 13},
      {"version_max below version_min", raw_frame(hello_header("a", 3, 2)),
       WireError::invalid_field, 14},
      {"empty name", raw_frame(hello_header("")), WireError::invalid_field, 15},
      {"name with a space", raw_frame(hello_header("a b")), WireError::invalid_field, 15},
      {"name of 256 bytes", raw_frame(hello_header(std::string(256, 'n'))),
       WireError::invalid_field, 15},
      {"max_frame_bytes below 64 KiB", raw_frame(hello_header("a", 1, 1, 1000)),
       WireError::invalid_field, 24},
      {"token of 257 bytes", raw_frame(hello_header("a", 1, 1, 65536, 257)),
       WireError::invalid_field, 29},
      {"reject with status 0",
       raw_frame([](Packer& p) { common(p, 5, Op::reject, 0, 0, 0), p.pack(0); }),
       WireError::invalid_field, 13},
      {"credit of nothing",
       raw_frame([](Packer& p) { common(p, 6, Op::stream_credit, 0, 2, 0), p.pack(0), p.pack(0); }),
       WireError::invalid_field, 14},
      {"unknown size with a size", raw_frame([](Packer& p) {
         common(p, 5, Op::object_begin, flag::kSizeUnknown, 2, 1), p.pack(9);
       }),
       WireError::invalid_field, 13},
      {"ends with a size",
       raw_frame([](Packer& p) { common(p, 5, Op::object_begin, flag::kEnds, 2, 1), p.pack(9); }),
       WireError::invalid_field, 13},
      {"ends with an unknown size", raw_frame([](Packer& p) {
         common(p, 5, Op::object_begin, flag::kEnds | flag::kSizeUnknown, 2, 1), p.pack(0);
       }),
       WireError::invalid_field, 13},
      {"ack through with a non-zero status",
       raw_frame([](Packer& p) { common(p, 5, Op::object_ack, flag::kThrough, 2, 3), p.pack(1); }),
       WireError::invalid_field, 13},
      {"payload on a ping", raw_frame([](Packer& p) { common(p, 4, Op::ping, 0, 0, 1); }, "x"),
       WireError::payload_not_allowed, 13},
      {"payload on stream_open without has_payload",
       raw_frame(
           [](Packer& p) {
             common(p, 9, Op::stream_open, 0, 2, 0), p.pack(1), p.pack(0), p.pack(0), p.pack(1),
                 p.pack(1);
           },
           "init"),
       WireError::payload_not_allowed, 18},
  };
  return cases;
}

TEST(WireErrors, EachBadInputGivesItsErrorAndOffset) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.label);
    FrameDecoder decoder(c.options);
    const DecodeStep step = decoder.next(c.bytes);
    ASSERT_EQ(step.status, DecodeStatus::error) << "decoded " << step.consumed << " bytes";
    EXPECT_EQ(wire_error_name(decoder.error().code), wire_error_name(c.code))
        << decoder.error().message;
    EXPECT_EQ(decoder.error().offset, c.offset) << decoder.error().message;
    EXPECT_FALSE(decoder.error().message.empty());
    // The error is sticky and consumes nothing more.
    const DecodeStep again = decoder.next(c.bytes);
    EXPECT_EQ(again.status, DecodeStatus::error);
    EXPECT_EQ(again.consumed, 0u);
    EXPECT_EQ(decoder.finish().code, c.code);
  }
}

TEST(WireErrors, SameErrorAndOffsetWhenFedByteByByte) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.label);
    FrameDecoder decoder(c.options);
    for (std::uint8_t byte : c.bytes) {
      if (decoder.next(Bytes(&byte, 1)).status == DecodeStatus::error) break;
    }
    EXPECT_EQ(decoder.error().code, c.code) << decoder.error().message;
    EXPECT_EQ(decoder.error().offset, c.offset);
  }
}

TEST(WireErrors, ErrorOffsetCountsFromTheStreamStart) {
  // The same bad frame after two good ones: the offset moves by their size.
  const auto good = encode_to_vector(Frame{.op = Op::cancel, .mux = 4});
  std::vector<std::uint8_t> stream = good;
  stream.insert(stream.end(), good.begin(), good.end());
  const auto bad = raw_frame(request_header(2, 0));
  stream.insert(stream.end(), bad.begin(), bad.end());
  FrameDecoder decoder;
  Bytes input = stream;
  int frames = 0;
  for (DecodeStep step = decoder.next(input); step.status == DecodeStatus::frame;
       step = decoder.next(input)) {
    input = input.subspan(step.consumed);
    ++frames;
  }
  EXPECT_EQ(frames, 2);
  EXPECT_EQ(decoder.error().code, WireError::invalid_field);
  EXPECT_EQ(decoder.error().offset, 2 * good.size() + 13);
}

TEST(WireErrors, OversizeLengthIsRejectedFromThePrefixAlone) {
  // Only the prefix arrives: the decoder must refuse before waiting for (or allocating)
  // the announced 4 GiB.
  const std::vector<std::uint8_t> prefix{kFrameMagic, 0, 0, 4, 0xff, 0xff, 0xff, 0xff};
  FrameDecoder decoder;
  EXPECT_EQ(decoder.next(prefix).status, DecodeStatus::error);
  EXPECT_EQ(decoder.error().code, WireError::frame_too_large);
}

TEST(WireErrors, TruncationAtEveryBytePositionOfEveryKind) {
  for (const auto& sample : sample_frames()) {
    for (bool checksum : {false, true}) {
      const auto wire = encode_to_vector(testing::with_checksum(sample.frame, checksum).view());
      for (std::size_t cut = 1; cut < wire.size(); ++cut) {
        FrameDecoder decoder;
        const DecodeStep step = decoder.next(Bytes(wire).first(cut));
        ASSERT_EQ(step.status, DecodeStatus::need_more) << sample.label << " cut " << cut;
        ASSERT_EQ(step.consumed, cut);
        const DecodeError end = decoder.finish();
        EXPECT_EQ(end.code, WireError::truncated) << sample.label << " cut " << cut;
        EXPECT_EQ(end.offset, 0u);
      }
      FrameDecoder empty;
      EXPECT_EQ(empty.next({}).status, DecodeStatus::need_more);
      EXPECT_EQ(empty.finish().code, WireError::none);
    }
  }
}

TEST(WireErrors, EncoderAndDecoderShareOneValidator) {
  // validate_frame is what the decoder applies, so frames it rejects never decode.
  Frame frame{.op = Op::request, .mux = 0, .handler = 7};
  EXPECT_EQ(validate_frame(frame, {}).code, WireError::invalid_field);
  EXPECT_EQ(validate_frame(frame, {}).element, 2);
  frame.mux = 2;
  EXPECT_EQ(validate_frame(frame, {}).code, WireError::none);
  frame.flags = flag::kMore;  // defined for requests
  EXPECT_EQ(validate_frame(frame, {}).code, WireError::none);
  frame.flags = 2;
  EXPECT_EQ(validate_frame(frame, {}).code, WireError::unknown_flags);
}

}  // namespace
}  // namespace weft
