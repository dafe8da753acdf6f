#include "campaign.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>

namespace weft::sim::campaign {

const char* shard_error_text(ShardError error) {
  switch (error) {
    case ShardError::none:
      return "";
    case ShardError::malformed:
      return "--shard takes I/N: two decimal numbers, shard I of N (0 <= I < N)";
    case ShardError::no_shards:
      return "--shard I/N needs N >= 1";
    case ShardError::index_out_of_range:
      return "--shard I/N needs I < N (shards are numbered from 0)";
  }
  return "unknown shard error";
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  std::uint64_t parsed = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (parsed > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    parsed = parsed * 10 + digit;
  }
  value = parsed;
  return true;
}

ShardError parse_shard(std::string_view text, Shard& shard) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return ShardError::malformed;
  Shard parsed;
  if (!parse_u64(text.substr(0, slash), parsed.index) ||
      !parse_u64(text.substr(slash + 1), parsed.count))
    return ShardError::malformed;
  if (parsed.count == 0) return ShardError::no_shards;
  if (parsed.index >= parsed.count) return ShardError::index_out_of_range;
  shard = parsed;
  return ShardError::none;
}

bool in_shard(std::uint64_t seed, std::uint64_t first, const Shard& shard) {
  return (seed - first) % shard.count == shard.index;
}

SeedSlice::SeedSlice(std::uint64_t first, std::uint64_t count, const Shard& shard)
    : first_(first),
      index_(shard.index),
      step_(shard.count),
      size_(count > shard.index ? (count - shard.index - 1) / shard.count + 1 : 0) {}

bool parse_seconds(const char* text, TimeNs& ns) {
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !std::isfinite(seconds) || seconds < 0 ||
      seconds * 1e9 > static_cast<double>(std::numeric_limits<TimeNs>::max() / 2))
    return false;
  ns = static_cast<TimeNs>(std::llround(seconds * 1e9));
  return true;
}

std::string seconds_text(TimeNs ns) {
  std::string text = std::to_string(ns / 1'000'000'000);
  long long fraction = ns % 1'000'000'000;
  if (fraction == 0) return text;
  int digits = 9;
  while (fraction % 10 == 0) {
    fraction /= 10;
    --digits;
  }
  const std::string tail = std::to_string(fraction);
  return text + "." + std::string(static_cast<std::size_t>(digits) - tail.size(), '0') + tail;
}

namespace {

// The shortest %g form that reads back as the same double.
std::string exact_number(double value) {
  char text[40];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(byte));
      out += escaped;
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string join(const std::vector<std::string>& items) {
  std::string joined;
  for (const std::string& item : items)
    joined += (joined.empty() ? "" : ",") + item;
  return joined;
}

namespace {

// Whether `text` is a command weft-sim's own results carry: "weft-sim run " and then only
// the characters its options are written with. A result file is input from elsewhere (a
// worker, another machine): a replay an operator is told to paste must not run more than
// weft-sim (no ';', '$', '|', quotes, newlines).
bool is_replay_command(std::string_view text) {
  if (!text.starts_with("weft-sim run ")) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           c == '-' || c == '_' || c == '.' || c == ',' || c == '=' || c == '/' || c == ':' ||
           c == '+';  // '+': an exponent's sign, as in --rate 1e+06
  });
}

// `text` with control bytes written as \xNN: a result's text fields are printed for a
// person's terminal, which must not take escape sequences or false lines from a result file.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string replay_command(const SimOptions& options) {
  return "weft-sim run --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --profile " + profile_name(options.profile) +
         " --duration " + seconds_text(options.fault_ns) +
         (options.requests_per_s > 0 ? " --rate " + exact_number(options.requests_per_s)
                                     : std::string()) +
         (options.faults_off.empty() ? "" : " --faults-off " + join(options.faults_off)) +
         (options.canary.empty() ? "" : " --canary " + options.canary) +
         (options.tls ? " --tls" : "");
}

