// The incremental frame decoder.
#include <algorithm>
#include <array>
#include <cassert>
#include <string>

#include "field_access.hpp"
#include "msgpack_lite.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

// What the 8-byte prefix says, once it checked out.
struct Prefix {
  std::size_t total = 0;  // prefix + body
  std::size_t header_bytes = 0;
  bool has_checksum = false;
};

// A failure found inside one frame; `at` is relative to the frame's first byte.
struct Failure {
  WireError code = WireError::none;
  std::size_t at = 0;
  std::string message;
};

std::string hex_byte(std::uint8_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[value >> 4] + kDigits[value & 0x0f];
}

Failure check_prefix(const std::uint8_t* p, const DecoderOptions& options, Prefix& prefix) {
  const WireLimits& limits = options.limits;
  if (p[0] != kFrameMagic) {
    return {WireError::bad_magic, 0, "frame starts with " + hex_byte(p[0]) + ", expected 0x77"};
  }
  if ((p[1] & ~kFrameFlagChecksum) != 0) {
    return {WireError::unknown_frame_flags, 1,
            "frame flags " + hex_byte(p[1]) + " has unknown bits"};
  }
  const std::size_t header_bytes = mp::load_be16(p + 2);
  const std::size_t body_bytes = mp::load_be32(p + 4);
  if (body_bytes == 0) return {WireError::zero_length, 4, "body length is 0"};
  if (body_bytes > limits.max_frame_bytes) {
    return {WireError::frame_too_large, 4,
            "body length " + std::to_string(body_bytes) + " exceeds limit " +
                std::to_string(limits.max_frame_bytes)};
  }
  if (header_bytes == 0) return {WireError::zero_length, 2, "header length is 0"};
  if (header_bytes > limits.max_header_bytes) {
    return {WireError::header_too_large, 2,
            "header length " + std::to_string(header_bytes) + " exceeds limit " +
                std::to_string(limits.max_header_bytes)};
  }
  const bool has_checksum = (p[1] & kFrameFlagChecksum) != 0;
  const std::size_t checksum_bytes = has_checksum ? kChecksumBytes : 0;
  if (header_bytes + checksum_bytes > body_bytes) {
    return {WireError::header_exceeds_body, 2,
            "header length " + std::to_string(header_bytes) +
                (has_checksum ? " plus 8 checksum bytes" : "") + " exceeds body length " +
                std::to_string(body_bytes)};
  }
  if (options.require_checksum && !has_checksum) {
    return {WireError::checksum_missing, 1, "frame has no checksum; this connection requires one"};
  }
  prefix = {kPrefixBytes + body_bytes, header_bytes, has_checksum};
  return {};
}

// "str (0xa5)": the type of the item at `at`, for error messages.
std::string describe_type(const std::uint8_t* at) {
  return std::string(mp::type_name(*at)) + " (" + hex_byte(*at) + ")";
}

// Parses the msgpack header of a frame whose prefix checked out.
class HeaderParser {
 public:
  HeaderParser(const std::uint8_t* frame_start, const Prefix& prefix, Frame& out)
      : start_(frame_start),
        reader_{frame_start + kPrefixBytes, frame_start + kPrefixBytes + prefix.header_bytes},
        out_(out) {}

