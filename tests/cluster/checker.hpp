// The checker of a harness run: reads the run's record (chaos.jsonl), every driver's history
// (load-*.jsonl) and every node's events (node-*.jsonl), and lists what broke a rule.
// docs/CHAOS.md states the rules; each violation names the rule, the process and the op.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace weft::chaos {

struct Verdict {
  std::vector<std::string> violations;
  // What was checked: "ops", "ok", "stream_messages", "bytes_verified", "fault:<kind>",
  // "error:<name>", "probes", "node_restarts" and so on.
  std::map<std::string, std::int64_t> counts;
  std::int64_t seed = 0;
  std::string replay;
  std::int64_t worst_reconnect_ms = 0;  // heal to the last probe that answered
  std::map<std::string, std::int64_t> max_rss_kib;
  std::int64_t worst_rss_growth_kib = 0;  // late peak minus early peak, over long series

  bool passed() const { return violations.empty(); }
};

// Checks the run in `dir`.
Verdict check_run(const std::string& dir);

// The verdict, counts, seed and replay command, for a person.
void print_verdict(const Verdict& verdict, std::FILE* out);

}  // namespace weft::chaos
