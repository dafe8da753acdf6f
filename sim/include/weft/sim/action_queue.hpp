// The simulators' agenda: actions ordered by (time, order of scheduling), so that actions
// due at the same instant run in the order they were scheduled and a run is deterministic.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <queue>
#include <vector>

#include "weft/time.hpp"

namespace weft::sim {

class ActionQueue {
 public:
  // Schedules `run` at `at_ns`.
  void at(TimeNs at_ns, std::function<void()> run) {
    queue_.push(Action{at_ns, next_seq_++, std::move(run)});
  }
  bool empty() const { return queue_.empty(); }
  std::size_t size() const { return queue_.size(); }
  // When the earliest action is due; kNever when there is none.
  TimeNs next_time() const { return queue_.empty() ? kNever : queue_.top().at_ns; }
  // Removes and returns the earliest action if it is due at or before `now_ns`.
  std::optional<std::function<void()>> pop_due(TimeNs now_ns) {
    if (queue_.empty() || queue_.top().at_ns > now_ns) return std::nullopt;
    std::function<void()> run = queue_.top().run;
    queue_.pop();
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
  std::priority_queue<Action, std::vector<Action>, std::greater<>> queue_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace weft::sim
