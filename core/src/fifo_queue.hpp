// A first-in first-out queue on a ring of slots, for elements too large for std::deque to
// pack: libstdc++'s deque gives an element of more than 256 bytes a node of its own, so a
// queue of events (about 300 bytes each) paid a malloc and a free per event. The ring
// doubles when full (moving each element once) and is released when it empties after
// growing past `kKeptSlots`, so a burst does not keep its memory. Internal to core/.
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "invariant.hpp"

namespace weft::detail {

template <typename T>
class FifoQueue {
 public:
  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }

  // Appends an element constructed from `args` in its slot.
  template <typename... Args>
  void emplace_back(Args&&... args) {
    if (count_ == slots_.size()) grow();
    slots_[(head_ + count_) & (slots_.size() - 1)].emplace(std::forward<Args>(args)...);
    ++count_;
  }

  // Removes and returns the first element (nullopt when empty), moved once.
  std::optional<T> take_front() {
    if (empty()) return std::nullopt;
    std::optional<T>& slot = slots_[head_];
    std::optional<T> item = std::move(slot);
    slot.reset();
    head_ = (head_ + 1) & (slots_.size() - 1);
    if (--count_ == 0) {
      head_ = 0;
      if (slots_.size() > kKeptSlots) std::vector<std::optional<T>>().swap(slots_);
    }
    return item;
  }

 private:
  static constexpr std::size_t kFirstSlots = 16;
  static constexpr std::size_t kKeptSlots = 1024;

  // Doubles the ring (a power of two, so positions wrap with a mask), the elements in
  // order from slot 0.
  void grow() {
    std::vector<std::optional<T>> bigger(slots_.empty() ? kFirstSlots : slots_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) {
      bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    }
    slots_.swap(bigger);
    head_ = 0;
  }

  std::vector<std::optional<T>> slots_;  // empty, or a power of two
  std::size_t head_ = 0;                 // the slot of the first element
  std::size_t count_ = 0;
};

}  // namespace weft::detail
