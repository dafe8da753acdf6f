// weft-bench's scenarios (the list is in weft_bench.cpp's header comment).
#pragma once

#include "harness.hpp"

namespace weft_bench {

struct Run {
  Options options;
  Table table;
};

// Runs the scenarios `run.options.scenario` names (a name, a comma-separated list, or
// "all"), each with weft, raw TCP and the peers asked for; false (nothing run) if it names
// a scenario that does not exist.
bool run_scenarios(Run& run);

}  // namespace weft_bench
