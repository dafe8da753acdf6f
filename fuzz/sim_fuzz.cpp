// libFuzzer target: the simulator with the fuzz input as its source of choices, so that
// coverage guides the search for fault schedules and libFuzzer's minimiser shrinks a
// failing one. The input picks the seed, 3 or 4 nodes, the profile (whose per-write and
// per-dial faults apply), then a schedule of traffic, partitions, heals, crashes, restarts
// and time (fuzz/stepped_driver.hpp); the oracle checks every step and liveness at the end.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "stepped_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  weft::fuzz::Choices in(data, size);
  weft::sim::SimOptions options;
  options.seed = in.below(1 << 16);
  options.nodes = static_cast<int>(in.in_range(3, 4));
  options.profile = static_cast<weft::sim::Profile>(in.below(5));  // clean .. chaos
  weft::fuzz::trace_from_environment(options);
  std::optional<std::string> failure;
  {
    weft::sim::SteppedSimulation simulation(options);
    failure = weft::fuzz::drive(simulation, in,
                                {.max_steps = 32, .max_large_advance_ns = 25'000'000'000});
  }
  weft::fuzz::fail_on(failure);
  return 0;
}
