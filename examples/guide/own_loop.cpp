// The core under your own event loop (docs/GUIDE.md quotes the marked regions): a weft::Node
// driven by a plain poll(2) loop on this thread, and an EventNode "server" of the same
// process on its own thread; each calls the other's echo over 127.0.0.1. It runs twice, as
// "loop" and as "own-loop": the server dials the first, the second dials the server. The sans-I/O
// core opens no socket and reads no clock: the loop below does both. examples/poll_loop.cpp
// is a fuller driver (two cores, and TLS through io::TlsTransport).
//
//   guide_own_loop KEY_DIR     KEY_DIR as `weft-keys KEY_DIR server loop own-loop` made it
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common.hpp"
#include "weft/io/event_node.hpp"
#include "weft/node.hpp"

namespace {

using namespace weft;

constexpr std::uint16_t kEcho = 1;
constexpr int kCalls = 3;

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

// [guide:core-config]
NodeConfig core_config(const std::filesystem::path& keys, const std::string& name) {
  NodeConfig config;
  config.name = name;
  config.peers = {"server"};
  config.auth = guide::key_ring(keys, name);
  // The core draws no randomness of its own: a process gives it a seed (its incarnation,
  // backoff jitter) and the key of its handshake nonces, both from the OS. (A simulation
  // fixes the seed instead, and the same seed replays the same run.)
  std::random_device entropy;
  config.seed = (std::uint64_t{entropy()} << 32) | entropy();
  for (std::uint8_t& byte : config.nonce_key.emplace())  // in place: no copy left behind
    byte = static_cast<std::uint8_t>(entropy());
  return config;
}
// [/guide]

struct Driver {
  Node& node;
  int listener = -1;
  sockaddr_in server_address{};
  std::map<TransportId, int> sockets;  // the node's transports and their sockets
  int replies = 0;
};

int listen_on_loopback() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  guide::expect(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                    ::listen(fd, 16) == 0,
                "listening");
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  return ntohs(address.sin_port);
}

// [guide:drop-flush]
// The socket of `transport` is gone: close it and tell the node.
void drop(Driver& driver, TransportId transport, std::string_view why) {
  ::close(driver.sockets.at(transport));
  driver.sockets.erase(transport);
  driver.node.on_transport_down(now_ns(), transport, why);
}

// Writes what the node has for `transport` until it has no more or the socket is full
// (poll() then waits for POLLOUT, since pending_output is not empty).
void flush(Driver& driver, TransportId transport) {
  if (!driver.sockets.contains(transport)) return;
  while (true) {
    const Bytes out = driver.node.pending_output(transport);
    if (out.empty()) return;
    const ssize_t sent = ::send(driver.sockets.at(transport), out.data(), out.size(), MSG_NOSIGNAL);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (sent < 0) return drop(driver, transport, std::strerror(errno));
    driver.node.consume_output(transport, static_cast<std::size_t>(sent));
  }
}
// [/guide]

// [guide:dial]
void dial(Driver& driver, const event::Dial& dial) {
  // A blocking connect keeps this short (loopback answers at once); a real driver connects
  // without blocking and reports the result when poll() says the socket is writable.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const auto* address = reinterpret_cast<const sockaddr*>(&driver.server_address);
  if (::connect(fd, address, sizeof driver.server_address) != 0) {
    ::close(fd);
    return driver.node.on_connect_failed(now_ns(), dial.transport, std::strerror(errno));
  }
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  driver.sockets[dial.transport] = fd;
  driver.node.on_connected(now_ns(), dial.transport);
}
// [/guide]

