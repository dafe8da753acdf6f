#include "object_pair.hpp"

#include <algorithm>
#include <set>

#include "weft/auth.hpp"

namespace weft::testing {

ObjectPair::ObjectPair(PairOptions options) : options_(std::move(options)), rng_(options_.seed) {
  make_node(0);
  make_node(1);
}

NodeConfig ObjectPair::config_for(std::size_t index, std::uint64_t seed) const {
  NodeConfig config;
  config.name = index == 0 ? "a" : "b";
  config.peers = {index == 0 ? "b" : "a"};
  config.auth = std::make_shared<StaticTokenAuth>("secret");
  config.seed = seed;
  if (options_.adjust) options_.adjust(config);
  return config;
}

void ObjectPair::make_node(std::size_t index) {
  const std::uint64_t seed = options_.seed * 1000 + index * 100 + restarts_;
  nodes_.at(index) = std::make_unique<Node>(config_for(index, seed), now_ns_, 1'700'000'000'000);
  if (index == 1) nodes_[1]->register_object_endpoint("store", options_.window);
}

bool ObjectPair::connected() {
  return to(0).state() == PeerState::established && to(1).state() == PeerState::established;
}

bool ObjectPair::run_until_connected(TimeNs limit_ns) {
  run(limit_ns, [this] { return connected(); });
  return connected();
}

void ObjectPair::run(TimeNs duration_ns, const std::function<bool()>& until) {
  const TimeNs end_ns = now_ns_ + duration_ns;
  while (true) {
    for (int rounds = 0; step(); ++rounds) {
      if (until && until()) return;
    }
    if (until && until()) return;
    const TimeNs next = std::min(nodes_[0]->next_deadline(), nodes_[1]->next_deadline());
    if (next > end_ns || next == kNever) {
      now_ns_ = std::max(now_ns_, end_ns);
      for (auto& node : nodes_)
        node->on_timer(now_ns_);
      while (step()) {
      }
      return;
    }
    now_ns_ = std::max(now_ns_, next);
    for (auto& node : nodes_)
      node->on_timer(now_ns_);
  }
}

// One round: every node's events, then one piece of output per transport, so a test's
// `until` sees the run advance in small steps.
bool ObjectPair::step() {
  bool moved = false;
  for (std::size_t index = 0; index < 2; ++index) {
    if (nodes_[index]->has_output()) moved = true;
    drain_events(index);
    while (auto transport = nodes_[index]->poll_transmit())
      writable_.insert({index, *transport});
  }
  if (paused_) return moved;
  for (const auto& [index, transport] : std::set(writable_)) {
    if (deliver(index, transport)) {
      moved = true;
    } else {
      writable_.erase({index, transport});
    }
  }
  return moved;
}

void ObjectPair::drain_events(std::size_t index) {
  while (auto event = nodes_[index]->poll_event()) {
    events_[index].push_back(*event);
    if (const auto* dial = std::get_if<event::Dial>(&*event); dial != nullptr && unreachable_) {
      nodes_[index]->on_connect_failed(now_ns_, dial->transport, "no route to host");
    } else if (dial != nullptr) {
      const std::size_t other = 1 - index;
      const TransportId accepted = nodes_[other]->on_accepted(now_ns_);
      links_[{index, dial->transport}] = Link{other, accepted};
      links_[{other, accepted}] = Link{index, dial->transport};
      nodes_[index]->on_connected(now_ns_, dial->transport);
    } else if (const auto* close = std::get_if<event::CloseTransport>(&*event)) {
      close_link(index, close->transport, close->final_bytes);
    }
    if (reading_ && index == 1) {
      if (const auto* arrived = std::get_if<event::ObjectArrived>(&*event)) {
        Received entry;
        entry.object = arrived->object;
        entry.header = arrived->header;
        reading_index_[arrived->stream.value] = received_.size();
        received_.push_back(std::move(entry));
        read_available(arrived->stream);
      } else if (const auto* readable = std::get_if<event::ObjectReadable>(&*event)) {
        read_available(readable->stream);
      } else if (const auto* aborted = std::get_if<event::ObjectAborted>(&*event)) {
        received_.at(reading_index_.at(aborted->stream.value)).aborted = aborted->result;
      }
    }
    if (on_event) on_event(index, *event);
  }
}

void ObjectPair::read_available(ObjectStreamId stream) {
  PeerConnection peer = to(1);
  while (auto read = peer.object_read(stream)) {
    Received& entry = received_.at(reading_index_.at(stream.value));
    // The next object is readable before its ObjectArrived is handled: that event reads it.
    if (read->object != entry.object) return;
    const Action action = policy_ ? policy_(entry) : Action::read;
    if (action == Action::discard) {
      peer.object_discard(now_ns_, stream);
      entry.finished = true;
      return;
    }
    if (action == Action::refuse) {
      peer.object_refuse(now_ns_, stream, Errc::remote_error, "refused by the test");
      entry.finished = true;
      return;
    }
    entry.data.insert(entry.data.end(), read->data.begin(), read->data.end());
    const bool end = read->end;
    peer.object_consume(now_ns_, stream, read->data.size());
    if (end) {
      entry.finished = true;
      return;  // the next object arrives with its own event
    }
  }
}

void ObjectPair::read_everything(std::function<Action(const Received&)> policy) {
  policy_ = std::move(policy);
  reading_ = true;
}

std::vector<event::ObjectCompleted> ObjectPair::completions() const {
  std::vector<event::ObjectCompleted> out;
  for (const Event& event : events_[0]) {
    if (const auto* done = std::get_if<event::ObjectCompleted>(&event)) out.push_back(*done);
  }
  return out;
}

bool ObjectPair::deliver(std::size_t from, TransportId transport) {
  Node& sender = *nodes_[from];
  const Bytes output = sender.pending_output(transport);
  if (output.empty()) return false;
  const auto link = links_.find({from, transport});
  if (link == links_.end()) {  // the other end is gone: the bytes vanish
    sender.consume_output(transport, output.size());
    return true;
  }
  std::size_t piece = output.size();
  if (options_.max_piece_bytes != 0)
    piece = std::min<std::size_t>(piece, 1 + rng_.below(options_.max_piece_bytes));
  const std::vector<std::uint8_t> copy(output.begin(), output.begin() + static_cast<long>(piece));
  sender.consume_output(transport, piece);
  nodes_[link->second.node]->on_bytes(now_ns_, link->second.transport, copy);
  return true;
}

void ObjectPair::close_link(std::size_t node, TransportId transport,
                            std::vector<std::uint8_t> final_bytes) {
  const auto link = links_.find({node, transport});
  if (link == links_.end()) return;
  const Link other = link->second;
  links_.erase(link);
  links_.erase({other.node, other.transport});
  if (!final_bytes.empty()) nodes_[other.node]->on_bytes(now_ns_, other.transport, final_bytes);
  nodes_[other.node]->on_transport_down(now_ns_, other.transport, "closed by the peer");
}

void ObjectPair::disconnect() {
  const auto links = links_;
  links_.clear();
  for (const auto& [end, other] : links)
    nodes_[end.first]->on_transport_down(now_ns_, end.second, "connection reset");
}

void ObjectPair::restart(std::size_t index) {
  const std::size_t other = 1 - index;
  std::vector<TransportId> others;
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->first.first == index || it->second.node == index) {
      if (it->first.first == other) others.push_back(it->first.second);
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
  ++restarts_;
  make_node(index);
  for (TransportId transport : others)
    nodes_[other]->on_transport_down(now_ns_, transport, "peer process died");
  if (index == 1) reading_index_.clear();
}

}  // namespace weft::testing
