// The run's record: the trace every event goes into (hashed into trace_hash, and written as
// JSON lines with SimOptions::trace_path) and the Chrome trace-event file
// (SimOptions::chrome_trace_path), which opens in Perfetto or chrome://tracing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>

#include "weft/time.hpp"

namespace weft::sim {

class Tracer {
 public:
  // `clock` is the world's: every event is stamped with its value. The Chrome trace has a
  // track per node (0 .. nodes-1) and one for the cluster (nodes) under the process "nodes",
  // and a track per pair of nodes under the process "links".
  Tracer(const TimeNs& clock, std::size_t nodes, const std::string& trace_path,
         const std::string& chrome_path);
  ~Tracer();  // finish() if not done
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Records an event whose text is `parts` joined: the hash chains the previous hash (8
  // bytes, little-endian), the time and the text.
  void trace(std::initializer_list<std::string_view> parts);
  std::uint64_t events() const { return events_; }
  std::uint64_t hash() const { return hash_; }

  // A Chrome event: phase i (instant), b / e (an async span, matched by `id`); `track` is a
  // node index or cluster_track().
  void chrome(char phase, std::size_t track, const std::string& name, const std::string& id = {});
  // The same on the track of the pair of nodes {a, b}.
  void chrome_link(char phase, std::size_t a, std::size_t b, const std::string& name,
                   const std::string& id = {});
  std::size_t cluster_track() const { return nodes_; }
  // Ends and closes the trace files; what could not be written ("" when all was).
  std::string finish();

 private:
  static std::size_t pair_track(std::size_t a, std::size_t b, std::size_t nodes);
  void chrome_event(int pid, char phase, std::size_t track, const std::string& name,
                    const std::string& id);

  const TimeNs& now_;
  const std::size_t nodes_;
  std::uint64_t events_ = 0;
  std::uint64_t hash_ = 0;
  std::string scratch_;  // trace()'s buffer: tracing allocates nothing once warm
  std::ofstream trace_file_;
  std::ofstream chrome_file_;
  std::string trace_path_;
  std::string chrome_path_;
  bool finished_ = false;
};

}  // namespace weft::sim
