#include "weft/sim/mem_network.hpp"

#include <cstdio>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace weft::sim {

struct MemNetwork::NodeSlot {
  std::unique_ptr<Node> node;
  AppHandler app;
  std::deque<Event> events;
  bool muted = false;
  std::set<TransportId> dials_abandoned;  // closed by the node before the connect landed
  std::vector<TimeNs> dial_times;
  std::uint64_t epoch = 0;  // restarts so far: a dial of an earlier process lands nowhere
};

namespace {

std::pair<NodeIndex, NodeIndex> unordered_pair(NodeIndex a, NodeIndex b) {
  return {std::min(a, b), std::max(a, b)};
}

}  // namespace

MemNetwork::MemNetwork(MemNetworkOptions options) : options_(options), rng_(options.seed) {}
MemNetwork::~MemNetwork() = default;

NodeIndex MemNetwork::add_node(NodeConfig config) {
  for (const auto& slot : nodes_) {
    if (slot->node->name() == config.name) throw std::invalid_argument("duplicate node name");
  }
  auto slot = std::make_unique<NodeSlot>();
  slot->node = std::make_unique<Node>(std::move(config), now_ns_, wall_ms());
  nodes_.push_back(std::move(slot));
  return nodes_.size() - 1;
}

Node& MemNetwork::node(NodeIndex index) {
  return *nodes_.at(index)->node;
}
std::size_t MemNetwork::node_count() const {
  return nodes_.size();
}

NodeIndex MemNetwork::index_of(std::string_view name) const {
  for (NodeIndex i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->node->name() == name) return i;
  }
  throw std::invalid_argument("no node named " + std::string(name));
}

void MemNetwork::set_app(NodeIndex index, AppHandler handler) {
  nodes_.at(index)->app = std::move(handler);
}
std::deque<Event>& MemNetwork::app_events(NodeIndex index) {
  return nodes_.at(index)->events;
}

void MemNetwork::schedule(TimeNs at_ns, std::function<void()> run) {
  actions_.at(at_ns, std::move(run));
}

// ---- the loop -------------------------------------------------------------------------

void MemNetwork::run_until(TimeNs until_ns) {
  run_until([] { return false; }, until_ns);
}

bool MemNetwork::run_until(const std::function<bool()>& done, TimeNs limit_ns) {
  while (true) {
    flush_outputs();
    if (done()) return true;
    TimeNs next = actions_.next_time();
    for (const auto& slot : nodes_)
      next = std::min(next, slot->node->next_deadline());
    if (next > limit_ns) {
      now_ns_ = std::max(now_ns_, limit_ns);
      return false;
    }
    now_ns_ = std::max(now_ns_, next);
    step_instant();
  }
}

void MemNetwork::step_instant() {
  std::uint64_t steps = 0;
  while (std::optional<std::function<void()>> action = actions_.pop_due(now_ns_)) {
    (*action)();
    if (++steps > options_.max_steps_per_instant) {
      std::fprintf(stderr, "MemNetwork: livelock at t=%lld ns\n", static_cast<long long>(now_ns_));
      std::abort();
    }
  }
  for (auto& slot : nodes_) {
    if (slot->node->next_deadline() <= now_ns_) slot->node->on_timer(now_ns_);
  }
}

// Lets every node act on its events and write its output until nothing moves.
void MemNetwork::flush_outputs() {
  for (std::uint64_t round = 0;; ++round) {
    bool moved = false;
    for (NodeIndex index = 0; index < nodes_.size(); ++index) {
      Node& node = *nodes_[index]->node;
      while (std::optional<Event> event = node.poll_event()) {
        moved = true;
        if (auto* dial_event = std::get_if<event::Dial>(&*event)) {
          dial(index, dial_event->peer, dial_event->transport);
        } else if (auto* close = std::get_if<event::CloseTransport>(&*event)) {
          close_transport(index, std::move(*close));
        } else if (nodes_[index]->app) {
          nodes_[index]->app(*this, index, std::move(*event));
        } else {
          nodes_[index]->events.push_back(std::move(*event));
        }
      }
      while (std::optional<TransportId> transport = node.poll_transmit()) {
        moved = true;
        drain_transport(index, *transport);
      }
    }
    if (!moved) return;
    if (round > options_.max_steps_per_instant) {
      std::fprintf(stderr, "MemNetwork: nodes never quiesce at t=%lld ns\n",
                   static_cast<long long>(now_ns_));
      std::abort();
    }
  }
}

