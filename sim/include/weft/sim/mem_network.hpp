// An in-memory network that drives several weft nodes in one thread under a virtual clock:
// the first piece of the deterministic simulator.
//
// Time jumps from one scheduled action to the next (byte delivery, connect result,
// transport down, a node's timer), actions at the same instant run in the order they were
// scheduled, and every random choice (how bytes are cut into pieces) comes from the seed,
// so a seed fixes a run completely.
//
// The network plays the driver for every node: it handles Dial and CloseTransport events
// itself and hands every other event to the node's application (by default, a queue the
// caller reads with app_events()).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "weft/node.hpp"
#include "weft/random.hpp"
#include "weft/sim/action_queue.hpp"

namespace weft::sim {

struct MemNetworkOptions {
  std::uint64_t seed = 1;
  // One-way delivery delay of every byte, and of connect results.
  TimeNs latency_ns = 50'000;
  // Bytes leave a node in pieces of 1..max_piece_bytes, sizes drawn from the seed (so the
  // receiver sees arbitrary splits). 0: whole writes.
  std::size_t max_piece_bytes = 0;
  // Give up (abort) when this many steps happen without the clock moving: a livelock.
  std::uint64_t max_steps_per_instant = 1'000'000;
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
  TimeNs now() const { return now_ns_; }
  std::int64_t wall_ms() const { return wall_origin_ms_ + ms_from_ns(now_ns_); }

  // Runs `run` at time `at_ns` (an application timer: e.g. a handler that answers later).
  void at(TimeNs at_ns, std::function<void()> run) { actions_.at(at_ns, std::move(run)); }
  // Dial attempts node `index` has made, with their times.
  const std::vector<TimeNs>& dial_log(NodeIndex index) const;

  // Replaces the default application (which queues events for app_events()).
  void set_app(NodeIndex index, AppHandler handler);
  // Events queued by the default application of node `index`.
  std::deque<Event>& app_events(NodeIndex index);

  // Runs until the clock reaches `until_ns` (it ends exactly there).
  void run_until(TimeNs until_ns);
  void run_for(TimeNs duration_ns) { run_until(now_ns_ + duration_ns); }
  // Runs until `done()` holds (checked after every step) or `limit_ns` passes; returns
  // whether done() held.
  bool run_until(const std::function<bool()>& done, TimeNs limit_ns);

  // ---- faults ----
  // While stalled, bytes node `from` wants to send to node `to` stay in `from`'s output,
  // as if the socket buffer were full and the peer not reading.
  void set_stalled(NodeIndex from, NodeIndex to, bool stalled);
  // Resets every transport between a and b: both sides see transport down at once, bytes
  // in flight are lost.
  void break_links(NodeIndex a, NodeIndex b);
  // Node `index`'s process dies and a new one starts at once with `config` (the same name;
  // give it another seed, as a real restart draws one): every transport of the old process
  // is reset (its peers see transport down), its queued events and dials are dropped, and
  // its application handler stays. The new node registers no handlers by itself.
  void restart_node(NodeIndex index, NodeConfig config);
  // While unreachable, dials from a to b (and b to a) fail.
  void set_reachable(NodeIndex a, NodeIndex b, bool reachable);
  // While muted, node `index` receives bytes but its output is dropped on the floor (a
  // peer that stops answering without closing).
  void set_muted(NodeIndex index, bool muted);

  // Bytes node `from` has written towards node `to` since the current transport between
  // them opened (for tests that inspect the wire).
  const std::vector<std::uint8_t>& wire_log(NodeIndex from, NodeIndex to);
  // Transports opened between a and b so far.
  std::size_t links_opened(NodeIndex a, NodeIndex b) const;

 private:
  struct Endpoint {
    NodeIndex node;
    TransportId transport;
  };
  struct Link {
    Endpoint side[2];
    bool open[2] = {true, true};  // the side still knows the transport
  };

  struct NodeSlot;

  void schedule(TimeNs at_ns, std::function<void()> run);
  void step_instant();
  void flush_outputs();
  void pump_events(NodeIndex index);
  void drain_transport(NodeIndex index, TransportId transport);
  void dial(NodeIndex from, PeerId peer, TransportId transport);
  void close_transport(NodeIndex index, event::CloseTransport&& close);
  Link* link_of(NodeIndex index, TransportId transport, int* side);
  std::vector<std::uint8_t>& log_for(NodeIndex from, NodeIndex to);

  MemNetworkOptions options_;
  Rng rng_;
  TimeNs now_ns_ = 0;
  std::int64_t wall_origin_ms_ = 1'767'225'600'000;  // 2026-01-01, any fixed value will do
  ActionQueue actions_;
  std::vector<std::unique_ptr<NodeSlot>> nodes_;
  std::vector<Link> links_;
  // (node, transport) -> link index; ordered so iteration is deterministic.
  std::map<std::pair<NodeIndex, TransportId>, std::size_t> link_index_;
  std::map<std::pair<NodeIndex, NodeIndex>, bool> stalled_;
  std::map<std::pair<NodeIndex, NodeIndex>, bool> unreachable_;
  std::map<std::pair<NodeIndex, NodeIndex>, std::vector<std::uint8_t>> wire_logs_;
  std::map<std::pair<NodeIndex, NodeIndex>, std::size_t> links_opened_;
};

}  // namespace weft::sim
