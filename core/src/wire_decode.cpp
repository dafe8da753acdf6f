// The incremental frame decoder.
#include <algorithm>
#include <array>
#include <string>

#include "field_access.hpp"
#include "frame_checks.hpp"
#include "integer_header.hpp"
#include "invariant.hpp"
#include "message_text.hpp"
#include "msgpack_lite.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

// What the 8-byte prefix says.
struct Prefix {
  std::size_t total = 0;  // prefix + body
  std::size_t header_bytes = 0;
  bool has_checksum = false;

  std::size_t checksum_bytes() const { return has_checksum ? kChecksumBytes : 0; }
  // Where the payload starts and where it ends (the checksum, if any, follows).
  std::size_t payload_at() const { return kPrefixBytes + header_bytes; }
  std::size_t checksum_at() const { return total - checksum_bytes(); }
};

Prefix read_prefix(const std::uint8_t* p) {
  return {kPrefixBytes + mp::load_be32(p + 4), mp::load_be16(p + 2),
          (p[1] & kFrameFlagChecksum) != 0};
}

// Every rule of the prefix (docs/PROTOCOL.md) in one test with no text: the way every good
// frame goes. check_prefix names the first rule broken when this fails.
bool prefix_holds(const std::uint8_t* p, const Prefix& prefix, const DecoderOptions& options) {
  const WireLimits& limits = options.limits;
  const std::size_t body_bytes = prefix.total - kPrefixBytes;
  // A non-empty header within the body also means a non-empty body.
  return p[0] == kFrameMagic && (p[1] & ~kFrameFlagChecksum) == 0 && prefix.header_bytes != 0 &&
         prefix.header_bytes <= limits.max_header_bytes && body_bytes <= limits.max_frame_bytes &&
         prefix.header_bytes + prefix.checksum_bytes() <= body_bytes &&
         (prefix.has_checksum || !options.require_checksum);
}

// A failure found inside one frame; `at` is relative to the frame's first byte.
struct Failure {
  WireError code = WireError::none;
  std::size_t at = 0;
  detail::ShortText message;
};

using detail::decimal;
using detail::hex_byte;
using detail::ShortText;

Failure check_prefix(const std::uint8_t* p, const DecoderOptions& options, Prefix& prefix) {
  const Prefix read = read_prefix(p);
  if (prefix_holds(p, read, options)) {
    prefix = read;
    return {};
  }
  // A rule is broken: name the first, in the order PROTOCOL.md gives them.
  const WireLimits& limits = options.limits;
  if (p[0] != kFrameMagic) {
    return {WireError::bad_magic, 0,
            ShortText{"frame starts with ", hex_byte(p[0]), ", expected 0x77"}};
  }
  if ((p[1] & ~kFrameFlagChecksum) != 0) {
    return {WireError::unknown_frame_flags, 1,
            ShortText{"frame flags ", hex_byte(p[1]), " has unknown bits"}};
  }
  const std::size_t header_bytes = read.header_bytes;
  const std::size_t body_bytes = read.total - kPrefixBytes;
  if (body_bytes == 0) return {WireError::zero_length, 4, {"body length is 0"}};
  if (body_bytes > limits.max_frame_bytes) {
    return {WireError::frame_too_large, 4,
            ShortText{"body length ", decimal(body_bytes), " exceeds limit ",
                      decimal(limits.max_frame_bytes)}};
  }
  if (header_bytes == 0) return {WireError::zero_length, 2, {"header length is 0"}};
  if (header_bytes > limits.max_header_bytes) {
    return {WireError::header_too_large, 2,
            ShortText{"header length ", decimal(header_bytes), " exceeds limit ",
                      decimal(limits.max_header_bytes)}};
  }
  const bool has_checksum = read.has_checksum;
  const std::size_t checksum_bytes = has_checksum ? kChecksumBytes : 0;
  if (header_bytes + checksum_bytes > body_bytes) {
    return {WireError::header_exceeds_body, 2,
            ShortText{"header length ", decimal(header_bytes),
                      has_checksum ? " plus 8 checksum bytes" : "", " exceeds body length ",
                      decimal(body_bytes)}};
  }
  if (options.require_checksum && !has_checksum) {
    return {
        WireError::checksum_missing, 1, {"frame has no checksum; this connection requires one"}};
  }
  // Not reached: prefix_holds is these rules in one test. The rules above decide.
  WEFT_ASSERT(false);
  prefix = read;
  return {};
}

