// A harness run as a Chrome / Perfetto trace (chrome://tracing, ui.perfetto.dev), in the
// shape weft-sim writes: process "nodes" with a track per process (connections, calls,
// signals, the faults that touched it) and a "cluster" track with every fault; process
// "links" with a track per pair and its connections.
#pragma once

#include <string>

namespace weft::chaos {

// Reads the run in `dir` and writes the trace to `out_path`; false with `error` set when a
// file cannot be read or written.
bool write_timeline(const std::string& dir, const std::string& out_path, std::string& error);

}  // namespace weft::chaos
