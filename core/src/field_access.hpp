// Generic access to a frame's op-specific fields, so that the encoder, the decoder and the
// text forms handle every field through one table instead of one switch each.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "invariant.hpp"
#include "weft/bytes.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

enum class FieldKind : std::uint8_t {
  uint,  // msgpack unsigned integer up to FieldInfo::max
  text,  // msgpack str (node names)
  blob,  // msgpack bin (nonces)
};

// How the text form shows a uint field.
enum class FieldDisplay : std::uint8_t { decimal, hex64, status };

struct FieldInfo {
  std::string_view name;
  FieldKind kind;
  std::uint64_t max;  // largest value (uint fields)
  FieldDisplay display;
};

inline constexpr std::uint64_t kU16 = 0xffff;
inline constexpr std::uint64_t kU32 = 0xffffffff;
inline constexpr std::uint64_t kU64 = UINT64_MAX;

// The fields' names, kinds and bounds, indexed by Field. Inline, with the accessors below:
// the encoder and the decoder look them up for every field of every frame.
inline constexpr std::array<FieldInfo, 18> kFieldInfo{{
    {"version_min", FieldKind::uint, kU16, FieldDisplay::decimal},
    {"version_max", FieldKind::uint, kU16, FieldDisplay::decimal},
    {"version", FieldKind::uint, kU16, FieldDisplay::decimal},
    {"name", FieldKind::text, 0, FieldDisplay::decimal},
    {"peer_name", FieldKind::text, 0, FieldDisplay::decimal},
    {"incarnation", FieldKind::uint, kU64, FieldDisplay::hex64},
    {"wall_ms", FieldKind::uint, kU64, FieldDisplay::decimal},
    {"max_frame_bytes", FieldKind::uint, kU32, FieldDisplay::decimal},
    {"nonce", FieldKind::blob, 0, FieldDisplay::decimal},
    {"handler", FieldKind::uint, kU16, FieldDisplay::decimal},
    {"route", FieldKind::uint, kU64, FieldDisplay::hex64},
    {"deadline_ms", FieldKind::uint, kU32, FieldDisplay::decimal},
    {"status", FieldKind::uint, kU16, FieldDisplay::status},
    {"credit_msgs", FieldKind::uint, kU32, FieldDisplay::decimal},
    {"credit_bytes", FieldKind::uint, kU32, FieldDisplay::decimal},
    {"size", FieldKind::uint, kU64, FieldDisplay::decimal},
    {"offset", FieldKind::uint, kU64, FieldDisplay::decimal},
    {"stream_key", FieldKind::uint, kU64, FieldDisplay::hex64},
}};

inline const FieldInfo& field_info(Field field) {
  return kFieldInfo[static_cast<std::size_t>(field)];
}

// The field whose name is `name`, if any.
std::optional<Field> field_from_name(std::string_view name);

// Value of a uint field.
inline std::uint64_t get_uint(const Frame& frame, Field field) {
  switch (field) {
    case Field::version_min:
      return frame.version_min;
    case Field::version_max:
      return frame.version_max;
    case Field::version:
      return frame.version;
    case Field::incarnation:
      return frame.incarnation;
    case Field::wall_ms:
      return frame.wall_ms;
    case Field::max_frame_bytes:
      return frame.max_frame_bytes;
    case Field::handler:
      return frame.handler;
    case Field::route:
      return frame.route;
    case Field::deadline_ms:
      return frame.deadline_ms;
    case Field::status:
      return frame.status;
    case Field::credit_msgs:
      return frame.credit_msgs;
    case Field::credit_bytes:
      return frame.credit_bytes;
    case Field::size:
      return frame.size;
    case Field::offset:
      return frame.offset;
    case Field::stream_key:
      return frame.stream_key;
    case Field::name:
    case Field::peer_name:
    case Field::nonce:
      break;
  }
  WEFT_ASSERT(false && "not a uint field");
  return 0;
}

// Sets a uint field; `value` must not exceed field_info(field).max.
inline void set_uint(Frame& frame, Field field, std::uint64_t value) {
  WEFT_ASSERT(value <= field_info(field).max);
  switch (field) {
    case Field::version_min:
      frame.version_min = static_cast<std::uint16_t>(value);
      return;
    case Field::version_max:
      frame.version_max = static_cast<std::uint16_t>(value);
      return;
    case Field::version:
      frame.version = static_cast<std::uint16_t>(value);
      return;
    case Field::incarnation:
      frame.incarnation = value;
      return;
    case Field::wall_ms:
      frame.wall_ms = value;
      return;
    case Field::max_frame_bytes:
      frame.max_frame_bytes = static_cast<std::uint32_t>(value);
      return;
    case Field::handler:
      frame.handler = static_cast<std::uint16_t>(value);
      return;
    case Field::route:
      frame.route = value;
      return;
    case Field::deadline_ms:
      frame.deadline_ms = static_cast<std::uint32_t>(value);
      return;
    case Field::status:
      frame.status = static_cast<std::uint16_t>(value);
      return;
    case Field::credit_msgs:
      frame.credit_msgs = static_cast<std::uint32_t>(value);
      return;
    case Field::credit_bytes:
      frame.credit_bytes = static_cast<std::uint32_t>(value);
      return;
    case Field::size:
      frame.size = value;
      return;
    case Field::offset:
      frame.offset = value;
      return;
    case Field::stream_key:
      frame.stream_key = value;
      return;
    case Field::name:
    case Field::peer_name:
    case Field::nonce:
      break;
  }
  WEFT_ASSERT(false && "not a uint field");
}

// The view member of a text or blob field.
inline std::string_view get_text(const Frame& frame, Field field) {
  if (field == Field::name) return frame.name;
  if (field == Field::peer_name) return frame.peer_name;
  WEFT_ASSERT(field == Field::nonce);
  return as_chars(frame.nonce);
}

inline void set_text(Frame& frame, Field field, std::string_view text) {
  if (field == Field::name) {
    frame.name = text;
  } else if (field == Field::peer_name) {
    frame.peer_name = text;
  } else {
    WEFT_ASSERT(field == Field::nonce);
    frame.nonce = as_bytes(text);
  }
}

}  // namespace weft::detail
