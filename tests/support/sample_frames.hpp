// Realistic frames of every kind, shared by the codec tests, the PROTOCOL.md test vectors,
// the fuzz seed corpus and the benchmarks.
#pragma once

#include <string>
#include <string_view>
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

// The handshake PROTOCOL.md §4.2 shows as its example: node-a dials node-b, both holding
// the cluster key kExampleClusterKey (SharedKeyAuth), over a plain transport. The dialer's
// nonce is 0x00..0x1f, the acceptor's 0x80..0x9f; the frames have no checksum.
inline constexpr std::string_view kExampleClusterKey = "weft-example-cluster-key";
struct ExampleHandshake {
  OwnedFrame hello;
  OwnedFrame challenge;  // its payload: the acceptor's proof
  OwnedFrame auth;       // its payload: the dialer's proof
  std::vector<std::uint8_t> acceptor_transcript;
  std::vector<std::uint8_t> dialer_transcript;
};
ExampleHandshake example_handshake();

// The sample labelled `label` (a copy); an unknown label is a test bug (std::out_of_range).
OwnedFrame sample_frame(std::string_view label);

// The encoded object header the object_begin samples carry (PROTOCOL.md §6.3.1's vector).
std::vector<std::uint8_t> sample_object_header();

// A copy of `frame` with the checksum flag set to `checksum`.
OwnedFrame with_checksum(const OwnedFrame& frame, bool checksum);

// The encoded bytes of `frame`.
std::vector<std::uint8_t> encode_to_vector(const Frame& frame);

}  // namespace weft::testing
