#include "schedule.hpp"

#include <algorithm>
#include <random>

namespace weft::chaos {

const char* fault_kind_name(FaultKind kind) {
  static constexpr const char* kNames[kFaultKinds] = {"partition", "one_way", "loss",  "reset",
                                                      "bandwidth", "pause",   "crash", "half_open",
                                                      "leave",     "join"};
  return kNames[static_cast<int>(kind)];
}

namespace {

std::string group_text(const std::vector<std::string>& group) {
  std::string text = "{";
  for (const std::string& name : group)
    text += (text.size() > 1 ? "," : "") + name;
  return text + "}";
}

// Draws with an explicit generator and distributions only over integers: the sequence is
// the same on every standard library (std::shuffle's is not specified, so it is not used).
class Draw {
 public:
  explicit Draw(std::uint64_t seed) : random_(seed) {}
  std::int64_t between(std::int64_t low, std::int64_t high) {
    return low + static_cast<std::int64_t>(random_() % static_cast<std::uint64_t>(high - low + 1));
  }
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1],
                items[static_cast<std::size_t>(between(0, static_cast<std::int64_t>(i) - 1))]);
    }
  }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[static_cast<std::size_t>(between(0, static_cast<std::int64_t>(items.size()) - 1))];
  }

 private:
  std::mt19937_64 random_;
};

// Two disjoint non-empty groups: a pair of members, or the members split in halves.
void pick_groups(Draw& draw, const ScheduleOptions& options, Fault& fault) {
  std::vector<std::string> members = options.nodes;
  members.insert(members.end(), options.drivers.begin(), options.drivers.end());
  draw.shuffle(members);
  if (draw.between(0, 2) == 0 && members.size() >= 4) {
    const std::size_t half = members.size() / 2;
    fault.from.assign(members.begin(), members.begin() + static_cast<std::ptrdiff_t>(half));
    fault.to.assign(members.begin() + static_cast<std::ptrdiff_t>(half), members.end());
  } else {
    // A pair with at least one node in it: two drivers never talk to each other.
    std::vector<std::string> nodes = options.nodes;
    draw.shuffle(nodes);
    fault.from = {nodes[0]};
    std::string other;
    do
      other = draw.pick(members);
    while (other == nodes[0]);
    fault.to = {other};
  }
  std::sort(fault.from.begin(), fault.from.end());
  std::sort(fault.to.begin(), fault.to.end());
}

Fault draw_fault(Draw& draw, const ScheduleOptions& options, FaultKind kind) {
  Fault fault;
  fault.kind = kind;
  switch (kind) {
    case FaultKind::partition:
    case FaultKind::one_way:
    case FaultKind::reset:
      pick_groups(draw, options, fault);
      break;
    case FaultKind::loss:
      pick_groups(draw, options, fault);
      fault.loss_percent = static_cast<int>(draw.between(1, 20));
      break;
    case FaultKind::bandwidth:
      fault.rate_mbit = static_cast<int>(draw.pick(std::vector<std::int64_t>{8, 20, 50, 200}));
      break;
    case FaultKind::pause:
    case FaultKind::crash:
    case FaultKind::half_open:
    case FaultKind::leave:
    case FaultKind::join:
      fault.from = {draw.pick(options.nodes)};
      break;
  }
  return fault;
}

}  // namespace

std::string Fault::describe() const {
  std::string text = fault_kind_name(kind);
  switch (kind) {
    case FaultKind::partition:
    case FaultKind::reset:
      return text + " " + group_text(from) + " | " + group_text(to);
    case FaultKind::one_way:
      return text + " " + group_text(from) + " -> " + group_text(to);
    case FaultKind::loss:
      return text + " " + std::to_string(loss_percent) + "% " + group_text(from) + " | " +
             group_text(to);
    case FaultKind::bandwidth:
      return text + " lo " + std::to_string(rate_mbit) + " mbit/s";
    case FaultKind::pause:
    case FaultKind::crash:
    case FaultKind::half_open:
    case FaultKind::leave:
    case FaultKind::join:
      return text + " " + from.front();
  }
  return text;
}

std::vector<Fault> make_schedule(const ScheduleOptions& options) {
  Draw draw(options.seed);
  std::vector<FaultKind> first_round;
  for (int kind = 0; kind < kFaultKinds; ++kind)
    first_round.push_back(static_cast<FaultKind>(kind));
  draw.shuffle(first_round);
  std::vector<Fault> faults;
  std::int64_t at_ms = draw.between(300, 1'500);
  for (std::size_t i = 0;; ++i) {
    const FaultKind kind = i < first_round.size()
                               ? first_round[i]
                               : static_cast<FaultKind>(draw.between(0, kFaultKinds - 1));
    Fault fault = draw_fault(draw, options, kind);
    fault.start_ms = at_ms;
    fault.end_ms = at_ms + draw.between(1'000, 5'000);
    // Past the phase: the first round still goes in whole (each kind at least once).
    if (fault.end_ms > options.duration_ms && i >= first_round.size()) break;
    fault.id = static_cast<int>(faults.size()) + 1;
    at_ms = fault.end_ms + draw.between(300, 1'500);
    faults.push_back(std::move(fault));
  }
  return faults;
}

}  // namespace weft::chaos
