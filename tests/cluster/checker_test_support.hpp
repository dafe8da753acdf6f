// The hand-made runs the checker's tests feed it (checker_test.cpp,
// checker_objects_test.cpp), and how they look at its verdict.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checker.hpp"
#include "jsonl.hpp"
#include "payload.hpp"

namespace weft::chaos {

constexpr std::int64_t kSecond = 1'000'000'000;
constexpr std::int64_t kHeal = 100 * kSecond;

// A run directory written line by line; starts as a clean run of two nodes and one driver.
class FakeRun {
 public:
  FakeRun()
      : dir_(std::filesystem::temp_directory_path() /
             ("weft-checker-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    run = {JsonLine()
               .add("ev", "run")
               .add("seed", 42)
               .add("nodes", 2)
               .add("drivers", 1)
               .add("replay", "weft-chaos run --seed 42")
               .add("deadline_slack_ms", 1000)
               .add("liveness_ms", 20000)
               .add("rss_limit_kib", 100000)
               .add("t_ns", 0)
               .str(),
           JsonLine()
               .add("ev", "fault_begin")
               .add("fault", 1)
               .add("kind", "pause")
               .add("t_ns", 10 * kSecond)
               .str(),
           JsonLine().add("ev", "heal").add("t_ns", kHeal).str(),
           JsonLine().add("ev", "shutdown").add("t_ns", kHeal + 30 * kSecond).str(),
           JsonLine().add("ev", "rss").add("proc", "n1").add("max_kib", 30000).str(),
           JsonLine().add("ev", "finished").add("t_ns", kHeal + 31 * kSecond).str()};
    for (const char* node : {"n1", "n2"}) {
      const std::string peer = node == std::string("n1") ? "n2" : "n1";
      nodes[node] = std::vector<std::string>{
          JsonLine().add("t_ns", 1).add("proc", node).add("ev", "start").str(),
          JsonLine().add("t_ns", 2).add("proc", node).add("ev", "peer_up").add("peer", peer).str()};
    }
    driver = {line("ready").add("all_connected", 1).add("t_ns", 1).str()};
    const auto echo = payload_bytes(payload_key("load1", 0, 0), 100);
    driver.push_back(op(0, "invoke")
                         .add("kind", "echo")
                         .add("target", "n1")
                         .add("timeout_ms", 1000)
                         .add("bytes", 100)
                         .add("t_ns", 5 * kSecond)
                         .str());
    driver.push_back(op(0, "end")
                         .add("error", "ok")
                         .add("bytes", 100)
                         .add("got", digest(echo))
                         .add("t_ns", 5 * kSecond + 1000)
                         .str());
    driver.push_back(op(1, "invoke")
                         .add("kind", "stream")
                         .add("target", "n2")
                         .add("timeout_ms", 20000)
                         .add("msgs", 2)
                         .add("t_ns", 6 * kSecond)
                         .str());
    for (int seq = 0; seq < 2; ++seq) {
      const auto message = stream_message("load1", 1, seq);
      driver.push_back(op(1, "msg")
                           .add("seq", seq)
                           .add("bytes", static_cast<std::int64_t>(message.size()))
                           .add("got", digest(message))
                           .add("t_ns", 6 * kSecond + seq)
                           .str());
    }
    driver.push_back(op(1, "end").add("error", "ok").add("msgs", 2).add("t_ns", 7 * kSecond).str());
    driver.push_back(op(2, "invoke")
                         .add("kind", "fail")
                         .add("target", "n1")
                         .add("timeout_ms", 5000)
                         .add("t_ns", 8 * kSecond)
                         .str());
    driver.push_back(op(2, "end")
                         .add("error", "remote_error")
                         .add("message", "failed on purpose")
                         .add("t_ns", 8 * kSecond + 5)
                         .str());
    for (const char* target : {"n1", "n2"})
      driver.push_back(line("probe")
                           .add("target", target)
                           .add("via", "")
                           .add("result", "ok")
                           .add("attempts", 1)
                           .add("t_ns", kHeal + kSecond)
                           .str());
    driver.push_back(line("drained").add("stuck", 0).add("t_ns", kHeal + 2).str());
    driver.push_back(
        line("done").add("ops", 3).add("failed_probes", 0).add("t_ns", kHeal + 3).str());
  }
  ~FakeRun() { std::filesystem::remove_all(dir_); }

