#include "object_pair.hpp"

#include <utility>

#include "weft/auth.hpp"

namespace weft::testing {
namespace {

sim::MemNetworkOptions network_options(const PairOptions& options) {
  sim::MemNetworkOptions network;
  network.seed = options.seed;
  network.max_piece_bytes = options.max_piece_bytes;
  // Paced like a socket, so a test's `until` sees a large object arrive in steps.
  network.send_buffer_bytes = 256 * 1024;
  network.keep_wire_log = false;  // the volume tests move gigabytes
  return network;
}

}  // namespace

ObjectPair::ObjectPair(PairOptions options)
    : options_(std::move(options)), net_(network_options(options_)) {
  for (std::size_t index = 0; index < 2; ++index) {
    net_.add_node(config_for(index));
    net_.set_app(index, [this](sim::MemNetwork&, sim::NodeIndex at, Event&& event) {
      on_app_event(at, std::move(event));
    });
    start(index);
  }
}

NodeConfig ObjectPair::config_for(std::size_t index) const {
  NodeConfig config;
  config.name = index == 0 ? "a" : "b";
  config.peers = {index == 0 ? "b" : "a"};
  config.auth = std::make_shared<SharedKeyAuth>("secret-cluster-key");
  config.seed = options_.seed * 1000 + index * 100 + restarts_;
  if (options_.adjust) options_.adjust(config);
  return config;
}

void ObjectPair::start(std::size_t index) {
  if (index == 1) node(1).register_object_endpoint("store", options_.window);
}

bool ObjectPair::connected() {
  return to(0).state() == PeerState::established && to(1).state() == PeerState::established;
}

bool ObjectPair::run_until_connected(TimeNs limit_ns) {
  run(limit_ns, [this] { return connected(); });
  return connected();
}

void ObjectPair::run(TimeNs duration_ns, const std::function<bool()>& until) {
  const TimeNs end_ns = now() + duration_ns;
  if (until) {
    net_.run_until(until, end_ns);
  } else {
    net_.run_until(end_ns);
  }
}

void ObjectPair::on_app_event(std::size_t index, Event&& event) {
  events_[index].push_back(event);
  if (reading_ && index == 1) {
    if (const auto* arrived = std::get_if<event::ObjectArrived>(&event)) {
      Received entry;
      entry.object = arrived->object;
      entry.header = arrived->header;
      reading_index_[arrived->stream.value] = received_.size();
      received_.push_back(std::move(entry));
      read_available(arrived->stream);
    } else if (const auto* readable = std::get_if<event::ObjectReadable>(&event)) {
      read_available(readable->stream);
    } else if (const auto* aborted = std::get_if<event::ObjectAborted>(&event)) {
      received_.at(reading_index_.at(aborted->stream.value)).aborted = aborted->result;
    }
  }
  if (on_event) on_event(index, event);
}

void ObjectPair::read_available(ObjectStreamId stream) {
  PeerConnection peer = to(1);
  while (auto read = peer.object_read(stream)) {
    Received& entry = received_.at(reading_index_.at(stream.value));
    // The next object is readable before its ObjectArrived is handled: that event reads it.
    if (read->object != entry.object) return;
    const Action action = policy_ ? policy_(entry) : Action::read;
    if (action == Action::discard) {
      peer.object_discard(now(), stream);
      entry.finished = true;
      return;
    }
    if (action == Action::refuse) {
      peer.object_refuse(now(), stream, Errc::remote_error, "refused by the test");
      entry.finished = true;
      return;
    }
    entry.data.insert(entry.data.end(), read->data.begin(), read->data.end());
    const bool end = read->end;
    peer.object_consume(now(), stream, read->data.size());
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

void ObjectPair::set_paused(bool paused) {
  net_.set_stalled(0, 1, paused);
  net_.set_stalled(1, 0, paused);
}

void ObjectPair::disconnect() {
  net_.break_links(0, 1);
}

void ObjectPair::restart(std::size_t index) {
  ++restarts_;
  net_.restart_node(index, config_for(index));
  start(index);
  if (index == 1) reading_index_.clear();
}

}  // namespace weft::testing
