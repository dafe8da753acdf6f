// Conformance facts pinned independently of weft's own codec, so that an encoder and a
// decoder that agree with each other on a wrong detail cannot pass (the vector test in
// wire_vectors_test.cpp only checks the codec against its own earlier output):
//   - XXH3-64 (seed 0) against the reference values of xxHash's sanity tests;
//   - the checksum of every checksummed vector in PROTOCOL.md recomputed over the bytes
//     and read big-endian, and the prefix fields read by hand;
//   - the dial rule's formula on fixed name pairs, with the dialer each must give (hashes
//     computed with the xxhsum tool, not with weft);
//   - the default deadline's exact bytes in a request weft sends.
#include <gtest/gtest.h>

#include <optional>
#include <span>

#include "cluster.hpp"
#include "vector_text.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

// xxHash's sanity buffer (tests/sanity_test_vectors.h in the xxHash repository): byte i is
// the top byte of a generator that starts at PRIME32 and is multiplied by PRIME64 after each.
std::vector<std::uint8_t> xxhash_sanity_buffer(std::size_t length) {
  constexpr std::uint64_t kPrime32 = 2654435761u;
  constexpr std::uint64_t kPrime64 = 11400714785074694797ull;
  std::vector<std::uint8_t> buffer(length);
  std::uint64_t generator = kPrime32;
  for (std::uint8_t& byte : buffer) {
    byte = static_cast<std::uint8_t>(generator >> 56);
    generator *= kPrime64;
  }
  return buffer;
}

TEST(Conformance, Xxh3MatchesTheReferenceValuesOfEveryLengthClass) {
  struct Reference {
    std::size_t length;
    std::uint64_t xxh3_64;
  };
  // XSUM_XXH3_testdata, seed 0: one length per branch of the algorithm.
  constexpr Reference kReferences[] = {
      {0, 0x2D06800538D394C2ull},  {1, 0xC44BDFF4074EECDBull},   {6, 0x27B56A84CD2D7325ull},
      {12, 0xA713DAF0DFBB77E7ull}, {24, 0xA3FE70BF9D3510EBull},  {48, 0x397DA259ECBA1F11ull},
      {80, 0xBCDEFBBB2C47C90Aull}, {195, 0xCD94217EE362EC3Aull}, {512, 0x617E49599013CB6Bull},
  };
  const std::vector<std::uint8_t> buffer = xxhash_sanity_buffer(512);
  for (const Reference& reference : kReferences) {
    EXPECT_EQ(checksum64(Bytes(buffer.data(), reference.length)), reference.xxh3_64)
        << "length " << reference.length;
  }
}

std::uint64_t big_endian(std::span<const std::uint8_t> bytes) {
  std::uint64_t value = 0;
  for (std::uint8_t byte : bytes)
    value = (value << 8) | byte;
  return value;
}

std::string read_protocol_doc() {
  return testing::read_text_file(WEFT_PROTOCOL_MD);
}

// §2: magic, flags, big-endian lengths, and a checksum that is XXH3-64 of everything before
// it, stored big-endian: read off each vector's bytes without the codec.
TEST(Conformance, EveryChecksummedVectorCarriesXxh3OfItsBytesBigEndian) {
  const auto vectors = testing::parse_vectors(read_protocol_doc());
  std::size_t checksummed = 0;
  for (const auto& vector : vectors) {
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line));
    const std::vector<std::uint8_t>& bytes = vector.bytes;
    ASSERT_GE(bytes.size(), 9u);
    EXPECT_EQ(bytes[0], 0x77);
    const std::uint64_t header_length = big_endian({bytes.data() + 2, 2});
    const std::uint64_t body_length = big_endian({bytes.data() + 4, 4});
    EXPECT_EQ(8 + body_length, bytes.size());
    EXPECT_GT(header_length, 0u);
    // The header is a msgpack array whose first element is the op (a positive fixint).
    EXPECT_EQ(bytes[8] & 0xf0, 0x90) << "header is not a fixarray";
    if (bytes[1] == 0x00) continue;
    ASSERT_EQ(bytes[1], 0x01) << "unknown frame flags";
    ++checksummed;
    const std::size_t covered = bytes.size() - 8;
    EXPECT_EQ(big_endian({bytes.data() + covered, 8}), checksum64(Bytes(bytes.data(), covered)));
  }
  EXPECT_GE(checksummed, 20u);  // every kind has a checksummed vector
}

