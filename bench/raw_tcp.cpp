#include "raw_tcp.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace weft_bench {

void serve_raw_tcp(int port_fd) {
  std::vector<char> buffer(256 * 1024);
  serve_connections(port_fd, [&](int fd) {
    char mode = 0;
    if (::recv(fd, &mode, 1, MSG_WAITALL) != 1) return;
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

double raw_unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  const int fd = raw_connect(port, 'e');
  EchoFifo fifo(in_flight, seconds, latencies);
  std::vector<char> buffer(fifo.capacity());
  send_all(fd, fifo.bytes(), fifo.start() * kSmall);
  while (!fifo.done()) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0) break;
    const std::size_t more = fifo.on_received(static_cast<std::size_t>(got));
    if (more > 0) send_all(fd, fifo.bytes(), more * kSmall);
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

}  // namespace weft_bench
