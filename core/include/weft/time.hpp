// Time in the core: the driver passes monotonic instants in; the core never reads a clock.
#pragma once

#include <cstdint>
#include <limits>

namespace weft {

// A monotonic instant: nanoseconds since an origin the driver chooses. Every input and
// command carries one, and they must never go backwards.
using TimeNs = std::int64_t;

// The latest instant a node may be given (2^62 ns, about 146 years past the origin): the
// core adds spans to instants (timeouts of up to 49 days, a keepalive's pings times its
// interval), each under 2^62 ns, and the sum must not overflow. The constructor refuses a
// start past it; later instants past it are a contract breach (asserted in debug builds).
inline constexpr TimeNs kMaxTimeNs = TimeNs{1} << 62;

// "No deadline": what next_deadline() returns when nothing is scheduled.
inline constexpr TimeNs kNever = std::numeric_limits<TimeNs>::max();

inline constexpr TimeNs ns_from_ms(std::int64_t ms) {
  return ms * 1'000'000;
}
inline constexpr std::int64_t ms_from_ns(TimeNs ns) {
  return ns / 1'000'000;
}

}  // namespace weft
