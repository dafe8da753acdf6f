#include "bundle_cluster.hpp"

#include "cluster.hpp"

namespace weft::testing {

BundleCluster::BundleCluster(std::size_t receivers, const std::function<void(NodeConfig&)>& adjust)
    : net_(sim::MemNetworkOptions{.keep_wire_log = false}) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < receivers; ++i)
    names.push_back("r" + std::to_string(i));
  NodeConfig sender_config = test_config("s", names);
  sender_config.seed = 100;
  if (adjust) adjust(sender_config);
  net_.add_node(std::move(sender_config));
  for (std::size_t i = 0; i < receivers; ++i) {
    add_receiver(names[i], 101 + i);
  }
}

std::size_t BundleCluster::add_receiver(std::string name, std::uint64_t seed) {
  NodeConfig config = test_config(std::move(name), {"s"});
  config.seed = seed;
  const sim::NodeIndex index = net_.add_node(std::move(config));
  net_.node(index).register_object_endpoint("store");
  net_.set_app(index, [this](sim::MemNetwork&, sim::NodeIndex at, Event&& event) {
    on_receiver_event(at, std::move(event));
  });
  return index - 1;
}

bool BundleCluster::run_until_connected() {
  return net_.run_until(
      [&] {
        for (PeerId peer = 0; peer < sender().peer_count(); ++peer) {
          if (sender().connection(peer).state() != PeerState::established) return false;
        }
        return true;
      },
      net_.now() + 10'000'000'000);
}

void BundleCluster::on_receiver_event(sim::NodeIndex index, Event&& event) {
  if (const auto* arrived = std::get_if<event::ObjectArrived>(&event)) {
    Arrival& arrival = reading_[{index - 1, arrived->stream.value}];
    arrival = Arrival{arrived->stream, arrived->header.name, {}, false};
    read(index, arrived->peer, arrived->stream);
  } else if (const auto* readable = std::get_if<event::ObjectReadable>(&event)) {
    read(index, readable->peer, readable->stream);
  } else if (const auto* aborted = std::get_if<event::ObjectAborted>(&event)) {
    reading_.erase({index - 1, aborted->stream.value});
  }
}

// Reads what waits on `stream` under the receiver's policy.
void BundleCluster::read(sim::NodeIndex index, PeerId peer, ObjectStreamId stream) {
  const std::size_t receiver = index - 1;
  const Policy policy = policies_.contains(receiver) ? policies_[receiver] : Policy::read;
  if (policy == Policy::hold) return;
  PeerConnection connection = net_.node(index).connection(peer);
  const auto reading = reading_.find({receiver, stream.value});
  if (reading == reading_.end()) return;
  Arrival& arrival = reading->second;
  const auto refuse = [&] {
    arrival.refused = true;
    arrivals_[receiver].push_back(std::move(arrival));
    reading_.erase(reading);
    connection.object_refuse(net_.now(), stream, Errc::remote_error, "refused by the test");
  };
  if (policy == Policy::refuse) return refuse();
  while (std::optional<ObjectRead> next = connection.object_read(stream)) {
    arrival.data.insert(arrival.data.end(), next->data.begin(), next->data.end());
    if (policy == Policy::refuse_half && !next->end && arrival.data.size() > 0) return refuse();
    const bool end = next->end;
    connection.object_consume(net_.now(), stream, next->data.size());
    if (end) {
      arrivals_[receiver].push_back(std::move(arrival));
      reading_.erase(reading);
      return;
    }
  }
}

}  // namespace weft::testing
