#include "weft/io/event_node.hpp"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace weft::io {
namespace {

TimeNs monotonic_now_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<TimeNs>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int error) {
  return std::strerror(error);
}

// Frees a libevent event on scope exit.
struct EventDeleter {
  void operator()(::event* ev) const {
    if (ev != nullptr) event_free(ev);
  }
};
using EventPtr = std::unique_ptr<::event, EventDeleter>;

// Whether `host` is written as an address rather than a name: only digits and dots (an
// IPv4 literal, valid or not) or any colon (IPv6). Such a host is never looked up by name.
bool looks_numeric(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

bool resolve(const std::string& host, std::uint16_t port, sockaddr_in& out) {
  // An empty host or a malformed literal ("300.1.2.3", an IPv6 address: the adapter speaks
  // IPv4) is refused here, without asking a name server about it.
  if (host.empty()) return false;
  if (looks_numeric(host)) {
    out = sockaddr_in{};
    out.sin_family = AF_INET;
    out.sin_port = htons(port);
    return inet_pton(AF_INET, host.c_str(), &out.sin_addr) == 1;
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return false;
  out = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  out.sin_port = htons(port);
  freeaddrinfo(found);
  return true;
}

void tune_socket(int fd, const EventNodeOptions& options) {
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (options.socket_unsent_bytes > 0) {
    const int lowat = static_cast<int>(options.socket_unsent_bytes);
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat);
  }
  if (options.socket_receive_bytes > 0) {
    constexpr std::size_t kMinReceiveBytes = 64 * 1024;
    const int bytes = static_cast<int>(std::max(options.socket_receive_bytes, kMinReceiveBytes));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
}

}  // namespace

// ---- shared states ----------------------------------------------------------------------

struct Responder::State {
  std::weak_ptr<EventNode::Impl> node;
  PeerId peer = 0;
  InboundId id;
  std::atomic<bool> answered{false};
  std::atomic<bool> ended{false};
};

struct CallHandle::State {
  std::weak_ptr<EventNode::Impl> node;
  // Set before the reply callback runs (or when the call could not start): cancel() is
  // then not_found.
  std::atomic<bool> ended{false};
  // Loop thread only.
  std::optional<std::pair<PeerId, RequestId>> call;
};

struct StreamSession::State : std::enable_shared_from_this<StreamSession::State> {
  std::weak_ptr<EventNode::Impl> node;
  PeerId peer = 0;
  std::optional<StreamId> id;  // loop thread: set once the stream exists in the core
  StreamCallbacks callbacks;
  std::atomic<bool> ended{false};
  std::atomic<bool> closing{false};     // close() or fail() was called
  bool input_end_told = false;          // loop thread: on_input_end ran
  std::atomic<bool> wants_room{false};  // a write hit queue_full: call on_writable when drained
  std::atomic<std::size_t> queued{0};
  std::size_t capacity = 0;
  // Loop thread only.
  std::deque<std::vector<std::uint8_t>> send_queue;
  bool close_requested = false;
  std::optional<std::pair<Errc, std::string>> fail_requested;
};

// ---- the implementation -------------------------------------------------------------------

struct EventNode::Impl : std::enable_shared_from_this<EventNode::Impl> {
  struct Command {
    std::function<void()> run;
    std::function<void()> abandon;  // if it never runs (the node stopped first)
  };
  struct Socket {
    std::unique_ptr<std::pair<Impl*, TransportId>> context;  // the events' argument
    int fd = -1;
    EventPtr read_event;
    EventPtr write_event;
    bool connecting = false;
    bool write_armed = false;
  };
  struct StreamRoute {
    StreamWindow window;
    StreamHandler fn;
  };

  explicit Impl(EventNodeOptions opts) : options(std::move(opts)) {}

  ~Impl() {
    for (auto& [transport, socket] : sockets) {
      socket.read_event.reset();
      socket.write_event.reset();
      if (socket.fd >= 0) ::close(socket.fd);
    }
    wake_event.reset();
    timer.reset();
    listen_event.reset();
    if (wake_fd >= 0) ::close(wake_fd);
    if (listen_fd >= 0) ::close(listen_fd);
    if (base != nullptr) event_base_free(base);
    std::free(read_buffer);
  }

  void log(LogLevel level, const std::string& text) const {
    if (options.log) options.log(level, text);
  }

  // ---- commands ----

  Errc post(Command command) {
    if (on_loop_thread() && !stopping) {
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

  bool on_loop_thread() const { return std::this_thread::get_id() == loop_id; }

  void run_commands() {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t got = ::read(wake_fd, &count, sizeof count);
    std::deque<Command> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(commands);
    }
    for (Command& command : batch)
      command.run();
  }

  // ---- the loop's work after any input ----

  void after_input() {
    const TimeNs now = monotonic_now_ns();
    node->set_wall_clock(now, wall_now_ms());
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
    }
    arm_timer();
  }

  void arm_timer() {
    const TimeNs deadline = node->next_deadline();
    if (deadline == kNever) {
      event_del(timer.get());
      return;
    }
    // Round up to the timer's microsecond resolution so it never fires early.
    const TimeNs delay_ns = std::max<TimeNs>(0, deadline - monotonic_now_ns());
    const TimeNs delay_us = (delay_ns + 999) / 1000;
    timeval tv{static_cast<time_t>(delay_us / 1'000'000),
               static_cast<suseconds_t>(delay_us % 1'000'000)};
    event_add(timer.get(), &tv);
  }

  // ---- sockets ----

  void add_socket(TransportId transport, int fd, bool connecting) {
    Socket& socket = sockets[transport];
    socket.fd = fd;
    socket.connecting = connecting;
    socket.context = std::make_unique<std::pair<Impl*, TransportId>>(this, transport);
    auto* context = socket.context.get();
    socket.read_event.reset(event_new(base, fd, EV_READ | EV_PERSIST, &Impl::on_readable, context));
    socket.write_event.reset(
        event_new(base, fd, EV_WRITE | EV_PERSIST, &Impl::on_writable, context));
    if (connecting) {
      event_add(socket.write_event.get(), nullptr);
      socket.write_armed = true;
    } else {
      event_add(socket.read_event.get(), nullptr);
    }
  }

  void close_socket(TransportId transport, Bytes final_bytes = {}) {
    const auto found = sockets.find(transport);
    if (found == sockets.end()) return;
    Socket& socket = found->second;
    if (!final_bytes.empty() && !socket.connecting) {
      // Best effort: a reject or goaway that fits the socket buffer gets through.
      [[maybe_unused]] const ssize_t sent =
          ::send(socket.fd, final_bytes.data(), final_bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    socket.read_event.reset();
    socket.write_event.reset();
    ::close(socket.fd);
    sockets.erase(found);
  }

  // The socket failed or closed: tell the core, which ends everything on it exactly once.
  void transport_failed(TransportId transport, const std::string& reason) {
    close_socket(transport);
    node->on_transport_down(monotonic_now_ns(), transport, reason);
  }

  // Event callbacks copy what they need first: handling the event may close the socket,
  // which frees the context they were given.
  static void on_readable(evutil_socket_t, short, void* arg) {
    const auto [self, transport] = *static_cast<std::pair<Impl*, TransportId>*>(arg);
    self->read_from(transport);
    self->after_input();
  }

  static void on_writable(evutil_socket_t, short, void* arg) {
    const auto [impl, transport] = *static_cast<std::pair<Impl*, TransportId>*>(arg);
    Impl& self = *impl;
    const auto found = self.sockets.find(transport);
    if (found == self.sockets.end()) return;
    if (found->second.connecting) {
      self.finish_connect(transport);
    } else {
      self.write_out(transport);
    }
    self.after_input();
  }

  void read_from(TransportId transport) {
    // A few reads per wake-up: batches work without starving other sockets.
    for (int round = 0; round < 8 && node->accepting_input(); ++round) {
      const auto found = sockets.find(transport);
      if (found == sockets.end()) return;
      const ssize_t got = ::recv(found->second.fd, read_buffer, options.read_buffer_bytes, 0);
      if (got > 0) {
        node->on_bytes(
            monotonic_now_ns(), transport,
            Bytes(static_cast<const std::uint8_t*>(read_buffer), static_cast<std::size_t>(got)));
        if (static_cast<std::size_t>(got) < options.read_buffer_bytes) return;
        // Act on what this read brought (answers, acks) before reading more bulk.
        after_input();
        continue;
      }
      if (got == 0) return transport_failed(transport, "peer closed the connection");
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return transport_failed(transport, "read: " + errno_text(errno));
    }
  }

  void write_out(TransportId transport) {
    const auto found = sockets.find(transport);
    if (found == sockets.end() || found->second.connecting) return;
    Socket& socket = found->second;
    while (true) {
      const Bytes output = node->pending_output(transport);
      if (output.empty()) break;
      const ssize_t sent =
          ::send(socket.fd, output.data(), output.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        node->consume_output(transport, static_cast<std::size_t>(sent));
        continue;
      }
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!socket.write_armed) {
          event_add(socket.write_event.get(), nullptr);
          socket.write_armed = true;
        }
        return;
      }
      return transport_failed(transport, "write: " + errno_text(errno));
    }
    if (socket.write_armed) {
      event_del(socket.write_event.get());
      socket.write_armed = false;
    }
  }

  void dial(PeerId peer, TransportId transport) {
    const TimeNs now = monotonic_now_ns();
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
    const sockaddr_in& address = *peer_addresses[peer];
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      add_socket(transport, fd, false);
      node->on_connected(now, transport);
      return;
    }
    if (errno != EINPROGRESS) {
      const int error = errno;
      ::close(fd);
      node->on_connect_failed(now, transport, "connect: " + errno_text(error));
      return;
    }
    add_socket(transport, fd, true);  // the core times the connect out if it hangs
  }

  void finish_connect(TransportId transport) {
    Socket& socket = sockets.at(transport);
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      close_socket(transport);
      node->on_connect_failed(monotonic_now_ns(), transport, "connect: " + errno_text(error));
      return;
    }
    socket.connecting = false;
    event_del(socket.write_event.get());
    socket.write_armed = false;
    event_add(socket.read_event.get(), nullptr);
    node->on_connected(monotonic_now_ns(), transport);
  }

  static void on_accept(evutil_socket_t, short, void* arg) {
    Impl& self = *static_cast<Impl*>(arg);
    while (true) {
      const int fd = ::accept4(self.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) break;
      tune_socket(fd, self.options);
      const TransportId transport = self.node->on_accepted(monotonic_now_ns());
      self.add_socket(transport, fd, false);
    }
    self.after_input();
  }

  static void on_timer(evutil_socket_t, short, void* arg) {
    Impl& self = *static_cast<Impl*>(arg);
    self.node->on_timer(monotonic_now_ns());
    self.after_input();
  }

  static void on_wake(evutil_socket_t, short, void* arg) {
    Impl& self = *static_cast<Impl*>(arg);
    self.run_commands();
    if (self.stopping) {
      event_base_loopbreak(self.base);
      return;
    }
    self.after_input();
  }

  // ---- events from the core ----

  void dispatch(Event&& event) {
    std::visit([this](auto&& e) { handle(std::move(e)); }, std::move(event));
  }

  std::string peer_name(PeerId peer) const { return node->config().peers.at(peer); }
  PeerConnection connection(PeerId peer) const { return node->connection(peer); }

  void handle(event::Dial&& e) { dial(e.peer, e.transport); }
  void handle(event::CloseTransport&& e) {
    log(LogLevel::info, "closing transport: " + e.reason);
    close_socket(e.transport, e.final_bytes);
  }
  void handle(event::PeerUp&& e) {
    notify({PeerChange::Kind::up, peer_name(e.peer), "generation " + std::to_string(e.generation)});
  }
  void handle(event::PeerDown&& e) {
    notify({PeerChange::Kind::down, peer_name(e.peer), e.reason});
  }
  void handle(event::HandshakeFailed&& e) {
    notify({PeerChange::Kind::handshake_failed, e.peer_name,
            std::string(status_name(static_cast<std::uint16_t>(e.status))) + ": " + e.message});
  }
  void notify(const PeerChange& change) {
    log(change.kind == PeerChange::Kind::up ? LogLevel::info : LogLevel::warning,
        "peer " + change.peer + ": " + change.detail);
    if (peer_change) peer_change(change);
  }

  void handle(event::RequestReceived&& e) {
    const auto found = handlers.find({e.handler, e.route});
    auto state = std::make_shared<Responder::State>();
    state->node = weak_from_this();
    state->peer = e.peer;
    state->id = e.id;
    if (found == handlers.end()) {
      node->connection(e.peer).respond_error(monotonic_now_ns(), e.id, Errc::unknown_handler,
                                             "no handler");
      return;
    }
    responders[{e.peer, e.id}] = state;
    found->second(IncomingRequest{peer_name(e.peer), e.handler, e.route, std::move(e.payload),
                                  e.deadline_ns, Responder(state)});
  }
  void handle(event::RequestCanceled&& e) {
    const auto found = responders.find({e.peer, e.id});
    if (found == responders.end()) return;
    found->second->ended = true;
    responders.erase(found);
  }
  void handle(event::RequestDone&& e) {
    const auto found = pending.find({e.peer, e.id});
    if (found == pending.end()) return;
    ReplyCallback done = std::move(found->second);
    pending.erase(found);
    done(Reply{e.result, std::move(e.payload)});
  }

  void handle(event::StreamOpened&& e) {
    const auto found = stream_routes.find({e.handler, e.route});
    if (found == stream_routes.end()) {
      node->connection(e.peer).stream_cancel(monotonic_now_ns(), e.id);
      return;
    }
    auto state = std::make_shared<StreamSession::State>();
    state->node = weak_from_this();
    state->peer = e.peer;
    state->id = e.id;
    state->capacity = options.stream_send_queue_messages;
    streams[{e.peer, e.id}] = state;
    StreamSession session(state);
    state->callbacks =
        found->second.fn(IncomingStream{peer_name(e.peer), e.handler, e.route, e.has_payload,
                                        std::move(e.payload), e.has_input},
                         session);
  }
  void handle(event::StreamReadable&& e) {
    const auto found = streams.find({e.peer, e.id});
    if (found == streams.end()) return;
    const auto state = found->second;
    PeerConnection connection = node->connection(e.peer);
    StreamSession session(state);
    while (std::optional<Bytes> message = connection.stream_peek(e.id)) {
      if (state->callbacks.on_message) state->callbacks.on_message(session, *message);
      connection.stream_consume(monotonic_now_ns(), e.id);
    }
    if (!state->input_end_told && connection.stream_input_done(e.id)) {
      state->input_end_told = true;
      if (state->callbacks.on_input_end) state->callbacks.on_input_end(session);
    }
  }
  void handle(event::StreamWritable&& e) {
    const auto found = streams.find({e.peer, e.id});
    if (found != streams.end()) flush_stream(*found->second);
  }
  void handle(event::StreamEnded&& e) {
    const auto found = streams.find({e.peer, e.id});
    if (found == streams.end()) return;
    const auto state = found->second;
    streams.erase(found);
    // A normal end means the peer's half ended and every message was delivered. When the
    // last consume (or the peer's end, with this half already closed) finished the stream
    // at once, StreamReadable could not see the input done: on_input_end runs here.
    if (e.result == Errc::ok && !state->input_end_told) {
      state->input_end_told = true;
      StreamSession session(state);
      if (state->callbacks.on_input_end) state->callbacks.on_input_end(session);
    }
    end_session(state, e.result, e.message);
  }

  // Ends a session exactly once: its queue is dropped and on_end runs.
  static void end_session(const std::shared_ptr<StreamSession::State>& state, Errc result,
                          std::string_view message) {
    if (state->ended.exchange(true)) return;
    state->send_queue.clear();
    state->queued = 0;
    StreamSession session(state);
    if (state->callbacks.on_end) state->callbacks.on_end(session, result, message);
  }

  // Writes a session's queued messages as far as credit allows, then its close or fail.
  void flush_stream(StreamSession::State& state) {
    if (!state.id || state.ended) return;
    PeerConnection connection = node->connection(state.peer);
    const TimeNs now = monotonic_now_ns();
    while (!state.send_queue.empty()) {
      const Errc result = connection.stream_write(now, *state.id, state.send_queue.front());
      if (result == Errc::no_credit) return;
      state.send_queue.pop_front();
      --state.queued;
      if (result != Errc::ok) {
        log(LogLevel::warning, "stream write failed: " + std::string(errc_name(result)));
      }
    }
    // Only once every accepted write reached the core (none still waits in the command
    // queue): a write from on_writable must not overtake earlier ones.
    if (state.queued == 0 && state.wants_room.exchange(false) && state.callbacks.on_writable) {
      StreamSession session(state.shared_from_this());
      state.callbacks.on_writable(session);
    }
    if (state.fail_requested) {
      connection.stream_fail(now, *state.id, state.fail_requested->first,
                             state.fail_requested->second);
      state.fail_requested.reset();
    } else if (state.close_requested) {
      connection.stream_close(now, *state.id);
      state.close_requested = false;
    }
  }

  // Starts a request (loop thread): `done` runs once, at once when it cannot start. Returns
  // the started call.
  std::optional<std::pair<PeerId, RequestId>> start_request(
      std::string_view peer, std::uint16_t handler, std::string_view route, const Payload& payload,
      std::int64_t timeout_ms, ReplyCallback done) {
    const std::optional<PeerId> peer_id = node->find_peer(peer);
    if (!peer_id) {
      done(Reply{Errc::unknown_peer, {}});
      return std::nullopt;
    }
    const Call call = connection(*peer_id).request(
        monotonic_now_ns(), RequestArgs{handler, route, payload, timeout_ms});
    if (call.error != Errc::ok) {
      done(Reply{call.error, {}});
      return std::nullopt;
    }
    pending.emplace(std::make_pair(*peer_id, call.id), std::move(done));
    return std::make_pair(*peer_id, call.id);
  }

  // Sends the answer to `state`'s request (loop thread): a response when `code` is ok, else
  // an error with `bytes` as its message. Nothing if the request ended meanwhile.
  void send_answer(Responder::State& state, Errc code, const Payload& bytes) {
    if (state.ended.exchange(true)) return;
    responders.erase({state.peer, state.id});
    PeerConnection peer = connection(state.peer);
    if (code == Errc::ok) {
      peer.respond(monotonic_now_ns(), state.id, bytes);
    } else {
      peer.respond_error(monotonic_now_ns(), state.id, code, as_chars(bytes.view()));
    }
  }

  // Closes every transport so the core ends every call and stream once, then lets the loop
  // stop. Runs on the loop thread as the last command.
  void shutdown() {
    stopping = true;
    std::vector<TransportId> open;
    for (const auto& [transport, socket] : sockets)
      open.push_back(transport);
    for (TransportId transport : open)
      transport_failed(transport, "node stopping");
    after_input();
    event_del(timer.get());
  }

  StreamArgs stream_args(std::uint16_t handler, const std::string& route,
                         const std::optional<std::vector<std::uint8_t>>& payload, bool has_input,
                         StreamWindow window, std::int64_t timeout_ms) const {
    StreamArgs args;
    args.handler = handler;
    args.route = route;
    args.has_payload = payload.has_value();
    if (payload) args.payload = *payload;
    args.has_input = has_input;
    args.window = window;
    args.timeout_ms = timeout_ms;
    return args;
  }

  std::vector<PeerStatus> snapshot() const {
    std::vector<PeerStatus> result;
    for (PeerId peer = 0; peer < node->peer_count(); ++peer) {
      result.push_back({peer_name(peer), node->connection(peer).stats()});
    }
    return result;
  }

  // ---- state ----
  std::vector<std::pair<std::uint16_t, std::string>> handler_routes;
  std::vector<std::tuple<std::uint16_t, std::string, StreamWindow>> stream_handler_routes;
  EventNodeOptions options;
  std::unique_ptr<Node> node;
  event_base* base = nullptr;
  int wake_fd = -1;
  int listen_fd = -1;
  std::uint16_t port = 0;
  EventPtr wake_event;
  EventPtr timer;
  EventPtr listen_event;
  void* read_buffer = nullptr;
  std::vector<std::optional<sockaddr_in>> peer_addresses;
  std::map<TransportId, Socket> sockets;
  std::map<std::pair<std::uint16_t, std::uint64_t>, RequestHandler> handlers;
  std::map<std::pair<std::uint16_t, std::uint64_t>, StreamRoute> stream_routes;
  // Lookups by id only (io/ need not be deterministic): hash maps.
  struct CallKeyHash {
    std::size_t operator()(const std::pair<PeerId, RequestId>& key) const {
      return std::hash<std::uint64_t>{}(key.second * 0x9e3779b97f4a7c15ULL + key.first);
    }
    std::size_t operator()(const std::pair<PeerId, InboundId>& key) const {
      return std::hash<std::uint64_t>{}(
          (key.second.mux ^ (key.second.generation << 40)) * 0x9e3779b97f4a7c15ULL + key.first);
    }
  };
  std::unordered_map<std::pair<PeerId, RequestId>, ReplyCallback, CallKeyHash> pending;
  std::unordered_map<std::pair<PeerId, InboundId>, std::shared_ptr<Responder::State>, CallKeyHash>
      responders;
  std::map<std::pair<PeerId, StreamId>, std::shared_ptr<StreamSession::State>> streams;
  std::function<void(const PeerChange&)> peer_change;
  std::thread thread;
  std::atomic<std::thread::id> loop_id;
  std::mutex mutex;
  std::deque<Command> commands;
  bool closed = false;
  bool started = false;
  bool stopping = false;
};

