#include "membership.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace weft::sim {

Membership::Membership(const FaultRates& rates, Network& net, Oracle& oracle, Tracer& tracer)
    : net_(net),
      oracle_(oracle),
      tracer_(tracer),
      rng_(net.fault_rng()),
      leave_per_s_(rates.leave_per_s),
      both_sides_chance_(rates.both_sides_chance),
      return_ns_(rates.return_ns),
      join_spread_ns_(rates.join_spread_ns) {
  const std::size_t n = net_.node_count();
  if (!rates.late_join || n < 3) return;
  joiner_ = n - 1;
  for (std::size_t other = 0; other + 1 < n; ++other) {
    oracle_.set_listed(*joiner_, other, false);
    oracle_.set_listed(other, *joiner_, false);
  }
}

// A moment from now to `max_ns` after it.
TimeNs Membership::within(TimeNs max_ns) {
  return net_.now() + static_cast<TimeNs>(
                          rng_.below(static_cast<std::uint64_t>(std::max<TimeNs>(max_ns, 0)) + 1));
}

void Membership::schedule(TimeNs fault_end, std::function<void(std::size_t)> start) {
  start_ = std::move(start);
  if (joiner_) net_.at(within(fault_end / 2), [this] { join(); });
  if (leave_per_s_ > 0) repeat_leave(leave_per_s_ * static_cast<double>(net_.node_count()));
}

void Membership::repeat_leave(double per_s) {
  net_.at(net_.now() + exponential(rng_, per_s), [this, per_s] {
    if (!net_.faults_on()) return;
    leave();
    repeat_leave(per_s);
  });
}

// A running node removes one of the peers it lists; maybe that peer removes it too. Each
// side adds the other back at a moment of its own (meanwhile one side may list the other
// while it is refused).
void Membership::leave() {
  const std::size_t n = net_.node_count();
  const std::size_t a = rng_.below(n);
  if (!net_.node(a)) return;
  std::vector<std::size_t> listed;
  for (std::size_t b = 0; b < n; ++b) {
    if (b != a && oracle_.listed(a, b)) listed.push_back(b);
  }
  if (listed.empty()) return;
  const std::size_t b = listed[rng_.below(listed.size())];
  const bool both = rng_.unit() < both_sides_chance_;
  net_.count_fault();
  tracer_.trace({"fault leave ", net_.name(a), " ", net_.name(b), both ? " both sides" : ""});
  tracer_.chrome('i', a, "leave");
  remove(a, b);
  if (both) remove(b, a);
  net_.at(within(return_ns_), [this, a, b] { add(a, b); });
  if (both) net_.at(within(return_ns_), [this, a, b] { add(b, a); });
}

// The late joiner starts listing every node; each of them adds it within join_spread_ns.
void Membership::join() {
  if (joined_) return;
  joined_ = true;
  const std::size_t joiner = *joiner_;
  tracer_.trace({"member join ", net_.name(joiner)});
  tracer_.chrome('i', joiner, "join");
  for (std::size_t other = 0; other < net_.node_count(); ++other) {
    if (other != joiner) oracle_.set_listed(joiner, other, true);
  }
  start_(joiner);
  for (std::size_t other = 0; other < net_.node_count(); ++other) {
    if (other == joiner) continue;
    if (!net_.faults_on()) {
      add(other, joiner);
    } else {
      net_.at(within(join_spread_ns_), [this, other, joiner] { add(other, joiner); });
    }
  }
}

void Membership::remove(std::size_t a, std::size_t b) {
  if (!oracle_.listed(a, b)) return;
  oracle_.set_listed(a, b, false);
  tracer_.trace({"member remove ", net_.name(a), " ", net_.name(b)});
  Node* node = net_.node(a);
  if (node == nullptr) return;  // its next process starts without it
  const PeerId peer = net_.peer_of(a, b);
  oracle_.removing(a, peer);
  const Errc removed = node->remove_peer(net_.now(), peer);
  if (removed != Errc::ok) {
    return oracle_.fail(SimResult::Kind::safety,
                        "remove_peer of a listed peer failed: " + std::string(errc_name(removed)));
  }
  net_.refresh_peers(a);
}

void Membership::add(std::size_t a, std::size_t b) {
  if (oracle_.listed(a, b) || waiting_to_join(b)) return;
  oracle_.set_listed(a, b, true);
  tracer_.trace({"member add ", net_.name(a), " ", net_.name(b)});
  Node* node = net_.node(a);
  if (node == nullptr) return;  // its next process starts with it
  const AddedPeer added = node->add_peer(net_.now(), net_.name(b));
  if (added.error != Errc::ok) {
    return oracle_.fail(SimResult::Kind::safety, "add_peer of an unlisted peer failed: " +
                                                     std::string(errc_name(added.error)));
  }
  net_.refresh_peers(a);
}

void Membership::heal() {
  if (joiner_) join();
  for (std::size_t a = 0; a < net_.node_count(); ++a) {
    for (std::size_t b = 0; b < net_.node_count(); ++b) {
      if (a != b) add(a, b);
    }
  }
}

}  // namespace weft::sim
