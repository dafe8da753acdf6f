// weft-call stats: a live view of a node's peers and streams, read from its /metrics
// endpoint (weft-node --metrics HOST:PORT, docs/METRICS.md). Scrapes over plain HTTP/1.0,
// parses the Prometheus text format, and redraws two tables with ANSI escapes (clear and
// home; no curses), or prints them once with --once.
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include "cli_common.hpp"

namespace weft::cli {

// The largest scrape the view reads; a bigger answer is cut off and reported.
inline constexpr std::size_t kMaxScrapeBytes = 16 << 20;
// How long one scrape may take, from its connect to the answer's end.
inline constexpr int kScrapeTimeoutMs = 5'000;

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  std::string label(const std::string& key) const {
    const auto found = labels.find(key);
    return found == labels.end() ? std::string() : found->second;
  }
};

// The samples of an exposition text (comments skipped); nullopt at the first bad line.
// `byte` as a terminal may show it: a control byte from the endpoint (an escape sequence, a
// newline drawing a fake row) becomes '?'. A weft node's names never hold one.
inline char shown_byte(char byte) {
  return static_cast<unsigned char>(byte) < 0x20 || byte == 0x7f ? '?' : byte;
}

inline std::optional<std::vector<Sample>> parse_exposition(std::string_view text) {
  std::vector<Sample> samples;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    Sample sample;
    const std::size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) return std::nullopt;
    sample.name = std::string(line.substr(0, name_end));
    std::size_t at = name_end;
    if (line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        const std::size_t equals = line.find("=\"", at);
        if (equals == std::string_view::npos) return std::nullopt;
        const std::string key(line.substr(at, equals - at));
        std::string value;
        at = equals + 2;
        for (; at < line.size() && line[at] != '"'; ++at) {
          char byte = line[at];
          if (byte == '\\' && at + 1 < line.size()) {
            ++at;
            byte = line[at] == 'n' ? '\n' : line[at];
          }
          value += shown_byte(byte);
        }
        if (at >= line.size()) return std::nullopt;
        sample.labels[key] = std::move(value);
        ++at;  // the closing quote
        if (at < line.size() && line[at] == ',') ++at;
      }
      if (at >= line.size()) return std::nullopt;
      ++at;  // '}'
    }
    const std::string value(line.substr(at));
    char* parsed_end = nullptr;
    sample.value = std::strtod(value.c_str(), &parsed_end);
    if (parsed_end == value.c_str()) return std::nullopt;
    samples.push_back(std::move(sample));
  }
  return samples;
}

// One scrape's socket and its deadline: every wait (connect, send, receive) is bounded by
// what is left of the whole scrape, so a server that trickles cannot hold it.
class ScrapeSocket {
 public:
  ScrapeSocket(int fd, int timeout_ms)
      : fd_(fd),
        deadline_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}
  ~ScrapeSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScrapeSocket(const ScrapeSocket&) = delete;
  ScrapeSocket& operator=(const ScrapeSocket&) = delete;
  int fd() const { return fd_; }
  // Waits for `events` on the socket: true when ready, false at the deadline (timed_out())
  // or on an error of poll itself.
  bool wait(short events) {
    pollfd waiting{fd_, events, 0};
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline_ - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) {
        timed_out_ = true;
        return false;
      }
      const int ready = ::poll(&waiting, 1, static_cast<int>(left));
      if (ready > 0) return true;
      if (ready < 0 && errno != EINTR) return false;
    }
  }
  bool timed_out() const { return timed_out_; }

 private:
  int fd_;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
};

