// The simulator's public functions (simulator.hpp): profiles and their fault rates and
// workloads, fault kinds, canaries, result names, and run_simulation. The world itself is in
// world.cpp; its parts are network.cpp, faults.cpp, workload.cpp, oracle.cpp and trace.cpp.
#include "weft/sim/simulator.hpp"

#include <algorithm>
#include <cmath>

#include "weft/invariant.hpp"
#include "weft/random.hpp"
#include "world.hpp"

namespace weft::sim {
namespace {

struct CanaryName {
  Canary canary;
  const char* name;
};
constexpr CanaryName kCanaries[] = {
    {Canary::reader_waits_for_output, "reader_waits_for_output"},
    {Canary::credit_off_by_one, "credit_off_by_one"},
    {Canary::old_generation_frames, "old_generation_frames"},
    {Canary::stream_budget_leak, "stream_budget_leak"},
    {Canary::object_lost_completion, "object_lost_completion"},
    {Canary::object_duplicate_after_resume, "object_duplicate_after_resume"},
    {Canary::removal_forgets_a_call, "removal_forgets_a_call"},
    {Canary::bundle_last_result_only, "bundle_last_result_only"},
    {Canary::writer_stalls_mid_frame, "writer_stalls_mid_frame"},
    {Canary::disconnected_on_live_connection, "disconnected_on_live_connection"},
    {Canary::object_disconnected_on_live_connection, "object_disconnected_on_live_connection"},
};

}  // namespace

// Unknown names (weft-sim checks them against canary_names() first) plant nothing.
Canary canary_from_name(const std::string& name) {
  for (const CanaryName& canary : kCanaries) {
    if (name == canary.name) return canary.canary;
  }
  return Canary::none;
}

std::vector<std::string> canary_names() {
#if WEFT_CANARIES
  std::vector<std::string> names;
  for (const CanaryName& canary : kCanaries) {
    // Only the invariant checks see this one: a build without them cannot catch it.
    if (canary.canary == Canary::stream_budget_leak && !invariant_checks_enabled()) continue;
    names.emplace_back(canary.name);
  }
  return names;
#else
  return {};
#endif
}

const char* profile_name(Profile profile) {
  switch (profile) {
    case Profile::clean:
      return "clean";
    case Profile::lossy:
      return "lossy";
    case Profile::partition:
      return "partition";
    case Profile::crashy:
      return "crashy";
    case Profile::chaos:
      return "chaos";
    case Profile::swarm:
      return "swarm";
  }
  return "?";
}

bool profile_from_name(const std::string& name, Profile& profile) {
  for (Profile p : {Profile::clean, Profile::lossy, Profile::partition, Profile::crashy,
                    Profile::chaos, Profile::swarm}) {
    if (name == profile_name(p)) {
      profile = p;
      return true;
    }
  }
  return false;
}

const char* result_kind_name(SimResult::Kind kind) {
  switch (kind) {
    case SimResult::Kind::pass:
      return "pass";
    case SimResult::Kind::assertion:
      return "assertion";
    case SimResult::Kind::liveness:
      return "liveness";
    case SimResult::Kind::safety:
      return "safety";
  }
  return "?";
}

namespace {

// Membership changes of a swarm seed, from a generator of their own so the other draws
// stay as they were: leaves in half the seeds (0.01 to 0.1 per node and second), a late
// join in a third.
void draw_membership(std::uint64_t seed, FaultRates& rates) {
  Rng rng(seed ^ 0x6d656d62ULL);
  if (rng.below(2) == 1) {
    rates.leave_per_s = 0.01 * std::pow(10.0, rng.unit());
    rates.both_sides_chance = 0.5;
    rates.return_ns = 8 * kSecond;
  }
  if (rng.below(3) == 0) {
    rates.late_join = true;
    rates.join_spread_ns = 2 * kSecond;
  }
}

}  // namespace

FaultRates profile_rates(Profile profile, std::uint64_t seed) {
  FaultRates rates;
  switch (profile) {
    case Profile::clean:
      break;
    case Profile::lossy:
      rates.jitter_ns = 2'000'000;
      rates.spike_chance = 0.01;
      rates.spike_ns = 200'000'000;
      rates.chunking = 2;
      rates.reset_per_s = 0.01;
      rates.half_open_chance = 0.3;
      rates.refuse_chance = 0.1;
      rates.hang_chance = 0.05;
      rates.clog_per_s = 0.02;
      rates.clog_ns = 3 * kSecond;
      rates.bitflip_per_mib = 0.5;
      rates.send_buffer_bytes = 64 * 1024;
      rates.ghost_per_s = 0.02;
      break;
    case Profile::partition:
      rates.chunking = 1;
      rates.partition_per_s = 0.5;
      rates.partition_ns = 15 * kSecond;
      rates.one_way_chance = 0.3;
      break;
    case Profile::crashy:
      rates.chunking = 1;
      rates.crash_per_s = 0.02;
      rates.restart_ns = 3 * kSecond;
      rates.half_open_chance = 0.5;
      rates.max_skew_ms = 120'000;
      rates.ghost_per_s = 0.02;
      break;
    case Profile::chaos:
      rates = profile_rates(Profile::lossy, seed);
      rates.partition_per_s = 0.1;
      rates.partition_ns = 10 * kSecond;
      rates.one_way_chance = 0.3;
      rates.crash_per_s = 0.01;
      rates.restart_ns = 3 * kSecond;
      rates.max_skew_ms = 120'000;
      rates.pause_per_s = 0.02;
      rates.pause_ns = 3 * kSecond;
      break;
    case Profile::swarm: {
      // Each seed draws its own mix: every fault kind is off with probability 1/2, else at a
      // rate anywhere from a tenth to ten times the chaos rate.
      Rng rng(seed ^ 0x5377a4dULL);
      const FaultRates chaos = profile_rates(Profile::chaos, seed);
      auto pick = [&rng](double rate) {
        return rng.below(2) == 0 ? 0.0 : rate * std::pow(10.0, 2 * rng.unit() - 1);
      };
      rates = chaos;
      rates.chunking = static_cast<int>(rng.below(3));
      rates.jitter_ns = static_cast<TimeNs>(pick(static_cast<double>(chaos.jitter_ns)));
      rates.spike_chance = std::min(0.5, pick(chaos.spike_chance));
      rates.reset_per_s = pick(chaos.reset_per_s);
      rates.half_open_chance = std::min(1.0, pick(chaos.half_open_chance));
      rates.refuse_chance = std::min(0.5, pick(chaos.refuse_chance));
      rates.hang_chance = std::min(0.5, pick(chaos.hang_chance));
      rates.clog_per_s = pick(chaos.clog_per_s);
      rates.partition_per_s = pick(chaos.partition_per_s);
      rates.crash_per_s = pick(chaos.crash_per_s);
      rates.bitflip_per_mib = pick(chaos.bitflip_per_mib);
      rates.max_skew_ms = rng.below(2) == 0 ? 0 : chaos.max_skew_ms;
      constexpr std::size_t kSendBuffers[] = {0, 16 * 1024, 64 * 1024, 256 * 1024};
      rates.send_buffer_bytes = kSendBuffers[rng.below(4)];
      rates.pause_per_s = pick(chaos.pause_per_s);
      rates.ghost_per_s = pick(chaos.ghost_per_s);
      draw_membership(seed, rates);
      break;
    }
  }
  return rates;
}

namespace {

// A fault kind: its name, how to switch it off, and whether it is on.
struct FaultKind {
  const char* name;
  void (*off)(FaultRates&);
  bool (*on)(const FaultRates&);
};

const FaultKind kFaultKinds[] = {
    {"jitter", [](FaultRates& r) { r.jitter_ns = 0; },
     [](const FaultRates& r) { return r.jitter_ns > 0; }},
    {"spike", [](FaultRates& r) { r.spike_chance = 0; },
     [](const FaultRates& r) { return r.spike_chance > 0; }},
    {"chunking", [](FaultRates& r) { r.chunking = 0; },
     [](const FaultRates& r) { return r.chunking > 0; }},
    {"reset", [](FaultRates& r) { r.reset_per_s = 0; },
     [](const FaultRates& r) { return r.reset_per_s > 0; }},
    {"half_open", [](FaultRates& r) { r.half_open_chance = 0; },
     [](const FaultRates& r) { return r.half_open_chance > 0; }},
    {"refuse", [](FaultRates& r) { r.refuse_chance = 0; },
     [](const FaultRates& r) { return r.refuse_chance > 0; }},
    {"hang", [](FaultRates& r) { r.hang_chance = 0; },
     [](const FaultRates& r) { return r.hang_chance > 0; }},
    {"clog", [](FaultRates& r) { r.clog_per_s = 0; },
     [](const FaultRates& r) { return r.clog_per_s > 0; }},
    {"partition", [](FaultRates& r) { r.partition_per_s = 0; },
     [](const FaultRates& r) { return r.partition_per_s > 0; }},
    {"crash", [](FaultRates& r) { r.crash_per_s = 0; },
     [](const FaultRates& r) { return r.crash_per_s > 0; }},
    {"bitflip", [](FaultRates& r) { r.bitflip_per_mib = 0; },
     [](const FaultRates& r) { return r.bitflip_per_mib > 0; }},
    {"skew", [](FaultRates& r) { r.max_skew_ms = 0; },
     [](const FaultRates& r) { return r.max_skew_ms > 0; }},
    {"send_buffer", [](FaultRates& r) { r.send_buffer_bytes = 0; },
     [](const FaultRates& r) { return r.send_buffer_bytes > 0; }},
    {"pause", [](FaultRates& r) { r.pause_per_s = 0; },
     [](const FaultRates& r) { return r.pause_per_s > 0; }},
    {"ghost", [](FaultRates& r) { r.ghost_per_s = 0; },
     [](const FaultRates& r) { return r.ghost_per_s > 0; }},
    {"leave", [](FaultRates& r) { r.leave_per_s = 0; },
     [](const FaultRates& r) { return r.leave_per_s > 0; }},
    {"join", [](FaultRates& r) { r.late_join = false; },
     [](const FaultRates& r) { return r.late_join; }},
};

const FaultKind* find_fault_kind(const std::string& name) {
  for (const FaultKind& kind : kFaultKinds) {
    if (name == kind.name) return &kind;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> fault_kind_names() {
  std::vector<std::string> names;
  for (const FaultKind& kind : kFaultKinds)
    names.emplace_back(kind.name);
  return names;
}

bool switch_fault_off(FaultRates& rates, const std::string& name) {
  const FaultKind* kind = find_fault_kind(name);
  if (kind != nullptr) kind->off(rates);
  return kind != nullptr;
}

bool fault_is_on(const FaultRates& rates, const std::string& name) {
  const FaultKind* kind = find_fault_kind(name);
  return kind != nullptr && kind->on(rates);
}

FaultRates effective_rates(const SimOptions& options) {
  FaultRates rates = profile_rates(options.profile, options.seed);
  for (const std::string& name : options.faults_off)
    switch_fault_off(rates, name);
  // A ghost replays a plain hello: a TLS side refuses it as not TLS before the core sees
  // it, so under TLS the fault would test nothing of the core's. Off, and reported so.
  if (options.tls) switch_fault_off(rates, "ghost");
  return rates;
}

Workload profile_workload(Profile profile, std::uint64_t seed) {
  Workload workload;
  if (profile != Profile::swarm) return workload;
  Rng rng(seed ^ 0x3f0a1d5ULL);  // apart from the fault draws, so those stay as they were
  workload.requests_per_s = std::round(20.0 * std::pow(20.0, rng.unit()));
  constexpr double kLargeShares[] = {0.0, 0.01, 0.1};
  workload.large_share = kLargeShares[rng.below(3)];
  constexpr double kObjectShares[] = {0.01, 0.04, 0.15};
  workload.object_share = kObjectShares[rng.below(3)];
  return workload;
}

Workload effective_workload(const SimOptions& options) {
  Workload workload = profile_workload(options.profile, options.seed);
  if (options.requests_per_s > 0) workload.requests_per_s = options.requests_per_s;
  workload.partners = options.partners;
  return workload;
}

std::size_t partner_of(std::size_t index, std::size_t k, std::size_t partners, std::size_t nodes) {
  const std::size_t spacing = std::max<std::size_t>(1, (nodes - 1) / (partners + 1));
  const std::size_t offset = (1 + (k / 2) * spacing) % nodes;
  return k % 2 == 0 ? (index + offset) % nodes : (index + nodes - offset) % nodes;
}

SimResult run_simulation(const SimOptions& options) {
  World world(options, false);
  SimResult result = world.run();
  result.output_error = world.write_outputs();
  return result;
}

}  // namespace weft::sim
