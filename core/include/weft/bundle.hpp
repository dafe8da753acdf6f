// Bundles: one object sent to many peers over object streams, with one completion per
// object that carries every destination's result (Node::open_bundle and the bundle_*
// commands in weft/node.hpp; events in weft/events.hpp).
//
// A bundle holds `multiplier` object streams to each destination, all to one endpoint.
// Each object posted to the bundle becomes one replica per destination, on that
// destination's stream of the object's slot: slots go round-robin, or, in the ordered
// mode, follow the object's key, so objects with the same key reach each destination in
// posting order (FIFO per key). The bundle's completion of an object comes once, after its
// last replica ended, on every path (success, a refusal, a destination removed or
// restarted, a replica aborted, a stop), with one result per replica.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "weft/errors.hpp"
#include "weft/ids.hpp"

namespace weft {

// A bundle of this node; values are never reused within a node.
struct BundleId {
  std::uint64_t value = 0;
  auto operator<=>(const BundleId&) const = default;
};

// How a bundle picks the stream (of `multiplier` per destination) an object takes.
enum class BundleOrder : std::uint8_t {
  // The next slot in turn: the load spreads evenly, and objects to one destination may
  // arrive out of posting order when multiplier > 1 (each stream keeps its own order).
  round_robin,
  // The slot follows the key given to bundle_post: objects with the same key take the
  // same stream to every destination, so each destination receives them in posting order.
  by_key,
};

struct BundleConfig {
  // The receiving endpoint on every destination (1..255 printable ASCII bytes).
  std::string endpoint = {};
  // Every live peer of the node, now and later: peers added with Node::add_peer join the
  // bundle, removed ones leave it. When false, `destinations` lists the peers (multicast),
  // changed only by bundle_add_destination / bundle_remove_destination (and a peer's
  // removal from the node, which removes it from every bundle).
  bool broadcast = true;
  std::vector<PeerId> destinations = {};  // multicast only; each a live peer, no duplicates
  // Object streams per destination (1..NodeConfig::max_bundle_multiplier), opened lazily
  // when a slot is first used.
  std::uint32_t multiplier = 1;
  BundleOrder order = BundleOrder::round_robin;
};

struct OpenedBundle {
  Errc error = Errc::ok;
  BundleId id;
};

// The result of bundle_post: error is ok, `object` numbers the object within the bundle
// (1, 2, 3...) and `replicas` says how many destinations it went to; or error says why
// nothing was posted to any destination (no event follows).
struct PostedBundleObject {
  Errc error = Errc::ok;
  std::uint64_t object = 0;
  std::size_t replicas = 0;
};

// How one replica of a bundle object ended: exactly what the object stream to that
// destination reported (event::ObjectCompleted's result and message).
struct ReplicaResult {
  PeerId peer = 0;
  Errc result = Errc::ok;
  std::string message;
  bool operator==(const ReplicaResult&) const = default;
};

// Counters of one bundle (Node::bundle_stats).
struct BundleStats {
  std::size_t destinations = 0;       // current destinations
  std::size_t streams = 0;            // object streams the bundle holds (open or ending)
  std::uint64_t objects = 0;          // posted
  std::uint64_t completed_ok = 0;     // completed with every replica ok
  std::uint64_t completed_error = 0;  // completed with at least one replica failed
  std::uint64_t in_flight = 0;        // posted and not completed
  std::uint64_t replicas_ok = 0;
  std::uint64_t replicas_failed = 0;
};

}  // namespace weft