// GET http://address/metrics: the body of a 200 answer, or an error text in `error`. The
// whole scrape (connect, request, answer) ends within `timeout_ms`, and an answer over
// kMaxScrapeBytes is refused.
inline std::optional<std::string> scrape(const HostPort& address, std::string& error,
                                         int timeout_ms = kScrapeTimeoutMs) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    error = "cannot resolve " + address.host;
    return std::nullopt;
  }
  ScrapeSocket socket(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), timeout_ms);
  const std::string where = address.host + ":" + port;
  auto failed = [&](const std::string& what) {
    error = socket.timed_out() ? what + ": timed out after " + std::to_string(timeout_ms) + " ms"
                               : what + ": " + std::strerror(errno);
    return std::nullopt;
  };
  const int fd = socket.fd();
  if (fd < 0) return failed("socket");
  const int connected = ::connect(fd, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (connected != 0) {
    if (errno != EINPROGRESS || !socket.wait(POLLOUT)) return failed("cannot reach " + where);
    int connect_error = 0;
    socklen_t size = sizeof connect_error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &connect_error, &size);
    if (connect_error != 0) {
      errno = connect_error;
      return failed("cannot reach " + where);
    }
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + address.host + "\r\n\r\n";
  for (std::size_t sent = 0; sent < request.size();) {
    const ssize_t wrote = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (wrote > 0) {
      sent += static_cast<std::size_t>(wrote);
    } else if ((errno != EAGAIN && errno != EINTR) || !socket.wait(POLLOUT)) {
      return failed("send to " + where);
    }
  }
  std::string answer;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got == 0) break;
    if (got > 0) {
      answer.append(buffer, static_cast<std::size_t>(got));
      if (answer.size() > kMaxScrapeBytes) {
        error = "answer over " + std::to_string(kMaxScrapeBytes) + " bytes";
        return std::nullopt;
      }
    } else if ((errno != EAGAIN && errno != EINTR) || !socket.wait(POLLIN)) {
      return failed("read from " + where);
    }
  }
  const std::size_t body = answer.find("\r\n\r\n");
  if (body == std::string::npos) {
    error = "incomplete answer";
    return std::nullopt;
  }
  if (!answer.starts_with("HTTP/1.1 200") && !answer.starts_with("HTTP/1.0 200")) {
    // At most a line's worth of the status, control bytes shown as '?'.
    std::string status = answer.substr(0, std::min<std::size_t>(answer.find('\r'), 120));
    std::transform(status.begin(), status.end(), status.begin(), shown_byte);
    error = "answer: " + status;
    return std::nullopt;
  }
  return answer.substr(body + 4);
}

// The samples of one scrape, found by name and labels through indexes built once. A redraw
// looks up every row's cells: scanning all samples of a name per cell was quadratic (a node
// with thousands of streams or peers took seconds per screen, and a hostile endpoint serving
// many samples, minutes). A lookup now scans only the samples that carry the rarest of the
// labels asked for.
class Scrape {
 public:
  using Labels = std::map<std::string, std::string>;
  explicit Scrape(std::vector<Sample> samples) : samples_(std::move(samples)) {
    for (std::size_t i = 0; i < samples_.size(); ++i) {
      const Sample& sample = samples_[i];
      by_name_[sample.name].push_back(i);
      exact_.emplace(std::pair{sample.name, sample.labels}, i);  // the first kept
      for (const auto& [key, value] : sample.labels)
        by_label_[LabelKey{sample.name, key, value}].push_back(i);
    }
  }
  // The value of `name` whose labels are exactly `match`, else of the first (in the order
  // served) with every label in `match`; 0 when there is none.
  double value(std::string_view name, const Labels& match) const {
    const auto exact = exact_.find(std::pair{std::string(name), match});
    if (exact != exact_.end()) return samples_[exact->second].value;
    for (const std::size_t i : candidates(name, match)) {
      if (matches(i, match)) return samples_[i].value;
    }
    return 0;
  }
  // Sums `name` over the samples with the labels of `match`.
  double sum(std::string_view name, const Labels& match) const {
    double total = 0;
    for (const std::size_t i : candidates(name, match)) {
      if (matches(i, match)) total += samples_[i].value;
    }
    return total;
  }
  // Every sample of `name`, in the order served.
  std::vector<const Sample*> all(std::string_view name) const {
    std::vector<const Sample*> found;
    for (const std::size_t i : named(name))
      found.push_back(&samples_[i]);
    return found;
  }
  // How many samples value() and sum() have compared with a match so far: the work a screen
  // costs, which the tests bound.
  std::size_t samples_compared() const { return samples_compared_; }

 private:
  using LabelKey = std::tuple<std::string, std::string, std::string>;  // name, key, value
  const std::vector<std::size_t>& named(std::string_view name) const {
    const auto found = by_name_.find(name);
    return found == by_name_.end() ? none_ : found->second;
  }
  // The samples of `name` that may match: those carrying the rarest label of `match`.
  const std::vector<std::size_t>& candidates(std::string_view name, const Labels& match) const {
    const std::vector<std::size_t>* fewest = &named(name);
    for (const auto& [key, value] : match) {
      const auto found = by_label_.find(LabelKey{std::string(name), key, value});
      if (found == by_label_.end()) return value.empty() ? *fewest : none_;
      if (found->second.size() < fewest->size()) fewest = &found->second;
    }
    return *fewest;
  }
  bool matches(std::size_t i, const Labels& match) const {
    ++samples_compared_;
    for (const auto& [key, value] : match) {
      if (samples_[i].label(key) != value) return false;
    }
    return true;
  }
  std::vector<Sample> samples_;
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_name_;  // in served order
  std::map<std::pair<std::string, Labels>, std::size_t> exact_;
  std::map<LabelKey, std::vector<std::size_t>> by_label_;  // in served order
  std::vector<std::size_t> none_;  // what named() gives for a name without samples
  mutable std::size_t samples_compared_ = 0;
};

