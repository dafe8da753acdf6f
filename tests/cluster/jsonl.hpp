// The harness's record format: one flat JSON object per line, with string and integer
// fields only. Written by weft-load and weft-chaos, read by the checker and the timeline.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::chaos {

// Builds one line: {"key":value,...}\n in the order fields are added.
class JsonLine {
 public:
  JsonLine& add(std::string_view key, std::string_view text);
  JsonLine& add(std::string_view key, const char* text) { return add(key, std::string_view(text)); }
  JsonLine& add(std::string_view key, std::int64_t number);
  template <std::integral T>
  JsonLine& add(std::string_view key, T number) {
    return add(key, static_cast<std::int64_t>(number));
  }
  // The finished line, with its newline.
  std::string str() const { return text_ + "}\n"; }

 private:
  void key(std::string_view name);
  std::string text_ = "{";
};

// One parsed line: its fields in the order written (a handful each; a long run has millions
// of lines, so no map per line).
struct Record {
  std::vector<std::pair<std::string, std::string>> text;
  std::vector<std::pair<std::string, std::int64_t>> number;

  // The field, or the fallback when absent.
  std::string_view str(std::string_view key, std::string_view fallback = {}) const;
  std::int64_t num(std::string_view key, std::int64_t fallback = 0) const;
  bool has(std::string_view key) const;
};

// Parses one line; nullopt with `error` set ("byte 12: expected ':'") when it is not a flat
// object of strings and integers.
std::optional<Record> parse_line(std::string_view line, std::string& error);

// Every record of a file. A line that does not parse is reported in `errors` as
// "FILE:LINE: why" and skipped; a missing file is one error. A last line without its
// newline (a process killed while writing) is reported too.
std::vector<Record> read_records(const std::string& path, std::vector<std::string>& errors);

}  // namespace weft::chaos
