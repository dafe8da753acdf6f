// The fault schedule of one harness run: drawn from a seed alone, so the same seed and the
// same options give the same faults at the same offsets (the replay command relies on it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft::chaos {

enum class FaultKind : std::uint8_t {
  partition,  // both directions between two groups dropped (iptables DROP)
  one_way,    // one direction dropped: packets from `from` to `to`
  loss,       // a share of packets between two groups dropped (iptables statistic)
  reset,      // TCP between two groups answered with resets (REJECT tcp-reset)
  bandwidth,  // lo limited to a rate (tc tbf), every pair at once
  pause,      // a node stopped (SIGSTOP) and resumed (SIGCONT): silent, sockets open
  crash,      // a node killed (SIGKILL) and started again when the fault ends
  half_open,  // a node cut off, killed and restarted at once; the cut heals at the end, so
              // its peers' old connections linger half-open next to its new listener
  leave,      // every other member removes a node (members file + SIGHUP), which runs on;
              // they add it back at the end (a new relationship)
  join,       // every other member removes a node, which is then stopped; at the end a new
              // process of it starts and every member adds it (a node joining the cluster)
};
inline constexpr int kFaultKinds = 10;
const char* fault_kind_name(FaultKind kind);

struct Fault {
  int id = 0;
  FaultKind kind = FaultKind::partition;
  std::int64_t start_ms = 0;  // from the start of the fault phase
  std::int64_t end_ms = 0;
  std::vector<std::string> from;  // a group (network faults) or the one node (process faults)
  std::vector<std::string> to;    // the other group (network faults only)
  int loss_percent = 0;           // loss
  int rate_mbit = 0;              // bandwidth

  // "partition {n1,n3} | {n2,load1}" and so on: what the log and the schedule print.
  std::string describe() const;
};

struct ScheduleOptions {
  std::uint64_t seed = 1;
  std::vector<std::string> nodes;    // may be paused, crashed, restarted
  std::vector<std::string> drivers;  // only network faults touch them
  std::int64_t duration_ms = 45'000;
};

// Faults one after another over duration_ms: every kind once first (in a seeded order, so
// a short run still exercises each kind), then kinds drawn at random until the time is
// used. Each lasts 1 to 5 s, with 0.3 to 1.5 s of calm between.
std::vector<Fault> make_schedule(const ScheduleOptions& options);

}  // namespace weft::chaos
