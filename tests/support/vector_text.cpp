#include "vector_text.hpp"

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace weft::testing {
namespace {

constexpr std::string_view kFramePrefix = "frame: ";
constexpr std::string_view kHexPrefix = "hex:";
constexpr std::size_t kBytesPerLine = 16;

std::string_view trim_left(std::string_view text) {
  const std::size_t first = text.find_first_not_of(' ');
  return first == std::string_view::npos ? std::string_view{} : text.substr(first);
}

// Appends the hex pairs of `text` to `out`; false when `text` holds anything else.
bool append_hex_pairs(std::string_view text, std::vector<std::uint8_t>& out) {
  text = trim_left(text);
  while (!text.empty()) {
    if (text.size() < 2) return false;
    std::uint8_t byte = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + 2, byte, 16);
    if (ec != std::errc{} || end != text.data() + 2) return false;
    out.push_back(byte);
    text = trim_left(text.substr(2));
  }
  return true;
}

std::vector<std::string_view> split_lines(std::string_view document) {
  std::vector<std::string_view> lines;
  while (!document.empty()) {
    const std::size_t end = document.find('\n');
    lines.push_back(document.substr(0, end));
    document = end == std::string_view::npos ? std::string_view{} : document.substr(end + 1);
  }
  return lines;
}

}  // namespace

std::vector<TestVector> parse_vectors(std::string_view document) {
  const std::vector<std::string_view> lines = split_lines(document);
  std::vector<TestVector> vectors;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = trim_left(lines[i]);
    if (!line.starts_with(kFramePrefix)) continue;
    TestVector vector{std::string(line.substr(kFramePrefix.size())), {}, i + 1};
    if (i + 1 < lines.size() && trim_left(lines[i + 1]).starts_with(kHexPrefix)) {
      std::vector<std::uint8_t> bytes;
      bool ok = append_hex_pairs(trim_left(lines[i + 1]).substr(kHexPrefix.size()), bytes);
      std::size_t next = i + 2;
      while (ok && next < lines.size() && !trim_left(lines[next]).empty() &&
             append_hex_pairs(lines[next], bytes)) {
        ++next;
      }
      if (ok) vector.bytes = std::move(bytes);
      i = next - 1;
    }
    vectors.push_back(std::move(vector));
  }
  return vectors;
}

std::vector<ErrorVector> parse_error_vectors(std::string_view document,
                                             std::string_view kBytesMarker,
                                             std::string_view kError) {
  const std::vector<std::string_view> lines = split_lines(document);
  std::vector<ErrorVector> vectors;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!lines[i].starts_with(kBytesMarker)) continue;
    ErrorVector vector{{}, {}, i + 1};
    bool ok = append_hex_pairs(lines[i].substr(kBytesMarker.size()), vector.after_handshake);
    std::size_t next = i + 1;
    while (ok && next < lines.size() && lines[next].starts_with(' ') &&
           !trim_left(lines[next]).empty()) {
      ok = append_hex_pairs(lines[next++], vector.after_handshake);
    }
    if (!ok) vector.after_handshake.clear();
    if (next < lines.size() && lines[next].starts_with(kError)) {
      vector.error = std::string(trim_left(lines[next].substr(kError.size())));
    }
    i = next;
    vectors.push_back(std::move(vector));
  }
  return vectors;
}

std::string format_hex_lines(const std::vector<std::uint8_t>& bytes) {
  std::string text = "hex:  ";
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0 && i % kBytesPerLine == 0) text += "\n      ";
    char pair[4];
    std::snprintf(pair, sizeof pair, " %02x", bytes[i]);
    text += pair;
  }
  return text;
}

std::string read_text_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace weft::testing
