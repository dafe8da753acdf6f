// A sender ("s") and receivers ("r0", "r1"...) on the simulator's in-memory network, for
// bundle tests: the sender's events queue in sender_events(); each receiver serves endpoint
// "store" and reads every object whole by default, or follows the policy the test sets for
// it (hold: read nothing; refuse at once; refuse after half the data). Deterministic.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "weft/node.hpp"
#include "weft/sim/mem_network.hpp"

namespace weft::testing {

class BundleCluster {
 public:
  enum class Policy : std::uint8_t { read, hold, refuse, refuse_half };
  // One object a receiver finished reading (or refused), in the order it arrived.
  struct Arrival {
    ObjectStreamId stream;
    std::string name;  // the object's header name
    std::vector<std::uint8_t> data;
    bool refused = false;
  };

  // `receivers` receivers; `adjust` changes the sender's config.
  explicit BundleCluster(std::size_t receivers,
                         const std::function<void(NodeConfig&)>& adjust = {});

  Node& sender() { return net_.node(0); }
  // A receiver that joins later (its config lists "s"; the sender must add_peer it): it
  // serves "store" and reads like the others. Returns its receiver number.
  std::size_t add_receiver(std::string name, std::uint64_t seed);
  sim::MemNetwork& net() { return net_; }
  TimeNs now() const { return net_.now(); }
  std::deque<Event>& sender_events() { return net_.app_events(0); }
  // Receiver `i` (PeerId i on the sender, node index i + 1 on the network).
  void set_policy(std::size_t receiver, Policy policy) { policies_[receiver] = policy; }
  const std::vector<Arrival>& arrivals(std::size_t receiver) { return arrivals_[receiver]; }
  bool run_until_connected();
  void run(TimeNs duration_ns) { net_.run_for(duration_ns); }
  bool run_until(const std::function<bool()>& done, TimeNs limit_ns) {
    return net_.run_until(done, net_.now() + limit_ns);
  }

  // The sender's bundle events of one type, in order.
  template <typename E>
  std::vector<E> sender(BundleId bundle) {
    std::vector<E> out;
    for (const Event& event : sender_events()) {
      if (const auto* match = std::get_if<E>(&event); match && match->bundle == bundle) {
        out.push_back(*match);
      }
    }
    return out;
  }

 private:
  void on_receiver_event(sim::NodeIndex index, Event&& event);
  void read(sim::NodeIndex index, PeerId peer, ObjectStreamId stream);

  sim::MemNetwork net_;
  std::map<std::size_t, Policy> policies_;
  std::map<std::size_t, std::vector<Arrival>> arrivals_;
  // Per receiver, the object being read on each stream.
  std::map<std::pair<std::size_t, std::uint64_t>, Arrival> reading_;
};

}  // namespace weft::testing
