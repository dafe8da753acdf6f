// weft-sim scale: a large cluster whose nodes each talk to a few partners (scale_command.cpp).
#pragma once

#include <span>

#include "weft/sim/simulator.hpp"

namespace weft::sim {

// Runs `weft-sim scale` with the arguments after the command name; returns the exit code
// (0 when the oracle passed, 1 when it failed, 2 for a usage error).
int scale_command(std::span<char*> args);

}  // namespace weft::sim
