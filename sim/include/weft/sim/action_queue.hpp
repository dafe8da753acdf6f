// The simulators' agenda: actions ordered by (time, order of scheduling), so that actions
// due at the same instant run in the order they were scheduled and a run is deterministic.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "weft/time.hpp"

namespace weft::sim {

class ActionQueue {
 public:
  // Schedules `run` at `at_ns`.
  void at(TimeNs at_ns, std::function<void()> run) {
    std::uint32_t slot = 0;
    if (free_slots_.empty()) {
      slot = static_cast<std::uint32_t>(actions_.size());
      actions_.push_back(std::move(run));
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
      actions_[slot] = std::move(run);
    }
    heap_.push_back(Entry{at_ns, next_seq_++, slot});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
  }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // When the earliest action is due; kNever when there is none.
  TimeNs next_time() const { return heap_.empty() ? kNever : heap_.front().at_ns; }
  // Removes and returns the earliest action if it is due at or before `now_ns`. The action
  // is moved out, never copied: actions carry the bytes in flight.
  std::optional<std::function<void()>> pop_due(TimeNs now_ns) {
    if (heap_.empty() || heap_.front().at_ns > now_ns) return std::nullopt;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    const std::uint32_t slot = heap_.back().slot;
    heap_.pop_back();
    std::function<void()> run = std::move(actions_[slot]);
    actions_[slot] = nullptr;
    free_slots_.push_back(slot);
    return run;
  }

 private:
  // The heap orders small entries; the actions stay put in their slots, since moving a
  // std::function at every step of a sift costs far more than moving three words.
  struct Entry {
    TimeNs at_ns;
    std::uint64_t seq;
    std::uint32_t slot;  // in actions_
    bool operator>(const Entry& other) const {
      return at_ns != other.at_ns ? at_ns > other.at_ns : seq > other.seq;
    }
  };
  std::vector<Entry> heap_;  // a binary heap, earliest first
  std::vector<std::function<void()>> actions_;
  std::vector<std::uint32_t> free_slots_;  // slots of actions_ that hold nothing
  std::uint64_t next_seq_ = 0;
};

}  // namespace weft::sim
