// The weft core under a plain poll(2) loop, no libevent: two nodes in one process talk over
// loopback TCP, "left" sends five requests to "right"'s echo handler and prints the replies.
// With --tls every connection runs over TLS 1.3 with mutual certificates, through the same
// sans-I/O layer EventNode and the simulator use (weft/io/tls_transport.hpp).
//
// Everything a driver does is here: sockets for Dial events and accepted connections,
// bytes in through on_bytes, bytes out through poll_transmit / pending_output /
// consume_output, one poll() timeout from next_deadline(), and the application's events.
// Under TLS the bytes go through a TlsTransport per socket instead: what the socket reads
// goes to receive() (it tells the node on_connected / on_secured once TLS is established,
// then hands it the plaintext), what the node writes goes through take_output() and out as
// ciphertext().
//
//   weft_poll_loop          plain TCP
//   weft_poll_loop --tls    TLS, with a CA and two node certificates made in memory (a real
//                           deployment loads files: TlsContext::load, weft-certs)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "weft/io/tls_certs.hpp"
#include "weft/io/tls_transport.hpp"
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

NodeConfig config_for(std::string name, std::string peer, bool tls) {
  NodeConfig config;
  config.name = std::move(name);
  config.peers = {std::move(peer)};
  // Under TLS the certificates prove who is who; without it, a shared cluster key.
  if (tls) {
    config.auth = std::make_shared<CertificateAuth>();
  } else {
    config.auth = std::make_shared<SharedKeyAuth>("poll-loop-demo-cluster-key");
  }
  // A real process: its own incarnation and jitter, and a secret key for its handshake
  // nonces, from the OS (the core draws nothing).
  std::random_device entropy;
  config.seed = (std::uint64_t{entropy()} << 32) | entropy();
  for (std::uint8_t& byte : config.nonce_key.emplace())  // in place: no copy left behind
    byte = static_cast<std::uint8_t>(entropy());
  return config;
}

// A TLS context for node `name` signed by `ca`, valid for a day either side of now.
std::shared_ptr<const io::TlsContext> context_for(const io::CertifiedKey& ca,
                                                  const std::string& name) {
  const std::int64_t now_s = wall_ms() / 1000;
  const io::CertifiedKey node = io::make_node_certificate(
      ca, std::vector<std::string>{name}, io::Validity{now_s - 86'400, now_s + 86'400});
  io::TlsContextResult made =
      io::TlsContext::create({ca.certificate_pem, node.certificate_pem, node.key_pem});
  if (!made.ok()) std::fprintf(stderr, "TLS context: %s\n", made.error->message.c_str());
  return made.context;
}

// One socket of a node, with its TLS session under --tls.
struct Socket {
  int fd = -1;
  std::unique_ptr<io::TlsTransport> tls;
};

