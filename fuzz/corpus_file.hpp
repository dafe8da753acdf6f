// Writes one corpus file (the seed-corpus tools share this).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

namespace weft::fuzzing {

inline void write_corpus_file(const std::filesystem::path& path,
                              const std::vector<std::uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

}  // namespace weft::fuzzing
