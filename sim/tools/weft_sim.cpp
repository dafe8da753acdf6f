// weft-sim: runs the deterministic simulator.
//
//   weft-sim run --seed S [--nodes N] [--profile clean|lossy|partition|crashy|chaos|swarm]
//                [--duration SIM_SECONDS] [--trace FILE.jsonl] [--chrome-trace FILE.json]
//                [--capture DIR] [--canary NAME] [--tls]
//   weft-sim check-determinism --seed S [same options]
//   weft-sim swarm --seeds N [--first S] [--shard I/N] [--jsonl FILE|-] [--jobs J]
//                  [--profile P] [--nodes N] [--duration SIM_SECONDS]
//                  [--time-budget SECONDS] [--canary NAME]
//   weft-sim merge [--expect-range FIRST COUNT] FILE...
//   weft-sim shrink --seed S [same options as run]
//   weft-sim canaries      (lists the planted bugs this build can switch on)
// run, check-determinism and shrink also take --rate REQUESTS_PER_S and
// --faults-off KIND,KIND... (kinds: see fault_kind_names() in simulator.hpp). --tls (any
// command that runs seeds) runs every connection over TLS (SimOptions::tls).
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
// if any failed (2 if a worker died: the seed it was running counts as failed, with its
// replay command, and the seeds it never ran are named); --time-budget stops starting new
// seeds after that many seconds. --shard I/N runs only the seeds s with (s - S) % N == I
// (campaign.hpp);
// --jsonl writes one JSON line per seed (seed_json_line) to FILE, or to standard output
// with the human-readable lines on standard error. `merge` reads such files and reports
// (campaign.hpp). wall_s is the process's processor time, which for this single-threaded
// run is its wall time (the simulator itself reads no clock).
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "campaign.hpp"
#include "scale_command.hpp"
#include "weft/sim/simulator.hpp"

namespace {

using namespace weft::sim;
using campaign::join;
using campaign::replay_command;

int usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-sim: %s\n"
      "usage: weft-sim run|check-determinism --seed S [--nodes N] [--profile P]\n"
      "                [--duration SIM_SECONDS] [--trace FILE.jsonl] [--chrome-trace F.json]\n"
      "                [--capture DIR] [--canary NAME] [--tls]\n"
      "       weft-sim swarm --seeds N [--first S] [--shard I/N] [--jsonl FILE|-] [--jobs J]\n"
      "                [--profile P] [--nodes N] [--duration SIM_SECONDS]\n"
      "                [--time-budget SECONDS] [--canary NAME]\n"
      "       weft-sim merge [--expect-range FIRST COUNT] FILE...\n"
      "       weft-sim shrink --seed S [run's options]\n"
      "       weft-sim canaries\n"
      "       weft-sim scale [--nodes N] [--partners P] [--duration S] [--always-on] ...\n"
      "  run, check-determinism, shrink: also --rate R, --faults-off KIND,...\n",
      why);
  return 2;
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

// A whole number from `low` to `high`, all of `text` ("8x" is not one).
bool parse_int(const char* text, int low, int high, int& value) {
  std::uint64_t parsed = 0;
  if (!campaign::parse_u64(text, parsed) || parsed < static_cast<std::uint64_t>(low) ||
      parsed > static_cast<std::uint64_t>(high))
    return false;
  value = static_cast<int>(parsed);
  return true;
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
      "large_share=%.2f%s\n",
      static_cast<unsigned long long>(options.seed), options.nodes, profile_name(options.profile),
      static_cast<double>(options.fault_ns) / 1e9, static_cast<double>(options.liveness_ns) / 1e9,
      workload.requests_per_s, workload.large_share, options.tls ? " tls=on" : "");
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
  std::printf(
      "membership: leave_per_s=%.4f both_sides=%.2f return_ms=%lld late_join=%d "
      "join_spread_ms=%lld\n",
      rates.leave_per_s, rates.both_sides_chance,
      static_cast<long long>(rates.return_ns / 1'000'000), rates.late_join ? 1 : 0,
      static_cast<long long>(rates.join_spread_ns / 1'000'000));
  if (!options.canary.empty()) std::printf("canary=%s\n", options.canary.c_str());
  if (!options.faults_off.empty()) std::printf("faults_off=%s\n", join(options.faults_off).c_str());
}

// The run's options without its output files (trace, Chrome trace, captures).
SimOptions without_outputs(SimOptions options) {
  options.trace_path.clear();
  options.chrome_trace_path.clear();
  options.capture_dir.clear();
  return options;
}

