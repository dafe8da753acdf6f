// EventNode::Impl on the loop thread, the I/O side: the command queue, the work after
// each input and the timer, sockets (connect, accept, read, write, close) and shutdown.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "accept_failure.hpp"
#include "event_node_impl.hpp"

namespace weft::io {
namespace {

// Writes `pieces` in one system call (nonblocking, no SIGPIPE), through `vectors`. One piece
// (small frames, the common case) goes by send: sendmsg would also copy a message header and
// import the vector from user memory, a few per cent of a 64 B round trip.
ssize_t send_pieces(int fd, std::span<const Bytes> pieces, std::span<iovec> vectors) {
  constexpr int kFlags = MSG_NOSIGNAL | MSG_DONTWAIT;
  if (pieces.size() == 1) return ::send(fd, pieces[0].data(), pieces[0].size(), kFlags);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    vectors[i] = {const_cast<std::uint8_t*>(pieces[i].data()), pieces[i].size()};
  }
  msghdr message{};
  message.msg_iov = vectors.data();
  message.msg_iovlen = pieces.size();
  return ::sendmsg(fd, &message, kFlags);
}

// Pieces of output one write gathers: a few frames' heads and payloads (the output holds
// about its high-water mark, 64 KiB by default, and payloads go by reference from 16 KiB).
constexpr std::size_t kWritePieces = 16;

void tune_socket(int fd, const EventNodeOptions& options) {
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (options.socket_unsent_bytes > 0) {
    const int lowat = static_cast<int>(options.socket_unsent_bytes);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  }
  if (options.socket_receive_bytes > 0) {
    const int bytes = static_cast<int>(
        std::max(options.socket_receive_bytes, EventNodeOptions::kMinSocketReceiveBytes));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
}

// "host:port" of an IPv4 address.
std::string address_text(const sockaddr_in& address) {
  char host[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &address.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(address.sin_port));
}

}  // namespace

EventNode::Impl::~Impl() {
  release_loop();
  wipe_nonce_key(options.config);  // a node never started
}

void EventNode::Impl::release_loop() {
  metrics_http.reset();  // its events belong to `base`
  metrics_thread.reset();
  ring.reset();  // before the buffers its operations named (ring_drain reaped them)
  retired_ring_sockets.clear();
  for (const int fd : ring_closing)  // normally none: ring_drain closed them
    ::close(fd);
  ring_closing.clear();
  for (auto& [transport, socket] : sockets) {
    socket.read_event.reset();
    socket.write_event.reset();
    if (socket.fd >= 0) ::close(socket.fd);
  }
  sockets.clear();
  wake_event.reset();
  timer.reset();
  listen_event.reset();
  accept_resume.reset();
  write_turn.reset();
  for (int* fd : {&spare_fd, &wake_fd, &timer_fd, &listen_fd}) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }
  if (base != nullptr) event_base_free(base);
  base = nullptr;
  std::free(read_buffer);
  read_buffer = nullptr;
}

// ---- commands ----

Errc EventNode::Impl::post_freeing_views(Command command, PeerId peer, const void* owner) {
  if (on_loop_thread() && !stopping && view_lent(peer, owner)) {
    after_views.push_back({std::move(command), peer, owner});
    return Errc::ok;
  }
  return post(std::move(command));
}

bool EventNode::Impl::view_lent(PeerId peer, const void* owner) const {
  return std::any_of(lent_views.begin(), lent_views.end(), [&](const LentView& view) {
    return (peer == kAnyPeer || view.peer == peer) && (owner == nullptr || view.owner == owner);
  });
}

void EventNode::Impl::view_returned(const void* owner) {
  const auto lent = std::find_if(lent_views.rbegin(), lent_views.rend(),
                                 [owner](const LentView& view) { return view.owner == owner; });
  if (lent != lent_views.rend()) lent_views.erase(std::next(lent).base());
  // Each command whose views are all returned runs, oldest first; one may lend and return
  // views itself (a delivery it starts), which runs what waited for those.
  while (true) {
    const auto due = std::find_if(
        after_views.begin(), after_views.end(),
        [this](const AfterView& after) { return !view_lent(after.peer, after.owner); });
    if (due == after_views.end()) return;
    Command command = std::move(due->command);
    after_views.erase(due);
    command.run();
  }
}

