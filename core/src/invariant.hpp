// WEFT_ASSERT(condition): an internal invariant; see weft/invariant.hpp. Live exactly when
// NDEBUG is not defined, like assert, but a failure throws InvariantViolation (with the
// condition and its place) so the simulator can report it instead of dying.
#pragma once

#include "weft/invariant.hpp"

namespace weft::detail {

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line);

}  // namespace weft::detail

#ifdef NDEBUG
#define WEFT_INVARIANTS 0
// Not evaluated, but still compiled, so a check cannot rot in release builds.
#define WEFT_ASSERT(condition) static_cast<void>(sizeof((condition) ? 1 : 0))
#else
#define WEFT_INVARIANTS 1
#define WEFT_ASSERT(condition)        \
  ((condition) ? static_cast<void>(0) \
               : ::weft::detail::invariant_failed(#condition, __FILE__, __LINE__))
#endif
