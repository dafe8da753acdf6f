// The fuzz input as a source of choices, in the manner of LLVM's FuzzedDataProvider (which
// ships with clang only; the replay build uses g++): numbers come from the front of the
// input, byte strings too. An exhausted input gives zeros, so every input is a complete run
// and libFuzzer's mutations of a byte change one choice.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace weft::fuzz {

class Choices {
 public:
  Choices(const std::uint8_t* data, std::size_t size) : rest_(data, size) {}

  bool empty() const { return rest_.empty(); }

  // A number in [0, count): one byte when count fits in one, else up to eight.
  std::uint64_t below(std::uint64_t count) {
    if (count <= 1) return 0;
    std::uint64_t value = 0;
    for (std::uint64_t range = 1; range < count && !rest_.empty(); range <<= 8) {
      value = value << 8 | rest_.front();
      rest_ = rest_.subspan(1);
    }
    return value % count;
  }
  std::uint64_t in_range(std::uint64_t low, std::uint64_t high) {  // [low, high]
    return low + below(high - low + 1);
  }
  bool flip() { return below(2) == 1; }
  std::uint64_t u64() { return below(UINT64_MAX); }

  // Up to `max` bytes (the count is a choice too).
  std::vector<std::uint8_t> bytes(std::size_t max) {
    const std::size_t count = std::min<std::size_t>(below(max + 1), rest_.size());
    std::vector<std::uint8_t> out(rest_.begin(), rest_.begin() + static_cast<long>(count));
    rest_ = rest_.subspan(count);
    return out;
  }

 private:
  std::span<const std::uint8_t> rest_;
};

}  // namespace weft::fuzz
