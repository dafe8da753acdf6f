// The decoder's short way through integer headers (core/src/integer_header.hpp) against its
// general parser: the same header bytes framed twice, once as a fixarray (the short way may
// take it) and once as an array 16 (the short way always declines, so the general parser
// reads it), must decode to the same frame or fail with the same error.
#include "integer_header.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

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
std::vector<Element> gen_elements() {
  const std::span<const OpSchema> schemas = all_schemas();
  const auto op = *rc::gen::weightedOneOf<std::uint64_t>({
      {9, rc::gen::map(rc::gen::inRange<std::size_t>(0, schemas.size()),
                       [schemas](std::size_t i) { return std::uint64_t(schemas[i].op); })},
      {1, rc::gen::inRange<std::uint64_t>(0, 0x140)},
  });
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
}

}  // namespace
}  // namespace weft::detail
