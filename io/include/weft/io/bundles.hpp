// Bundles on EventNode (weft/bundle.hpp): one object sent to many peers, with one
// completion per object carrying every destination's result. Included by
// weft/io/event_node.hpp.
//
// EventNode::open_bundle gives a Bundle; send() posts an object to every current
// destination. Its data is shared by the replicas (memory is referenced, never copied; a
// file source is read with pread by each replica from its own offset), or, with `reopen`,
// each replica gets a source of its own (a file opened again, say): a failure to reopen is
// that replica's error, and the object still completes once, after its last replica.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/io/objects.hpp"

namespace weft::io {

// How one replica ended (event::BundleObjectCompleted, with the peer's name).
struct ReplicaOutcome {
  std::string peer;
  Errc error = Errc::ok;
  std::string message;
};

// How one bundle object ended. `error` is ok when the object was posted and `replicas`
// holds one outcome per destination (in ascending peer id order); otherwise it says why
// nothing was posted (the core refused it on the loop, or the node stopped) and `replicas`
// is empty.
struct BundleObjectResult {
  std::uint64_t object = 0;  // its number in the bundle (0 when not posted)
  Errc error = Errc::ok;
  std::string message;
  std::vector<ReplicaOutcome> replicas;
  bool all_ok() const {
    if (error != Errc::ok) return false;
    for (const ReplicaOutcome& replica : replicas) {
      if (replica.error != Errc::ok) return false;
    }
    return true;
  }
};
using BundleObjectDone = std::function<void(const BundleObjectResult&)>;

// Gives replica `peer` a source of its own (loop thread), or nullopt with `why` set when
// it cannot (that replica then fails with remote_error and `why`). Any kind will do (a
// memory source too); data that does not match the object's size fails that replica.
using ReplicaSource =
    std::function<std::optional<ObjectSource>(std::string_view peer, std::string& why)>;

struct OutgoingBundleObject {
  ObjectHeader header;
  // The data every replica shares: none, memory or a file (a producer only with `reopen`;
  // send() refuses one without). With `reopen`, it only says the object's kind and size
  // (ObjectSource::file or producer with the size, or none), and each replica reads from
  // the source `reopen` gives it when it first asks for data.
  ObjectSource source = ObjectSource::none();
  ReplicaSource reopen;
  std::uint64_t key = 0;     // BundleOrder::by_key: objects with one key keep their order
  BundleObjectDone on_done;  // overrides the bundle's on_done for this object
};

struct BundleCallbacks {
  BundleObjectDone on_done;  // for objects sent without their own
  // Exactly once: ok after fin() once every object completed; canceled after stop(); the
  // open's error (invalid_argument, unknown_peer, queue_full); shutting_down when the node
  // stopped (every object completed first).
  std::function<void(Errc, std::string_view)> on_end;
};

struct BundleOptions {
  std::string endpoint;
  bool broadcast = true;  // every peer, following add/remove; else `destinations`
  std::vector<std::string> destinations = {};
  std::uint32_t multiplier = 1;
  BundleOrder order = BundleOrder::round_robin;
};

// A bundle this node opened. Thread-safe; copies share one bundle.
class Bundle {
 public:
  struct State;
  Bundle() = default;
  explicit Bundle(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Posts an object to every destination; its on_done (or the bundle's, taken now) runs
  // exactly once, on the loop thread (with shutting_down on the thread calling
  // EventNode::stop() when the loop never ran the send), and is dropped once it ran; the
  // bundle's callbacks are dropped once its on_end returned. queue_full without posting
  // when limits.max_objects_in_flight objects are not completed (or the command queue is
  // full); stream_closed after fin(), stop() or the end; shutting_down when the node
  // stopped; invalid_argument, without posting, for an ObjectSource::producer without
  // `reopen` (each replica asks for the data from its own offset: one producer cannot serve
  // them all, so each needs its own through `reopen`). Objects the core refuses on the loop
  // (no destination, a destination without room, bad arguments) complete with that error
  // and no replicas.
  Errc send(OutgoingBundleObject object);
  // Adds or removes a destination by peer name, on the loop; the outcome is not reported
  // (Node::bundle_add_destination / bundle_remove_destination give the rules).
  Errc add_destination(std::string_view peer);
  Errc remove_destination(std::string_view peer);
  // Ends the bundle after every object completed (on_end(ok)). not_found when the bundle
  // ended; stream_closed after fin() or stop() (also while another thread's stop() is
  // being handed to the loop, which that stop() may still see refused with queue_full);
  // queue_full (the command queue) leaves it open: try again; shutting_down when the node
  // is stopping or gone.
  Errc fin();
  // Aborts: every replica in flight ends with canceled, each object completes, then
  // on_end(canceled). Closes the bundle at once (send() and fin() then return
  // stream_closed). not_found when the bundle ended; queue_full (the command queue) leaves
  // the bundle as it was: try again; shutting_down when the node is stopping or gone.
  Errc stop();
  std::size_t in_flight() const;
  // From any thread: true once the bundle has ended (and for an empty handle). It turns true
  // as the end begins, before on_end runs on the loop thread: to act after on_end, act in it.
  bool ended() const;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace weft::io