Errc EventNode::Impl::post(Command command, bool behind_queue) {
  if (on_loop_thread() && !stopping && !behind_queue) {
    command.run();  // from a callback: the core is between inputs, so calling it is safe
    return Errc::ok;
  }
  {
    std::lock_guard lock(mutex);
    if (closed) return Errc::shutting_down;
    if (commands.size() >= options.command_queue_capacity) return Errc::queue_full;
    commands.push_back(std::move(command));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd, &one, sizeof one);
  return Errc::ok;
}

void EventNode::Impl::run_commands() {
  std::deque<Command> batch;
  {
    std::lock_guard lock(mutex);
    batch.swap(commands);
  }
  for (Command& command : batch)
    command.run();
}

// ---- the loop's work after any input ----

void EventNode::Impl::after_input() {
  sync_wall_clock();
  bool busy = true;
  while (busy) {
    busy = false;
    while (std::optional<Event> event = node->poll_event()) {
      busy = true;
      dispatch(std::move(*event));
    }
    while (std::optional<TransportId> transport = node->poll_transmit()) {
      busy = true;
      write_out(*transport);
    }
    if (flush_room_waiters()) busy = true;
  }
  if (!ring_receive_waiters.empty()) ring_resume_receives();
  drop_released();
  arm_timer();
  turn_now_ns = 0;  // the turn ended: the next one reads the clock again
}

// The core stamps handshakes with the wall clock, so it must learn when the wall clock
// jumps; a read per turn would cost more than the rest of a small request's turn.
void EventNode::Impl::sync_wall_clock() {
  const TimeNs now = turn_now();
  if (wall_synced_ns != 0 && now - wall_synced_ns < kWallClockSyncNs) return;
  node->set_wall_clock(now, wall_now_ms());
  wall_synced_ns = now;
}

void EventNode::Impl::drop_released() {
  while (!released.empty()) {
    std::vector<std::shared_ptr<void>> batch;
    batch.swap(released);  // destroying an application's state may end more handles
  }
}

