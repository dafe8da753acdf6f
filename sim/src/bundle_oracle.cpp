#include "bundle_oracle.hpp"

#include <algorithm>

namespace weft::sim {

std::string replica_abort_text(std::uint64_t serial, std::uint64_t number) {
  return "replica data of s" + std::to_string(serial) + "/o" + std::to_string(number) +
         " unreadable";
}

void BundleOracle::fail(const std::string& message) {
  oracle_.fail(SimResult::Kind::safety, message);
}

ReplicaRecord* BundleOracle::replica(std::uint64_t serial, std::uint64_t number,
                                     std::size_t index) {
  const auto found = books_.bundles.replicas.find({serial, number, index});
  return found == books_.bundles.replicas.end() ? nullptr : &found->second;
}

PeerId BundleOracle::destination_peer(const TrackedBundleObject& object, std::size_t node) const {
  const auto at = std::find(object.nodes.begin(), object.nodes.end(), node);
  return at == object.nodes.end() ? kNoPeer : object.peers[at - object.nodes.begin()];
}

bool BundleOracle::removed_from_bundle(const TrackedBundle& bundle, PeerId peer,
                                       std::uint64_t number) const {
  return std::any_of(bundle.removals.begin(), bundle.removals.end(), [&](const auto& removal) {
    return removal.first == peer && removal.second >= number;
  });
}

// ---- the sending side -----------------------------------------------------------------

bool BundleOracle::posted(TrackedBundle& bundle, const PostedBundleObject& posted,
                          const std::vector<PeerId>& destinations, std::uint64_t key) {
  const std::string what = "bundle s" + std::to_string(bundle.serial) + " post";
  if (posted.error == Errc::queue_full) return false;  // a destination's stream is full
  if (posted.error == Errc::unknown_peer) {
    if (!destinations.empty()) fail(what + " refused unknown_peer with destinations");
    return false;
  }
  if (posted.error != Errc::ok) {
    fail(what + " refused: " + std::string(errc_name(posted.error)));
    return false;
  }
  const std::uint64_t number = bundle.objects.size() + 1;
  if (posted.object != number) {
    fail(what + " numbered " + std::to_string(posted.object) + " where " + std::to_string(number) +
         " was next");
    return false;
  }
  if (destinations.empty() || posted.replicas != destinations.size()) {
    fail(what + " made " + std::to_string(posted.replicas) + " replicas for " +
         std::to_string(destinations.size()) + " destinations");
    return false;
  }
  TrackedBundleObject& object = bundle.objects.emplace_back();
  object.key = key;
  object.lane = bundle.by_key ? key : (number - 1) % bundle.multiplier;
  object.peers = destinations;
  object.posted_at_ns = net_.now();
  for (const PeerId peer : destinations) {
    const std::size_t node = net_.node_of(bundle.from, peer);
    object.nodes.push_back(node);
    books_.bundles.replicas[{bundle.serial, number, node}] = ReplicaRecord{};
  }
  books_.streams[bundle.serial].posted = number;
  return true;
}

TrackedBundle* BundleOracle::sender_of(std::size_t index, BundleId id, const char* event) {
  TrackedBundle* bundle = books_.bundles.sender(index, net_.epoch(index), id);
  if (bundle == nullptr) fail(std::string(event) + " for a bundle never opened");
  return bundle;
}

TrackedBundle* BundleOracle::completed(std::size_t index,
                                       const event::BundleObjectCompleted& done) {
  TrackedBundle* bundle = sender_of(index, done.bundle, "BundleObjectCompleted");
  if (bundle == nullptr) return nullptr;
  const std::string object_name = name(bundle->serial, done.object);
  std::string line = "bundle completed " + object_name;
  for (const ReplicaResult& replica : done.replicas) {
    line += " " + net_.name(net_.node_of(index, replica.peer)) + ":" +
            std::string(errc_name(replica.result));
  }
  tracer_.trace({line});
  const auto broken = [&](const std::string& why) {
    fail("bundle object " + object_name + " completed: " + why);
    return nullptr;
  };
  if (bundle->ended) return broken("after its bundle ended");
  if (done.object == 0 || done.object > bundle->objects.size()) return broken("never posted");
  TrackedBundleObject& object = bundle->objects[done.object - 1];
  if (object.completed) return broken("twice");
  if (done.tag != object_tag(bundle->serial, done.object))
    return broken("with another tag than it was posted with");
  if (done.replicas.size() != object.peers.size()) {
    return broken(std::to_string(done.replicas.size()) + " results for " +
                  std::to_string(object.peers.size()) + " destinations");
  }
  for (std::size_t i = 0; i < object.peers.size(); ++i) {
    if (done.replicas[i].peer != object.peers[i])
      return broken("results not for the destinations it was posted to, in peer order");
  }
  if (bundle->by_key) {  // objects of one key complete in posting order
    for (std::uint64_t earlier = done.object - 1; earlier > 0; --earlier) {
      const TrackedBundleObject& before = bundle->objects[earlier - 1];
      if (before.key != object.key) continue;
      if (!before.completed)
        return broken("before " + name(bundle->serial, earlier) + ", same key");
      break;
    }
  }
  object.completed = true;
  ++bundle->completed;
  for (std::size_t i = 0; i < object.peers.size(); ++i) {
    object.results.push_back(done.replicas[i].result);
    if (!check_replica(*bundle, done.object, object.nodes[i], done.replicas[i])) return nullptr;
  }
  if (done.all_ok()) {
    ++bundle->completed_ok;
    ++books_.streams[bundle->serial].completed_ok;
  }
  return bundle;
}

// What one replica's result may say, given what its destination's application saw.
bool BundleOracle::check_replica(const TrackedBundle& bundle, std::uint64_t number,
                                 std::size_t node, const ReplicaResult& result) {
  const TrackedBundleObject& object = bundle.objects[number - 1];
  const ReplicaRecord& fate = *replica(bundle.serial, number, node);
  const auto broken = [&](const std::string& why) {
    fail("bundle object " + name(bundle.serial, number) + " replica to " + net_.name(node) + " " +
         std::string(errc_name(result.result)) + ": " + why);
    return false;
  };
  const Errc code = result.result;
  const bool aborted_here =
      std::find(object.aborted.begin(), object.aborted.end(), result.peer) != object.aborted.end();
  const bool abort_text = result.message == replica_abort_text(bundle.serial, number);
  // A replica its application took may still fail where its fate at the receiver is unknown
  // to the sender (the connection, the receiver or the stream went away first), and with
  // the sender's own abort (the receiver's ok never came back before the stream gave up,
  // or the abort's end had yet to reach a replica the application discarded); a discarded
  // replica the abort reached counts as aborted.
  if (code != Errc::ok && fate.taken && !fate.aborted && code != Errc::canceled &&
      code != Errc::disconnected && code != Errc::object_state_lost &&
      code != Errc::peer_restarted && code != Errc::peer_removed &&
      code != Errc::destination_removed && !(code == kReplicaAbort && abort_text && aborted_here)) {
    return broken("its receiving application took it");
  }
  if (code == Errc::peer_removed && !oracle_.removed(bundle.from, result.peer))
    return broken("its destination was never removed from the node");
  switch (code) {
    case Errc::ok:
      if (bundle.unknown_endpoint) return broken("sent to an unknown endpoint");
      if (aborted_here) return broken("its sender aborted it");
      if (!fate.arrived) return broken("it never reached the receiving application");
      if (fate.skipped) return broken("a later object of its lane reached the receiver first");
      if (fate.refused) return broken("its receiving application refused it");
      if (fate.aborted) return broken("it was aborted while its application read it");
      if (!fate.taken) return broken("its receiving application never finished it");
      return true;
    case kRefusal:  // the receiver's refusal or the sender's abort: the text says which
      if (result.message == refusal_text(bundle.serial, number)) {
        if (!fate.refused) return broken("its receiving application did not refuse it");
        return true;
      }
      if (abort_text) {
        if (!aborted_here) return broken("its sender never aborted it");
        return true;
      }
      return broken("a text neither the application's nor the abort's: " + result.message);
    case Errc::unknown_handler:
      if (!bundle.unknown_endpoint) return broken("its endpoint exists");
      return true;
    case Errc::canceled:
      if (!bundle.stopped) return broken("its bundle was never stopped");
      return true;
    case Errc::destination_removed:
      if (!removed_from_bundle(bundle, result.peer, number))
        return broken("its destination was not removed from the bundle after the post");
      return true;
    case Errc::peer_restarted:
      if (net_.epoch(node) == books_.epoch_at_start[bundle.from][node] &&
          !books_.ghost_adopted.contains({bundle.from, node}))
        return broken("the destination never restarted since the sender started");
      return true;
    case Errc::disconnected:
    case Errc::object_state_lost:
      // Judged when the last replica ends: this one may have ended any time since the post.
      if (!oracle_.object_loss_explained(bundle.from, node, net_.now() - object.posted_at_ns))
        return broken("its connection stayed up and no fault touched the pair");
      return true;
    case Errc::busy:
    case Errc::peer_removed:  // checked above
      return true;
    default:
      return broken("no path of this workload ends a replica so");
  }
}

bool BundleOracle::want_data(std::size_t index, const event::BundleWantData& want) {
  TrackedBundle* bundle = sender_of(index, want.bundle, "BundleWantData");
  if (bundle == nullptr) return false;
  const std::string object_name = name(bundle->serial, want.object);
  if (want.object == 0 || want.object > bundle->objects.size()) {
    fail("BundleWantData for " + object_name + ", never posted");
    return false;
  }
  const TrackedBundleObject& object = bundle->objects[want.object - 1];
  if (object.completed ||
      std::find(object.peers.begin(), object.peers.end(), want.peer) == object.peers.end()) {
    fail("BundleWantData for " + object_name + " to a replica not in flight");
    return false;
  }
  const ObjectPlan& plan = books_.streams[bundle->serial].plans[want.object - 1];
  if (plan.kind == ObjectKind::header_only || plan.kind == ObjectKind::in_memory ||
      want.offset > plan.size) {
    fail("BundleWantData for data the core holds or that does not exist: " + object_name + " " +
         object_kind_name(plan.kind) + " of " + std::to_string(plan.size) + " B, from " +
         std::to_string(want.offset));
    return false;
  }
  return true;
}

void BundleOracle::ended(std::size_t index, const event::BundleEnded& ended) {
  TrackedBundle* bundle = sender_of(index, ended.bundle, "BundleEnded");
  if (bundle == nullptr) return;
  const std::string what = "bundle s" + std::to_string(bundle->serial);
  tracer_.trace({"bundle ended s", std::to_string(bundle->serial), " ", errc_name(ended.result)});
  if (bundle->ended) return fail(what + " ended twice");
  bundle->ended = true;
  books_.streams[bundle->serial].ended = true;
  if (bundle->completed != bundle->objects.size()) {
    return fail(what + " ended with " + std::to_string(bundle->objects.size() - bundle->completed) +
                " objects not completed");
  }
  if (net_.node(index)->bundle_stats(ended.bundle))
    return fail(what + " still known to its node after it ended");
  const Errc expected = bundle->stopped ? Errc::canceled : Errc::ok;
  if (!bundle->fin && !bundle->stopped) return fail(what + " ended without a fin or a stop");
  if (ended.result != expected)
    return fail(what + " ended " + std::string(errc_name(ended.result)) + " where " +
                std::string(errc_name(expected)) + " was due");
}

// ---- a replica at its destination ---------------------------------------------------

bool BundleOracle::arrived(std::size_t index, const event::ObjectArrived& arrived,
                           std::uint64_t serial, std::uint64_t number) {
  TrackedBundle& bundle = *books_.bundles.of_serial(serial);
  const TrackedBundleObject& object = bundle.objects[number - 1];
  const std::string object_name = name(serial, number);
  const auto broken = [&](const std::string& why) {
    fail("bundle object " + object_name + " arrived at " + net_.name(index) + ": " + why);
    return false;
  };
  if (bundle.unknown_endpoint || arrived.endpoint != kObjectEndpoint)
    return broken("endpoint " + arrived.endpoint);
  if (net_.node_of(index, arrived.peer) != bundle.from) return broken("from another node");
  ReplicaRecord* fate = replica(serial, number, index);
  if (fate == nullptr) return broken("not one of its destinations");
  if (fate->arrived) return broken("delivered twice");
  // In order within its lane (FIFO per key, or per slot), at most once, across reconnects
  // and restarts of the receiver; a gap only where that replica fails.
  std::uint64_t& through = books_.bundles.delivered_through[{serial, index, object.lane}];
  if (number <= through)
    return broken("after " + name(serial, through) + " of its lane (order or a duplicate)");
  for (std::uint64_t gap = through + 1; gap < number; ++gap) {
    const TrackedBundleObject& earlier = bundle.objects[gap - 1];
    ReplicaRecord* skipped = earlier.lane == object.lane ? replica(serial, gap, index) : nullptr;
    if (skipped == nullptr) continue;
    skipped->skipped = true;
    const auto at = std::find(earlier.nodes.begin(), earlier.nodes.end(), index);
    if (earlier.completed && earlier.results[at - earlier.nodes.begin()] == Errc::ok)
      return broken(name(serial, gap) + " of its lane completed ok here but never arrived");
  }
  through = number;
  fate->arrived = true;
  return true;
}

std::uint8_t BundleOracle::action_of(std::uint64_t serial, std::uint64_t number,
                                     std::size_t index) const {
  return books_.bundles.replicas.at({serial, number, index}).action;
}

void BundleOracle::finished(std::uint64_t serial, std::uint64_t number, std::size_t index,
                            bool refused) {
  ReplicaRecord& fate = *replica(serial, number, index);
  if (fate.taken || fate.refused || fate.aborted) {
    return fail("bundle object " + name(serial, number) + " ended twice for its application at " +
                net_.name(index));
  }
  (refused ? fate.refused : fate.taken) = true;
}

void BundleOracle::aborted(std::size_t index, const event::ObjectAborted& aborted,
                           std::uint64_t serial, std::uint64_t number, bool discarding) {
  const TrackedBundle& bundle = *books_.bundles.of_serial(serial);
  const TrackedBundleObject& object = bundle.objects[number - 1];
  ReplicaRecord& fate = *replica(serial, number, index);
  const std::string what = "bundle object " + name(serial, number) + " aborted " +
                           std::string(errc_name(aborted.result)) + " at " + net_.name(index);
  if (fate.refused || fate.aborted || (fate.taken && !discarding))
    return fail(what + " after its application finished it");
  fate.aborted = true;
  const PeerId peer = destination_peer(object, index);
  switch (aborted.result) {
    case Errc::canceled:
      if (!bundle.stopped) fail(what + ", its bundle not stopped");
      return;
    case kReplicaAbort:
      if (aborted.message == kDestinationRemovedText) {
        if (!removed_from_bundle(bundle, peer, number))
          fail(what + ": its destination was not removed from the bundle");
      } else if (aborted.message == replica_abort_text(serial, number)) {
        if (std::find(object.aborted.begin(), object.aborted.end(), peer) == object.aborted.end())
          fail(what + ": its sender did not abort it");
      } else {
        fail(what + ": " + aborted.message);
      }
      return;
    case Errc::peer_restarted:
      if (net_.epoch(bundle.from) == bundle.from_epoch &&
          !books_.ghost_adopted.contains({index, bundle.from}))
        fail(what + ", its sender never restarted");
      return;
    // The sender did not come back in time, gave up on its open's answer, or started over.
    case Errc::disconnected:
      if (!oracle_.connection_loss_explained(index, bundle.from, oracle_.resume_wait_ns(index),
                                             oracle_.resume_wait_ns(index)))
        fail(what + ", its connection up and untouched");
      return;
    case Errc::peer_removed:
      if (!oracle_.removed(index, aborted.peer)) fail(what + ", its sender not removed");
      return;
    default:
      return fail(what);
  }
}

bool bundle_object_settled(const ObjectBooks& books, std::uint64_t serial, std::uint64_t number) {
  const TrackedBundle& bundle = books.bundles.bundles[books.bundles.by_serial.at(serial)];
  return bundle.dropped || bundle.objects[number - 1].completed;
}

// ---- liveness -------------------------------------------------------------------------

std::optional<std::string> bundle_liveness_problem(const Network& net, const ObjectBooks& books) {
  for (const TrackedBundle& bundle : books.bundles.bundles) {
    if (bundle.dropped || bundle.ended) continue;
    return "bundle s" + std::to_string(bundle.serial) + " of " + net.name(bundle.from) +
           " never ended (" + std::to_string(bundle.completed) + " of " +
           std::to_string(bundle.objects.size()) + " posted objects completed" +
           (bundle.fin ? ", finished" : "") + (bundle.stopped ? ", stopped" : "") + ")";
  }
  return std::nullopt;
}

}  // namespace weft::sim
