// msgpack_shape_error (weft/typed.hpp): one pass over a msgpack value's bytes, before
// msgpack-c builds it, so that every element a container header announces is known to be
// there. msgpack-c reserves a container's elements from its header alone; nested headers
// each announcing the payload's length in elements would otherwise reserve that many times
// the payload's size before the missing bytes are found.
#include <cstdint>
#include <optional>
#include <string>

#include "msgpack_lite.hpp"
#include "weft/typed.hpp"

namespace weft {
namespace {

// What follows one msgpack tag byte.
struct Item {
  std::size_t head_bytes = 0;    // the tag, and an ext's type byte (not the length field)
  std::size_t length_bytes = 0;  // width of a big-endian length field after the tag (0: none)
  // Without a length field: the bytes of the value after the head, or a fixed container's
  // count (elements of an array, pairs of a map).
  std::size_t fixed_length = 0;
  bool container = false;  // the length counts elements (or pairs), not bytes
  bool map = false;
  bool invalid = false;  // 0xc1, which msgpack never uses
};

Item item_of(std::uint8_t tag) {
  Item item;
  item.head_bytes = 1;
  if (tag <= 0x7f || tag >= 0xe0 || tag == 0xc0 || tag == 0xc2 || tag == 0xc3) return item;
  if (tag <= 0x8f) {  // fixmap
    item.container = item.map = true;
    item.fixed_length = tag & 0x0fu;
    return item;
  }
  if (tag <= 0x9f) {  // fixarray
    item.container = true;
    item.fixed_length = tag & 0x0fu;
    return item;
  }
  if (tag <= 0xbf) {  // fixstr
    item.fixed_length = tag & 0x1fu;
    return item;
  }
  switch (tag) {
    case 0xc4:
    case 0xc5:
    case 0xc6:  // bin 8 / 16 / 32
      item.length_bytes = std::size_t{1} << (tag - 0xc4);
      break;
    case 0xc7:
    case 0xc8:
    case 0xc9:  // ext 8 / 16 / 32: the length, then a type byte
      item.length_bytes = std::size_t{1} << (tag - 0xc7);
      item.head_bytes = 2;
      break;
    case 0xca:
      item.fixed_length = 4;
      break;  // float 32
    case 0xcb:
      item.fixed_length = 8;
      break;  // float 64
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:  // uint 8 .. 64
      item.fixed_length = std::size_t{1} << (tag - 0xcc);
      break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:  // int 8 .. 64
      item.fixed_length = std::size_t{1} << (tag - 0xd0);
      break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:  // fixext 1 .. 16, after a type byte
      item.head_bytes = 2;
      item.fixed_length = std::size_t{1} << (tag - 0xd4);
      break;
    case 0xd9:
    case 0xda:
    case 0xdb:  // str 8 / 16 / 32
      item.length_bytes = std::size_t{1} << (tag - 0xd9);
      break;
    case 0xdc:
    case 0xdd:  // array 16 / 32
      item.container = true;
      item.length_bytes = tag == 0xdc ? 2 : 4;
      break;
    case 0xde:
    case 0xdf:  // map 16 / 32
      item.container = item.map = true;
      item.length_bytes = tag == 0xde ? 2 : 4;
      break;
    default:  // 0xc1
      item.invalid = true;
  }
  return item;
}

std::uint64_t load_length(const std::uint8_t* at, std::size_t width) {
  switch (width) {
    case 1:
      return *at;
    case 2:
      return mp::load_be16(at);
    default:
      return mp::load_be32(at);
  }
}

}  // namespace

std::optional<std::string> msgpack_shape_error(Bytes bytes, std::size_t max_container_elements) {
  const std::uint8_t* at = bytes.data();
  const std::uint8_t* const end = bytes.data() + bytes.size();
  const auto left = [&] { return static_cast<std::uint64_t>(end - at); };
  // Items still to read, across every open container: each takes a byte at least, so more
  // than the bytes left means the bytes cannot hold them.
  std::uint64_t expected = 1;
  while (expected > 0) {
    if (expected > left()) return "insufficient bytes";
    const std::uint8_t tag = *at;
    const Item item = item_of(tag);
    if (item.invalid) return "parse error";
    --expected;
    const std::size_t head = item.head_bytes + item.length_bytes;
    if (head > left()) return "insufficient bytes";
    const std::uint64_t length =
        item.length_bytes > 0 ? load_length(at + 1, item.length_bytes) : item.fixed_length;
    at += head;
    if (item.container) {
      if (length > max_container_elements) {
        return item.map ? "map size overflow" : "array size overflow";
      }
      expected += item.map ? 2 * length : length;
      continue;
    }
    if (length > left()) return "insufficient bytes";
    at += length;
  }
  return std::nullopt;
}

}  // namespace weft
