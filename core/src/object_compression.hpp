// The payload of a compressed object_data frame (PROTOCOL.md §6.3, "Compression"): a
// 4-byte big-endian count of the data bytes it holds, then one LZ4 block (the block format,
// no frame header) that decodes to exactly that many bytes. Internal to core/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weft/bytes.hpp"

namespace weft::detail {

// Bytes of the size before the LZ4 block.
inline constexpr std::size_t kCompressedSizeBytes = 4;

// Compresses `data` (not empty, at most 2^31 bytes) into `out` (replacing its contents) as a
// compressed payload. Returns false, with `out` unspecified, when the payload would not be
// smaller than `data`: the chunk then goes uncompressed.
bool compress_chunk(Bytes data, std::vector<std::uint8_t>& out);

// The data size a compressed payload declares, or nullopt when it is shorter than the size.
std::optional<std::uint32_t> declared_chunk_bytes(Bytes payload);

// Decodes the LZ4 block of `payload` into `out`, which has room for exactly `declared`
// bytes (the payload's declared size, already checked against the receiver's limits).
// Returns nullopt when exactly `declared` bytes came out, else why not. Never writes past
// out + declared and never allocates.
std::optional<std::string> decompress_chunk(Bytes payload, std::uint8_t* out,
                                            std::uint32_t declared);

}  // namespace weft::detail