// "str (0xa5)": the type of the item at `at`, for error messages.
ShortText describe_type(const std::uint8_t* at) {
  return {mp::type_name(*at), " (", hex_byte(*at), ")"};
}

// Parses the msgpack header of a frame whose prefix checked out.
class HeaderParser {
 public:
  HeaderParser(const std::uint8_t* frame_start, const Prefix& prefix, Frame& out)
      : start_(frame_start),
        reader_{frame_start + kPrefixBytes, frame_start + kPrefixBytes + prefix.header_bytes},
        out_(out) {}

  // Parses the header into the frame; on failure returns the first problem found.
  Failure parse() {
    if (!parse_elements()) return failure_;
    return {};
  }

  // Where header element `index` starts, relative to the frame (the header's start for
  // elements not read).
  std::size_t element_offset(int index) const {
    const std::size_t i = static_cast<std::size_t>(index);
    return i < count_ ? static_cast<std::size_t>(element_at_[i] - start_) : kPrefixBytes;
  }

 private:
  // Each step returns true when it went well; otherwise failure_ says what went wrong.
  // Every frame takes the success path, so it builds no Failure, and no string.
  bool parse_elements() {
    const std::uint8_t* header_at = reader_.pos;
    std::uint32_t elements = 0;
    if (mp::ReadStatus status = reader_.array_length(elements); status != mp::ReadStatus::ok) {
      return status == mp::ReadStatus::truncated
                 ? fail(WireError::header_truncated, {"header array length runs past the header"})
                 : fail(WireError::header_not_array,
                        ShortText{"header must be a msgpack array, found ",
                                  describe_type(reader_.pos).view()});
    }
    if (elements == 0) return fail_at(WireError::field_count, header_at, {"header array is empty"});
    std::uint64_t op = 0;
    if (!read_uint("op", 0xff, op)) return false;
    const OpSchema* schema = find_schema(op);
    if (schema == nullptr) {
      return fail_at(WireError::unknown_op, element_at_[0], ShortText{"unknown op ", decimal(op)});
    }
    out_.op = schema->op;
    const std::size_t expected = 4 + schema->fields.size();
    if (elements != expected) {
      return fail_at(WireError::field_count, header_at,
                     ShortText{schema->name, " has ", decimal(expected), " header elements, got ",
                               decimal(elements)});
    }
    std::uint64_t flags = 0;
    if (!read_uint("flags", 0xffff, flags)) return false;
    out_.flags = static_cast<std::uint16_t>(flags);
    if (!read_uint("mux", UINT64_MAX, out_.mux) || !read_uint("seq", UINT64_MAX, out_.seq)) {
      return false;
    }
    for (Field field : schema->fields) {
      if (!read_field(field)) return false;
    }
    if (reader_.pos != reader_.end) {
      return fail(WireError::header_trailing_bytes,
                  ShortText{decimal(reader_.left()), " bytes follow the header array"});
    }
    return true;
  }

  bool fail(WireError code, const ShortText& message) {
    return fail_at(code, reader_.pos, message);
  }
  bool fail_at(WireError code, const std::uint8_t* at, const ShortText& message) {
    failure_ = {code, static_cast<std::size_t>(at - start_), message};
    return false;
  }

  void mark() { element_at_[count_++] = reader_.pos; }

  // Every frame's header is mostly unsigned integers: a well-formed one within `max` takes
  // the short way; anything else, and every failure, the general one.
  bool read_uint(std::string_view what, std::uint64_t max, std::uint64_t& value) {
    std::uint64_t read = 0;
    const std::uint8_t* after = detail::read_plain_uint(reader_.pos, reader_.end, read);
    if (after == nullptr || read > max) return read_uint_general(what, max, value);
    mark();
    value = read;
    reader_.pos = after;
    return true;
  }

