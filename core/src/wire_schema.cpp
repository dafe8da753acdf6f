// The public lookups of the schema table (schema_table.hpp), and the names PROTOCOL.md uses.
#include <array>

#include "field_access.hpp"
#include "invariant.hpp"
#include "msgpack_lite.hpp"
#include "schema_table.hpp"
#include "weft/wire.hpp"

namespace weft {

using detail::kSchemas;

const OpSchema* find_schema(std::uint64_t op) {
  return detail::find_schema_inline(op);
}

const OpSchema& schema_of(Op op) {
  return detail::schema_of_inline(op);
}

std::span<const OpSchema> all_schemas() {
  return kSchemas;
}

std::string_view op_name(std::uint64_t op) {
  const OpSchema* schema = find_schema(op);
  return schema == nullptr ? std::string_view{} : schema->name;
}

std::optional<Op> op_from_name(std::string_view name) {
  for (const OpSchema& schema : kSchemas) {
    if (schema.name == name) return schema.op;
  }
  return std::nullopt;
}

std::string_view field_name(Field field) {
  return detail::field_info(field).name;
}

namespace detail {

std::optional<Field> field_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kFieldInfo.size(); ++i) {
    if (kFieldInfo[i].name == name) return static_cast<Field>(i);
  }
  return std::nullopt;
}

}  // namespace detail

bool valid_node_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string_view status_name(std::uint16_t status) {
  switch (static_cast<Status>(status)) {
    case Status::ok:
      return "ok";
    case Status::remote_error:
      return "remote_error";
    case Status::unknown_handler:
      return "unknown_handler";
    case Status::too_large:
      return "too_large";
    case Status::busy:
      return "busy";
    case Status::deadline_exceeded:
      return "deadline_exceeded";
    case Status::canceled:
      return "canceled";
    case Status::protocol_error:
      return "protocol_error";
    case Status::shutting_down:
      return "shutting_down";
    case Status::bad_payload:
      return "bad_payload";
    case Status::keepalive_timeout:
      return "keepalive_timeout";
    case Status::object_state_lost:
      return "object_state_lost";
    case Status::unsupported:
      return "unsupported";
    case Status::idle:
      return "idle";
    case Status::open_timeout:
      return "open_timeout";
    case Status::version_mismatch:
      return "version_mismatch";
    case Status::unknown_node:
      return "unknown_node";
    case Status::auth_failed:
      return "auth_failed";
    case Status::clock_skew:
      return "clock_skew";
    case Status::wrong_dialer:
      return "wrong_dialer";
    case Status::wrong_target:
      return "wrong_target";
    case Status::handshake_timeout:
      return "handshake_timeout";
    case Status::stale_hello:
      return "stale_hello";
  }
  return {};
}

std::string_view wire_error_name(WireError error) {
  switch (error) {
    case WireError::none:
      return "none";
    case WireError::bad_magic:
      return "bad_magic";
    case WireError::unknown_frame_flags:
      return "unknown_frame_flags";
    case WireError::zero_length:
      return "zero_length";
    case WireError::frame_too_large:
      return "frame_too_large";
    case WireError::header_too_large:
      return "header_too_large";
    case WireError::header_exceeds_body:
      return "header_exceeds_body";
    case WireError::checksum_missing:
      return "checksum_missing";
    case WireError::checksum_mismatch:
      return "checksum_mismatch";
    case WireError::header_truncated:
      return "header_truncated";
    case WireError::header_trailing_bytes:
      return "header_trailing_bytes";
    case WireError::header_not_array:
      return "header_not_array";
    case WireError::field_count:
      return "field_count";
    case WireError::wrong_type:
      return "wrong_type";
    case WireError::integer_out_of_range:
      return "integer_out_of_range";
    case WireError::unknown_op:
      return "unknown_op";
    case WireError::unknown_flags:
      return "unknown_flags";
    case WireError::invalid_field:
      return "invalid_field";
    case WireError::payload_not_allowed:
      return "payload_not_allowed";
    case WireError::truncated:
      return "truncated";
  }
  return "unknown";
}

namespace mp {
std::string_view type_name(std::uint8_t tag) {
  if (tag <= 0x7f || (tag >= 0xcc && tag <= 0xcf)) return "unsigned integer";
  if (tag >= 0xe0 || (tag >= 0xd0 && tag <= 0xd3)) return "signed integer";
  if ((tag & 0xf0) == 0x80 || tag == 0xde || tag == 0xdf) return "map";
  if ((tag & 0xf0) == 0x90 || tag == 0xdc || tag == 0xdd) return "array";
  if ((tag & 0xe0) == 0xa0 || (tag >= 0xd9 && tag <= 0xdb)) return "str";
  if (tag >= 0xc4 && tag <= 0xc6) return "bin";
  if (tag == 0xc0) return "nil";
  if (tag == 0xc2 || tag == 0xc3) return "bool";
  if (tag == 0xca || tag == 0xcb) return "float";
  if ((tag >= 0xc7 && tag <= 0xc9) || (tag >= 0xd4 && tag <= 0xd8)) return "ext";
  return "never-used byte 0xc1";
}
}  // namespace mp

}  // namespace weft
