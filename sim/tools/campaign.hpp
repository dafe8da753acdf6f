// Simulation campaigns split across processes, machines or batch engines (GNU parallel,
// Kubernetes Indexed Jobs, Slurm job arrays): the shard rule, the JSON-lines record of one
// seed, and the merge of such records into one report. Used by weft-sim (sim/tools/); see
// docs/SIMULATION.md, "Campaigns across machines".
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/sim/simulator.hpp"

namespace weft::sim::campaign {

// Shard `index` of `count` (0 <= index < count).
struct Shard {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
};

enum class ShardError : std::uint8_t {
  none,
  malformed,           // not "I/N" with I and N decimal numbers that fit 64 bits
  no_shards,           // N is 0
  index_out_of_range,  // I >= N
};
// A sentence saying what is wrong; "" for none.
const char* shard_error_text(ShardError error);

// Reads "I/N" (digits only, no sign or space). `shard` is set only when it returns none.
ShardError parse_shard(std::string_view text, Shard& shard);

// The shard rule: seed s of the range starting at `first` belongs to shard
// (s - first) % count == index. Requires seed >= first and a valid shard. The shards
// 0..count-1 of one range are disjoint and together hold every seed of it.
bool in_shard(std::uint64_t seed, std::uint64_t first, const Shard& shard);

// The seeds of [first, first + count) that belong to `shard`, in increasing order,
// without materialising them. Requires first + count not to overflow.
class SeedSlice {
 public:
  SeedSlice(std::uint64_t first, std::uint64_t count, const Shard& shard);
  std::uint64_t size() const { return size_; }
  // The i-th seed of the slice; requires i < size().
  std::uint64_t at(std::uint64_t i) const { return first_ + index_ + i * step_; }

 private:
  std::uint64_t first_;
  std::uint64_t index_;
  std::uint64_t step_;
  std::uint64_t size_;
};

// A decimal number of digits only that fits 64 bits; false otherwise (value untouched).
bool parse_u64(std::string_view text, std::uint64_t& value);

// The longest --duration weft-sim takes: an hour of simulated time. The workload's books
// grow with it (every call and stream started keeps its outcome), and the longest run any
// test or script asks for is 60 s.
constexpr TimeNs kMaxDurationNs = 3600 * TimeNs{1'000'000'000};

// Seconds as weft-sim's --duration takes them (a finite number >= 0, nothing after it),
// rounded to the nanosecond; false otherwise.
bool parse_seconds(const char* text, TimeNs& ns);
// Nanoseconds written as decimal seconds exactly (10, 2.5, 1.000000001): parse_seconds of
// it gives `ns` back. Requires ns >= 0.
std::string seconds_text(TimeNs ns);

// "a,b,c".
std::string join(const std::vector<std::string>& items);

// The `weft-sim run ...` command that replays `options` exactly (its seed, nodes, profile,
// duration, rate if set, fault kinds switched off, canary).
std::string replay_command(const SimOptions& options);

// One seed's record: a JSON object on one line (no newline at the end) with the fields
//   seed, result ("pass" or "fail"), outcome (pass, assertion, liveness or safety: the oracle
//   that failed), profile, nodes, duration (the fault phase, s), rate (requests per simulated
//   s: the profile's when not set), canary, faults_off (comma-separated), trace_hash (16 hex
//   digits), events, sim_s, wall_s, reason (what failed; "" on a pass), replay (the command).
std::string seed_json_line(const SimOptions& options, const SimResult& result, double wall_s);

// A value of a flat JSON object: a string (unescaped), or the text of a number or of
// true, false or null.
struct JsonValue {
  enum class Type : std::uint8_t { string, number, literal };
  Type type = Type::string;
  std::string text;
};
using FlatJson = std::map<std::string, JsonValue>;

// Parses one line holding one JSON object whose values are strings, numbers, true, false or
// null (no nested objects or arrays), with white space allowed between tokens. On error it
// returns false and sets `error` to what is wrong and its column (1-based, in bytes).
bool parse_flat_json(std::string_view line, FlatJson& object, std::string& error);

// Seeds [first, first + count): what merge's --expect-range checks.
struct SeedRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;
};

// Merges the records of any number of result files (seed_json_line's lines).
class Merge {
 public:
  // Takes one line; `where` names it ("FILE:LINE"). A blank line is skipped; a line that is
  // not such a record (bad JSON, seed, result or replay missing or of the wrong kind) is
  // recorded as an error; a seed seen before is recorded as a duplicate (and not counted
  // again).
  void add_line(std::string_view line, const std::string& where);
  // Adds every line of `path` ("-": standard input); false, with an error recorded, when it
  // cannot be opened or read.
  bool add_file(const std::string& path);

  std::uint64_t seeds() const { return records_.size(); }  // distinct seeds
  std::uint64_t failed() const;
  std::uint64_t duplicates() const { return duplicates_.size(); }
  const std::vector<std::string>& errors() const { return errors_; }
  // The seeds of `range` no line had, as inclusive intervals in increasing order.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> missing(const SeedRange& range) const;
  // The seeds outside `range` that lines had, in increasing order.
  std::vector<std::uint64_t> extra(const SeedRange& range) const;

  // Prints the report to `out`: counts, every duplicate, every failing seed with its reason
  // and replay command, the range check when `expect` is set, every error. Returns the exit
  // status: 2 if any error was recorded; otherwise 1 if a seed failed, a seed appeared twice
  // or the range check failed; otherwise 0.
  int report(std::FILE* out, const std::optional<SeedRange>& expect) const;

 private:
  struct Record {
    std::string where;
    bool passed = true;
    std::string outcome;
    std::string trace_hash;
    std::string reason;
    std::string replay;
  };
  std::map<std::uint64_t, Record> records_;
  std::vector<std::string> duplicates_;
  std::vector<std::string> errors_;
  std::uint64_t lines_ = 0;
};

// weft-sim merge [--expect-range FIRST COUNT] FILE...: arguments after "merge". Prints the
// report to standard output and usage errors to standard error; returns the exit status
// (2 for a usage error).
int merge_command(const std::vector<std::string>& args);

}  // namespace weft::sim::campaign