// One node and the sockets it uses.
struct Driven {
  std::unique_ptr<Node> node;
  std::shared_ptr<const io::TlsContext> tls;  // null: plain TCP
  std::map<TransportId, Socket> sockets;
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

// A TLS session for a socket: the dialer's checks that the peer's certificate carries the
// name dialed; certificates are verified at the wall clock's time (the layer reads none).
std::unique_ptr<io::TlsTransport> tls_for(const Driven& self, TransportId transport,
                                          io::TlsRole role, std::string peer_name) {
  io::TlsSessionConfig config;
  config.role = role;
  config.peer_name = std::move(peer_name);
  config.verify_time_unix_s = wall_ms() / 1000;
  return std::make_unique<io::TlsTransport>(transport, self.tls, std::move(config));
}

// Writes what the node (through TLS, when on) has for `transport`.
void flush(Driven& self, TransportId transport) {
  const auto found = self.sockets.find(transport);
  if (found == self.sockets.end()) return;
  Socket& socket = found->second;
  while (true) {
    if (socket.tls) socket.tls->take_output(*self.node);
    const Bytes out = socket.tls ? socket.tls->ciphertext() : self.node->pending_output(transport);
    if (out.empty()) return;
    const ssize_t sent = send(socket.fd, out.data(), out.size(), MSG_NOSIGNAL);
    if (sent <= 0) return;  // loopback with small frames: the socket buffer never fills here
    const auto count = static_cast<std::size_t>(sent);
    if (socket.tls) {
      socket.tls->consume_ciphertext(count);
    } else {
      self.node->consume_output(transport, count);
    }
  }
}

// The socket is gone (`reason`); the node hears it (through TLS, with its error if it failed).
void drop(Driven& self, TransportId transport, const char* reason) {
  const auto found = self.sockets.find(transport);
  if (found == self.sockets.end()) return;
  std::unique_ptr<io::TlsTransport> tls = std::move(found->second.tls);
  if (tls && tls->failed()) {
    std::printf("%s: %s\n", self.node->name().c_str(), tls->failure_text().c_str());
    const Bytes alert = tls->ciphertext();  // tells the peer why
    send(found->second.fd, alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  close(found->second.fd);
  self.sockets.erase(found);
  if (tls) return tls->report_down(*self.node, now_ns(), reason);
  self.node->on_transport_down(now_ns(), transport, reason);
}

void dial(Driven& self, const event::Dial& dial, std::uint16_t peer_port) {
  // A blocking connect keeps the example short; loopback answers at once.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(peer_port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    self.node->on_connect_failed(now_ns(), dial.transport, "connect failed");
    return;
  }
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  Socket& socket = self.sockets[dial.transport];
  socket.fd = fd;
  if (!self.tls) return self.node->on_connected(now_ns(), dial.transport);
  // Under TLS the node hears on_connected once the TLS handshake is done.
  socket.tls =
      tls_for(self, dial.transport, io::TlsRole::client, self.node->connection(dial.peer).name());
  flush(self, dial.transport);  // the client's first flight
}

// What left's requests came to: every one ended, and those answered with their own payload.
struct Replies {
  int ended = 0;
  std::set<std::string> awaited;  // payloads sent whose echo has not come back
  int echoed = 0;
};

// Handles one node's events, counting the replies (left's) into `replies`.
void handle_events(Driven& self, std::uint16_t peer_port, Replies& replies) {
  while (std::optional<Event> event = self.node->poll_event()) {
    if (auto* dial_it = std::get_if<event::Dial>(&*event)) {
      dial(self, *dial_it, peer_port);
    } else if (auto* close_it = std::get_if<event::CloseTransport>(&*event)) {
      if (auto found = self.sockets.find(close_it->transport); found != self.sockets.end()) {
        if (found->second.tls) {  // the node's last bytes, encrypted, then close_notify
          found->second.tls->close(close_it->final_bytes);
          flush(self, close_it->transport);
        }
        close(found->second.fd);
        self.sockets.erase(found);
      }
    } else if (auto* request = std::get_if<event::RequestReceived>(&*event)) {
      self.node->connection(request->peer).respond(now_ns(), request->id, request->payload);
    } else if (auto* done = std::get_if<event::RequestDone>(&*event)) {
      const std::string text(reinterpret_cast<const char*>(done->payload.data()),
                             done->payload.size());
      std::printf("reply %s: %s\n", std::string(errc_name(done->result)).c_str(), text.c_str());
      ++replies.ended;
      if (done->result == Errc::ok && replies.awaited.erase(text) == 1) ++replies.echoed;
    } else if (auto* up = std::get_if<event::PeerUp>(&*event)) {
      std::printf("%s: peer up, generation %llu%s\n", self.node->name().c_str(),
                  static_cast<unsigned long long>(up->generation), self.tls ? ", over TLS" : "");
    } else if (auto* failed = std::get_if<event::HandshakeFailed>(&*event)) {
      std::printf("%s: handshake failed: %s\n", self.node->name().c_str(), failed->message.c_str());
    }
  }
  while (std::optional<TransportId> transport = self.node->poll_transmit())
    flush(self, *transport);
}

// A socket is readable: its bytes go to the node, through TLS when on.
void read_socket(Driven& self, TransportId transport, std::vector<std::uint8_t>& buffer) {
  Socket& socket = self.sockets.at(transport);
  const std::size_t want = socket.tls ? std::min(buffer.size(), socket.tls->room()) : buffer.size();
  const ssize_t got = recv(socket.fd, buffer.data(), want, MSG_DONTWAIT);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    if (socket.tls) socket.tls->transport_closed();
    return drop(self, transport, "closed");
  }
  if (got < 0) return;
  const Bytes bytes(buffer.data(), static_cast<std::size_t>(got));
  if (!socket.tls) return self.node->on_bytes(now_ns(), transport, bytes);
  socket.tls->receive(*self.node, now_ns(), bytes);
  if (socket.tls->failed()) return drop(self, transport, "TLS failed");
  flush(self, transport);  // the TLS handshake's answers
}

}  // namespace

