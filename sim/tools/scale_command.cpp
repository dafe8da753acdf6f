// weft-sim scale: the large-cluster run (docs/SIMULATION.md, "A thousand nodes on demand").
// Many nodes, each configured with every other as a peer, each starting work with a few
// fixed partners only, under the same workload, faults and oracle as any run; with
// connections on demand (the default here) or kept up all the time (--always-on). Reports
// the connections open over time, memory and the simulator's speed. Memory and wall time
// are the process's, read here in the command; the simulation itself reads no clock.
#include "scale_command.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "campaign.hpp"
#include "weft/node.hpp"

namespace weft::sim {
namespace {

int scale_usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-sim scale: %s\n"
      "usage: weft-sim scale [--nodes N] [--partners P] [--duration S] [--quiet S]\n"
      "                      [--seed S] [--profile P] [--rate R] [--idle-close-ms MS]\n"
      "                      [--always-on] [--seeds N] [--trace FILE.jsonl]\n"
      "  --seeds N: runs seeds S..S+N-1, one line each (no timeline); fails if any fails\n",
      why);
  return 2;
}

// The process's resident memory now (kB), from /proc; 0 where there is none.
long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return resident * 4;
}

long peak_resident_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// CPU seconds the process used so far (user and system): on a shared machine a steadier
// measure of the simulator's speed than the wall clock.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The memory the core holds for an idle node with `peers` peers (none connected): the
// resident memory `kSample` such nodes add, divided among them (kB a node).
double idle_node_kb(std::size_t peers, bool on_demand) {
  constexpr int kSample = 20;
  NodeConfig config;
  config.name = "idle";
  for (std::size_t i = 0; i < peers; ++i)
    config.peers.push_back("peer" + std::to_string(i));
  config.auth = std::make_shared<SharedKeyAuth>("scale-cluster-key");
  config.connect_on_demand = on_demand;
  const long before_kb = resident_kb();
  std::vector<std::unique_ptr<Node>> nodes;
  for (int i = 0; i < kSample; ++i) {
    config.seed = static_cast<std::uint64_t>(i) + 1;
    nodes.push_back(std::make_unique<Node>(config, 0, 0));
  }
  return static_cast<double>(resident_kb() - before_kb) / kSample;
}

constexpr int kMaxScaleNodes = 2000;

bool parse_int(const char* text, long low, long high, int& value) {
  char* end = nullptr;
  const long parsed = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || parsed < low || parsed > high) return false;
  value = static_cast<int>(parsed);
  return true;
}

