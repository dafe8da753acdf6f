// The oracle's rules for object streams, checked against the object books (object_books.hpp)
// on every object event, from both sides of each stream:
//
// - the sender: every posted object completes exactly once, in posting order, with the tag
//   it was posted with, before its stream's one end; ok only for an object the receiving
//   application took (read to its end, or discarded) and that arrived once; the refusal's
//   code and text only for an object the application refused; unknown_handler only for a
//   stream to an unknown endpoint; canceled only after a stop; peer_restarted only when the
//   receiver crashed since the sender started; never invalid_argument or bad_payload (the
//   workload supplies exact data and valid headers); no more objects in flight than the
//   burst limit, and queue_full exactly at it; the core's count of objects in flight is the
//   application's;
// - the receiver: objects of a stream arrive in posting order, each at most once across
//   reconnects (a gap only where the sender's completion says failure), one at a time, with
//   exactly the header posted; the data read continues where the last read stopped, is
//   exactly the data posted and ends at its size; an object ends for its application once
//   (taken, refused or aborted); aborted only by a stop, the sender's restart or an expiry;
//   the objects it holds stay within the window it grants.
//
// Liveness after the quiet phase: every stream whose sender lives has ended, nothing is
// being read, and no node holds object streams either way.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "bundle_oracle.hpp"
#include "ledger.hpp"
#include "network.hpp"
#include "object_books.hpp"
#include "oracle.hpp"
#include "trace.hpp"

namespace weft::sim {

class ObjectOracle {
 public:
  ObjectOracle(Network& net, ObjectBooks& books, Oracle& oracle, Tracer& tracer)
      : net_(net),
        books_(books),
        oracle_(oracle),
        tracer_(tracer),
        bundles_(net, books, oracle, tracer) {}

  bool failed() const { return oracle_.failed(); }
  void fail(const std::string& message);

  // ---- the sending side ----

  // Node `index` posted the next object of `stream`; `posted` is what the core answered.
  // Counts it; false when nothing was posted (queue_full, checked to be at the limit).
  bool posted(TrackedObjectStream& stream, const PostedObject& posted);
  // The stream an event of the sending side names; nullptr (and the run failed) if none.
  TrackedObjectStream* sender_of(std::size_t index, PeerId peer, ObjectStreamId id,
                                 const char* event);
  // ObjectCompleted at the sender: nullptr when it broke a rule (the run failed).
  TrackedObjectStream* completed(std::size_t index, const event::ObjectCompleted& done);
  void stream_ended(std::size_t index, const event::ObjectStreamEnded& ended);

  // ---- the receiving side ----

  // ObjectArrived at node `index`: its record of the object being read, or nullptr when it
  // broke a rule.
  ObjectReading* arrived(std::size_t index, const event::ObjectArrived& arrived);
  // The application read `read` of the object it reads: checks where it starts, its bytes
  // and its end; false when it broke a rule.
  bool data_read(const ObjectReading& reading, const ObjectRead& read);
  // The application finished the object (took it, or refused it).
  void finished(const ObjectReading& reading, bool refused);
  // ObjectAborted at node `index`: the object being read ended before its application did.
  void aborted(std::size_t index, const event::ObjectAborted& aborted);
  // The receiver's stream `id` holds no more objects than the window it grants.
  void check_window(std::size_t index, PeerId peer, ObjectStreamId id);

  // What the object is and what its application does with it (a bundle's replicas each
  // have their own action).
  ObjectPlan plan_of(const ObjectReading& reading) const {
    ObjectPlan plan = books_.streams[reading.serial].plans[reading.number - 1];
    if (books_.streams[reading.serial].bundle)
      plan.action =
          static_cast<ReadAction>(bundles_.action_of(reading.serial, reading.number, reading.node));
    return plan;
  }

 private:
  std::string object_name(std::uint64_t serial, std::uint64_t number) const {
    return "s" + std::to_string(serial) + "/o" + std::to_string(number);
  }
  bool in_order(TrackedObjectStream& stream, std::uint64_t number);
  bool check_result(const TrackedObjectStream& stream, const ObjectFate& fate,
                    const event::ObjectCompleted& done);

  Network& net_;
  ObjectBooks& books_;
  Oracle& oracle_;
  Tracer& tracer_;
  BundleOracle bundles_;  // a bundle's replicas at their destinations
};

// What keeps the object streams from being settled; nullopt when they are.
std::optional<std::string> object_liveness_problem(const Network& net, const ObjectBooks& books);

}  // namespace weft::sim
