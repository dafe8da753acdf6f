#include "cluster.hpp"

#include <algorithm>
#include <stdexcept>

namespace weft::testing {

const event::RequestDone* Recorder::done_for(RequestId id) const {
  for (const auto& stamped : done) {
    if (stamped.event.id == id) return &stamped.event;
  }
  return nullptr;
}

std::size_t Recorder::done_count(RequestId id) const {
  return static_cast<std::size_t>(std::count_if(
      done.begin(), done.end(), [id](const auto& stamped) { return stamped.event.id == id; }));
}

std::size_t Recorder::ended_count(StreamId id) const {
  return static_cast<std::size_t>(
      std::count_if(streams_ended.begin(), streams_ended.end(),
                    [id](const auto& stamped) { return stamped.event.id == id; }));
}

const event::StreamEnded* Recorder::ended(StreamId id) const {
  const event::StreamEnded* last = nullptr;
  for (const auto& stamped : streams_ended) {
    if (stamped.event.id == id) last = &stamped.event;
  }
  return last;
}

NodeConfig test_config(std::string name, std::vector<std::string> peers) {
  NodeConfig config;
  config.name = std::move(name);
  config.peers = std::move(peers);
  config.auth = std::make_shared<SharedKeyAuth>("secret-cluster-key");
  config.seed = 1;  // fixed: a test replays the same run
  return config;
}

bool node_accepts(NodeConfig config) {
  try {
    Node node(std::move(config), 0, 0);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

std::function<void(NodeConfig&)> for_node(std::string name,
                                          std::function<void(NodeConfig&)> change) {
  return [name = std::move(name), change = std::move(change)](NodeConfig& config) {
    if (config.name == name) change(config);
  };
}

bool Cluster::settle(const std::function<bool()>& done) {
  return net_.run_until(done, now() + ns_from_ms(1'000));
}

Cluster::Cluster(std::vector<std::string> names, sim::MemNetworkOptions options,
                 const std::function<void(NodeConfig&)>& adjust)
    : net_(options), recorders_(names.size()) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::vector<std::string> peers;
    for (std::size_t j = 0; j < names.size(); ++j) {
      if (j != i) peers.push_back(names[j]);
    }
    NodeConfig config = test_config(names[i], std::move(peers));
    config.seed = 1000 + i;
    if (adjust) adjust(config);
    const sim::NodeIndex index = net_.add_node(std::move(config));
    for (std::uint16_t handler : {kEchoHandler, kHoldHandler, kErrorHandler, kDelayHandler}) {
      net_.node(index).register_handler(handler);
    }
    net_.set_app(index, [this](sim::MemNetwork&, sim::NodeIndex at, Event&& event) {
      on_event(at, std::move(event));
    });
  }
}

PeerConnection Cluster::to(std::size_t from, std::size_t to) {
  return node(from).connection(*node(from).find_peer(node(to).name()));
}

void Cluster::on_event(std::size_t index, Event&& event) {
  Recorder& rec = recorders_[index];
  const TimeNs now = net_.now();
  Node& self = net_.node(index);
  if (auto* up = std::get_if<event::PeerUp>(&event)) {
    rec.ups.push_back({now, *up});
  } else if (auto* down = std::get_if<event::PeerDown>(&event)) {
    rec.downs.push_back({now, *down});
  } else if (auto* failed = std::get_if<event::HandshakeFailed>(&event)) {
    rec.handshake_failures.push_back({now, *failed});
  } else if (auto* canceled = std::get_if<event::RequestCanceled>(&event)) {
    rec.canceled.push_back({now, *canceled});
  } else if (auto* done = std::get_if<event::RequestDone>(&event)) {
    rec.done.push_back({now, std::move(*done)});
  } else if (auto* opened = std::get_if<event::StreamOpened>(&event)) {
    rec.streams_opened.push_back({now, *opened});
  } else if (auto* ended = std::get_if<event::StreamEnded>(&event)) {
    rec.streams_ended.push_back({now, *ended});
  } else if (std::holds_alternative<event::StreamReadable>(event)) {
    ++rec.readable_events;
  } else if (std::holds_alternative<event::StreamWritable>(event)) {
    ++rec.writable_events;
  } else if (auto* request = std::get_if<event::RequestReceived>(&event)) {
    rec.received.push_back({now, *request});
    PeerConnection peer = self.connection(request->peer);
    switch (request->handler) {
      case kEchoHandler:
        peer.respond(now, request->id, request->payload);
        break;
      case kErrorHandler:
        peer.respond_error(now, request->id, Errc::remote_error, "disk full");
        break;
      case kHoldHandler:
        rec.held.push_back(*request);
        break;
      case kDelayHandler:
        net_.at(now + rec.delay_ns, [this, index, request = *request] {
          net_.node(index)
              .connection(request.peer)
              .respond(net_.now(), request.id, request.payload);
        });
        break;
      default:
        if (rec.on_request) rec.on_request(*request);
        break;
    }
  }
  const bool stream_event = std::holds_alternative<event::StreamOpened>(event) ||
                            std::holds_alternative<event::StreamEnded>(event) ||
                            std::holds_alternative<event::StreamReadable>(event) ||
                            std::holds_alternative<event::StreamWritable>(event);
  if (stream_event && rec.on_stream_event) rec.on_stream_event(event);
}

std::vector<std::string> Cluster::drain(std::size_t at, std::size_t peer, StreamId id) {
  std::vector<std::string> messages;
  PeerConnection connection = to(at, peer);
  while (std::optional<Bytes> message = connection.stream_peek(id)) {
    messages.emplace_back(as_chars(*message));
    connection.stream_consume(now(), id);
  }
  return messages;
}

bool Cluster::connected(std::size_t a, std::size_t b) {
  const auto a_to_b = node(a).find_peer(node(b).name());
  const auto b_to_a = node(b).find_peer(node(a).name());
  return a_to_b && b_to_a && to(a, b).state() == PeerState::established &&
         to(b, a).state() == PeerState::established;
}

bool Cluster::run_until_connected(TimeNs limit_ns) {
  const std::size_t n = recorders_.size();
  return net_.run_until(
      [this, n] {
        for (std::size_t a = 0; a < n; ++a) {
          for (std::size_t b = a + 1; b < n; ++b) {
            if (!connected(a, b)) return false;
          }
        }
        return true;
      },
      net_.now() + limit_ns);
}

Call Cluster::request(std::size_t from, std::size_t to_node, std::uint16_t handler,
                      std::string_view payload, std::int64_t timeout_ms, std::string_view route) {
  return to(from, to_node)
      .request(now(), RequestArgs{handler, route, as_bytes(payload), timeout_ms});
}

bool Cluster::run_until_done(std::size_t from, RequestId id, TimeNs limit_ns) {
  return net_.run_until([this, from, id] { return recorders_[from].done_for(id) != nullptr; },
                        net_.now() + limit_ns);
}

bool Cluster::all_mux_tables_empty() {
  for (std::size_t i = 0; i < recorders_.size(); ++i) {
    Node& n = node(i);
    for (PeerId p = 0; p < n.peer_count(); ++p) {
      const PeerStats stats = n.connection(p).stats();
      if (stats.outbound_in_flight != 0 || stats.inbound_in_flight != 0 ||
          stats.streams_open != 0) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace weft::testing