  Failure parse() {
    const std::uint8_t* header_at = reader_.pos;
    std::uint32_t elements = 0;
    if (mp::ReadStatus status = reader_.array_length(elements); status != mp::ReadStatus::ok) {
      return status == mp::ReadStatus::truncated
                 ? failure(WireError::header_truncated, "header array length runs past the header")
                 : failure(WireError::header_not_array,
                           "header must be a msgpack array, found " + describe_type(reader_.pos));
    }
    if (elements == 0)
      return failure_at(WireError::field_count, header_at, "header array is empty");
    std::uint64_t op = 0;
    if (Failure f = read_uint("op", 0xff, op); f.code != WireError::none) return f;
    const OpSchema* schema = find_schema(op);
    if (schema == nullptr) {
      return failure_at(WireError::unknown_op, element_at_[0], "unknown op " + std::to_string(op));
    }
    out_.op = schema->op;
    const std::size_t expected = 4 + schema->fields.size();
    if (elements != expected) {
      return failure_at(WireError::field_count, header_at,
                        std::string(schema->name) + " has " + std::to_string(expected) +
                            " header elements, got " + std::to_string(elements));
    }
    std::uint64_t value = 0;
    if (Failure f = read_uint("flags", 0xffff, value); f.code != WireError::none) return f;
    out_.flags = static_cast<std::uint16_t>(value);
    if (Failure f = read_uint("mux", UINT64_MAX, out_.mux); f.code != WireError::none) return f;
    if (Failure f = read_uint("seq", UINT64_MAX, out_.seq); f.code != WireError::none) return f;
    for (Field field : schema->fields) {
      if (Failure f = read_field(field); f.code != WireError::none) return f;
    }
    if (reader_.pos != reader_.end) {
      return failure(WireError::header_trailing_bytes,
                     std::to_string(reader_.left()) + " bytes follow the header array");
    }
    return {};
  }

  // Where header element `index` starts, relative to the frame (the header's start for
  // elements not read).
  std::size_t element_offset(int index) const {
    const std::size_t i = static_cast<std::size_t>(index);
    return i < count_ ? static_cast<std::size_t>(element_at_[i] - start_) : kPrefixBytes;
  }

 private:
  Failure failure(WireError code, std::string message) const {
    return failure_at(code, reader_.pos, std::move(message));
  }
  Failure failure_at(WireError code, const std::uint8_t* at, std::string message) const {
    return {code, static_cast<std::size_t>(at - start_), std::move(message)};
  }

  void mark() { element_at_[count_++] = reader_.pos; }

  Failure read_uint(std::string_view what, std::uint64_t max, std::uint64_t& value) {
    mark();
    switch (reader_.unsigned_int(value)) {
      case mp::ReadStatus::ok:
        break;
      case mp::ReadStatus::truncated:
        return failure(WireError::header_truncated, std::string(what) + " runs past the header");
      case mp::ReadStatus::negative:
        return failure(WireError::integer_out_of_range, std::string(what) + " is negative");
      case mp::ReadStatus::wrong_type:
        return failure(WireError::wrong_type, std::string(what) +
                                                  " must be an unsigned integer, found " +
                                                  describe_type(reader_.pos));
    }
    if (value > max) {
      return failure_at(
          WireError::integer_out_of_range, element_at_[count_ - 1],
          std::string(what) + " is " + std::to_string(value) + ", above " + std::to_string(max));
    }
    return {};
  }

  // Reads a str (text fields) or bin (blob fields) into the field's view.
  Failure read_view(Field field) {
    const detail::FieldInfo& info = detail::field_info(field);
    const bool is_text = info.kind == detail::FieldKind::text;
    mark();
    std::string_view text;
    Bytes blob;
    const mp::ReadStatus status = is_text ? reader_.str(text) : reader_.bin(blob);
    switch (status) {
      case mp::ReadStatus::ok:
        detail::set_text(out_, field, is_text ? text : as_chars(blob));
        return {};
      case mp::ReadStatus::wrong_type:
        return failure(WireError::wrong_type, std::string(info.name) + " must be a " +
                                                  (is_text ? "str" : "bin") + ", found " +
                                                  describe_type(reader_.pos));
      default:
        return failure(WireError::header_truncated,
                       std::string(info.name) + " runs past the header");
    }
  }

  Failure read_field(Field field) {
    const detail::FieldInfo& info = detail::field_info(field);
    if (info.kind != detail::FieldKind::uint) return read_view(field);
    std::uint64_t value = 0;
    Failure f = read_uint(info.name, info.max, value);
    if (f.code == WireError::none) detail::set_uint(out_, field, value);
    return f;
  }

