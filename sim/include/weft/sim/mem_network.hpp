// An in-memory network for tests: several weft nodes in one thread under a virtual clock.
// It is the simulator's network model (sim/src/network.hpp, the one run_simulation and
// SteppedSimulation run on) with a fixed latency, chunking if asked, none of the profiles'
// faults, and the faults a test injects by hand: stalled writers, broken links, restarts,
// unreachable pairs, muted nodes.
//
// Time jumps from one scheduled action to the next (byte delivery, connect result,
// transport down, a node's timer), actions at the same instant run in the order they were
// scheduled, and every random choice (how bytes are cut into pieces) comes from the seed,
// so a seed fixes a run completely. Bytes a node reads cause its events at once: the
// application sees them within the delivery that caused them.
//
// The network plays the driver for every node: it handles Dial and CloseTransport events
// itself and hands every other event to the node's application (by default, a queue the
// caller reads with app_events()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "weft/node.hpp"

namespace weft::sim {

struct MemNetworkOptions {
  std::uint64_t seed = 1;
  // One-way delivery delay of every byte, and of connect results.
  TimeNs latency_ns = 50'000;
  // Bytes leave a node in pieces of 1..max_piece_bytes, sizes drawn from the seed (so the
  // receiver sees arbitrary splits; each link draws from its own generator). 0: whole
  // writes.
  std::size_t max_piece_bytes = 0;
  // Give up (abort) when this many actions run at one instant: a livelock.
  std::uint64_t max_steps_per_instant = 1'000'000;
  // Bytes one direction of a link holds between a write and the reader taking them (the two
  // socket buffers): a writer beyond it waits, so a large transfer takes many instants, as
  // over a real socket. 0: unbounded (everything written moves in one delivery).
  std::size_t send_buffer_bytes = 0;
  // Keep every byte written for wire_log(); off for runs that move gigabytes.
  bool keep_wire_log = true;
  // Every link over TLS (docs/TLS.md) when set: certificates and TLS's randomness from this
  // seed. The nodes hear what TLS proved (the peer's certificate names, a channel binding);
  // wire_log() keeps the plaintext.
  std::optional<std::uint64_t> tls_seed = std::nullopt;
};

class MemNetwork;
using NodeIndex = std::size_t;
// The application of a node: gets every event but Dial and CloseTransport.
using AppHandler = std::function<void(MemNetwork&, NodeIndex, Event&&)>;

class MemNetwork {
 public:
  explicit MemNetwork(MemNetworkOptions options = {});
  ~MemNetwork();
  MemNetwork(const MemNetwork&) = delete;
  MemNetwork& operator=(const MemNetwork&) = delete;

  // Adds a node (its name must be unique; its peers name other nodes of this network).
  NodeIndex add_node(NodeConfig config);
  Node& node(NodeIndex index);
  std::size_t node_count() const;
  // The index of the node called `name`.
  NodeIndex index_of(std::string_view name) const;
  TimeNs now() const;
  // Every node's wall clock (2026-01-01 at time 0).
  std::int64_t wall_ms() const;

  // Runs `run` at time `at_ns` (an application timer: e.g. a handler that answers later).
  void at(TimeNs at_ns, std::function<void()> run);
  // Dial attempts node `index` has made, with their times.
  const std::vector<TimeNs>& dial_log(NodeIndex index) const;

  // Replaces the default application (which queues events for app_events()).
  void set_app(NodeIndex index, AppHandler handler);
  // Events queued by the default application of node `index`.
  std::deque<Event>& app_events(NodeIndex index);

  // Runs until the clock reaches `until_ns` (it ends exactly there).
  void run_until(TimeNs until_ns);
  void run_for(TimeNs duration_ns) { run_until(now() + duration_ns); }
  // Runs until `done()` holds (checked whenever every node has acted) or `limit_ns`
  // passes; returns whether done() held.
  bool run_until(const std::function<bool()>& done, TimeNs limit_ns);

  // ---- faults ----
  // While stalled, bytes node `from` wants to send to node `to` stay in `from`'s output,
  // as if the socket buffer were full and the peer not reading (new transports too).
  void set_stalled(NodeIndex from, NodeIndex to, bool stalled);
  // Resets every transport between a and b: both sides see transport down at once, bytes
  // in flight are lost.
  void break_links(NodeIndex a, NodeIndex b);
  // Node `index`'s process dies and a new one starts at once with `config` (the same name;
  // give it another seed, as a real restart draws one): every transport of the old process
  // is reset (its peers see transport down), its queued events and dials are dropped, and
  // its application handler stays. The new node registers no handlers by itself.
  void restart_node(NodeIndex index, NodeConfig config);
  // While unreachable, dials from a to b (and b to a) are refused.
  void set_reachable(NodeIndex a, NodeIndex b, bool reachable);
  // While muted, node `index` receives bytes but its output (the last bytes of a close
  // too) is dropped on the floor (a peer that stops answering without closing).
  void set_muted(NodeIndex index, bool muted);

  // Bytes node `from` has written towards node `to` on the latest transport between them
  // (for tests that inspect the wire); empty before the first, and always without
  // keep_wire_log.
  const std::vector<std::uint8_t>& wire_log(NodeIndex from, NodeIndex to) const;
  // Transports opened between a and b so far.
  std::size_t links_opened(NodeIndex a, NodeIndex b) const;

 private:
  void check(NodeIndex index) const;

  // The network model and each node's application (sim/src/mem_network.cpp).
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::sim
