#include "object_books.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

namespace weft::sim {

namespace {

// One word per 8 bytes of an object: a cheap mix of (stream, object, position), enough to
// tell any byte of any object from any other; little-endian, so every host agrees.
std::uint64_t mix(std::uint64_t serial, std::uint64_t number, std::uint64_t word) {
  std::uint64_t x = (serial * 0x9e3779b97f4a7c15ULL) ^ (number * 0xc2b2ae3d27d4eb4fULL) ^ word;
  x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 29);
}

// Still distinct word by word: a compressible run's words differ in their low byte.
std::uint64_t word_at(std::uint64_t serial, std::uint64_t number, std::uint64_t word) {
  constexpr std::uint64_t kRegionWords = (96 << 10) / 8;
  if (compressed_stream(serial) && (word / kRegionWords) % 2 == 0)
    return mix(serial, number, word / 16) + word % 16;
  return mix(serial, number, word);
}

}  // namespace

bool compressed_stream(std::uint64_t serial) {
  return serial % 3 == 1;
}

std::string refusal_text(std::uint64_t serial, std::uint64_t number) {
  return "refused s" + std::to_string(serial) + "/o" + std::to_string(number);
}

ObjectArgs object_args(std::uint64_t serial, std::uint64_t number, const ObjectPlan& plan) {
  ObjectArgs args;
  args.header = object_header(serial, number, plan);
  args.tag = object_tag(serial, number);
  switch (plan.kind) {
    case ObjectKind::header_only:
      args.kind = ObjectSize::header_only;
      break;
    case ObjectKind::in_memory: {
      std::vector<std::uint8_t> data(plan.size);
      object_data(serial, number, 0, data);
      args.kind = ObjectSize::sized;
      args.size = plan.size;
      args.data = SharedBytes(std::move(data));
      break;
    }
    case ObjectKind::supplied_sized:
      args.kind = ObjectSize::sized;
      args.size = plan.size;
      break;
    case ObjectKind::supplied_unsized:
      args.kind = ObjectSize::unsized;
      break;
  }
  return args;
}

Errc supply_object(
    std::uint64_t serial, std::uint64_t number, std::uint64_t size, std::uint64_t offset,
    const std::function<Errc(std::uint64_t, std::vector<std::uint8_t>, bool)>& supply) {
  constexpr std::uint64_t kPieceBytes = 48 << 10;  // what the application supplies at once
  for (const std::uint64_t first = offset;;) {
    const std::size_t length = std::min(kPieceBytes, size - offset);
    std::vector<std::uint8_t> piece(length);
    object_data(serial, number, offset, piece);
    const bool last = offset + length == size;
    const Errc supplied = supply(offset, std::move(piece), last);
    if (supplied == Errc::no_credit) return Errc::ok;
    if (offset == first && (supplied == Errc::not_found || supplied == Errc::invalid_argument))
      return Errc::ok;
    if (supplied != Errc::ok) return supplied;
    offset += length;
    if (last) return Errc::ok;
  }
}

const char* object_kind_name(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::header_only:
      return "header-only";
    case ObjectKind::in_memory:
      return "in-memory";
    case ObjectKind::supplied_sized:
      return "supplied";
    case ObjectKind::supplied_unsized:
      return "unsized";
  }
  return "?";
}

const char* read_action_name(ReadAction action) {
  switch (action) {
    case ReadAction::whole:
      return "read";
    case ReadAction::steps:
      return "read in steps";
    case ReadAction::half_discard:
      return "read half, discard";
    case ReadAction::discard:
      return "discard";
    case ReadAction::refuse:
      return "refuse";
    case ReadAction::half_refuse:
      return "read half, refuse";
  }
  return "?";
}

void object_data(std::uint64_t serial, std::uint64_t number, std::uint64_t offset,
                 std::span<std::uint8_t> out) {
  std::size_t i = 0;
  // The bytes before the first word boundary, then whole words, then the tail.
  while (i < out.size() && (offset + i) % 8 != 0) {
    const std::uint64_t at = offset + i;
    out[i++] = static_cast<std::uint8_t>(word_at(serial, number, at / 8) >> (8 * (at % 8)));
  }
  for (; i + 8 <= out.size(); i += 8) {
    std::uint64_t word = word_at(serial, number, (offset + i) / 8);
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    std::memcpy(out.data() + i, &word, 8);
  }
  for (; i < out.size(); ++i) {
    const std::uint64_t at = offset + i;
    out[i] = static_cast<std::uint8_t>(word_at(serial, number, at / 8) >> (8 * (at % 8)));
  }
}

ObjectHeader object_header(std::uint64_t serial, std::uint64_t number, const ObjectPlan& plan) {
  ObjectHeader header;
  header.name = "s" + std::to_string(serial) + "/o" + std::to_string(number);
  const std::uint64_t mix = word_at(serial, number, ~0ULL);
  // Every optional attribute is absent in some objects and present in others, so both
  // round trips are checked; control objects carry an opcode.
  if (mix & 1) header.attrs.size = plan.size;
  if (mix & 2)
    header.attrs.access_time_ns = static_cast<std::int64_t>(mix >> 8) * (mix & 4 ? -1 : 1);
  if (mix & 8) {
    header.attrs.checksum_type = "sim";
    header.attrs.checksum_value = std::to_string(mix % 1'000'003);
  }
  if (mix & 16) header.attrs.version = (mix & 32) ? "" : "v" + std::to_string(number);
  for (std::uint64_t i = 0; i < (mix >> 6) % 3; ++i)
    header.attrs.custom.emplace_back("k" + std::to_string(i), std::to_string(serial + i));
  if (mix & 64) header.opaque = {static_cast<std::uint8_t>(mix >> 16), 0, 0xff};
  if (plan.kind == ObjectKind::header_only) header.opcode = static_cast<std::uint16_t>(1 + mix % 9);
  return header;
}

bool parse_object_name(const std::string& name, std::uint64_t& serial, std::uint64_t& number) {
  const std::size_t slash = name.find("/o");
  if (name.size() < 4 || name[0] != 's' || slash == std::string::npos) return false;
  const char* const end = name.data() + name.size();
  const auto first = std::from_chars(name.data() + 1, name.data() + slash, serial);
  const auto second = std::from_chars(name.data() + slash + 2, end, number);
  return first.ec == std::errc() && first.ptr == name.data() + slash && second.ec == std::errc() &&
         second.ptr == end && number > 0;
}

}  // namespace weft::sim