  const std::uint8_t* start_;
  mp::Reader reader_;
  Frame& out_;
  std::array<const std::uint8_t*, 16> element_at_{};
  std::size_t count_ = 0;
};

// Decodes a whole frame whose prefix checked out: checksum, header, semantics.
Failure parse_frame(Bytes frame_bytes, const Prefix& prefix, const DecoderOptions& options,
                    Frame& out) {
  assert(frame_bytes.size() == prefix.total);
  const std::uint8_t* p = frame_bytes.data();
  const std::size_t checksum_bytes = prefix.has_checksum ? kChecksumBytes : 0;
  const std::size_t checksum_at = prefix.total - checksum_bytes;
  if (prefix.has_checksum && options.verify_checksum) {
    const std::uint64_t carried = mp::load_be64(p + checksum_at);
    const std::uint64_t computed = checksum64({p, checksum_at});
    if (carried != computed) {
      return {
          WireError::checksum_mismatch, checksum_at,
          "checksum " + to_hex(Bytes{p + checksum_at, 8}) + " does not match the frame's xxh3-64"};
    }
  }
  out = Frame{};
  out.checksum = prefix.has_checksum;
  HeaderParser parser(p, prefix, out);
  if (Failure f = parser.parse(); f.code != WireError::none) return f;
  const std::size_t payload_at = kPrefixBytes + prefix.header_bytes;
  out.payload = {p + payload_at, checksum_at - payload_at};
  FrameFault fault = validate_frame(out, options.limits);
  if (fault.code != WireError::none) {
    const std::size_t at = fault.element < 0 ? payload_at : parser.element_offset(fault.element);
    return {fault.code, at, std::move(fault.detail)};
  }
  return {};
}

}  // namespace

FrameDecoder::FrameDecoder(DecoderOptions options) : options_(options) {}

DecodeStep FrameDecoder::fail(WireError code, std::uint64_t offset, std::string message) {
  error_ = {code, offset, std::move(message)};
  return {DecodeStatus::error, 0, {}};
}

DecodeStep FrameDecoder::next(Bytes input) {
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
    return fail(f.code, frame_offset_ + f.at, std::move(f.message));
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
      return fail(f.code, frame_offset_ + f.at, std::move(f.message));
    }
    frame_total_ = prefix.total;
    gathered_.reserve(frame_total_);
  }
  const std::size_t take = std::min(frame_total_ - gathered_.size(), input.size() - consumed);
  gathered_.insert(gathered_.end(), input.begin() + static_cast<long>(consumed),
                   input.begin() + static_cast<long>(consumed + take));
  consumed += take;
  if (gathered_.size() < frame_total_) return {DecodeStatus::need_more, consumed, {}};
  release_gathered_ = true;  // the frame's views point into gathered_ until the next call
  frame_total_ = 0;
  return decode_complete(gathered_, consumed);
}

DecodeStep FrameDecoder::decode_complete(Bytes frame_bytes, std::size_t consumed) {
  Prefix prefix;
  Failure f = check_prefix(frame_bytes.data(), options_, prefix);
  DecodeStep step{DecodeStatus::frame, consumed, {}};
  if (f.code == WireError::none) f = parse_frame(frame_bytes, prefix, options_, step.frame);
  if (f.code != WireError::none) {
    release_gathered_ = false;
    gathered_.clear();
    return fail(f.code, frame_offset_ + f.at, std::move(f.message));
  }
  frame_offset_ += frame_bytes.size();
  return step;
}

DecodeError FrameDecoder::finish() const {
  if (failed()) return error_;
  if (!release_gathered_ && !gathered_.empty()) {
    const std::size_t need = frame_total_ == 0 ? kPrefixBytes : frame_total_;
    return {WireError::truncated, frame_offset_,
            "stream ends inside a frame: have " + std::to_string(gathered_.size()) + " of its " +
                (frame_total_ == 0 ? "8 prefix" : std::to_string(need)) + " bytes"};
  }
  return {};
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
