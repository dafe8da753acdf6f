// weft-bench's harness: options, pinning, server processes, latencies, the JSON lines and the
// side-by-side table. Shared by weft's scenarios and every peer.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace weft_bench {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kSmall = 64;      // small messages and requests
constexpr std::size_t kBulk = 1 << 20;  // bulk messages and requests
constexpr int kSkipped = 77;            // exit status of a run that asked for a peer not built

struct Options {
  std::string scenario = "all";  // a name, a comma-separated list of names, or "all"
  double seconds = 3;
  bool split = false;  // --pin split: servers on CPU 1
  // weft's queue sizes (see config_for); 0: library defaults. 64 since the eighteenth session:
  // against 32, alternated pairs gave both a lower p99 under bulk and more bulk (bench/README).
  std::size_t queue_kib = 64;
  std::vector<std::string> peers;  // --peers: the peers to run beside weft and raw TCP
  bool table = false;              // --table: a markdown table after the JSON lines
  // --rounds: how many times each scenario runs, its transports in the listed order in even
  // rounds and in reverse in odd ones (a machine whose speed drifts favours no one); the
  // table shows each cell's median.
  std::size_t rounds = 1;
};

// "a,b,c" -> {"a", "b", "c"}.
std::vector<std::string> split_commas(const std::string& list);
void pin_to(int cpu);
// Puts the calling thread under SCHED_BATCH (what EventNodeOptions::loop_scheduling batch
// does for weft's loop threads); aborts if the kernel refuses.
void use_sched_batch();
// Runs `fn` on a thread of its own under SCHED_BATCH (with this thread's CPU affinity) and
// returns its result.
template <typename Fn>
auto on_batch_thread(Fn fn) {
  decltype(fn()) result{};
  std::thread thread([&] {
    use_sched_batch();
    result = fn();
  });
  thread.join();
  return result;
}
double elapsed_s(Clock::time_point since);
// `seconds` from now.
Clock::time_point after(double seconds);
double us_between(Clock::time_point from, Clock::time_point to);

struct Latencies {
  std::vector<double> us;
  // The `q` quantile (0..1) of the samples; 0 without any.
  double at(double q);
};

// What one side measured: its rate (or latency) and its latency quantiles (0: not measured).
struct Result {
  double value = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// ---- server processes ----

struct Server {
  pid_t pid = -1;
  std::uint16_t port = 0;
};

// Starts `weft-bench --serve ARGS... --port-fd N` (this program, exec'd: no library's threads
// or state cross into the child) pinned as `options` say, and waits for the port it listens
// on. Aborts if the child dies first.
Server spawn_server(const std::vector<std::string>& serve_args, const Options& options);
// Kills and waits for a server.
void reap(const Server& server);
// The child's side: hands `port` to the parent through `port_fd` and closes it.
void announce_port(int port_fd, std::uint16_t port);
// Runs `client(port)` against a server started with `serve_args`; returns its result.
template <typename Fn>
auto with_server(const std::vector<std::string>& serve_args, const Options& options, Fn client) {
  const Server server = spawn_server(serve_args, options);
  auto result = client(server.port);
  reap(server);
  return result;
}

// ---- sockets ----

// A TCP socket listening on 127.0.0.1 at a port the kernel picks (returned in `port`).
int listen_loopback(std::uint16_t& port);
// Accepts one connection from `listener` (blocking), with TCP_NODELAY.
int accept_one(int listener);
// A blocking TCP connection to 127.0.0.1:`port`, with TCP_NODELAY; `before_connect`, if
// given, tunes the socket first (options the handshake must see, such as SO_RCVBUF).
int connect_loopback(std::uint16_t port, const std::function<void(int)>& before_connect = {});
void set_nonblocking(int fd);
// Sends all of `size` bytes (waiting for room on a nonblocking socket); false if the
// connection failed.
bool send_all(int fd, const void* data, std::size_t size);

// Listens, announces the port on `port_fd`, then serves each accepted (blocking) connection
// with `serve_connection(fd)` (it returns when the client is gone; the
// connection is closed then); never returns.
template <typename Fn>
[[noreturn]] void serve_connections(int port_fd, Fn serve_connection) {
  std::uint16_t port = 0;
  const int listener = listen_loopback(port);
  announce_port(port_fd, port);
  while (true) {
    const int fd = accept_one(listener);
    serve_connection(fd);
    ::close(fd);
  }
}

// ---- 64 B echoes over an ordered byte stream ----

// The client's bookkeeping for `in_flight` 64 B messages echoed over one ordered byte stream
// (TCP or any peer's loop over it): when each was sent, how many came back, when to stop.
class EchoFifo {
 public:
  // Messages of `message_bytes` (64 B unless a scenario pads them).
  EchoFifo(std::size_t in_flight, double seconds, Latencies& latencies,
           std::size_t message_bytes = kSmall);
  // The first `in_flight` messages, to send now.
  std::size_t start();
  // `bytes` more arrived; returns how many new messages to send now (0 after the deadline).
  std::size_t on_received(std::size_t bytes);
  bool done() const { return outstanding_ == 0; }
  // Echoes completed per second since start().
  double rate() const;
  // `count` messages' worth of bytes to send (count <= in_flight).
  const char* bytes() const { return batch_.data(); }
  std::size_t capacity() const { return batch_.size(); }

 private:
  std::size_t message_bytes_;
  std::vector<char> batch_;
  std::vector<Clock::time_point> sent_at_;  // FIFO: the stream keeps order
  std::size_t head_ = 0;
  std::size_t partial_ = 0;
  std::size_t outstanding_ = 0;
  std::size_t completed_ = 0;
  Clock::time_point start_;
  Clock::time_point end_;
  Latencies& latencies_;
};

// ---- output ----

// One JSON line for `peer` in `scenario`; `baseline` (raw TCP unless `baseline_name` says
// otherwise) measured in the same run.
void print_line(const char* scenario, const std::string& peer, const char* unit,
                const Result& result, double baseline, const std::string& extra = {},
                const char* baseline_name = "raw_tcp");

// The side-by-side table: rows are patterns, columns the transports, filled as scenarios run.
class Table {
 public:
  // One measurement of `column` in `row`; a cell measured in several rounds keeps them all.
  void add(const std::string& row, const std::string& column, double value);
  // A markdown table of everything added (rows and columns in a fixed order; "—" where a
  // transport was not run or has no such pattern). A cell of several measurements shows
  // their median and, in brackets, their lowest and highest.
  void print() const;

 private:
  std::map<std::pair<std::string, std::string>, std::vector<double>> cells_;
};

// The median of `values` (the mean of the middle two when their count is even); 0 if empty.
double median(std::vector<double> values);

// The table's rows and columns, in print order.
inline const std::vector<std::string>& table_rows() {
  static const std::vector<std::string> rows = {
      "ping-pong 64 B, round trips/s",
      "64 in flight of 64 B, requests/s",
      "one-way 64 B stream, messages/s",
      "1 MiB bulk, GB/s",
      "1 MiB objects (8 in flight), GB/s",
      "p99 of 64 B requests under 1 MiB bulk, x idle p99",
      "the same, loop threads under SCHED_BATCH, x idle p99",
      "TLS 1 MiB requests, GB/s"};
  return rows;
}

// The table's rows by what they measure, in table_rows()' order.
enum class Row : std::size_t { pingpong, in_flight, stream, bulk, objects, p99, p99_batch, tls };
inline const std::string& row_name(Row row) {
  return table_rows()[static_cast<std::size_t>(row)];
}

}  // namespace weft_bench