void print_timeline(const SimResult& result, TimeNs fault_ns) {
  const std::vector<std::uint64_t>& open = result.open_transports;
  if (open.empty()) return;
  std::uint64_t peak = 0;
  std::uint64_t peak_node = 0;
  double sum = 0;
  std::size_t counted = 0;
  const auto fault_s = static_cast<std::size_t>(fault_ns / 1'000'000'000);
  std::printf("open connections (transports at both ends / 2), every 5 simulated s:\n ");
  for (std::size_t s = 0; s < open.size(); ++s) {
    if (s % 5 == 0) std::printf(" %zus:%llu", s, static_cast<unsigned long long>(open[s] / 2));
    if (s > 0 && s <= fault_s) {  // the workload's phase, from its first second
      peak = std::max(peak, open[s]);
      peak_node = std::max(peak_node, result.most_open_at_a_node[s]);
      sum += static_cast<double>(open[s]);
      ++counted;
    }
  }
  std::printf("\n");
  std::printf(
      "connections under load: peak=%llu mean=%.1f; most at one node=%llu; at the end=%llu\n",
      static_cast<unsigned long long>(peak / 2), counted > 0 ? sum / 2 / counted : 0.0,
      static_cast<unsigned long long>(peak_node), static_cast<unsigned long long>(open.back() / 2));
}

// Runs `seeds` seeds from options.seed, one line each; 0 when every one passed.
int run_seeds(SimOptions options, std::uint64_t seeds) {
  std::uint64_t failed = 0;
  const std::uint64_t first = options.seed;
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    options.seed = seed;
    const SimResult result = run_simulation(options);
    std::uint64_t peak = 0;
    for (const std::uint64_t open : result.open_transports)
      peak = std::max(peak, open);
    std::printf("seed=%llu result=%s connections_peak=%llu requests=%llu objects=%llu%s%s\n",
                static_cast<unsigned long long>(seed), result_kind_name(result.kind),
                static_cast<unsigned long long>(peak / 2),
                static_cast<unsigned long long>(result.requests),
                static_cast<unsigned long long>(result.objects),
                result.kind == SimResult::Kind::pass ? "" : " failure: ", result.message.c_str());
    if (result.kind != SimResult::Kind::pass) ++failed;
  }
  std::printf("seeds=%llu failed=%llu\n", static_cast<unsigned long long>(seeds),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int scale_command(std::span<char*> args) {
  SimOptions options;
  options.nodes = 1000;
  options.partners = 10;
  options.profile = Profile::clean;
  options.on_demand = true;
  options.sample_connections = true;
  options.requests_per_s = 200;
  options.fault_ns = 60'000'000'000;
  bool quiet_given = false;
  std::uint64_t seeds = 1;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--always-on") {
      options.on_demand = false;
    } else if (arg == "--nodes" && has_value) {
      // Each node holds every other as a peer, and the network and the oracle keep n x n
      // tables: about 2.2 kB a pair (2225 MB at 1000 nodes, docs/SIMULATION.md), so 2000
      // nodes take about 9 GB. More is not a run a machine of ours can hold.
      if (!parse_int(args[++i], 2, kMaxScaleNodes, options.nodes))
        return scale_usage("--nodes is 2..2000");
    } else if (arg == "--partners" && has_value) {
      if (!parse_int(args[++i], 1, 100'000, options.partners))
        return scale_usage("--partners takes a number >= 1");
    } else if (arg == "--duration" && has_value) {
      if (!campaign::parse_seconds(args[++i], options.fault_ns) ||
          options.fault_ns > campaign::kMaxDurationNs)
        return scale_usage("--duration takes 0 to 3600 simulated seconds");
    } else if (arg == "--quiet" && has_value) {
      if (!campaign::parse_seconds(args[++i], options.liveness_ns))
        return scale_usage("--quiet takes seconds");
      quiet_given = true;
    } else if (arg == "--seed" && has_value) {
      if (!campaign::parse_u64(args[++i], options.seed))
        return scale_usage("--seed takes a number");
    } else if (arg == "--trace" && has_value) {
      options.trace_path = args[++i];
    } else if (arg == "--seeds" && has_value) {
      if (!campaign::parse_u64(args[++i], seeds) || seeds == 0)
        return scale_usage("--seeds takes a number >= 1");
    } else if (arg == "--profile" && has_value) {
      if (!profile_from_name(args[++i], options.profile)) return scale_usage("unknown profile");
    } else if (arg == "--rate" && has_value) {
      // Bounded like run's: below 1/1000 s the gaps overflow the clock; above 100 000 memory
      // grows faster than the run ends.
      const char* text = args[++i];
      char* end = nullptr;
      options.requests_per_s = std::strtod(text, &end);
      if (end == text || *end != 0 || !(options.requests_per_s >= 0.001) ||
          !(options.requests_per_s <= 100'000))
        return scale_usage("--rate takes a number of starts a second from 0.001 to 100000");
    } else if (arg == "--idle-close-ms" && has_value) {
      int idle_ms = 0;
      if (!parse_int(args[++i], 1, 3'600'000, idle_ms))
        return scale_usage("--idle-close-ms takes 1..3600000");
      options.idle_close_ms = idle_ms;
    } else {
      return scale_usage("unknown option or missing value");
    }
  }
  if (options.partners >= options.nodes) return scale_usage("--partners must be below --nodes");
  // The quiet phase must let everything drain (the longest call takes 5 s; after faults,
  // object streams may wait up to object_resume_timeout_ms, 30 s, to resume) and then last
  // the idle period, so that every connection has closed when the oracle looks.
  if (!quiet_given) {
    const TimeNs drain_ns = options.profile == Profile::clean ? 15'000'000'000 : 60'000'000'000;
    options.liveness_ns = ns_from_ms(options.idle_close_ms) + drain_ns;
  }

  if (seeds > 1) return run_seeds(options, seeds);
  const double idle_kb =
      idle_node_kb(static_cast<std::size_t>(options.nodes - 1), options.on_demand);
  const long rss_before_kb = resident_kb();
  std::printf(
      "scale: nodes=%d peers_each=%d partners=%d mode=%s idle_close_ms=%lld profile=%s "
      "rate=%.0f/s duration_s=%.1f quiet_s=%.1f seed=%llu\n",
      options.nodes, options.nodes - 1, options.partners,
      options.on_demand ? "on_demand" : "always_on", static_cast<long long>(options.idle_close_ms),
      profile_name(options.profile), options.requests_per_s,
      static_cast<double>(options.fault_ns) / 1e9, static_cast<double>(options.liveness_ns) / 1e9,
      static_cast<unsigned long long>(options.seed));
  const auto started = std::chrono::steady_clock::now();
  const double cpu_before_s = cpu_seconds();
  const SimResult result = run_simulation(options);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const long peak_kb = peak_resident_kb();
  const double cpu_s = cpu_seconds() - cpu_before_s;

  print_timeline(result, options.fault_ns);
  std::printf("requests=%llu ok=%llu objects=%llu objects_ok=%llu faults=%llu\n",
              static_cast<unsigned long long>(result.requests),
              static_cast<unsigned long long>(result.completed_ok),
              static_cast<unsigned long long>(result.objects),
              static_cast<unsigned long long>(result.objects_ok),
              static_cast<unsigned long long>(result.faults));
  std::printf(
      "memory: peak_rss_mb=%.1f (before the run %.1f) per_node_kb=%.1f; the core of an "
      "idle node with %d peers: %.1f kB (%.0f bytes a peer)\n",
      static_cast<double>(peak_kb) / 1024, static_cast<double>(rss_before_kb) / 1024,
      static_cast<double>(peak_kb - rss_before_kb) / options.nodes, options.nodes - 1, idle_kb,
      idle_kb * 1024 / (options.nodes - 1));
  const double sim_s = static_cast<double>(result.sim_ns) / 1e9;
  std::printf(
      "speed: sim_s=%.1f wall_s=%.1f cpu_s=%.1f sim_s_per_wall_s=%.2f sim_s_per_cpu_s=%.2f "
      "events=%llu events_per_wall_s=%.0f\n",
      sim_s, wall_s, cpu_s, wall_s > 0 ? sim_s / wall_s : 0.0, cpu_s > 0 ? sim_s / cpu_s : 0.0,
      static_cast<unsigned long long>(result.events),
      wall_s > 0 ? static_cast<double>(result.events) / wall_s : 0.0);
  if (result.kind != SimResult::Kind::pass) std::printf("failure: %s\n", result.message.c_str());
  std::printf("result=%s trace_hash=%016llx\n", result_kind_name(result.kind),
              static_cast<unsigned long long>(result.trace_hash));
  return result.kind == SimResult::Kind::pass ? 0 : 1;
}

}  // namespace weft::sim
