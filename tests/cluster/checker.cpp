#include "checker.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "checker_faults.hpp"
#include "checker_objects.hpp"
#include "jsonl.hpp"
#include "payload.hpp"

namespace weft::chaos {

namespace {

// One operation of one driver, as its history tells it.
struct Op {
  const Record* invoke = nullptr;
  int invokes = 0;
  std::vector<const Record*> ends;
  std::vector<const Record*> messages;
  const Record* cancel = nullptr;
  std::vector<const Record*> refused_writes;  // stream writes the session refused
};

std::set<std::string, std::less<>> split_names(std::string_view text) {
  std::set<std::string, std::less<>> names;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    names.emplace(text.substr(0, comma));
    text = comma == std::string_view::npos ? "" : text.substr(comma + 1);
  }
  return names;
}

// The groups of a fault from its description (Fault::describe): "pause n3",
// "partition {a,b} | {c}", "one_way {a} -> {b}", "loss 5% {a} | {b}", "bandwidth lo ...".
void groups_from_text(std::string_view what, FaultSpan& fault) {
  const std::size_t open = what.find('{');
  if (open == std::string_view::npos) {
    const std::size_t space = what.find(' ');
    if (fault.kind != "bandwidth" && space != std::string_view::npos)
      fault.from.emplace(what.substr(space + 1));
    return;
  }
  const std::size_t close = what.find('}', open);
  const std::size_t second = what.find('{', close);
  if (close == std::string_view::npos || second == std::string_view::npos) return;
  fault.from = split_names(what.substr(open + 1, close - open - 1));
  fault.to = split_names(what.substr(second + 1, what.find('}', second) - second - 1));
}

// Timers never fire early; this much is allowed for the clock reads around the call.
constexpr std::int64_t kEarlyToleranceNs = 10'000'000;

// The outcome an operation of `kind` has without any fault ("" when it depends, for none).
std::string_view expected_outcome(std::string_view kind) {
  if (kind == "deadline") return "deadline_exceeded";
  if (kind == "cancel") return "canceled";
  if (kind == "fail") return "remote_error";
  return "ok";
}

// The errors an operation of each kind may end with under faults. Anything else (a
// protocol error, too_large, a local queue refusing) is a defect.
bool error_allowed(std::string_view kind, std::string_view error) {
  if (error == "disconnected" || error == "deadline_exceeded") return true;
  if (error == "peer_removed") return true;  // check_explained wants a removal for it
  if (kind == "cancel") return error == "canceled";
  if (kind == "fail" || kind == "relay") return error == "remote_error";
  if (kind == "stream") return error == "keepalive_timeout";
  return false;
}

class Checker {
 public:
  explicit Checker(std::string dir) : dir_(std::move(dir)) {}

