// A binary min-heap of (deadline, key) that can remove or move any key in O(log n), so a
// request that ends early leaves nothing behind (no lazy deletion, no growth). Keys are
// small integers chosen by the owner; ties break by key, so the order is deterministic.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "invariant.hpp"
#include "weft/time.hpp"

namespace weft::detail {

class DeadlineHeap {
 public:
  // Schedules `key` at `deadline_ns`, replacing its earlier deadline if it has one.
  void set(std::uint32_t key, TimeNs deadline_ns) {
    if (key >= position_.size()) position_.resize(key + 1, kAbsent);
    if (position_[key] != kAbsent) {
      const std::size_t at = position_[key];
      heap_[at].first = deadline_ns;
      sift_down(sift_up(at));
      return;
    }
    heap_.emplace_back(deadline_ns, key);
    position_[key] = static_cast<std::uint32_t>(heap_.size() - 1);
    sift_up(heap_.size() - 1);
  }

  // Removes `key` if it is scheduled.
  void erase(std::uint32_t key) {
    if (key >= position_.size() || position_[key] == kAbsent) return;
    const std::size_t at = position_[key];
    position_[key] = kAbsent;
    if (at + 1 != heap_.size()) {
      heap_[at] = heap_.back();
      position_[heap_[at].second] = static_cast<std::uint32_t>(at);
      heap_.pop_back();
      sift_down(sift_up(at));
    } else {
      heap_.pop_back();
    }
  }

  bool empty() const { return heap_.empty(); }
  bool contains(std::uint32_t key) const {
    return key < position_.size() && position_[key] != kAbsent;
  }
  // The heap order holds and every key's recorded position is where it sits.
  void check_invariants() const {
    for (std::size_t at = 0; at < heap_.size(); ++at) {
      WEFT_ASSERT(position_[heap_[at].second] == at);
      WEFT_ASSERT(at == 0 || !(heap_[at] < heap_[(at - 1) / 2]));
    }
    std::size_t scheduled = 0;
    for (const std::uint32_t at : position_)
      scheduled += at != kAbsent ? 1 : 0;
    WEFT_ASSERT(scheduled == heap_.size());
  }
  std::size_t size() const { return heap_.size(); }
  // The earliest deadline, kNever when empty.
  TimeNs top_deadline() const { return heap_.empty() ? kNever : heap_.front().first; }
  std::uint32_t top_key() const {
    WEFT_ASSERT(!heap_.empty());
    return heap_.front().second;
  }
  void clear() {
    heap_.clear();
    position_.clear();
  }

 private:
  static constexpr std::uint32_t kAbsent = UINT32_MAX;
  using Entry = std::pair<TimeNs, std::uint32_t>;

  void place(std::size_t at, Entry entry) {
    heap_[at] = entry;
    position_[entry.second] = static_cast<std::uint32_t>(at);
  }
  std::size_t sift_up(std::size_t at) {
    const Entry entry = heap_[at];
    while (at > 0) {
      const std::size_t parent = (at - 1) / 2;
      if (!(entry < heap_[parent])) break;
      place(at, heap_[parent]);
      at = parent;
    }
    place(at, entry);
    return at;
  }
  void sift_down(std::size_t at) {
    const Entry entry = heap_[at];
    while (true) {
      std::size_t child = 2 * at + 1;
      if (child >= heap_.size()) break;
      if (child + 1 < heap_.size() && heap_[child + 1] < heap_[child]) ++child;
      if (!(heap_[child] < entry)) break;
      place(at, heap_[child]);
      at = child;
    }
    place(at, entry);
  }

  std::vector<Entry> heap_;
  std::vector<std::uint32_t> position_;  // key -> index in heap_, kAbsent if not scheduled
};

}  // namespace weft::detail