// ---- EventNode ----------------------------------------------------------------------------

EventNode::EventNode(EventNodeOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

EventNode::~EventNode() {
  stop();
}

void EventNode::handle(std::uint16_t handler, std::string_view route, RequestHandler fn) {
  impl_->handlers[{handler, route_id(route)}] = std::move(fn);
  impl_->handler_routes.emplace_back(handler, std::string(route));
}

void EventNode::handle_stream(std::uint16_t handler, std::string_view route, StreamWindow window,
                              StreamHandler fn) {
  impl_->stream_routes[{handler, route_id(route)}] = Impl::StreamRoute{window, std::move(fn)};
  impl_->stream_handler_routes.emplace_back(handler, std::string(route), window);
}

void EventNode::on_peer_change(std::function<void(const PeerChange&)> fn) {
  impl_->peer_change = std::move(fn);
}

std::uint16_t EventNode::port() const {
  return impl_->port;
}

Errc EventNode::start() {
  Impl& impl = *impl_;
  if (impl.started) return Errc::ok;
  const TimeNs now = monotonic_now_ns();
  try {
    impl.node = std::make_unique<Node>(impl.options.config, now, wall_now_ms());
  } catch (const std::invalid_argument& bad) {
    impl.log(LogLevel::error, bad.what());
    return Errc::invalid_argument;
  }
  for (const auto& [handler, route] : impl.handler_routes)
    impl.node->register_handler(handler, route);
  for (const auto& [handler, route, window] : impl.stream_handler_routes) {
    impl.node->register_stream_handler(handler, route, window);
  }
  impl.peer_addresses.assign(impl.node->peer_count(), std::nullopt);
  for (const PeerAddress& address : impl.options.addresses) {
    const std::optional<PeerId> peer = impl.node->find_peer(address.name);
    sockaddr_in resolved{};
    if (!peer || !resolve(address.host, address.port, resolved)) {
      impl.log(LogLevel::error, "bad peer address " + address.name + "=" + address.host);
      return Errc::invalid_argument;
    }
    impl.peer_addresses[*peer] = resolved;
  }
  sockaddr_in listen_address{};
  if (!resolve(impl.options.listen_host, impl.options.listen_port, listen_address)) {
    impl.log(LogLevel::error, "bad listen address " + impl.options.listen_host);
    return Errc::invalid_argument;
  }
  impl.listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(impl.listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (::bind(impl.listen_fd, reinterpret_cast<sockaddr*>(&listen_address), sizeof listen_address) !=
          0 ||
      ::listen(impl.listen_fd, 128) != 0) {
    impl.log(LogLevel::error, "cannot listen on " + impl.options.listen_host + ":" +
                                  std::to_string(impl.options.listen_port) + ": " +
                                  errno_text(errno));
    return Errc::invalid_argument;
  }
  socklen_t size = sizeof listen_address;
  getsockname(impl.listen_fd, reinterpret_cast<sockaddr*>(&listen_address), &size);
  impl.port = ntohs(listen_address.sin_port);

  // A page-aligned receive buffer: reads that start off a page boundary are much slower.
  const std::size_t buffer_bytes = (impl.options.read_buffer_bytes + 4095) / 4096 * 4096;
  impl.options.read_buffer_bytes = buffer_bytes;
  impl.read_buffer = std::aligned_alloc(4096, buffer_bytes);
  impl.base = event_base_new();
  impl.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl.wake_event.reset(
      event_new(impl.base, impl.wake_fd, EV_READ | EV_PERSIST, &Impl::on_wake, &impl));
  impl.timer.reset(evtimer_new(impl.base, &Impl::on_timer, &impl));
  impl.listen_event.reset(
      event_new(impl.base, impl.listen_fd, EV_READ | EV_PERSIST, &Impl::on_accept, &impl));
  event_add(impl.wake_event.get(), nullptr);
  event_add(impl.listen_event.get(), nullptr);
  impl.started = true;
  impl.thread = std::thread([&impl] {
    impl.loop_id = std::this_thread::get_id();
    impl.node->on_timer(monotonic_now_ns());
    impl.after_input();
    event_base_dispatch(impl.base);
  });
  return Errc::ok;
}

void EventNode::stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.mutex);
    if (impl.closed) return;
    impl.closed = true;
    if (impl.started) impl.commands.push_back({[&impl] { impl.shutdown(); }, [] {}});
  }
  if (impl.started) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(impl.wake_fd, &one, sizeof one);
    impl.thread.join();
  }
  // Commands that never ran end here, exactly once.
  std::deque<Impl::Command> left;
  {
    std::lock_guard lock(impl.mutex);
    left.swap(impl.commands);
  }
  for (Impl::Command& command : left)
    command.abandon();
}

