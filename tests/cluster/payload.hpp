// Payload bytes both the load driver and the checker compute from the same key, so the
// checker knows what every successful call had to carry without trusting the driver.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace weft::chaos {

// The key of one payload: the driver's name, the operation and a part number (a stream's
// message; 0 for a call).
inline std::uint64_t payload_key(std::string_view driver, std::int64_t op, std::int64_t part) {
  const std::string text =
      std::string(driver) + "/" + std::to_string(op) + "/" + std::to_string(part);
  return XXH3_64bits(text.data(), text.size());
}

// `size` bytes drawn from `key` (splitmix64).
inline std::vector<std::uint8_t> payload_bytes(std::uint64_t key, std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  std::uint64_t state = key;
  for (std::size_t i = 0; i < size; i += 8) {
    state += 0x9e3779b97f4a7c15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (std::size_t b = 0; b < 8 && i + b < size; ++b)
      bytes[i + b] = static_cast<std::uint8_t>(z >> (8 * b));
  }
  return bytes;
}

// The digest recorded in histories: XXH3-64 of the bytes, 16 hex digits.
inline std::string digest(std::span<const std::uint8_t> bytes) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(bytes.data(), bytes.size())));
  return text;
}

inline std::string digest(std::string_view text) {
  return digest(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace weft::chaos

namespace weft::chaos {

// The size of message `seq` (from 0) of stream `op`: 1 byte to 48 KiB, so one in three
// or so is over 32 KiB and travels in parts.
inline std::size_t stream_message_size(std::string_view driver, std::int64_t op, std::int64_t seq) {
  return 1 + static_cast<std::size_t>(payload_key(driver, op, seq + 1) % (48 * 1024));
}

inline std::vector<std::uint8_t> stream_message(std::string_view driver, std::int64_t op,
                                                std::int64_t seq) {
  return payload_bytes(payload_key(driver, op, seq + 1), stream_message_size(driver, op, seq));
}

}  // namespace weft::chaos