std::string seed_json_line(const SimOptions& options, const SimResult& result, double wall_s) {
  const bool passed = result.kind == SimResult::Kind::pass;
  char hash[24];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(result.trace_hash));
  char times[64];
  std::snprintf(times, sizeof times, "\"sim_s\":%.3f,\"wall_s\":%.3f",
                static_cast<double>(result.sim_ns) / 1e9, wall_s);
  std::string line = "{\"seed\":" + std::to_string(options.seed) + ",\"result\":";
  append_json_string(line, passed ? "pass" : "fail");
  line += ",\"outcome\":";
  append_json_string(line, result_kind_name(result.kind));
  line += ",\"profile\":";
  append_json_string(line, profile_name(options.profile));
  line += ",\"nodes\":" + std::to_string(options.nodes) +
          ",\"duration\":" + seconds_text(options.fault_ns) +
          ",\"rate\":" + exact_number(result.workload.requests_per_s) + ",\"canary\":";
  append_json_string(line, options.canary);
  line += ",\"faults_off\":";
  append_json_string(line, join(options.faults_off));
  line += ",\"trace_hash\":";
  append_json_string(line, hash);
  line += ",\"events\":" + std::to_string(result.events) + "," + times + ",\"reason\":";
  append_json_string(line, passed ? "" : result.message);
  line += ",\"replay\":";
  append_json_string(line, replay_command(options));
  return line + "}";
}

namespace {

class FlatJsonParser {
 public:
  FlatJsonParser(std::string_view line, std::string& error) : line_(line), error_(error) {}

  bool parse(FlatJson& object) {
    skip_space();
    if (!expect('{')) return false;
    skip_space();
    if (peek() == '}') {
      ++at_;
    } else {
      for (;;) {
        skip_space();
        const std::size_t key_at = at_;
        std::string key;
        if (peek() != '"') return fail("a key (a string) expected");
        if (!string(key)) return false;
        skip_space();
        if (!expect(':')) return false;
        skip_space();
        JsonValue value;
        if (!this->value(value)) return false;
        if (!object.emplace(std::move(key), std::move(value)).second) {
          at_ = key_at;
          return fail("a key given twice");
        }
        skip_space();
        if (peek() == ',') {
          ++at_;
          continue;
        }
        if (!expect('}')) return false;
        break;
      }
    }
    skip_space();
    if (at_ != line_.size()) return fail("text after the object");
    return true;
  }

 private:
  char peek() const { return at_ < line_.size() ? line_[at_] : '\0'; }
  bool at_end() const { return at_ >= line_.size(); }

  bool fail(const std::string& what) {
    error_ = what + " at column " + std::to_string(at_ + 1);
    return false;
  }

  bool expect(char c) {
    if (at_end() || line_[at_] != c) return fail(std::string("'") + c + "' expected");
    ++at_;
    return true;
  }

  void skip_space() {
    while (!at_end() && (line_[at_] == ' ' || line_[at_] == '\t' || line_[at_] == '\r'))
      ++at_;
  }

  bool value(JsonValue& value) {
    const char c = peek();
    if (c == '"') {
      value.type = JsonValue::Type::string;
      return string(value.text);
    }
    if (c == '{' || c == '[') return fail("a nested object or array (records are flat)");
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.type = JsonValue::Type::number;
      return number(value.text);
    }
    for (const char* literal : {"true", "false", "null"}) {
      if (line_.substr(at_, std::strlen(literal)) == literal) {
        value.type = JsonValue::Type::literal;
        value.text = literal;
        at_ += value.text.size();
        return true;
      }
    }
    return fail(at_end() ? "a value expected, the line ended" : "a value expected");
  }

  bool digits() {
    const std::size_t start = at_;
    while (!at_end() && line_[at_] >= '0' && line_[at_] <= '9')
      ++at_;
    return at_ > start;
  }

  bool number(std::string& text) {
    const std::size_t start = at_;
    if (peek() == '-') ++at_;
    if (peek() == '0') {
      ++at_;
      if (peek() >= '0' && peek() <= '9') return fail("a number with a leading zero");
    } else if (!digits()) {
      return fail("digits expected");
    }
    if (peek() == '.') {
      ++at_;
      if (!digits()) return fail("digits expected after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++at_;
      if (peek() == '+' || peek() == '-') ++at_;
      if (!digits()) return fail("digits expected in the exponent");
    }
    text = std::string(line_.substr(start, at_ - start));
    return true;
  }

  bool hex4(unsigned& code) {
    code = 0;
    for (int i = 0; i < 4; ++i, ++at_) {
      const char c = peek();
      unsigned digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        digit = static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        digit = static_cast<unsigned>(c - 'A' + 10);
      } else {
        return fail("four hex digits expected after \\u");
      }
      code = code * 16 + digit;
    }
    return true;
  }