Errc EventNode::request(std::string_view peer, std::uint16_t handler, Payload payload,
                        std::int64_t timeout_ms, ReplyCallback done, std::string_view route,
                        CallHandle* handle) {
  Impl& impl = *impl_;
  if (impl.on_loop_thread() && !impl.stopping && handle == nullptr) {
    // From a callback: straight into the core, without a command or a copy of the payload.
    impl.start_request(peer, handler, route, payload, timeout_ms, std::move(done));
    return Errc::ok;
  }
  auto shared_done = std::make_shared<ReplyCallback>(std::move(done));
  auto handle_state = std::make_shared<CallHandle::State>();
  handle_state->node = impl_;
  if (handle != nullptr) *handle = CallHandle(handle_state);
  Impl::Command command;
  command.run = [impl = impl_.get(), peer = std::string(peer), handler, route = std::string(route),
                 kept = payload.keep_from(0).first, timeout_ms, shared_done, handle_state] {
    handle_state->call =
        impl->start_request(peer, handler, route, kept, timeout_ms,
                            [handle_state, done = std::move(*shared_done)](Reply&& reply) {
                              handle_state->ended = true;
                              done(std::move(reply));
                            });
  };
  command.abandon = [shared_done, handle_state] {
    handle_state->ended = true;
    (*shared_done)(Reply{Errc::shutting_down, {}});
  };
  const Errc posted = impl_->post(std::move(command));
  if (posted != Errc::ok) handle_state->ended = true;  // never started
  return posted;
}

