#include "weft/frame_text.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

#include "field_access.hpp"

namespace weft {
namespace {

std::string hex64(std::uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string hex16(std::uint16_t value) {
  char text[7];
  std::snprintf(text, sizeof text, "0x%04x", static_cast<unsigned>(value));
  return text;
}

std::string status_text(std::uint16_t status) {
  std::string_view name = status_name(status);
  return name.empty() ? std::to_string(status) : std::string(name);
}

// `text` as a JSON string: quoted, with '"', '\\' and control bytes escaped (a name may hold
// any printable byte, quotes included).
std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned char>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

// The value of `field` as text; `quote` makes non-numbers JSON strings.
std::string field_text(const Frame& frame, Field field, bool quote) {
  const detail::FieldInfo& info = detail::field_info(field);
  std::string text;
  bool is_number = false;
  if (info.kind == detail::FieldKind::text) {
    text = detail::get_text(frame, field);
  } else if (info.kind == detail::FieldKind::blob) {
    text = to_hex(as_bytes(detail::get_text(frame, field)));
  } else if (info.display == detail::FieldDisplay::hex64) {
    text = hex64(detail::get_uint(frame, field));
  } else if (info.display == detail::FieldDisplay::status) {
    text = status_text(static_cast<std::uint16_t>(detail::get_uint(frame, field)));
  } else {
    text = std::to_string(detail::get_uint(frame, field));
    is_number = true;
  }
  if (quote && !is_number) return json_string(text);
  return text;
}

Bytes preview_of(Bytes payload, std::size_t preview_bytes) {
  return payload.first(std::min(payload.size(), preview_bytes));
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
  int base = 10;
  if (text.starts_with("0x")) {
    text.remove_prefix(2);
    base = 16;
  }
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  return ec == std::errc{} && end == text.data() + text.size();
}

bool parse_hex(std::string_view text, std::vector<std::uint8_t>& out) {
  if (text.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < text.size(); i += 2) {
    std::uint8_t byte = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, byte, 16);
    if (ec != std::errc{} || end != text.data() + i + 2) return false;
    out.push_back(byte);
  }
  return true;
}

bool parse_status(std::string_view text, std::uint16_t& status) {
  for (std::uint32_t value = 0; value <= 0xff; ++value) {
    if (!text.empty() && status_name(static_cast<std::uint16_t>(value)) == text) {
      status = static_cast<std::uint16_t>(value);
      return true;
    }
  }
  std::uint64_t value = 0;
  if (!parse_u64(text, value) || value > 0xffff) return false;
  status = static_cast<std::uint16_t>(value);
  return true;
}

template <typename T>
bool parse_narrow(std::string_view text, T& target) {
  std::uint64_t value = 0;
  if (!parse_u64(text, value) || value > static_cast<T>(~T{0})) return false;
  target = static_cast<T>(value);
  return true;
}

// Applies one key=value pair of the text form to `owned`; false when the key is unknown or
// the value malformed.
bool apply_pair(std::string_view key, std::string_view value, OwnedFrame& owned) {
  Frame& f = owned.scalars();
  std::vector<std::uint8_t> bytes;
  if (key == "cksum") {
    if (value != "0" && value != "1") return false;
    f.checksum = value == "1";
    return true;
  }
  if (key == "flags") return parse_narrow(value, f.flags);
  if (key == "mux") return parse_u64(value, f.mux);
  if (key == "seq") return parse_u64(value, f.seq);
  if (key == "len") return true;  // implied by the payload
  if (key == "payload") return parse_hex(value, bytes) && (owned.set_payload(bytes), true);
  const std::optional<Field> field = detail::field_from_name(key);
  if (!field) return false;
  const detail::FieldInfo& info = detail::field_info(*field);
  switch (info.kind) {
    case detail::FieldKind::text:
      *field == Field::name ? owned.set_name(value) : owned.set_peer_name(value);
      return true;
    case detail::FieldKind::blob:
      return parse_hex(value, bytes) && (owned.set_nonce(bytes), true);
    case detail::FieldKind::uint: {
      std::uint64_t number = 0;
      if (info.display == detail::FieldDisplay::status) {
        std::uint16_t status = 0;
        if (!parse_status(value, status)) return false;
        number = status;
      } else if (!parse_u64(value, number) || number > info.max) {
        return false;
      }
      detail::set_uint(f, *field, number);
      return true;
    }
  }
  return false;
}

}  // namespace

std::string format_frame(const Frame& frame, std::size_t preview_bytes) {
  const OpSchema& schema = schema_of(frame.op);
  std::string line(schema.name);
  line += frame.checksum ? " cksum=1" : " cksum=0";
  line += " flags=" + hex16(frame.flags);
  line += " mux=" + std::to_string(frame.mux);
  line += " seq=" + std::to_string(frame.seq);
  for (Field field : schema.fields) {
    line += ' ';
    line += field_name(field);
    line += '=';
    line += field_text(frame, field, false);
  }
  const Bytes shown = preview_of(frame.payload, preview_bytes);
  line += " len=" + std::to_string(frame.payload.size());
  line += " payload=" + to_hex(shown);
  if (shown.size() < frame.payload.size()) line += "..";
  return line;
}

std::string format_frame_json(const Frame& frame, std::uint64_t offset, std::size_t preview_bytes) {
  const OpSchema& schema = schema_of(frame.op);
  std::string json = "{\"stream_offset\":" + std::to_string(offset);
  json += ",\"op\":\"" + std::string(schema.name) + '"';
  json += frame.checksum ? ",\"cksum\":true" : ",\"cksum\":false";
  json += ",\"flags\":" + std::to_string(frame.flags);
  json += ",\"mux\":" + std::to_string(frame.mux);
  json += ",\"seq\":" + std::to_string(frame.seq);
  for (Field field : schema.fields) {
    json += ",\"";
    json += field_name(field);
    json += "\":";
    json += field_text(frame, field, true);
  }
  const Bytes shown = preview_of(frame.payload, preview_bytes);
  json += ",\"len\":" + std::to_string(frame.payload.size());
  json += ",\"payload_hex\":\"" + to_hex(shown) + '"';
  json += shown.size() < frame.payload.size() ? ",\"payload_truncated\":true}"
                                              : ",\"payload_truncated\":false}";
  return json;
}

std::optional<OwnedFrame> parse_frame_text(std::string_view text, std::string* error) {
  auto fail = [error](std::string why) -> std::optional<OwnedFrame> {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
  };
  OwnedFrame owned;
  bool first = true;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view token = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    if (token.empty()) continue;
    if (first) {
      const std::optional<Op> op = op_from_name(token);
      if (!op) return fail(std::string("unknown op: ").append(token));
      owned.scalars().op = *op;
      first = false;
      continue;
    }
    const std::size_t equals = token.find('=');
    if (equals == std::string_view::npos) {
      return fail(std::string("not key=value: ").append(token));
    }
    const std::string_view key = token.substr(0, equals);
    const std::string_view value = token.substr(equals + 1);
    if (value.ends_with("..")) return fail("the payload is cut short");
    if (!apply_pair(key, value, owned)) {
      return fail(std::string("bad key or value: ").append(token));
    }
  }
  if (first) return fail("no op");
  return owned;
}

}  // namespace weft
