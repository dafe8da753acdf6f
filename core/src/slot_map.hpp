// Dense storage with stable indices and O(1) insert, erase and lookup. Iteration visits live
// slots in index order, which depends only on the sequence of inserts and erases, so it is
// deterministic (unlike an unordered container's).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "invariant.hpp"

namespace weft::detail {

template <typename T>
class SlotMap {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  // Stores `value` and returns its slot; freed slots are reused, most recent first.
  std::uint32_t insert(T value) {
    std::uint32_t index;
    if (free_head_ != kNone) {
      index = free_head_;
      free_head_ = slots_[index].next_free;
    } else {
      index = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[index].value.emplace(std::move(value));
    ++live_;
    return index;
  }

  void erase(std::uint32_t index) {
    WEFT_ASSERT(index < slots_.size() && slots_[index].value.has_value());
    slots_[index].value.reset();
    slots_[index].next_free = free_head_;
    free_head_ = index;
    --live_;
  }

  // The value in `index`, or nullptr when that slot is free or out of range.
  T* find(std::uint32_t index) {
    return index < slots_.size() && slots_[index].value ? &*slots_[index].value : nullptr;
  }
  const T* find(std::uint32_t index) const {
    return index < slots_.size() && slots_[index].value ? &*slots_[index].value : nullptr;
  }

  std::size_t size() const { return live_; }
  bool empty() const { return live_ == 0; }

  // Calls f(index, value) for every live slot in index order. f must not insert or erase.
  template <typename F>
  void for_each(F&& f) {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].value) f(i, *slots_[i].value);
    }
  }
  template <typename F>
  void for_each(F&& f) const {
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].value) f(i, *slots_[i].value);
    }
  }

  void clear() {
    slots_.clear();
    free_head_ = kNone;
    live_ = 0;
  }

 private:
  struct Slot {
    std::optional<T> value;
    std::uint32_t next_free = kNone;
  };
  std::vector<Slot> slots_;
  std::uint32_t free_head_ = kNone;
  std::size_t live_ = 0;
};

}  // namespace weft::detail
