// The object header's wire form (PROTOCOL.md §6.3.1): every attribute round-trips unchanged,
// absent stays absent, and malformed bytes are refused with a reason, never a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#include "sample_frames.hpp"
#include "weft/object.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

ObjectHeader full_header() {
  ObjectHeader header;
  header.name = "ais://bucket/dir/object.bin";
  header.opaque = {0, 1, 2, 255, 0};
  header.opcode = 65535;
  header.attrs.size = std::numeric_limits<std::uint64_t>::max();
  header.attrs.access_time_ns = std::numeric_limits<std::int64_t>::max();
  header.attrs.checksum_type = "xxhash";
  header.attrs.checksum_value = "0123456789abcdef";
  header.attrs.version = "3";
  header.attrs.custom = {{"etag", "x"}, {"etag", "y"}, {"", ""}};
  return header;
}

ObjectHeader round_trip(const ObjectHeader& header) {
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  std::string why;
  const auto decoded = decode_object_header(bytes, &why);
  EXPECT_TRUE(decoded) << why;
  return decoded.value_or(ObjectHeader{});
}

TEST(ObjectHeader, EveryAttributeRoundTripsUnchanged) {
  const ObjectHeader header = full_header();
  EXPECT_EQ(round_trip(header), header);
}

TEST(ObjectHeader, AbsentAttributesStayAbsentAndEmptyOnesStayEmpty) {
  ObjectHeader empty;
  const ObjectHeader back = round_trip(empty);
  EXPECT_EQ(back, empty);
  EXPECT_FALSE(back.attrs.version);
  EXPECT_FALSE(back.attrs.size);
  EXPECT_FALSE(back.attrs.access_time_ns);
  ObjectHeader empty_version;
  empty_version.attrs.version = "";
  empty_version.attrs.access_time_ns = std::numeric_limits<std::int64_t>::min();
  empty_version.attrs.size = 0;
  const ObjectHeader back2 = round_trip(empty_version);
  ASSERT_TRUE(back2.attrs.version);
  EXPECT_EQ(*back2.attrs.version, "");
  EXPECT_EQ(back2.attrs.access_time_ns, std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(back2.attrs.size, 0u);
}

TEST(ObjectHeader, LongFieldsAndManyCustomEntriesRoundTrip) {
  ObjectHeader header;
  header.name.assign(70'000, 'n');
  header.opaque.assign(100'000, 7);
  for (std::uint32_t i = 0; i < kMaxObjectHeaderCustomEntries; ++i)
    header.attrs.custom.emplace_back("k" + std::to_string(i), "");
  EXPECT_EQ(round_trip(header), header);
}

// A header of empty custom strings would decode to about thirty times its bytes: one entry
// over the bound is refused, however few bytes it takes.
TEST(ObjectHeader, MoreCustomEntriesThanTheBoundAreRefused) {
  ObjectHeader header;
  header.attrs.custom.assign(kMaxObjectHeaderCustomEntries + 1, {"", ""});
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  EXPECT_LT(bytes.size(), 2'100u);
  std::string why;
  EXPECT_FALSE(decode_object_header(bytes, &why));
  EXPECT_EQ(why, "custom has more than 1024 entries");
}

TEST(ObjectHeader, EveryTruncationIsRefusedWithAReason) {
  std::vector<std::uint8_t> bytes;
  encode_object_header(full_header(), bytes);
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    std::string why;
    EXPECT_FALSE(decode_object_header(Bytes(bytes).first(length), &why)) << length;
    EXPECT_FALSE(why.empty());
  }
}

TEST(ObjectHeader, MalformedFormsAreRefused) {
  std::vector<std::uint8_t> bytes;
  encode_object_header(ObjectHeader{}, bytes);
  std::string why;
  auto trailing = bytes;
  trailing.push_back(0);
  EXPECT_FALSE(decode_object_header(trailing, &why));
  EXPECT_EQ(why, "bytes after the header's array");
  auto short_array = bytes;
  short_array[0] = 0x99;  // nine elements
  EXPECT_FALSE(decode_object_header(short_array, &why));
  EXPECT_EQ(why, "not an array of 10 elements");
  // present = 1 (size present) is fine; present = 8 is not.
  auto bad_present = bytes;
  bad_present[5] = 8;  // [array, name "", bin 0 (2 bytes), opcode 0, present]
  EXPECT_FALSE(decode_object_header(bad_present, &why));
  EXPECT_EQ(why, "present is not an integer in 0..7");
  // An absent attribute with a value.
  auto stray_size = bytes;
  stray_size[6] = 5;
  EXPECT_FALSE(decode_object_header(stray_size, &why));
  EXPECT_EQ(why, "an absent attribute has a value");
  // A custom array announcing four billion strings in a few bytes.
  auto bomb = bytes;
  bomb.pop_back();  // the empty custom array
  for (std::uint8_t byte : {0xdd, 0xff, 0xff, 0xff, 0xfe})
    bomb.push_back(byte);
  EXPECT_FALSE(decode_object_header(bomb, &why));
  EXPECT_EQ(why, "custom announces more strings than bytes");
}

// PROTOCOL.md §6.3.1 shows the header the object_begin vectors carry, byte for byte.
TEST(ObjectHeader, TheVectorInTheProtocolDocumentIsWhatTheCodecWrites) {
  std::ifstream doc(WEFT_PROTOCOL_MD);
  std::stringstream text;
  text << doc.rdbuf();
  const std::string all = text.str();
  const std::size_t section = all.find("### 6.3.1 The object header");
  ASSERT_NE(section, std::string::npos);
  const std::size_t open = all.find("```text\n", section);
  const std::size_t close = all.find("```", open + 8);
  ASSERT_NE(close, std::string::npos);
  const std::string block = all.substr(open + 8, close - open - 8);
  const std::vector<std::uint8_t> expected = testing::sample_object_header();
  std::string hex;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    char byte[4];
    std::snprintf(byte, sizeof byte, "%02x", expected[i]);
    hex += byte;
    hex += (i % 16 == 15 || i + 1 == expected.size()) ? "\n" : " ";
  }
  EXPECT_EQ(block, hex);
  const auto decoded = decode_object_header(expected);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->name, "bucket/obj1");
  EXPECT_FALSE(decoded->attrs.version);
}

// The data checksum is xxh3-64 with seed 0 however the data is cut into updates, large ones
// (where the vector unit the CPU has takes over) and small ones alike: the digest of the whole
// in one call (checksum64, the frame checksum's xxh3) is the reference.
TEST(DataChecksum, IsXxh3OfTheWholeDataHoweverItIsCut) {
  EXPECT_EQ(DataChecksum().hex(), "2d06800538d394c2");  // xxh3-64 of nothing
  std::vector<std::uint8_t> data(3 * 1024 * 1024 + 17);
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  for (std::uint8_t& byte : data) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    byte = static_cast<std::uint8_t>(state >> 56);
  }
  for (const std::size_t cut : {std::size_t{1}, std::size_t{100}, std::size_t{1023},
                                std::size_t{4096}, std::size_t{65536}, std::size_t{1} << 20}) {
    for (const std::size_t size :
         {std::size_t{0}, std::size_t{240}, std::size_t{1025}, std::size_t{200'000}, data.size()}) {
      if (size / cut > 300'000) continue;  // byte-sized updates of megabytes: slow, no news
      DataChecksum checksum;
      for (std::size_t at = 0; at < size; at += cut) {
        checksum.update(Bytes(data).subspan(at, std::min(cut, size - at)));
      }
      char expected[17];
      std::snprintf(expected, sizeof expected, "%016llx",
                    static_cast<unsigned long long>(checksum64(Bytes(data).first(size))));
      EXPECT_EQ(checksum.hex(), expected) << "size " << size << " in updates of " << cut;
    }
  }
}

}  // namespace
}  // namespace weft
