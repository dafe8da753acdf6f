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
#include "weft/wire.hpp"

namespace weft::detail {

// The short way for the headers nearly every frame has: a fixarray of unsigned integers in
// the unsigned formats, each within its bound, of a known op whose fields are all integers
// (every op but hello, challenge and object_open). Fills `out` and returns true only for
// such a header, which the general parser would read to the very same frame; declines
// anything else before touching `out`, and the general parser then reads it and names any
// fault.
// Records no element offsets: a frame that fails validation is parsed again for them.
// `header_bytes` is at least 1 (the prefix check refused an empty header).
inline bool parse_integer_header(const std::uint8_t* header, std::size_t header_bytes, Frame& out) {
  const std::uint8_t* at = header;
  const std::uint8_t* const end = header + header_bytes;
  if ((*at & 0xf0) != 0x90) return false;
  const std::size_t elements = *at++ & 0x0f;
  if (elements < 4) return false;
  std::array<std::uint64_t, 15> values;
  for (std::size_t i = 0; i < elements; ++i) {
    if (at == end) return false;
    const std::uint8_t tag = *at;
    if (tag < 0x80) {
      values[i] = tag;
      ++at;
      continue;
    }
    // 0xcc..0xcf: uint 8, 16, 32, 64.
    if (tag < 0xcc || tag > 0xcf) return false;
    const std::size_t width = std::size_t{1} << (tag - 0xcc);
    if (static_cast<std::size_t>(end - at) <= width) return false;
    values[i] = width == 1   ? at[1]
                : width == 2 ? mp::load_be16(at + 1)
                : width == 4 ? mp::load_be32(at + 1)
                             : mp::load_be64(at + 1);
    at += 1 + width;
  }
  if (at != end || values[0] > 0xff || values[1] > 0xffff) return false;
  const OpSchema* schema = find_schema(values[0]);
  if (schema == nullptr || 4 + schema->fields.size() != elements) return false;
  for (std::size_t i = 0; i < schema->fields.size(); ++i) {
    const FieldInfo& info = field_info(schema->fields[i]);
    if (info.kind != FieldKind::uint || values[4 + i] > info.max) return false;
  }
  out.op = schema->op;
  out.flags = static_cast<std::uint16_t>(values[1]);
  out.mux = values[2];
  out.seq = values[3];
  for (std::size_t i = 0; i < schema->fields.size(); ++i)
    set_uint(out, schema->fields[i], values[4 + i]);
  return true;
}

}  // namespace weft::detail