  bool read_uint_general(std::string_view what, std::uint64_t max, std::uint64_t& value) {
    mark();
    switch (reader_.unsigned_int(value)) {
      case mp::ReadStatus::ok:
        break;
      case mp::ReadStatus::truncated:
        return fail(WireError::header_truncated, ShortText{what, " runs past the header"});
      case mp::ReadStatus::negative:
        return fail(WireError::integer_out_of_range, ShortText{what, " is negative"});
      case mp::ReadStatus::wrong_type:
        return fail(WireError::wrong_type, ShortText{what, " must be an unsigned integer, found ",
                                                     describe_type(reader_.pos).view()});
    }
    if (value > max) {
      return fail_at(WireError::integer_out_of_range, element_at_[count_ - 1],
                     ShortText{what, " is ", decimal(value), ", above ", decimal(max)});
    }
    return true;
  }

  // Reads a str (text fields) or bin (blob fields) into the field's view.
  bool read_view(Field field) {
    const detail::FieldInfo& info = detail::field_info(field);
    const bool is_text = info.kind == detail::FieldKind::text;
    mark();
    std::string_view text;
    Bytes blob;
    const mp::ReadStatus status = is_text ? reader_.str(text) : reader_.bin(blob);
    switch (status) {
      case mp::ReadStatus::ok:
        detail::set_text(out_, field, is_text ? text : as_chars(blob));
        return true;
      case mp::ReadStatus::wrong_type:
        return fail(WireError::wrong_type,
                    ShortText{info.name, " must be a ", is_text ? "str" : "bin", ", found ",
                              describe_type(reader_.pos).view()});
      default:
        return fail(WireError::header_truncated, ShortText{info.name, " runs past the header"});
    }
  }

  bool read_field(Field field) {
    const detail::FieldInfo& info = detail::field_info(field);
    if (info.kind != detail::FieldKind::uint) return read_view(field);
    std::uint64_t value = 0;
    if (!read_uint(info.name, info.max, value)) return false;
    detail::set_uint(out_, field, value);
    return true;
  }

  const std::uint8_t* start_;
  mp::Reader reader_;
  Frame& out_;
  std::array<const std::uint8_t*, 16> element_at_;  // only the first count_ are set and read
  std::size_t count_ = 0;
  Failure failure_;
};

// Decodes a whole frame whose prefix checked out into `out`, a default Frame: checksum,
// header, semantics.
Failure parse_frame(Bytes frame_bytes, const Prefix& prefix, const DecoderOptions& options,
                    Frame& out) {
  WEFT_ASSERT(frame_bytes.size() == prefix.total);
  const std::uint8_t* p = frame_bytes.data();
  const std::size_t checksum_at = prefix.checksum_at();
  if (prefix.has_checksum && options.verify_checksum) {
    const std::uint64_t carried = mp::load_be64(p + checksum_at);
    const std::uint64_t computed = checksum64({p, checksum_at});
    if (carried != computed) {
      return {WireError::checksum_mismatch, checksum_at,
              ShortText{"checksum ", detail::Hex8(p + checksum_at).view(),
                        " does not match the frame's xxh3-64"}};
    }
  }
  out.checksum = prefix.has_checksum;
  const bool integer_header =
      detail::parse_integer_header(p + kPrefixBytes, prefix.header_bytes, out) != nullptr;
  if (!integer_header) {
    HeaderParser parser(p, prefix, out);
    if (Failure f = parser.parse(); f.code != WireError::none) return f;
  }
  const std::size_t payload_at = prefix.payload_at();
  out.payload = {p + payload_at, checksum_at - payload_at};
  FrameFault fault = validate_frame(out, options.limits);
  if (fault.code == WireError::none) return {};
  if (fault.element < 0) return {fault.code, payload_at, {fault.detail}};
  // The offending element's offset: the short way kept none, so the general parser reads
  // the header again (it parses, since the short way took it).
  Frame again;
  HeaderParser parser(p, prefix, again);
  [[maybe_unused]] const Failure reparsed = parser.parse();
  WEFT_ASSERT(reparsed.code == WireError::none && again.op == out.op);
  return {fault.code, parser.element_offset(fault.element), {fault.detail}};
}

}  // namespace

