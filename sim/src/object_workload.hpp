// The object workload: the applications' object streams on every node. As senders, object
// streams between random pairs (a share of the workload's starts), each carrying objects of
// every kind (header-only, sized in memory, sized or unsized supplied on ObjectWantData,
// some large), posted up to the burst limit and more as they complete, some a few seconds
// apart (so idle streams close and reopen), then finished with a fin or stopped at a random
// moment; one stream in twenty-five goes to an endpoint nobody serves. As receivers, the
// application reads each object as its plan says: whole, in steps, half then discard,
// discard, refuse, half then refuse. Stepped runs drive streams and readers by hand.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "ledger.hpp"
#include "network.hpp"
#include "object_books.hpp"
#include "object_oracle.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/random.hpp"

namespace weft::sim {

class ObjectWorkload {
 public:
  ObjectWorkload(Rng rng, Network& net, ObjectBooks& books, Oracle& oracle, Tracer& tracer);

  // Every node's config: the burst limit. A node that starts registers the endpoint.
  static void configure(NodeConfig& config);
  void node_started(std::size_t index);

  // A random object stream from `from` to `to`.
  void start(std::size_t from, std::size_t to);

  // ---- stepped runs ----

  // Opens a stream whose objects are posted, finished and stopped only when told, and
  // whose objects the receiver reads only when told; its serial, or nothing when `from` is
  // down or the core refused.
  std::optional<std::uint64_t> open_manual(std::size_t from, std::size_t to, bool unknown_endpoint);
  // Posts one more object to stream `serial`; false when its sender is gone, the stream
  // was finished or stopped, or the core refused (queue_full at the burst limit).
  bool post(std::uint64_t serial, const ObjectPlan& plan);
  bool fin(std::uint64_t serial);
  bool stop(std::uint64_t serial);
  // The receiver of stream `serial` reads up to `max_bytes` of the object it is reading
  // (finishing it at its end), discards it, or refuses it. False when it reads none.
  bool read(std::uint64_t serial, std::size_t max_bytes);
  bool discard(std::uint64_t serial);
  bool refuse(std::uint64_t serial);
  // Every manual stream and reader goes on by itself: streams fin, readers read all.
  void finish_manual();

  // ---- events ----

  void completed(std::size_t index, const event::ObjectCompleted& done);
  void want_data(std::size_t index, const event::ObjectWantData& want);
  void stream_ended(std::size_t index, const event::ObjectStreamEnded& ended);
  void arrived(std::size_t index, const event::ObjectArrived& arrived);
  void readable(std::size_t index, const event::ObjectReadable& readable);
  void aborted(std::size_t index, const event::ObjectAborted& aborted);

 private:
  ObjectPlan draw_plan();
  std::optional<std::uint64_t> open(std::size_t from, std::size_t to, bool unknown_endpoint,
                                    bool manual);
  // Posts the stream's next planned objects while the burst allows; fins after the last.
  void post_planned(TrackedObjectStream& stream);
  bool post_one(TrackedObjectStream& stream);
  // The live sender's stream `serial`, or nullptr.
  TrackedObjectStream* live(std::uint64_t serial);
  // The object the receiver of stream `serial` reads now, or nullptr.
  ObjectReading* reading_of(std::uint64_t serial, ObjectReadKey* key);
  // The application reads what its plan says of the object being read at `key`, up to
  // `budget` bytes (manual reads), and returns whether it read anything.
  bool read_object(const ObjectReadKey& key, std::uint64_t budget);
  bool is_current(const ObjectReadKey& key, const ObjectReading& reading);
  bool discard_at(const ObjectReadKey& key);
  bool refuse_at(const ObjectReadKey& key);
  void end_reading(const ObjectReadKey& key, bool refused);
  void schedule_step(const ObjectReadKey& key);
  PeerConnection connection(const ObjectReadKey& key) {
    return net_.node(std::get<0>(key))->connection(std::get<2>(key));
  }

  Rng rng_;
  Network& net_;
  ObjectBooks& books_;
  Tracer& tracer_;
  ObjectOracle check_;
};

}  // namespace weft::sim
