// "io_uring raw": the echo on io_uring, one thread each side. A turn submits the send of
// what came in linked to the next recv and waits for both in one io_uring_submit_and_wait:
// one system call per turn, where an epoll loop makes three (wait, recv, send).
#include <liburing.h>

#include <cstdio>
#include <cstdlib>

#include "loop_echo.hpp"
#include "peer.hpp"

namespace weft_bench {
namespace {

class Ring {
 public:
  Ring() {
    // One thread submits and reaps: completions run only when it waits (kernel >= 6.1).
    if (io_uring_queue_init(8, &ring_, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN) <
            0 &&
        io_uring_queue_init(8, &ring_, 0) < 0) {
      std::fprintf(stderr, "weft-bench: io_uring_queue_init failed\n");
      std::abort();
    }
  }
  ~Ring() { io_uring_queue_exit(&ring_); }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // One turn on blocking socket `fd`: sends `size` bytes from `data` (none if 0), then
  // receives into `buffer`; returns what the recv returned (<= 0: the connection is over).
  // The recv is linked after the send, so `buffer` may be `data`.
  int turn(int fd, const char* data, std::size_t size, char* buffer, std::size_t capacity) {
    unsigned expected = 1;
    if (size > 0) {
      io_uring_sqe* send = io_uring_get_sqe(&ring_);
      io_uring_prep_send(send, fd, data, size, MSG_NOSIGNAL);
      send->flags |= IOSQE_IO_LINK;
      send->user_data = kSend;
      ++expected;
    }
    io_uring_sqe* recv = io_uring_get_sqe(&ring_);
    io_uring_prep_recv(recv, fd, buffer, capacity, 0);
    recv->user_data = kRecv;
    io_uring_submit_and_wait(&ring_, expected);
    int received = 0;
    for (unsigned i = 0; i < expected; ++i) {
      io_uring_cqe* completion = nullptr;
      if (io_uring_wait_cqe(&ring_, &completion) != 0) return -1;
      const int result = completion->res;
      const bool was_send = completion->user_data == kSend;
      io_uring_cqe_seen(&ring_, completion);
      if (was_send && result >= 0 && static_cast<std::size_t>(result) < size) {
        // A short send (not seen with these sizes): finish it; the recv already ran.
        send_all(fd, data + result, size - static_cast<std::size_t>(result));
      }
      if (!was_send) received = result;
    }
    return received;
  }

 private:
  static constexpr std::uint64_t kSend = 1;
  static constexpr std::uint64_t kRecv = 2;
  io_uring ring_{};
};

[[noreturn]] void serve(Pattern, int port_fd) {
  std::vector<char> buffer(256 * 1024);
  serve_connections(port_fd, [&](int fd) {
    Ring ring;
    int got = ring.turn(fd, nullptr, 0, buffer.data(), buffer.size());
    while (got > 0) {
      const auto size = static_cast<std::size_t>(got);
      got = ring.turn(fd, buffer.data(), size, buffer.data(), buffer.size());
    }
  });
}

double unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  const int fd = connect_loopback(port);
  EchoFifo fifo(in_flight, seconds, latencies);
  std::vector<char> buffer(fifo.capacity());
  Ring ring;
  std::size_t to_send = fifo.start();
  while (true) {
    const int got = ring.turn(fd, fifo.bytes(), to_send * kSmall, buffer.data(), buffer.size());
    if (got <= 0) break;
    to_send = fifo.on_received(static_cast<std::size_t>(got));
    if (fifo.done()) break;
  }
  ::close(fd);
  return fifo.rate();
}

}  // namespace

const PeerDriver& io_uring_raw_driver() {
  static const PeerDriver driver{"io_uring_raw", "io_uring raw", serve,  unary,
                                 nullptr,        nullptr,        nullptr};
  return driver;
}

}  // namespace weft_bench
