// Internal to weft_io: the states behind ObjectSource, ObjectStream and ObjectReader.
#pragma once

#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "closing_marks.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {

struct ObjectSource::State {
  enum class Kind : std::uint8_t { none, memory, file, producer };
  Kind kind = Kind::none;
  SharedBytes data;                   // memory
  int fd = -1;                        // file: a duplicate this state owns
  int duplicate_error = 0;            // file: errno of a failed duplication (fd -1 then)
  std::uint64_t offset = 0;           // file: where the object starts in it
  std::optional<std::uint64_t> size;  // file, producer (nullopt: unsized)
  Producer produce;                   // producer
  // The piece the core's full supply buffer refused (no_credit), kept for its next ask at
  // the same offset: a producer is asked for an offset again only after a reconnect, and a
  // file is not read twice. Loop thread only.
  struct HeldPiece {
    std::uint64_t offset = 0;
    SharedBytes data;
    bool last = false;
  };
  mutable std::optional<HeldPiece> held;
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (fd >= 0) ::close(fd);
  }
};

// A handle's on_done for the objects sent without their own. send() (any thread) takes a
// copy into each object, so the loop never needs it later; the handle's end releases it
// (release_callbacks). A send that finds it released is refused: the handle ended.
template <typename Done>
class DefaultDone {
 public:
  void set(Done done) {
    std::lock_guard lock(mutex_);
    done_ = std::move(done);
  }
  // Fills an empty `own` with the handle's on_done; false once the handle released it.
  bool resolve(Done& own) const {
    std::lock_guard lock(mutex_);
    if (released_) return false;
    if (!own) own = done_;
    return true;
  }
  Done release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    return std::exchange(done_, Done{});
  }

 private:
  mutable std::mutex mutex_;
  Done done_;
  bool released_ = false;
};

// The marks fin() and stop() set on a sending handle's `closing` (either closes it to
// send()).
inline constexpr unsigned kFinMark = 1;
inline constexpr unsigned kStopMark = 2;

struct ObjectStream::State {
  std::weak_ptr<EventNode::Impl> node;
  ObjectStreamCallbacks callbacks;  // on_end only: on_done is in default_done
  DefaultDone<ObjectDone> default_done;
  std::atomic<bool> ended{false};
  ClosingMarks closing;  // fin() or stop() was called: kFinMark, kStopMark
  std::atomic<std::size_t> in_flight{0};
  std::size_t limit = 0;  // limits.max_objects_in_flight
  // Loop thread only.
  std::optional<PeerId> peer;
  std::optional<ObjectStreamId> id;
  struct Pending {
    std::shared_ptr<const ObjectSource::State> source;
    ObjectDone on_done;
  };
  std::map<std::uint64_t, Pending> objects;  // posted, by object number
  // Objects the core refused on the loop while objects posted before them were in flight:
  // each is told after the completion of `after` (the last posted before it), so that
  // completions run in posting order.
  struct Refused {
    std::uint64_t after = 0;
    ObjectDone on_done;
    ObjectResult result;
  };
  std::deque<Refused> refused;
};

struct Bundle::State {
  std::weak_ptr<EventNode::Impl> node;
  BundleCallbacks callbacks;  // on_end only: on_done is in default_done
  DefaultDone<BundleObjectDone> default_done;
  std::atomic<bool> ended{false};
  ClosingMarks closing;  // fin() or stop() was called: kFinMark, kStopMark
  std::atomic<std::size_t> in_flight{0};
  std::size_t limit = 0;  // limits.max_objects_in_flight
  // Loop thread only.
  std::optional<BundleId> id;
  struct Pending {
    std::shared_ptr<const ObjectSource::State> source;
    ReplicaSource reopen;
    // The sources `reopen` gave, by replica (empty entries: it failed).
    std::map<PeerId, std::shared_ptr<const ObjectSource::State>> replica_sources;
    BundleObjectDone on_done;
  };
  std::map<std::uint64_t, Pending> objects;  // posted, by bundle object number
};

struct ObjectReader::State {
  std::weak_ptr<EventNode::Impl> node;
  PeerId peer = 0;
  ObjectStreamId stream;
  std::uint64_t object = 0;
  ObjectSink sink;
  std::atomic<bool> ended{false};
  // The thread running on_data now (none outside it): defer() is allowed on that thread only.
  std::atomic<std::thread::id> on_data_thread{};
  std::atomic<bool> deferred{false};
  // Loop thread only: the deferred chunk's size, and whether it ends the object.
  std::size_t deferred_bytes = 0;
  bool deferred_end = false;
  // Loop thread only: the handler returned the sink; before that, an end is kept here.
  bool sink_ready = false;
  Errc end_result = Errc::ok;
  std::string end_message;
};

}  // namespace weft::io