int main(int argc, char** argv) {
  const bool tls = argc > 1 && std::strcmp(argv[1], "--tls") == 0;
  if (argc > 2 || (argc == 2 && !tls)) {
    std::fprintf(stderr, "usage: %s [--tls]\n", argv[0]);
    return 2;
  }
  Driven left{std::make_unique<Node>(config_for("left", "right", tls), now_ns(), wall_ms()),
              nullptr,
              {},
              -1};
  Driven right{std::make_unique<Node>(config_for("right", "left", tls), now_ns(), wall_ms()),
               nullptr,
               {},
               -1};
  if (tls) {
    const std::int64_t now_s = wall_ms() / 1000;
    const io::CertifiedKey ca = io::make_ca("poll loop CA", {now_s - 86'400, now_s + 86'400});
    left.tls = context_for(ca, "left");
    right.tls = context_for(ca, "right");
    if (!left.tls || !right.tls) return 1;
  }
  right.node->register_handler(1);
  left.node->register_handler(1);
  std::uint16_t left_port = 0;
  std::uint16_t right_port = 0;
  left.listen_fd = listen_on_loopback(left_port);
  right.listen_fd = listen_on_loopback(right_port);

  Replies replies;
  int sent = 0;
  std::vector<std::uint8_t> buffer(64 * 1024);
  const TimeNs give_up = now_ns() + 10'000'000'000;
  Replies unused;  // right sends no requests
  while (replies.ended < 5 && now_ns() < give_up) {
    for (Driven* side : {&left, &right})
      side->node->on_timer(now_ns());
    handle_events(left, right_port, replies);
    handle_events(right, left_port, unused);
    // Once connected, left sends its five requests.
    const PeerConnection to_right = left.node->connection(0);
    while (sent < 5 && to_right.state() == PeerState::established) {
      const std::string payload = "hello " + std::to_string(++sent);
      replies.awaited.insert(payload);
      left.node->connection(0).request(now_ns(), RequestArgs{1, {}, as_bytes(payload), 1000});
      handle_events(left, right_port, replies);
    }
    if (replies.ended == 5) break;  // rather than wait in poll() for the next deadline
    // One poll over every socket, with the earliest deadline as its timeout.
    std::vector<pollfd> fds;
    std::vector<std::pair<Driven*, TransportId>> owners;
    for (Driven* side : {&left, &right}) {
      fds.push_back({side->listen_fd, POLLIN, 0});
      owners.emplace_back(side, 0);
      for (const auto& [transport, socket] : side->sockets) {
        fds.push_back({socket.fd, POLLIN, 0});
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
        sockaddr_in from{};
        socklen_t from_size = sizeof from;
        const int fd = accept(side->listen_fd, reinterpret_cast<sockaddr*>(&from), &from_size);
        if (fd < 0) continue;
        // At once, before any TLS: the node's hello timeout covers the TLS handshake. The
        // peer's address is its source (the per-source cap on handshakes under way).
        const TransportId accepted =
            side->node->on_accepted(now_ns(), std::uint64_t{ntohl(from.sin_addr.s_addr)});
        Socket& socket = side->sockets[accepted];
        socket.fd = fd;
        if (side->tls) socket.tls = tls_for(*side, accepted, io::TlsRole::server, {});
        continue;
      }
      if (side->sockets.contains(transport)) read_socket(*side, transport, buffer);
    }
  }
  for (Driven* side : {&left, &right}) {
    for (const auto& [transport, socket] : side->sockets)
      close(socket.fd);
    close(side->listen_fd);
  }
  // The tests look for "5 of 5 replies, 5 echoed": an error reply or a wrong payload is
  // a reply, not an echo.
  std::printf("%d of 5 replies, %d echoed\n", replies.ended, replies.echoed);
  return replies.echoed == 5 ? 0 : 1;
}
