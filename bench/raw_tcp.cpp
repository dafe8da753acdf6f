#include "raw_tcp.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "weft_side.hpp"
#include "wire_floor.hpp"

namespace weft_bench {
namespace {

// The ideal mux's frames: a type byte ('p' ping, 'b' bulk), a 4-byte length, the payload.
constexpr std::size_t kMuxHeadBytes = 5;
constexpr std::size_t kPingFrameBytes = kMuxHeadBytes + kSmall;

// What EventNode sets on its sockets for weft-bench's --queue-kib (weft_side.cpp's tune(),
// and the floor EventNodeOptions::socket_receive_bytes documents).
struct MuxTuning {
  std::uint32_t unsent_bytes = 0;   // TCP_NOTSENT_LOWAT (0: the kernel's default)
  std::uint32_t receive_bytes = 0;  // SO_RCVBUF (0: the kernel's default)
};

MuxTuning tuning_for(std::size_t queue_kib) {
  weft::io::EventNodeOptions options;
  tune(options, queue_kib);
  const std::size_t receive = options.socket_receive_bytes == 0
                                  ? 0
                                  : std::max(options.socket_receive_bytes,
                                             weft::io::EventNodeOptions::kMinSocketReceiveBytes);
  return {static_cast<std::uint32_t>(options.socket_unsent_bytes),
          static_cast<std::uint32_t>(receive)};
}

void apply(int fd, const MuxTuning& tuning) {
  const int unsent = static_cast<int>(tuning.unsent_bytes);
  const int receive = static_cast<int>(tuning.receive_bytes);
  if (unsent > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &unsent, sizeof unsent);
  if (receive > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive, sizeof receive);
}

// The ideal mux's server: skips bulk frames, echoes each ping the moment it is whole.
void serve_mux(int fd, std::vector<char>& buffer) {
  MuxTuning tuning;
  if (::recv(fd, &tuning, sizeof tuning, MSG_WAITALL) != sizeof tuning) return;
  apply(fd, tuning);
  std::size_t held = 0;      // bytes at the front of `buffer` not yet parsed
  std::size_t skipping = 0;  // bulk payload bytes still to skip
  while (true) {
    const ssize_t got = ::recv(fd, buffer.data() + held, buffer.size() - held, 0);
    if (got <= 0) return;
    held += static_cast<std::size_t>(got);
    std::size_t at = 0;
    while (true) {
      const std::size_t skipped = std::min(skipping, held - at);
      at += skipped;
      skipping -= skipped;
      if (skipping > 0 || held - at < kMuxHeadBytes) break;
      std::uint32_t length = 0;
      std::memcpy(&length, &buffer[at + 1], sizeof length);
      if (buffer[at] == 'b') {
        at += kMuxHeadBytes;
        skipping = length;
        continue;
      }
      // Only a ping may follow, whole in the buffer: anything else ends the connection.
      if (buffer[at] != 'p' || length > buffer.size() - kMuxHeadBytes) return;
      if (held - at < kMuxHeadBytes + length) break;
      if (!send_all(fd, &buffer[at], kMuxHeadBytes + length)) return;
      at += kMuxHeadBytes + length;
    }
    std::memmove(buffer.data(), buffer.data() + at, held - at);
    held -= at;
  }
}

}  // namespace

void serve_raw_tcp(int port_fd) {
  std::vector<char> buffer(256 * 1024);
  serve_connections(port_fd, [&](int fd) {
    char mode = 0;
    if (::recv(fd, &mode, 1, MSG_WAITALL) != 1) return;
    if (mode == 'm') return serve_mux(fd, buffer);
    if (mode == 'w') return serve_weft_frames(fd, buffer);
    std::uint64_t total = 0;
    while (true) {
      const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (got <= 0) break;
      total += static_cast<std::uint64_t>(got);
      if (mode == 'e' && !send_all(fd, buffer.data(), static_cast<std::size_t>(got))) break;
    }
    if (mode == 'd') send_all(fd, &total, sizeof total);
  });
}

namespace {

int raw_connect(std::uint16_t port, char mode) {
  const int fd = connect_loopback(port);
  send_all(fd, &mode, 1);
  return fd;
}

}  // namespace

double raw_unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies,
                 std::size_t message_bytes) {
  const int fd = raw_connect(port, 'e');
  EchoFifo fifo(in_flight, seconds, latencies, message_bytes);
  std::vector<char> buffer(fifo.capacity());
  send_all(fd, fifo.bytes(), fifo.start() * message_bytes);
  while (!fifo.done()) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0) break;
    const std::size_t more = fifo.on_received(static_cast<std::size_t>(got));
    if (more > 0) send_all(fd, fifo.bytes(), more * message_bytes);
  }
  ::close(fd);
  return fifo.rate();
}

double raw_bulk(std::uint16_t port, std::size_t chunk, double seconds) {
  const int fd = raw_connect(port, 'd');
  std::vector<char> data(chunk, 'b');
  const auto start = Clock::now();
  const auto end = after(seconds);
  while (Clock::now() < end) {
    if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) <= 0) break;
  }
  ::shutdown(fd, SHUT_WR);
  std::uint64_t total = 0;
  [[maybe_unused]] const ssize_t got = ::recv(fd, &total, sizeof total, MSG_WAITALL);
  const double rate = static_cast<double>(total) / elapsed_s(start);
  ::close(fd);
  return rate;
}

