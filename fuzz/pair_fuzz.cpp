// libFuzzer target, structure-aware: two connected nodes (the real core, in the stepped
// simulator) and a sequence of choices from the input - requests, streams, writes, consumes,
// cancels, raw bytes injected into their connection, partitions, crashes, restarts and
// small steps of time - with the simulator's oracle checked after every step and liveness
// after the input (fuzz/stepped_driver.hpp). The first bytes choose the seed and whether
// the link has the chaos profile's per-write faults.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "stepped_driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  weft::fuzz::Choices in(data, size);
  weft::sim::SimOptions options;
  options.seed = in.below(1 << 16);
  options.nodes = 2;
  options.profile = in.flip() ? weft::sim::Profile::chaos : weft::sim::Profile::clean;
  weft::fuzz::trace_from_environment(options);
  std::optional<std::string> failure;
  {
    weft::sim::SteppedSimulation simulation(options);
    failure = weft::fuzz::drive(simulation, in,
                                {.max_steps = 48,
                                 .max_small_advance_ns = 20'000'000,
                                 .max_large_advance_ns = 25'000'000'000,
                                 .inject = true});
  }
  weft::fuzz::fail_on(failure);
  return 0;
}
