// The test-vector notation of docs/PROTOCOL.md: a "frame:" line in the text form of
// weft/frame_text.hpp, then a "hex:" line whose bytes may continue on following lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft::testing {

struct TestVector {
  std::string frame_text;
  std::vector<std::uint8_t> bytes;
  std::size_t line = 0;  // 1-based line of the "frame:" line
};

// The whole content of the text file at `path` ("" when it cannot be read).
std::string read_text_file(const std::string& path);

// Every vector in `document`, in order. A malformed vector (no hex line, a bad hex pair)
// is returned with empty bytes so that the test reports it.
std::vector<TestVector> parse_vectors(std::string_view document);

// An error vector of PROTOCOL.md §10.2: an "after-auth:" line of hex (continued on the
// following non-empty lines), then an "error:" line.
struct ErrorVector {
  std::vector<std::uint8_t> after_handshake;
  std::string error;     // "error at byte N: name"
  std::size_t line = 0;  // 1-based line of the "after-auth:" line
};

// Every error vector in `document`, in order; a malformed one comes back with no bytes or no
// error, for the test to report.
// The markers may be changed: §10.3's vectors are a "stream:" and a "goaway:" line.
std::vector<ErrorVector> parse_error_vectors(std::string_view document,
                                             std::string_view bytes_marker = "after-auth:",
                                             std::string_view error_marker = "error:");

// Formats `bytes` as the doc writes them: "hex:   77 00 ..." with 16 bytes a line and
// continuation lines indented to line up.
std::string format_hex_lines(const std::vector<std::uint8_t>& bytes);

}  // namespace weft::testing
