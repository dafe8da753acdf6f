// The fault injector: schedules the faults of FaultRates that the network does not apply by
// itself - resets, clogs, partitions, crashes, clock jumps, paused readers and ghost
// connections - at their rates (Poisson, from the fault generator) while the network's
// faults are on, and lifts them at the end of the fault phase. Each fault is traced, counted
// and told to the oracle as a disturbance of the pairs it touches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "network.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/sim/simulator.hpp"

namespace weft::sim {

class FaultInjector {
 public:
  FaultInjector(const FaultRates& rates, Network& net, Oracle& oracle, Tracer& tracer);

  // A wall clock skew for a node: up to max_skew_ms either way.
  std::int64_t draw_skew();
  // Schedules every fault kind at its rate; `crash` crashes a node (the world's to do: it
  // concerns the workload and the oracle too).
  void schedule(std::function<void(std::size_t)> crash);
  // Holds what the nodes with side[i] true send to the others (and, unless one way, what
  // the others send them) until `until`.
  void cut(const std::vector<bool>& side, bool one_way, TimeNs until);
  // Every partition ends now: no disturbance lasts past this instant, and the deliveries a
  // partition until heal() parked go on, in order.
  void lift_partitions();
  // The fault phase is over: clogs and partitions lift, paused readers read again.
  void heal();

 private:
  void repeat(double per_s, std::function<void()> fault);
  void reset_random_link();
  void clog_random_link();
  void partition();
  void jump_clock();
  void pause_reader(std::size_t index);
  void inject_ghost();
  std::optional<std::vector<std::uint8_t>> wrong_way_hello(std::size_t& from, std::size_t& to);

  const FaultRates& rates_;
  Network& net_;
  Oracle& oracle_;
  Tracer& tracer_;
  Rng& rng_;  // the network's fault generator
  std::function<void(std::size_t)> crash_;
};

}  // namespace weft::sim
