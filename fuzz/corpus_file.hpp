// What the seed-corpus tools share: reading their one argument and writing one file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
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

// An input for the connection target that delivers `frames` whole and in order: that target
// reads a control byte before every piece of at most 64 bytes (63: 64 bytes, no time passing).
inline std::vector<std::uint8_t> connection_input(std::span<const std::uint8_t> frames) {
  std::vector<std::uint8_t> input;
  for (std::size_t at = 0; at < frames.size(); at += 64) {
    input.push_back(63);
    const std::size_t piece = std::min<std::size_t>(64, frames.size() - at);
    input.insert(input.end(), frames.begin() + static_cast<long>(at),
                 frames.begin() + static_cast<long>(at + piece));
  }
  return input;
}

}  // namespace weft::fuzzing