Bytes frame_header_bytes(Bytes frame_bytes) {
  WEFT_ASSERT(frame_bytes.size() >= kPrefixBytes);
  const std::size_t header_bytes = mp::load_be16(frame_bytes.data() + 2);
  WEFT_ASSERT(kPrefixBytes + header_bytes <= frame_bytes.size());
  return frame_bytes.subspan(kPrefixBytes, header_bytes);
}

FrameDecoder::FrameDecoder(DecoderOptions options) : options_(options) {}

void FrameDecoder::reset(const DecoderOptions& options) {
  options_ = options;
  set_error(WireError::none, 0, {});
  frame_offset_ = 0;
  frame_total_ = 0;
  gathered_.clear();
  release_gathered_ = false;
}

DecodeStep FrameDecoder::fail(WireError code, std::uint64_t offset, std::string_view message) {
  set_error(code, offset, message);
  return {DecodeStatus::error, 0, {}};
}

void FrameDecoder::set_error(WireError code, std::uint64_t offset, std::string_view message) {
  error_.code = code;
  error_.offset = offset;
  error_.message.assign(message);  // reuses the string's memory
}

DecodeStep FrameDecoder::next(Bytes input) {
  // One DecodeStep, returned on both paths, so that it is built in the caller's place.
  DecodeStep step;
  if (!failed() && !release_gathered_ && gathered_.empty() && decode_whole(input, step)) {
    return step;
  }
  step = next_general(input);
  return step;
}

bool FrameDecoder::decode_whole(Bytes input, DecodeStep& step) {
  if (input.size() < kPrefixBytes) return false;
  const std::uint8_t* p = input.data();
  const Prefix prefix = read_prefix(p);
  // A prefix that breaks a rule declines, and check_prefix names the rule.
  if (!prefix_holds(p, prefix, options_) || input.size() < prefix.total) return false;
  Frame& frame = step.frame;
  const std::size_t payload_at = prefix.payload_at();
  const std::size_t checksum_at = prefix.checksum_at();
  frame.checksum = prefix.has_checksum;
  frame.payload = {p + payload_at, checksum_at - payload_at};
  // A request or response sent whole comes out of parse_call_header already valid.
  if (!detail::parse_call_header(p + kPrefixBytes, prefix.header_bytes, frame)) {
    const OpSchema* schema =
        detail::parse_integer_header(p + kPrefixBytes, prefix.header_bytes, frame);
    if (schema == nullptr ||
        detail::validate_frame_with(frame, *schema, options_.limits).code != WireError::none) {
      return false;
    }
  }
  // Last, since it costs the most: a frame declined above is not hashed twice.
  if (prefix.has_checksum && options_.verify_checksum &&
      mp::load_be64(p + checksum_at) != checksum64({p, checksum_at})) {
    return false;
  }
  frame_offset_ += prefix.total;
  step.status = DecodeStatus::frame;
  step.consumed = prefix.total;
  step.frame_bytes = input.first(prefix.total);
  return true;
}

DecodeStep FrameDecoder::next_general(Bytes input) {
  if (failed()) return {DecodeStatus::error, 0, {}};
  if (release_gathered_) {
    gathered_.clear();
    release_gathered_ = false;
  }
  return gathered_.empty() ? next_in_place(input) : next_gathered(input);
}

