// Checks the codec against every test vector in docs/PROTOCOL.md, both ways: the bytes
// decode to the frame the vector names, and encoding that frame gives exactly the bytes.
#include <gtest/gtest.h>

#include <set>

#include "vector_text.hpp"
#include "weft/frame_text.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

std::string read_protocol_doc() {
  return testing::read_text_file(WEFT_PROTOCOL_MD);
}

TEST(WireVectors, EveryVectorInProtocolDocMatchesTheCodec) {
  const std::string doc = read_protocol_doc();
  ASSERT_FALSE(doc.empty()) << "cannot read " << WEFT_PROTOCOL_MD;
  const auto vectors = testing::parse_vectors(doc);
  ASSERT_GE(vectors.size(), 2 * all_schemas().size());
  for (const auto& vector : vectors) {
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line) + ": " + vector.frame_text);
    ASSERT_FALSE(vector.bytes.empty()) << "vector has no readable hex line";
    std::string error;
    const auto expected = parse_frame_text(vector.frame_text, &error);
    ASSERT_TRUE(expected.has_value()) << error;
    // bytes -> frame
    DecodeError decode_error;
    const auto decoded = decode_one(vector.bytes, {}, &decode_error);
    ASSERT_TRUE(decoded.has_value()) << decode_error.message;
    EXPECT_EQ(encoded_size(*decoded), vector.bytes.size()) << "trailing bytes in the vector";
    EXPECT_EQ(format_frame(*decoded), vector.frame_text);
    EXPECT_EQ(*decoded, expected->view());
    // frame -> bytes
    ByteBuffer encoded;
    encode_frame(encoded, expected->view());
    EXPECT_EQ(to_hex(encoded.view()), to_hex(vector.bytes));
  }
}

TEST(WireVectors, ProtocolDocHasEveryKindWithAndWithoutChecksum) {
  std::set<std::pair<std::string, bool>> seen;
  for (const auto& vector : testing::parse_vectors(read_protocol_doc())) {
    const auto frame = parse_frame_text(vector.frame_text);
    if (frame)
      seen.emplace(std::string(op_name(static_cast<int>(frame->view().op))),
                   frame->view().checksum);
  }
  for (const OpSchema& schema : all_schemas()) {
    for (bool checksum : {false, true}) {
      EXPECT_TRUE(seen.contains({std::string(schema.name), checksum}))
          << schema.name << (checksum ? " with" : " without") << " checksum has no vector";
    }
  }
}

TEST(WireVectors, VectorParserRejectsMalformedHex) {
  const auto vectors = testing::parse_vectors("frame: cancel mux=4\nhex: 77 0g\n");
  ASSERT_EQ(vectors.size(), 1u);
  EXPECT_TRUE(vectors[0].bytes.empty());
}

}  // namespace
}  // namespace weft
