// LZ4 for object_data chunks (PROTOCOL.md §6.3, "Compression"). LZ4's block functions take
// int sizes; every size here is bounded by a frame limit far below INT_MAX.
#include "object_compression.hpp"

#include <lz4.h>

#include <limits>

namespace weft::detail {

bool compress_chunk(Bytes data, std::vector<std::uint8_t>& out) {
  if (data.empty() || data.size() > static_cast<std::size_t>(LZ4_MAX_INPUT_SIZE)) return false;
  const int input_bytes = static_cast<int>(data.size());
  out.resize(kCompressedSizeBytes + static_cast<std::size_t>(LZ4_compressBound(input_bytes)));
  const int block_bytes =
      LZ4_compress_default(reinterpret_cast<const char*>(data.data()),
                           reinterpret_cast<char*>(out.data() + kCompressedSizeBytes), input_bytes,
                           static_cast<int>(out.size() - kCompressedSizeBytes));
  if (block_bytes <= 0) return false;
  const std::size_t payload_bytes = kCompressedSizeBytes + static_cast<std::size_t>(block_bytes);
  if (payload_bytes >= data.size()) return false;  // no gain: the chunk goes as it is
  out.resize(payload_bytes);
  const auto size = static_cast<std::uint32_t>(data.size());
  out[0] = static_cast<std::uint8_t>(size >> 24);
  out[1] = static_cast<std::uint8_t>(size >> 16);
  out[2] = static_cast<std::uint8_t>(size >> 8);
  out[3] = static_cast<std::uint8_t>(size);
  return true;
}

std::optional<std::uint32_t> declared_chunk_bytes(Bytes payload) {
  if (payload.size() < kCompressedSizeBytes) return std::nullopt;
  return static_cast<std::uint32_t>(payload[0]) << 24 |
         static_cast<std::uint32_t>(payload[1]) << 16 |
         static_cast<std::uint32_t>(payload[2]) << 8 | static_cast<std::uint32_t>(payload[3]);
}

std::optional<std::string> decompress_chunk(Bytes payload, std::uint8_t* out,
                                            std::uint32_t declared) {
  const Bytes block = payload.subspan(kCompressedSizeBytes);
  constexpr auto kMaxInt = static_cast<std::size_t>(std::numeric_limits<int>::max());
  if (block.size() > kMaxInt || declared > kMaxInt) return "LZ4 block too large";
  const int decoded =
      LZ4_decompress_safe(reinterpret_cast<const char*>(block.data()), reinterpret_cast<char*>(out),
                          static_cast<int>(block.size()), static_cast<int>(declared));
  if (decoded < 0)
    return "the LZ4 block does not decode into " + std::to_string(declared) + " bytes";
  if (static_cast<std::uint32_t>(decoded) != declared)
    return "the LZ4 block decodes to " + std::to_string(decoded) + " of " +
           std::to_string(declared) + " bytes";
  return std::nullopt;
}

}  // namespace weft::detail
