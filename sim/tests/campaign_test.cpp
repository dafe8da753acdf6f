// The campaign pieces of weft-sim (sim/tools/campaign.hpp): the shard rule partitions every
// seed range, --shard's parser, the JSON-lines records and their parser, and the merge.
#include "campaign.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace {

using namespace weft::sim;
using namespace weft::sim::campaign;
using weft::TimeNs;

TEST(CampaignShards, EverySeedOfTheRangeIsInExactlyOneShard) {
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  int ranges = 0;
  for (const std::uint64_t first : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{10},
                                    std::uint64_t{1} << 40, top - 1000}) {
    for (const std::uint64_t count : {0, 1, 2, 3, 7, 8, 29, 30, 31, 100, 999, 1000}) {
      for (const std::uint64_t shards : {1, 2, 3, 4, 7, 8, 16, 30, 64, 1000, 5000}) {
        ++ranges;
        std::map<std::uint64_t, int> times;
        std::uint64_t total = 0;
        for (std::uint64_t index = 0; index < shards; ++index) {
          const Shard shard{index, shards};
          const SeedSlice slice(first, count, shard);
          total += slice.size();
          for (std::uint64_t i = 0; i < slice.size(); ++i) {
            const std::uint64_t seed = slice.at(i);
            ASSERT_GE(seed, first);
            ASSERT_LT(seed - first, count) << "a seed past the range";
            ASSERT_TRUE(in_shard(seed, first, shard)) << seed << " in shard " << index;
            if (i > 0) {
              ASSERT_GT(seed, slice.at(i - 1)) << "not in increasing order";
            }
            ++times[seed];
          }
        }
        ASSERT_EQ(total, count) << "first=" << first << " count=" << count << " N=" << shards;
        ASSERT_EQ(times.size(), count);
        for (const auto& [seed, n] : times)
          ASSERT_EQ(n, 1) << "seed " << seed << " in " << n << " shards";
        // in_shard names exactly one shard for every seed of the range.
        if (shards > 64) continue;
        for (std::uint64_t offset = 0; offset < count; ++offset) {
          int owners = 0;
          for (std::uint64_t index = 0; index < shards; ++index)
            owners += in_shard(first + offset, first, Shard{index, shards}) ? 1 : 0;
          ASSERT_EQ(owners, 1) << "seed " << first + offset;
        }
      }
    }
  }
  EXPECT_EQ(ranges, 5 * 12 * 11);
}

TEST(CampaignShards, TheRuleIsSeedMinusFirstModuloN) {
  const SeedSlice slice(100, 30, Shard{2, 8});
  std::vector<std::uint64_t> seeds;
  for (std::uint64_t i = 0; i < slice.size(); ++i)
    seeds.push_back(slice.at(i));
  EXPECT_EQ(seeds, (std::vector<std::uint64_t>{102, 110, 118, 126}));
  EXPECT_EQ(SeedSlice(0, 5, Shard{7, 8}).size(), 0u);  // more shards than seeds: some empty
}

TEST(CampaignShards, ParseAcceptsIOverNWithIBelowN) {
  Shard shard;
  ASSERT_EQ(parse_shard("0/1", shard), ShardError::none);
  EXPECT_EQ(shard.index, 0u);
  EXPECT_EQ(shard.count, 1u);
  ASSERT_EQ(parse_shard("7/8", shard), ShardError::none);
  EXPECT_EQ(shard.index, 7u);
  EXPECT_EQ(shard.count, 8u);
  ASSERT_EQ(parse_shard("18446744073709551614/18446744073709551615", shard), ShardError::none);
  EXPECT_EQ(shard.count, std::numeric_limits<std::uint64_t>::max());
}

