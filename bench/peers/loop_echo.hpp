// What the event-loop baselines (libevent raw, epoll raw, io_uring raw) share: one connection
// served at a time, and the echo logic each side runs when its socket is readable. Each
// baseline brings only its loop.
#pragma once

#include <cstdint>
#include <vector>

#include "../harness.hpp"
#include "peer.hpp"

namespace weft_bench {

// The server's turn on a readable nonblocking socket: one recv, and the bytes sent back.
// False once the connection is over.
bool echo_readable(int fd, std::vector<char>& buffer);
// The client's turn on a readable nonblocking socket: one recv into `buffer`, the echoes
// counted and as many new messages sent. False once every echo is back after the deadline.
bool client_readable(int fd, EchoFifo& fifo, std::vector<char>& buffer);

// A baseline's loop is a callable `run(fd, on_readable)` that calls `on_readable()` whenever
// `fd` is readable until it returns false.

// The echo server on the loop `run`; never returns.
template <typename Run>
[[noreturn]] void serve_echo(int port_fd, Run run) {
  std::vector<char> buffer(256 * 1024);
  serve_connections(port_fd, [&](int fd) {
    set_nonblocking(fd);
    run(fd, [&] { return echo_readable(fd, buffer); });
  });
}

// The echo client on the loop `run` (see PeerDriver::unary).
template <typename Run>
double unary_echo(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies,
                  Run run) {
  const int fd = connect_loopback(port);
  set_nonblocking(fd);
  EchoFifo fifo(in_flight, seconds, latencies);
  std::vector<char> buffer(fifo.capacity());
  send_all(fd, fifo.bytes(), fifo.start() * kSmall);
  run(fd, [&] { return client_readable(fd, fifo, buffer); });
  ::close(fd);
  return fifo.rate();
}

// The driver of an echo baseline on the loop type `Loop` (a default-constructible `run`).
template <typename Loop>
PeerDriver loop_driver(std::string_view name, std::string_view column) {
  return PeerDriver{
      name,
      column,
      [](Pattern, int port_fd) { serve_echo(port_fd, Loop{}); },
      [](std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
        return unary_echo(port, in_flight, seconds, latencies, Loop{});
      },
      nullptr,
      nullptr,
      nullptr};
}

}  // namespace weft_bench
