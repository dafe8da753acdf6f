// Frame validation and the encoder.

#include <string>

#include "field_access.hpp"
#include "frame_checks.hpp"
#include "invariant.hpp"
#include "message_text.hpp"
#include "msgpack_lite.hpp"
#include "schema_table.hpp"
#include "weft/wire.hpp"
#include "xxh3_dispatch.hpp"

namespace weft {
namespace {

using detail::decimal;
using detail::join;

// Below this many bytes XXH3 runs scalar code whichever unit is present.
[[maybe_unused]] constexpr std::size_t kDispatchMinBytes = 1024;

std::size_t uint_bytes(std::uint64_t value) {
  if (value < 0x80) return 1;
  if (value <= 0xff) return 2;
  if (value <= 0xffff) return 3;
  if (value <= 0xffffffff) return 5;
  return 9;
}

// Bytes of a str or bin item of `length` bytes, shortest form.
std::size_t blob_bytes(std::size_t length, bool is_str) {
  if (is_str && length < 32) return 1 + length;
  if (length <= 0xff) return 2 + length;
  if (length <= 0xffff) return 3 + length;
  return 5 + length;
}

std::size_t field_bytes(const Frame& frame, Field field) {
  switch (detail::field_info(field).kind) {
    case detail::FieldKind::uint:
      return uint_bytes(detail::get_uint(frame, field));
    case detail::FieldKind::text:
      return blob_bytes(detail::get_text(frame, field).size(), true);
    case detail::FieldKind::blob:
      return blob_bytes(detail::get_text(frame, field).size(), false);
  }
  return 0;
}

void write_field(mp::Writer& out, const Frame& frame, Field field) {
  switch (detail::field_info(field).kind) {
    case detail::FieldKind::uint:
      out.unsigned_int(detail::get_uint(frame, field));
      return;
    case detail::FieldKind::text:
      out.str(detail::get_text(frame, field));
      return;
    case detail::FieldKind::blob:
      out.bin(as_bytes(detail::get_text(frame, field)));
      return;
  }
}

std::size_t header_bytes(const Frame& frame, const OpSchema& schema) {
  std::size_t total = 1 /* fixarray: at most 12 elements */ + 1 /* op < 128 */ +
                      uint_bytes(frame.flags) + uint_bytes(frame.mux) + uint_bytes(frame.seq);
  for (Field field : schema.fields)
    total += field_bytes(frame, field);
  return total;
}

// At least header_bytes(frame, schema), without walking the fields: an integer takes at
// most 9 bytes, a str or bin at most 5 plus its bytes (views the op does not carry count
// too: the bound may be loose, never short).
std::size_t header_bytes_bound(const Frame& frame, const OpSchema& schema) {
  constexpr std::size_t kViewFields = 3;  // name, peer_name, nonce
  return 1 + 9 * (4 + schema.fields.size()) + 5 * kViewFields + frame.name.size() +
         frame.peer_name.size() + frame.nonce.size();
}

bool valid_name_char(char c) {
  return c >= 0x21 && c <= 0x7e;
}

FrameFault fault(WireError code, int element, std::string detail) {
  return {code, element, std::move(detail)};
}

// The checks below return true when the value is fine and otherwise put the reason in
// `why`: on the success path (every frame sent or received) no string is built.

// Checks a node name (field `what`): 1..max bytes of printable ASCII without spaces.
bool check_name(std::string_view what, std::string_view name, const WireLimits& limits,
                std::string& why) {
  if (name.empty()) {
    why = join({what, " must not be empty"});
    return false;
  }
  if (name.size() > limits.max_name_bytes) {
    why = join(
        {what, " is ", decimal(name.size()), " bytes, limit ", decimal(limits.max_name_bytes)});
    return false;
  }
  for (char c : name) {
    if (!valid_name_char(c)) {
      why = join({what, " has a byte outside 0x21..0x7e"});
      return false;
    }
  }
  return true;
}

// A request or response in parts announces the whole payload's size in seq (at least this
// first part's); sent whole, its seq is 0.
bool check_total(const Frame& frame, std::string& why) {
  if (frame.op != Op::request && frame.op != Op::response) return true;
  const bool more = (frame.flags & flag::kMore) != 0;
  if (more ? frame.seq >= frame.payload.size() : frame.seq == 0) return true;
  const std::string_view name = op_name(static_cast<std::uint64_t>(frame.op));
  why = more ? join({name, " announces ", decimal(frame.seq), " bytes in all but carries ",
                     decimal(frame.payload.size())})
             : join({name, " without flag more needs seq 0"});
  return false;
}

// An object stream's numbers start at 1 and stay below 2^63, so they never wrap.
bool check_object_seq(const Frame& frame, std::string& why) {
  if (frame.op != Op::object_open || (frame.seq != 0 && frame.seq <= (1ull << 63))) return true;
  why = "object_open seq must be in 1..2^63";
  return false;
}

// Whether check_field has a rule for `field`: most fields (routes, offsets, deadlines) take
// any value, and skipping the call for them matters on every frame. A rule added to
// check_field must add its field here.
constexpr bool field_has_rule(Field field) {
  switch (field) {
    case Field::version_min:
    case Field::version_max:
    case Field::version:
    case Field::name:
    case Field::peer_name:
    case Field::max_frame_bytes:
    case Field::nonce:
    case Field::handler:
    case Field::status:
    case Field::credit_bytes:
    case Field::stream_key:
    case Field::size:
      return true;
    default:
      return false;
  }
}

// Checks the value of one of the op's fields (field_has_rule(field) holds).
bool check_field(const Frame& frame, Field field, const WireLimits& limits, std::string& why) {
  const auto fail = [&](std::string text) {
    why = std::move(text);
    return false;
  };
  switch (field) {
    case Field::version_min:
      return frame.version_min != 0 || fail("version_min must be at least 1");
    case Field::version_max:
      return frame.version_max >= frame.version_min || fail("version_max is below version_min");
    case Field::version:
      return frame.version != 0 || fail("version must be at least 1");
    case Field::name:
      return check_name("name", frame.name, limits, why);
    case Field::peer_name:
      return check_name("peer_name", frame.peer_name, limits, why);
    case Field::max_frame_bytes:
      return frame.max_frame_bytes >= kMinMaxFrameBytes || fail("max_frame_bytes is below 65536");
    case Field::nonce: {
      const std::size_t limit = std::min(limits.max_nonce_bytes, kNonceBytesCap);
      return frame.nonce.size() <= limit || fail(join({"nonce is ", decimal(frame.nonce.size()),
                                                       " bytes, limit ", decimal(limit)}));
    }
    case Field::handler:
      return frame.handler != 0 || fail("handler must not be 0");
    case Field::status:
      if (frame.op == Op::object_ack && (frame.flags & flag::kThrough) != 0)
        return frame.status == 0 || fail("object_ack with through needs status 0");
      return frame.status != 0 ||
             (frame.op != Op::reject && frame.op != Op::stream_reject &&
              frame.op != Op::stream_reset && frame.op != Op::object_reject) ||
             fail(
                 join({op_name(static_cast<std::uint64_t>(frame.op)), " needs a non-zero status"}));
    case Field::credit_bytes:
      return (frame.op != Op::stream_credit && frame.op != Op::object_credit) ||
             frame.credit_msgs != 0 || frame.credit_bytes != 0 ||
             fail(join({op_name(static_cast<std::uint64_t>(frame.op)), " grants nothing"}));
    case Field::stream_key:
      return frame.stream_key != 0 || fail("stream_key must not be 0");
    case Field::size:
      if (frame.op != Op::object_begin) return true;
      if ((frame.flags & flag::kEnds) != 0) {
        if ((frame.flags & flag::kSizeUnknown) != 0) return fail("ends excludes size_unknown");
        return frame.size == 0 || fail("size must be 0 when ends is set");
      }
      return (frame.flags & flag::kSizeUnknown) == 0 || frame.size == 0 ||
             fail("size must be 0 when size_unknown is set");
    default:
      return true;
  }
}

}  // namespace

std::uint64_t checksum64(Bytes bytes) {
#if WEFT_XXH3_DISPATCH
  // libxxhash's dispatcher picks the widest vector unit the CPU has (AVX2 / AVX-512): about
  // twice the speed of the baseline SSE2 build on large payloads; the hash is the same.
  // Short inputs never use vectors, so they skip the indirection.
  if (bytes.size() >= kDispatchMinBytes) return XXH3_64bits_dispatch(bytes.data(), bytes.size());
#endif
  return XXH3_64bits(bytes.data(), bytes.size());
}

std::uint64_t checksum64(Bytes head, Bytes payload) {
  if (payload.empty()) return checksum64(head);
  XXH3_state_t state;  // on the stack: no allocation per frame
  XXH3_64bits_reset(&state);
  detail::xxh3_update(&state, head);
  detail::xxh3_update(&state, payload);
  return XXH3_64bits_digest(&state);
}

std::uint64_t route_id(std::string_view route) {
  return route.empty() ? 0 : XXH3_64bits(route.data(), route.size());
}

bool operator==(const Frame& lhs, const Frame& rhs) {
  return lhs.op == rhs.op && lhs.checksum == rhs.checksum && lhs.flags == rhs.flags &&
         lhs.mux == rhs.mux && lhs.seq == rhs.seq && lhs.version_min == rhs.version_min &&
         lhs.version_max == rhs.version_max && lhs.version == rhs.version && lhs.name == rhs.name &&
         lhs.peer_name == rhs.peer_name && lhs.incarnation == rhs.incarnation &&
         lhs.wall_ms == rhs.wall_ms && lhs.max_frame_bytes == rhs.max_frame_bytes &&
         bytes_equal(lhs.nonce, rhs.nonce) && lhs.handler == rhs.handler &&
         lhs.route == rhs.route && lhs.deadline_ms == rhs.deadline_ms && lhs.status == rhs.status &&
         lhs.credit_msgs == rhs.credit_msgs && lhs.credit_bytes == rhs.credit_bytes &&
         lhs.size == rhs.size && lhs.offset == rhs.offset && lhs.stream_key == rhs.stream_key &&
         bytes_equal(lhs.payload, rhs.payload);
}

FrameFault validate_frame(const Frame& frame, const WireLimits& limits) {
  const OpSchema* schema = detail::find_schema_inline(static_cast<std::uint64_t>(frame.op));
  if (schema == nullptr) return fault(WireError::unknown_op, 0, "unknown op");
  return detail::validate_frame_with(frame, *schema, limits);
}

FrameFault detail::validate_frame_with(const Frame& frame, const OpSchema& op_schema,
                                       const WireLimits& limits) {
  WEFT_ASSERT(find_schema(static_cast<std::uint64_t>(frame.op)) == &op_schema);
  const OpSchema* schema = &op_schema;
  if ((frame.flags & ~schema->allowed_flags) != 0) {
    return fault(WireError::unknown_flags, 1,
                 join({schema->name, " does not define flag bits ",
                       decimal(frame.flags & ~schema->allowed_flags)}));
  }
  if (schema->connection_level && frame.mux != 0) {
    return fault(WireError::invalid_field, 2, join({schema->name, " needs mux 0"}));
  }
  if (!schema->connection_level && frame.mux == 0) {
    return fault(WireError::invalid_field, 2, join({schema->name, " needs a non-zero mux"}));
  }
  if (!schema->uses_seq && frame.seq != 0) {
    return fault(WireError::invalid_field, 3, join({schema->name, " needs seq 0"}));
  }
  std::string why;
  if (!check_total(frame, why) || !check_object_seq(frame, why))
    return fault(WireError::invalid_field, 3, std::move(why));
  for (std::size_t i = 0; i < schema->fields.size(); ++i) {
    const Field field = schema->fields[i];
    if (field_has_rule(field) && !check_field(frame, field, limits, why)) {
      return fault(WireError::invalid_field, static_cast<int>(4 + i), std::move(why));
    }
  }
  const bool payload_allowed = schema->payload_allowed && (frame.op != Op::stream_open ||
                                                           (frame.flags & flag::kHasPayload) != 0);
  if (!payload_allowed && !frame.payload.empty()) {
    return fault(WireError::payload_not_allowed, -1,
                 join({schema->name, " carries no payload here, got ",
                       decimal(frame.payload.size()), " bytes"}));
  }
  return {};
}

std::size_t encoded_size(const Frame& frame) {
  const OpSchema& schema = detail::schema_of_inline(frame.op);
  return kPrefixBytes + header_bytes(frame, schema) + frame.payload.size() +
         (frame.checksum ? kChecksumBytes : 0);
}

namespace {

// Writes the prefix and header of `frame` at `start`, which has room for
// kPrefixBytes + header_bytes_bound; the prefix counts the payload and checksum that follow.
// Returns the bytes written.
// The array (at most 12 elements) and the op (below 128) are one byte each.
std::size_t write_head(std::uint8_t* start, const Frame& frame, const OpSchema& schema) {
  const std::size_t elements = 4 + schema.fields.size();
  WEFT_ASSERT(elements < 16 && static_cast<std::uint64_t>(frame.op) < 0x80);
  mp::Writer writer{start + kPrefixBytes};
  writer.pos[0] = static_cast<std::uint8_t>(0x90 | elements);
  writer.pos[1] = static_cast<std::uint8_t>(frame.op);
  writer.pos += 2;
  writer.unsigned_int(frame.flags);
  writer.unsigned_int(frame.mux);
  writer.unsigned_int(frame.seq);
  // The two frames of every request, written without the walk through the schema's fields
  // (its order: handler, route, deadline_ms; status).
  if (frame.op == Op::request) {
    writer.unsigned_int(frame.handler);
    writer.unsigned_int(frame.route);
    writer.unsigned_int(frame.deadline_ms);
  } else if (frame.op == Op::response) {
    writer.unsigned_int(frame.status);
  } else {
    for (Field field : schema.fields)
      write_field(writer, frame, field);
  }
  const auto header_size = static_cast<std::size_t>(writer.pos - (start + kPrefixBytes));
  WEFT_ASSERT(header_size == header_bytes(frame, schema) && header_size <= 0xffff);
  const std::size_t body_size =
      header_size + frame.payload.size() + (frame.checksum ? kChecksumBytes : 0);
  WEFT_ASSERT(body_size <= UINT32_MAX);
  start[0] = kFrameMagic;
  start[1] = frame.checksum ? kFrameFlagChecksum : 0;
  mp::store_be16(start + 2, static_cast<std::uint16_t>(header_size));
  mp::store_be32(start + 4, static_cast<std::uint32_t>(body_size));
  return kPrefixBytes + header_size;
}

}  // namespace

std::size_t encode_frame(ByteBuffer& out, const Frame& frame) {
  WEFT_ASSERT(validate_frame(frame, WireLimits{.max_frame_bytes = UINT32_MAX}).code ==
              WireError::none);
  const OpSchema& schema = detail::schema_of_inline(frame.op);
  const std::size_t checksum_size = frame.checksum ? kChecksumBytes : 0;
  // One pass: room for the largest header the frame could need, written in place, then
  // the unused room given back (cheaper than sizing the header first on every frame).
  const std::size_t room =
      kPrefixBytes + header_bytes_bound(frame, schema) + frame.payload.size() + checksum_size;
  std::uint8_t* start = out.extend(room);
  std::uint8_t* payload_at = start + write_head(start, frame, schema);
  if (!frame.payload.empty()) std::memcpy(payload_at, frame.payload.data(), frame.payload.size());
  std::uint8_t* checksum_at = payload_at + frame.payload.size();
  if (frame.checksum) {
    mp::store_be64(checksum_at, checksum64({start, static_cast<std::size_t>(checksum_at - start)}));
  }
  const auto total = static_cast<std::size_t>(checksum_at + checksum_size - start);
  out.shrink_back(room - total);
  return total;
}

std::size_t encode_frame_head(ByteBuffer& out, const Frame& frame) {
  WEFT_ASSERT(validate_frame(frame, WireLimits{.max_frame_bytes = UINT32_MAX}).code ==
              WireError::none);
  const OpSchema& schema = detail::schema_of_inline(frame.op);
  const std::size_t room = kPrefixBytes + header_bytes_bound(frame, schema);
  std::uint8_t* start = out.extend(room);
  const std::size_t head = write_head(start, frame, schema);
  out.shrink_back(room - head);
  return head;
}

void OwnedFrame::assign(const Frame& frame) {
  scalars_ = frame;
  name_ = frame.name;
  peer_name_ = frame.peer_name;
  nonce_.assign(frame.nonce.begin(), frame.nonce.end());
  payload_.assign(frame.payload.begin(), frame.payload.end());
}

Frame OwnedFrame::view() const {
  Frame frame = scalars_;
  frame.name = name_;
  frame.peer_name = peer_name_;
  frame.nonce = nonce_;
  frame.payload = payload_;
  return frame;
}

}  // namespace weft
