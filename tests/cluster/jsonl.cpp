#include "jsonl.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace weft::chaos {

void JsonLine::key(std::string_view name) {
  if (text_.size() > 1) text_ += ',';
  text_ += '"';
  text_ += name;
  text_ += "\":";
}

JsonLine& JsonLine::add(std::string_view name, std::string_view value) {
  key(name);
  text_ += '"';
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      text_ += '\\';
      text_ += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      text_ += ' ';  // control characters never matter in these records
    } else {
      text_ += c;
    }
  }
  text_ += '"';
  return *this;
}

JsonLine& JsonLine::add(std::string_view name, std::int64_t value) {
  key(name);
  text_ += std::to_string(value);
  return *this;
}

std::string_view Record::str(std::string_view key, std::string_view fallback) const {
  for (const auto& [name, value] : text) {
    if (name == key) return value;
  }
  return fallback;
}

std::int64_t Record::num(std::string_view key, std::int64_t fallback) const {
  for (const auto& [name, value] : number) {
    if (name == key) return value;
  }
  return fallback;
}

bool Record::has(std::string_view key) const {
  return std::any_of(text.begin(), text.end(), [&](const auto& f) { return f.first == key; }) ||
         std::any_of(number.begin(), number.end(), [&](const auto& f) { return f.first == key; });
}

namespace {

// A cursor over one line; every step reports the byte where it failed.
struct Reader {
  std::string_view line;
  std::size_t at = 0;
  std::string& error;

  bool fail(std::string_view why) {
    error = "byte " + std::to_string(at) + ": " + std::string(why);
    return false;
  }
  void skip_space() {
    while (at < line.size() && (line[at] == ' ' || line[at] == '\t'))
      ++at;
  }
  bool expect(char c) {
    skip_space();
    if (at >= line.size() || line[at] != c) return fail(std::string("expected '") + c + "'");
    ++at;
    return true;
  }
  bool string(std::string& out) {
    if (!expect('"')) return false;
    while (at < line.size() && line[at] != '"') {
      if (line[at] == '\\') {
        if (++at >= line.size()) return fail("escape at the end of the line");
        if (line[at] != '"' && line[at] != '\\') return fail("unsupported escape");
      }
      out += line[at++];
    }
    if (at >= line.size()) return fail("unterminated string");
    ++at;
    return true;
  }
  bool number(std::int64_t& out) {
    const char* begin = line.data() + at;
    const auto [end, ec] = std::from_chars(begin, line.data() + line.size(), out);
    if (ec != std::errc{}) return fail("expected a string or an integer");
    at += static_cast<std::size_t>(end - begin);
    return true;
  }
};

}  // namespace

std::optional<Record> parse_line(std::string_view line, std::string& error) {
  Reader reader{line, 0, error};
  Record record;
  if (!reader.expect('{')) return std::nullopt;
  reader.skip_space();
  bool first = true;
  while (reader.at < line.size() && line[reader.at] != '}') {
    if (!first && !reader.expect(',')) return std::nullopt;
    first = false;
    std::string key;
    if (!reader.string(key) || !reader.expect(':')) return std::nullopt;
    reader.skip_space();
    if (reader.at < line.size() && line[reader.at] == '"') {
      std::string value;
      if (!reader.string(value)) return std::nullopt;
      record.text.emplace_back(std::move(key), std::move(value));
    } else {
      std::int64_t value = 0;
      if (!reader.number(value)) return std::nullopt;
      record.number.emplace_back(std::move(key), value);
    }
    reader.skip_space();
  }
  if (!reader.expect('}')) return std::nullopt;
  reader.skip_space();
  if (reader.at != line.size()) {
    reader.fail("text after the object");
    return std::nullopt;
  }
  return record;
}

std::vector<Record> read_records(const std::string& path, std::vector<std::string>& errors) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    errors.push_back(path + ": cannot open");
    return {};
  }
  std::stringstream whole;
  whole << file.rdbuf();
  const std::string text = whole.str();
  std::vector<Record> records;
  std::size_t start = 0;
  for (std::size_t line_number = 1; start < text.size(); ++line_number) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line(text.data() + start,
                                (end == std::string::npos ? text.size() : end) - start);
    std::string error;
    if (end == std::string::npos) {
      errors.push_back(path + ":" + std::to_string(line_number) + ": no newline (cut off)");
    } else if (auto record = parse_line(line, error)) {
      records.push_back(std::move(*record));
    } else {
      errors.push_back(path + ":" + std::to_string(line_number) + ": " + error);
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return records;
}

}  // namespace weft::chaos
