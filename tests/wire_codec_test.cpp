// Round trips of every frame kind, zero-copy decoding, and the header checked a second
// way through msgpack-c (an independent msgpack implementation).
#include <gtest/gtest.h>

#include <msgpack.hpp>
#include <set>

#include "sample_frames.hpp"
#include "weft/frame_text.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::encode_to_vector;
using testing::sample_frame;
using testing::sample_frames;
using testing::with_checksum;

bool points_into(Bytes view, const std::vector<std::uint8_t>& buffer) {
  return view.empty() || (view.data() >= buffer.data() &&
                          view.data() + view.size() <= buffer.data() + buffer.size());
}

TEST(WireCodec, SamplesCoverEveryOp) {
  std::set<Op> seen;
  for (const auto& sample : sample_frames())
    seen.insert(sample.frame.view().op);
  EXPECT_EQ(seen.size(), all_schemas().size());
}

TEST(WireCodec, EveryKindRoundTripsWithAndWithoutChecksum) {
  for (const auto& sample : sample_frames()) {
    for (bool checksum : {false, true}) {
      SCOPED_TRACE(sample.label + (checksum ? " +cksum" : ""));
      const OwnedFrame owned = with_checksum(sample.frame, checksum);
      const Frame frame = owned.view();
      ASSERT_EQ(validate_frame(frame, {}).code, WireError::none);
      const std::vector<std::uint8_t> wire = encode_to_vector(frame);
      EXPECT_EQ(wire.size(), encoded_size(frame));
      EXPECT_EQ(wire[0], kFrameMagic);
      EXPECT_EQ(wire[1], checksum ? kFrameFlagChecksum : 0);
      DecodeError error;
      const std::optional<Frame> decoded = decode_one(wire, {}, &error);
      ASSERT_TRUE(decoded.has_value()) << error.message;
      EXPECT_EQ(*decoded, frame) << format_frame(*decoded);
    }
  }
}

TEST(WireCodec, WholeFramesDecodeInPlaceWithoutCopying) {
  // Several frames in one buffer: every view of every frame points into the input.
  std::vector<std::uint8_t> stream;
  for (const auto& sample : sample_frames()) {
    const auto wire = encode_to_vector(with_checksum(sample.frame, true).view());
    stream.insert(stream.end(), wire.begin(), wire.end());
  }
  FrameDecoder decoder;
  Bytes input = stream;
  std::size_t frames = 0;
  while (!input.empty()) {
    DecodeStep step = decoder.next(input);
    ASSERT_EQ(step.status, DecodeStatus::frame) << decoder.error().message;
    EXPECT_TRUE(points_into(step.frame.payload, stream));
    EXPECT_TRUE(points_into(step.frame.nonce, stream));
    EXPECT_TRUE(points_into(as_bytes(step.frame.name), stream));
    input = input.subspan(step.consumed);
    ++frames;
  }
  EXPECT_EQ(frames, sample_frames().size());
  EXPECT_EQ(decoder.stream_offset(), stream.size());
  EXPECT_EQ(decoder.finish().code, WireError::none);
}

TEST(WireCodec, SplitFrameIsGatheredAndStaysValidUntilNextCall) {
  const OwnedFrame owned = sample_frame("request");  // request "hello"
  const auto wire = encode_to_vector(owned.view());
  FrameDecoder decoder;
  DecodeStep first = decoder.next(Bytes(wire).first(3));
  EXPECT_EQ(first.status, DecodeStatus::need_more);
  EXPECT_EQ(first.consumed, 3u);
  EXPECT_EQ(decoder.stream_offset(), 3u);
  EXPECT_EQ(decoder.finish().code, WireError::truncated);
  DecodeStep second = decoder.next(Bytes(wire).subspan(3));
  ASSERT_EQ(second.status, DecodeStatus::frame);
  EXPECT_EQ(second.consumed, wire.size() - 3);
  EXPECT_FALSE(points_into(second.frame.payload, wire));  // gathered copy
  EXPECT_EQ(second.frame, owned.view());
  EXPECT_EQ(decoder.stream_offset(), wire.size());
  EXPECT_EQ(decoder.finish().code, WireError::none);
}

