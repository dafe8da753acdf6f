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
    heap_.push_back(Action{at_ns, next_seq_++, std::move(run)});
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
    std::function<void()> run = std::move(heap_.back().run);
    heap_.pop_back();
    return run;
  }

 private:
  struct Action {
    TimeNs at_ns;
    std::uint64_t seq;
    std::function<void()> run;
    bool operator>(const Action& other) const {
      return at_ns != other.at_ns ? at_ns > other.at_ns : seq > other.seq;
    }
  };
  std::vector<Action> heap_;  // a binary heap, earliest first
  std::uint64_t next_seq_ = 0;
};

}  // namespace weft::sim
