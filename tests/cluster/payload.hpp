// Payload bytes both the load driver and the checker compute from the same key, so the
// checker knows what every successful call had to carry without trusting the driver.
#pragma once

#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
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
    std::memcpy(bytes.data() + i, &z, std::min<std::size_t>(8, size - i));  // little-endian words
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

// Message `seq` (from 0) of stream `op`: 1 byte to `max_bytes` (by default 48 KiB, so one
// in three or so is over 32 KiB and travels in parts).
inline constexpr std::size_t kStreamMessageMaxBytes = 48 * 1024;

inline std::size_t stream_message_size(std::string_view driver, std::int64_t op, std::int64_t seq,
                                       std::size_t max_bytes = kStreamMessageMaxBytes) {
  return 1 + static_cast<std::size_t>(payload_key(driver, op, seq + 1) % max_bytes);
}

inline std::vector<std::uint8_t> stream_message(std::string_view driver, std::int64_t op,
                                                std::int64_t seq,
                                                std::size_t max_bytes = kStreamMessageMaxBytes) {
  return payload_bytes(payload_key(driver, op, seq + 1),
                       stream_message_size(driver, op, seq, max_bytes));
}

}  // namespace weft::chaos

namespace weft::chaos {

// Object data (docs/CHAOS.md, "Object streams"). Object `seq` (from 1) of the object stream
// that is operation `op`, when its data is in memory or produced: drawn from its own key.
inline std::vector<std::uint8_t> object_data(std::string_view driver, std::int64_t op,
                                             std::int64_t seq, std::size_t size) {
  return payload_bytes(payload_key(driver, op, seq), size);
}

// Each driver's scratch file, whose regions are the data of its objects sent from a file:
// kObjectFileBytes drawn from a key no operation has (operations are numbered from 0).
inline constexpr std::size_t kObjectFileBytes = 4 << 20;
inline std::vector<std::uint8_t> object_file(std::string_view driver) {
  return payload_bytes(payload_key(driver, -1, 0), kObjectFileBytes);
}

}  // namespace weft::chaos
