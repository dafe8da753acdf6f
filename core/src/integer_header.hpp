// The decoder's short way through a frame header made only of unsigned integers: the
// header of every op but hello, challenge and object_open (whose fields include a string),
// so of nearly every frame a connection carries. Internal to core/ (wire_decode.cpp, and
// the property that holds it to the general parser).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "field_access.hpp"
#include "msgpack_lite.hpp"
#include "schema_table.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

// One msgpack unsigned integer at `at`, before `end`, in the formats the short way takes
// (positive fixint, uint 8/16/32/64): stores it in `value` and returns the byte after it, or
// nullptr for anything else, or when it runs past `end`.
[[gnu::always_inline]] inline const std::uint8_t* read_plain_uint(const std::uint8_t* at,
                                                                  const std::uint8_t* end,
                                                                  std::uint64_t& value) {
  if (at == end) return nullptr;
  const std::uint8_t tag = *at;
  if (tag < 0x80) {
    value = tag;
    return at + 1;
  }
  // 0xcc..0xcf: uint 8, 16, 32, 64.
  if (tag < 0xcc || tag > 0xcf) return nullptr;
  const std::size_t width = std::size_t{1} << (tag - 0xcc);
  if (static_cast<std::size_t>(end - at) <= width) return nullptr;
  value = width == 1   ? at[1]
          : width == 2 ? mp::load_be16(at + 1)
          : width == 4 ? mp::load_be32(at + 1)
                       : mp::load_be64(at + 1);
  return at + 1 + width;
}

// The short way for the headers nearly every frame has: a fixarray whose op is a positive
// fixint and whose other elements are unsigned integers in the unsigned formats, each within
// its bound, of a known op whose fields are all integers (every op but hello, challenge and
// object_open). Fills `out` and returns the op's schema only for such a header, which the
// general parser would read to the very same frame; declines anything else (nullptr) before
// touching `out`, and the general parser then reads it and names any fault.
// Records no element offsets: a frame that fails validation is parsed again for them.
// `header_bytes` is at least 1 (the prefix check refused an empty header). Always inlined:
// the call cost a tenth of it on every frame.
[[gnu::always_inline]] inline const OpSchema* parse_integer_header(const std::uint8_t* header,
                                                                   std::size_t header_bytes,
                                                                   Frame& out) {
  const std::uint8_t* at = header;
  const std::uint8_t* const end = header + header_bytes;
  const std::uint8_t array_tag = *at++;
  // The op first: its schema says how many elements follow and their bounds.
  if ((array_tag & 0xf0) != 0x90 || at == end || *at >= 0x80) return nullptr;
  const OpSchema* schema = find_schema_inline(*at++);
  const std::size_t elements = array_tag & 0x0f;
  if (schema == nullptr || elements != 4 + schema->fields.size()) return nullptr;
  const std::size_t field_count = schema->fields.size();
  std::uint64_t flags = 0;
  std::uint64_t mux = 0;
  std::uint64_t seq = 0;
  at = read_plain_uint(at, end, flags);
  if (at == nullptr || flags > 0xffff) return nullptr;
  at = read_plain_uint(at, end, mux);
  if (at == nullptr) return nullptr;
  at = read_plain_uint(at, end, seq);
  if (at == nullptr) return nullptr;
  std::array<std::uint64_t, 15> values;  // a fixarray holds at most 15 elements
  for (std::size_t i = 0; i < field_count; ++i) {
    const FieldInfo& info = field_info(schema->fields[i]);
    if (info.kind != FieldKind::uint) return nullptr;
    at = read_plain_uint(at, end, values[i]);
    if (at == nullptr || values[i] > info.max) return nullptr;
  }
  if (at != end) return nullptr;
  out.op = schema->op;
  out.flags = static_cast<std::uint16_t>(flags);
  out.mux = mux;
  out.seq = seq;
  for (std::size_t i = 0; i < field_count; ++i)
    set_uint(out, schema->fields[i], values[i]);
  return schema;
}

// A shorter way still for the two frames a request costs, a request or a response sent
// whole (flags 0, seq 0), as the encoder writes them: the op's fields read in their places
// rather than through the schema's list. Fills `out` and returns true only for a header
// that parse_integer_header takes to the same frame and that validate_frame passes (a
// non-zero mux, a request's non-zero handler; nothing else has a rule for these frames), so
// the caller needs neither; declines anything else before touching `out`.
[[gnu::always_inline]] inline bool parse_call_header(const std::uint8_t* header,
                                                     std::size_t header_bytes, Frame& out) {
  const std::uint8_t* const end = header + header_bytes;
  // fixarray of 7 (request) or 5 (response), then the op.
  const bool request = header[0] == 0x97;
  if (header_bytes < 6 || header[1] != (request ? 0x10 : 0x11) || (!request && header[0] != 0x95)) {
    return false;
  }
  std::uint64_t flags = 0;
  std::uint64_t mux = 0;
  std::uint64_t seq = 0;
  const std::uint8_t* at = read_plain_uint(header + 2, end, flags);
  if (at == nullptr || flags != 0) return false;
  at = read_plain_uint(at, end, mux);
  if (at == nullptr || mux == 0) return false;
  at = read_plain_uint(at, end, seq);
  if (at == nullptr || seq != 0) return false;
  std::uint64_t first = 0;  // handler or status
  at = read_plain_uint(at, end, first);
  if (at == nullptr || first > kU16 || (request && first == 0)) return false;
  std::uint64_t route = 0;
  std::uint64_t deadline_ms = 0;
  if (request) {
    at = read_plain_uint(at, end, route);
    if (at != nullptr) at = read_plain_uint(at, end, deadline_ms);
  }
  if (at != end || deadline_ms > kU32) return false;
  out.op = request ? Op::request : Op::response;
  out.flags = 0;
  out.mux = mux;
  out.seq = 0;
  if (request) {
    out.handler = static_cast<std::uint16_t>(first);
    out.route = route;
    out.deadline_ms = static_cast<std::uint32_t>(deadline_ms);
  } else {
    out.status = static_cast<std::uint16_t>(first);
  }
  return true;
}

}  // namespace weft::detail
