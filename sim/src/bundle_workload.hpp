// The bundle workload: bundles on random nodes (a share of the object starts). Each is a
// broadcast (every live peer, following the node's membership) or a multicast to a random
// set of the peers its node lists (added back when its node adds a removed one again),
// with 1..4 streams per destination, round-robin or by key (three keys), one in thirty to
// an endpoint nobody serves. It posts 1..6 objects of every kind (smaller than the object
// streams': every byte goes to each destination), more as earlier ones complete when a
// destination is full; data asked for is supplied per replica, and one ask in ten aborts
// that replica instead (bundle_abort). One bundle in four has a destination removed or
// added at a random moment; one in six is stopped at a random moment, the others finish
// after their last post. The replicas arrive at the object endpoint of each destination,
// whose application (the object workload's receiving side) reads, discards or refuses each
// replica as drawn for it. Stepped runs drive bundles by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "bundle_oracle.hpp"
#include "network.hpp"
#include "object_books.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/random.hpp"

namespace weft::sim {

class BundleWorkload {
 public:
  BundleWorkload(Rng rng, Network& net, ObjectBooks& books, Oracle& oracle, Tracer& tracer);

  // A random bundle on node `from`.
  void start(std::size_t from);

  // ---- stepped runs (bundles by their number: 0, 1, ... in opening order) ----

  // Opens a bundle on `from` to every peer (broadcast) or to `destinations` (nodes); its
  // number, or nothing when `from` is down, lists none of them, or the core refused.
  // Its objects are posted, and it is finished or stopped, only when told; receivers read
  // as drawn for each replica.
  std::optional<std::size_t> open_manual(std::size_t from, bool broadcast,
                                         const std::vector<std::size_t>& destinations,
                                         std::uint32_t multiplier, bool by_key);
  // Posts one object (key used by_key); false when the bundle is gone, finished or
  // stopped, or the core refused (a full destination, no destination).
  bool post(std::size_t bundle, const ObjectPlan& plan, std::uint64_t key);
  bool fin(std::size_t bundle);
  bool stop(std::size_t bundle);
  // Adds or removes destination `node`; false when the bundle is gone or the core refused
  // (not a live peer, already one, not one, finished).
  bool add_destination(std::size_t bundle, std::size_t node);
  bool remove_destination(std::size_t bundle, std::size_t node);
  // Every manual bundle goes on by itself: it finishes.
  void finish_manual();

  // ---- events ----

  void want_data(std::size_t index, const event::BundleWantData& want);
  void completed(std::size_t index, const event::BundleObjectCompleted& done);
  void ended(std::size_t index, const event::BundleEnded& ended) { check_.ended(index, ended); }

 private:
  struct Opening {
    std::size_t from = 0;
    bool broadcast = true;
    std::vector<std::size_t> destinations;
    std::uint32_t multiplier = 1;
    bool by_key = false;
    bool unknown_endpoint = false;
    bool manual = false;
  };
  std::optional<std::size_t> open(const Opening& opening);
  ObjectPlan draw_plan();
  // The live node's bundle `number`, or nullptr.
  TrackedBundle* live(std::size_t number);
  bool post_one(TrackedBundle& bundle, const ObjectPlan& plan, std::uint64_t key);
  // Posts the bundle's planned objects while its destinations have room; fins after the
  // last (unless a stop is coming); retries later when refused with nothing in flight.
  void post_planned(std::size_t number);
  // A multicast bundle takes back the destinations it wanted that its node lists again.
  void follow_membership(TrackedBundle& bundle);
  void change_destinations(std::size_t number);

  Rng rng_;
  Network& net_;
  ObjectBooks& books_;
  Tracer& tracer_;
  BundleOracle check_;
};

}  // namespace weft::sim