// reset() starts a new stream: the error, the offset and a partly received frame are gone,
// and the next stream decodes from its first byte as with a new decoder.
TEST(WireCodec, ResetStartsANewStream) {
  const auto wire = encode_to_vector(sample_frame("request").view());
  FrameDecoder decoder;
  EXPECT_EQ(decoder.next(Bytes(wire).first(5)).status, DecodeStatus::need_more);
  EXPECT_EQ(decoder.finish().code, WireError::truncated);
  decoder.reset(DecoderOptions{});
  EXPECT_EQ(decoder.stream_offset(), 0u);
  EXPECT_EQ(decoder.finish().code, WireError::none);
  const std::uint8_t garbage[] = {0x00, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(decoder.next(garbage).status, DecodeStatus::error);
  EXPECT_EQ(decoder.error().code, WireError::bad_magic);
  DecoderOptions strict;
  strict.require_checksum = true;
  decoder.reset(strict);
  EXPECT_FALSE(decoder.failed());
  const DecodeStep step = decoder.next(wire);  // the sample carries no checksum
  EXPECT_EQ(step.status, DecodeStatus::error);
  EXPECT_EQ(decoder.error().code, WireError::checksum_missing);
  decoder.reset(DecoderOptions{});
  const DecodeStep again = decoder.next(wire);
  ASSERT_EQ(again.status, DecodeStatus::frame);
  EXPECT_EQ(again.frame, sample_frame("request").view());
  EXPECT_EQ(decoder.stream_offset(), wire.size());
}

TEST(WireCodec, EncoderUsesShortestIntegerForms) {
  // Each boundary value must take exactly the bytes msgpack's shortest form takes.
  struct Case {
    std::uint64_t mux;
    std::size_t bytes;
  };
  for (Case c :
       {Case{1, 1}, Case{127, 1}, Case{128, 2}, Case{255, 2}, Case{256, 3}, Case{65535, 3},
        Case{65536, 5}, Case{0xffffffffULL, 5}, Case{0x100000000ULL, 9}, Case{UINT64_MAX, 9}}) {
    const Frame frame{.op = Op::cancel, .mux = c.mux};
    // prefix + fixarray + op + flags + seq + mux
    EXPECT_EQ(encoded_size(frame), kPrefixBytes + 4 + c.bytes) << c.mux;
  }
}

// Unpacks the header with msgpack-c and checks it element by element against the frame.
void expect_header_matches(const std::vector<std::uint8_t>& wire, const Frame& frame) {
  const std::size_t header_bytes = (std::size_t{wire[2]} << 8) | wire[3];
  msgpack::object_handle handle =
      msgpack::unpack(reinterpret_cast<const char*>(wire.data() + kPrefixBytes), header_bytes);
  const msgpack::object& header = handle.get();
  ASSERT_EQ(header.type, msgpack::type::ARRAY);
  const OpSchema& schema = schema_of(frame.op);
  ASSERT_EQ(header.via.array.size, 4 + schema.fields.size());
  const msgpack::object* element = header.via.array.ptr;
  EXPECT_EQ(element[0].as<std::uint64_t>(), static_cast<std::uint64_t>(frame.op));
  EXPECT_EQ(element[1].as<std::uint64_t>(), frame.flags);
  EXPECT_EQ(element[2].as<std::uint64_t>(), frame.mux);
  EXPECT_EQ(element[3].as<std::uint64_t>(), frame.seq);
  for (std::size_t i = 0; i < schema.fields.size(); ++i) {
    const msgpack::object& item = element[4 + i];
    switch (schema.fields[i]) {
      case Field::name:
        EXPECT_EQ(item.as<std::string>(), frame.name);
        break;
      case Field::peer_name:
        EXPECT_EQ(item.as<std::string>(), frame.peer_name);
        break;
      case Field::nonce:
        ASSERT_EQ(item.type, msgpack::type::BIN);
        EXPECT_TRUE(bytes_equal(
            {reinterpret_cast<const std::uint8_t*>(item.via.bin.ptr), item.via.bin.size},
            frame.nonce));
        break;
      default:
        EXPECT_EQ(item.type, msgpack::type::POSITIVE_INTEGER);
        break;
    }
  }
}

TEST(WireCodec, HeaderIsPlainMsgpackAsSeenByMsgpackC) {
  for (const auto& sample : sample_frames()) {
    SCOPED_TRACE(sample.label);
    const auto wire = encode_to_vector(sample.frame.view());
    expect_header_matches(wire, sample.frame.view());
  }
}

TEST(WireCodec, DecoderAcceptsNonShortestAndSignedNonNegativeIntegers) {
  // A header produced by msgpack-c with int64 types (as some encoders do) must decode.
  msgpack::sbuffer header;
  msgpack::packer<msgpack::sbuffer> pack(header);
  pack.pack_array(4);
  pack.pack_fix_int64(static_cast<std::int64_t>(Op::cancel));
  pack.pack_fix_uint32(0);
  pack.pack_fix_int16(300);
  pack.pack_fix_uint64(0);
  std::vector<std::uint8_t> wire{kFrameMagic, 0, 0, static_cast<std::uint8_t>(header.size()),
                                 0,           0, 0, static_cast<std::uint8_t>(header.size())};
  wire.insert(wire.end(), header.data(), header.data() + header.size());
  DecodeError error;
  const auto frame = decode_one(wire, {}, &error);
  ASSERT_TRUE(frame.has_value()) << error.message;
  EXPECT_EQ(frame->op, Op::cancel);
  EXPECT_EQ(frame->mux, 300u);
}

TEST(WireCodec, RouteIdIsXxh3OfTheRouteAndZeroForNone) {
  EXPECT_EQ(route_id(""), 0u);
  EXPECT_EQ(route_id("disk/1"), checksum64(as_bytes("disk/1")));
  EXPECT_NE(route_id("disk/1"), route_id("disk/2"));
}

TEST(WireCodec, TextFormParsesBackToTheSameFrame) {
  for (const auto& sample : sample_frames()) {
    const OwnedFrame owned = with_checksum(sample.frame, true);
    const Frame frame = owned.view();
    const std::string text = format_frame(frame);
    std::string error;
    const std::optional<OwnedFrame> parsed = parse_frame_text(text, &error);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << error;
    EXPECT_EQ(parsed->view(), frame) << text;
  }
  EXPECT_FALSE(parse_frame_text("bogus mux=1").has_value());
  EXPECT_FALSE(parse_frame_text("cancel mux=x").has_value());
  EXPECT_FALSE(parse_frame_text("request payload=abc..").has_value());
}

TEST(WireCodec, JsonFormNamesEveryField) {
  const OwnedFrame hello = sample_frame("hello");
  const std::string json = format_frame_json(hello.view(), 42, 4);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  for (const char* key :
       {"\"stream_offset\":42", "\"op\":\"hello\"", "\"name\":\"node-a\"",
        "\"peer_name\":\"node-b\"", "\"incarnation\":\"0x0123456789abcdef\"",
        "\"nonce\":\"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"",
        "\"len\":0"}) {
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
  }
}

// Names may hold any printable byte, '"' and a backslash too (PROTOCOL.md): the JSON form escapes
// them. Pasted between quotes as they were, a name such as `x","mux":9,"z":"` added fields
// to what weft-dump --json prints, and `no"e\a` was not JSON at all.
TEST(WireCodec, JsonFormEscapesQuotesAndBackslashesInNames) {
  OwnedFrame hello = sample_frame("hello");
  hello.set_name("x\",\"mux\":9,\"z\":\"");
  hello.set_peer_name("no\"e\\a");
  const std::string json = format_frame_json(hello.view(), 0, 4);
  EXPECT_NE(json.find(R"("name":"x\",\"mux\":9,\"z\":\"")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("peer_name":"no\"e\\a")"), std::string::npos) << json;
  EXPECT_EQ(json.find(R"(,"mux":9)"), std::string::npos) << json;
}

TEST(ByteBuffer, AppendConsumeAndReuse) {
  ByteBuffer buffer;
  buffer.append(as_bytes("hello "));
  buffer.append(as_bytes("world"));
  EXPECT_EQ(as_chars(buffer.view()), "hello world");
  buffer.consume(6);
  EXPECT_EQ(as_chars(buffer.view()), "world");
  std::uint8_t* tail = buffer.extend(3);
  tail[0] = '!';
  tail[1] = '?';
  tail[2] = '#';
  buffer.shrink_back(1);
  EXPECT_EQ(as_chars(buffer.view()), "world!?");
  buffer.consume(buffer.size());
  EXPECT_TRUE(buffer.empty());
  // Large appends grow, and the content survives growth and compaction.
  std::string big(100000, 'x');
  buffer.append(as_bytes(big));
  buffer.consume(99990);
  buffer.append(as_bytes(big));
  EXPECT_EQ(buffer.size(), 100010u);
  ByteBuffer moved = std::move(buffer);
  EXPECT_EQ(moved.size(), 100010u);
  moved.clear();
  moved.release_if_empty(0);
  EXPECT_EQ(moved.capacity(), 0u);
}

}  // namespace
}  // namespace weft
