// A harness run as a Chrome / Perfetto trace (chrome://tracing, ui.perfetto.dev), in the
// shape weft-sim writes: a track per process with its connections and calls, and a track
// for the faults.
#pragma once

#include <string>

namespace weft::chaos {

// Reads the run in `dir` and writes the trace to `out_path`; false with `error` set when a
// file cannot be read or written.
bool write_timeline(const std::string& dir, const std::string& out_path, std::string& error);

}  // namespace weft::chaos
