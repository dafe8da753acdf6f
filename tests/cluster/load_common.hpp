// What weft-load's parts share: the clock of its records, the history file and the count of
// operations in flight.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "jsonl.hpp"

namespace weft::chaos {

using Clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The history file; lines from the loop thread and main never interleave.
class History {
 public:
  explicit History(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {}
  ~History() {
    if (file_) std::fclose(file_);
  }
  History(const History&) = delete;
  History& operator=(const History&) = delete;
  bool ok() const { return file_ != nullptr; }
  void write(JsonLine line) {
    const std::string text = line.add("t_ns", now_ns()).str();
    std::lock_guard lock(mutex_);
    std::fputs(text.c_str(), file_);
    std::fflush(file_);
  }

 private:
  std::mutex mutex_;
  std::FILE* file_;
};

// Operations in flight; main waits on it for room and, at the end, for zero.
class InFlight {
 public:
  void begin() {
    std::lock_guard lock(mutex_);
    ++count_;
  }
  void end() {
    std::lock_guard lock(mutex_);
    --count_;
    changed_.notify_all();
  }
  // Waits until fewer than `limit` are in flight or `until` passes.
  bool wait_below(std::size_t limit, Clock::time_point until) {
    std::unique_lock lock(mutex_);
    return changed_.wait_until(lock, until, [&] { return count_ < limit; });
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t count_ = 0;
};

}  // namespace weft::chaos
