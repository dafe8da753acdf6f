// clip_utf8 (core/src/message_text.hpp): the error texts a node sends and keeps are cut to a
// byte limit (PROTOCOL.md §9.2), and a cut never splits a UTF-8 character, so a text that
// was UTF-8 stays UTF-8. Before, the cut fell at the byte limit, in the middle of a
// character as often as not.
#include "message_text.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace weft::detail {
namespace {

// `code_point` encoded as UTF-8 (1 to 4 bytes).
std::string utf8_of(char32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xc0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xe0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code_point & 0x3f));
  }
  return out;
}

RC_GTEST_PROP(ClipUtf8, ACutIsAWholeCharacterPrefixWithinThreeBytesOfTheLimit,
              (const std::vector<char32_t>& drawn, std::size_t limit_drawn)) {
  std::string text;
  std::vector<std::size_t> boundaries{0};  // where each character ends
  for (const char32_t drawn_point : drawn) {
    const char32_t code_point = drawn_point % 0x110000;
    if (code_point >= 0xd800 && code_point < 0xe000) continue;  // surrogates are not UTF-8
    text += utf8_of(code_point);
    boundaries.push_back(text.size());
  }
  const std::size_t limit = limit_drawn % (text.size() + 8);
  const std::string_view clipped = clip_utf8(text, limit);
  RC_ASSERT(clipped.data() == text.data());
  RC_ASSERT(clipped.size() <= limit);
  if (text.size() <= limit) {
    RC_ASSERT(clipped.size() == text.size());
  } else {
    RC_ASSERT(clipped.size() + 3 >= limit);  // at most a character's continuation bytes back
  }
  RC_ASSERT(std::find(boundaries.begin(), boundaries.end(), clipped.size()) != boundaries.end());
}

TEST(ClipUtf8, AnErrorTextIsCutBeforeTheCharacterThatCrossesTheLimit) {
  const std::string text = std::string(kMaxErrorText - 1, 'a') + utf8_of(U'\u20ac') + "tail";
  EXPECT_EQ(clip_error_text(text).size(), kMaxErrorText - 1);
  EXPECT_EQ(clip_error_text(std::string(kMaxErrorText + 10, 'b')).size(), kMaxErrorText);
}

}  // namespace
}  // namespace weft::detail
