// weft-sim: runs the deterministic simulator.
//
//   weft-sim run --seed S [--nodes N] [--profile clean|lossy|partition|crashy|chaos|swarm]
//                [--duration SIM_SECONDS] [--trace FILE.jsonl]
//   weft-sim check-determinism --seed S [same options]
//
// `run` prints the seed and every resolved parameter first; its last line is
//   result=<pass|assertion|liveness|safety> seed=S nodes=N sim_s=... events=...
//   trace_hash=<hex> wall_s=...
// Exit status: 0 pass, 127 assertion, 128 liveness, 129 safety; on failure it prints the
// command that replays the run. `check-determinism` runs the seed twice and exits 130 when
// the traces differ. wall_s is the process's processor time, which for this single-threaded
// run is its wall time (the simulator itself reads no clock).
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "weft/sim/simulator.hpp"

namespace {

using namespace weft::sim;

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-sim: %s\n"
               "usage: weft-sim run|check-determinism --seed S [--nodes N] [--profile P]\n"
               "                [--duration SIM_SECONDS] [--trace FILE.jsonl]\n",
               why);
  return 2;
}

int exit_code(SimResult::Kind kind) {
  switch (kind) {
    case SimResult::Kind::pass:
      return 0;
    case SimResult::Kind::assertion:
      return 127;
    case SimResult::Kind::liveness:
      return 128;
    case SimResult::Kind::safety:
      return 129;
  }
  return 127;
}

void print_parameters(const SimOptions& options, const FaultRates& rates) {
  std::printf("seed=%llu nodes=%d profile=%s duration_s=%.1f liveness_s=%.1f requests_per_s=%.0f\n",
              static_cast<unsigned long long>(options.seed), options.nodes,
              profile_name(options.profile), static_cast<double>(options.fault_ns) / 1e9,
              static_cast<double>(options.liveness_ns) / 1e9, options.requests_per_s);
  std::printf(
      "faults: latency_us=%lld jitter_us=%lld spike_chance=%.3f spike_ms=%lld chunking=%d "
      "reset_per_s=%.4f half_open=%.2f refuse=%.3f hang=%.3f clog_per_s=%.4f clog_ms=%lld "
      "partition_per_s=%.3f partition_ms=%lld one_way=%.2f crash_per_s=%.4f restart_ms=%lld "
      "bitflip_per_mib=%.3f max_skew_ms=%lld\n",
      static_cast<long long>(rates.latency_ns / 1000),
      static_cast<long long>(rates.jitter_ns / 1000), rates.spike_chance,
      static_cast<long long>(rates.spike_ns / 1'000'000), rates.chunking, rates.reset_per_s,
      rates.half_open_chance, rates.refuse_chance, rates.hang_chance, rates.clog_per_s,
      static_cast<long long>(rates.clog_ns / 1'000'000), rates.partition_per_s,
      static_cast<long long>(rates.partition_ns / 1'000'000), rates.one_way_chance,
      rates.crash_per_s, static_cast<long long>(rates.restart_ns / 1'000'000),
      rates.bitflip_per_mib, static_cast<long long>(rates.max_skew_ms));
}

std::string replay_command(const SimOptions& options) {
  return "weft-sim run --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --profile " + profile_name(options.profile) +
         " --duration " + std::to_string(options.fault_ns / 1'000'000'000);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no command");
  const std::string command = argv[1];
  SimOptions options;
  bool have_seed = false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seed" && has_value) {
      options.seed = std::strtoull(argv[++i], nullptr, 10);
      have_seed = true;
    } else if (arg == "--nodes" && has_value) {
      options.nodes = std::atoi(argv[++i]);
      if (options.nodes < 2 || options.nodes > 256) return usage("--nodes is 2..256");
    } else if (arg == "--profile" && has_value) {
      if (!profile_from_name(argv[++i], options.profile)) return usage("unknown profile");
    } else if (arg == "--duration" && has_value) {
      options.fault_ns = static_cast<weft::TimeNs>(std::atof(argv[++i]) * 1e9);
    } else if (arg == "--trace" && has_value) {
      options.trace_path = argv[++i];
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (!have_seed) return usage("--seed is required");
  if (command != "run" && command != "check-determinism") return usage("unknown command");

  print_parameters(options, profile_rates(options.profile, options.seed));
  const std::clock_t started = std::clock();
  const SimResult result = run_simulation(options);
  const double cpu_s = static_cast<double>(std::clock() - started) / CLOCKS_PER_SEC;
  if (command == "check-determinism") {
    SimOptions again = options;
    again.trace_path.clear();
    const SimResult second = run_simulation(again);
    const bool same = second.trace_hash == result.trace_hash && second.events == result.events;
    std::printf("determinism=%s trace_hash=%016llx second=%016llx events=%llu\n",
                same ? "same" : "DIFFERENT", static_cast<unsigned long long>(result.trace_hash),
                static_cast<unsigned long long>(second.trace_hash),
                static_cast<unsigned long long>(result.events));
    return same ? 0 : 130;
  }
  if (result.kind != SimResult::Kind::pass) {
    std::printf("failure: %s\nreplay: %s\n", result.message.c_str(),
                replay_command(options).c_str());
  }
  std::printf("requests=%llu ok=%llu faults=%llu\n",
              static_cast<unsigned long long>(result.requests),
              static_cast<unsigned long long>(result.completed_ok),
              static_cast<unsigned long long>(result.faults));
  std::printf(
      "result=%s seed=%llu nodes=%d sim_s=%.3f events=%llu trace_hash=%016llx wall_s=%.3f\n",
      result_kind_name(result.kind), static_cast<unsigned long long>(options.seed), options.nodes,
      static_cast<double>(result.sim_ns) / 1e9, static_cast<unsigned long long>(result.events),
      static_cast<unsigned long long>(result.trace_hash), cpu_s);
  return exit_code(result.kind);
}
