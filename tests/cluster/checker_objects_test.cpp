// The checker's objects rule on hand-made runs: a clean object stream passes, and each way
// the records can show an object lost, repeated, reordered, altered or failed without a
// cause is reported under `objects`.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "checker.hpp"
#include "checker_test_support.hpp"
#include "jsonl.hpp"
#include "payload.hpp"

namespace weft::chaos {
namespace {

struct FakeObject {
  std::string source;  // none, memory, file, producer
  std::int64_t bytes = 0;
  std::int64_t offset = 0;
};

std::string object_digest(std::int64_t op, std::int64_t seq, const FakeObject& object) {
  const auto size = static_cast<std::size_t>(object.bytes);
  if (object.source == "none") return digest(std::span<const std::uint8_t>());
  if (object.source != "file") return digest(object_data("load1", op, seq, size));
  return digest(std::span<const std::uint8_t>(object_file("load1"))
                    .subspan(static_cast<std::size_t>(object.offset), size));
}

const std::vector<FakeObject> kFour = {
    {"none", 0, 0}, {"memory", 3000, 0}, {"file", 70000, 12345}, {"producer", 0, 0}};

// The delivery record `node` writes for object `seq` of stream `op`.
std::string delivered(std::string_view node, std::int64_t op, std::int64_t seq,
                      const FakeObject& object, std::int64_t t_ns) {
  const std::string stream = "load1/" + std::to_string(op);
  return JsonLine()
      .add("t_ns", t_ns)
      .add("proc", node)
      .add("ev", "object_delivered")
      .add("peer", "load1")
      .add("stream", stream)
      .add("seq", seq)
      .add("object", seq)
      .add("name", stream + "/" + std::to_string(seq))
      .add("bytes", object.bytes)
      .add("digest", object_digest(op, seq, object))
      .str();
}

// Object stream `op` from load1 to `target` starting at `t0`, every object completed ok and
// delivered, ended with fin; or with `stop`, stopped after the objects completed.
void add_stream(FakeRun& run, std::int64_t op, const std::string& target,
                const std::vector<FakeObject>& objects, bool stop = false,
                std::int64_t t0 = 20 * kSecond) {
  auto& d = run.driver;
  d.push_back(FakeRun::op(op, "invoke")
                  .add("kind", "objects")
                  .add("target", target)
                  .add("timeout_ms", 20000)
                  .add("objects", static_cast<std::int64_t>(objects.size()))
                  .add("finish", stop ? "stop" : "fin")
                  .add("stream", "load1/" + std::to_string(op))
                  .add("t_ns", t0)
                  .str());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto seq = static_cast<std::int64_t>(i + 1);
    d.push_back(FakeRun::op(op, "obj_post")
                    .add("seq", seq)
                    .add("name", "load1/" + std::to_string(op) + "/" + std::to_string(seq))
                    .add("source", objects[i].source)
                    .add("bytes", objects[i].bytes)
                    .add("offset", objects[i].offset)
                    .add("digest", object_digest(op, seq, objects[i]))
                    .add("t_ns", t0 + seq)
                    .str());
  }
  if (!stop) d.push_back(FakeRun::op(op, "obj_fin").add("result", "ok").add("t_ns", t0 + 50).str());
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const auto seq = static_cast<std::int64_t>(i + 1);
    run.nodes[target].push_back(delivered(target, op, seq, objects[i], t0 + 1000 * seq));
    d.push_back(FakeRun::op(op, "obj_done")
                    .add("seq", seq)
                    .add("object", seq)
                    .add("error", "ok")
                    .add("message", "")
                    .add("t_ns", t0 + 1000 * seq + 10)
                    .str());
  }
  if (stop) {
    d.push_back(FakeRun::op(op, "obj_stop").add("reason", "planned").add("t_ns", t0 + 9000).str());
    d.push_back(FakeRun::op(op, "obj_stopped").add("result", "ok").add("t_ns", t0 + 9001).str());
  }
  d.push_back(FakeRun::op(op, "end")
                  .add("error", stop ? "canceled" : "ok")
                  .add("completed", static_cast<std::int64_t>(objects.size()))
                  .add("message", "")
                  .add("t_ns", t0 + 10000)
                  .str());
}

// The record of object `seq` of `op`'s completion, as add_stream wrote it.
std::string done_needle(std::int64_t op, std::int64_t seq) {
  return "\"op\":" + std::to_string(op) + ",\"ev\":\"obj_done\",\"seq\":" + std::to_string(seq) +
         ",";
}

std::string done(std::int64_t op, std::int64_t seq, std::string_view error, std::int64_t t_ns) {
  return FakeRun::op(op, "obj_done")
      .add("seq", seq)
      .add("object", seq)
      .add("error", error)
      .add("message", "")
      .add("t_ns", t_ns)
      .str();
}

// The line of `lines` with `needle`, removed.
void remove_line(std::vector<std::string>& lines, std::string_view needle) {
  for (auto it = lines.begin(); it != lines.end(); ++it) {
    if (it->find(needle) != std::string::npos) {
      lines.erase(it);
      return;
    }
  }
  FAIL() << "no line with " << needle;
}

