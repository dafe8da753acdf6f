// weft-sim: runs the deterministic simulator.
//
//   weft-sim run --seed S [--nodes N] [--profile clean|lossy|partition|crashy|chaos|swarm]
//                [--duration SIM_SECONDS] [--trace FILE.jsonl] [--chrome-trace FILE.json]
//                [--capture DIR] [--canary NAME]
//   weft-sim check-determinism --seed S [same options]
//   weft-sim swarm --seeds N [--first S] [--jobs J] [--profile P] [--nodes N]
//                  [--duration SIM_SECONDS] [--time-budget SECONDS] [--canary NAME]
//   weft-sim shrink --seed S [same options as run]
//   weft-sim canaries      (lists the planted bugs this build can switch on)
// run, check-determinism and shrink also take --rate REQUESTS_PER_S and
// --faults-off KIND,KIND... (kinds: see fault_kind_names() in simulator.hpp).
// `shrink` looks for a smaller run that fails the same way (fewer nodes, shorter, a lower
// rate, fault kinds off one by one) and prints its command.
//
// `run` prints the seed and every resolved parameter first; its last line is
//   result=<pass|assertion|liveness|safety> seed=S nodes=N sim_s=... events=...
//   trace_hash=<hex> wall_s=...
// Exit status: 0 pass, 127 assertion, 128 liveness, 129 safety; on failure it prints the
// command that replays the run. `check-determinism` runs the seed twice and exits 130 when
// the traces differ. `swarm` runs seeds S..S+N-1 (profile swarm by default) in J worker
// processes, prints a progress line every 5 % (or a bar on a terminal), ends with
// "seeds=N failed=K sim_s_per_wall_s=..." and a replay command per failure, and exits 1
// if any failed; --time-budget stops starting new seeds after that many seconds. wall_s is the
// process's processor time, which for this single-threaded run is its wall time (the simulator
// itself reads no clock).
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "weft/sim/simulator.hpp"

namespace {

using namespace weft::sim;

int usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-sim: %s\n"
      "usage: weft-sim run|check-determinism --seed S [--nodes N] [--profile P]\n"
      "                [--duration SIM_SECONDS] [--trace FILE.jsonl] [--chrome-trace F.json]\n"
      "                [--capture DIR] [--canary NAME]\n"
      "       weft-sim swarm --seeds N [--first S] [--jobs J] [--profile P] [--nodes N]\n"
      "                [--duration SIM_SECONDS] [--time-budget SECONDS] [--canary NAME]\n"
      "       weft-sim shrink --seed S [run's options]\n"
      "       weft-sim canaries\n"
      "  run, check-determinism, shrink: also --rate R, --faults-off KIND,...\n",
      why);
  return 2;
}

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items)
    joined += (joined.empty() ? "" : ",") + item;
  return joined;
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> items;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at) items.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  return items;
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
  const Workload workload = effective_workload(options);
  std::printf(
      "seed=%llu nodes=%d profile=%s duration_s=%.1f liveness_s=%.1f requests_per_s=%.0f "
      "large_share=%.2f\n",
      static_cast<unsigned long long>(options.seed), options.nodes, profile_name(options.profile),
      static_cast<double>(options.fault_ns) / 1e9, static_cast<double>(options.liveness_ns) / 1e9,
      workload.requests_per_s, workload.large_share);
  std::printf(
      "faults: latency_us=%lld jitter_us=%lld spike_chance=%.3f spike_ms=%lld chunking=%d "
      "reset_per_s=%.4f half_open=%.2f refuse=%.3f hang=%.3f clog_per_s=%.4f clog_ms=%lld "
      "partition_per_s=%.3f partition_ms=%lld one_way=%.2f crash_per_s=%.4f restart_ms=%lld "
      "bitflip_per_mib=%.3f max_skew_ms=%lld send_buffer_bytes=%zu pause_per_s=%.4f "
      "pause_ms=%lld ghost_per_s=%.4f\n",
      static_cast<long long>(rates.latency_ns / 1000),
      static_cast<long long>(rates.jitter_ns / 1000), rates.spike_chance,
      static_cast<long long>(rates.spike_ns / 1'000'000), rates.chunking, rates.reset_per_s,
      rates.half_open_chance, rates.refuse_chance, rates.hang_chance, rates.clog_per_s,
      static_cast<long long>(rates.clog_ns / 1'000'000), rates.partition_per_s,
      static_cast<long long>(rates.partition_ns / 1'000'000), rates.one_way_chance,
      rates.crash_per_s, static_cast<long long>(rates.restart_ns / 1'000'000),
      rates.bitflip_per_mib, static_cast<long long>(rates.max_skew_ms), rates.send_buffer_bytes,
      rates.pause_per_s, static_cast<long long>(rates.pause_ns / 1'000'000), rates.ghost_per_s);
  if (!options.canary.empty()) std::printf("canary=%s\n", options.canary.c_str());
  if (!options.faults_off.empty()) std::printf("faults_off=%s\n", join(options.faults_off).c_str());
}

