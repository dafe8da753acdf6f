// The decoder's short way through integer headers (core/src/integer_header.hpp) against its
// general parser: the same header bytes framed twice, once as a fixarray (the short way may
// take it) and once as an array 16 (the short way always declines, so the general parser
// reads it), must decode to the same frame or fail with the same error. And the decoder's
// short way for a whole frame against its gathering path, under varied options.
#include "integer_header.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "weft/bytes.hpp"
#include "weft/wire.hpp"

namespace weft::detail {
namespace {

// One header element: a value and how it is written.
enum class Form { minimal, wider, signed_int, negative, text, cut };

struct Element {
  std::uint64_t value = 0;
  Form form = Form::minimal;
};

void put_be(std::vector<std::uint8_t>& out, std::uint64_t value, std::size_t width) {
  for (std::size_t i = width; i-- > 0;)
    out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// The smallest unsigned format index that holds `value`: 0 fixint, 1 u8, 2 u16, 3 u32, 4 u64.
int minimal_format(std::uint64_t value) {
  if (value < 0x80) return 0;
  if (value <= 0xff) return 1;
  if (value <= 0xffff) return 2;
  if (value <= 0xffffffff) return 3;
  return 4;
}

void put_uint(std::vector<std::uint8_t>& out, std::uint64_t value, int format) {
  if (format == 0) return out.push_back(static_cast<std::uint8_t>(value));
  const std::size_t width = std::size_t{1} << (format - 1);
  out.push_back(static_cast<std::uint8_t>(0xcc + format - 1));
  put_be(out, value, width);
}

// Appends `element`; a cut element ends the header inside its integer.
void put_element(std::vector<std::uint8_t>& out, const Element& element) {
  const int minimal = minimal_format(element.value);
  switch (element.form) {
    case Form::minimal:
      return put_uint(out, element.value, minimal);
    case Form::wider:
      return put_uint(out, element.value, minimal == 4 ? 4 : minimal + 1);
    case Form::signed_int:  // int 64 of a value below 2^63: still an unsigned value
      out.push_back(0xd3);
      return put_be(out, element.value & 0x7fffffffffffffff, 8);
    case Form::negative:
      return out.push_back(0xff);
    case Form::text:
      out.push_back(0xa1);
      return out.push_back('x');
    case Form::cut:
      out.push_back(0xce);
      return put_be(out, element.value, 2);
  }
}

// A whole checksummed frame around `header` and `payload`.
std::vector<std::uint8_t> frame_of(const std::vector<std::uint8_t>& header,
                                   const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> frame{kFrameMagic, kFrameFlagChecksum};
  put_be(frame, header.size(), 2);
  put_be(frame, header.size() + payload.size() + kChecksumBytes, 4);
  frame.insert(frame.end(), header.begin(), header.end());
  frame.insert(frame.end(), payload.begin(), payload.end());
  put_be(frame, checksum64(frame), 8);
  return frame;
}

rc::Gen<std::uint64_t> gen_value(std::uint64_t bound) {
  return rc::gen::weightedOneOf<std::uint64_t>({
      {6, rc::gen::inRange<std::uint64_t>(0, 0x80)},
      {2,
       rc::gen::elementOf(std::vector<std::uint64_t>{bound, bound + 1, 0xff, 0x100, 0xffff, 0x10000,
                                                     0xffffffff, 0x100000000, UINT64_MAX})},
      {2, rc::gen::arbitrary<std::uint64_t>()},
  });
}

rc::Gen<Form> gen_form() {
  return rc::gen::weightedOneOf<Form>({
      {20, rc::gen::just(Form::minimal)},
      {4, rc::gen::just(Form::wider)},
      {1, rc::gen::just(Form::signed_int)},
      {1, rc::gen::just(Form::negative)},
      {1, rc::gen::just(Form::text)},
      {1, rc::gen::just(Form::cut)},
  });
}

// The elements of a header: mostly a known op with its count of fields, each within or
// just past its bound.
std::vector<Element> gen_elements_of(std::uint64_t op);

std::vector<Element> gen_elements() {
  const std::span<const OpSchema> schemas = all_schemas();
  return gen_elements_of(*rc::gen::weightedOneOf<std::uint64_t>({
      {9, rc::gen::map(rc::gen::inRange<std::size_t>(0, schemas.size()),
                       [schemas](std::size_t i) { return std::uint64_t(schemas[i].op); })},
      {1, rc::gen::inRange<std::uint64_t>(0, 0x140)},
  }));
}

// The elements of a header whose first is `op`.
std::vector<Element> gen_elements_of(std::uint64_t op) {
  const OpSchema* schema = find_schema(op);
  const std::size_t fields = schema == nullptr ? 3 : schema->fields.size();
  const auto count = *rc::gen::weightedOneOf<std::size_t>({
      {9, rc::gen::just(4 + fields)},
      {1, rc::gen::inRange<std::size_t>(0, 16)},
  });
  std::vector<Element> elements;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t bound = UINT64_MAX;
    if (i == 1) bound = 0xffff;
    if (i >= 4 && schema != nullptr && i - 4 < fields)
      bound = field_info(schema->fields[i - 4]).max;
    Element element{i == 0 ? op : *gen_value(bound), *gen_form()};
    // Flags mostly none, mux and seq mostly small: many frames pass validation too.
    if (i == 1 && *rc::gen::inRange(0, 4) != 0) element.value = 0;
    if ((i == 2 || i == 3) && *rc::gen::inRange(0, 4) != 0)
      element.value = *rc::gen::element<std::uint64_t>(0, 1, 5);
    elements.push_back(element);
  }
  return elements;
}

std::vector<std::uint8_t> header_of(const std::vector<Element>& elements, bool array16) {
  std::vector<std::uint8_t> header;
  if (array16) {
    header.push_back(0xdc);
    put_be(header, elements.size(), 2);
  } else {
    header.push_back(static_cast<std::uint8_t>(0x90 | elements.size()));
  }
  for (const Element& element : elements)
    put_element(header, element);
  return header;
}

RC_GTEST_PROP(IntegerHeader, DecodesAsTheGeneralParserDoes, ()) {
  const std::vector<Element> elements = gen_elements();
  const auto payload = *rc::gen::container<std::vector<std::uint8_t>>(
      *rc::gen::inRange<std::size_t>(0, 3), rc::gen::arbitrary<std::uint8_t>());
  const std::vector<std::uint8_t> fix_header = header_of(elements, false);
  const std::vector<std::uint8_t> wide_header = header_of(elements, true);

  Frame short_way;
  const bool taken = parse_integer_header(fix_header.data(), fix_header.size(), short_way);
  RC_CLASSIFY(taken, "short way");

  const DecoderOptions options;
  DecodeError fix_error;
  DecodeError wide_error;
  const std::vector<std::uint8_t> fix_frame = frame_of(fix_header, payload);
  const std::vector<std::uint8_t> wide_frame = frame_of(wide_header, payload);
  const std::optional<Frame> fix = decode_one(fix_frame, options, &fix_error);
  const std::optional<Frame> wide = decode_one(wide_frame, options, &wide_error);
  RC_CLASSIFY(wide.has_value(), "valid frame");

  RC_ASSERT(fix.has_value() == wide.has_value());
  if (wide) {
    RC_ASSERT(*fix == *wide);
  } else {
    RC_ASSERT(fix_error.code == wide_error.code);
    // The array 16's tag is 2 bytes longer: an offset past the header's first byte moves by
    // that; the prefix's and the header's first byte do not.
    const std::uint64_t shift = fix_error.offset <= kPrefixBytes ? 0 : 2;
    RC_ASSERT(wide_error.offset == fix_error.offset + shift);
  }
  if (taken && wide) {
    // The short way alone reads what the general parser reads (the payload aside).
    short_way.checksum = wide->checksum;
    short_way.payload = wide->payload;
    RC_ASSERT(short_way == *wide);
  }
}

// The short way for requests and responses sent whole (parse_call_header) against the
// integer header's short way and validation: a header it takes, parse_integer_header takes to
// the same frame and validate_frame passes; and every header of a request or response that
// those two take with flags 0 and seq 0, it takes too (so real calls never miss it).
RC_GTEST_PROP(IntegerHeader, TheCallHeaderReadsAsTheIntegerHeaderAndValidationDo, ()) {
  const auto op = *rc::gen::weightedOneOf<std::uint64_t>({
      {4, rc::gen::just(std::uint64_t(Op::request))},
      {4, rc::gen::just(std::uint64_t(Op::response))},
      {1, rc::gen::inRange<std::uint64_t>(0, 0x80)},
  });
  std::vector<Element> elements = gen_elements_of(op);
  // Mostly whole calls: seq 0, as the encoder sends them.
  if (elements.size() > 3 && *rc::gen::inRange(0, 3) != 0) elements[3].value = 0;
  const std::vector<std::uint8_t> header = header_of(elements, false);
  const auto payload = *rc::gen::container<std::vector<std::uint8_t>>(
      *rc::gen::inRange<std::size_t>(0, 3), rc::gen::arbitrary<std::uint8_t>());

  Frame call;
  call.payload = Bytes(payload);
  const bool taken = parse_call_header(header.data(), header.size(), call);
  Frame general;
  general.payload = Bytes(payload);
  const OpSchema* schema = parse_integer_header(header.data(), header.size(), general);
  const bool valid =
      schema != nullptr && validate_frame(general, WireLimits{}).code == WireError::none;
  RC_CLASSIFY(taken, "call way");
  if (taken) {
    RC_ASSERT(valid);
    RC_ASSERT(call == general);
  }
  const bool whole_call = valid && (general.op == Op::request || general.op == Op::response) &&
                          general.flags == 0 && general.seq == 0;
  RC_ASSERT(taken == whole_call);
}

// How a decoder ended a stream: the frame it yielded, or its error.
struct Outcome {
  std::optional<OwnedFrame> frame;
  std::vector<std::uint8_t> frame_bytes;
  DecodeError error;
};

// Decodes `stream` fed whole (nearly every frame then takes the decoder's short way for a
// whole frame) or one byte at a time (the decoder gathers every frame, which only its
// general path does).
Outcome decode_stream(Bytes stream, const DecoderOptions& options, bool byte_by_byte) {
  FrameDecoder decoder(options);
  Outcome outcome;
  while (!stream.empty()) {
    const Bytes input = byte_by_byte ? stream.first(1) : stream;
    const DecodeStep step = decoder.next(input);
    stream = stream.subspan(step.consumed);
    if (step.status == DecodeStatus::error) break;
    if (step.status == DecodeStatus::frame) {
      outcome.frame.emplace(step.frame);
      outcome.frame_bytes.assign(step.frame_bytes.begin(), step.frame_bytes.end());
      return outcome;
    }
  }
  outcome.error = decoder.failed() ? decoder.error() : decoder.finish();
  return outcome;
}

// A valid frame of an op whose header is all integers, as the encoder writes it.
std::vector<std::uint8_t> gen_valid_frame(const std::vector<std::uint8_t>& payload, bool checksum) {
  std::vector<const OpSchema*> integer_ops;
  for (const OpSchema& schema : all_schemas()) {
    bool integers = true;
    for (Field field : schema.fields)
      integers = integers && field_info(field).kind == FieldKind::uint;
    if (integers) integer_ops.push_back(&schema);
  }
  // A third requests or responses: nearly all real traffic, read by parse_call_header.
  const OpSchema& schema = *rc::gen::inRange(0, 3) == 0
                               ? schema_of(*rc::gen::element(Op::request, Op::response))
                               : **rc::gen::elementOf(integer_ops);
  Frame frame{.op = schema.op, .checksum = checksum};
  if (!schema.connection_level) frame.mux = *rc::gen::inRange<std::uint64_t>(1, 1u << 20);
  // A request or response sent whole has seq 0 (check_total).
  const bool whole_payload = schema.op == Op::request || schema.op == Op::response;
  if (schema.uses_seq && !whole_payload) frame.seq = *gen_value(UINT64_MAX);
  for (Field field : schema.fields) {
    const std::uint64_t bound = std::min<std::uint64_t>(field_info(field).max, 1ull << 40);
    set_uint(frame, field, *rc::gen::inRange<std::uint64_t>(1, bound));
  }
  const bool payload_allowed = schema.payload_allowed && schema.op != Op::stream_open;
  if (payload_allowed) frame.payload = Bytes(payload);
  ByteBuffer encoded;
  encode_frame(encoded, frame);
  return {encoded.view().begin(), encoded.view().end()};
}

// The short way for a whole frame (FrameDecoder::decode_whole: the prefix, the integer
// header, validation and the checksum in one pass) against the general path: a frame, with
// or without checksum, under varied options and limits, perhaps with one byte changed,
// decodes to the same frame or fails with the same error at the same offset.
RC_GTEST_PROP(IntegerHeader, AWholeFrameDecodesAsTheGatheringDecoderDoes, ()) {
  const auto payload = *rc::gen::container<std::vector<std::uint8_t>>(
      *rc::gen::inRange<std::size_t>(0, 40), rc::gen::arbitrary<std::uint8_t>());
  const bool checksum = *rc::gen::inRange(0, 4) != 0;
  const bool from_encoder = *rc::gen::arbitrary<bool>();
  RC_CLASSIFY(from_encoder, "encoded");
  std::vector<std::uint8_t> frame = from_encoder
                                        ? gen_valid_frame(payload, checksum)
                                        : frame_of(header_of(gen_elements(), false), payload);
  if (!from_encoder && !checksum) {  // the same frame without its checksum
    frame.resize(frame.size() - kChecksumBytes);
    frame[1] = 0;
    const std::size_t body = frame.size() - kPrefixBytes;
    for (std::size_t i = 0; i < 4; ++i)
      frame[4 + i] = static_cast<std::uint8_t>(body >> (8 * (3 - i)));
  }
  if (*rc::gen::inRange(0, 3) == 0) {
    const auto at = *rc::gen::inRange<std::size_t>(0, frame.size());
    frame[at] = *rc::gen::arbitrary<std::uint8_t>();
  }
  DecoderOptions options;
  options.require_checksum = *rc::gen::inRange(0, 4) == 0;
  options.verify_checksum = *rc::gen::inRange(0, 8) != 0;
  if (*rc::gen::inRange(0, 4) == 0) {
    options.limits.max_header_bytes = *rc::gen::inRange<std::uint16_t>(1, 40);
    options.limits.max_frame_bytes = *rc::gen::inRange<std::uint32_t>(1, 100);
  }
  const Outcome whole = decode_stream(frame, options, false);
  const Outcome gathered = decode_stream(frame, options, true);
  RC_CLASSIFY(whole.frame.has_value(), "frame");
  RC_ASSERT(whole.frame.has_value() == gathered.frame.has_value());
  if (whole.frame) {
    RC_ASSERT(whole.frame->view() == gathered.frame->view());
    RC_ASSERT(whole.frame_bytes == gathered.frame_bytes);
  }
  RC_ASSERT(whole.error.code == gathered.error.code);
  RC_ASSERT(whole.error.offset == gathered.error.offset);
  RC_ASSERT(whole.error.message == gathered.error.message);
}

// Real traffic takes the short way: a request as the encoder writes it.
TEST(IntegerHeader, TakesARequestAsTheEncoderWritesIt) {
  const std::vector<std::uint8_t> payload{1, 2, 3};
  const Frame request{.op = Op::request,
                      .checksum = true,
                      .mux = 9,
                      .handler = 7,
                      .route = 0x1234567890,
                      .deadline_ms = 250,
                      .payload = Bytes(payload)};
  ByteBuffer encoded;
  encode_frame(encoded, request);
  const Bytes frame = encoded.view();
  const std::size_t header_bytes = (std::size_t{frame[2]} << 8) | frame[3];
  Frame read;
  ASSERT_TRUE(parse_integer_header(frame.data() + kPrefixBytes, header_bytes, read));
  read.checksum = true;
  read.payload = Bytes(payload);
  EXPECT_EQ(read, request);
  Frame call;
  ASSERT_TRUE(parse_call_header(frame.data() + kPrefixBytes, header_bytes, call));
  call.checksum = true;
  call.payload = Bytes(payload);
  EXPECT_EQ(call, request);
}

// And so does its answer, with any status.
TEST(IntegerHeader, TakesAResponseAsTheEncoderWritesIt) {
  for (const std::uint16_t status : {0, 1, 0x7f, 0x80, 0xffff}) {
    const Frame response{.op = Op::response, .mux = 1ull << 40, .status = status};
    ByteBuffer encoded;
    encode_frame(encoded, response);
    const Bytes frame = encoded.view();
    Frame call;
    ASSERT_TRUE(parse_call_header(frame.data() + kPrefixBytes, frame.size() - kPrefixBytes, call));
    EXPECT_EQ(call, response);
  }
}

}  // namespace
}  // namespace weft::detail
