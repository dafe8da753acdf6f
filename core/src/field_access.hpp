// Generic access to a frame's op-specific fields, so that the encoder, the decoder and the
// text forms handle every field through one table instead of one switch each.
#pragma once

#include <cstdint>
#include <string_view>

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

const FieldInfo& field_info(Field field);
// The field whose name is `name`, if any.
std::optional<Field> field_from_name(std::string_view name);

// Value of a uint field.
std::uint64_t get_uint(const Frame& frame, Field field);
// Sets a uint field; `value` must not exceed field_info(field).max.
void set_uint(Frame& frame, Field field, std::uint64_t value);
// The view member of a text or blob field.
std::string_view get_text(const Frame& frame, Field field);
void set_text(Frame& frame, Field field, std::string_view text);

}  // namespace weft::detail