std::string replay_command(const SimOptions& options) {
  char duration[32];
  std::snprintf(duration, sizeof duration, "%g", static_cast<double>(options.fault_ns) / 1e9);
  char rate[32];
  std::snprintf(rate, sizeof rate, "%g", options.requests_per_s);
  return "weft-sim run --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --profile " + profile_name(options.profile) +
         " --duration " + duration +
         (options.requests_per_s > 0 ? std::string(" --rate ") + rate : std::string()) +
         (options.faults_off.empty() ? "" : " --faults-off " + join(options.faults_off)) +
         (options.canary.empty() ? "" : " --canary " + options.canary);
}

// Looks for a smaller run that fails the same way: fewer nodes, a shorter fault phase, a
// lower request rate, fault kinds switched off one by one. Each candidate is kept only if
// it still fails with the same kind; prints every try and the smallest command found.
int shrink(SimOptions options) {
  const SimResult original = run_simulation(options);
  if (original.kind == SimResult::Kind::pass) {
    std::printf("seed %llu passes: nothing to shrink\n",
                static_cast<unsigned long long>(options.seed));
    return 0;
  }
  std::printf("failing: %s\n  %s\n", replay_command(options).c_str(), original.message.c_str());
  int tries = 0;
  auto still_fails = [&](const SimOptions& candidate) {
    const SimResult result = run_simulation(candidate);
    ++tries;
    const bool fails = result.kind == original.kind;
    std::printf("%s %s\n", fails ? "fails:" : "passes:", replay_command(candidate).c_str());
    std::fflush(stdout);
    return fails;
  };
  for (int nodes = 2; nodes < options.nodes; ++nodes) {
    SimOptions candidate = options;
    candidate.nodes = nodes;
    if (still_fails(candidate)) {
      options = candidate;
      break;
    }
  }
  for (SimOptions candidate = options; candidate.fault_ns > 1'000'000'000;) {
    candidate.fault_ns /= 2;
    if (!still_fails(candidate)) break;
    options = candidate;
  }
  SimOptions slower = options;
  slower.requests_per_s = effective_workload(options).requests_per_s;
  for (SimOptions candidate = slower; candidate.requests_per_s > 10;) {
    candidate.requests_per_s /= 2;
    if (!still_fails(candidate)) break;
    options = candidate;
  }
  for (const std::string& kind : fault_kind_names()) {
    if (!fault_is_on(effective_rates(options), kind)) continue;
    SimOptions candidate = options;
    candidate.faults_off.push_back(kind);
    if (still_fails(candidate)) options = candidate;
  }
  std::printf("shrunk after %d runs: %s\n", tries, replay_command(options).c_str());
  return exit_code(original.kind);
}

// One worker's share of a swarm: every seed s with (s - first) % jobs == worker. It writes
// one line per seed to `fd`: "<seed> <kind> <sim_ns> <cpu_s>".
[[noreturn]] void swarm_worker(SimOptions options, std::uint64_t first, std::uint64_t count,
                               int jobs, int worker, double budget_s, int fd) {
  const std::clock_t started = std::clock();
  for (std::uint64_t seed = first + static_cast<std::uint64_t>(worker); seed < first + count;
       seed += static_cast<std::uint64_t>(jobs)) {
    if (budget_s > 0 && static_cast<double>(std::clock() - started) / CLOCKS_PER_SEC > budget_s)
      break;
    options.seed = seed;
    const std::clock_t run_started = std::clock();
    const SimResult result = run_simulation(options);
    char line[128];
    const int size = std::snprintf(
        line, sizeof line, "%llu %d %lld %.6f\n", static_cast<unsigned long long>(seed),
        static_cast<int>(result.kind), static_cast<long long>(result.sim_ns),
        static_cast<double>(std::clock() - run_started) / CLOCKS_PER_SEC);
    [[maybe_unused]] const ssize_t written = ::write(fd, line, static_cast<std::size_t>(size));
  }
  std::_Exit(0);
}

