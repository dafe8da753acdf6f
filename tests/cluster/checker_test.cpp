// The checker of weft-chaos runs, on small hand-made runs: a clean one passes, and each way a
// run can break a rule is reported under that rule. Also the record format and the schedule.
#include "checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "checker_test_support.hpp"
#include "jsonl.hpp"
#include "payload.hpp"
#include "schedule.hpp"
#include "timeline.hpp"

namespace weft::chaos {
namespace {

TEST(ChaosChecker, ACleanRunPasses) {
  FakeRun run;
  const Verdict verdict = run.check();
  EXPECT_TRUE(verdict.passed()) << verdict.violations.front();
  EXPECT_EQ(verdict.counts.at("ops"), 3);
  EXPECT_EQ(verdict.counts.at("stream_messages"), 2);
  EXPECT_EQ(verdict.counts.at("fault:pause"), 1);
  EXPECT_EQ(verdict.seed, 42);
  EXPECT_EQ(verdict.replay, "weft-chaos run --seed 42");
}

TEST(ChaosChecker, ACallEndedTwiceOrNeverIsReported) {
  FakeRun twice;
  twice.driver.insert(
      twice.driver.begin() + 3,
      FakeRun::op(0, "end").add("error", "disconnected").add("t_ns", 5 * kSecond + 2000).str());
  expect_only(twice.check(), "exactly-once");
  FakeRun never;
  never.driver.erase(never.driver.begin() + 2);  // op 0's end
  expect_only(never.check(), "exactly-once");
}

TEST(ChaosChecker, WrongBytesAreReported) {
  FakeRun run;
  replace(run.driver, R"("op":0,"ev":"end")",
          FakeRun::op(0, "end")
              .add("error", "ok")
              .add("bytes", 100)
              .add("got", "0000000000000000")
              .add("t_ns", 5 * kSecond + 1000)
              .str());
  expect_only(run.check(), "bytes");
}

TEST(ChaosChecker, AStreamWithAMissingOrRepeatedMessageIsReported) {
  FakeRun gap;
  replace(gap.driver, R"("seq":0)", "");  // message 0 lost: 1 arrives first
  const Verdict verdict = gap.check();
  ASSERT_FALSE(verdict.passed());
  EXPECT_TRUE(verdict.violations.front().starts_with("[streams]")) << verdict.violations.front();
  FakeRun repeated;
  const auto first = stream_message("load1", 1, 0);
  replace(repeated.driver, R"("seq":1)",
          FakeRun::op(1, "msg")
              .add("seq", 1)
              .add("bytes", static_cast<std::int64_t>(first.size()))
              .add("got", digest(first))
              .add("t_ns", 6 * kSecond + 1)
              .str());
  EXPECT_FALSE(repeated.check().passed());
}

TEST(ChaosChecker, ACallEndingPastItsDeadlineAndSlackIsReported) {
  FakeRun run;
  // 1000 ms deadline + 1000 ms slack; ending at 2.5 s is late.
  replace(run.driver, R"("op":0,"ev":"end")",
          FakeRun::op(0, "end")
              .add("error", "deadline_exceeded")
              .add("t_ns", 5 * kSecond + 2'500'000'000)
              .str());
  expect_has(run.check(), "deadline");  // and no fault explains it: outcome too
}

TEST(ChaosChecker, AnErrorNoFaultExplainsIsReported) {
  FakeRun run;
  replace(run.driver, R"("op":0,"ev":"end")",
          FakeRun::op(0, "end")
              .add("error", "protocol_error")
              .add("message", "x")
              .add("t_ns", 5 * kSecond + 10)
              .str());
  expect_has(run.check(), "outcome");
  FakeRun succeeded;  // the fail handler never answers ok
  replace(succeeded.driver, R"("op":2,"ev":"end")",
          FakeRun::op(2, "end")
              .add("error", "ok")
              .add("bytes", 1)
              .add("got", digest("x"))
              .add("t_ns", 8 * kSecond + 5)
              .str());
  expect_only(succeeded.check(), "outcome");
}

TEST(ChaosChecker, AProbeThatNeverAnsweredOrAnsweredLateIsReported) {
  FakeRun failed;
  replace(failed.driver, R"("target":"n2","via")",
          FakeRun::line("probe")
              .add("target", "n2")
              .add("via", "")
              .add("result", "disconnected")
              .add("attempts", 9)
              .add("t_ns", kHeal + 20 * kSecond)
              .str());
  expect_only(failed.check(), "liveness");
  FakeRun late;
  replace(late.driver, R"("target":"n2","via")",
          FakeRun::line("probe")
              .add("target", "n2")
              .add("via", "")
              .add("result", "ok")
              .add("attempts", 90)
              .add("t_ns", kHeal + 25 * kSecond)
              .str());
  expect_only(late.check(), "liveness");
}

TEST(ChaosChecker, ANodeWithoutItsPeerUpAtTheShutdownIsReported) {
  FakeRun run;
  run.nodes["n2"].push_back(
      JsonLine().add("t_ns", 3).add("proc", "n2").add("ev", "peer_down").add("peer", "n1").str());
  expect_only(run.check(), "liveness");
}

TEST(ChaosChecker, AnUnexpectedExitAndTooMuchMemoryAreReported) {
  FakeRun crashed;
  crashed.run.insert(crashed.run.begin() + 1, JsonLine()
                                                  .add("ev", "exit")
                                                  .add("proc", "n1")
                                                  .add("status", "signal 11")
                                                  .add("expected", 0)
                                                  .str());
  expect_only(crashed.check(), "processes");
  FakeRun heavy;
  replace(heavy.run, R"("ev":"rss")",
          JsonLine().add("ev", "rss").add("proc", "n1").add("max_kib", 100001).str());
  expect_only(heavy.check(), "memory");
}

TEST(ChaosChecker, AnUnfinishedRunOrABrokenLineIsReported) {
  FakeRun unfinished;
  unfinished.run.pop_back();
  expect_only(unfinished.check(), "run");
  FakeRun broken;
  broken.driver.insert(broken.driver.begin() + 1, "{\"proc\":\"load1\",\"ev\":\n");
  expect_only(broken.check(), "records");
}

TEST(ChaosChecker, ADeadlineThatFiresEarlyIsReported) {
  FakeRun run;  // 1000 ms deadline, over after 500 ms
  replace(run.driver, R"("op":0,"ev":"end")",
          FakeRun::op(0, "end")
              .add("error", "deadline_exceeded")
              .add("t_ns", 5 * kSecond + 500'000'000)
              .str());
  expect_has(run.check(), "deadline");
}

// A failure needs a fault on the call's path during the call or shortly before.
TEST(ChaosChecker, AFailureNoFaultExplainsIsReportedAndOneAFaultExplainsIsNot) {
  // op 0 (load1 to n1, started at 5 s) ends disconnected after 100 ns.
  const auto disconnect = [](FakeRun& run) {
    replace(
        run.driver, R"("op":0,"ev":"end")",
        FakeRun::op(0, "end").add("error", "disconnected").add("t_ns", 5 * kSecond + 100).str());
  };
  FakeRun calm;
  disconnect(calm);
  {
    SCOPED_TRACE("calm");
    expect_only(calm.check(), "outcome");
  }
  FakeRun elsewhere;  // a partition between other members does not explain it
  elsewhere.add_fault(7, "partition", "n2", "load1", 4 * kSecond);
  disconnect(elsewhere);
  {
    SCOPED_TRACE("elsewhere");
    expect_only(elsewhere.check(), "outcome");
  }
  FakeRun long_before;  // one of load1 from n1 that ended 13 s before: too long ago
  long_before.add_fault(7, "partition", "n1", "load1", -9 * kSecond, -8 * kSecond);
  disconnect(long_before);
  {
    SCOPED_TRACE("long_before");
    expect_only(long_before.check(), "outcome");
  }
  FakeRun explained;  // one of load1 from n1 that ended 3 s before the call
  explained.add_fault(7, "partition", "n1", "load1", 1 * kSecond, 2 * kSecond);
  disconnect(explained);
  const Verdict verdict = explained.check();
  EXPECT_TRUE(verdict.passed()) << all(verdict);
  EXPECT_EQ(verdict.counts.at("failures_explained"), 1);
}

TEST(ChaosChecker, ARelayThatFailedWithAnInnerErrorNoFaultCausesIsReported) {
  FakeRun run;
  run.add_fault(7, "pause", "n2", "", 9 * kSecond);
  run.add_relay("relay to n2: protocol_error", 9 * kSecond);
  expect_only(run.check(), "outcome");
}

TEST(ChaosChecker, ACancelThatWasTakenButDidNotEndTheCallIsReported) {
  FakeRun run;
  run.add_fault(7, "pause", "n2", "", 9 * kSecond);
  run.driver.insert(run.driver.begin() + 1, FakeRun::op(3, "invoke")
                                                .add("kind", "cancel")
                                                .add("target", "n2")
                                                .add("timeout_ms", 10000)
                                                .add("t_ns", 9 * kSecond)
                                                .str());
  run.driver.insert(
      run.driver.begin() + 2,
      FakeRun::op(3, "cancel").add("result", "ok").add("t_ns", 9 * kSecond + 100'000'000).str());
  run.driver.insert(
      run.driver.begin() + 3,
      FakeRun::op(3, "end").add("error", "deadline_exceeded").add("t_ns", 19 * kSecond).str());
  expect_only(run.check(), "outcome");
}

TEST(ChaosChecker, AnOperationMissingWithAllItsRecordsIsReported) {
  FakeRun run;
  run.driver.insert(run.driver.end() - 3,
                    FakeRun::line("load_end").add("ops", 4).add("t_ns", kHeal).str());
  expect_only(run.check(), "exactly-once");
}

TEST(ChaosChecker, AStreamWriteRefusedWhileTheStreamWasOpenIsReported) {
  FakeRun run;
  run.driver.insert(run.driver.begin() + 4, FakeRun::op(1, "write_refused")
                                                .add("seq", 1)
                                                .add("error", "queue_full")
                                                .add("t_ns", 6 * kSecond)
                                                .str());
  expect_only(run.check(), "outcome");
}

TEST(ChaosChecker, AResidentSetThatKeepsGrowingIsReported) {
  FakeRun leaking;
  FakeRun steady;
  for (int i = 0; i < 16; ++i) {
    leaking.run.insert(leaking.run.begin() + 1, JsonLine()
                                                    .add("ev", "rss_sample")
                                                    .add("proc", "n1")
                                                    .add("start", 1)
                                                    .add("kib", 20000 + (15 - i) * 8000)
                                                    .str());
    steady.run.insert(steady.run.begin() + 1, JsonLine()
                                                  .add("ev", "rss_sample")
                                                  .add("proc", "n1")
                                                  .add("start", 1)
                                                  .add("kib", 20000 + (i % 3) * 1000)
                                                  .str());
  }
  expect_only(leaking.check(), "memory");
  const Verdict verdict = steady.check();
  EXPECT_TRUE(verdict.passed()) << verdict.violations.front();
}

// The trace has a track per process and for the faults, a span per call, per connection and
// per fault, every span closed, and is one JSON array.
TEST(ChaosTimeline, EveryProcessHasATrackAndEverySpanCloses) {
  FakeRun run;
  run.run.insert(run.run.begin() + 2, JsonLine()
                                          .add("ev", "fault_end")
                                          .add("fault", 1)
                                          .add("kind", "pause")
                                          .add("what", "pause n1")
                                          .add("members", "n1")
                                          .add("t_ns", 11 * kSecond)
                                          .str());
  replace(run.run, R"("ev":"fault_begin")",
          JsonLine()
              .add("ev", "fault_begin")
              .add("fault", 1)
              .add("kind", "pause")
              .add("what", "pause n1")
              .add("members", "n1")
              .add("t_ns", 10 * kSecond)
              .str());
  for (const char* node : {"n1", "n2"}) {
    const std::string peer = node == std::string("n1") ? "n2" : "n1";
    run.nodes[node].push_back(JsonLine()
                                  .add("t_ns", 20 * kSecond)
                                  .add("proc", node)
                                  .add("ev", "peer_down")
                                  .add("peer", peer)
                                  .str());
  }
  const std::string dir = run.write_all();
  const std::string out = dir + "/trace.json";
  std::string error;
  ASSERT_TRUE(write_timeline(dir, out, error)) << error;
  std::ifstream file(out);
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.front(), '[');
  EXPECT_EQ(text.substr(text.size() - 2), "]\n");
  for (const char* track : {"cluster", "n1", "n2", "load1", "n1-n2"})
    EXPECT_NE(text.find(R"("args":{"name":")" + std::string(track) + "\"}"), std::string::npos)
        << track;
  const auto count = [&](std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  // 3 calls + 2 connections (each on its node's track) + 1 on the pair's + 1 fault.
  EXPECT_EQ(count(R"("ph":"b")"), 7u);
  EXPECT_EQ(count(R"("ph":"e")"), 7u);
  EXPECT_EQ(count(R"("pid":2)"), 4u);  // "links", the pair's track, its span's begin and end
  EXPECT_EQ(count(R"("name":"begin pause n1")"), 1u);  // on n1's own track too
  std::string missing_error;
  EXPECT_FALSE(write_timeline(dir + "/nothing-here", out, missing_error));
  EXPECT_NE(missing_error.find("no run records"), std::string::npos) << missing_error;
}

TEST(ChaosRecords, LinesRoundTripAndBadOnesSayWhere) {
  const std::string text = JsonLine().add("a", "x\"y\\z").add("n", -42).str();
  std::string error;
  const auto record = parse_line(std::string_view(text).substr(0, text.size() - 1), error);
  ASSERT_TRUE(record) << error;
  EXPECT_EQ(record->str("a"), "x\"y\\z");
  EXPECT_EQ(record->num("n"), -42);
  EXPECT_FALSE(parse_line(R"({"a":1,})", error));
  EXPECT_EQ(error, "byte 7: expected '\"'");
  EXPECT_FALSE(parse_line(R"({"a":tru})", error));
  EXPECT_FALSE(parse_line(R"({"a":1} x)", error));
}

ScheduleOptions five_nodes(std::uint64_t seed, std::int64_t duration_ms) {
  return {seed, {"n1", "n2", "n3", "n4", "n5"}, {"load1", "load2"}, duration_ms};
}

TEST(ChaosSchedule, TheSameSeedGivesTheSameFaultsAndAnotherSeedOthers) {
  const auto describe = [](const std::vector<Fault>& faults) {
    std::string text;
    for (const Fault& f : faults)
      text +=
          std::to_string(f.start_ms) + " " + std::to_string(f.end_ms) + " " + f.describe() + "\n";
    return text;
  };
  EXPECT_EQ(describe(make_schedule(five_nodes(7, 45'000))),
            describe(make_schedule(five_nodes(7, 45'000))));
  EXPECT_NE(describe(make_schedule(five_nodes(7, 45'000))),
            describe(make_schedule(five_nodes(8, 45'000))));
}

TEST(ChaosSchedule, EveryKindComesFirstThenFaultsFillTheTimeWithoutOverlap) {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const auto faults = make_schedule(five_nodes(seed, 45'000));
    std::set<FaultKind> first_kinds;
    for (std::size_t i = 0; i < kFaultKinds; ++i)
      first_kinds.insert(faults.at(i).kind);
    EXPECT_EQ(first_kinds.size(), static_cast<std::size_t>(kFaultKinds)) << seed;
    for (std::size_t i = 0; i < faults.size(); ++i) {
      const Fault& f = faults[i];
      EXPECT_GT(f.end_ms, f.start_ms);
      if (i > 0) {
        EXPECT_GT(f.start_ms, faults[i - 1].end_ms) << seed;
      }
      if (i >= static_cast<std::size_t>(kFaultKinds)) {
        EXPECT_LE(f.end_ms, 45'000) << seed;
      }
      for (const std::string& a : f.from)
        for (const std::string& b : f.to)
          EXPECT_NE(a, b) << seed;
      const bool process_fault = f.kind == FaultKind::pause || f.kind == FaultKind::crash ||
                                 f.kind == FaultKind::half_open;
      if (process_fault) {
        EXPECT_TRUE(f.from.front().starts_with("n")) << "only nodes are stopped or killed";
      }
      if (f.kind == FaultKind::loss) {
        EXPECT_TRUE(f.loss_percent >= 1 && f.loss_percent <= 20);
      }
    }
  }
}

}  // namespace
}  // namespace weft::chaos
