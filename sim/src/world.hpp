// The world: one simulated cluster, its parts wired together, and the driver that runs it.
// It owns the network (network.hpp), the tracer (trace.hpp), the workload's books
// (ledger.hpp), the oracle (oracle.hpp), the workload (workload.hpp) and the fault injector
// (faults.hpp) and membership changes (membership.hpp); as the network's host it hands every node
// event to the part it concerns. run() is run_simulation: the fault phase, then the quiet phase and
// the liveness check. SteppedSimulation (stepped.cpp) drives the same world one command at a time
// instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "faults.hpp"
#include "ledger.hpp"
#include "membership.hpp"
#include "network.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/invariant.hpp"
#include "weft/sim/simulator.hpp"
#include "workload.hpp"

namespace weft::sim {

// The canary called `name`; none for an unknown name (weft-sim checks names against
// canary_names() first).
Canary canary_from_name(const std::string& name);

class World final : public NetworkHost {
 public:
  // A stepped world schedules no workload and no faults of its own: see SteppedSimulation.
  World(const SimOptions& options, bool stepped);
  ~World() override;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  SimResult run();
  // Writes the captures and closes the trace files (once; the destructor does it otherwise);
  // what could not be written ("" when all was).
  std::string write_outputs();

  // Runs `body`; an invariant a node broke (weft/invariant.hpp: only builds with assertions
  // check them) ends the run with the outcome "assertion". The node that threw is not
  // used again in a meaningful way: the run has failed.
  template <typename Body>
  auto guarded(Body body) -> decltype(body()) {
    try {
      return body();
    } catch (const InvariantViolation& violation) {
      oracle_.fail(SimResult::Kind::assertion, violation.what());
      return decltype(body())();
    }
  }

  // ---- the parts, for SteppedSimulation's commands (stepped.cpp) ----

  Network& net() { return net_; }
  const Network& net() const { return net_; }
  Tracer& tracer() { return tracer_; }
  const Ledger& ledger() const { return ledger_; }
  const Oracle& oracle() const { return oracle_; }
  WorkloadDriver& workload() { return workload_; }
  FaultInjector& faults() { return faults_; }
  Membership& membership() { return membership_; }

  // Starts node `index`'s next process, serving every handler of ledger.hpp.
  void start_node(std::size_t index);
  // Kills node `index`'s process (nothing if it is down): its calls and streams are
  // dropped, its peers learn at once or later; a run (not a stepped world) restarts it
  // after restart_ns.
  void crash(std::size_t index);
  // Faults stop: partitions and clogs heal, paused readers read, crashed nodes restart, the
  // workload stops starting calls.
  void end_fault_phase();
  // Runs the world for `duration_ns` of simulated time.
  void advance(TimeNs duration_ns);
  // Fails the run unless the cluster settled (the end of a quiet phase).
  void check_liveness() { oracle_.check_liveness(); }
  // The run so far: the verdict, the trace's hash and counts.
  SimResult result() const;

 private:
  struct Generators {
    Rng workload;
    Rng fault;
  };
  static Generators generators(std::uint64_t seed);
  static NetworkOptions network_options(const SimOptions& options, const FaultRates& rates);
  // Adds the nodes n0..n<nodes-1> to `net` (before the membership reads their count).
  static Network& add_nodes(Network& net, int nodes);
  World(const SimOptions& options, bool stepped, Generators generators);

  // ---- the network's host ----
  void on_event(std::size_t index, Event&& event) override;
  void on_pumped(std::size_t index, std::span<const PeerId> peers) override;
  void on_transport_opened(std::size_t link) override;
  void on_transport_closed(std::size_t link) override;
  void on_bitflip(std::size_t link, int from_side) override;
  void on_tls_failed(std::size_t link, int side, const std::string& what) override;
  void on_stuck(const std::string& what) override;

  NodeConfig config_for(std::size_t index) const;
  void sample_connections();
  std::string connection_span(std::size_t index, PeerId peer, std::uint64_t generation) const;
  void trace(std::initializer_list<std::string_view> parts) { tracer_.trace(parts); }

  const SimOptions options_;
  const FaultRates rates_;
  const Canary canary_;
  bool outputs_written_ = false;
  const bool stepped_;  // driven by SteppedSimulation: no random workload or faults
  Network net_;
  Tracer tracer_;
  Ledger ledger_;
  Oracle oracle_;
  WorkloadDriver workload_;
  FaultInjector faults_;
  Membership membership_;
  std::vector<std::uint64_t> open_transports_;  // SimOptions::sample_connections
  std::vector<std::uint64_t> most_open_at_a_node_;
};

}  // namespace weft::sim
