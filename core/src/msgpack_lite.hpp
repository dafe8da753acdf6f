// The small subset of msgpack a frame header uses, read and written without allocating.
// Internal to core/: frame headers are msgpack, but decoding them through msgpack-c's
// object model would allocate a zone per frame, and the hot path must not.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "weft/bytes.hpp"

namespace weft::mp {

enum class ReadStatus : std::uint8_t {
  ok,
  truncated,   // the item runs past the end of the header
  wrong_type,  // the item has another msgpack type
  negative,    // a signed integer below zero where an unsigned one is wanted
};

// Big-endian loads and stores through one memcpy and a byte swap: the compilers turn them
// into one move (and a bswap); written byte by byte, next to other stores, g++ 12 merged
// them into a chain of shifts (callgrind: write_head grew by half).
template <typename Uint>
Uint big_endian(Uint value) {
  static_assert(std::endian::native == std::endian::little ||
                std::endian::native == std::endian::big);
  if constexpr (std::endian::native == std::endian::big || sizeof(Uint) == 1) {
    return value;
  } else if constexpr (sizeof(Uint) == 2) {
    return __builtin_bswap16(value);
  } else if constexpr (sizeof(Uint) == 4) {
    return __builtin_bswap32(value);
  } else {
    return __builtin_bswap64(value);
  }
}
template <typename Uint>
Uint load_be(const std::uint8_t* p) {
  Uint value;
  std::memcpy(&value, p, sizeof value);
  return big_endian(value);
}
template <typename Uint>
void store_be(std::uint8_t* p, Uint value) {
  const Uint stored = big_endian(value);
  std::memcpy(p, &stored, sizeof stored);
}
inline std::uint16_t load_be16(const std::uint8_t* p) {
  return load_be<std::uint16_t>(p);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
  return load_be<std::uint32_t>(p);
}
inline std::uint64_t load_be64(const std::uint8_t* p) {
  return load_be<std::uint64_t>(p);
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
  store_be(p, v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
  store_be(p, v);
}
inline void store_be64(std::uint8_t* p, std::uint64_t v) {
  store_be(p, v);
}

// A short name of the msgpack type that starts with byte `tag`, for error messages.
std::string_view type_name(std::uint8_t tag);

// Reads items from [pos, end). On failure `pos` stays at the failing item.
struct Reader {
  const std::uint8_t* pos;
  const std::uint8_t* end;

  std::size_t left() const { return static_cast<std::size_t>(end - pos); }

  ReadStatus array_length(std::uint32_t& length) {
    if (pos == end) return ReadStatus::truncated;
    const std::uint8_t tag = *pos;
    if ((tag & 0xf0) == 0x90) {
      length = tag & 0x0f;
      ++pos;
      return ReadStatus::ok;
    }
    if (tag == 0xdc || tag == 0xdd) {
      const std::size_t width = tag == 0xdc ? 2 : 4;
      if (left() < 1 + width) return ReadStatus::truncated;
      length = width == 2 ? load_be16(pos + 1) : load_be32(pos + 1);
      pos += 1 + width;
      return ReadStatus::ok;
    }
    return ReadStatus::wrong_type;
  }

  // Any msgpack integer format whose value is not negative.
  ReadStatus unsigned_int(std::uint64_t& value) {
    if (pos == end) return ReadStatus::truncated;
    const std::uint8_t tag = *pos;
    if (tag <= 0x7f) {
      value = tag;
      ++pos;
      return ReadStatus::ok;
    }
    if (tag >= 0xe0) return ReadStatus::negative;  // negative fixint
    std::size_t width = 0;
    bool is_signed = false;
    switch (tag) {
      case 0xcc:
        width = 1;
        break;
      case 0xcd:
        width = 2;
        break;
      case 0xce:
        width = 4;
        break;
      case 0xcf:
        width = 8;
        break;
      case 0xd0:
        width = 1;
        is_signed = true;
        break;
      case 0xd1:
        width = 2;
        is_signed = true;
        break;
      case 0xd2:
        width = 4;
        is_signed = true;
        break;
      case 0xd3:
        width = 8;
        is_signed = true;
        break;
      default:
        return ReadStatus::wrong_type;
    }
    if (left() < 1 + width) return ReadStatus::truncated;
    const std::uint8_t* p = pos + 1;
    if (is_signed && (p[0] & 0x80) != 0) return ReadStatus::negative;
    switch (width) {
      case 1:
        value = p[0];
        break;
      case 2:
        value = load_be16(p);
        break;
      case 4:
        value = load_be32(p);
        break;
      default:
        value = load_be64(p);
        break;
    }
    pos += 1 + width;
    return ReadStatus::ok;
  }

  // str8/16/32 or fixstr.
  ReadStatus str(std::string_view& text) {
    if (pos == end) return ReadStatus::truncated;
    const std::uint8_t tag = *pos;
    std::size_t head = 1;
    std::size_t length = 0;
    if ((tag & 0xe0) == 0xa0) {
      length = tag & 0x1f;
    } else if (tag >= 0xd9 && tag <= 0xdb) {
      if (!sized(tag - 0xd9, head, length)) return ReadStatus::truncated;
    } else {
      return ReadStatus::wrong_type;
    }
    if (left() - head < length) return ReadStatus::truncated;
    text = {reinterpret_cast<const char*>(pos + head), length};
    pos += head + length;
    return ReadStatus::ok;
  }

  // bin8/16/32.
  ReadStatus bin(Bytes& bytes) {
    if (pos == end) return ReadStatus::truncated;
    const std::uint8_t tag = *pos;
    std::size_t head = 1;
    std::size_t length = 0;
    if (tag < 0xc4 || tag > 0xc6) return ReadStatus::wrong_type;
    if (!sized(tag - 0xc4, head, length)) return ReadStatus::truncated;
    if (left() - head < length) return ReadStatus::truncated;
    bytes = {pos + head, length};
    pos += head + length;
    return ReadStatus::ok;
  }

 private:
  // Reads the 1-, 2- or 4-byte length (width_code 0, 1, 2) that follows a tag.
  bool sized(int width_code, std::size_t& head, std::size_t& length) const {
    const std::size_t width = std::size_t{1} << width_code;
    if (left() < 1 + width) return false;
    const std::uint8_t* p = pos + 1;
    length = width == 1 ? p[0] : width == 2 ? load_be16(p) : load_be32(p);
    head = 1 + width;
    return true;
  }
};

// Writes items at `pos`; the caller guarantees the space (see the max_* helpers).
struct Writer {
  std::uint8_t* pos;

  static constexpr std::size_t kMaxUintBytes = 9;
  static constexpr std::size_t max_str_bytes(std::size_t length) { return 5 + length; }

  void array_length(std::uint32_t length) {
    if (length < 16) {
      *pos++ = static_cast<std::uint8_t>(0x90 | length);
    } else if (length <= 0xffff) {
      *pos++ = 0xdc;
      store_be16(pos, static_cast<std::uint16_t>(length));
      pos += 2;
    } else {
      *pos++ = 0xdd;
      store_be32(pos, length);
      pos += 4;
    }
  }

  // The shortest unsigned form: positive fixint, uint8, uint16, uint32 or uint64.
  void unsigned_int(std::uint64_t value) {
    if (value < 0x80) {
      *pos++ = static_cast<std::uint8_t>(value);
    } else if (value <= 0xff) {
      *pos++ = 0xcc;
      *pos++ = static_cast<std::uint8_t>(value);
    } else if (value <= 0xffff) {
      *pos++ = 0xcd;
      store_be16(pos, static_cast<std::uint16_t>(value));
      pos += 2;
    } else if (value <= 0xffffffff) {
      *pos++ = 0xce;
      store_be32(pos, static_cast<std::uint32_t>(value));
      pos += 4;
    } else {
      *pos++ = 0xcf;
      store_be64(pos, value);
      pos += 8;
    }
  }

  // The shortest str form.
  void str(std::string_view text) {
    const std::size_t length = text.size();
    if (length < 32) {
      *pos++ = static_cast<std::uint8_t>(0xa0 | length);
    } else {
      tagged_length(0xd9, length);
    }
    copy(as_bytes(text));
  }

  // The shortest bin form.
  void bin(Bytes bytes) {
    tagged_length(0xc4, bytes.size());
    copy(bytes);
  }

 private:
  // Writes `base_tag` (+1, +2 for 16- and 32-bit lengths) and the length.
  void tagged_length(std::uint8_t base_tag, std::size_t length) {
    if (length <= 0xff) {
      *pos++ = base_tag;
      *pos++ = static_cast<std::uint8_t>(length);
    } else if (length <= 0xffff) {
      *pos++ = static_cast<std::uint8_t>(base_tag + 1);
      store_be16(pos, static_cast<std::uint16_t>(length));
      pos += 2;
    } else {
      *pos++ = static_cast<std::uint8_t>(base_tag + 2);
      store_be32(pos, static_cast<std::uint32_t>(length));
      pos += 4;
    }
  }
  void copy(Bytes bytes) {
    if (!bytes.empty()) std::memcpy(pos, bytes.data(), bytes.size());
    pos += bytes.size();
  }
};

}  // namespace weft::mp