TEST(ChaosObjects, CleanObjectStreamsPass) {
  FakeRun run;
  add_stream(run, 3, "n1", kFour);
  add_stream(run, 4, "n2", {{"memory", 1 << 20, 0}, {"file", 4 << 20, 0}}, true);
  const Verdict verdict = run.check();
  EXPECT_TRUE(verdict.passed()) << all(verdict);
  EXPECT_EQ(verdict.counts.at("objects_posted"), 6);
  EXPECT_EQ(verdict.counts.at("objects_delivered"), 6);
  EXPECT_EQ(verdict.counts.at("object_result:ok"), 6);
  EXPECT_EQ(verdict.counts.at("object_bytes_verified"), 3000 + 70000 + (1 << 20) + (4 << 20));
  EXPECT_EQ(verdict.counts.at("object_streams_stop"), 1);
}

TEST(ChaosObjects, AnObjectAcknowledgedButNeverDeliveredIsReported) {
  FakeRun run;
  add_stream(run, 3, "n1", kFour);
  remove_line(run.nodes["n1"], "\"seq\":2,");
  expect_only(run.check(), "objects");
}

TEST(ChaosObjects, AnObjectDeliveredTwiceIsReportedOnOneIncarnationOrTwo) {
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    run.nodes["n1"].push_back(delivered("n1", 3, 3, kFour[2], 20 * kSecond + 5000));
    expect_has(run.check(), "objects");
  }
  {
    // After a restart: weft never resends an object to a new incarnation.
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    run.nodes["n1"].push_back(
        JsonLine().add("t_ns", 30 * kSecond).add("proc", "n1").add("ev", "start").str());
    run.nodes["n1"].push_back(delivered("n1", 3, 1, kFour[0], 31 * kSecond));
    run.nodes["n1"].push_back(JsonLine()
                                  .add("t_ns", 31 * kSecond)
                                  .add("proc", "n1")
                                  .add("ev", "peer_up")
                                  .add("peer", "n2")
                                  .str());
    const Verdict verdict = run.check();
    expect_only(verdict, "objects");
    EXPECT_NE(verdict.violations.front().find("n1 (start 1), n1 (start 2)"), std::string::npos)
        << verdict.violations.front();
  }
}

TEST(ChaosObjects, ADeliveryWithOtherBytesOrSizeIsReported) {
  for (const FakeObject& wrong :
       {FakeObject{"memory", 2999, 0}, FakeObject{"file", 70000, 12346}}) {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    replace(run.nodes["n1"], "\"seq\":3,", delivered("n1", 3, 3, wrong, 20 * kSecond + 3000));
    expect_only(run.check(), "objects");
  }
  // Bytes of another object of the stream: the digest is recomputed from the key.
  FakeRun run;
  add_stream(run, 3, "n1", {{"memory", 100, 0}, {"memory", 100, 0}});
  replace(run.nodes["n1"], "\"seq\":2,", delivered("n1", 3, 1, {"memory", 100, 0}, 0));
  const Verdict verdict = run.check();
  expect_has(verdict, "objects");
}

TEST(ChaosObjects, CompletionsTwiceOutOfOrderMissingOrAfterTheEndAreReported) {
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    const auto at = [&](std::int64_t seq) {
      return std::find_if(run.driver.begin(), run.driver.end(), [&](const std::string& line) {
        return line.find(done_needle(3, seq)) != std::string::npos;
      });
    };
    std::iter_swap(at(2), at(3));
    expect_has(run.check(), "objects");
  }
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    remove_line(run.driver, done_needle(3, 4));
    expect_only(run.check(), "objects");
  }
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    run.driver.push_back(done(3, 4, "ok", 20 * kSecond + 20000));
    expect_has(run.check(), "objects");
  }
  {
    // The stream's end before its last completion.
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    const std::string last = run.driver.back();
    run.driver.pop_back();
    run.driver.insert(run.driver.end() - 1, last);
    expect_has(run.check(), "objects");
  }
}

TEST(ChaosObjects, DeliveriesOutOfOrderOnOneIncarnationAreReported) {
  FakeRun run;
  add_stream(run, 3, "n1", kFour);
  auto& lines = run.nodes["n1"];
  std::swap(lines[lines.size() - 3], lines[lines.size() - 2]);
  expect_only(run.check(), "objects");
}

