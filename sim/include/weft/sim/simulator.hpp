// The deterministic simulator: many nodes running the real core, one thread, a virtual
// clock that jumps from event to event, a network that injects faults, a workload, and an
// oracle that checks safety (every call ends exactly once, with exactly the bytes the
// handler produced, never after its deadline) and liveness (after the faults stop, every
// pair reconnects and all work drains).
//
// A run is a pure function of its options: the same seed gives the same trace, byte for
// byte (trace_hash), whatever the machine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "weft/time.hpp"

namespace weft::sim {

enum class Profile : std::uint8_t { clean, lossy, partition, crashy, chaos, swarm };
const char* profile_name(Profile profile);
bool profile_from_name(const std::string& name, Profile& profile);

// Fault settings. Rates are per simulated second (per link, or per node for crashes);
// chances are per occurrence (per dial, per write).
struct FaultRates {
  TimeNs latency_ns = 100'000;  // one-way delay of every byte
  TimeNs jitter_ns = 0;         // plus up to this much, drawn per write
  double spike_chance = 0;      // a write delayed by spike_ns more
  TimeNs spike_ns = 0;
  int chunking = 0;             // 0 whole writes, 1 random pieces, 2 also single bytes
  double reset_per_s = 0;       // connection resets per link
  double half_open_chance = 0;  // a reset one side learns of only later
  double refuse_chance = 0;     // a dial refused at once
  double hang_chance = 0;       // a dial that never answers (the core times it out)
  double clog_per_s = 0;        // a direction of a link holds its bytes for clog_ns
  TimeNs clog_ns = 0;
  double partition_per_s = 0;  // cluster-wide: a partition for partition_ns
  TimeNs partition_ns = 0;
  double one_way_chance = 0;  // a partition that holds one direction only
  double crash_per_s = 0;     // per node: crash, restart after restart_ns
  TimeNs restart_ns = 0;
  double bitflip_per_mib = 0;    // bits flipped in bytes in flight
  std::int64_t max_skew_ms = 0;  // each node's wall clock off by up to this (both ways)
  // Bytes one direction of a link holds between a write and the reader taking them (the
  // two socket buffers); a write beyond it is partial. 0: unbounded.
  std::size_t send_buffer_bytes = 0;
  double pause_per_s = 0;  // per node: its reader stops taking input for up to pause_ns
  TimeNs pause_ns = 0;
  // Per node: a connection nobody dialed now arrives with a hello - a replay of one sent
  // earlier (an earlier attempt or incarnation), or one from the side the dial rule says
  // must not dial (as if both sides dialed at once).
  double ghost_per_s = 0;
  // Membership at run time. Per node: it removes a peer it lists (Node::remove_peer), and
  // with both_sides_chance the peer removes it too; the pair adds each other back
  // (Node::add_peer: a new relationship) after up to return_ns, at the latest when the
  // faults end.
  double leave_per_s = 0;
  double both_sides_chance = 0;
  TimeNs return_ns = 0;
  // The last node starts only at a moment of the fault phase, known to nobody: then it
  // starts listing every node, and each of them adds it within join_spread_ns.
  bool late_join = false;
  TimeNs join_spread_ns = 0;
};

// The rates of a profile; swarm draws its own mix from `seed` (kinds switched off
// entirely, others at very different rates).
FaultRates profile_rates(Profile profile, std::uint64_t seed);

// The fault kinds one can switch off (weft-sim --faults-off, shrink): jitter, spike,
// chunking, reset, half_open, refuse, hang, clog, partition, crash, bitflip, skew,
// send_buffer, pause, ghost, leave, join.
std::vector<std::string> fault_kind_names();
// Switches fault kind `name` off in `rates`; false for an unknown name.
bool switch_fault_off(FaultRates& rates, const std::string& name);
// Whether fault kind `name` is on at all in `rates` (so switching it off changes the run).
bool fault_is_on(const FaultRates& rates, const std::string& name);

// The workload: random single requests and streams (one start in eight) between random
// pairs of nodes, and object streams.
struct Workload {
  double requests_per_s = 400;  // cluster-wide starts per simulated second
  double large_share = 0.1;     // requests with a 40..200 KB payload (others up to 2 KB)
  // Starts that open an object stream instead (1..12 objects of every kind; see
  // docs/SIMULATION.md).
  double object_share = 0.04;
  // Each node starts work only with a fixed set of about this many others (half of them
  // picked by it, half picking it; see partner_of); 0: any pair. The large-cluster run.
  int partners = 0;
};

// Partner `k` (0 <= k < partners) of node `index` of `nodes`: index plus or minus an offset,
// offsets spread over the cluster, so that the partner relation is symmetric.
std::size_t partner_of(std::size_t index, std::size_t k, std::size_t partners, std::size_t nodes);

// The workload of a profile: the defaults, except that swarm draws its own from `seed`
// (a rate from 20 to 400 per second, log-uniform; large payloads in none, 1 % or 10 %;
// object streams in 1 %, 4 % or 15 % of the starts).
Workload profile_workload(Profile profile, std::uint64_t seed);

struct SimOptions {
  std::uint64_t seed = 1;
  int nodes = 8;
  Profile profile = Profile::chaos;
  TimeNs fault_ns = 30'000'000'000;     // the fault phase (and the workload)
  TimeNs liveness_ns = 60'000'000'000;  // after it: faults off, everyone must reconnect and drain
  double requests_per_s = 0;            // cluster-wide; 0: the profile's (see Workload)
  std::string trace_path;               // a JSON-lines trace of every event, when set
  // A Chrome trace-event file (opens in Perfetto or chrome://tracing), when set: a track per
  // node and one for the cluster; connections and requests as spans, faults as instants.
  std::string chrome_trace_path;
  // A directory (which must exist) that receives, when set, what every node wrote on every
  // connection: a file per connection and direction, "<link>-<writer>-to-<reader>.wire",
  // holding the writer's bytes as it wrote them (before the link's faults), so each is one
  // direction of a session that weft-dump decodes. Written when the run's world ends.
  std::string capture_dir;
  // A bug planted in every node (builds with WEFT_CANARIES only; see weft::Canary).
  std::string canary;
  // Fault kinds switched off after the profile's rates are drawn.
  std::vector<std::string> faults_off;
  // Every node connects on demand (NodeConfig::connect_on_demand) and closes connections
  // idle for idle_close_ms. The oracle then expects every connection closed after the quiet
  // phase (make liveness_ns longer than idle_close_ms plus the longest call).
  bool on_demand = false;
  std::int64_t idle_close_ms = 30'000;
  // Workload::partners (0: any pair).
  int partners = 0;
  // Count the connections open cluster-wide every simulated second (SimResult).
  bool sample_connections = false;
  // Every connection over TLS 1.3 with mutual certificates (docs/TLS.md), through the layer
  // the real drivers use, under the same faults and chunking: certificates made in memory
  // and TLS's randomness drawn from the seed, so the same seed still gives the same trace.
  // A bit flipped in a record fails that link's TLS session (an alert, then the close).
  bool tls = false;
};

// The rates a run with `options` uses: the profile's, minus the kinds switched off, and
// minus ghosts under TLS (a ghost's plain hello never reaches the core there).
FaultRates effective_rates(const SimOptions& options);

// The workload a run with `options` uses: the profile's, at options.requests_per_s if set.
Workload effective_workload(const SimOptions& options);

// The canaries this build can plant and catch: none when built without WEFT_CANARIES, and
// stream_budget_leak (which only the invariant checks see) only in builds with assertions.
std::vector<std::string> canary_names();

struct SimResult {
  enum class Kind : std::uint8_t { pass, assertion, liveness, safety };
  Kind kind = Kind::pass;
  std::string message;  // what failed, at which simulated time
  std::uint64_t events = 0;
  std::uint64_t trace_hash = 0;
  TimeNs sim_ns = 0;
  std::uint64_t requests = 0;  // started
  std::uint64_t completed_ok = 0;
  std::uint64_t faults = 0;      // faults injected
  std::uint64_t objects = 0;     // objects posted
  std::uint64_t objects_ok = 0;  // objects completed ok
  // With SimOptions::sample_connections: at each simulated second, the transports open or
  // opening summed over the nodes (each connection counts at both ends), and the most one
  // node held.
  std::vector<std::uint64_t> open_transports;
  std::vector<std::uint64_t> most_open_at_a_node;
  FaultRates rates;
  Workload workload;
  // The trace, Chrome trace or capture files that could not be written ("" when all were).
  std::string output_error;
};
const char* result_kind_name(SimResult::Kind kind);

// Runs one simulation. Deterministic: a function of `options` only.
SimResult run_simulation(const SimOptions& options);

}  // namespace weft::sim
