#include "trace.hpp"

#include <cstdio>
#include <utility>

#include "weft/bytes.hpp"
#include "weft/wire.hpp"

namespace weft::sim {

Tracer::Tracer(const TimeNs& clock, std::size_t nodes, const std::string& trace_path,
               const std::string& chrome_path)
    : now_(clock), nodes_(nodes), trace_path_(trace_path), chrome_path_(chrome_path) {
  if (!trace_path.empty()) trace_file_.open(trace_path);
  if (chrome_path.empty()) return;
  // Two processes: "nodes" (pid 1: a track per node and one for the cluster) and "links"
  // (pid 2: a track per pair of nodes, with its transports and the faults that hit them).
  chrome_file_.open(chrome_path);
  chrome_file_ << R"([{"name":"process_name","ph":"M","pid":1,"args":{"name":"nodes"}},)"
               << "\n"
               << R"({"name":"process_name","ph":"M","pid":2,"args":{"name":"links"}})";
  for (std::size_t i = 0; i <= nodes; ++i) {
    const std::string name = i < nodes ? "n" + std::to_string(i) : "cluster";
    chrome_file_ << ",\n"
                 << R"({"name":"thread_name","ph":"M","pid":1,"tid":)" << i
                 << R"(,"args":{"name":")" << name << R"("}})";
  }
  for (std::size_t a = 0; a < nodes; ++a) {
    for (std::size_t b = a + 1; b < nodes; ++b) {
      chrome_file_ << ",\n"
                   << R"({"name":"thread_name","ph":"M","pid":2,"tid":)" << pair_track(a, b, nodes)
                   << R"(,"args":{"name":"n)" << a << "-n" << b << R"("}})";
    }
  }
}

Tracer::~Tracer() {
  finish();
}

std::string Tracer::finish() {
  if (finished_) return "";
  finished_ = true;
  std::string error;
  if (trace_file_.is_open()) {
    trace_file_.close();
    if (!trace_file_) error = "cannot write " + trace_path_;
  }
  if (chrome_file_.is_open()) {
    chrome_file_ << "\n]\n";
    chrome_file_.close();
    if (!chrome_file_) error += (error.empty() ? "" : "; ") + ("cannot write " + chrome_path_);
  }
  return error;
}

void Tracer::trace(std::initializer_list<std::string_view> parts) {
  ++events_;
  std::string& keyed = scratch_;
  keyed.clear();
  for (int i = 0; i < 8; ++i)
    keyed.push_back(static_cast<char>(hash_ >> (8 * i)));
  keyed.append(std::to_string(now_)).push_back(' ');
  const std::size_t text_at = keyed.size();
  for (std::string_view part : parts)
    keyed.append(part);
  hash_ = checksum64(as_bytes(keyed));
  if (trace_file_) {
    trace_file_ << "{\"t_ns\":" << now_ << ",\"event\":\""
                << std::string_view(keyed).substr(text_at) << "\"}\n";
  }
}

// The links track of the pair {a, b} among `nodes` nodes: 0, 1, ... in (a, b) order.
std::size_t Tracer::pair_track(std::size_t a, std::size_t b, std::size_t nodes) {
  if (a > b) std::swap(a, b);
  return a * nodes - a * (a + 1) / 2 + (b - a - 1);
}

void Tracer::chrome(char phase, std::size_t track, const std::string& name, const std::string& id) {
  chrome_event(1, phase, track, name, id);
}

void Tracer::chrome_link(char phase, std::size_t a, std::size_t b, const std::string& name,
                         const std::string& id) {
  chrome_event(2, phase, pair_track(a, b, nodes_), name, id);
}

void Tracer::chrome_event(int pid, char phase, std::size_t track, const std::string& name,
                          const std::string& id) {
  if (!chrome_file_.is_open()) return;
  char ts[32];
  std::snprintf(ts, sizeof ts, "%.3f", static_cast<double>(now_) / 1000.0);
  chrome_file_ << ",\n{\"name\":\"" << name << "\",\"ph\":\"" << phase << "\",\"ts\":" << ts
               << ",\"pid\":" << pid << ",\"tid\":" << track;
  if (phase == 'i') chrome_file_ << ",\"s\":\"t\"";
  if (!id.empty()) chrome_file_ << ",\"cat\":\"" << name << "\",\"id\":\"" << id << "\"";
  chrome_file_ << "}";
}

}  // namespace weft::sim
