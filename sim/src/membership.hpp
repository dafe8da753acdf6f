// Membership at run time, as faults (FaultRates::leave_per_s, late_join): which nodes each
// node lists as its peers, changed while the cluster runs through Node::remove_peer and
// Node::add_peer. A leave: a node removes a peer it lists (and with both_sides_chance the
// peer removes it too); each side adds the other back after up to return_ns, a new
// relationship under a new PeerId. A late join: the last node starts in the middle of the
// fault phase, listing everyone, and the others add it one by one. A node that restarts
// lists whom it listed when it went down. When the faults end every pair lists each other
// again, so the liveness check sees the whole mesh.
//
// The oracle keeps the matrix (Oracle::listed) and checks every removal: everything with
// the removed peer ended, once, with peer_removed, before the node does anything else.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "network.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/sim/simulator.hpp"

namespace weft::sim {

class Membership {
 public:
  Membership(const FaultRates& rates, Network& net, Oracle& oracle, Tracer& tracer);

  // Whether node `index` has not started yet: it waits for its late join.
  bool waiting_to_join(std::size_t index) const { return joiner_ == index && !joined_; }
  // Schedules the leaves (with their returns) and the late join of a fault phase that ends
  // at `fault_end`; `start` starts a node's process.
  void schedule(TimeNs fault_end, std::function<void(std::size_t)> start);
  // Node `a` stops listing node `b`: Node::remove_peer when `a` runs (told to the oracle).
  // Nothing when it does not list `b`.
  void remove(std::size_t a, std::size_t b);
  // Node `a` lists node `b` again: Node::add_peer when `a` runs, a new relationship.
  // Nothing when it lists `b` already.
  void add(std::size_t a, std::size_t b);
  // The faults ended: the late joiner joins now if it has not, every pair lists each other.
  void heal();

 private:
  void repeat_leave(double per_s);
  void leave();
  void join();
  TimeNs within(TimeNs max_ns);

  Network& net_;
  Oracle& oracle_;
  Tracer& tracer_;
  Rng& rng_;  // the network's fault generator
  // FaultRates' membership settings.
  const double leave_per_s_;
  const double both_sides_chance_;
  const TimeNs return_ns_;
  const TimeNs join_spread_ns_;
  std::optional<std::size_t> joiner_;  // the late joiner, when there is one
  bool joined_ = false;
  std::function<void(std::size_t)> start_;
};

}  // namespace weft::sim