inline std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
  return text;
}

// How much a counter grew from `before` to `now`. A counter that went down was started
// again (the node restarted, or the peer was removed and added): it grew by at least `now`
// since, as Prometheus' rate() takes it. Never negative.
inline double counter_increase(double now, double before) {
  return now >= before ? now - before : now;
}

// The peers table: one row per weft_peer_state's peer, with rates against `previous`
// (per second over `interval_s`) when there is one.
inline std::string peers_table(const Scrape& now, const Scrape* previous, double interval_s) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-12s %5s %6s %9s %10s %10s %10s %10s %8s %8s %9s %7s\n",
                "PEER", "STATE", "CONNS", "RECONN", "RTT_MS", "OUT", "IN", "OUT/s", "IN/s",
                "REQ_OUT", "REQ_IN", "REQ_FAIL", "STREAMS");
  out += line;
  for (const Sample* state : now.all("weft_peer_state")) {
    if (state->value != 1) continue;
    const std::map<std::string, std::string> peer{{"peer", state->label("peer")}};
    const std::map<std::string, std::string> out_dir{{"peer", state->label("peer")},
                                                     {"direction", "out"}};
    const std::map<std::string, std::string> in_dir{{"peer", state->label("peer")},
                                                    {"direction", "in"}};
    const double bytes_out = now.value("weft_peer_bytes_total", out_dir);
    const double bytes_in = now.value("weft_peer_bytes_total", in_dir);
    std::string rate_out = "-";
    std::string rate_in = "-";
    if (previous != nullptr && interval_s > 0) {
      rate_out = human_bytes(
          counter_increase(bytes_out, previous->value("weft_peer_bytes_total", out_dir)) /
          interval_s);
      rate_in =
          human_bytes(counter_increase(bytes_in, previous->value("weft_peer_bytes_total", in_dir)) /
                      interval_s);
    }
    const double failed = now.sum("weft_requests_completed_total", peer) -
                          now.value("weft_requests_completed_total",
                                    {{"peer", state->label("peer")}, {"result", "ok"}});
    std::snprintf(line, sizeof line,
                  "%-16s %-12s %5.0f %6.0f %9.3f %10s %10s %10s %10s %8.0f %8.0f %9.0f %7.0f\n",
                  state->label("peer").c_str(), state->label("state").c_str(),
                  now.value("weft_peer_connections_total", peer),
                  now.value("weft_peer_reconnects_total", peer),
                  now.value("weft_peer_rtt_seconds", peer) * 1000, human_bytes(bytes_out).c_str(),
                  human_bytes(bytes_in).c_str(), rate_out.c_str(), rate_in.c_str(),
                  now.value("weft_requests_sent_total", peer),
                  now.value("weft_requests_received_total", peer), failed,
                  now.value("weft_peer_streams_open", peer));
    out += line;
  }
  return out;
}

inline std::string idle_text(double percent) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f", percent);
  return text;
}

// The streams table: every live stream and object stream the scrape lists.
inline std::string streams_table(const Scrape& now) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-16s %-8s %-14s %-10s %9s %9s %10s %10s %8s %7s %6s\n", "PEER",
                "KIND", "STREAM", "ROLE/DIR", "MSGS_OUT", "MSGS_IN", "BYTES_OUT", "BYTES_IN",
                "INFLIGHT", "OFFSET", "IDLE%");
  out += line;
  for (const Sample* sample : now.all("weft_stream_unread_messages")) {
    std::map<std::string, std::string> key = sample->labels;
    auto way = [&](const char* name, const char* direction) {
      key["direction"] = direction;
      return now.value(name, key);
    };
    std::snprintf(line, sizeof line, "%-16s %-8s %-14s %-10s %9.0f %9.0f %10s %10s %8.0f %7s %6s\n",
                  sample->label("peer").c_str(), "stream", sample->label("stream").c_str(),
                  sample->label("role").c_str(), way("weft_stream_messages_total", "out"),
                  way("weft_stream_messages_total", "in"),
                  human_bytes(way("weft_stream_bytes_total", "out")).c_str(),
                  human_bytes(way("weft_stream_bytes_total", "in")).c_str(), sample->value, "-",
                  idle_text(now.value("weft_stream_idle_percent", sample->labels)).c_str());
    out += line;
  }
  for (const Sample* sample : now.all("weft_object_stream_objects_total")) {
    const bool sending = sample->label("direction") == "out";
    const double bytes = now.value("weft_object_stream_bytes_total", sample->labels);
    std::snprintf(line, sizeof line,
                  "%-16s %-8s %-14s %-10s %9.0f %9.0f %10s %10s %8.0f %7s %6.1f\n",
                  sample->label("peer").c_str(), "objects",
                  (sample->label("stream") + " " + sample->label("endpoint")).c_str(),
                  sample->label("direction").c_str(), sending ? sample->value : 0,
                  sending ? 0 : sample->value, sending ? human_bytes(bytes).c_str() : "-",
                  sending ? "-" : human_bytes(bytes).c_str(),
                  now.value("weft_object_stream_in_flight", sample->labels),
                  human_bytes(now.value("weft_object_stream_offset_bytes", sample->labels)).c_str(),
                  now.value("weft_object_stream_idle_percent", sample->labels));
    out += line;
  }
  return out;
}

