#include "timeline.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "jsonl.hpp"

namespace weft::chaos {

namespace {

class TraceWriter {
 public:
  // As weft-sim lays it out: process 1 "nodes" (a track per process and one for the
  // cluster, where the faults go), process 2 "links" (a track per pair with its connections).
  TraceWriter(std::ofstream& out, std::int64_t origin_ns) : out_(out), origin_ns_(origin_ns) {
    out_ << R"([{"name":"process_name","ph":"M","pid":1,"args":{"name":"nodes"}},)"
         << "\n"
         << R"({"name":"process_name","ph":"M","pid":2,"args":{"name":"links"}})";
    track("cluster");
  }
  ~TraceWriter() { out_ << "\n]\n"; }
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // The track of `name` in process `pid`, declared on first use (tid 0 of process 1 is
  // the cluster's).
  int track(const std::string& name, int pid = 1) {
    const auto [found, added] =
        tracks_.emplace(std::make_pair(pid, name), static_cast<int>(tracks_.size()));
    if (added) {
      out_ << ",\n"
           << R"({"name":"thread_name","ph":"M","pid":)" << pid << R"(,"tid":)" << found->second
           << R"(,"args":{"name":")" << name << R"("}})";
    }
    return found->second;
  }

  // phase i: an instant; b / e: an async span matched by id.
  void event(char phase, const std::string& on, const std::string& name, std::int64_t t_ns,
             const std::string& id = {}, const std::string& detail = {}, int pid = 1) {
    const int tid = track(on, pid);
    char ts[32];
    std::snprintf(ts, sizeof ts, "%.3f", static_cast<double>(t_ns - origin_ns_) / 1000.0);
    out_ << ",\n{\"name\":\"" << escape(name) << "\",\"ph\":\"" << phase << "\",\"ts\":" << ts
         << ",\"pid\":" << pid << ",\"tid\":" << tid;
    if (phase == 'i') out_ << ",\"s\":\"t\"";
    if (!id.empty()) out_ << ",\"cat\":\"" << escape(name) << "\",\"id\":\"" << escape(id) << "\"";
    if (!detail.empty()) out_ << ",\"args\":{\"detail\":\"" << escape(detail) << "\"}";
    out_ << "}";
  }

 private:
  static std::string escape(const std::string& text) {
    std::string result;
    for (const char c : text) {
      if (c == '"' || c == '\\') result += '\\';
      result += c;
    }
    return result;
  }

  std::ofstream& out_;
  std::int64_t origin_ns_;
  std::map<std::pair<int, std::string>, int> tracks_;
};

void add_run(TraceWriter& trace, const std::vector<Record>& records) {
  for (const Record& r : records) {
    const std::string event(r.str("ev"));
    const std::int64_t t = r.num("t_ns");
    const std::string what(r.str("what"));
    if (event == "fault_begin" || event == "fault_end") {
      trace.event(event == "fault_begin" ? 'b' : 'e', "cluster", what, t,
                  "f" + std::to_string(r.num("fault")));
      // And on the track of every process it touches.
      std::string_view members = r.str("members");
      while (!members.empty()) {
        const std::size_t comma = members.find(',');
        trace.event('i', std::string(members.substr(0, comma)),
                    (event == "fault_begin" ? "begin " : "end ") + what, t);
        members = comma == std::string_view::npos ? "" : members.substr(comma + 1);
      }
    } else if (event == "spawn") {
      trace.event('i', std::string(r.str("proc")), "start " + std::to_string(r.num("start")), t);
    } else if (event == "exit" || event == "signal") {
      const std::string detail = event == "exit" ? std::string(r.str("status"))
                                                 : "signal " + std::to_string(r.num("signal"));
      trace.event('i', std::string(r.str("proc")), event + " " + detail, t);
    } else if (event == "heal" || event == "shutdown" || event == "faults_begin") {
      trace.event('i', "cluster", event, t);
    }
  }
}

// A node's connections: a span per peer from up to down, on the node's track and on the
// pair's track among the links (drawn from the events of the pair's first node by name, or
// of the node alone when the peer is a driver, which writes no events).
void add_node(TraceWriter& trace, const std::vector<Record>& records) {
  std::map<std::string, int> spans;  // peer -> the open span's number, or -1
  int next = 0;
  std::string proc;
  const auto span = [&](char phase, const std::string& peer, int number, std::int64_t t_ns,
                        const std::string& detail) {
    const std::string id = proc + "-" + peer + "-" + std::to_string(number);
    trace.event(phase, proc, "connection " + peer, t_ns, id, detail);
    if (proc < peer || peer.starts_with("load")) {
      const std::string pair = std::min(proc, peer) + "-" + std::max(proc, peer);
      trace.event(phase, pair, "connection", t_ns, "link-" + id, detail, 2);
    }
  };
  for (const Record& r : records) {
    proc = r.str("proc");
    const std::string peer(r.str("peer"));
    const std::string event(r.str("ev"));
    if (event == "start") {
      for (auto& [name, open] : spans) {
        if (open >= 0) span('e', name, open, r.num("t_ns"), "process restarted");
        open = -1;
      }
      trace.event('i', proc, "process start", r.num("t_ns"));
      continue;
    }
    // A failed handshake (a second connection refused) leaves a live one up.
    if (peer.empty() || (event != "peer_up" && event != "peer_down")) continue;
    auto [found, added] = spans.emplace(peer, -1);
    const std::string detail(r.str("detail"));
    if (found->second >= 0) span('e', peer, found->second, r.num("t_ns"), detail);
    found->second = -1;
    if (event == "peer_up") {
      found->second = next++;
      span('b', peer, found->second, r.num("t_ns"), detail);
    }
  }
}

// A driver's calls and streams: a span each, its end named with the outcome.
void add_driver(TraceWriter& trace, const std::vector<Record>& records) {
  std::map<std::int64_t, std::string> kinds;
  for (const Record& r : records) {
    const std::string proc(r.str("proc"));
    const std::string event(r.str("ev"));
    const std::string id = proc + "-" + std::to_string(r.num("op"));
    if (event == "invoke") {
      const std::string name = std::string(r.str("kind")) + " " + std::string(r.str("target"));
      kinds[r.num("op")] = name;
      trace.event('b', proc, name, r.num("t_ns"), id);
    } else if (event == "end") {
      const auto found = kinds.find(r.num("op"));
      if (found == kinds.end()) continue;
      trace.event('e', proc, found->second, r.num("t_ns"), id, std::string(r.str("error")));
    } else if (event == "probe") {
      trace.event('i', proc,
                  "probe " + std::string(r.str("target")) + " " + std::string(r.str("result")),
                  r.num("t_ns"));
    }
  }
}

}  // namespace

bool write_timeline(const std::string& dir, const std::string& out_path, std::string& error) {
  std::vector<std::string> errors;
  const auto run = read_records(dir + "/chaos.jsonl", errors);
  if (run.empty()) {
    error = "no run records in " + dir + (errors.empty() ? "" : ": " + errors.front());
    return false;
  }
  std::ofstream out(out_path, std::ios::trunc);
  if (!out) {
    error = "cannot write " + out_path;
    return false;
  }
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  {
    TraceWriter trace(out, run.front().num("t_ns"));
    add_run(trace, run);
    for (const std::string& file : files) {
      if (!file.ends_with(".jsonl")) continue;
      if (file.starts_with("node-")) add_node(trace, read_records(dir + "/" + file, errors));
      if (file.starts_with("load-")) add_driver(trace, read_records(dir + "/" + file, errors));
    }
  }
  return static_cast<bool>(out);
}

}  // namespace weft::chaos
