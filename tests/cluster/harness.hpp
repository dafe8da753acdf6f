// weft-chaos run: a cluster of real weft-node processes and weft-load drivers in a network
// namespace of its own, under the faults of a seeded schedule (docs/CHAOS.md).
#pragma once

#include <cstdint>
#include <string>

namespace weft::chaos {

// The bounds the checker holds the run to; written into the run's log so `weft-chaos check`
// alone judges by the same.
struct Bounds {
  // A call may end this long after its deadline (timers, a loaded 2-core machine).
  std::int64_t deadline_slack_ms = 1'000;
  // After the faults heal, every probe (driver to node, node to node) answers within this.
  std::int64_t liveness_ms = 20'000;
  // Largest resident set of any one process.
  std::int64_t rss_limit_kib = 256 * 1024;
};

struct RunOptions {
  std::uint64_t seed = 1;
  int nodes = 5;
  int drivers = 2;
  std::int64_t duration_ms = 45'000;  // the fault phase (the first round of kinds may run over)
  std::string dir;                    // histories, logs, the run's record; created
  std::string node_binary;            // weft-node
  std::string load_binary;            // weft-load
  std::uint16_t port = 7100;          // every member listens on its own address, this port
  int driver_rate = 150;              // operations per second per driver
  std::size_t max_payload_bytes = 4 << 20;
  std::size_t stream_max_bytes = 48 * 1024;  // a stream message's largest size
  bool no_faults = false;                    // load only, for duration_ms (the canary self-tests)
  std::string canary;  // weft-node --canary for every node ("" none): a planted defect
  Bounds bounds;
};

// Exit codes of `weft-chaos run`.
inline constexpr int kRunPassed = 0;
inline constexpr int kRunViolations = 1;
inline constexpr int kRunHarnessError = 2;  // the harness itself could not do its job
inline constexpr int kRunSkipped = 77;      // no namespace or no tools here: nothing ran

// Runs the whole thing: namespace, processes, faults, heal, probes, shutdown, check.
int run_chaos(const RunOptions& options);

// The command that replays `options`' schedule.
std::string replay_command(const RunOptions& options);

}  // namespace weft::chaos