  Verdict run() {
    read_run();
    std::vector<std::string> drivers;
    std::vector<std::string> nodes;
    if (std::filesystem::is_directory(dir_)) {
      for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("load-") && name.ends_with(".jsonl")) drivers.push_back(name);
        if (name.starts_with("node-") && name.ends_with(".jsonl")) nodes.push_back(name);
      }
    }
    std::sort(drivers.begin(), drivers.end());  // the report's order never depends on the disk
    std::sort(nodes.begin(), nodes.end());
    if (drivers.size() != static_cast<std::size_t>(expected_drivers_))
      violate("run", "found " + std::to_string(drivers.size()) + " driver histories, expected " +
                         std::to_string(expected_drivers_));
    if (nodes.size() != static_cast<std::size_t>(expected_nodes_))
      violate("run", "found " + std::to_string(nodes.size()) + " node event files, expected " +
                         std::to_string(expected_nodes_));
    for (const std::string& file : drivers)
      check_driver(dir_ + "/" + file);
    for (const std::string& file : nodes)
      check_node(dir_ + "/" + file, nodes);
    check_rejoined();
    objects_.check(
        faults_, [this](std::string_view rule, const std::string& what) { violate(rule, what); },
        [this](const std::string& what, std::int64_t by) { count(what, by); });
    for (const std::string& error : read_errors_)
      violate("records", error);
    return std::move(verdict_);
  }

 private:
  void violate(std::string_view rule, const std::string& what) {
    verdict_.violations.push_back("[" + std::string(rule) + "] " + what);
  }
  void count(const std::string& what, std::int64_t by = 1) { verdict_.counts[what] += by; }

  // ---- the harness's record ----

  void read_run() {
    run_records_ = read_records(dir_ + "/chaos.jsonl", read_errors_);
    bool finished = false;
    for (const Record& r : run_records_) {
      const std::string_view event = r.str("ev");
      if (event == "run") {
        verdict_.seed = r.num("seed");
        verdict_.replay = r.str("replay");
        expected_nodes_ = static_cast<int>(r.num("nodes"));
        expected_drivers_ = static_cast<int>(r.num("drivers"));
        slack_ns_ = r.num("deadline_slack_ms") * 1'000'000;
        liveness_ns_ = r.num("liveness_ms") * 1'000'000;
        rss_limit_kib_ = r.num("rss_limit_kib");
      } else if (event == "fault_begin") {
        count("fault:" + std::string(r.str("kind")));
        FaultSpan& fault = faults_[r.num("fault")];
        fault.kind = r.str("kind");
        if (r.has("from")) {
          fault.from = split_names(r.str("from"));
          fault.to = split_names(r.str("to"));
        } else {
          groups_from_text(r.str("what"), fault);  // records written before from/to existed
        }
        fault.begin_ns = r.num("t_ns");
      } else if (event == "fault_end") {
        faults_[r.num("fault")].end_ns = r.num("t_ns");
      } else if (event == "rss_sample") {
        rss_series_[{std::string(r.str("proc")), r.num("start")}].push_back(r.num("kib"));
      } else if (event == "heal") {
        heal_ns_ = r.num("t_ns");
      } else if (event == "shutdown") {
        shutdown_ns_ = r.num("t_ns");
      } else if (event == "exit") {
        if (r.num("expected") == 0) {
          violate("processes", std::string(r.str("proc")) +
                                   " exited unexpectedly: " + std::string(r.str("status")));
        }
      } else if (event == "spawn") {
        if (r.num("start") > 1) {
          count("restarts");
          objects_.restart(r.str("proc"), r.num("t_ns"));
        }
      } else if (event == "hung") {
        violate("processes", std::string(r.str("proc")) + " did not stop within 15 s of SIGTERM");
      } else if (event == "harness_error") {
        violate("harness", std::string(r.str("what")));
      } else if (event == "rss") {
        const std::int64_t kib = r.num("max_kib");
        verdict_.max_rss_kib[std::string(r.str("proc"))] = kib;
        if (kib > rss_limit_kib_) {
          violate("memory", std::string(r.str("proc")) + " reached " + std::to_string(kib) +
                                " KiB resident, over the bound of " +
                                std::to_string(rss_limit_kib_) + " KiB");
        }
      } else if (event == "finished") {
        finished = true;
      }
    }
    if (!finished) violate("run", "chaos.jsonl has no 'finished' record: the run did not complete");
    check_rss_growth();
    if (heal_ns_ == 0) violate("run", "no 'heal' record");
  }

  // A process whose resident set keeps growing leaks: over a series of at least a minute,
  // the peak of its last quarter may not exceed twice the peak of its first quarter plus
  // 32 MiB.
  void check_rss_growth() {
    for (const auto& [key, samples] : rss_series_) {
      if (samples.size() < 12) continue;
      const std::size_t quarter = samples.size() / 4;
      const std::int64_t early = *std::max_element(
          samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(quarter));
      const std::int64_t late =
          *std::max_element(samples.end() - static_cast<std::ptrdiff_t>(quarter), samples.end());
      verdict_.worst_rss_growth_kib = std::max(verdict_.worst_rss_growth_kib, late - early);
      if (late > 2 * early + 32 * 1024) {
        violate("memory", key.first + " (start " + std::to_string(key.second) + ") grew from " +
                              std::to_string(early) + " KiB to " + std::to_string(late) +
                              " KiB resident over the run");
      }
    }
  }

  // ---- one driver ----

  void check_driver(const std::string& path) {
    // One driver's records at a time: a long run has millions.
    const std::vector<Record> records = read_records(path, read_errors_);
    std::map<std::int64_t, Op> ops;
    std::string proc;
    bool ready = false;
    bool done = false;
    std::int64_t started = -1;  // operations the driver says it started
    std::int64_t drained_ns = 0;
    for (const Record& r : records) {
      const std::string_view event = r.str("ev");
      proc = r.str("proc");
      objects_.driver_record(r);
      if (event == "invoke") {
        Op& op = ops[r.num("op")];
        op.invoke = &r;
        ++op.invokes;
      } else if (event == "end") {
        ops[r.num("op")].ends.push_back(&r);
      } else if (event == "msg") {
        ops[r.num("op")].messages.push_back(&r);
      } else if (event == "cancel") {
        ops[r.num("op")].cancel = &r;
      } else if (event == "write_refused") {
        ops[r.num("op")].refused_writes.push_back(&r);
      } else if (event == "load_end") {
        started = r.num("ops");
      } else if (event == "probe") {
        check_probe(r, drained_ns);
      } else if (event == "ready") {
        ready = true;
        if (r.num("all_connected") != 1)
          violate("liveness", proc + " did not see every node connected within 20 s of starting");
      } else if (event == "drained") {
        drained_ns = r.num("t_ns");
        if (r.num("stuck") != 0)
          violate("exactly-once", proc + ": " + std::to_string(r.num("stuck")) +
                                      " operations had not ended 30 s after the load stopped");
      } else if (event == "done") {
        done = true;
      }
    }
    if (!ready || !done)
      violate("run", path + ": the driver did not finish (no ready or done record)");
    for (const auto& [id, op] : ops)
      check_op(proc, id, op);
    // Ops are numbered from 0: one missing with all its records would go unseen otherwise.
    for (std::int64_t id = 0; id < started; ++id) {
      const auto found = ops.find(id);
      if (found == ops.end() || found->second.invokes == 0) {
        violate("exactly-once", proc + " op " + std::to_string(id) + " has no record of its start");
      }
    }
  }

  void check_op(const std::string& proc, std::int64_t id, const Op& op) {
    const std::string name = proc + " op " + std::to_string(id);
    if (op.invokes != 1) {
      violate("exactly-once", name + " started " + std::to_string(op.invokes) + " times");
      return;
    }
    if (op.ends.size() != 1) {
      violate("exactly-once", name + " (" + std::string(op.invoke->str("kind")) + ") ended " +
                                  std::to_string(op.ends.size()) + " times");
      return;
    }
    const Record& invoke = *op.invoke;
    const Record& end = *op.ends.front();
    const std::string kind(invoke.str("kind"));
    const std::string error(end.str("error"));
    count("ops");
    count("kind:" + kind);
    count("error:" + error);
    const std::int64_t took_ns = end.num("t_ns") - invoke.num("t_ns");
    const std::int64_t timeout_ns = invoke.num("timeout_ms") * 1'000'000;
    if (took_ns > timeout_ns + slack_ns_) {
      violate("deadline", name + " (" + kind + ") ended " + std::to_string(took_ns / 1'000'000) +
                              " ms after it started; its deadline was " +
                              std::to_string(timeout_ns / 1'000'000) + " ms");
    }
    if (error == "deadline_exceeded" && took_ns < timeout_ns - kEarlyToleranceNs) {
      violate("deadline", name + " (" + kind + ") ended deadline_exceeded after " +
                              std::to_string(took_ns / 1'000'000) + " ms, before its deadline of " +
                              std::to_string(timeout_ns / 1'000'000) + " ms");
    }
    if (kind == "objects") return;  // the objects rule judges it (checker_objects.cpp)
    check_explained(name, proc, kind, invoke, end);
    if (kind == "cancel") check_cancel(name, op, end);
    if (kind == "stream") return check_stream(proc, id, name, op, error);
    if (error != "ok") {
      if (!error_allowed(kind, error))
        violate("outcome", name + " (" + kind + ") ended with " + error + " " +
                               std::string(end.str("message")));
      check_remote_message(name, kind, invoke, end);
      return;
    }
    if (kind == "fail" || kind == "deadline" || kind == "cancel") {
      violate("outcome", name + " (" + kind + ") succeeded, which it never may");
      return;
    }
    std::string expected;
    std::int64_t expected_bytes = 0;
    if (kind == "slow") {
      const std::string delay = std::to_string(invoke.num("delay_ms"));
      expected = digest(delay);
      expected_bytes = static_cast<std::int64_t>(delay.size());
    } else {
      expected_bytes = invoke.num("bytes");
      expected =
          digest(payload_bytes(payload_key(proc, id, 0), static_cast<std::size_t>(expected_bytes)));
    }
    if (end.str("got") != expected || end.num("bytes") != expected_bytes) {
      violate("bytes", name + " (" + kind + ") answered " + std::to_string(end.num("bytes")) +
                           " bytes with digest " + std::string(end.str("got")) + ", expected " +
                           std::to_string(expected_bytes) + " bytes with digest " + expected);
    }
    count("bytes_verified", expected_bytes);
    served(std::string(invoke.str("target")), end.num("t_ns"));
    if (!invoke.str("via").empty()) served(std::string(invoke.str("via")), end.num("t_ns"));
  }

  void served(const std::string& node, std::int64_t at_ns) {
    std::int64_t& last = last_served_ns_[node];
    last = std::max(last, at_ns);
  }

  // A node the cluster removed and added back (a leave), or that joined anew (a join), must
  // serve calls afterwards: a call or probe through it succeeded after the fault's end.
  void check_rejoined() {
    for (const auto& [id, fault] : faults_) {
      if (!fault.membership() || fault.from.empty()) continue;
      const std::string& node = *fault.from.begin();
      const auto found = last_served_ns_.find(node);
      if (found != last_served_ns_.end() && found->second > fault.end_ns) {
        count("rejoined_nodes_serving");
        continue;
      }
      violate("membership", node + " was added back to the cluster (" + fault.kind + " fault " +
                                std::to_string(id) + ") but no call through it succeeded after");
    }
  }

  void check_remote_message(const std::string& name, const std::string& kind, const Record& invoke,
                            const Record& end) {
    if (end.str("error") != "remote_error") return;
    const std::string_view message = end.str("message");
    if (kind == "fail" && message != "failed on purpose")
      violate("outcome", name + " failed with the wrong message: " + std::string(message));
    const std::string relay_prefix = "relay to " + std::string(invoke.str("target")) + ": ";
    if (kind != "relay") return;
    // The node-to-node call may only have failed as a fault explains.
    const std::string_view inner =
        message.starts_with(relay_prefix) ? message.substr(relay_prefix.size()) : "";
    // The relaying node had removed the target (peer_removed while its call ran, or
    // unknown_peer for a call after): only while a membership fault removed one of them.
    if ((inner == "peer_removed" || inner == "unknown_peer") &&
        removal_explains(faults_, invoke.str("via"), invoke.str("target"), end.num("t_ns"))) {
      count("removals_explained");
      return;
    }
    if (inner != "disconnected" && inner != "deadline_exceeded")
      violate("outcome", name + " relay failed with the wrong message: " + std::string(message));
  }

  // A failure (anything but the kind's own outcome) needs a fault that touched the call's
  // path while it ran, or shortly before: otherwise weft failed by itself.
  void check_explained(const std::string& name, const std::string& proc, const std::string& kind,
                       const Record& invoke, const Record& end) {
    const std::string_view error = end.str("error");
    if (error == expected_outcome(kind) || error == "ok") return;  // success is judged elsewhere
    const std::string target(invoke.str("target"));
    const std::string via(invoke.str("via"));
    std::vector<std::pair<std::string, std::string>> path;
    if (via.empty()) {
      path = {{proc, target}};
    } else {
      path = {{proc, via}, {via, target}};
    }
    const std::int64_t from_ns = invoke.num("t_ns");
    const std::int64_t to_ns = end.num("t_ns");
    if (error == "peer_removed") {  // the driver removed the node: only in a membership fault
      for (const auto& [a, b] : path) {
        if (removal_explains(faults_, a, b, to_ns)) {
          count("removals_explained");
          return;
        }
      }
      violate("outcome", name + " (" + kind + " to " + target + ") ended with peer_removed " +
                             "while no membership fault removed a node on its path");
      return;
    }
    for (const auto& [id, fault] : faults_) {
      if (fault.begin_ns > to_ns || fault.end_ns < from_ns - kFaultAftermathNs) continue;
      for (const auto& [a, b] : path) {
        if (fault.touches(a, b)) {
          count("failures_explained");
          return;
        }
      }
    }
    violate("outcome", name + " (" + kind + " to " + target + (via.empty() ? "" : " via " + via) +
                           ") ended with " + std::string(error) +
                           " while no fault touched its path");
  }

  // A cancel handed over (ok) ends the call canceled unless the call was ending already; a
  // cancel refused as not_found comes after the call's end.
  void check_cancel(const std::string& name, const Op& op, const Record& end) {
    constexpr std::int64_t kRaceNs = 100'000'000;
    if (!op.cancel) {
      violate("outcome", name + " (cancel) was never canceled");
      return;
    }
    const std::string_view result = op.cancel->str("result");
    const std::int64_t cancel_ns = op.cancel->num("t_ns");
    const bool ended_before = end.num("t_ns") <= cancel_ns + kRaceNs;
    if (result == "ok" && end.str("error") != "canceled" && !ended_before) {
      violate("outcome", name + " was canceled (ok) but ended " + std::string(end.str("error")) +
                             " afterwards");
    } else if (result == "not_found" && !ended_before) {
      violate("outcome", name + ": cancel said not_found while the call was still open");
    } else if (result != "ok" && result != "not_found") {
      violate("outcome", name + ": cancel returned " + std::string(result));
    }
  }

  void check_stream(const std::string& proc, std::int64_t id, const std::string& name, const Op& op,
                    const std::string& error) {
    for (const Record* refused : op.refused_writes) {
      const std::string_view why = refused->str("error");
      if (why != "not_found" && why != "stream_closed") {
        violate("outcome", name + ": writing message " + std::to_string(refused->num("seq")) +
                               " was refused with " + std::string(why));
      }
    }
    const std::int64_t sent = op.invoke->num("msgs");
    std::int64_t seq = 0;
    for (const Record* message : op.messages) {
      if (message->num("seq") != seq) {
        violate("streams", name + ": message " + std::to_string(message->num("seq")) + " where " +
                               std::to_string(seq) + " was due");
        return;
      }
      const auto expected = stream_message(
          proc, id, seq,
          static_cast<std::size_t>(op.invoke->num("max_msg_bytes", kStreamMessageMaxBytes)));
      if (message->str("got") != digest(expected) ||
          message->num("bytes") != static_cast<std::int64_t>(expected.size())) {
        violate("streams", name + ": echo " + std::to_string(seq) + " is not message " +
                               std::to_string(seq) + " (a gap, a duplicate or wrong bytes)");
        return;
      }
      count("bytes_verified", static_cast<std::int64_t>(expected.size()));
      ++seq;
    }
    count("stream_messages", seq);
    if (seq > sent)
      violate("streams", name + ": " + std::to_string(seq) + " echoes of " + std::to_string(sent) +
                             " messages");
    if (error == "ok" && seq != sent) {
      violate("streams", name + " ended ok with " + std::to_string(seq) + " of " +
                             std::to_string(sent) + " echoes");
    }
    if (error != "ok" && !error_allowed("stream", error)) {
      violate("outcome", name + " (stream) ended with " + error + " " +
                             std::string(op.ends.front()->str("message")));
    }
  }

  void check_probe(const Record& probe, std::int64_t drained_ns) {
    const std::string what =
        std::string(probe.str("proc")) + " probe of " + std::string(probe.str("target")) +
        (probe.str("via").empty() ? "" : " via " + std::string(probe.str("via")));
    count("probes");
    if (probe.str("result") != "ok") {
      violate("liveness", what + " never answered: " + std::string(probe.str("result")));
      return;
    }
    served(std::string(probe.str("target")), probe.num("t_ns"));
    if (!probe.str("via").empty()) served(std::string(probe.str("via")), probe.num("t_ns"));
    // From the heal, or from the end of the drain when that came later: probes start then.
    const std::int64_t after_ns = probe.num("t_ns") - std::max(heal_ns_, drained_ns);
    verdict_.worst_reconnect_ms = std::max(verdict_.worst_reconnect_ms, after_ns / 1'000'000);
    if (after_ns > liveness_ns_) {
      violate("liveness", what + " answered " + std::to_string(after_ns / 1'000'000) +
                              " ms after the heal and the drain, over " +
                              std::to_string(liveness_ns_ / 1'000'000) + " ms");
    }
  }

  // ---- one node: at the shutdown its last incarnation had every other node up ----

  void check_node(const std::string& path, const std::vector<std::string>& node_files) {
    const auto records = read_records(path, read_errors_);
    std::map<std::string, std::string> state;  // peer -> last event of the last incarnation
    std::string proc;
    int starts = 0;
    int incarnation = 0;  // every record's, past the shutdown too
    for (const Record& r : records) {
      if (r.str("ev") == "start") ++incarnation;
      objects_.node_record(r.str("proc"), incarnation, r);
      if (shutdown_ns_ != 0 && r.num("t_ns") >= shutdown_ns_) break;
      proc = r.str("proc");
      const std::string_view event = r.str("ev");
      if (event == "start") {
        state.clear();
        ++starts;
      } else if (event == "peer_up" || event == "peer_down") {
        if (event == "peer_down" && r.str("detail").find("reset") != std::string_view::npos)
          count("connection_resets_seen");
        // A failed handshake (a second connection refused) leaves a live one up.
        state[std::string(r.str("peer"))] = event;
        if (event == "peer_up" && r.str("detail").find("restarted") != std::string_view::npos)
          count("peer_restarts_seen");
      }
    }
    if (starts == 0) {
      violate("processes", path + ": the node never started");
      return;
    }
    for (const std::string& file : node_files) {
      const std::string peer = file.substr(5, file.size() - 5 - 6);  // node-NAME.jsonl
      if (peer == proc) continue;
      const auto found = state.find(peer);
      if (found == state.end() || found->second != "peer_up") {
        violate("liveness", proc + " did not have " + peer + " up at the shutdown (last: " +
                                (found == state.end() ? "nothing" : found->second) + ")");
      }
    }
  }

  std::string dir_;
  Verdict verdict_;
  std::vector<std::string> read_errors_;
  std::vector<Record> run_records_;
  int expected_nodes_ = 0;
  int expected_drivers_ = 0;
  std::int64_t slack_ns_ = 0;
  std::int64_t liveness_ns_ = 0;
  std::int64_t rss_limit_kib_ = 0;
  std::int64_t heal_ns_ = 0;
  std::int64_t shutdown_ns_ = 0;
  std::map<std::int64_t, FaultSpan> faults_;
  std::map<std::string, std::int64_t> last_served_ns_;  // the last success through each node
  ObjectRules objects_;
  std::map<std::pair<std::string, std::int64_t>, std::vector<std::int64_t>> rss_series_;
};

}  // namespace

Verdict check_run(const std::string& dir) {
  return Checker(dir).run();
}

void print_verdict(const Verdict& verdict, std::FILE* out) {
  std::fprintf(out, "checked:");
  for (const auto& [what, n] : verdict.counts)
    std::fprintf(out, " %s=%lld", what.c_str(), static_cast<long long>(n));
  std::int64_t worst_rss = 0;
  for (const auto& [proc, kib] : verdict.max_rss_kib)
    worst_rss = std::max(worst_rss, kib);
  std::fprintf(out,
               "\nworst reconnect after heal: %lld ms; largest RSS: %lld KiB; worst RSS growth: "
               "%lld KiB\n",
               static_cast<long long>(verdict.worst_reconnect_ms),
               static_cast<long long>(worst_rss),
               static_cast<long long>(verdict.worst_rss_growth_kib));
  for (const std::string& violation : verdict.violations)
    std::fprintf(out, "VIOLATION %s\n", violation.c_str());
  std::fprintf(out, "verdict: %s (%zu violations), seed %lld\nreplay: %s\n",
               verdict.passed() ? "PASS" : "FAIL", verdict.violations.size(),
               static_cast<long long>(verdict.seed), verdict.replay.c_str());
}

}  // namespace weft::chaos