DecodeStep FrameDecoder::next_in_place(Bytes input) {
  if (input.size() < kPrefixBytes) {
    gathered_.assign(input.begin(), input.end());
    frame_total_ = 0;
    return {DecodeStatus::need_more, input.size(), {}};
  }
  Prefix prefix;
  if (Failure f = check_prefix(input.data(), options_, prefix); f.code != WireError::none) {
    return fail(f.code, frame_offset_ + f.at, f.message.view());
  }
  if (input.size() >= prefix.total) {
    return decode_complete(input.first(prefix.total), prefix.total);
  }
  // The frame continues in a later input: gather it, allocating its validated size once.
  gathered_.reserve(prefix.total);
  gathered_.assign(input.begin(), input.end());
  frame_total_ = prefix.total;
  return {DecodeStatus::need_more, input.size(), {}};
}

DecodeStep FrameDecoder::next_gathered(Bytes input) {
  std::size_t consumed = 0;
  if (frame_total_ == 0) {
    const std::size_t take = std::min(kPrefixBytes - gathered_.size(), input.size());
    gathered_.insert(gathered_.end(), input.begin(), input.begin() + static_cast<long>(take));
    consumed = take;
    if (gathered_.size() < kPrefixBytes) return {DecodeStatus::need_more, consumed, {}};
    Prefix prefix;
    if (Failure f = check_prefix(gathered_.data(), options_, prefix); f.code != WireError::none) {
      return fail(f.code, frame_offset_ + f.at, f.message.view());
    }
    frame_total_ = prefix.total;
    gathered_.reserve(frame_total_);
  }
  const std::size_t take = std::min(frame_total_ - gathered_.size(), input.size() - consumed);
  gathered_.insert(gathered_.end(), input.begin() + static_cast<long>(consumed),
                   input.begin() + static_cast<long>(consumed + take));
  consumed += take;
  if (gathered_.size() < frame_total_) return {DecodeStatus::need_more, consumed, {}};
  frame_total_ = 0;
  // Checked again: the options may have changed (set_options) since the prefix arrived.
  Prefix prefix;
  if (Failure f = check_prefix(gathered_.data(), options_, prefix); f.code != WireError::none) {
    gathered_.clear();
    return fail(f.code, frame_offset_ + f.at, f.message.view());
  }
  release_gathered_ = true;  // the frame's views point into gathered_ until the next call
  return decode_complete(gathered_, consumed);
}

DecodeStep FrameDecoder::decode_complete(Bytes frame_bytes, std::size_t consumed) {
  // Both callers checked the prefix (check_prefix) before they knew the frame was whole.
  const std::uint8_t* p = frame_bytes.data();
  const Prefix prefix = read_prefix(p);
  WEFT_ASSERT(prefix.total == frame_bytes.size());
  // One DecodeStep, returned on every path, so that it is built in the caller's place.
  DecodeStep step{DecodeStatus::frame, consumed, {}};
  const Failure f = parse_frame(frame_bytes, prefix, options_, step.frame);
  if (f.code != WireError::none) {
    release_gathered_ = false;
    gathered_.clear();
    set_error(f.code, frame_offset_ + f.at, f.message.view());
    step.status = DecodeStatus::error;
    step.consumed = 0;
    step.frame = Frame{};
    return step;
  }
  frame_offset_ += frame_bytes.size();
  step.frame_bytes = frame_bytes;
  return step;
}

DecodeError FrameDecoder::finish() const {
  if (failed() || release_gathered_ || gathered_.empty()) return error_;
  const std::size_t need = frame_total_ == 0 ? kPrefixBytes : frame_total_;
  const ShortText message{"stream ends inside a frame: have ", decimal(gathered_.size()),
                          " of its ", frame_total_ == 0 ? "8 prefix" : decimal(need), " bytes"};
  return {WireError::truncated, frame_offset_, std::string(message.view())};
}

std::optional<Frame> decode_one(Bytes frame_bytes, const DecoderOptions& options,
                                DecodeError* error) {
  FrameDecoder decoder(options);
  DecodeStep step = decoder.next(frame_bytes);
  if (step.status == DecodeStatus::frame) return step.frame;
  if (error != nullptr) {
    *error = step.status == DecodeStatus::error ? decoder.error() : decoder.finish();
  }
  return std::nullopt;
}

}  // namespace weft