namespace {

// The ideal mux's client: one nonblocking socket, bulk frames written whenever there is room,
// the next ping put out at the first frame boundary after its echo came back.
class MuxClient {
 public:
  MuxClient(int fd, std::size_t chunk, bool with_bulk, bool with_pings, Latencies& pings)
      : fd_(fd),
        bulk_(kMuxHeadBytes + chunk, 'b'),
        with_bulk_(with_bulk),
        pings_(pings),
        ping_waiting_(with_pings) {
    const auto length = static_cast<std::uint32_t>(chunk);
    std::memcpy(&bulk_[1], &length, sizeof length);
    ping_.fill('p');
    const auto ping_length = static_cast<std::uint32_t>(kSmall);
    std::memcpy(&ping_[1], &ping_length, sizeof ping_length);
  }

  // Runs for `seconds`; the bulk's bytes/s.
  double run(double seconds) {
    const auto start = Clock::now();
    const auto end = after(seconds);
    while (Clock::now() < end) {
      if (!write_some()) break;
      // Writable only wanted while there is something to write: with no bulk, the ping.
      const bool to_write = with_bulk_ || ping_waiting_;
      pollfd ready{fd_, static_cast<short>(POLLIN | (to_write ? POLLOUT : 0)), 0};
      const auto left_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      const int wait_ms = static_cast<int>(std::max<std::int64_t>(1, left_ms.count() + 1));
      if (::poll(&ready, 1, wait_ms) < 0 && errno != EINTR) break;
      if ((ready.revents & POLLIN) != 0 && !read_echoes()) break;
    }
    return static_cast<double>(bulk_bytes_) / elapsed_s(start);
  }

 private:
  // Writes until the socket is full: the waiting ping first once a bulk frame is whole.
  bool write_some() {
    while (true) {
      const bool ping_now = ping_waiting_ && bulk_at_ == 0;
      if (!ping_now && !with_bulk_) return true;
      const char* from = ping_now ? ping_.data() + ping_at_ : bulk_.data() + bulk_at_;
      const std::size_t size = ping_now ? ping_.size() - ping_at_ : bulk_.size() - bulk_at_;
      const ssize_t sent = ::send(fd_, from, size, MSG_NOSIGNAL);
      if (sent < 0) return errno == EAGAIN || errno == EINTR;
      const auto wrote = static_cast<std::size_t>(sent);
      if (ping_now) {
        ping_at_ += wrote;
        if (ping_at_ == ping_.size()) {
          ping_at_ = 0;
          ping_waiting_ = false;
        }
        continue;
      }
      bulk_bytes_ += wrote;
      bulk_at_ += wrote;
      if (bulk_at_ == bulk_.size()) bulk_at_ = 0;
    }
  }

  bool read_echoes() {
    const ssize_t got = ::recv(fd_, echo_.data() + echo_held_, echo_.size() - echo_held_, 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return false;
    if (got < 0) return true;
    echo_held_ += static_cast<std::size_t>(got);
    if (echo_held_ < kPingFrameBytes) return true;
    // One ping in flight: a whole echo is the only thing the server sends.
    const auto now = Clock::now();
    pings_.us.push_back(std::chrono::duration<double, std::micro>(now - ping_sent_).count());
    echo_held_ -= kPingFrameBytes;
    ping_waiting_ = true;
    ping_sent_ = now;
    return true;
  }

  int fd_;
  std::vector<char> bulk_;
  bool with_bulk_;
  std::array<char, kPingFrameBytes> ping_{};
  std::array<char, kPingFrameBytes> echo_{};
  Latencies& pings_;
  std::size_t bulk_at_ = 0;  // bytes of the current bulk frame sent
  std::size_t ping_at_ = 0;  // bytes of the waiting ping sent
  std::size_t echo_held_ = 0;
  bool ping_waiting_;  // false from the start without pings: none is ever sent
  Clock::time_point ping_sent_ = Clock::now();
  std::uint64_t bulk_bytes_ = 0;
};

double run_mux(std::uint16_t port, std::size_t chunk, std::size_t queue_kib, bool with_bulk,
               bool with_pings, double seconds, Latencies& pings) {
  const MuxTuning tuning = tuning_for(queue_kib);
  // Tuned before connecting, as EventNode tunes a socket it dials.
  const int fd = connect_loopback(port, [&](int socket) { apply(socket, tuning); });
  const char mode = 'm';
  send_all(fd, &mode, 1);
  send_all(fd, &tuning, sizeof tuning);
  set_nonblocking(fd);
  const double rate = MuxClient(fd, chunk, with_bulk, with_pings, pings).run(seconds);
  ::close(fd);
  return rate;
}

}  // namespace

double raw_pings_under_bulk(std::uint16_t port, std::size_t chunk, std::size_t queue_kib,
                            bool with_bulk, double seconds, Latencies& pings) {
  return run_mux(port, chunk, queue_kib, with_bulk, true, seconds, pings);
}

double raw_mux_bulk(std::uint16_t port, std::size_t chunk, std::size_t queue_kib, double seconds) {
  Latencies none;
  return run_mux(port, chunk, queue_kib, true, false, seconds, none);
}

}  // namespace weft_bench
