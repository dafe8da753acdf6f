#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace weft_bench {

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  for (std::size_t from = 0; from <= list.size();) {
    const std::size_t comma = std::min(list.find(',', from), list.size());
    items.push_back(list.substr(from, comma - from));
    from = comma + 1;
  }
  return items;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

void use_sched_batch() {
  const sched_param param{};
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    std::perror("weft-bench: SCHED_BATCH");
    std::abort();
  }
}

double elapsed_s(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

Clock::time_point after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

double us_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::micro>(to - from).count();
}

double Latencies::at(double q) {
  if (us.empty()) return 0;
  std::sort(us.begin(), us.end());
  return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))];
}

// ---- server processes ----

Server spawn_server(const std::vector<std::string>& serve_args, const Options& options) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) std::abort();
  // Everything the child needs is built before fork: between fork and exec it only makes
  // async-signal-safe calls (this process may have threads, e.g. gRPC's).
  std::vector<std::string> args = {"weft-bench", "--serve"};
  args.insert(args.end(), serve_args.begin(), serve_args.end());
  args.push_back("--port-fd");
  args.push_back(std::to_string(pipe_fds[1]));
  // This binary's path, read before fork; exec'ing "/proc/self/exe" itself would start the
  // tool under valgrind --trace-children, not weft-bench.
  std::string self(4096, '\0');
  const ssize_t self_size = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (self_size <= 0) std::abort();
  self.resize(static_cast<std::size_t>(self_size));
  std::vector<char*> argv;
  for (std::string& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int cpu = options.split ? 1 : 0;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::fcntl(pipe_fds[1], F_SETFD, 0);  // the write end survives exec
    pin_to(cpu);                       // the affinity survives exec too
    ::execv(self.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::uint16_t port = 0;
  if (::read(pipe_fds[0], &port, sizeof port) != sizeof port) {
    std::fprintf(stderr, "weft-bench: the server for '%s' died before listening\n",
                 serve_args.empty() ? "" : serve_args[0].c_str());
    std::abort();
  }
  ::close(pipe_fds[0]);
  return {pid, port};
}

void reap(const Server& server) {
  ::kill(server.pid, SIGKILL);
  ::waitpid(server.pid, nullptr, 0);
}

void announce_port(int port_fd, std::uint16_t port) {
  [[maybe_unused]] const ssize_t written = ::write(port_fd, &port, sizeof port);
  ::close(port_fd);
}

// ---- sockets ----

namespace {

void no_delay(int fd) {
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address = loopback(0);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(fd, 16) != 0)
    std::abort();
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  port = ntohs(address.sin_port);
  return fd;
}

int accept_one(int listener) {
  while (true) {
    const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      no_delay(fd);
      return fd;
    }
  }
}

int connect_loopback(std::uint16_t port, const std::function<void(int)>& before_connect) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (before_connect) before_connect(fd);
  const sockaddr_in address = loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) std::abort();
  no_delay(fd);
  return fd;
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

bool send_all(int fd, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t sent = ::send(fd, bytes, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EAGAIN) {
      pollfd wait{fd, POLLOUT, 0};
      ::poll(&wait, 1, -1);
      continue;
    }
    if (sent <= 0) return false;
    bytes += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

// ---- small echoes ----

EchoFifo::EchoFifo(std::size_t in_flight, double seconds, Latencies& latencies,
                   std::size_t message_bytes)
    : message_bytes_(message_bytes),
      batch_(message_bytes * in_flight, 'r'),
      outstanding_(0),
      latencies_(latencies) {
  start_ = Clock::now();
  end_ = after(seconds);
}

std::size_t EchoFifo::start() {
  start_ = Clock::now();
  const std::size_t count = batch_.size() / message_bytes_;
  sent_at_.assign(count, start_);
  outstanding_ = count;
  return count;
}

std::size_t EchoFifo::on_received(std::size_t bytes) {
  partial_ += bytes;
  const std::size_t done = partial_ / message_bytes_;
  partial_ %= message_bytes_;
  const auto now = Clock::now();
  for (std::size_t i = 0; i < done; ++i)
    latencies_.us.push_back(us_between(sent_at_[head_++], now));
  completed_ += done;
  outstanding_ -= done;
  if (now >= end_ || done == 0) return 0;
  sent_at_.insert(sent_at_.end(), done, now);
  outstanding_ += done;
  return done;
}

double EchoFifo::rate() const {
  return static_cast<double>(completed_) / elapsed_s(start_);
}

// ---- output ----

void print_line(const char* scenario, const std::string& peer, const char* unit,
                const Result& result, double baseline, const std::string& extra,
                const char* baseline_name) {
  // Small values (GB/s) with three decimals, counts with one.
  const int digits = result.value < 100 && baseline < 100 ? 3 : 1;
  std::printf(
      "{\"scenario\":\"%s\",\"peer\":\"%s\",\"value\":%.*f,\"unit\":\"%s\",\"p50_us\":%.1f,"
      "\"p99_us\":%.1f,\"baseline\":\"%s\",\"baseline_value\":%.*f,\"ratio\":%.3f%s}\n",
      scenario, peer.c_str(), digits, result.value, unit, result.p50_us, result.p99_us,
      baseline_name, digits, baseline, baseline > 0 ? result.value / baseline : 0.0, extra.c_str());
  std::fflush(stdout);
}

namespace {

const std::vector<std::string>& table_columns() {
  static const std::vector<std::string> columns = {
      "raw TCP", "raw TCP mux", "libevent raw", "epoll raw", "poll raw",     "io_uring raw",
      "nghttp2", "ZeroMQ",      "gRPC",         "weft",      "weft io_uring"};
  return columns;
}

// 81900 -> "81.9 k", 1140000 -> "1.14 M", 3.0 -> "3.00". The unit is picked after rounding
// to three digits: 999.7 k is "1 M", not "1e+03 k".
std::string human(double value) {
  char text[32];
  if (value >= 999.5e3) {
    std::snprintf(text, sizeof text, "%.3g M", value / 1e6);
  } else if (value >= 999.5) {
    std::snprintf(text, sizeof text, "%.3g k", value / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%.2f", value);
  }
  return text;
}

}  // namespace

void Table::add(const std::string& row, const std::string& column, double value) {
  cells_[{row, column}].push_back(value);
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

namespace {

// "39.4 k", or over several rounds "39.4 k (38.1 k-40.2 k)": the median, lowest and highest.
std::string cell_text(const std::vector<double>& values) {
  std::string text = human(median(values));
  if (values.size() > 1) {
    const auto [lowest, highest] = std::minmax_element(values.begin(), values.end());
    text += " (" + human(*lowest) + "-" + human(*highest) + ")";
  }
  return text;
}

}  // namespace

void Table::print() const {
  std::printf("\n| pattern |");
  for (const std::string& column : table_columns())
    std::printf(" %s |", column.c_str());
  std::printf("\n|---|");
  for (std::size_t i = 0; i < table_columns().size(); ++i)
    std::printf("---|");
  std::printf("\n");
  for (const std::string& row : table_rows()) {
    std::printf("| %s |", row.c_str());
    for (const std::string& column : table_columns()) {
      const auto cell = cells_.find({row, column});
      std::printf(" %s |", cell == cells_.end() ? "—" : cell_text(cell->second).c_str());
    }
    std::printf("\n");
  }
  std::fflush(stdout);
}

}  // namespace weft_bench
