// The oracle's rules for bundles, checked against the bundle books (bundle_books.hpp) on
// every bundle event and on every event of a replica at its destination:
//
// - the sender: a refused post gets no number and no event; an accepted one takes the next
//   number and goes to exactly the bundle's destinations at that moment; every posted
//   object completes exactly once (never a number never posted), with its tag, before the
//   bundle's one BundleEnded, with one result per destination it was posted to, in
//   ascending peer order; objects of one key (by_key) complete in posting order; each
//   replica's result agrees with what its destination's application saw: ok only if that
//   application finished the replica exactly once and no later object of its lane reached
//   it first, the refusal's code and text only if it refused it, the abort's text only for
//   a replica the sender aborted (never one its application took), unknown_handler only to
//   an unknown endpoint, canceled only after bundle_stop, destination_removed only after
//   bundle_remove_destination of that peer, peer_removed exactly when the node removed the
//   peer, peer_restarted only when the destination restarted since the sender started;
//   BundleWantData only for a replica in flight of a supplied object; BundleEnded once,
//   after fin (ok) or stop (canceled), with every object completed;
// - the destination: a replica arrives only at a node it was posted to, at the object
//   endpoint, at most once, and in order within its lane (the key's objects, or the
//   slot's); it is aborted only by a stop, a destination removal, a replica abort, a
//   restart, an expiry or a removed peer.
//
// Liveness after the quiet phase: every bundle whose node lives has ended.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "bundle_books.hpp"
#include "network.hpp"
#include "object_books.hpp"
#include "oracle.hpp"
#include "trace.hpp"

namespace weft::sim {

class BundleOracle {
 public:
  BundleOracle(Network& net, ObjectBooks& books, Oracle& oracle, Tracer& tracer)
      : net_(net), books_(books), oracle_(oracle), tracer_(tracer) {}

  void fail(const std::string& message);
  bool failed() const { return oracle_.failed(); }

  // ---- the sending side ----

  // Node `bundle.from` posted an object with `key` while its bundle had `destinations`
  // (ascending); `posted` is what the core answered. Records it; false when nothing was
  // posted (a refusal this workload can meet: queue_full, or unknown_peer with no
  // destination) or a rule broke (the run failed).
  bool posted(TrackedBundle& bundle, const PostedBundleObject& posted,
              const std::vector<PeerId>& destinations, std::uint64_t key);
  // The bundle an event of node `index` names; nullptr (and the run failed) if none.
  TrackedBundle* sender_of(std::size_t index, BundleId id, const char* event);
  // BundleObjectCompleted: the bundle, or nullptr when the event broke a rule.
  TrackedBundle* completed(std::size_t index, const event::BundleObjectCompleted& done);
  // BundleWantData: whether the replica it names is one in flight that takes supplied data.
  bool want_data(std::size_t index, const event::BundleWantData& want);
  void ended(std::size_t index, const event::BundleEnded& ended);

  // ---- a replica at its destination (called by the object oracle) ----

  // Replica of object `number` of bundle `serial` arrived at node `index`; false (and the
  // run failed) when it broke a rule.
  bool arrived(std::size_t index, const event::ObjectArrived& arrived, std::uint64_t serial,
               std::uint64_t number);
  // The receiving application's plan for the replica at node `index`.
  std::uint8_t action_of(std::uint64_t serial, std::uint64_t number, std::size_t index) const;
  // Its application took (read whole or discarded) or refused the replica.
  void finished(std::uint64_t serial, std::uint64_t number, std::size_t index, bool refused);
  // ObjectAborted while its application read it; `discarding`: it had been discarded.
  void aborted(std::size_t index, const event::ObjectAborted& aborted, std::uint64_t serial,
               std::uint64_t number, bool discarding);

 private:
  std::string name(std::uint64_t serial, std::uint64_t number) const {
    return "s" + std::to_string(serial) + "/o" + std::to_string(number);
  }
  ReplicaRecord* replica(std::uint64_t serial, std::uint64_t number, std::size_t index);
  bool check_replica(const TrackedBundle& bundle, std::uint64_t number, std::size_t node,
                     const ReplicaResult& result);
  bool removed_from_bundle(const TrackedBundle& bundle, PeerId peer, std::uint64_t number) const;
  PeerId destination_peer(const TrackedBundleObject& object, std::size_t node) const;

  Network& net_;
  ObjectBooks& books_;
  Oracle& oracle_;
  Tracer& tracer_;
};

// Whether the sender of bundle `serial` completed object `number`, or crashed: a replica
// its destination discarded ends only then.
bool bundle_object_settled(const ObjectBooks& books, std::uint64_t serial, std::uint64_t number);
// What keeps the bundles from being settled; nullopt when they are.
std::optional<std::string> bundle_liveness_problem(const Network& net, const ObjectBooks& books);

}  // namespace weft::sim
