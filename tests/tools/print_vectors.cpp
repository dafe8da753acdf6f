// Prints the test-vector section of docs/PROTOCOL.md from the sample frames: every frame
// kind without and with checksum, in the notation the vector test reads back.
#include <cstdio>

#include "sample_frames.hpp"
#include "vector_text.hpp"
#include "weft/frame_text.hpp"

int main() {
  using namespace weft;
  for (const auto& sample : testing::sample_frames()) {
    std::printf("#### %s\n\n```text\n", sample.label.c_str());
    for (bool checksum : {false, true}) {
      const OwnedFrame owned = testing::with_checksum(sample.frame, checksum);
      const auto bytes = testing::encode_to_vector(owned.view());
      if (checksum) std::printf("\n");
      std::printf("frame: %s\n%s\n", format_frame(owned.view()).c_str(),
                  testing::format_hex_lines(bytes).c_str());
    }
    std::printf("```\n\n");
  }
  return 0;
}
