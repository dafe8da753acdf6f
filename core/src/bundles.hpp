// The bundles of a node (weft/bundle.hpp): object streams to many destinations, built on
// the node's own object-stream commands, with the events of those streams turned into
// bundle events. Internal to core/.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "fifo_queue.hpp"
#include "weft/bundle.hpp"
#include "weft/events.hpp"
#include "weft/object.hpp"
#include "weft/time.hpp"

namespace weft {
class Node;
}

namespace weft::detail {

class Bundles {
 public:
  // `node` owns this object; every stream command goes through its public API.
  explicit Bundles(Node& node) : node_(node) {}
  Bundles(const Bundles&) = delete;
  Bundles& operator=(const Bundles&) = delete;

  // ---- commands (contracts in weft/node.hpp) ----
  OpenedBundle open(const BundleConfig& config);
  PostedBundleObject post(TimeNs now_ns, BundleId id, ObjectArgs args, std::uint64_t key);
  Errc supply(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer, std::uint64_t offset,
              const Payload& data, bool last);
  Errc abort_replica(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer, Errc code,
                     std::string_view message);
  Errc add_destination(BundleId id, PeerId peer);
  Errc remove_destination(TimeNs now_ns, BundleId id, PeerId peer);
  Errc fin(TimeNs now_ns, BundleId id);
  Errc stop(TimeNs now_ns, BundleId id, Errc code, std::string_view message);
  std::optional<BundleStats> stats(BundleId id) const;
  // The open bundles' ids and endpoints, in id order (Node::metrics).
  std::vector<std::pair<BundleId, std::string>> open_bundles() const {
    std::vector<std::pair<BundleId, std::string>> open;
    for (const auto& [value, bundle] : bundles_)
      open.emplace_back(BundleId{value}, bundle.config.endpoint);
    return open;
  }
  std::optional<std::vector<PeerId>> destinations(BundleId id) const;

  // ---- membership (Node::add_peer / remove_peer) ----
  // Broadcast bundles take the new peer as a destination.
  void on_peer_added(PeerId peer);
  // Every bundle drops the peer (its streams end on their own, with peer_removed).
  void on_peer_removed(PeerId peer);

  // ---- events ----
  // Whether `event` belongs to one of the bundles' object streams (the node then hands it
  // to on_stream_event instead of the application). Cheap when there are no bundles.
  bool owns(const Event& event) const {
    return !stream_owners_.empty() && owns_stream_event(event);
  }
  void on_stream_event(Event&& event);
  // The next bundle event for the application.
  std::optional<Event> take_event() { return events_.take_front(); }
  bool has_events() const { return !events_.empty(); }
  // Whether an event may be the bundles' to handle or give (false with no bundle streams
  // and no bundle events: the node's events pass straight through).
  bool active() const { return !events_.empty() || !stream_owners_.empty(); }

  // Asserts the bookkeeping's invariants (builds with invariant checks).
  void check_invariants() const;

 private:
  // One replica of a bundle object: where it went and whether it ended.
  struct Replica {
    PeerId peer = 0;
    ObjectStreamId stream;
    std::uint64_t stream_object = 0;  // its number on that stream
    std::optional<ReplicaResult> result;
  };
  struct PendingObject {
    std::uint64_t tag = 0;
    std::vector<Replica> replicas;  // ascending peer
    std::size_t unfinished = 0;
  };
  struct Destination {
    std::vector<ObjectStreamId> slots;  // value 0: not open
  };
  struct Bundle {
    BundleId id;
    BundleConfig config;
    std::map<PeerId, Destination> destinations;
    std::map<std::uint64_t, PendingObject> pending;  // by bundle object number
    std::uint64_t posted = 0;
    std::uint64_t next_slot = 0;  // round-robin
    std::size_t streams = 0;      // streams owned (open or ending)
    bool fin = false;
    std::optional<std::pair<Errc, std::string>> stopped;
    BundleStats counters;
  };
  // What the bundles know of one of their streams.
  struct StreamOwner {
    BundleId bundle;
    PeerId peer = 0;
    // (stream object, bundle object) of replicas not yet completed, in posting order: the
    // stream completes its objects in that order.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> posted;
  };

  bool owns_stream_event(const Event& event) const;
  Bundle* find(BundleId id);
  const Bundle* find(BundleId id) const;
  bool peer_live(PeerId peer) const;
  std::size_t slot_for(const Bundle& bundle, std::uint64_t key) const;
  // The open stream of `slot` to `peer`, opened now when needed (or when the one held
  // ended without the bundle having seen it yet). An error when none can be opened.
  Errc ensure_stream(TimeNs now_ns, Bundle& bundle, PeerId peer, std::size_t slot);
  Errc check_room(TimeNs now_ns, Bundle& bundle, std::size_t slot, const ObjectArgs& args);
  Replica* find_replica(BundleId id, std::uint64_t object, PeerId peer);
  void end_destination(TimeNs now_ns, Bundle& bundle, PeerId peer, Errc code,
                       std::string_view message);
  void on_completed(event::ObjectCompleted&& completed);
  void on_want_data(const event::ObjectWantData& want);
  void on_stream_ended(const event::ObjectStreamEnded& ended);
  // Emits BundleEnded and forgets the bundle once it is finished or stopped and holds
  // nothing more.
  void end_if_done(Bundle& bundle);

  Node& node_;
  std::map<std::uint64_t, Bundle> bundles_;
  // Lookups only: its iteration order never reaches output.
  std::unordered_map<std::uint64_t, StreamOwner> stream_owners_;
  std::uint64_t next_bundle_ = 1;
  FifoQueue<Event> events_;
};

}  // namespace weft::detail
