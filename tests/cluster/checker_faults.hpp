// What the checker's rules share about the run's faults (checker.cpp, checker_objects.cpp).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace weft::chaos {

// A fault as the run's record tells it, for deciding whether it can explain a failure.
struct FaultSpan {
  std::string kind;
  std::set<std::string, std::less<>> from;
  std::set<std::string, std::less<>> to;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = std::numeric_limits<std::int64_t>::max();  // until its end record

  // A leave or join: the other members removed the node in `from` while it lasted.
  bool membership() const { return kind == "leave" || kind == "join"; }

  // Whether it can disturb traffic between a and b. A one-way drop counts both ways: TCP
  // needs the other direction for its acknowledgements.
  bool touches(std::string_view a, std::string_view b) const {
    if (kind == "bandwidth") return true;
    if (kind == "pause" || kind == "crash" || kind == "half_open" || membership())
      return from.contains(a) || from.contains(b);
    return (from.contains(a) && to.contains(b)) || (from.contains(b) && to.contains(a));
  }
};

// After a fault ends a pair may need this long to be back: dead-peer detection (2 missed
// pings of 1 s, up to 3 s), the redial backoff (at most 5 s, +20 % jitter) and the connect.
constexpr std::int64_t kFaultAftermathNs = 12'000'000'000;

// Whether a fault of `faults` touched the pair (a, b) between `from_ns` - kFaultAftermathNs
// and `to_ns`: the window in which it can explain a failure seen at `to_ns`.
inline bool fault_explains(const std::map<std::int64_t, FaultSpan>& faults, std::string_view a,
                           std::string_view b, std::int64_t from_ns, std::int64_t to_ns) {
  for (const auto& [id, fault] : faults) {
    if (fault.begin_ns <= to_ns && fault.end_ns >= from_ns - kFaultAftermathNs &&
        fault.touches(a, b))
      return true;
  }
  return false;
}

// Each process learns of a membership change by SIGHUP a moment after the harness records
// it; this much is allowed for that.
constexpr std::int64_t kMembershipLatencyNs = 2'000'000'000;

// Whether a membership fault removed `a` or `b` while `at_ns` was within it: what explains a
// call, stream or object between them ending with peer_removed (the side that removed the
// other ends everything with it at once), or a relay's unknown_peer.
inline bool removal_explains(const std::map<std::int64_t, FaultSpan>& faults, std::string_view a,
                             std::string_view b, std::int64_t at_ns) {
  for (const auto& [id, fault] : faults) {
    if (fault.membership() && fault.touches(a, b) && fault.begin_ns <= at_ns &&
        at_ns <= fault.end_ns + kMembershipLatencyNs)
      return true;
  }
  return false;
}

}  // namespace weft::chaos
