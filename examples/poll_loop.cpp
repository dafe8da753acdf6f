// The weft core under a plain poll(2) loop, no libevent: two nodes in one process talk over
// loopback TCP, "left" sends five requests to "right"'s echo handler and prints the replies.
//
// Everything a driver does is here: sockets for Dial events and accepted connections,
// bytes in through on_bytes, bytes out through poll_transmit / pending_output /
// consume_output, one poll() timeout from next_deadline(), and the application's events.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "weft/node.hpp"

namespace {

using namespace weft;

TimeNs now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

NodeConfig config_for(std::string name, std::string peer) {
  NodeConfig config;
  config.name = std::move(name);
  config.peers = {std::move(peer)};
  config.auth = std::make_shared<SharedKeyAuth>("poll-loop-demo-cluster-key");
  // A real process: its own incarnation and jitter, from the OS (the core draws nothing).
  std::random_device entropy;
  config.seed = (std::uint64_t{entropy()} << 32) | entropy();
  return config;
}

// One node and the sockets it uses.
struct Driven {
  std::unique_ptr<Node> node;
  std::map<TransportId, int> sockets;  // transport -> fd
  int listen_fd = -1;
};

int listen_on_loopback(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  listen(fd, 16);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  port = ntohs(address.sin_port);
  return fd;
}

// Handles one node's events; returns replies seen (left) so main can stop.
int handle_events(Driven& self, std::uint16_t peer_port) {
  int replies = 0;
  while (std::optional<Event> event = self.node->poll_event()) {
    if (auto* dial = std::get_if<event::Dial>(&*event)) {
      // A blocking connect keeps the example short; loopback answers at once.
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(peer_port);
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        self.node->on_connect_failed(now_ns(), dial->transport, "connect failed");
        continue;
      }
      const int on = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      self.sockets[dial->transport] = fd;
      self.node->on_connected(now_ns(), dial->transport);
    } else if (auto* close_it = std::get_if<event::CloseTransport>(&*event)) {
      if (auto found = self.sockets.find(close_it->transport); found != self.sockets.end()) {
        close(found->second);
        self.sockets.erase(found);
      }
    } else if (auto* request = std::get_if<event::RequestReceived>(&*event)) {
      self.node->connection(request->peer).respond(now_ns(), request->id, request->payload);
    } else if (auto* done = std::get_if<event::RequestDone>(&*event)) {
      std::printf("reply %s: %.*s\n", std::string(errc_name(done->result)).c_str(),
                  static_cast<int>(done->payload.size()),
                  reinterpret_cast<const char*>(done->payload.data()));
      ++replies;
    } else if (auto* up = std::get_if<event::PeerUp>(&*event)) {
      std::printf("%s: peer up, generation %llu\n", self.node->name().c_str(),
                  static_cast<unsigned long long>(up->generation));
    }
  }
  while (std::optional<TransportId> transport = self.node->poll_transmit()) {
    const int fd = self.sockets.at(*transport);
    for (Bytes out = self.node->pending_output(*transport); !out.empty();
         out = self.node->pending_output(*transport)) {
      const ssize_t sent = send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (sent <= 0) break;  // loopback with small frames: the socket buffer never fills here
      self.node->consume_output(*transport, static_cast<std::size_t>(sent));
    }
  }
  return replies;
}

}  // namespace

int main() {
  Driven left{std::make_unique<Node>(config_for("left", "right"), now_ns(), wall_ms()), {}, -1};
  Driven right{std::make_unique<Node>(config_for("right", "left"), now_ns(), wall_ms()), {}, -1};
  right.node->register_handler(1);
  left.node->register_handler(1);
  std::uint16_t left_port = 0;
  std::uint16_t right_port = 0;
  left.listen_fd = listen_on_loopback(left_port);
  right.listen_fd = listen_on_loopback(right_port);

  int replies = 0;
  int sent = 0;
  std::vector<std::uint8_t> buffer(64 * 1024);
  const TimeNs give_up = now_ns() + 10'000'000'000;
  while (replies < 5 && now_ns() < give_up) {
    for (Driven* side : {&left, &right})
      side->node->on_timer(now_ns());
    replies += handle_events(left, right_port);
    handle_events(right, left_port);
    // Once connected, left sends its five requests.
    const PeerConnection to_right = left.node->connection(0);
    while (sent < 5 && to_right.state() == PeerState::established) {
      const std::string payload = "hello " + std::to_string(++sent);
      left.node->connection(0).request(now_ns(), RequestArgs{1, {}, as_bytes(payload), 1000});
      replies += handle_events(left, right_port);
    }
    // One poll over every socket, with the earliest deadline as its timeout.
    std::vector<pollfd> fds;
    std::vector<std::pair<Driven*, TransportId>> owners;
    for (Driven* side : {&left, &right}) {
      fds.push_back({side->listen_fd, POLLIN, 0});
      owners.emplace_back(side, 0);
      for (const auto& [transport, fd] : side->sockets) {
        fds.push_back({fd, POLLIN, 0});
        owners.emplace_back(side, transport);
      }
    }
    const TimeNs deadline = std::min(left.node->next_deadline(), right.node->next_deadline());
    const TimeNs wait_ns =
        deadline == kNever ? 100'000'000 : std::max<TimeNs>(0, deadline - now_ns());
    poll(fds.data(), fds.size(), static_cast<int>((wait_ns + 999'999) / 1'000'000));
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      auto [side, transport] = owners[i];
      if (transport == 0) {  // the listener
        const int fd = accept(side->listen_fd, nullptr, nullptr);
        if (fd >= 0) side->sockets[side->node->on_accepted(now_ns())] = fd;
        continue;
      }
      const ssize_t got = recv(fds[i].fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (got > 0) {
        side->node->on_bytes(now_ns(), transport,
                             Bytes(buffer.data(), static_cast<std::size_t>(got)));
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        close(fds[i].fd);
        side->sockets.erase(transport);
        side->node->on_transport_down(now_ns(), transport, "closed");
      }
    }
  }
  for (Driven* side : {&left, &right}) {
    for (const auto& [transport, fd] : side->sockets)
      close(fd);
    close(side->listen_fd);
  }
  std::printf("%d of 5 replies\n", replies);
  return replies == 5 ? 0 : 1;
}