std::future<Reply> EventNode::request(std::string_view peer, std::uint16_t handler, Payload payload,
                                      std::int64_t timeout_ms, std::string_view route) {
  auto promise = std::make_shared<std::promise<Reply>>();
  std::future<Reply> future = promise->get_future();
  const Errc posted = request(
      peer, handler, std::move(payload), timeout_ms,
      [promise](Reply&& reply) { promise->set_value(std::move(reply)); }, route);
  if (posted != Errc::ok) promise->set_value(Reply{posted, {}});
  return future;
}

StreamSession EventNode::open_stream(std::string_view peer, std::uint16_t handler,
                                     std::string_view route,
                                     const std::vector<std::uint8_t>* payload, bool has_input,
                                     StreamWindow window, std::int64_t timeout_ms,
                                     StreamCallbacks callbacks) {
  auto state = std::make_shared<StreamSession::State>();
  state->node = impl_;
  state->callbacks = std::move(callbacks);
  state->capacity = impl_->options.stream_send_queue_messages;
  std::optional<std::vector<std::uint8_t>> initial;
  if (payload != nullptr) initial = *payload;
  Impl::Command command;
  command.run = [impl = impl_.get(), state, peer = std::string(peer), handler,
                 route = std::string(route), initial, has_input, window, timeout_ms] {
    const std::optional<PeerId> peer_id = impl->node->find_peer(peer);
    if (!peer_id) return Impl::end_session(state, Errc::unknown_peer, "no such peer");
    const OpenedStream opened = impl->connection(*peer_id).open_stream(
        monotonic_now_ns(),
        impl->stream_args(handler, route, initial, has_input, window, timeout_ms));
    if (opened.error != Errc::ok) return Impl::end_session(state, opened.error, "not opened");
    state->peer = *peer_id;
    state->id = opened.id;
    impl->streams[{*peer_id, opened.id}] = state;
    impl->flush_stream(*state);
  };
  command.abandon = [state] { Impl::end_session(state, Errc::shutting_down, "node stopped"); };
  const Errc posted = impl_->post(std::move(command));
  if (posted != Errc::ok) Impl::end_session(state, posted, "not opened");
  return StreamSession(state);
}

