// The core's own consistency checks (TigerBeetle style: assert a lot, after every change).
//
// In builds with assertions (NDEBUG not defined: the debug and asan presets) the node checks
// every invariant of a connection after each input and command that touched it, and every
// internal assertion is live. A broken one throws InvariantViolation: a bug in weft itself, or
// a driver breaking its contract (time going backwards, consuming more output than there
// is); never something a peer can cause (bad input gets a typed error instead). The simulator
// reports it as the outcome "assertion"; any other program ends as after a failed assert, unless it
// catches it. A node that threw must not be used again. Builds with NDEBUG compile every check out.
#pragma once

#include <stdexcept>

namespace weft {

struct InvariantViolation : std::logic_error {
  using std::logic_error::logic_error;
};

// Whether this build of the core checks its invariants.
bool invariant_checks_enabled();

}  // namespace weft
