// Realistic frames of every kind, shared by the codec tests, the PROTOCOL.md test vectors,
// the fuzz seed corpus and the benchmarks.
#pragma once

#include <string>
#include <vector>

#include "weft/object.hpp"
#include "weft/wire.hpp"

namespace weft::testing {

struct SampleFrame {
  std::string label;  // unique, file-name safe: "request", "response_error", ...
  OwnedFrame frame;   // without checksum
};

// At least one frame of every op, in op order; some ops have more than one variant.
std::vector<SampleFrame> sample_frames();

// The encoded object header the object_begin samples carry (PROTOCOL.md §6.3.1's vector).
std::vector<std::uint8_t> sample_object_header();

// A copy of `frame` with the checksum flag set to `checksum`.
OwnedFrame with_checksum(const OwnedFrame& frame, bool checksum);

// The encoded bytes of `frame`.
std::vector<std::uint8_t> encode_to_vector(const Frame& frame);

}  // namespace weft::testing