// One screen: the node's line, the peers table, the streams table.
inline std::string stats_screen(const Scrape& now, const Scrape* previous, double interval_s,
                                const HostPort& address) {
  std::string out;
  const std::vector<const Sample*> info = now.all("weft_node_info");
  char line[256];
  std::snprintf(line, sizeof line, "node %s (incarnation %s) at %s:%u\n\n",
                info.empty() ? "?" : info[0]->label("node").c_str(),
                info.empty() ? "?" : info[0]->label("incarnation").c_str(), address.host.c_str(),
                address.port);
  out += line;
  out += peers_table(now, previous, interval_s);
  out += "\n";
  out += streams_table(now);
  return out;
}

// Exit status of run_stats when its output cannot be written.
inline constexpr int kStatsExitOutputFailed = 6;

struct StatsArgs {
  std::optional<HostPort> address;
  std::int64_t interval_ms = 1'000;
  bool once = false;
};

// weft-call stats --metrics HOST:PORT [--interval-ms T] [--once]: exit 0, 2 for usage,
// 3 when a scrape fails with --once (without it the error is shown and the view goes on),
// 6 when a screen cannot be written.
inline int run_stats(int argc, char** argv) {
  StatsArgs args;
  // The first bad argument: a later good one never makes up for it.
  const char* bad = nullptr;
  for (int i = 0; i < argc && bad == nullptr; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--metrics" && has_value) {
      args.address = parse_host_port(argv[++i]);
      if (!args.address) bad = "bad --metrics address, expected HOST:PORT";
    } else if (arg == "--interval-ms" && has_value) {
      if (!number(argv[++i], args.interval_ms) || args.interval_ms <= 0)
        bad = "bad --interval-ms (a positive number of ms)";
    } else if (arg == "--once") {
      args.once = true;
    } else {
      bad = "unknown option or missing value";
    }
  }
  if (bad == nullptr && !args.address) bad = "--metrics is required";
  if (bad != nullptr) {
    std::fprintf(stderr,
                 "weft-call stats: %s\n"
                 "usage: weft-call stats --metrics HOST:PORT [--interval-ms T] [--once]\n",
                 bad);
    return 2;
  }
  std::optional<Scrape> previous;
  auto previous_at = std::chrono::steady_clock::now();
  while (true) {
    std::string error;
    const std::optional<std::string> body = scrape(*args.address, error);
    std::optional<std::vector<Sample>> samples;
    if (body) samples = parse_exposition(*body);
    if (body && !samples) error = "the answer is not in the Prometheus text format";
    const auto now_at = std::chrono::steady_clock::now();
    std::string screen = args.once ? "" : "\x1b[H\x1b[2J";  // home, clear screen
    if (samples) {
      Scrape now(std::move(*samples));
      const double interval_s = std::chrono::duration<double>(now_at - previous_at).count();
      screen += stats_screen(now, previous ? &*previous : nullptr, interval_s, *args.address);
      previous = std::move(now);
      previous_at = now_at;
    } else {
      screen += "weft-call stats: " + error + "\n";
    }
    std::fputs(screen.c_str(), stdout);
    // A screen that cannot be written (a full disk) ends the view: nobody sees it.
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) return kStatsExitOutputFailed;
    if (args.once) return samples ? 0 : 3;
    std::this_thread::sleep_for(std::chrono::milliseconds(args.interval_ms));
  }
}

}  // namespace weft::cli
