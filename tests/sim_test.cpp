// The deterministic simulator over every fault profile, and its determinism.
#include <gtest/gtest.h>

#include "weft/sim/simulator.hpp"

namespace weft::sim {
namespace {

constexpr int kSeedsPerProfile = 8;

SimOptions options_for(Profile profile, std::uint64_t seed) {
  SimOptions options;
  options.seed = seed;
  options.nodes = 6;
  options.profile = profile;
  options.fault_ns = 8'000'000'000;
  options.requests_per_s = 300;
  return options;
}

class SimProfiles : public ::testing::TestWithParam<Profile> {};

TEST_P(SimProfiles, EverySeedPassesSafetyAndLiveness) {
  std::uint64_t faults = 0;
  for (std::uint64_t seed = 1; seed <= kSeedsPerProfile; ++seed) {
    const SimResult result = run_simulation(options_for(GetParam(), seed));
    EXPECT_EQ(result.kind, SimResult::Kind::pass)
        << "weft-sim run --seed " << seed << " --nodes 6 --profile " << profile_name(GetParam())
        << " --duration 8: " << result.message;
    EXPECT_GT(result.requests, 100u);
    EXPECT_GT(result.completed_ok, 0u);
    faults += result.faults;
  }
  // Every profile but clean injects faults (swarm: in most of its seeds).
  if (GetParam() == Profile::clean) {
    EXPECT_EQ(faults, 0u);
  } else {
    EXPECT_GT(faults, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Profiles, SimProfiles,
                         ::testing::Values(Profile::clean, Profile::lossy, Profile::partition,
                                           Profile::crashy, Profile::chaos, Profile::swarm),
                         [](const auto& param_info) {
                           return std::string(profile_name(param_info.param));
                         });

TEST(Sim, SameSeedSameTraceDifferentSeedDifferentTrace) {
  const SimResult first = run_simulation(options_for(Profile::chaos, 42));
  const SimResult again = run_simulation(options_for(Profile::chaos, 42));
  const SimResult other = run_simulation(options_for(Profile::chaos, 43));
  EXPECT_EQ(first.trace_hash, again.trace_hash);
  EXPECT_EQ(first.events, again.events);
  EXPECT_EQ(first.requests, again.requests);
  EXPECT_NE(first.trace_hash, other.trace_hash);
}

TEST(Sim, SwarmDrawsDifferentFaultMixesPerSeed) {
  int kinds_off = 0;
  int kinds_on = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const FaultRates rates = profile_rates(Profile::swarm, seed);
    for (double rate : {rates.reset_per_s, rates.partition_per_s, rates.crash_per_s,
                        rates.clog_per_s, rates.bitflip_per_mib}) {
      (rate == 0 ? kinds_off : kinds_on) += 1;
    }
  }
  EXPECT_GT(kinds_off, 10);
  EXPECT_GT(kinds_on, 10);
}

}  // namespace
}  // namespace weft::sim
