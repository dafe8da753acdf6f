// EventNode's public methods (start, stop, request, open_stream, peers). The handles it
// gives out (CallHandle, Responder, StreamSession) are in event_node_handles.cpp, the loop
// itself in event_node_loop.cpp and event_node_calls.cpp; what they share in
// event_node_impl.hpp.
#include "weft/io/event_node.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"
#include "weft/wire.hpp"

namespace weft::io {
namespace {

// The loop's event_base. Without a cached time: libevent would read the clock once per loop
// turn to refresh a cache nothing here reads (the adapter keeps its own turn clock, and the
// core's deadlines fire through a timerfd, so libevent has no timer to compute in a busy turn).
event_base* new_event_base() {
  event_config* config = event_config_new();
  if (config == nullptr) return nullptr;
  event_config_set_flag(config, EVENT_BASE_FLAG_NO_CACHE_TIME);
  event_base* base = event_base_new_with_config(config);
  event_config_free(config);
  return base;  // nullptr when libevent could not make one
}

// Whether `host` is written as an address rather than a name: only digits and dots (an
// IPv4 literal, valid or not) or any colon (IPv6). Such a host is never looked up by name.
bool looks_numeric(std::string_view host) {
  if (host.find(':') != std::string_view::npos) return true;
  return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// A route as a log line shows it: its first 64 bytes, then "..." for the rest.
std::string clip_route(std::string_view route) {
  constexpr std::size_t kShown = 64;
  if (route.size() <= kShown) return std::string(route);
  return std::string(route.substr(0, kShown)) + "...";
}

std::uint64_t seed_from_os() {
  std::random_device entropy;  // getrandom(2) on Linux
  return (std::uint64_t{entropy()} << 32) | entropy();
}

// Fills `key` (the key of the core's handshake nonces, which must be unpredictable) with 256
// bits from the OS, in place: no copy of it is left behind on the stack.
void fill_from_os(std::array<std::uint8_t, 32>& key) {
  std::random_device entropy;  // getrandom(2) on Linux: a cryptographic source
  for (std::size_t i = 0; i < key.size(); i += 4) {
    std::uint32_t word = entropy();
    for (std::size_t j = 0; j < 4; ++j)
      key[i + j] = static_cast<std::uint8_t>(word >> (8 * j));
    explicit_bzero(&word, sizeof word);
  }
}

// Sets the calling thread's policy as `scheduling` asks; 0 or the error number.
int apply_loop_scheduling(LoopScheduling scheduling) {
  switch (scheduling) {
    case LoopScheduling::inherit:
      return 0;
    case LoopScheduling::batch: {
      sched_param param{};
      param.sched_priority = 0;  // the only priority SCHED_BATCH has
      return pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
    }
  }
  return EINVAL;  // not an enumerator
}

// The error line of a name add_peer refused, with the core's reason (peer_name_refusal).
std::string refused_peer_line(std::string_view name, std::string_view refusal) {
  return "peer " + std::string(name) + " not added: it " + std::string(refusal);
}

}  // namespace

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

bool host_resolves(const std::string& host) {
  sockaddr_in unused{};
  return resolve(host, 0, unused);
}

std::optional<std::string> resolved_address(const std::string& host) {
  sockaddr_in address{};
  if (!resolve(host, 0, address)) return std::nullopt;
  char text[INET_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET, &address.sin_addr, text, sizeof text) == nullptr) return std::nullopt;
  return std::string(text);
}

// ---- EventNode ----------------------------------------------------------------------------

EventNode::EventNode(EventNodeOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  wipe_nonce_key(options.config);  // moved from: an optional array keeps its bytes
}

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

LoopBackend EventNode::loop_backend() const {
  return impl_->started ? impl_->backend : impl_->options.loop_backend;
}

std::optional<LoopBackend> parse_loop_backend(std::string_view text) {
  if (text == "libevent") return LoopBackend::libevent;
  if (text == "io_uring") return LoopBackend::io_uring;
  return std::nullopt;
}

std::string_view loop_backend_name(LoopBackend backend) {
  return backend == LoopBackend::io_uring ? "io_uring" : "libevent";
}

Errc EventNode::start() {
  Impl& impl = *impl_;
  if (impl.started) return Errc::ok;
  {
    // A stopped node stays stopped: a loop started now could never be joined.
    std::lock_guard lock(impl.mutex);
    if (impl.closed) return Errc::shutting_down;
  }
  const TimeNs now = impl.fresh_now();
  if (impl.options.accept_pause_ms <= 0) {
    impl.log(LogLevel::error, "accept_pause_ms must be at least 1");
    return Errc::invalid_argument;
  }
  if (impl.options.accepts_per_wake == 0) {
    impl.log(LogLevel::error, "accepts_per_wake must be at least 1");
    return Errc::invalid_argument;
  }
  if (impl.options.read_buffer_bytes == 0 || impl.options.read_buffer_bytes > kMaxReadBufferBytes) {
    // None: no read could take a byte (the libevent loop would spin on a readable socket,
    // an io_uring receive would never be posted).
    impl.log(LogLevel::error,
             "read_buffer_bytes must be 1 to " + std::to_string(kMaxReadBufferBytes) + " bytes");
    return Errc::invalid_argument;
  }
  if (impl.options.listen_busy_wait_ms < 0) {
    impl.log(LogLevel::error, "listen_busy_wait_ms must not be negative");
    return Errc::invalid_argument;
  }
  impl.connection_log_throttle = LineThrottle(impl.options.connection_log_lines_per_s);
  impl.backend = impl.options.loop_backend;
  if (const char* named = std::getenv("WEFT_LOOP_BACKEND"); named != nullptr && *named != 0) {
    const std::optional<LoopBackend> parsed = parse_loop_backend(named);
    if (!parsed) {
      impl.log(LogLevel::error, "WEFT_LOOP_BACKEND names no loop: '" + std::string(named) +
                                    "' (libevent or io_uring)");
      return Errc::invalid_argument;
    }
    impl.backend = *parsed;
  }
  if (const std::optional<std::string> problem = tls_limits_problem(impl.options.tls_limits)) {
    impl.log(LogLevel::error, "tls_limits refused: " + *problem);
    return Errc::invalid_argument;
  }
  if (impl.options.tls) {
    if (!impl.check_tls_context(*impl.options.tls)) return Errc::invalid_argument;
    impl.tls_context = impl.options.tls;
  }
  NodeConfig config = impl.options.config;
  // The local's key is overwritten however start() leaves (a moved-from optional array
  // still holds its bytes).
  const std::unique_ptr<NodeConfig, void (*)(NodeConfig*)> wipe_local(
      &config, [](NodeConfig* local) { wipe_nonce_key(*local); });
  // Every process its own incarnation and jitter (DESIGN.md rule 10): unless a test fixed
  // the seed, draw it from the OS. The core itself never reads randomness.
  if (!config.seed) config.seed = seed_from_os();
  // Nonces from a key nobody else can know, even when a test fixed the seed.
  if (!config.nonce_key) fill_from_os(config.nonce_key.emplace());
  try {
    impl.node = std::make_unique<Node>(std::move(config), now, wall_now_ms());
  } catch (const std::invalid_argument& bad) {
    impl.log(LogLevel::error, bad.what());
    return Errc::invalid_argument;
  }
  // A handler the core refuses would never be served (every call to it would end with
  // unknown_handler): refused here, like a bad object endpoint.
  const std::string route_limit =
      std::to_string(impl.options.config.limits.max_route_bytes) + " bytes";
  for (const auto& [handler, route] : impl.handler_routes) {
    if (impl.node->register_handler(handler, route) != Errc::ok) {
      impl.log(LogLevel::error, "bad request handler " + std::to_string(handler) + " route '" +
                                    clip_route(route) + "' (handler 1..65535, a route of at most " +
                                    route_limit + ")");
      return Errc::invalid_argument;
    }
  }
  for (const auto& [handler, route, window] : impl.stream_handler_routes) {
    if (impl.node->register_stream_handler(handler, route, window) != Errc::ok) {
      impl.log(LogLevel::error, "bad stream handler " + std::to_string(handler) + " route '" +
                                    clip_route(route) +
                                    "' or window (handler 1..65535, a route of "
                                    "at most " +
                                    route_limit + ", a window of at least 1 message and 1 byte)");
      return Errc::invalid_argument;
    }
  }
  for (const auto& [endpoint, route] : impl.object_routes) {
    if (impl.node->register_object_endpoint(endpoint, route.window) != Errc::ok) {
      impl.log(LogLevel::error, "bad object endpoint '" + endpoint +
                                    "' or window (at least 1 object and 65536 bytes)");
      return Errc::invalid_argument;
    }
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
  if (!impl.options.source_host.empty()) {
    sockaddr_in source{};
    if (!resolve(impl.options.source_host, 0, source)) {
      impl.log(LogLevel::error, "bad source address " + impl.options.source_host);
      return Errc::invalid_argument;
    }
    impl.source_address = source;
  }
  sockaddr_in listen_address{};
  if (!resolve(impl.options.listen_host, impl.options.listen_port, listen_address)) {
    impl.log(LogLevel::error, "bad listen address " + impl.options.listen_host);
    return Errc::invalid_argument;
  }
  if (const Errc opened = impl.open_loop_handles(listen_address); opened != Errc::ok) {
    return opened;
  }
  const Errc started = impl.start_loop_thread();
  // Started, the node holds the only copy of the nonce key it needs (the loop never reads
  // the options' copy). A start refused before may be tried again with the caller's key.
  if (started == Errc::ok) wipe_nonce_key(impl.options.config);
  return started;
}

// Binds the listener to `address`; while the address is in use, tries again every 10 ms
// for up to options.listen_busy_wait_ms (a restarted node's port may still be held by its
// dead predecessor's io_uring for a moment). False with errno set when it did not bind.
bool EventNode::Impl::bind_waiting_while_busy(const sockaddr_in& address) {
  constexpr std::chrono::milliseconds kRetryEvery{10};
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.listen_busy_wait_ms);
  bool waited = false;
  while (true) {
    if (::bind(listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      if (waited) log(LogLevel::info, "listen address free again: bound");
      return true;
    }
    if (errno != EADDRINUSE || std::chrono::steady_clock::now() >= give_up) return false;
    if (!waited) {
      log(LogLevel::warning, "listen address in use: trying again for up to " +
                                 std::to_string(options.listen_busy_wait_ms) + " ms");
      waited = true;
    }
    std::this_thread::sleep_for(kRetryEvery);
  }
}

// The loop's own handles, then the listener: a failure closes whatever was made, so nothing
// stays open (no port held, no descriptor leaked) and start() may be tried again.
Errc EventNode::Impl::open_loop_handles(sockaddr_in listen_address) {
  base = new_event_base();
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (base == nullptr || wake_fd < 0 || timer_fd < 0) {
    log(LogLevel::error,
        "cannot make the loop's event base, eventfd and timerfd: " + errno_text(errno));
    release_loop();
    return Errc::invalid_argument;
  }
  listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int on = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (!bind_waiting_while_busy(listen_address) || ::listen(listen_fd, 128) != 0) {
    log(LogLevel::error, "cannot listen on " + options.listen_host + ":" +
                             std::to_string(options.listen_port) + ": " + errno_text(errno));
    release_loop();
    return Errc::invalid_argument;
  }
  socklen_t size = sizeof listen_address;
  getsockname(listen_fd, reinterpret_cast<sockaddr*>(&listen_address), &size);
  port = ntohs(listen_address.sin_port);

  // A page-aligned receive buffer: reads that start off a page boundary are much slower.
  const std::size_t buffer_bytes = (options.read_buffer_bytes + 4095) / 4096 * 4096;
  options.read_buffer_bytes = buffer_bytes;
  read_buffer = std::aligned_alloc(4096, buffer_bytes);
  spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (read_buffer == nullptr || spare_fd < 0) {
    // The spare descriptor is what lets the loop shed connections when descriptors run out.
    log(LogLevel::error,
        read_buffer == nullptr
            ? "cannot allocate the " + std::to_string(buffer_bytes) + " bytes of read_buffer_bytes"
            : "cannot open the loop's spare descriptor: " + errno_text(errno));
    release_loop();
    return Errc::invalid_argument;
  }
  wake_event.reset(event_new(base, wake_fd, EV_READ | EV_PERSIST, &Impl::on_wake, this));
  timer.reset(event_new(base, timer_fd, EV_READ | EV_PERSIST, &Impl::on_timer, this));
  listen_event.reset(event_new(base, listen_fd, EV_READ | EV_PERSIST, &Impl::on_accept, this));
  accept_resume.reset(evtimer_new(base, &Impl::on_accept_resume, this));
  write_turn.reset(event_new(base, -1, 0, &Impl::on_write_turn, this));
  event_add(wake_event.get(), nullptr);
  event_add(timer.get(), nullptr);
  event_add(listen_event.get(), nullptr);
  return Errc::ok;
}

// The loop thread sets its own scheduling policy first, then makes its ring (an io_uring
// has one thread as its only user), and reports how that went. Refused, it ends there and
// everything open_loop_handles made is released; else it waits until the node is marked
// started (so the loop never sees the flag change under it), then runs.
Errc EventNode::Impl::start_loop_thread() {
  struct Refusal {
    int error = 0;      // errno
    bool ring = false;  // making the ring failed (else the policy)
  };
  std::promise<Refusal> ready;
  std::future<Refusal> refusal = ready.get_future();
  std::promise<bool> go;  // false: stop() came first, so the loop must not run
  thread = std::thread([this, ready = std::move(ready), go_signal = go.get_future()]() mutable {
    if (const int error = apply_loop_scheduling(options.loop_scheduling); error != 0) {
      return ready.set_value({error, false});
    }
    if (backend == LoopBackend::io_uring) {
      if (const int made = open_ring(); made < 0) return ready.set_value({-made, true});
    }
    ready.set_value({});
    if (!go_signal.get()) {
      ring.reset();  // on the thread that made it
      return;
    }
    loop_id = std::this_thread::get_id();
    node->on_timer(fresh_now());
    woken();  // the commands queued before start (their wake-up found no loop), then output
    if (ring) {
      run_ring();
    } else {
      event_base_dispatch(base);
    }
    drop_released();
  });
  if (const Refusal refused = refusal.get(); refused.error != 0) {
    thread.join();
    release_loop();
    port = 0;
    if (refused.ring) {
      log(LogLevel::error,
          "cannot make the loop's io_uring: " + errno_text(refused.error) +
              (refused.error == EPERM ? " (kernel.io_uring_disabled, or a seccomp policy)" : ""));
    } else {
      log(LogLevel::error,
          "cannot put the loop thread under SCHED_BATCH: " + errno_text(refused.error) +
              " (a thread under SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE "
              "that allows its nice value; a seccomp or LSM policy may refuse too)");
    }
    return Errc::invalid_argument;
  }
  {
    // A stop() from another thread while start() waited (for a busy listen address, a
    // name lookup) found no loop to stop and ended there: a loop started now would run
    // with nothing left to stop it or join it.
    std::lock_guard lock(mutex);
    if (!closed) started = true;
  }
  if (!started) {
    go.set_value(false);
    thread.join();
    release_loop();
    port = 0;
    log(LogLevel::warning, "stop() came while start() was under way: the node stays stopped");
    return Errc::shutting_down;
  }
  go.set_value(true);
  return Errc::ok;
}

void EventNode::stop() {
  Impl& impl = *impl_;
  {
    std::unique_lock lock(impl.mutex);
    if (impl.closed) {
      // Another thread's stop() may still be joining the loop: return once it is done, as
      // a stop() does (never on the loop thread, which that stop() waits for).
      if (!impl.on_loop_thread()) impl.stopped.wait(lock, [&impl] { return impl.stop_done; });
      return;
    }
    impl.closed = true;
    if (impl.started) impl.commands.push_back({[&impl] { impl.shutdown(); }, [] {}});
  }
  if (impl.started) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(impl.wake_fd, &one, sizeof one);
    impl.thread.join();
    // The metrics endpoint closes with the loop: no scrape is accepted, or left waiting in
    // the listen queue, after stop (on io_uring its own thread ends here; on libevent its
    // events belong to the loop's base, which no thread runs any more).
    impl.metrics_thread.reset();
    impl.metrics_http.reset();
  }
  // Commands that never ran end here, exactly once.
  std::deque<Impl::Command> left;
  {
    std::lock_guard lock(impl.mutex);
    left.swap(impl.commands);
  }
  for (Impl::Command& command : left)
    command.abandon();
  // Then the ends of the object streams and bundles whose open never ran: each of their
  // objects completed above first, as their on_end promises.
  std::vector<std::function<void()>> ends;
  ends.swap(impl.ends_after_abandons);
  for (const std::function<void()>& end : ends)
    end();
  {
    std::lock_guard lock(impl.mutex);
    impl.stop_done = true;
  }
  impl.stopped.notify_all();
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
        impl->fresh_now(),
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
  return ask_loop<std::vector<PeerStatus>>(*impl_,
                                           [impl = impl_.get()] { return impl->snapshot(); })
      .second;
}

Errc EventNode::add_peer(const PeerAddress& address) {
  Impl& impl = *impl_;
  sockaddr_in resolved{};
  if (!resolve(address.host, address.port, resolved)) {
    impl.log(LogLevel::error, "bad peer address " + address.name + "=" + address.host);
    return Errc::invalid_argument;
  }
  if (!impl.started) {  // before start(): into the options start() reads
    {
      std::lock_guard lock(impl.mutex);
      if (impl.closed) return Errc::shutting_down;  // a stopped node never starts
    }
    // The core's rule for a peer's name, so that start() does not fail over it.
    const std::vector<std::string>& names = impl.options.config.peers;
    const std::string_view refusal =
        peer_name_refusal(impl.options.config.name, address.name,
                          std::find(names.begin(), names.end(), address.name) != names.end());
    if (!refusal.empty()) {
      impl.log(LogLevel::error, refused_peer_line(address.name, refusal));
      return Errc::invalid_argument;
    }
    impl.options.config.peers.push_back(address.name);
    impl.options.addresses.push_back(address);
    return Errc::ok;
  }
  const auto [posted, result] = ask_loop<Errc>(impl, [&impl, name = address.name, resolved] {
    const AddedPeer added = impl.node->add_peer(impl.fresh_now(), name);
    if (added.error != Errc::ok) {
      const Node& node = *impl.node;
      const std::string_view refusal =
          peer_name_refusal(node.config().name, name, node.find_peer(name).has_value());
      impl.log(LogLevel::error, refused_peer_line(name, refusal));
      return added.error;
    }
    if (impl.peer_addresses.size() <= added.peer) impl.peer_addresses.resize(added.peer + 1);
    impl.peer_addresses[added.peer] = resolved;
    impl.log(LogLevel::info, "peer " + name + " added");
    return Errc::ok;
  });
  return posted != Errc::ok ? posted : result;
}

Errc EventNode::remove_peer(std::string_view name) {
  Impl& impl = *impl_;
  if (!impl.started) {  // before start(): out of the options start() reads
    std::vector<std::string>& names = impl.options.config.peers;
    const auto listed = std::find(names.begin(), names.end(), name);
    if (listed == names.end()) return Errc::unknown_peer;
    names.erase(listed);
    std::erase_if(impl.options.addresses,
                  [&](const PeerAddress& address) { return address.name == name; });
    return Errc::ok;
  }
  const auto [posted, result] = ask_loop<Errc>(impl, [&impl, name = std::string(name)] {
    const std::optional<PeerId> peer = impl.node->find_peer(name);
    if (!peer) return Errc::unknown_peer;
    // Removing the peer ends its streams and objects at once, freeing the data an
    // on_message or on_data further up the stack may still read: from inside one, the
    // removal runs once it returned.
    const auto remove = [&impl, peer = *peer, name] {
      const Errc removed = impl.node->remove_peer(impl.fresh_now(), peer);
      if (removed == Errc::ok) {
        impl.peer_addresses[peer].reset();  // never dialed again
        if (peer < impl.shared_peer_names.size()) impl.shared_peer_names[peer] = PeerName();
        impl.log(LogLevel::info, "peer " + name + " removed");
      }
      return removed;
    };
    if (!impl.view_lent(*peer, nullptr)) return remove();
    return impl.post_freeing_views({[remove] { remove(); }, [] {}}, *peer, nullptr);
  });
  return posted != Errc::ok ? posted : result;
}

Errc EventNode::set_authenticator(std::shared_ptr<const Authenticator> auth) {
  Impl& impl = *impl_;
  if (!auth) return Errc::invalid_argument;
  if (!impl.started) {  // before start(): into the options start() reads
    impl.options.config.auth = std::move(auth);
    return Errc::ok;
  }
  const auto [posted, result] = ask_loop<Errc>(impl, [&impl, auth = std::move(auth)] {
    // The connections whose peers' proofs no longer verify close, ending their streams and
    // objects and freeing what they hold: from inside an on_message or on_data, once the
    // view lent to it is returned.
    const auto replace = [&impl, auth] {
      const std::size_t closed = impl.node->set_authenticator(impl.fresh_now(), auth);
      impl.log(closed > 0 ? LogLevel::warning : LogLevel::info,
               closed > 0 ? "authenticator replaced: " + std::to_string(closed) +
                                " connection(s) closed whose peer's proof no longer verifies"
                          : std::string("authenticator replaced"));
    };
    if (!impl.view_lent(EventNode::Impl::kAnyPeer, nullptr)) {
      replace();
      return Errc::ok;
    }
    return impl.post_freeing_views({[replace] { replace(); }, [] {}}, EventNode::Impl::kAnyPeer,
                                   nullptr);
  });
  return posted != Errc::ok ? posted : result;
}

}  // namespace weft::io