TEST(Conformance, DialRuleFollowsTheFormulaOnFixedPairs) {
  struct Pair {
    const char* lo;  // the bytewise smaller name
    const char* hi;
    std::uint64_t hash;  // xxh3-64(lo 0x00 hi), from `printf 'lo\0hi' | xxhsum -H3`
    bool lo_dials;       // the hash is even
  };
  constexpr Pair kPairs[] = {
      {"alpha", "bravo", 0x99c8602dc9d51e9full, false},
      {"node-a", "node-b", 0xe3c10dc329c4d0b6ull, true},
      {"bravo", "charlie", 0xdd642aef93e9d728ull, true},
      {"a", "b", 0xd5a06cd078125351ull, false},
      {"node-1", "node-2", 0xf7c5dadbe1c54fb9ull, false},
      {"server-10", "server-9", 0xc0507013d6862f32ull, true},  // '1' < '9': bytewise order
  };
  for (const Pair& pair : kPairs) {
    SCOPED_TRACE(std::string(pair.lo) + " / " + pair.hi);
    std::string joined = pair.lo;
    joined.push_back('\0');
    joined += pair.hi;
    EXPECT_EQ(checksum64(as_bytes(joined)), pair.hash);
    EXPECT_EQ(pair.hash % 2 == 0, pair.lo_dials);
    EXPECT_EQ(dial_rule_dials(pair.lo, pair.hi), pair.lo_dials);
    EXPECT_EQ(dial_rule_dials(pair.hi, pair.lo), !pair.lo_dials);
  }
  EXPECT_FALSE(dial_rule_dials("alpha", "alpha"));
}

// msgpack's shortest encoding of an unsigned integer (the spec's rule, written here again
// so the check does not lean on weft's encoder).
void append_uint(std::vector<std::uint8_t>& out, std::uint64_t value) {
  auto append_be = [&](std::uint8_t tag, int bytes) {
    out.push_back(tag);
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(value >> shift));
  };
  if (value < 0x80) {
    out.push_back(static_cast<std::uint8_t>(value));
  } else if (value <= 0xff) {
    append_be(0xcc, 1);
  } else if (value <= 0xffff) {
    append_be(0xcd, 2);
  } else if (value <= 0xffffffff) {
    append_be(0xce, 4);
  } else {
    append_be(0xcf, 8);
  }
}

// §6.1: a request without a deadline carries deadline_ms = 60000, the uint16 cd ea 60, as
// the last element of [op 16, flags, mux, seq, handler, route, deadline_ms].
TEST(Conformance, DefaultDeadlineIsSixtySecondsAsMsgpackUint16) {
  testing::Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(0, 1, testing::kEchoHandler, "hi", /*timeout_ms=*/0);
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(0, call.id));
  const std::vector<std::uint8_t>& wire = cluster.net().wire_log(0, 1);
  // Walk the frames by their prefix alone and take the first request (op 16).
  std::size_t at = 0;
  std::optional<std::size_t> request_at;
  while (at + 8 <= wire.size()) {
    const std::size_t total = 8 + big_endian({wire.data() + at + 4, 4});
    if (wire[at + 9] == 16) {
      request_at = at;
      break;
    }
    at += total;
  }
  ASSERT_TRUE(request_at.has_value()) << "no request frame on the wire";
  const std::size_t header_length = big_endian({wire.data() + *request_at + 2, 2});
  const std::vector<std::uint8_t> header(
      wire.begin() + static_cast<long>(*request_at + 8),
      wire.begin() + static_cast<long>(*request_at + 8 + header_length));
  std::vector<std::uint8_t> expected = {0x97, 16, 0x00};
  append_uint(expected, call.id);  // the mux is the request id
  expected.push_back(0x00);        // seq: sent whole
  append_uint(expected, testing::kEchoHandler);
  expected.push_back(0x00);                             // no subroute
  expected.insert(expected.end(), {0xcd, 0xea, 0x60});  // 60000
  EXPECT_EQ(header, expected);
}

}  // namespace
}  // namespace weft