Errc EventNode::run_on_loop(std::function<void()> fn) {
  return impl_->post({std::move(fn), [] {}});
}

std::vector<PeerStatus> EventNode::peers() {
  if (!impl_->started) return {};
  if (impl_->on_loop_thread()) return impl_->snapshot();
  auto promise = std::make_shared<std::promise<std::vector<PeerStatus>>>();
  std::future<std::vector<PeerStatus>> future = promise->get_future();
  const Errc posted =
      impl_->post({[impl = impl_.get(), promise] { promise->set_value(impl->snapshot()); },
                   [promise] { promise->set_value({}); }});
  if (posted != Errc::ok) return {};
  return future.get();
}

Errc CallHandle::cancel() {
  if (!state_ || state_->ended) return Errc::not_found;
  const std::shared_ptr<EventNode::Impl> node = state_->node.lock();
  if (!node) return Errc::shutting_down;
  return node->post(
      {[node = node.get(), state = state_] {
         if (!state->call) return;
         node->connection(state->call->first).cancel(monotonic_now_ns(), state->call->second);
       },
       [] {}});
}

// ---- Responder ------------------------------------------------------------------------------

namespace {

// Answers `state`'s request once: in place from a callback on the loop thread (no copy of
// `bytes`), else handed to the loop. False if it was already answered or ended.
bool answer(const std::shared_ptr<Responder::State>& state, Errc code, const Payload& bytes) {
  if (!state || state->ended || state->answered.exchange(true)) return false;
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return false;
  if (node->on_loop_thread() && !node->stopping) {
    node->send_answer(*state, code, bytes);
    return true;
  }
  const Errc posted =
      node->post({[node = node.get(), state, code, kept = bytes.keep_from(0).first] {
                    node->send_answer(*state, code, kept);
                  },
                  [] {}});
  // Not handed over (queue_full, shutting_down): nothing was answered, so a later try may.
  if (posted != Errc::ok) state->answered = false;
  return posted == Errc::ok;
}

}  // namespace

