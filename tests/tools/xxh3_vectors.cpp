// weft_xxh3_vectors: writes inputs of many lengths and their xxh3-64 (seed 0) from
// libxxhash, for the check of the Wireshark dissector's own xxh3 (tests/tools/xxh3_check.lua).
//
//   weft_xxh3_vectors FILE
//
// Each record: the length (u32, big-endian), the bytes, the hash (u64, big-endian). Lengths
// 0..1100 (every branch of xxh3: 0, 1-3, 4-8, 9-16, 17-128, 129-240, and the long path
// with one block and part of a second), then around the block and stripe edges of longer
// inputs, up to 1 MiB. Bytes from a seeded generator: the same file every run.
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <vector>

namespace {

void put_be(std::vector<char>& out, std::uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: weft_xxh3_vectors FILE\n");
    return 2;
  }
  std::vector<std::size_t> lengths;
  for (std::size_t length = 0; length <= 1100; ++length)
    lengths.push_back(length);
  for (std::size_t length : {1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097, 10000, 65535,
                             65536, 65537, 70001, 1 << 20})
    lengths.push_back(length);
  std::uint64_t state = 19;
  std::vector<char> out;
  std::vector<unsigned char> input;
  for (std::size_t length : lengths) {
    input.resize(length);
    for (auto& byte : input) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      byte = static_cast<unsigned char>(state >> 56);
    }
    put_be(out, length, 4);
    out.insert(out.end(), input.begin(), input.end());
    put_be(out, XXH3_64bits(input.data(), input.size()), 8);
  }
  std::ofstream file(argv[1], std::ios::binary);
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file) {
    std::fprintf(stderr, "weft_xxh3_vectors: cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("weft_xxh3_vectors: %zu inputs\n", lengths.size());
  return 0;
}
