// LineThrottle: at most N lines per window of time, the rest counted, for log lines a remote
// party can cause without limit (every stranger's failed handshake is one). A value type,
// fed the caller's clock; not thread-safe (one per thread that logs).
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft::io {

class LineThrottle {
 public:
  // `lines_per_window` 0 lets every line through.
  explicit LineThrottle(std::size_t lines_per_window = 10, std::int64_t window_ms = 1'000)
      : lines_per_window_(lines_per_window), window_ms_(window_ms) {}

  // Whether a line at `now_ms` (a monotonic clock) may be written. When it may, `held_back`
  // is the number of lines held back since the last line let through (0 mostly): write one
  // line saying so before it. When it may not, the line is counted and `held_back` is 0.
  bool admit(std::int64_t now_ms, std::uint64_t& held_back) {
    held_back = 0;
    if (lines_per_window_ == 0) return true;
    if (lines_in_window_ == 0 || now_ms - window_start_ms_ >= window_ms_) {
      window_start_ms_ = now_ms;
      lines_in_window_ = 0;
    }
    if (lines_in_window_ >= lines_per_window_) {
      ++held_back_;
      return false;
    }
    ++lines_in_window_;
    held_back = held_back_;
    held_back_ = 0;
    return true;
  }

  // Lines held back and not yet reported by an admit.
  std::uint64_t held_back() const { return held_back_; }

 private:
  std::size_t lines_per_window_;
  std::int64_t window_ms_;
  std::int64_t window_start_ms_ = 0;
  std::size_t lines_in_window_ = 0;
  std::uint64_t held_back_ = 0;
};

}  // namespace weft::io