void MemNetwork::drain_transport(NodeIndex index, TransportId transport) {
  int side = 0;
  Link* link = link_of(index, transport, &side);
  if (link == nullptr || !link->open[side]) return;
  const Endpoint to = link->side[1 - side];
  if (stalled_[{index, to.node}]) return;
  Node& node = *nodes_[index]->node;
  const Bytes output = node.pending_output(transport);
  if (output.empty()) return;
  std::vector<std::uint8_t> bytes(output.begin(), output.end());
  node.consume_output(transport, bytes.size());
  if (nodes_[index]->muted) return;
  auto& log = log_for(index, to.node);
  log.insert(log.end(), bytes.begin(), bytes.end());
  const std::size_t link_at = link_index_.at({index, transport});
  std::size_t at = 0;
  while (at < bytes.size()) {
    std::size_t piece = bytes.size() - at;
    if (options_.max_piece_bytes > 0) {
      piece = std::min<std::size_t>(piece, 1 + rng_.below(options_.max_piece_bytes));
    }
    std::vector<std::uint8_t> chunk(bytes.begin() + static_cast<long>(at),
                                    bytes.begin() + static_cast<long>(at + piece));
    at += piece;
    schedule(now_ns_ + options_.latency_ns, [this, link_at, side, chunk = std::move(chunk)] {
      Link& target = links_[link_at];
      const Endpoint receiver = target.side[1 - side];
      if (!target.open[1 - side]) return;
      nodes_[receiver.node]->node->on_bytes(now_ns_, receiver.transport, chunk);
    });
  }
}

// ---- transports -----------------------------------------------------------------------

void MemNetwork::dial(NodeIndex from, PeerId peer, TransportId transport) {
  const std::string& name = nodes_[from]->node->config().peers.at(peer);
  std::optional<NodeIndex> target;
  for (NodeIndex i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->node->name() == name) target = i;
  }
  nodes_[from]->dial_times.push_back(now_ns_);
  schedule(now_ns_ + options_.latency_ns,
           [this, from, target, transport, epoch = nodes_[from]->epoch] {
             NodeSlot& dialer = *nodes_[from];
             if (dialer.epoch != epoch) return;  // the process that dialed is gone
             if (dialer.dials_abandoned.erase(transport) > 0) return;
             if (!target) {
               dialer.node->on_connect_failed(now_ns_, transport, "no such host");
               return;
             }
             const NodeIndex to = *target;
             if (unreachable_[unordered_pair(from, to)]) {
               dialer.node->on_connect_failed(now_ns_, transport, "connection refused");
               return;
             }
             const TransportId accepted = nodes_[to]->node->on_accepted(now_ns_);
             links_.push_back(Link{{{from, transport}, {to, accepted}}});
             link_index_[{from, transport}] = links_.size() - 1;
             link_index_[{to, accepted}] = links_.size() - 1;
             ++links_opened_[unordered_pair(from, to)];
             log_for(from, to).clear();
             log_for(to, from).clear();
             dialer.node->on_connected(now_ns_, transport);
           });
}

void MemNetwork::close_transport(NodeIndex index, event::CloseTransport&& close) {
  int side = 0;
  Link* link = link_of(index, close.transport, &side);
  if (link == nullptr) {
    nodes_[index]->dials_abandoned.insert(close.transport);  // connect still in flight
    return;
  }
  if (!link->open[side]) return;
  link->open[side] = false;
  const std::size_t link_at = link_index_.at({index, close.transport});
  const Endpoint peer = link->side[1 - side];
  if (!close.final_bytes.empty() && !nodes_[index]->muted) {
    auto& log = log_for(index, peer.node);
    log.insert(log.end(), close.final_bytes.begin(), close.final_bytes.end());
    schedule(now_ns_ + options_.latency_ns,
             [this, link_at, side, bytes = std::move(close.final_bytes)] {
               Link& target = links_[link_at];
               if (!target.open[1 - side]) return;
               const Endpoint receiver = target.side[1 - side];
               nodes_[receiver.node]->node->on_bytes(now_ns_, receiver.transport, bytes);
             });
  }
  // The peer learns of the close after the bytes before it, like a FIN.
  schedule(now_ns_ + options_.latency_ns, [this, link_at, side] {
    Link& target = links_[link_at];
    if (!target.open[1 - side]) return;
    target.open[1 - side] = false;
    const Endpoint receiver = target.side[1 - side];
    nodes_[receiver.node]->node->on_transport_down(now_ns_, receiver.transport, "peer closed");
  });
}