TEST(ChaosObjects, AFailureNeedsItsCause) {
  struct Case {
    std::string error;
    bool with_cause;
  };
  for (const Case& c :
       {Case{"peer_restarted", false}, Case{"peer_restarted", true}, Case{"canceled", false},
        Case{"canceled", true}, Case{"disconnected", false}, Case{"disconnected", true},
        Case{"object_state_lost", false}, Case{"object_state_lost", true},
        Case{"bad_payload", true}, Case{"busy", true}}) {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    // Object 4 failed, and the node never took it.
    replace(run.driver, done_needle(3, 4), done(3, 4, c.error, 20 * kSecond + 4010));
    remove_line(run.nodes["n1"], "\"seq\":4,");
    if (c.with_cause && c.error == "peer_restarted") {
      run.run.insert(run.run.begin() + 1, JsonLine()
                                              .add("ev", "spawn")
                                              .add("proc", "n1")
                                              .add("start", 2)
                                              .add("t_ns", 20 * kSecond + 2000)
                                              .str());
    } else if (c.with_cause && c.error == "canceled") {
      run.driver.insert(run.driver.end() - 2,
                        FakeRun::op(3, "obj_stop").add("reason", "planned").add("t_ns", 0).str());
    } else if (c.with_cause) {
      run.add_fault(7, "partition", "load1", "n1,n2", 15 * kSecond, 18 * kSecond);
    }
    const Verdict verdict = run.check();
    const bool allowed = c.error != "bad_payload" && c.error != "busy";
    if (c.with_cause && allowed) {
      EXPECT_TRUE(verdict.passed()) << c.error << ": " << all(verdict);
    } else {
      SCOPED_TRACE(c.error);
      expect_only(verdict, "objects");
    }
  }
}

// The driver removed the target (a leave or join fault) while object 4 was in flight: the
// object and the stream end peer_removed, and the planned stop then finds nothing to stop.
// Only a membership fault of the target explains that.
TEST(ChaosObjects, AnObjectAndStreamEndingPeerRemovedNeedTheTargetsRemoval) {
  for (const char* cause : {"", "partition", "leave"}) {
    SCOPED_TRACE(cause);
    FakeRun run;
    add_stream(run, 3, "n1", kFour, true);
    replace(run.driver, done_needle(3, 4), done(3, 4, "peer_removed", 20 * kSecond + 4010));
    remove_line(run.nodes["n1"], "\"seq\":4,");
    run.driver.pop_back();  // the end moves before the stop, with peer_removed
    run.driver.insert(run.driver.end() - 2, FakeRun::op(3, "end")
                                                .add("error", "peer_removed")
                                                .add("completed", 4)
                                                .add("message", "")
                                                .add("t_ns", 20 * kSecond + 4020)
                                                .str());
    replace(run.driver, R"("ev":"obj_stopped")",
            FakeRun::op(3, "obj_stopped")
                .add("result", "not_found")
                .add("t_ns", 20 * kSecond + 9001)
                .str());
    if (std::string_view(cause) == "partition")
      run.add_fault(7, "partition", "load1", "n1", 15 * kSecond, 21 * kSecond);
    if (std::string_view(cause) == "leave")
      run.add_fault(7, "leave", "n1", "", 20 * kSecond, 21 * kSecond);
    const Verdict verdict = run.check();
    if (std::string_view(cause) == "leave") {
      EXPECT_TRUE(verdict.passed()) << all(verdict);
    } else {
      ASSERT_EQ(verdict.violations.size(), 2u) << all(verdict);  // the object and the stream
      expect_has(verdict, "objects");
    }
  }
}

TEST(ChaosObjects, AStreamStoppedAtItsDeadlineNeedsAFaultOnItsPath) {
  for (const bool fault : {false, true}) {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    replace(run.driver, done_needle(3, 4), done(3, 4, "canceled", 40 * kSecond + 1));
    remove_line(run.nodes["n1"], "\"seq\":4,");
    run.driver.insert(
        run.driver.end() - 2,
        FakeRun::op(3, "obj_stop").add("reason", "deadline").add("t_ns", 40 * kSecond).str());
    replace(run.driver, "\"op\":3,\"ev\":\"end\"",
            FakeRun::op(3, "end").add("error", "canceled").add("t_ns", 40 * kSecond + 2).str());
    if (fault) run.add_fault(7, "pause", "n1", "", 25 * kSecond, 28 * kSecond);
    const Verdict verdict = run.check();
    if (fault) {
      EXPECT_TRUE(verdict.passed()) << all(verdict);
    } else {
      expect_only(verdict, "objects");
    }
  }
}

TEST(ChaosObjects, ADeliveryOfAnObjectNeverPostedOrToAnotherNodeIsReported) {
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    run.nodes["n1"].push_back(delivered("n1", 3, 5, {"memory", 10, 0}, 20 * kSecond + 9000));
    expect_only(run.check(), "objects");
  }
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    remove_line(run.nodes["n1"], "\"seq\":1,");
    run.nodes["n2"].push_back(delivered("n2", 3, 1, kFour[0], 20 * kSecond + 1000));
    expect_has(run.check(), "objects");
  }
}

TEST(ChaosObjects, AStreamThatEndsWithAnUnexpectedErrorOrARefusedPostIsReported) {
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    replace(run.driver, "\"op\":3,\"ev\":\"end\"",
            FakeRun::op(3, "end")
                .add("error", "unknown_handler")
                .add("t_ns", 20 * kSecond + 9999)
                .str());
    expect_only(run.check(), "objects");
  }
  {
    FakeRun run;
    add_stream(run, 3, "n1", kFour);
    run.driver.insert(run.driver.end() - 1,
                      FakeRun::op(3, "obj_refused").add("seq", 5).add("error", "queue_full").str());
    expect_only(run.check(), "objects");
  }
}

}  // namespace
}  // namespace weft::chaos