// Looks for a smaller run that fails the same way: fewer nodes, a shorter fault phase, a
// lower request rate, fault kinds switched off one by one. Each candidate is kept only if
// it still fails with the same kind; prints every try and the smallest command found. The
// candidates write no outputs: the trace, Chrome trace and captures asked for are those of
// the shrunk run, run once more at the end.
int shrink(const SimOptions& asked) {
  SimOptions options = without_outputs(asked);
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
  SimOptions outputs = asked;
  outputs.nodes = options.nodes;
  outputs.fault_ns = options.fault_ns;
  outputs.requests_per_s = options.requests_per_s;
  outputs.faults_off = options.faults_off;
  if (outputs.trace_path.empty() && outputs.chrome_trace_path.empty() &&
      outputs.capture_dir.empty())
    return exit_code(original.kind);
  const SimResult written = run_simulation(outputs);
  if (!written.output_error.empty()) {
    std::fprintf(stderr, "weft-sim: %s\n", written.output_error.c_str());
    return 2;
  }
  std::printf("outputs written for the shrunk run\n");
  return exit_code(original.kind);
}

// Writes all of `text` to `fd` (retrying partial writes and interruptions); false on error.
bool write_all(int fd, const std::string& text) {
  std::size_t at = 0;
  while (at < text.size()) {
    const ssize_t written = ::write(fd, text.data() + at, text.size() - at);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    at += static_cast<std::size_t>(written);
  }
  return true;
}

struct SwarmPlan {
  campaign::SeedSlice seeds;  // the seeds to run (all of the range, or one shard's)
  int jobs = 2;
  double budget_s = 0;
  std::string jsonl;  // "", a file, or "-" (standard output)
};

// The line a worker writes as it starts a seed (before that seed's JSON line), so that the
// parent knows which seed a worker that dies was running.
constexpr const char* kStartLine = "start ";

// One worker's share of a swarm: every seed plan.seeds.at(i) with i % jobs == worker. It
// writes "start S" as it starts seed S and then the seed's JSON line (seed_json_line), each
// newline-terminated, to its own pipe `fd`.
[[noreturn]] void swarm_worker(SimOptions options, const SwarmPlan& plan, int worker, int fd) {
  const std::clock_t started = std::clock();
  for (std::uint64_t i = static_cast<std::uint64_t>(worker); i < plan.seeds.size();
       i += static_cast<std::uint64_t>(plan.jobs)) {
    if (plan.budget_s > 0 &&
        static_cast<double>(std::clock() - started) / CLOCKS_PER_SEC > plan.budget_s)
      break;
    options.seed = plan.seeds.at(i);
    if (!write_all(fd, kStartLine + std::to_string(options.seed) + "\n")) std::_Exit(3);
    const std::clock_t run_started = std::clock();
    const SimResult result = run_simulation(options);
    const double cpu_s = static_cast<double>(std::clock() - run_started) / CLOCKS_PER_SEC;
    if (!write_all(fd, campaign::seed_json_line(options, result, cpu_s) + "\n")) std::_Exit(3);
  }
  std::_Exit(0);
}

// What the parent of a swarm keeps of the workers' lines.
class SwarmTally {
 public:
  SwarmTally(std::FILE* human, std::uint64_t count, int jsonl_fd)
      : human_(human), count_(count), jsonl_fd_(jsonl_fd), tty_(::isatty(::fileno(human)) != 0) {}

  // Takes one line a worker wrote; false when it cannot be read or the JSON-lines output
  // cannot be written.
  bool take(const std::string& line) {
    campaign::FlatJson record;
    std::string error;
    if (!campaign::parse_flat_json(line, record, error)) {
      std::fprintf(stderr, "weft-sim swarm: a worker wrote a bad line (%s): %s\n", error.c_str(),
                   line.c_str());
      return false;
    }
    if (jsonl_fd_ >= 0 && !write_all(jsonl_fd_, line + "\n")) {
      std::fprintf(stderr, "weft-sim swarm: writing the JSON lines: %s\n", std::strerror(errno));
      return false;
    }
    ++done_;
    sim_s_ += std::atof(record["sim_s"].text.c_str());
    cpu_s_ += std::atof(record["wall_s"].text.c_str());
    if (record["result"].text != "pass") failures_.push_back(record["replay"].text);
    progress();
    return true;
  }

