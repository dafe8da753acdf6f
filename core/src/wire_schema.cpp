// The schema table: which fields each op carries, and the names PROTOCOL.md uses.
#include <array>

#include "field_access.hpp"
#include "invariant.hpp"
#include "msgpack_lite.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using F = Field;
constexpr std::array<F, 8> kHelloFields{F::version_min,     F::version_max, F::name,
                                        F::peer_name,       F::incarnation, F::wall_ms,
                                        F::max_frame_bytes, F::nonce};
constexpr std::array<F, 6> kChallengeFields{F::version,         F::name, F::incarnation, F::wall_ms,
                                            F::max_frame_bytes, F::nonce};
constexpr std::array<F, 1> kStatusOnly{F::status};
constexpr std::array<F, 0> kNoFields{};
constexpr std::array<F, 3> kRequestFields{F::handler, F::route, F::deadline_ms};
constexpr std::array<F, 5> kStreamOpenFields{F::handler, F::route, F::deadline_ms, F::credit_msgs,
                                             F::credit_bytes};
constexpr std::array<F, 2> kCreditFields{F::credit_msgs, F::credit_bytes};
constexpr std::array<F, 2> kObjectOpenFields{F::name, F::stream_key};
constexpr std::array<F, 3> kObjectAcceptFields{F::credit_msgs, F::credit_bytes, F::offset};
constexpr std::array<F, 1> kObjectBeginFields{F::size};
constexpr std::array<F, 1> kObjectDataFields{F::offset};
constexpr std::array<F, 2> kObjectEndFields{F::status, F::size};

// op, name, fields, allowed flags, connection-level, uses seq, payload allowed.
constexpr std::array<OpSchema, 30> kSchemas{{
    {Op::hello, "hello", kHelloFields, flag::kChecksums, true, true, false},
    {Op::welcome, "welcome", kNoFields, 0, true, false, false},
    {Op::reject, "reject", kStatusOnly, 0, true, false, true},
    {Op::ping, "ping", kNoFields, 0, true, true, false},
    {Op::pong, "pong", kNoFields, 0, true, true, false},
    {Op::goaway, "goaway", kStatusOnly, 0, true, false, true},
    {Op::challenge, "challenge", kChallengeFields, flag::kChecksums, true, false, true},
    {Op::auth, "auth", kNoFields, 0, true, false, true},
    {Op::request, "request", kRequestFields, flag::kMore, false, true, true},
    {Op::response, "response", kStatusOnly, flag::kMore, false, true, true},
    {Op::cancel, "cancel", kNoFields, 0, false, false, false},
    {Op::continuation, "continuation", kNoFields, flag::kMore, false, true, true},
    {Op::stream_open, "stream_open", kStreamOpenFields, flag::kHasPayload | flag::kHasInput, false,
     false, true},
    {Op::stream_accept, "stream_accept", kCreditFields, 0, false, false, false},
    {Op::stream_reject, "stream_reject", kStatusOnly, 0, false, false, true},
    {Op::stream_msg, "stream_msg", kNoFields, flag::kMore, false, true, true},
    {Op::stream_credit, "stream_credit", kCreditFields, 0, false, false, false},
    {Op::stream_end, "stream_end", kStatusOnly, 0, false, true, true},
    {Op::stream_reset, "stream_reset", kStatusOnly, 0, false, false, true},
    {Op::stream_ping, "stream_ping", kNoFields, 0, false, true, false},
    {Op::stream_pong, "stream_pong", kNoFields, 0, false, true, false},
    {Op::object_open, "object_open", kObjectOpenFields, flag::kResume | flag::kLz4Stream, false,
     true, false},
    {Op::object_accept, "object_accept", kObjectAcceptFields, flag::kBegun, false, true, false},
    {Op::object_reject, "object_reject", kStatusOnly, 0, false, false, true},
    {Op::object_begin, "object_begin", kObjectBeginFields, flag::kSizeUnknown | flag::kEnds, false,
     true, true},
    {Op::object_data, "object_data", kObjectDataFields, flag::kLz4, false, true, true},
    {Op::object_end, "object_end", kObjectEndFields, 0, false, true, true},
    {Op::object_ack, "object_ack", kStatusOnly, flag::kThrough, false, true, true},
    {Op::object_credit, "object_credit", kCreditFields, 0, false, false, false},
    {Op::object_close, "object_close", kStatusOnly, 0, false, true, true},
}};

// Maps an op's wire value to its index in kSchemas (-1: unknown).
constexpr std::array<std::int8_t, 64> make_op_index() {
  std::array<std::int8_t, 64> index{};
  for (auto& slot : index)
    slot = -1;
  for (std::size_t i = 0; i < kSchemas.size(); ++i) {
    index[static_cast<std::size_t>(kSchemas[i].op)] = static_cast<std::int8_t>(i);
  }
  return index;
}
constexpr std::array<std::int8_t, 64> kOpIndex = make_op_index();

}  // namespace

const OpSchema* find_schema(std::uint64_t op) {
  if (op >= kOpIndex.size() || kOpIndex[op] < 0) return nullptr;
  return &kSchemas[static_cast<std::size_t>(kOpIndex[op])];
}

const OpSchema& schema_of(Op op) {
  const OpSchema* schema = find_schema(static_cast<std::uint64_t>(op));
  WEFT_ASSERT(schema != nullptr);
  return *schema;
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
