#include "invariant.hpp"

#include <string>

namespace weft {

bool invariant_checks_enabled() {
  return WEFT_INVARIANTS != 0;
}

namespace detail {

void invariant_failed(const char* condition, const char* file, int line) {
  throw InvariantViolation(std::string("weft invariant broken: ") + condition + " (" + file + ":" +
                           std::to_string(line) + ")");
}

}  // namespace detail
}  // namespace weft
