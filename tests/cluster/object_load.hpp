// weft-load's object streams (docs/CHAOS.md, "Object streams"): an operation of kind
// "objects" opens an object stream to a node's "objects" endpoint, posts 1 to 8 objects of
// every kind (header-only; sized from memory; sized from a region of the driver's scratch
// file; unsized from a producer) and sizes (0 to a few MiB), then ends it with fin or stop.
// Every post, completion, fin, stop and the stream's end go to the history; the checker
// recomputes each object's bytes from those records and matches them with what the nodes
// say they delivered.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "load_common.hpp"
#include "weft/io/event_node.hpp"

namespace weft::chaos {

// An object stream is stopped when it has not ended this long after it started: objects
// have no deadline of their own (they wait for a peer that is down, for
// object_resume_timeout_ms, and move slowly under a bandwidth fault), and every operation
// must end within the driver's drain.
inline constexpr std::int64_t kObjectStreamTimeoutMs = 20'000;

class ObjectLoad {
 public:
  ObjectLoad(io::EventNode& node, std::string driver, History& history, InFlight& in_flight);
  ~ObjectLoad();
  ObjectLoad(const ObjectLoad&) = delete;
  ObjectLoad& operator=(const ObjectLoad&) = delete;

  // Whether the scratch file could be made (objects from a file need it).
  bool ok() const { return fd_ >= 0; }

  // Starts operation `op`: one object stream to `target`, its objects posted at once.
  void start(std::int64_t op, const std::string& target, std::mt19937_64& random);
  // Stops the streams whose planned stop or deadline is due. Main thread only, like start().
  void stop_due();
  // Planned stops not made yet (the drain waits for them).
  bool stops_pending() const;

 private:
  struct Timer {
    std::int64_t op;
    io::ObjectStream stream;
    bool deadline;  // else the planned stop of a stream that ends with stop
  };
  JsonLine record(std::int64_t op, std::string_view event) const;
  // Posts object `seq` of `op` (recorded first); false when the stream refused it.
  bool post(std::int64_t op, io::ObjectStream& stream, std::int64_t seq,
            const std::shared_ptr<std::int64_t>& completed, std::mt19937_64& random);

  io::EventNode& node_;
  std::string driver_;
  History& history_;
  InFlight& in_flight_;
  std::FILE* scratch_ = nullptr;  // unlinked at once; its data is object_file(driver)
  int fd_ = -1;
  std::vector<std::uint8_t> file_data_;  // the scratch file's bytes, for the digests
  std::multimap<Clock::time_point, Timer> timers_;
  std::size_t planned_stops_ = 0;
};

}  // namespace weft::chaos