  // A seed whose worker died while running it: a failure, replayed by `replay`.
  void died(const std::string& replay) {
    ++done_;
    failures_.push_back(replay);
    progress();
  }

  // The summary: a replay command per failure, then the counts; returns the exit status.
  int finish(int jobs) const {
    if (tty_) std::fprintf(human_, "\n");
    for (const std::string& replay : failures_)
      std::fprintf(human_, "failed: %s\n", replay.c_str());
    // Each worker's processor time is its wall time (one thread each); they ran side by side.
    const double wall_s = cpu_s_ / jobs;
    std::fprintf(human_, "seeds=%llu failed=%llu sim_s_per_wall_s=%.1f\n",
                 static_cast<unsigned long long>(done_),
                 static_cast<unsigned long long>(failures_.size()),
                 wall_s > 0 ? sim_s_ / wall_s : 0.0);
    return failures_.empty() ? 0 : 1;
  }

 private:
  void progress() {
    const auto failed = static_cast<unsigned long long>(failures_.size());
    if (tty_) {
      const int width = 40;
      const int filled = static_cast<int>(width * done_ / std::max<std::uint64_t>(1, count_));
      std::fprintf(human_, "\r[%.*s%*s] %llu/%llu failed=%llu", filled,
                   "========================================", width - filled, "",
                   static_cast<unsigned long long>(done_), static_cast<unsigned long long>(count_),
                   failed);
      std::fflush(human_);
    } else if (done_ % std::max<std::uint64_t>(1, count_ / 20) == 0) {
      std::fprintf(human_, "progress %llu/%llu failed=%llu\n",
                   static_cast<unsigned long long>(done_), static_cast<unsigned long long>(count_),
                   failed);
      std::fflush(human_);
    }
  }

  std::FILE* human_;
  std::uint64_t count_;
  int jsonl_fd_;
  bool tty_;
  std::uint64_t done_ = 0;
  double sim_s_ = 0;
  double cpu_s_ = 0;
  std::vector<std::string> failures_;
};