MemNetwork::Link* MemNetwork::link_of(NodeIndex index, TransportId transport, int* side) {
  const auto found = link_index_.find({index, transport});
  if (found == link_index_.end()) return nullptr;
  Link& link = links_[found->second];
  *side = link.side[0].node == index && link.side[0].transport == transport ? 0 : 1;
  return &link;
}

// ---- faults ---------------------------------------------------------------------------

void MemNetwork::set_stalled(NodeIndex from, NodeIndex to, bool stalled) {
  stalled_[{from, to}] = stalled;
  if (stalled) return;
  // Bytes held back while stalled go out now.
  for (const auto& [key, link_at] : link_index_) {
    Link& link = links_[link_at];
    if (key.first != from) continue;
    const int side = link.side[0].node == from && link.side[0].transport == key.second ? 0 : 1;
    if (link.side[1 - side].node == to && link.open[side]) drain_transport(from, key.second);
  }
}

void MemNetwork::restart_node(NodeIndex index, NodeConfig config) {
  NodeSlot& slot = *nodes_.at(index);
  if (config.name != slot.node->name()) {
    throw std::invalid_argument("restart_node: a restarted node keeps its name");
  }
  // Its transports die with the process: each peer sees a reset, and nothing more is
  // delivered to or from the old process (its entries leave the index, so the new process's
  // transport ids cannot be mistaken for them).
  for (auto entry = link_index_.begin(); entry != link_index_.end();) {
    if (entry->first.first != index) {
      ++entry;
      continue;
    }
    Link& link = links_[entry->second];
    const int side =
        link.side[0].node == index && link.side[0].transport == entry->first.second ? 0 : 1;
    link.open[side] = false;
    if (link.open[1 - side]) {
      link.open[1 - side] = false;
      const Endpoint peer = link.side[1 - side];
      nodes_[peer.node]->node->on_transport_down(now_ns_, peer.transport, "connection reset");
    }
    entry = link_index_.erase(entry);
  }
  ++slot.epoch;
  slot.events.clear();
  slot.dials_abandoned.clear();
  slot.node = std::make_unique<Node>(std::move(config), now_ns_, wall_ms());
}

void MemNetwork::break_links(NodeIndex a, NodeIndex b) {
  for (Link& link : links_) {
    const bool between =
        unordered_pair(link.side[0].node, link.side[1].node) == unordered_pair(a, b);
    if (!between) continue;
    for (int side = 0; side < 2; ++side) {
      if (!link.open[side]) continue;
      link.open[side] = false;
      nodes_[link.side[side].node]->node->on_transport_down(now_ns_, link.side[side].transport,
                                                            "connection reset");
    }
  }
}

void MemNetwork::set_reachable(NodeIndex a, NodeIndex b, bool reachable) {
  unreachable_[unordered_pair(a, b)] = !reachable;
}

const std::vector<TimeNs>& MemNetwork::dial_log(NodeIndex index) const {
  return nodes_.at(index)->dial_times;
}

void MemNetwork::set_muted(NodeIndex index, bool muted) {
  nodes_.at(index)->muted = muted;
}

std::vector<std::uint8_t>& MemNetwork::log_for(NodeIndex from, NodeIndex to) {
  return wire_logs_[{from, to}];
}

const std::vector<std::uint8_t>& MemNetwork::wire_log(NodeIndex from, NodeIndex to) {
  return log_for(from, to);
}

std::size_t MemNetwork::links_opened(NodeIndex a, NodeIndex b) const {
  const auto found = links_opened_.find(unordered_pair(a, b));
  return found == links_opened_.end() ? 0 : found->second;
}

}  // namespace weft::sim
