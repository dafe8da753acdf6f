// The deadlines of a connection's requests and streams: (deadline, key) pairs that can be
// scheduled, moved or removed by key, and read earliest first. Keys are small integers
// chosen by the owner. Ties break by the order of scheduling, so expiry is deterministic.
//
// Most deadlines are scheduled in order: a request's is the turn's clock plus one timeout
// shared by most calls, so each new one is at or after the latest. Those join a run (a
// list in deadline order, O(1) to append and to remove from anywhere). A deadline earlier
// than the run's last goes to a binary min-heap (O(log n)). The earliest is the run's head
// or the heap's top. Nothing is deleted lazily: a key that ends early leaves nothing behind.
#pragma once

#include <cstdint>
#include <tuple>
#include <vector>

#include "invariant.hpp"
#include "weft/time.hpp"

namespace weft::detail {

class DeadlineHeap {
 public:
  // Schedules `key` at `deadline_ns`, replacing its earlier deadline if it has one (it then
  // ties as if scheduled now).
  void set(std::uint32_t key, TimeNs deadline_ns) {
    if (key >= keys_.size()) keys_.resize(key + 1);
    erase(key);
    Key& entry = keys_[key];
    entry.deadline_ns = deadline_ns;
    entry.order = next_order_++;
    if (run_tail_ == kAbsent || keys_[run_tail_].deadline_ns <= deadline_ns) {
      append_to_run(key);
    } else {
      heap_push(key);
    }
    ++size_;
  }

  // Removes `key` if it is scheduled.
  void erase(std::uint32_t key) {
    if (key >= keys_.size()) return;
    Key& entry = keys_[key];
    if (entry.place == Place::run) {
      unlink_from_run(key);
    } else if (entry.place == Place::heap) {
      heap_remove(entry.heap_index);
    } else {
      return;
    }
    entry.place = Place::none;
    --size_;
  }

  bool empty() const { return size_ == 0; }
  bool contains(std::uint32_t key) const {
    return key < keys_.size() && keys_[key].place != Place::none;
  }
  std::size_t size() const { return size_; }
  // The earliest deadline, kNever when empty.
  TimeNs top_deadline() const { return empty() ? kNever : keys_[top_key()].deadline_ns; }
  // The key of the earliest deadline (the first scheduled among equal ones).
  std::uint32_t top_key() const {
    WEFT_ASSERT(!empty());
    if (heap_.empty()) return run_head_;
    if (run_head_ == kAbsent) return heap_.front();
    return before(heap_.front(), run_head_) ? heap_.front() : run_head_;
  }
  void clear() {
    keys_.clear();
    heap_.clear();
    run_head_ = run_tail_ = kAbsent;
    size_ = 0;
  }

  // The run is in order and linked both ways, the heap order holds, every key's recorded
  // place is where it is, and size() counts both.
  void check_invariants() const {
    std::size_t in_run = 0;
    std::uint32_t previous = kAbsent;
    for (std::uint32_t key = run_head_; key != kAbsent; key = keys_[key].next) {
      WEFT_ASSERT(keys_[key].place == Place::run && keys_[key].previous == previous);
      WEFT_ASSERT(previous == kAbsent || before(previous, key));
      previous = key;
      ++in_run;
    }
    WEFT_ASSERT(previous == run_tail_);
    for (std::size_t at = 0; at < heap_.size(); ++at) {
      WEFT_ASSERT(keys_[heap_[at]].place == Place::heap && keys_[heap_[at]].heap_index == at);
      WEFT_ASSERT(at == 0 || !before(heap_[at], heap_[(at - 1) / 2]));
    }
    std::size_t scheduled = 0;
    for (const Key& entry : keys_)
      scheduled += entry.place != Place::none ? 1 : 0;
    WEFT_ASSERT(scheduled == size_ && in_run + heap_.size() == size_);
  }

 private:
  static constexpr std::uint32_t kAbsent = UINT32_MAX;
  enum class Place : std::uint8_t { none, run, heap };
  struct Key {
    TimeNs deadline_ns = kNever;
    std::uint64_t order = 0;           // when it was scheduled: breaks ties
    std::uint32_t previous = kAbsent;  // in the run
    std::uint32_t next = kAbsent;      // in the run
    std::uint32_t heap_index = 0;      // in the heap
    Place place = Place::none;
  };

  // Whether `a` is due before `b`.
  bool before(std::uint32_t a, std::uint32_t b) const {
    return std::tie(keys_[a].deadline_ns, keys_[a].order) <
           std::tie(keys_[b].deadline_ns, keys_[b].order);
  }

  void append_to_run(std::uint32_t key) {
    Key& entry = keys_[key];
    entry.place = Place::run;
    entry.previous = run_tail_;
    entry.next = kAbsent;
    if (run_tail_ == kAbsent) {
      run_head_ = key;
    } else {
      keys_[run_tail_].next = key;
    }
    run_tail_ = key;
  }
  void unlink_from_run(std::uint32_t key) {
    const Key& entry = keys_[key];
    if (entry.previous == kAbsent) {
      run_head_ = entry.next;
    } else {
      keys_[entry.previous].next = entry.next;
    }
    if (entry.next == kAbsent) {
      run_tail_ = entry.previous;
    } else {
      keys_[entry.next].previous = entry.previous;
    }
  }

  void heap_push(std::uint32_t key) {
    keys_[key].place = Place::heap;
    heap_.push_back(key);
    sift_up(heap_.size() - 1);
  }
  void heap_remove(std::size_t at) {
    const std::uint32_t last = heap_.back();
    heap_.pop_back();
    if (at == heap_.size()) return;
    place(at, last);
    sift_down(sift_up(at));
  }
  void place(std::size_t at, std::uint32_t key) {
    heap_[at] = key;
    keys_[key].heap_index = static_cast<std::uint32_t>(at);
  }
  std::size_t sift_up(std::size_t at) {
    const std::uint32_t key = heap_[at];
    while (at > 0) {
      const std::size_t parent = (at - 1) / 2;
      if (!before(key, heap_[parent])) break;
      place(at, heap_[parent]);
      at = parent;
    }
    place(at, key);
    return at;
  }
  void sift_down(std::size_t at) {
    const std::uint32_t key = heap_[at];
    while (true) {
      std::size_t child = 2 * at + 1;
      if (child >= heap_.size()) break;
      if (child + 1 < heap_.size() && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], key)) break;
      place(at, heap_[child]);
      at = child;
    }
    place(at, key);
  }

  std::vector<Key> keys_;            // by key
  std::vector<std::uint32_t> heap_;  // keys scheduled out of order, earliest first
  std::uint32_t run_head_ = kAbsent;
  std::uint32_t run_tail_ = kAbsent;
  std::size_t size_ = 0;
  std::uint64_t next_order_ = 0;
};

}  // namespace weft::detail