int swarm(SimOptions options, std::uint64_t first, std::uint64_t count, int jobs, double budget_s) {
  int fds[2];
  if (::pipe(fds) != 0) return 2;
  std::vector<pid_t> workers;
  for (int worker = 0; worker < jobs; ++worker) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      swarm_worker(options, first, count, jobs, worker, budget_s, fds[1]);
    }
    workers.push_back(pid);
  }
  ::close(fds[1]);
  std::FILE* results = ::fdopen(fds[0], "r");
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  double sim_s = 0;
  double cpu_s = 0;
  std::vector<std::uint64_t> failures;
  unsigned long long seed = 0;
  int kind = 0;
  long long sim_ns = 0;
  double run_cpu = 0;
  while (std::fscanf(results, "%llu %d %lld %lf", &seed, &kind, &sim_ns, &run_cpu) == 4) {
    ++done;
    sim_s += static_cast<double>(sim_ns) / 1e9;
    cpu_s += run_cpu;
    if (kind != 0) {
      ++failed;
      failures.push_back(seed);
    }
    if (tty) {
      const int width = 40;
      const int filled = static_cast<int>(width * done / count);
      std::printf("\r[%.*s%*s] %llu/%llu failed=%llu", filled,
                  "========================================", width - filled, "",
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(count),
                  static_cast<unsigned long long>(failed));
      std::fflush(stdout);
    } else if (done % std::max<std::uint64_t>(1, count / 20) == 0) {
      std::printf("progress %llu/%llu failed=%llu\n", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(count), static_cast<unsigned long long>(failed));
      std::fflush(stdout);
    }
  }
  std::fclose(results);
  for (pid_t pid : workers)
    ::waitpid(pid, nullptr, 0);
  if (tty) std::printf("\n");
  for (std::uint64_t failure : failures) {
    options.seed = failure;
    std::printf("failed: %s\n", replay_command(options).c_str());
  }
  // Each worker's processor time is its wall time (one thread each); they ran side by side.
  const double wall_s = cpu_s / jobs;
  std::printf("seeds=%llu failed=%llu sim_s_per_wall_s=%.1f\n",
              static_cast<unsigned long long>(done), static_cast<unsigned long long>(failed),
              wall_s > 0 ? sim_s / wall_s : 0.0);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // A run allocates and frees many payloads of up to 200 KB: keep freed memory in the
  // process instead of returning it to the kernel and faulting it back in each time.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (argc < 2) return usage("no command");
  const std::string command = argv[1];
  SimOptions options;
  bool have_seed = false;
  std::uint64_t seeds = 0;
  std::uint64_t first = 1;
  int jobs = 2;
  double budget_s = 0;
  bool profile_given = false;
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
      profile_given = true;
    } else if (arg == "--seeds" && has_value) {
      seeds = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--first" && has_value) {
      first = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--jobs" && has_value) {
      jobs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--time-budget" && has_value) {
      budget_s = std::atof(argv[++i]);
    } else if (arg == "--duration" && has_value) {
      options.fault_ns = static_cast<weft::TimeNs>(std::atof(argv[++i]) * 1e9);
    } else if (arg == "--trace" && has_value) {
      options.trace_path = argv[++i];
    } else if (arg == "--chrome-trace" && has_value) {
      options.chrome_trace_path = argv[++i];
    } else if (arg == "--capture" && has_value) {
      options.capture_dir = argv[++i];
    } else if (arg == "--rate" && has_value) {
      options.requests_per_s = std::atof(argv[++i]);
      if (options.requests_per_s <= 0) return usage("--rate must be positive");
    } else if (arg == "--faults-off" && has_value) {
      options.faults_off = split(argv[++i]);
      const std::vector<std::string> known = fault_kind_names();
      for (const std::string& kind : options.faults_off) {
        if (std::find(known.begin(), known.end(), kind) == known.end())
          return usage("unknown fault kind in --faults-off");
      }
    } else if (arg == "--canary" && has_value) {
      options.canary = argv[++i];
      const std::vector<std::string> known = canary_names();
      if (std::find(known.begin(), known.end(), options.canary) == known.end())
        return usage(
            "unknown canary (see weft-sim canaries; builds without WEFT_CANARIES have none)");
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (command == "canaries") {
    for (const std::string& name : canary_names())
      std::printf("%s\n", name.c_str());
    return 0;
  }
  if (command == "swarm") {
    if (seeds == 0) return usage("swarm needs --seeds N");
    if (!profile_given) options.profile = Profile::swarm;
    std::printf("swarm seeds=%llu first=%llu jobs=%d profile=%s nodes=%d duration_s=%.1f\n",
                static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
                jobs, profile_name(options.profile), options.nodes,
                static_cast<double>(options.fault_ns) / 1e9);
    std::fflush(stdout);
    return swarm(options, first, seeds, jobs, budget_s);
  }
  if (!have_seed) return usage("--seed is required");
  if (command == "shrink") return shrink(options);
  if (command != "run" && command != "check-determinism") return usage("unknown command");

  print_parameters(options, effective_rates(options));
  const std::clock_t started = std::clock();
  const SimResult result = run_simulation(options);
  const double cpu_s = static_cast<double>(std::clock() - started) / CLOCKS_PER_SEC;
  if (command == "check-determinism") {
    SimOptions again = options;
    again.trace_path.clear();
    again.chrome_trace_path.clear();
    again.capture_dir.clear();
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