bool Responder::respond(Payload payload) {
  return answer(state_, Errc::ok, payload);
}

bool Responder::fail(Errc code, std::string_view message) {
  if (code == Errc::ok) return false;  // an error needs an error code
  return answer(state_, code, as_bytes(message));
}

bool Responder::canceled() const {
  return state_ && state_->ended && !state_->answered;
}

// ---- StreamSession --------------------------------------------------------------------------

namespace {

// Hands `change` to the loop for `state`'s stream.
Errc post_to_stream(const std::shared_ptr<StreamSession::State>& state,
                    std::function<void(EventNode::Impl&, StreamSession::State&)> change) {
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return Errc::shutting_down;
  return node->post({[node = node.get(), state, change = std::move(change)] {
                       if (!state->ended) change(*node, *state);
                     },
                     [] {}});
}

}  // namespace

Errc StreamSession::write(Bytes message) {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->closing) return Errc::stream_closed;
  if (state_->queued.fetch_add(1) >= state_->capacity) {
    --state_->queued;
    state_->wants_room = true;
    return Errc::queue_full;
  }
  const Errc posted =
      post_to_stream(state_, [bytes = std::vector<std::uint8_t>(message.begin(), message.end())](
                                 EventNode::Impl& node, StreamSession::State& state) {
        state.send_queue.push_back(bytes);
        node.flush_stream(state);
      });
  if (posted != Errc::ok) --state_->queued;
  return posted;
}

Errc StreamSession::close() {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->closing.exchange(true)) return Errc::stream_closed;
  return post_to_stream(state_, [](EventNode::Impl& node, StreamSession::State& state) {
    state.close_requested = true;
    node.flush_stream(state);
  });
}

Errc StreamSession::fail(Errc code, std::string_view message) {
  if (!state_ || state_->ended) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;  // the core would refuse it later
  if (state_->closing.exchange(true)) return Errc::stream_closed;
  return post_to_stream(state_, [code, text = std::string(message)](EventNode::Impl& node,
                                                                    StreamSession::State& state) {
    state.fail_requested = std::make_pair(code, text);
    node.flush_stream(state);
  });
}

Errc StreamSession::cancel() {
  if (!state_ || state_->ended) return Errc::not_found;
  return post_to_stream(state_, [](EventNode::Impl& node, StreamSession::State& state) {
    if (state.id) node.connection(state.peer).stream_cancel(monotonic_now_ns(), *state.id);
  });
}

bool StreamSession::ended() const {
  return !state_ || state_->ended;
}

}  // namespace weft::io
