// weft-chaos mesh: N real weft-node processes in a full mesh (every node a peer of every
// other) in a network namespace of their own, measured: time until every pair is up,
// resident memory, idle CPU (the keepalive's cost), request latency across the mesh, and a
// rolling restart of every node under load in which only calls to the restarting node may
// fail, each exactly once with disconnected (docs/CHAOS.md, "Scale").
#pragma once

#include <cstdint>
#include <string>

namespace weft::chaos {

struct MeshOptions {
  int nodes = 64;
  std::string dir;          // node logs and events, mesh.jsonl with the figures
  std::string node_binary;  // weft-node
  std::uint16_t port = 7100;
  std::int64_t idle_s = 10;            // how long idle CPU is measured
  int latency_calls = 1000;            // sequential calls per latency figure
  int restart_load_rate = 400;         // calls per second during the rolling restart
  std::int64_t up_limit_ms = 120'000;  // the mesh (and each restarted node) must be up by then
};

// Exit status as for run_chaos: 0 passed, 1 violations, 2 harness error, 77 skipped.
int run_mesh(const MeshOptions& options);

}  // namespace weft::chaos