// Runs the plan's seeds in plan.jobs worker processes, each with its own pipe, so that a
// seed's line always arrives whole however long it is; the parent alone writes the JSON
// lines. Exit status: 0 all passed, 1 some failed, 2 a worker died or output failed.
int swarm(const SimOptions& options, const SwarmPlan& plan, std::FILE* human) {
  int jsonl_fd = -1;
  if (plan.jsonl == "-") {
    jsonl_fd = STDOUT_FILENO;
  } else if (!plan.jsonl.empty()) {
    jsonl_fd = ::open(plan.jsonl.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (jsonl_fd < 0) {
      std::fprintf(stderr, "weft-sim swarm: cannot open %s: %s\n", plan.jsonl.c_str(),
                   std::strerror(errno));
      return 2;
    }
  }
  struct Worker {
    pid_t pid = -1;
    int fd = -1;
    std::string pending;                        // bytes after the last whole line
    std::uint64_t started = 0;                  // seeds it started
    std::optional<std::uint64_t> running = {};  // the seed it started and has not reported
  };
  std::vector<Worker> workers;
  for (int index = 0; index < plan.jobs; ++index) {
    int fds[2];
    if (::pipe(fds) != 0) return 2;
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      for (const Worker& other : workers)
        ::close(other.fd);
      ::close(fds[0]);
      swarm_worker(options, plan, index, fds[1]);
    }
    ::close(fds[1]);
    workers.push_back(Worker{pid, fds[0], {}, 0, std::nullopt});
  }
  SwarmTally tally(human, plan.seeds.size(), jsonl_fd);
  bool broken = false;
  for (;;) {
    std::vector<pollfd> polls;
    std::vector<Worker*> polled;
    for (Worker& worker : workers) {
      if (worker.fd < 0) continue;
      polls.push_back(pollfd{worker.fd, POLLIN, 0});
      polled.push_back(&worker);
    }
    if (polls.empty()) break;
    if (::poll(polls.data(), polls.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return 2;
    }
    for (std::size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].revents == 0) continue;
      Worker& worker = *polled[i];
      char buffer[65536];
      const ssize_t got = ::read(worker.fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        ::close(worker.fd);
        worker.fd = -1;
        broken = broken || got < 0 || !worker.pending.empty();
        continue;
      }
      worker.pending.append(buffer, static_cast<std::size_t>(got));
      std::size_t start = 0;
      for (std::size_t end; (end = worker.pending.find('\n', start)) != std::string::npos;
           start = end + 1) {
        const std::string line = worker.pending.substr(start, end - start);
        std::uint64_t seed = 0;
        if (line.rfind(kStartLine, 0) == 0 &&
            campaign::parse_u64(std::string_view(line).substr(std::strlen(kStartLine)), seed)) {
          worker.running = seed;
          ++worker.started;
          continue;
        }
        worker.running.reset();
        if (!tally.take(line)) broken = true;
      }
      worker.pending.erase(0, start);
    }
  }
  for (std::size_t index = 0; index < workers.size(); ++index) {
    int status = 0;
    ::waitpid(workers[index].pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    broken = true;
    const Worker& worker = workers[index];
    if (WIFSIGNALED(status)) {
      std::fprintf(stderr, "weft-sim swarm: worker %zu killed by signal %d\n", index,
                   WTERMSIG(status));
    } else {
      std::fprintf(stderr, "weft-sim swarm: worker %zu exited with %d\n", index,
                   WEXITSTATUS(status));
    }
    if (worker.running) {  // the seed it died running failed
      SimOptions replay = options;
      replay.seed = *worker.running;
      std::fprintf(stderr, "weft-sim swarm: worker %zu died running seed %llu: %s\n", index,
                   static_cast<unsigned long long>(*worker.running),
                   replay_command(replay).c_str());
      tally.died(replay_command(replay));
    }
    // Its seeds after that one never ran.
    const std::uint64_t jobs = static_cast<std::uint64_t>(plan.jobs);
    std::string not_run;
    std::uint64_t not_run_count = 0;
    for (std::uint64_t i = index + worker.started * jobs; i < plan.seeds.size(); i += jobs) {
      if (++not_run_count <= 20) not_run += " " + std::to_string(plan.seeds.at(i));
    }
    if (not_run_count > 0) {
      std::fprintf(stderr, "weft-sim swarm: worker %zu never ran %llu seeds:%s%s\n", index,
                   static_cast<unsigned long long>(not_run_count), not_run.c_str(),
                   not_run_count > 20 ? " ..." : "");
    }
  }
  if (jsonl_fd >= 0 && jsonl_fd != STDOUT_FILENO && ::close(jsonl_fd) != 0) broken = true;
  const int status = tally.finish(plan.jobs);
  if (broken) {
    std::fprintf(human, "swarm incomplete: a worker died or output failed (see above)\n");
    return 2;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // A run allocates and frees many payloads of up to 200 KB: keep freed memory in the
  // process instead of returning it to the kernel and faulting it back in each time.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  if (argc < 2) return usage("no command");
  const std::string command = argv[1];
  if (command == "merge") return campaign::merge_command({argv + 2, argv + argc});
  if (command == "scale") return scale_command({argv + 2, argv + argc});
  SimOptions options;
  bool have_seed = false;
  std::uint64_t seeds = 0;
  std::uint64_t first = 1;
  int jobs = 2;
  double budget_s = 0;
  bool profile_given = false;
  std::optional<campaign::Shard> shard;
  std::string jsonl;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--seed" && has_value) {
      if (!campaign::parse_u64(argv[++i], options.seed)) return usage("--seed takes a number");
      have_seed = true;
    } else if (arg == "--nodes" && has_value) {
      if (!parse_int(argv[++i], 2, 256, options.nodes)) return usage("--nodes is 2..256");
    } else if (arg == "--profile" && has_value) {
      if (!profile_from_name(argv[++i], options.profile)) return usage("unknown profile");
      profile_given = true;
    } else if (arg == "--seeds" && has_value) {
      if (!campaign::parse_u64(argv[++i], seeds)) return usage("--seeds takes a number");
    } else if (arg == "--first" && has_value) {
      if (!campaign::parse_u64(argv[++i], first)) return usage("--first takes a number");
    } else if (arg == "--shard" && has_value) {
      campaign::Shard parsed;
      const campaign::ShardError error = campaign::parse_shard(argv[++i], parsed);
      if (error != campaign::ShardError::none) return usage(campaign::shard_error_text(error));
      shard = parsed;
    } else if (arg == "--jsonl" && has_value) {
      jsonl = argv[++i];
      if (jsonl.empty()) return usage("--jsonl takes a file name, or - for standard output");
    } else if (arg == "--jobs" && has_value) {
      if (!parse_int(argv[++i], 1, 256, jobs))
        return usage("--jobs takes 1 to 256 worker processes");
    } else if (arg == "--time-budget" && has_value) {
      const char* text = argv[++i];
      char* end = nullptr;
      budget_s = std::strtod(text, &end);
      if (end == text || *end != 0 || !(budget_s >= 0) || !(budget_s <= 1e9))
        return usage("--time-budget takes a number of seconds >= 0");
    } else if (arg == "--duration" && has_value) {
      if (!campaign::parse_seconds(argv[++i], options.fault_ns) ||
          options.fault_ns > campaign::kMaxDurationNs)
        return usage("--duration takes 0 to 3600 simulated seconds");
    } else if (arg == "--trace" && has_value) {
      options.trace_path = argv[++i];
    } else if (arg == "--chrome-trace" && has_value) {
      options.chrome_trace_path = argv[++i];
    } else if (arg == "--tls") {
      options.tls = true;
    } else if (arg == "--capture" && has_value) {
      options.capture_dir = argv[++i];
    } else if (arg == "--rate" && has_value) {
      // Bounded: a rate of 0, below 1/1000 s (its gaps overflow the clock) or above 100 000
      // (memory grows faster than the run ends) is not a simulation anyone means.
      const char* text = argv[++i];
      char* end = nullptr;
      options.requests_per_s = std::strtod(text, &end);
      if (end == text || *end != 0 || !(options.requests_per_s >= 0.001) ||
          !(options.requests_per_s <= 100'000)) {
        return usage("--rate takes a number of requests a second from 0.001 to 100000");
      }
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
    // Every worker would write every seed's outputs to the same paths.
    if (!options.trace_path.empty() || !options.chrome_trace_path.empty() ||
        !options.capture_dir.empty())
      return usage("--trace, --chrome-trace and --capture are options of run (not of swarm)");
    if (seeds > std::numeric_limits<std::uint64_t>::max() - first)
      return usage("--first + --seeds does not fit 64 bits");
    if (!profile_given) options.profile = Profile::swarm;
    const SwarmPlan plan{campaign::SeedSlice(first, seeds, shard.value_or(campaign::Shard{})), jobs,
                         budget_s, jsonl};
    // With the JSON lines on standard output, the lines for people go to standard error.
    std::FILE* human = jsonl == "-" ? stderr : stdout;
    std::fprintf(human, "swarm seeds=%llu first=%llu jobs=%d profile=%s nodes=%d duration_s=%.1f",
                 static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
                 jobs, profile_name(options.profile), options.nodes,
                 static_cast<double>(options.fault_ns) / 1e9);
    if (shard) {
      std::fprintf(human, " shard=%llu/%llu shard_seeds=%llu",
                   static_cast<unsigned long long>(shard->index),
                   static_cast<unsigned long long>(shard->count),
                   static_cast<unsigned long long>(plan.seeds.size()));
    }
    std::fprintf(human, "\n");
    std::fflush(human);
    return swarm(options, plan, human);
  }
  if (shard || !jsonl.empty()) return usage("--shard and --jsonl are options of swarm");
  if (!have_seed) return usage("--seed is required");
  // The run's outputs, checked before it starts: a replay whose trace is never written
  // would otherwise pass and say nothing.
  for (const std::string* path : {&options.trace_path, &options.chrome_trace_path}) {
    if (!path->empty() && !std::ofstream(*path, std::ios::app)) {
      return usage(("cannot write " + *path).c_str());
    }
  }
  if (!options.capture_dir.empty() && !std::filesystem::is_directory(options.capture_dir)) {
    return usage("--capture takes an existing directory");
  }
  // Captures of another run left there would read as this run's.
  if (!options.capture_dir.empty()) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(options.capture_dir, error)) {
      if (entry.path().extension() == ".wire" && entry.is_regular_file(error))
        return usage("--capture takes a directory without .wire files (captures of a run)");
    }
  }
  if (command == "shrink") return shrink(options);
  if (command != "run" && command != "check-determinism") return usage("unknown command");

  print_parameters(options, effective_rates(options));
  std::fflush(stdout);  // the seed is on record even if the run is killed
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
    if (!result.output_error.empty()) {
      std::fprintf(stderr, "weft-sim: %s\n", result.output_error.c_str());
      return 2;
    }
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
  if (!result.output_error.empty()) {
    std::fflush(stdout);
    std::fprintf(stderr, "weft-sim: %s\n", result.output_error.c_str());
    return 2;
  }
  return exit_code(result.kind);
}