  static void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xc0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xe0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (code & 0x3f));
    }
  }

  bool escape(std::string& out) {
    const char c = peek();
    ++at_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += c;
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        --at_;
        return fail("an unknown escape");
    }
    unsigned code = 0;
    if (!hex4(code)) return false;
    if (code >= 0xdc00 && code <= 0xdfff) return fail("a lone low surrogate");
    if (code >= 0xd800 && code <= 0xdbff) {
      unsigned low = 0;
      if (line_.substr(at_, 2) != "\\u") return fail("a high surrogate without its low one");
      at_ += 2;
      if (!hex4(low)) return false;
      if (low < 0xdc00 || low > 0xdfff) return fail("a high surrogate without its low one");
      code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(out, code);
    return true;
  }

  bool string(std::string& out) {
    ++at_;  // the opening quote
    for (;;) {
      if (at_end()) return fail("the line ended inside a string");
      const char c = line_[at_];
      if (c == '"') {
        ++at_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail("a control character in a string");
      ++at_;
      if (c != '\\') {
        out += c;
      } else if (!escape(out)) {
        return false;
      }
    }
  }

  std::string_view line_;
  std::string& error_;
  std::size_t at_ = 0;
};

const std::string* string_field(const FlatJson& object, const char* key) {
  const auto found = object.find(key);
  if (found == object.end() || found->second.type != JsonValue::Type::string) return nullptr;
  return &found->second.text;
}

std::string seed_list(const std::vector<std::pair<std::uint64_t, std::uint64_t>>& ranges) {
  std::string text;
  for (const auto& [low, high] : ranges) {
    text += (text.empty() ? "" : ", ") + std::to_string(low);
    if (high != low) text += "-" + std::to_string(high);
  }
  return text;
}

}  // namespace

bool parse_flat_json(std::string_view line, FlatJson& object, std::string& error) {
  FlatJson parsed;
  if (!FlatJsonParser(line, error).parse(parsed)) return false;
  object = std::move(parsed);
  return true;
}

void Merge::add_line(std::string_view line, const std::string& where) {
  ++lines_;
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return;
  FlatJson object;
  std::string error;
  if (!parse_flat_json(line, object, error)) {
    errors_.push_back(where + ": " + error);
    return;
  }
  const auto seed_field = object.find("seed");
  std::uint64_t seed = 0;
  if (seed_field == object.end() || seed_field->second.type != JsonValue::Type::number ||
      !parse_u64(seed_field->second.text, seed)) {
    errors_.push_back(where + ": no \"seed\" that is a whole number >= 0");
    return;
  }
  const std::string* result = string_field(object, "result");
  if (result == nullptr || (*result != "pass" && *result != "fail")) {
    errors_.push_back(where + ": no \"result\" that is \"pass\" or \"fail\"");
    return;
  }
  const std::string* replay = string_field(object, "replay");
  if (replay == nullptr || !is_replay_command(*replay)) {
    errors_.push_back(where + ": no \"replay\" that is a weft-sim run command");
    return;
  }
  Record record;
  record.where = where;
  record.passed = *result == "pass";
  record.replay = *replay;
  for (auto [field, key] :
       {std::pair{&record.outcome, "outcome"}, std::pair{&record.trace_hash, "trace_hash"},
        std::pair{&record.reason, "reason"}}) {
    if (const std::string* text = string_field(object, key)) *field = *text;
  }
  const auto [known, inserted] = records_.emplace(seed, record);
  if (inserted) return;
  std::string text =
      "seed " + std::to_string(seed) + " at " + where + ", first at " + known->second.where;
  if (known->second.trace_hash != record.trace_hash || known->second.passed != record.passed)
    text += " (differs: " + std::string(known->second.passed ? "pass" : "fail") + " " +
            known->second.trace_hash + " then " + *result + " " + record.trace_hash + ")";
  duplicates_.push_back(text);
}

bool Merge::add_file(const std::string& path) {
  std::ifstream file;
  std::istream* input = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      errors_.push_back(path + ": cannot open: " + std::strerror(errno));
      return false;
    }
    input = &file;
  }
  std::string line;
  for (std::uint64_t number = 1; std::getline(*input, line); ++number)
    add_line(line, path + ":" + std::to_string(number));
  if (input->bad()) {
    errors_.push_back(path + ": read error");
    return false;
  }
  return true;
}

std::uint64_t Merge::failed() const {
  return static_cast<std::uint64_t>(std::count_if(
      records_.begin(), records_.end(), [](const auto& entry) { return !entry.second.passed; }));
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> Merge::missing(const SeedRange& range) const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
  if (range.count == 0) return gaps;
  const std::uint64_t last = range.first + (range.count - 1);
  std::uint64_t next = range.first;  // the lowest seed of the range not yet accounted for
  bool done = false;
  for (auto it = records_.lower_bound(range.first); it != records_.end() && it->first <= last;
       ++it) {
    if (it->first > next) gaps.emplace_back(next, it->first - 1);
    if (it->first == last) {
      done = true;
      break;
    }
    next = it->first + 1;
  }
  if (!done) gaps.emplace_back(next, last);
  return gaps;
}