void EventNode::Impl::arm_timer() {
  // Busy connections move the core's next deadline later on almost every turn (each request
  // answered drops its deadline, each one sent adds a later one). Setting the timer each time
  // would cost a system call (timerfd_settime) per turn; so a timer already set to fire no
  // later than the deadline stays, and when it fires early the core finds nothing due and
  // the timer is set again.
  const TimeNs deadline = node->next_deadline();
  if (deadline >= timer_armed_ns) return;  // also: kNever while nothing is set
  // The loop's clock is CLOCK_MONOTONIC, so the deadline is the timerfd's absolute time as
  // it stands (no clock read). Zero would disarm it: a deadline that is due fires at once.
  const TimeNs fire_ns = std::max<TimeNs>(1, deadline);
  itimerspec when{};
  when.it_value.tv_sec = static_cast<time_t>(fire_ns / 1'000'000'000);
  when.it_value.tv_nsec = static_cast<long>(fire_ns % 1'000'000'000);
  timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, nullptr);
  timer_armed_ns = deadline;
}

// ---- sockets ----

void EventNode::Impl::add_socket(TransportId transport, int fd, bool connecting) {
  Socket& socket = sockets[transport];
  socket.fd = fd;
  socket.connecting = connecting;
  if (ring) return ring_add_socket(transport, socket);
  socket.context = std::make_unique<std::pair<Impl*, TransportId>>(this, transport);
  auto* context = socket.context.get();
  socket.read_event.reset(event_new(base, fd, EV_READ | EV_PERSIST, &Impl::on_readable, context));
  socket.write_event.reset(event_new(base, fd, EV_WRITE | EV_PERSIST, &Impl::on_writable, context));
  if (connecting) {
    event_add(socket.write_event.get(), nullptr);
    socket.write_armed = true;
  } else {
    event_add(socket.read_event.get(), nullptr);
  }
}

void EventNode::Impl::close_socket(TransportId transport, Bytes final_bytes) {
  const auto found = sockets.find(transport);
  if (found == sockets.end()) return;
  Socket& socket = found->second;
  if (socket.tls) {  // the core's last bytes go out encrypted, then close_notify
    socket.tls->close(final_bytes);
    final_bytes = socket.tls->ciphertext();
  }
  // Best effort: a reject or goaway that fits the socket buffer gets through (on a ring,
  // after the bytes a send operation holds, or not at all).
  socket.read_event.reset();
  socket.write_event.reset();
  if (socket.ring) {
    if (!socket.connecting) ring_send_final(socket, final_bytes);
    ring_retire(transport, socket);
    // Entries naming the descriptor may still be queued: it closes once they are submitted
    // (ring_close_submitted), so none can reach a descriptor the number is reused for.
    ring_closing.push_back(socket.fd);
  } else {
    if (!socket.connecting) send_best_effort(socket.fd, final_bytes);
    ::close(socket.fd);
  }
  sockets.erase(found);
}

void EventNode::Impl::send_best_effort(int fd, Bytes bytes) {
  if (bytes.empty()) return;
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void EventNode::Impl::transport_failed(TransportId transport, const std::string& reason) {
  const auto found = sockets.find(transport);
  std::unique_ptr<TlsTransport> tls;
  if (found != sockets.end()) tls = std::move(found->second.tls);  // nothing more goes out
  close_socket(transport);
  if (tls) return tls->report_down(*node, fresh_now(), reason);
  node->on_transport_down(fresh_now(), transport, reason);
}

void EventNode::Impl::on_readable(evutil_socket_t, short, void* arg) {
  const auto [self, transport] = *static_cast<std::pair<Impl*, TransportId>*>(arg);
  self->read_from(transport);
  self->after_input();
}

void EventNode::Impl::on_writable(evutil_socket_t, short, void* arg) {
  const auto [impl, transport] = *static_cast<std::pair<Impl*, TransportId>*>(arg);
  Impl& self = *impl;
  const auto found = self.sockets.find(transport);
  if (found == self.sockets.end()) return;
  if (found->second.connecting) {
    self.finish_connect(transport);
    self.after_input();
    return;
  }
  // libevent runs the callbacks of one wake-up in order, and a callback's event_active goes
  // behind the ones already due: a read of this wake-up runs before write_turn. (A socket
  // fires once per wake-up, and write_turn runs in the same one, so none is listed twice.)
  self.writable_sockets.push_back(transport);
  event_active(self.write_turn.get(), EV_TIMEOUT, 0);
}

void EventNode::Impl::on_write_turn(evutil_socket_t, short, void* arg) {
  Impl& self = *static_cast<Impl*>(arg);
  // write_out never lists a socket (only libevent's on_writable does): iterating is safe.
  for (const TransportId transport : self.writable_sockets)
    self.write_out(transport);  // one closed by a read of this wake-up is not found there
  self.writable_sockets.clear();
  self.after_input();
}

void EventNode::Impl::read_from(TransportId transport) {
  // A few reads per wake-up: batches work without starving other sockets.
  for (int round = 0; round < 8 && node->accepting_input(); ++round) {
    const auto found = sockets.find(transport);
    if (found == sockets.end()) return;
    const bool tls = found->second.tls != nullptr;
    // Under TLS, no more than the session has room for: the kernel keeps the rest.
    const std::size_t want = tls ? std::min(options.read_buffer_bytes, found->second.tls->room())
                                 : options.read_buffer_bytes;
    if (want == 0) return;  // a session that failed, or holds all it may: read nothing
    const ssize_t got = ::recv(found->second.fd, read_buffer, want, 0);
    if (got > 0) {
      const Bytes bytes(static_cast<const std::uint8_t*>(read_buffer),
                        static_cast<std::size_t>(got));
      if (!tls) {
        node->on_bytes(fresh_now(), transport, bytes);
      } else if (!receive_tls(transport, bytes)) {
        return;
      }
      if (static_cast<std::size_t>(got) < want) return;
      // Act on what this read brought (answers, acks) before reading more bulk.
      after_input();
      continue;
    }
    if (got == 0 && tls) return tls_closed(transport);
    if (got == 0) return transport_failed(transport, "peer closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return transport_failed(transport, "read: " + errno_text(errno));
  }
}

void EventNode::Impl::write_out(TransportId transport) {
  const auto found = sockets.find(transport);
  if (found == sockets.end() || found->second.connecting) return;
  Socket& socket = found->second;
  if (socket.tls) return write_tls(transport, socket);
  if (socket.ring && ring_send_copy(transport, socket)) return;
  // A large payload is a piece of its own (written from the application's buffer): one
  // gathering write takes it with the frame headers around it.
  std::array<Bytes, kWritePieces> pieces;
  std::array<iovec, kWritePieces> vectors;
  while (true) {
    const std::size_t count = node->pending_output_pieces(transport, pieces);
    if (count == 0) break;
    const ssize_t sent = send_pieces(socket.fd, std::span(pieces.data(), count), vectors);
    if (sent > 0) {
      node->consume_output(transport, static_cast<std::size_t>(sent));
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      return want_write(transport, socket, true);
    }
    return transport_failed(transport, "write: " + errno_text(errno));
  }
  want_write(transport, socket, false);
}

void EventNode::Impl::want_write(TransportId transport, Socket& socket, bool wanted) {
  if (socket.write_armed == wanted) return;
  if (socket.ring) {
    // A wait already posted is left to complete: write_out then finds nothing to write.
    if (wanted) ring_poll_out(transport, socket);
  } else if (wanted) {
    event_add(socket.write_event.get(), nullptr);
  } else {
    event_del(socket.write_event.get());
  }
  socket.write_armed = wanted;
}

void EventNode::Impl::dial(PeerId peer, TransportId transport) {
  const TimeNs now = fresh_now();
  // A Dial asked for in the turn that stops (a request to an idle peer queued with stop()):
  // no socket may open after shutdown closed the others.
  if (stopping) {
    node->on_connect_failed(now, transport, "node stopping");
    return;
  }
  ++io_counters.dials;
  if (peer >= peer_addresses.size() || !peer_addresses[peer]) {
    node->on_connect_failed(now, transport, "no address for this peer");
    return;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    node->on_connect_failed(now, transport, "socket: " + errno_text(errno));
    return;
  }
  tune_socket(fd, options);
  if (source_address && ::bind(fd, reinterpret_cast<const sockaddr*>(&*source_address),
                               sizeof *source_address) != 0) {
    const int error = errno;
    ::close(fd);
    node->on_connect_failed(now, transport, "bind to the source address: " + errno_text(error));
    return;
  }
  const sockaddr_in& address = *peer_addresses[peer];
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    add_socket(transport, fd, false);
    sockets.at(transport).remote = peer_name(peer);
    connected(transport);
    return;
  }
  if (errno != EINPROGRESS) {
    const int error = errno;
    ::close(fd);
    node->on_connect_failed(now, transport, "connect: " + errno_text(error));
    return;
  }
  add_socket(transport, fd, true);  // the core times the connect out if it hangs
  sockets.at(transport).remote = peer_name(peer);
}

void EventNode::Impl::connected(TransportId transport) {
  if (!tls_context) return node->on_connected(fresh_now(), transport);
  start_tls(transport, sockets.at(transport), TlsRole::client);
  write_out(transport);  // the client's first flight
}

void EventNode::Impl::finish_connect(TransportId transport) {
  Socket& socket = sockets.at(transport);
  int error = 0;
  socklen_t size = sizeof error;
  getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &size);
  if (error != 0) {
    close_socket(transport);
    node->on_connect_failed(fresh_now(), transport, "connect: " + errno_text(error));
    return;
  }
  socket.connecting = false;
  socket.write_armed = false;
  if (socket.ring) {
    ring_receive(transport, socket);
  } else {
    event_del(socket.write_event.get());
    event_add(socket.read_event.get(), nullptr);
  }
  connected(transport);
}

void EventNode::Impl::on_accept(evutil_socket_t, short, void* arg) {
  static_cast<Impl*>(arg)->accept_waiting();
}

void EventNode::Impl::accept_waiting() {
  Impl& self = *this;
  for (std::size_t accepted = 0;; ++accepted) {
    if (accepted == options.accepts_per_wake) {
      // The rest wait: both loops see the listener readable again on their next turn.
      ++io_counters.accept_budget_reached;
      break;
    }
    sockaddr_in from{};
    socklen_t from_size = sizeof from;
    const int fd = ::accept4(self.listen_fd, reinterpret_cast<sockaddr*>(&from), &from_size,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      const AcceptFailure failure = classify_accept_failure(error);
      if (failure == AcceptFailure::retry) continue;
      if (failure == AcceptFailure::pause) self.pause_accepting(error);
      break;
    }
    tune_socket(fd, self.options);
    // At once, before any TLS: the core's hello timeout and its bound on transports
    // awaiting a hello cover the TLS handshake too.
    // The peer's address is its source: one address that floods the node with handshakes
    // churns its own places among those in their handshake (NodeConfig's per-source cap).
    const TransportId transport =
        self.node->on_accepted(self.fresh_now(), std::uint64_t{ntohl(from.sin_addr.s_addr)});
    self.add_socket(transport, fd, false);
    if (!self.tls_context) continue;
    Socket& socket = self.sockets.at(transport);
    socket.remote = address_text(from);
    self.start_tls(transport, socket, TlsRole::server);
  }
  self.after_input();
}

void EventNode::Impl::pause_accepting(int error) {
  // The spare descriptor makes room to accept, and at once close, what waits in the listen
  // queue: those peers see their connection closed (a weft peer redials after its backoff)
  // instead of hanging in the queue until this process has descriptors again.
  std::size_t shed = 0;
  if (spare_fd >= 0) {
    ::close(spare_fd);
    spare_fd = -1;
    while (true) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      ::close(fd);
      ++shed;
    }
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  ++io_counters.accept_pauses;
  io_counters.accepts_shed += shed;
  log(LogLevel::warning, "accept paused for " + std::to_string(options.accept_pause_ms) +
                             " ms: " + errno_text(error) + " (" + std::to_string(shed) +
                             " waiting connections closed)");
  if (ring) return ring_pause_accepting();
  event_del(listen_event.get());
  const timeval pause{static_cast<time_t>(options.accept_pause_ms / 1000),
                      static_cast<suseconds_t>(options.accept_pause_ms % 1000 * 1000)};
  event_add(accept_resume.get(), &pause);
}

void EventNode::Impl::on_accept_resume(evutil_socket_t, short, void* arg) {
  Impl& self = *static_cast<Impl*>(arg);
  event_add(self.listen_event.get(), nullptr);
}

void EventNode::Impl::on_timer(evutil_socket_t, short, void* arg) {
  Impl& self = *static_cast<Impl*>(arg);
  std::uint64_t expirations = 0;  // read to clear the timerfd's readiness
  [[maybe_unused]] const ssize_t got = ::read(self.timer_fd, &expirations, sizeof expirations);
  self.timer_fired();
}

void EventNode::Impl::timer_fired() {
  timer_armed_ns = kNever;  // fired: after_input sets it for the next deadline, if any
  node->on_timer(fresh_now());
  after_input();
}

void EventNode::Impl::on_wake(evutil_socket_t, short, void* arg) {
  Impl& self = *static_cast<Impl*>(arg);
  std::uint64_t count = 0;  // read to clear the eventfd's readiness
  [[maybe_unused]] const ssize_t got = ::read(self.wake_fd, &count, sizeof count);
  self.woken();
  if (self.stopping) event_base_loopbreak(self.base);
}

void EventNode::Impl::woken() {
  turn_now_ns = 0;  // a new turn, whatever ran before it
  run_commands();
  if (stopping) return;
  flush_command_waiters();
  after_input();
}

// ---- stopping ----

void EventNode::Impl::shutdown() {
  stopping = true;
  end_objects();  // while the connections are up, so peers learn of it
  std::vector<TransportId> open;
  for (const auto& [transport, socket] : sockets)
    open.push_back(transport);
  for (TransportId transport : open) {
    send_close_notify(transport);
    transport_failed(transport, "node stopping");
  }
  after_input();  // Dials asked for meanwhile fail (stopping): their calls end
  // What waits for a connection no transport's end reaches (on demand: a peer's dial back
  // after a knock, a redial after a backoff): the timer that would end it is disarmed below.
  node->abandon_waiting(fresh_now(), "node stopping");
  after_input();
  const itimerspec disarm{};
  timerfd_settime(timer_fd, 0, &disarm, nullptr);
  timer_armed_ns = kNever;
}
}  // namespace weft::io
