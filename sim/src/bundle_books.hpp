// The bundle workload's books: every bundle a node opened, what each of its objects was
// posted to, and how far each replica got at its destination. A bundle takes a serial
// among the object streams' (object_books.hpp: its TrackedObjectStream, marked `bundle`,
// holds the objects' plans), so its objects are named "s<serial>/o<number>" like any
// object and the receiving side reads and checks them with the object workload's code;
// what differs is that an object has one replica per destination, each read by its own
// application, which may read, discard or refuse it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "weft/bundle.hpp"
#include "weft/errors.hpp"
#include "weft/time.hpp"

namespace weft::sim {

// The text a bundle aborts a replica with (bundle_abort: its data could not be read
// again), and the code. The receiver sees the same code and text in ObjectAborted.
inline constexpr Errc kReplicaAbort = Errc::remote_error;
std::string replica_abort_text(std::uint64_t serial, std::uint64_t number);
// The text the core gives a destination's replicas and streams when it is removed from
// the bundle (bundle_remove_destination), as its receivers see it.
inline constexpr std::string_view kDestinationRemovedText = "destination removed from the bundle";

// One object of a bundle, as posted.
struct TrackedBundleObject {
  std::uint64_t key = 0;
  // What the receivers see in order: the key's objects (BundleOrder::by_key) or the slot's
  // (round-robin: the slot of object n is (n - 1) % multiplier).
  std::uint64_t lane = 0;
  std::vector<PeerId> peers;       // its destinations, ascending (the sender's ids)
  std::vector<std::size_t> nodes;  // the same destinations as node indices
  std::vector<PeerId> aborted;     // replicas the sender aborted (bundle_abort accepted)
  TimeNs posted_at_ns = 0;         // its replicas may end at any time from then on
  bool completed = false;
  std::vector<Errc> results;  // per destination, once completed
};

struct TrackedBundle {
  std::uint64_t serial = 0;  // its object-stream serial (books.streams[serial].bundle)
  std::size_t from = 0;
  std::uint64_t from_epoch = 0;
  BundleId id;
  bool broadcast = true;
  bool by_key = false;
  std::uint32_t multiplier = 1;
  bool unknown_endpoint = false;
  bool manual = false;                       // stepped runs: posts, fin and stop only when told
  std::vector<TrackedBundleObject> objects;  // per number - 1
  std::vector<std::uint64_t> keys;           // planned keys, per number - 1 (automatic)
  std::vector<std::size_t> wanted;           // multicast: the destination nodes it wants
  bool ends_by_stop = false;                 // automatic: a stop ends it, not a fin
  // bundle_remove_destination calls that succeeded: (peer, objects posted by then).
  std::vector<std::pair<PeerId, std::uint64_t>> removals;
  std::uint64_t completed = 0;
  std::uint64_t completed_ok = 0;  // every replica ok
  std::uint64_t retries = 0;       // posts refused with nothing in flight, retried later
  bool fin = false;
  bool stopped = false;
  bool ended = false;
  bool dropped = false;  // its node crashed first: it never ends
  bool post_scheduled = false;
};

// One replica at its destination: the receiving application's plan for it and what it saw.
struct ReplicaRecord {
  std::uint8_t action = 0;  // a ReadAction (object_books.hpp), drawn per replica
  bool arrived = false;
  bool taken = false;
  bool refused = false;
  bool aborted = false;
  bool skipped = false;  // a later object of its lane arrived first
};

// (bundle serial, object number, destination node).
using ReplicaKey = std::tuple<std::uint64_t, std::uint64_t, std::size_t>;
// (bundle serial, destination node, lane).
using LaneKey = std::tuple<std::uint64_t, std::size_t, std::uint64_t>;

struct BundleBooks {
  std::vector<TrackedBundle> bundles;              // by bundle number (0, 1, ...)
  std::map<std::uint64_t, std::size_t> by_serial;  // object-stream serial -> number
  std::map<std::tuple<std::size_t, std::uint64_t, std::uint64_t>, std::size_t> by_sender;
  std::map<ReplicaKey, ReplicaRecord> replicas;
  std::map<LaneKey, std::uint64_t> delivered_through;  // the highest number that arrived

  TrackedBundle* sender(std::size_t index, std::uint64_t epoch, BundleId id) {
    const auto found = by_sender.find({index, epoch, id.value});
    return found == by_sender.end() ? nullptr : &bundles[found->second];
  }
  TrackedBundle* of_serial(std::uint64_t serial) {
    const auto found = by_serial.find(serial);
    return found == by_serial.end() ? nullptr : &bundles[found->second];
  }

  // Incarnation `epoch` of node `index` died: its bundles are dropped.
  void forget(std::size_t index, std::uint64_t epoch) {
    for (auto it = by_sender.begin(); it != by_sender.end();) {
      const bool dies = std::get<0>(it->first) == index && std::get<1>(it->first) == epoch;
      if (dies && !bundles[it->second].ended) bundles[it->second].dropped = true;
      it = dies ? by_sender.erase(it) : ++it;
    }
  }
};

}  // namespace weft::sim