std::vector<std::uint64_t> Merge::extra(const SeedRange& range) const {
  std::vector<std::uint64_t> outside;
  for (const auto& [seed, record] : records_) {
    if (seed < range.first || seed - range.first >= range.count) outside.push_back(seed);
  }
  return outside;
}

int Merge::report(std::FILE* out, const std::optional<SeedRange>& expect) const {
  const std::uint64_t failing = failed();
  std::fprintf(
      out, "seeds=%llu passed=%llu failed=%llu duplicates=%llu lines=%llu\n",
      static_cast<unsigned long long>(seeds()), static_cast<unsigned long long>(seeds() - failing),
      static_cast<unsigned long long>(failing), static_cast<unsigned long long>(duplicates()),
      static_cast<unsigned long long>(lines_));
  for (const std::string& duplicate : duplicates_)
    std::fprintf(out, "duplicate: %s\n", duplicate.c_str());
  for (const auto& [seed, record] : records_) {
    if (record.passed) continue;
    std::fprintf(out, "failed: seed %llu (%s, %s): %s\n  replay: %s\n",
                 static_cast<unsigned long long>(seed), printable(record.outcome).c_str(),
                 printable(record.where).c_str(), printable(record.reason).c_str(),
                 record.replay.c_str());
  }
  bool range_ok = true;
  if (expect) {
    const auto gaps = missing(*expect);
    const auto outside = extra(*expect);
    std::uint64_t missing_count = 0;
    for (const auto& [low, high] : gaps)
      missing_count += high - low + 1;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> outside_ranges;
    for (const std::uint64_t seed : outside) {
      if (!outside_ranges.empty() && outside_ranges.back().second + 1 == seed) {
        outside_ranges.back().second = seed;
      } else {
        outside_ranges.emplace_back(seed, seed);
      }
    }
    range_ok = gaps.empty() && outside.empty();
    std::fprintf(out, "range first=%llu count=%llu: %s missing=%llu extra=%llu\n",
                 static_cast<unsigned long long>(expect->first),
                 static_cast<unsigned long long>(expect->count),
                 range_ok ? "complete" : "INCOMPLETE",
                 static_cast<unsigned long long>(missing_count),
                 static_cast<unsigned long long>(outside.size()));
    if (!gaps.empty()) std::fprintf(out, "missing: %s\n", seed_list(gaps).c_str());
    if (!outside.empty()) std::fprintf(out, "extra: %s\n", seed_list(outside_ranges).c_str());
  }
  for (const std::string& error : errors_)
    std::fprintf(out, "error: %s\n", error.c_str());
  int status = 0;
  if (!errors_.empty()) {
    status = 2;
  } else if (failing > 0 || !duplicates_.empty() || !range_ok) {
    status = 1;
  }
  std::fprintf(out, "merge: %s\n",
               status == 0   ? "ok"
               : status == 2 ? "FAILED (unreadable or malformed input)"
                             : "FAILED");
  return status;
}

int merge_command(const std::vector<std::string>& args) {
  auto usage = [](const std::string& why) {
    std::fprintf(stderr,
                 "weft-sim merge: %s\n"
                 "usage: weft-sim merge [--expect-range FIRST COUNT] FILE... (- for stdin)\n",
                 why.c_str());
    return 2;
  };
  std::optional<SeedRange> expect;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--expect-range") {
      SeedRange range;
      if (i + 2 >= args.size() || !parse_u64(args[i + 1], range.first) ||
          !parse_u64(args[i + 2], range.count))
        return usage("--expect-range takes FIRST COUNT, two decimal numbers");
      if (range.count > std::numeric_limits<std::uint64_t>::max() - range.first)
        return usage("--expect-range: FIRST + COUNT does not fit 64 bits");
      expect = range;
      i += 2;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return usage("unknown option " + args[i]);
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) return usage("no result file");
  Merge merge;
  for (const std::string& file : files)
    merge.add_file(file);
  std::printf("merge: %zu file%s\n", files.size(), files.size() == 1 ? "" : "s");
  return merge.report(stdout, expect);
}

}  // namespace weft::sim::campaign
