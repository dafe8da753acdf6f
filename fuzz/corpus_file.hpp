// What the seed-corpus tools share: reading their one argument and writing one file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

namespace weft::fuzzing {

// The directory named by the tool's only argument, created if missing; nullopt (after
// printing the usage) when the arguments are not exactly one directory.
inline std::optional<std::filesystem::path> corpus_directory(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return std::nullopt;
  }
  std::filesystem::path dir(argv[1]);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_corpus_file(const std::filesystem::path& path,
                              const std::vector<std::uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

}  // namespace weft::fuzzing
