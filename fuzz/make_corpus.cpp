// Writes the decoder's seed corpus: one file per sample frame kind, without and with
// checksum, plus one whole conversation. Run by hand when the wire format changes:
//   build/release/fuzz/weft_make_decoder_corpus fuzz/corpus/decoder
#include <filesystem>

#include "corpus_file.hpp"
#include "sample_frames.hpp"

namespace {

using weft::fuzzing::write_corpus_file;

}  // namespace

int main(int argc, char** argv) {
  const auto corpus_dir = weft::fuzzing::corpus_directory(argc, argv);
  if (!corpus_dir) return 2;
  const std::filesystem::path& dir = *corpus_dir;
  std::vector<std::uint8_t> conversation;
  for (const auto& sample : weft::testing::sample_frames()) {
    for (bool checksum : {false, true}) {
      const auto bytes = weft::testing::encode_to_vector(
          weft::testing::with_checksum(sample.frame, checksum).view());
      write_corpus_file(dir / ("frame-" + sample.label + (checksum ? "-cksum" : "")), bytes);
      conversation.insert(conversation.end(), bytes.begin(), bytes.end());
    }
  }
  write_corpus_file(dir / "conversation-all-kinds", conversation);
  return 0;
}