TEST(CampaignShards, ParseRejectsWithATypedError) {
  Shard shard{3, 5};
  EXPECT_EQ(parse_shard("8/8", shard), ShardError::index_out_of_range);
  EXPECT_EQ(parse_shard("9/8", shard), ShardError::index_out_of_range);
  EXPECT_EQ(parse_shard("0/0", shard), ShardError::no_shards);
  EXPECT_EQ(parse_shard("1/0", shard), ShardError::no_shards);
  for (const char* bad :
       {"", "1", "/", "/3", "1/", "a/3", "1/b", "1/3x", "-1/3", "+1/3", " 1/3", "1/ 3", "1//3",
        "1/3/5", "0x1/3", "1.0/3", "18446744073709551616/18446744073709551617"})
    EXPECT_EQ(parse_shard(bad, shard), ShardError::malformed) << '"' << bad << '"';
  EXPECT_EQ(shard.index, 3u) << "a rejected text left the shard changed";
  EXPECT_EQ(shard.count, 5u);
  for (const ShardError error :
       {ShardError::malformed, ShardError::no_shards, ShardError::index_out_of_range})
    EXPECT_NE(std::string(shard_error_text(error)), "");
}

TEST(CampaignSeconds, DurationsReadBackExactly) {
  for (const TimeNs ns : {TimeNs{0}, TimeNs{1}, TimeNs{999'999'999}, TimeNs{1'000'000'000},
                          TimeNs{1'234'567'891}, TimeNs{2'500'000'000}, TimeNs{30'000'000'000},
                          TimeNs{300'000'000}, TimeNs{86'400'000'000'001}}) {
    const std::string text = seconds_text(ns);
    TimeNs back = -1;
    ASSERT_TRUE(parse_seconds(text.c_str(), back)) << text;
    EXPECT_EQ(back, ns) << text;
  }
  EXPECT_EQ(seconds_text(10'000'000'000), "10");
  EXPECT_EQ(seconds_text(2'500'000'000), "2.5");
  EXPECT_EQ(seconds_text(1'000'000'001), "1.000000001");
  TimeNs ns = 7;
  for (const char* bad : {"", "x", "1x", "-1", "nan", "inf", "1e300"})
    EXPECT_FALSE(parse_seconds(bad, ns)) << bad;
  EXPECT_EQ(ns, 7);
}

SimOptions failing_options() {
  SimOptions options;
  options.seed = 19;
  options.nodes = 3;
  options.profile = Profile::swarm;
  options.fault_ns = 1'500'000'000;
  options.requests_per_s = 12.5;
  options.faults_off = {"jitter", "hang"};
  options.canary = "old_generation_frames";
  return options;
}

TEST(CampaignRecords, AFailingSeedsLineParsesBackWithEveryField) {
  SimResult result;
  result.kind = SimResult::Kind::safety;
  result.message = "at 5 ns: \"quoted\" \\ back\nslash\ttab \x01 caf\xc3\xa9";
  result.events = 12345;
  result.trace_hash = 0x00ab'cdef'0123'4567;
  result.sim_ns = 61'500'000'000;
  result.workload.requests_per_s = 12.5;
  const std::string line = seed_json_line(failing_options(), result, 0.25);
  EXPECT_EQ(line.find('\n'), std::string::npos) << "a record must be one line";
  FlatJson record;
  std::string error;
  ASSERT_TRUE(parse_flat_json(line, record, error)) << error << "\n" << line;
  using Type = JsonValue::Type;
  struct Field {
    const char* key;
    Type type;
    std::string text;
  };
  // Every field, in the order docs/SIMULATION.md gives.
  const std::vector<Field> fields = {
      {"seed", Type::number, "19"},
      {"result", Type::string, "fail"},
      {"outcome", Type::string, "safety"},
      {"profile", Type::string, "swarm"},
      {"nodes", Type::number, "3"},
      {"duration", Type::number, "1.5"},
      {"rate", Type::number, "12.5"},
      {"canary", Type::string, "old_generation_frames"},
      {"faults_off", Type::string, "jitter,hang"},
      {"trace_hash", Type::string, "00abcdef01234567"},
      {"events", Type::number, "12345"},
      {"sim_s", Type::number, "61.500"},
      {"wall_s", Type::number, "0.250"},
      {"reason", Type::string, result.message},
      {"replay", Type::string,
       "weft-sim run --seed 19 --nodes 3 --profile swarm --duration 1.5 --rate 12.5 "
       "--faults-off jitter,hang --canary old_generation_frames"},
  };
  EXPECT_EQ(record.size(), fields.size());
  std::size_t previous = 0;
  for (const Field& field : fields) {
    ASSERT_EQ(record.count(field.key), 1u) << field.key;
    EXPECT_EQ(record.at(field.key).text, field.text) << field.key;
    EXPECT_EQ(record.at(field.key).type, field.type) << field.key;
    const std::size_t at = line.find(std::string("\"") + field.key + "\":");
    EXPECT_GE(at, previous) << field.key << " out of order in " << line;
    previous = at;
  }
}

TEST(CampaignRecords, APassingSeedHasAnEmptyReason) {
  SimOptions options;
  options.seed = 4;
  SimResult result;
  result.workload.requests_per_s = 400;
  FlatJson record;
  std::string error;
  ASSERT_TRUE(parse_flat_json(seed_json_line(options, result, 0), record, error)) << error;
  EXPECT_EQ(record.at("result").text, "pass");
  EXPECT_EQ(record.at("outcome").text, "pass");
  EXPECT_EQ(record.at("reason").text, "");
  EXPECT_EQ(record.at("replay").text,
            "weft-sim run --seed 4 --nodes 8 --profile chaos --duration 30");
}

TEST(CampaignRecords, TheParserReadsEscapesNumbersAndLiterals) {
  FlatJson record;
  std::string error;
  ASSERT_TRUE(parse_flat_json(
      R"( { "a" : "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00" , "n":-0.5e+3, "t":true,"f":false,"z":null } )",
      record, error))
      << error;
  EXPECT_EQ(record.at("a").text, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(record.at("n").text, "-0.5e+3");
  EXPECT_EQ(record.at("n").type, JsonValue::Type::number);
  EXPECT_EQ(record.at("t").type, JsonValue::Type::literal);
  EXPECT_EQ(record.at("z").text, "null");
  ASSERT_TRUE(parse_flat_json("{}", record, error));
  EXPECT_TRUE(record.empty());
}

TEST(CampaignRecords, TheParserNamesWhatIsWrongAndWhere) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "'{' expected at column 1"},
      {"[1]", "'{' expected at column 1"},
      {"{", "a key (a string) expected at column 2"},
      {R"({"a":1,})", "a key (a string) expected at column 8"},
      {R"({"a":{}})", "a nested object or array (records are flat) at column 6"},
      {R"({"a":[1]})", "a nested object or array (records are flat) at column 6"},
      {R"({"a":1 "b":2})", "'}' expected at column 8"},
      {R"({"a":1,"a":2})", "a key given twice at column 8"},
      {R"({"a":1} x)", "text after the object at column 9"},
      {R"({"a":"\x"})", "an unknown escape at column 8"},
      {R"({"a":"\u12g4"})", "four hex digits expected after \\u at column 11"},
      {R"({"a":"\udc00"})", "a lone low surrogate at column 13"},
      {R"({"a":"\ud800x"})", "a high surrogate without its low one at column 13"},
      {R"({"a":01})", "a number with a leading zero at column 7"},
      {R"({"a":1.})", "digits expected after '.' at column 8"},
      {R"({"a":-})", "digits expected at column 7"},
      {R"({"a":1e})", "digits expected in the exponent at column 8"},
      {R"({"a":tru})", "a value expected at column 6"},
      {R"({"a":)", "a value expected, the line ended at column 6"},
      {R"({"a":"abc)", "the line ended inside a string at column 10"},
      {"{\"a\":\"x\ny\"}", "a control character in a string at column 8"},
      {R"({"a" 1})", "':' expected at column 6"},
  };
  for (const auto& [line, expected] : cases) {
    FlatJson record;
    std::string error;
    EXPECT_FALSE(parse_flat_json(line, record, error)) << line;
    EXPECT_EQ(error, expected) << line;
  }
}

std::string record(std::uint64_t seed, bool pass, const std::string& hash = "00000000000000aa") {
  return "{\"seed\":" + std::to_string(seed) + ",\"result\":\"" + (pass ? "pass" : "fail") +
         "\",\"outcome\":\"" + (pass ? "pass" : "liveness") + "\",\"trace_hash\":\"" + hash +
         "\",\"reason\":\"" + (pass ? "" : "at 1 ns: stuck") +
         "\",\"replay\":\"weft-sim run --seed " + std::to_string(seed) + " --nodes 8\"}";
}

TEST(CampaignMerge, ACompleteRangeOfPassingSeedsIsOk) {
  Merge merge;
  for (std::uint64_t seed = 5; seed < 15; ++seed)
    merge.add_line(record(seed, true), "a:" + std::to_string(seed));
  merge.add_line("   ", "a:99");
  EXPECT_EQ(merge.seeds(), 10u);
  EXPECT_EQ(merge.failed(), 0u);
  EXPECT_TRUE(merge.missing(SeedRange{5, 10}).empty());
  EXPECT_TRUE(merge.extra(SeedRange{5, 10}).empty());
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(merge.report(out, SeedRange{5, 10}), 0);
  EXPECT_EQ(merge.report(out, std::nullopt), 0);
  std::fclose(out);
}

TEST(CampaignMerge, FindsDuplicatesMissingExtraAndFailingSeeds) {
  Merge merge;
  for (const std::uint64_t seed : {0, 1, 2, 4, 5, 9, 12, 13})
    merge.add_line(record(seed, seed != 5), "a:" + std::to_string(seed));
  merge.add_line(record(2, true), "b:1");                      // the same again
  merge.add_line(record(4, true, "00000000000000bb"), "b:2");  // differs
  EXPECT_EQ(merge.seeds(), 8u);
  EXPECT_EQ(merge.failed(), 1u);
  EXPECT_EQ(merge.duplicates(), 2u);
  using Gaps = std::vector<std::pair<std::uint64_t, std::uint64_t>>;
  EXPECT_EQ(merge.missing(SeedRange{0, 10}), (Gaps{{3, 3}, {6, 8}}));
  EXPECT_EQ(merge.extra(SeedRange{0, 10}), (std::vector<std::uint64_t>{12, 13}));
  EXPECT_EQ(merge.missing(SeedRange{0, 1}), Gaps{});
  EXPECT_EQ(merge.missing(SeedRange{10, 2}), (Gaps{{10, 11}}));
  EXPECT_EQ(merge.missing(SeedRange{11, 5}), (Gaps{{11, 11}, {14, 15}}));
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(merge.report(out, SeedRange{0, 10}), 1);
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;)
    text += static_cast<char>(c);
  std::fclose(out);
  for (const char* expected :
       {"seeds=8 passed=7 failed=1 duplicates=2 lines=10\n",
        "duplicate: seed 2 at b:1, first at a:2\n",
        "duplicate: seed 4 at b:2, first at a:4 (differs: pass 00000000000000aa then pass "
        "00000000000000bb)\n",
        "failed: seed 5 (liveness, a:5): at 1 ns: stuck\n  replay: weft-sim run --seed 5 "
        "--nodes 8\n",
        "range first=0 count=10: INCOMPLETE missing=4 extra=2\n", "missing: 3, 6-8\n",
        "extra: 12-13\n", "merge: FAILED\n"})
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\nnot in:\n" << text;
}

TEST(CampaignMerge, ARangeEndingAtTheLastSeedIsComplete) {
  const std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  Merge merge;
  merge.add_line(record(top - 1, true), "a:1");
  merge.add_line(record(top, true), "a:2");
  EXPECT_TRUE(merge.missing(SeedRange{top - 1, 2}).empty());
  EXPECT_EQ(merge.missing(SeedRange{top - 2, 3}).size(), 1u);
}

TEST(CampaignMerge, AMalformedLineIsAnErrorWithItsFileAndLine) {
  Merge merge;
  merge.add_line(record(1, true), "shard-0.jsonl:1");
  merge.add_line(R"({"seed":2,"result":"pass")", "shard-0.jsonl:2");
  merge.add_line(R"({"seed":-3,"result":"pass","replay":"weft-sim run --seed 3"})",
                 "shard-0.jsonl:3");
  merge.add_line(R"({"seed":4,"result":"maybe","replay":"weft-sim run --seed 4"})",
                 "shard-1.jsonl:7");
  merge.add_line(R"({"seed":5,"result":"pass","replay":"rm -rf /"})", "shard-1.jsonl:8");
  merge.add_line(R"({"seed":"6","result":"pass","replay":"weft-sim run --seed 6"})",
                 "shard-1.jsonl:9");
  EXPECT_EQ(merge.seeds(), 1u);
  const std::vector<std::string> expected = {
      "shard-0.jsonl:2: '}' expected at column 26",
      "shard-0.jsonl:3: no \"seed\" that is a whole number >= 0",
      "shard-1.jsonl:7: no \"result\" that is \"pass\" or \"fail\"",
      "shard-1.jsonl:8: no \"replay\" that is a weft-sim run command",
      "shard-1.jsonl:9: no \"seed\" that is a whole number >= 0",
  };
  EXPECT_EQ(merge.errors(), expected);
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(merge.report(out, std::nullopt), 2);
  std::fclose(out);
}

// A result file from a worker that cannot be trusted: a replay command that would run more
// than weft-sim (`;`, a newline, `$(...)`) is an error, and control bytes in the text fields
// are printed escaped, so the report cannot draw on the operator's terminal or fake a line.
TEST(CampaignMerge, AHostileLineCannotPlantACommandOrDrawOnTheTerminal) {
  Merge merge;
  merge.add_line(R"({"seed":1,"result":"fail","outcome":"x","reason":"r",)"
                 R"("replay":"weft-sim run --seed 1; rm -rf ~"})",
                 "evil:1");
  merge.add_line(R"({"seed":2,"result":"fail","outcome":"x","reason":"r",)"
                 R"("replay":"weft-sim run --seed 2\nmerge: ok"})",
                 "evil:2");
  merge.add_line(R"({"seed":3,"result":"fail","outcome":"x","reason":"r",)"
                 R"j("replay":"weft-sim run --seed $(id)"})j",
                 "evil:3");
  merge.add_line(
      R"({"seed":4,"result":"fail","outcome":"\u001b[2J","reason":"a\u001b[31m\nmerge: ok",)"
      R"("replay":"weft-sim run --seed 4 --faults-off reset,clog --duration 1.5"})",
      "evil:4");
  const std::vector<std::string> expected = {
      "evil:1: no \"replay\" that is a weft-sim run command",
      "evil:2: no \"replay\" that is a weft-sim run command",
      "evil:3: no \"replay\" that is a weft-sim run command",
  };
  EXPECT_EQ(merge.errors(), expected);
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  merge.report(out, std::nullopt);
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;)
    text += static_cast<char>(c);
  std::fclose(out);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find("\nmerge: ok"), std::string::npos) << text;
  EXPECT_NE(text.find("failed: seed 4 (\\x1b[2J, evil:4): a\\x1b[31m\\x0amerge: ok\n"),
            std::string::npos)
      << text;
}

TEST(CampaignMerge, AnUnreadableFileIsAnError) {
  Merge merge;
  EXPECT_FALSE(merge.add_file("/nonexistent/weft-campaign.jsonl"));
  ASSERT_EQ(merge.errors().size(), 1u);
  EXPECT_EQ(merge.errors()[0].rfind("/nonexistent/weft-campaign.jsonl: cannot open", 0), 0u);
}

}  // namespace