// [guide:outputs]
// After every input and command: the node's events, then its bytes to write.
void handle_outputs(Driver& driver) {
  while (std::optional<Event> event = driver.node.poll_event()) {
    if (const auto* to_dial = std::get_if<event::Dial>(&*event)) {
      dial(driver, *to_dial);
    } else if (auto* closing = std::get_if<event::CloseTransport>(&*event)) {
      if (const auto found = driver.sockets.find(closing->transport);
          found != driver.sockets.end()) {
        const std::vector<std::uint8_t>& last = closing->final_bytes;  // best effort
        ::send(found->second, last.data(), last.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::close(found->second);
        driver.sockets.erase(found);  // the node forgot it already
      }
    } else if (const auto* up = std::get_if<event::PeerUp>(&*event)) {
      for (int i = 0; i < kCalls; ++i) {
        const std::string text = "hello " + std::to_string(i);
        const Call call = driver.node.connection(up->peer).request(
            now_ns(), RequestArgs{kEcho, {}, as_bytes(text), 1000});
        if (call.error != Errc::ok)
          std::printf("not sent: %s\n", std::string(errc_name(call.error)).c_str());
      }
    } else if (auto* done = std::get_if<event::RequestDone>(&*event)) {
      std::printf("%s: reply %s: %s\n", driver.node.name().c_str(),
                  std::string(errc_name(done->result)).c_str(),
                  std::string(as_chars(done->payload)).c_str());
      if (done->result == Errc::ok) ++driver.replies;
      driver.node.recycle_payload(std::move(done->payload));  // optional: memory for the next
    } else if (auto* request = std::get_if<event::RequestReceived>(&*event)) {
      driver.node.connection(request->peer).respond(now_ns(), request->id, request->payload);
      driver.node.recycle_payload(std::move(request->payload));
    }
  }
  while (std::optional<TransportId> transport = driver.node.poll_transmit())
    flush(driver, *transport);
}
// [/guide]

// [guide:poll-loop]
void run(Driver& driver, const std::function<bool()>& finished) {
  std::array<std::uint8_t, 64 * 1024> buffer;
  const TimeNs give_up = now_ns() + 10'000'000'000;
  while (!finished() && now_ns() < give_up) {
    driver.node.on_timer(now_ns());  // early or repeated calls are harmless
    handle_outputs(driver);
    // Sockets to watch: the listener, and each transport (for writing too while it has
    // output; not for reading while the node has too many events waiting).
    std::vector<pollfd> fds = {{driver.listener, POLLIN, 0}};
    std::vector<TransportId> transports = {0};
    for (const auto& [transport, fd] : driver.sockets) {
      const bool output = !driver.node.pending_output(transport).empty();
      const short in = driver.node.accepting_input() ? POLLIN : 0;
      fds.push_back({fd, static_cast<short>(in | (output ? POLLOUT : 0)), 0});
      transports.push_back(transport);
    }
    // Sleep until a socket is ready or the node's next deadline (pings, timeouts, backoff;
    // kNever when none). At most 100 ms here: `finished` also looks at what the server's
    // thread did, which no socket of this loop announces.
    const TimeNs deadline = std::min(driver.node.next_deadline(), now_ns() + 100'000'000);
    const TimeNs wait_ns = std::max<TimeNs>(0, deadline - now_ns());
    ::poll(fds.data(), fds.size(), static_cast<int>((wait_ns + 999'999) / 1'000'000));
    // Every read before any write: what the input makes (a reply's next request, a credit)
    // then leaves ahead of the bulk that the writes below would otherwise put before it.
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (i == 0) {  // the listener: a peer dialed us; its hello decides whose it is
        sockaddr_in from{};
        socklen_t from_size = sizeof from;
        const int fd = ::accept4(driver.listener, reinterpret_cast<sockaddr*>(&from), &from_size,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        // The peer's address is its source: one address cannot hold every place of the
        // handshakes under way (NodeConfig::max_transports_awaiting_hello_per_source).
        const std::uint64_t source = ntohl(from.sin_addr.s_addr);
        driver.sockets[driver.node.on_accepted(now_ns(), source)] = fd;
        continue;
      }
      const TransportId transport = transports[i];
      if (!driver.sockets.contains(transport)) continue;  // closed by an earlier event
      const ssize_t got = ::recv(driver.sockets.at(transport), buffer.data(), buffer.size(), 0);
      if (got > 0) {
        driver.node.on_bytes(now_ns(), transport,
                             Bytes(buffer.data(), static_cast<std::size_t>(got)));
      } else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        drop(driver, transport, got == 0 ? "closed by the peer" : std::strerror(errno));
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLOUT) && driver.sockets.contains(transports[i]))
        flush(driver, transports[i]);
    }
  }
}
// [/guide]

// One node driven by this thread, called `name`, against the server: each calls the other.
void drive(const std::filesystem::path& keys, const std::string& name, io::EventNode& server,
           const std::atomic<int>& server_answers) {
  const int answers_before = server_answers;
  // [guide:core-node]
  // The monotonic time of its birth, and what the wall clock reads then (the core uses
  // it only to stamp and check handshakes). Dialing starts at the first on_timer.
  Node node(core_config(keys, name), now_ns(), wall_ms());
  node.register_handler(kEcho);  // requests for anything else: unknown_handler
  // [/guide]
  Driver driver{node, listen_on_loopback(), {}, {}, 0};
  driver.server_address.sin_family = AF_INET;
  driver.server_address.sin_port = htons(server.port());
  driver.server_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  guide::expect(server.add_peer({name, "127.0.0.1", port_of(driver.listener)}) == Errc::ok,
                "the server knows " + name);
  run(driver, [&] { return driver.replies == kCalls && server_answers > answers_before; });
  guide::expect(driver.replies == kCalls, name + " got every reply");
  guide::expect(server_answers > answers_before, "the server got " + name + "'s answer");
  guide::expect(server.remove_peer(name) == Errc::ok, "the server forgets " + name);
  for (const auto& [transport, fd] : driver.sockets)
    ::close(fd);
  ::close(driver.listener);
}

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_own_loop", [](const std::filesystem::path& keys) {
    std::atomic<int> server_answers = 0;  // before the server: its callbacks count here
    io::EventNode server(guide::keyed_options(keys, "server"));
    server.handle(kEcho, "", [](io::IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    // Once a peer is up, the server calls its echo, from the callback (the loop thread).
    server.on_peer_change([&server, &server_answers](const io::PeerChange& change) {
      if (change.kind != io::PeerChange::Kind::up) return;
      server.request(change.peer, kEcho, as_bytes("from the server"), 1000,
                     [&server_answers](io::Reply&& reply) {
                       if (reply.error == Errc::ok && as_chars(reply.payload) == "from the server")
                         ++server_answers;
                     });
    });
    guide::start(server, "server");
    // The dial rule makes the server dial one of these names and the other dial the
    // server, so both the accepting and the dialing paths of the loop run.
    guide::expect(dial_rule_dials("loop", "server") != dial_rule_dials("own-loop", "server"),
                  "one name dials the server, the other is dialed");
    drive(keys, "loop", server, server_answers);
    drive(keys, "own-loop", server, server_answers);
    server.stop();
  });
}
