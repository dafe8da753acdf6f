// Building error messages: only on failure, but a fuzzer fails on nearly every input, and
// under a sanitizer each allocation is dear. join() measures its parts and makes one string;
// the short parts below fit std::string's inline buffer or a stack array (no allocation).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "weft/bytes.hpp"

namespace weft::detail {

// The first `max_bytes` bytes of `text` or fewer: a cut never splits a UTF-8 character (it
// moves back over continuation bytes, at most three), so text that was UTF-8 stays so.
inline std::string_view clip_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  for (int back = 0; back < 3 && cut > 0; ++back) {
    if ((static_cast<unsigned char>(text[cut]) & 0xc0) != 0x80) break;  // a character starts
    --cut;
  }
  return text.substr(0, cut);
}

// Longest error text carried in a frame; far below any frame limit.
inline constexpr std::size_t kMaxErrorText = 4096;
inline std::string_view clip_error_text(std::string_view text) {
  return clip_utf8(text, kMaxErrorText);
}

inline std::string join(std::initializer_list<std::string_view> parts) {
  std::size_t total = 0;
  for (std::string_view part : parts)
    total += part.size();
  std::string text;
  text.reserve(total);
  for (std::string_view part : parts)
    text.append(part);
  return text;
}

// A message of at most 192 characters held inline (a longer one is cut short), for the
// decoder's failures: they are built and dropped on nearly every input a fuzzer tries, and a
// decoder copies one into its error's string, whose memory it keeps from one stream to the
// next, so decoding allocates nothing for errors once warm.
class ShortText {
 public:
  ShortText() noexcept {}  // chars_ stays uninitialised: only the first size_ are read
  ShortText(std::initializer_list<std::string_view> parts) noexcept {
    for (std::string_view part : parts)
      append(part);
  }
  void append(std::string_view part) noexcept {
    const std::size_t count = std::min(part.size(), chars_.size() - size_);
    if (count != 0) std::memcpy(chars_.data() + size_, part.data(), count);
    size_ += count;
  }
  std::string_view view() const { return {chars_.data(), size_}; }

 private:
  std::array<char, 192> chars_;
  std::size_t size_ = 0;
};

// At most 20 digits: inline in std::string.
inline std::string decimal(std::uint64_t value) {
  return std::to_string(value);
}

inline constexpr char kHexDigits[] = "0123456789abcdef";

// "0xa5".
inline std::string hex_byte(std::uint8_t value) {
  return {'0', 'x', kHexDigits[value >> 4], kHexDigits[value & 0x0f]};
}

// The lowercase hex of exactly 8 bytes (a checksum), on the stack.
class Hex8 {
 public:
  explicit Hex8(const std::uint8_t* bytes) {
    for (std::size_t i = 0; i < 8; ++i) {
      digits_[2 * i] = kHexDigits[bytes[i] >> 4];
      digits_[2 * i + 1] = kHexDigits[bytes[i] & 0x0f];
    }
  }
  std::string_view view() const { return {digits_.data(), digits_.size()}; }

 private:
  std::array<char, 16> digits_{};
};

}  // namespace weft::detail
