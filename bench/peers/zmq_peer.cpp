// ZeroMQ (libzmq's C API), one context with one I/O thread on each side besides the
// application's thread. Ping-pong: REQ to REP. 64 in flight: DEALER to ROUTER (the ROUTER
// echoes [identity][body]). Streams and bulk: PUSH to PULL, then an end message carrying a
// port the client's PULL listens on, where the server's PUSH answers the counts.
#include <zmq.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "peer.hpp"

namespace weft_bench {
namespace {

struct Counts {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "weft-bench zmq: %s: %s\n", what, zmq_strerror(zmq_errno()));
  std::abort();
}

// A socket of `type` with linger 0 (closing never waits for the peer).
void* open_socket(void* context, int type) {
  void* socket = zmq_socket(context, type);
  if (socket == nullptr) fail("zmq_socket");
  const int zero = 0;
  zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
  return socket;
}

// Binds `socket` to a port of 127.0.0.1 the kernel picks; returns the port.
std::uint16_t bind_any(void* socket) {
  if (zmq_bind(socket, "tcp://127.0.0.1:*") != 0) fail("zmq_bind");
  char endpoint[64] = {};
  std::size_t size = sizeof endpoint;
  zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
  const char* colon = std::strrchr(endpoint, ':');
  return static_cast<std::uint16_t>(std::atoi(colon + 1));
}

void connect_to(void* socket, std::uint16_t port) {
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  if (zmq_connect(socket, endpoint.c_str()) != 0) fail("zmq_connect");
}

// Receives one message (every frame of it) and sends it back unchanged, without copying.
void echo_message(void* socket) {
  while (true) {
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    if (zmq_msg_recv(&frame, socket, 0) < 0) fail("zmq_msg_recv");
    const bool more = zmq_msg_more(&frame) != 0;
    if (zmq_msg_send(&frame, socket, more ? ZMQ_SNDMORE : 0) < 0) fail("zmq_msg_send");
    if (!more) return;
  }
}

// Counts messages on `pull` until an end message (2 bytes: the port to answer on), then
// answers the counts from a PUSH to that port.
void count_until_end(void* context, void* pull) {
  Counts counts;
  while (true) {
    zmq_msg_t message;
    zmq_msg_init(&message);
    if (zmq_msg_recv(&message, pull, 0) < 0) fail("zmq_msg_recv");
    const std::size_t size = zmq_msg_size(&message);
    if (size == sizeof(std::uint16_t)) {
      std::uint16_t port = 0;
      std::memcpy(&port, zmq_msg_data(&message), sizeof port);
      zmq_msg_close(&message);
      void* push = open_socket(context, ZMQ_PUSH);
      connect_to(push, port);
      zmq_send(push, &counts, sizeof counts, 0);
      const int wait_ms = 1000;  // let the answer out before closing
      zmq_setsockopt(push, ZMQ_LINGER, &wait_ms, sizeof wait_ms);
      zmq_close(push);
      return;
    }
    ++counts.messages;
    counts.bytes += size;
    zmq_msg_close(&message);
  }
}

[[noreturn]] void serve(Pattern pattern, int port_fd) {
  void* context = zmq_ctx_new();
  const int type = pattern == Pattern::pingpong ? ZMQ_REP
                   : pattern == Pattern::unary  ? ZMQ_ROUTER
                                                : ZMQ_PULL;
  void* socket = open_socket(context, type);
  announce_port(port_fd, bind_any(socket));
  while (true) {
    if (type == ZMQ_PULL) {
      count_until_end(context, socket);
    } else {
      echo_message(socket);
    }
  }
}

double unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  void* context = zmq_ctx_new();
  void* socket = open_socket(context, in_flight == 1 ? ZMQ_REQ : ZMQ_DEALER);
  connect_to(socket, port);
  const std::vector<char> message(kSmall, 'z');
  std::vector<char> reply(kSmall);
  std::deque<Clock::time_point> sent_at;  // the connection keeps order
  std::size_t completed = 0;
  const auto start = Clock::now();
  const auto end = after(seconds);
  auto issue = [&] {
    sent_at.push_back(Clock::now());
    if (zmq_send(socket, message.data(), message.size(), 0) < 0) fail("zmq_send");
  };
  for (std::size_t i = 0; i < in_flight; ++i)
    issue();
  while (!sent_at.empty()) {
    if (zmq_recv(socket, reply.data(), reply.size(), 0) < 0) fail("zmq_recv");
    const auto now = Clock::now();
    latencies.us.push_back(us_between(sent_at.front(), now));
    sent_at.pop_front();
    ++completed;
    if (now < end) issue();
  }
  const double rate = static_cast<double>(completed) / elapsed_s(start);
  zmq_close(socket);
  zmq_ctx_term(context);
  return rate;
}

// Messages of `size` bytes from PUSH to PULL for `seconds`; what the server counted.
Counts one_way(std::uint16_t port, std::size_t size, double seconds, double& elapsed) {
  void* context = zmq_ctx_new();
  void* push = open_socket(context, ZMQ_PUSH);
  connect_to(push, port);
  void* answers = open_socket(context, ZMQ_PULL);
  const std::uint16_t answer_port = bind_any(answers);
  // One buffer lent to every message (zmq_msg_init_data, nothing to free): a large message
  // is not copied on its way to the socket.
  std::vector<char> data(size, 'p');
  const auto start = Clock::now();
  const auto end = after(seconds);
  while (Clock::now() < end) {
    for (int i = 0; i < 64; ++i) {
      zmq_msg_t message;
      zmq_msg_init_data(&message, data.data(), data.size(), nullptr, nullptr);
      if (zmq_msg_send(&message, push, 0) < 0) fail("zmq_msg_send");
    }
  }
  zmq_send(push, &answer_port, sizeof answer_port, 0);
  Counts counts;
  if (zmq_recv(answers, &counts, sizeof counts, 0) != sizeof counts) fail("zmq_recv");
  elapsed = elapsed_s(start);
  zmq_close(answers);
  zmq_close(push);
  zmq_ctx_term(context);
  return counts;
}

double stream(std::uint16_t port, double seconds) {
  double elapsed = 0;
  const Counts counts = one_way(port, kSmall, seconds, elapsed);
  return static_cast<double>(counts.messages) / elapsed;
}

double bulk(std::uint16_t port, double seconds) {
  double elapsed = 0;
  const Counts counts = one_way(port, kBulk, seconds, elapsed);
  return static_cast<double>(counts.bytes) / elapsed;
}

}  // namespace

const PeerDriver& zmq_driver() {
  static const PeerDriver driver{"zmq", "ZeroMQ", serve, unary, stream, bulk, nullptr};
  return driver;
}

}  // namespace weft_bench