  static JsonLine line(std::string_view event) {
    return JsonLine().add("proc", "load1").add("ev", event);
  }
  static JsonLine op(std::int64_t id, std::string_view event) {
    return JsonLine().add("proc", "load1").add("op", id).add("ev", event);
  }

  // A fault in the run's record, just after its "run" line.
  void add_fault(std::int64_t id, std::string_view kind, std::string_view from, std::string_view to,
                 std::int64_t begin_ns, std::optional<std::int64_t> end_ns = std::nullopt) {
    if (end_ns)
      run.insert(run.begin() + 1,
                 JsonLine().add("ev", "fault_end").add("fault", id).add("t_ns", *end_ns).str());
    run.insert(run.begin() + 1, JsonLine()
                                    .add("ev", "fault_begin")
                                    .add("fault", id)
                                    .add("kind", kind)
                                    .add("from", from)
                                    .add("to", to)
                                    .add("t_ns", begin_ns)
                                    .str());
  }

  // Op 3: a relay through n1 to n2's echo, started at `at_ns`, failed 10 ns later with
  // remote_error `message` (what the relaying node answered).
  void add_relay(std::string_view message, std::int64_t at_ns) {
    driver.insert(driver.begin() + 1, op(3, "invoke")
                                          .add("kind", "relay")
                                          .add("target", "n2")
                                          .add("via", "n1")
                                          .add("timeout_ms", 6000)
                                          .add("bytes", 10)
                                          .add("t_ns", at_ns)
                                          .str());
    driver.insert(driver.begin() + 2, op(3, "end")
                                          .add("error", "remote_error")
                                          .add("message", message)
                                          .add("t_ns", at_ns + 10)
                                          .str());
  }

  // Writes the files; returns the directory.
  std::string write_all() {
    write("chaos.jsonl", run);
    write("load-load1.jsonl", driver);
    for (const auto& [name, lines] : nodes)
      write("node-" + name + ".jsonl", lines);
    return dir_.string();
  }
  Verdict check() { return check_run(write_all()); }

  std::vector<std::string> run;
  std::vector<std::string> driver;
  std::map<std::string, std::vector<std::string>> nodes;

 private:
  void write(const std::string& file, const std::vector<std::string>& lines) {
    std::ofstream out(dir_ / file, std::ios::trunc);
    for (const std::string& text : lines)
      out << text;
  }
  static inline int counter_ = 0;
  std::filesystem::path dir_;
};

// The one violation of `verdict`, which must be under `rule`.
inline std::string all(const Verdict& verdict) {
  std::string text;
  for (const std::string& v : verdict.violations)
    text += v + "\n";
  return text.empty() ? "none" : text;
}

inline void expect_only(const Verdict& verdict, std::string_view rule) {
  ASSERT_EQ(verdict.violations.size(), 1u) << all(verdict);
  EXPECT_TRUE(verdict.violations.front().starts_with("[" + std::string(rule) + "]"))
      << verdict.violations.front();
}

// `verdict` has a violation under `rule`.
inline void expect_has(const Verdict& verdict, std::string_view rule) {
  const std::string prefix = "[" + std::string(rule) + "]";
  EXPECT_TRUE(std::any_of(verdict.violations.begin(), verdict.violations.end(),
                          [&](const std::string& v) { return v.starts_with(prefix); }))
      << "no " << prefix << " among " << verdict.violations.size() << " violations";
}

// Replaces the line of `lines` that contains `needle`.
inline void replace(std::vector<std::string>& lines, std::string_view needle, std::string text) {
  for (std::string& line : lines) {
    if (line.find(needle) != std::string::npos) {
      line = std::move(text);
      return;
    }
  }
  FAIL() << "no line with " << needle;
}

}  // namespace weft::chaos
