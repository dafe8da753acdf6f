// EventNode::metrics: the core's snapshot (Node::metrics) with the adapter's counters added
// as driver metrics (families weft_io_*, docs/METRICS.md). Taken on the loop thread.

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {

// The metrics endpoint of a node on an io_uring loop: the responder runs on a libevent
// base of its own, on a thread of its own, and renders each scrape on the node's loop
// thread (ask_loop), where the node's state lives. A scrape is rare; the thread sleeps in
// epoll_wait between them.
class MetricsThread {
 public:
  // Takes `listen_fd` (bound, listening, nonblocking). Null when libevent or the kernel
  // cannot make the base, its wake-up eventfd or the thread (the descriptor is closed).
  static std::unique_ptr<MetricsThread> start(int listen_fd, MetricsHttpOptions options,
                                              RenderMetrics render,
                                              std::function<void(std::string)> warn) {
    auto made = std::unique_ptr<MetricsThread>(new MetricsThread());
    made->base_ = event_base_new();
    made->stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (made->base_ == nullptr || made->stop_fd_ < 0) {
      ::close(listen_fd);
      return nullptr;
    }
    made->stop_event_.reset(event_new(made->base_, made->stop_fd_, EV_READ, &on_stop, made.get()));
    event_add(made->stop_event_.get(), nullptr);
    made->http_ = std::make_unique<MetricsHttp>(made->base_, listen_fd, std::move(options),
                                                std::move(render), std::move(warn));
    try {
      made->thread_ = std::thread([base = made->base_] { event_base_dispatch(base); });
    } catch (const std::system_error&) {
      return nullptr;  // the destructor frees the rest
    }
    return made;
  }
  ~MetricsThread() {
    if (thread_.joinable()) {
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t written = ::write(stop_fd_, &one, sizeof one);
      thread_.join();
    }
    http_.reset();  // its events belong to base_
    stop_event_.reset();
    if (stop_fd_ >= 0) ::close(stop_fd_);
    if (base_ != nullptr) event_base_free(base_);
  }
  MetricsThread(const MetricsThread&) = delete;
  MetricsThread& operator=(const MetricsThread&) = delete;

  const MetricsHttp& http() const { return *http_; }

 private:
  MetricsThread() = default;
  static void on_stop(evutil_socket_t, short, void* arg) {
    event_base_loopbreak(static_cast<MetricsThread*>(arg)->base_);
  }
  event_base* base_ = nullptr;
  int stop_fd_ = -1;
  EventPtr stop_event_;
  std::unique_ptr<MetricsHttp> http_;
  std::thread thread_;
};

void MetricsThreadDeleter::operator()(MetricsThread* thread) const {
  delete thread;
}

void EventNode::Impl::add_io_metrics(MetricsSnapshot& snapshot) {
  auto add = [&snapshot](std::string name, std::string help, bool counter, double value,
                         std::vector<std::pair<std::string, std::string>> labels = {}) {
    snapshot.driver.push_back(
        DriverMetric{std::move(name), std::move(help), counter, std::move(labels), value});
  };
  add("io_dials", "Dials the adapter started (failures: weft_peer_connect_failures_total).", true,
      static_cast<double>(io_counters.dials));
  add("io_accept_pauses", "Times accepting paused: out of descriptors or kernel memory.", true,
      static_cast<double>(io_counters.accept_pauses));
  add("io_accepts_shed", "Connections waiting in the listen queue closed during a pause.", true,
      static_cast<double>(io_counters.accepts_shed));
  add("io_accept_budget_reached",
      "Wake-ups of the listener that used all of accepts_per_wake (accepts and their "
      "retries); any more connections waited for the next turn.",
      true, static_cast<double>(io_counters.accept_budget_reached));
  const MetricsHttp* http = metrics_thread ? &metrics_thread->http() : metrics_http.get();
  add("io_metrics_accept_pauses",
      "Times the metrics endpoint's accepting paused: out of descriptors or kernel memory.", true,
      http != nullptr ? static_cast<double>(http->accept_pauses()) : 0.0);
  add("io_metrics_accept_budget_reached",
      "Wake-ups of the metrics endpoint's listener that used all of its accepts_per_wake.", true,
      http != nullptr ? static_cast<double>(http->accept_budget_reached()) : 0.0);
  add("io_metrics_refused_connections",
      "Connections to the metrics endpoint answered 503 at once: over max_connections.", true,
      http != nullptr ? static_cast<double>(http->refused_connections()) : 0.0);
  add("io_metrics_renders",
      "Scrapes the metrics endpoint rendered, this one included (scrapes within "
      "min_render_interval_ms of a render wait and share the next).",
      true, http != nullptr ? static_cast<double>(http->renders()) : 0.0);
  for (const auto& [key, count] : io_counters.tls_failures) {
    add("io_tls_failures", "TLS sessions that failed, by code; stage handshake or session.", true,
        static_cast<double>(count),
        {{"code", key.first}, {"stage", key.second ? "handshake" : "session"}});
  }
  add("io_sockets", "Sockets open: connections and dials under way.", false,
      static_cast<double>(sockets.size()));
  std::size_t queued = 0;
  {
    const std::lock_guard lock(mutex);
    queued = commands.size();
  }
  add("io_commands_queued", "Commands from other threads waiting for the loop.", false,
      static_cast<double>(queued));
  add("io_calls_pending", "Replies the adapter waits for (its requests in flight).", false,
      static_cast<double>(pending.size()));
  add("io_stream_sessions", "Stream sessions the adapter holds.", false,
      static_cast<double>(streams.size()));
  add("io_loop", "The loop the node runs on (1 for the backend named).", false, 1,
      {{"backend", std::string(loop_backend_name(backend))}});
  add("io_uring_sends_cut", "Send operations a full socket cut short or refused (io_uring).", true,
      static_cast<double>(io_counters.uring_sends_cut));
  add("io_uring_quiet_sends_failed",
      "Quiet sends (no completion on success) that failed: refused, cut short or an error "
      "(io_uring).",
      true, static_cast<double>(io_counters.uring_quiet_sends_failed));
  add("io_uring_completions_dropped",
      "Completions the kernel dropped, its completion queue full and no memory for more; each "
      "time, the connections with an operation posted ended (io_uring).",
      true, static_cast<double>(io_counters.uring_completions_dropped));
  add("io_uring_receive_buffer_bytes", "Bytes of the sockets' receive buffers (io_uring).", false,
      static_cast<double>(ring_receive_buffer_bytes()));
  add("io_uring_sockets_parked",
      "Closed sockets whose buffers wait for their operations' last completions (io_uring).", false,
      static_cast<double>(retired_ring_sockets.size()));
}

MetricsSnapshot EventNode::metrics(const MetricsOptions& options) {
  if (!impl_->started) return {};
  return ask_loop<MetricsSnapshot>(*impl_,
                                   [impl = impl_.get(), options] {
                                     if (!impl->node) return MetricsSnapshot{};
                                     MetricsSnapshot snapshot =
                                         impl->node->metrics(impl->fresh_now(), options);
                                     impl->add_io_metrics(snapshot);
                                     return snapshot;
                                   })
      .second;
}

MetricsEndpoint EventNode::serve_metrics(const MetricsHttpOptions& options) {
  Impl& impl = *impl_;
  if (!impl.started) return {Errc::shutting_down, 0};
  if (options.accept_pause_ms < 1) {
    impl.log(LogLevel::error, "metrics: accept_pause_ms must be at least 1");
    return {Errc::invalid_argument, 0};
  }
  if (options.accepts_per_wake == 0) {
    impl.log(LogLevel::error, "metrics: accepts_per_wake must be at least 1");
    return {Errc::invalid_argument, 0};
  }
  // Each of these at 0 makes an endpoint that answers nothing (no byte of a head can be
  // read, every connection is over the limit, every read times out at once).
  if (options.max_request_bytes == 0 || options.max_connections == 0 ||
      options.idle_timeout_ms < 1 || options.listen_backlog < 1) {
    impl.log(LogLevel::error,
             "metrics: max_request_bytes, max_connections, idle_timeout_ms and listen_backlog "
             "must be at least 1");
    return {Errc::invalid_argument, 0};
  }
  // Longer than a connection may live, no scrape after the first would ever be answered.
  if (options.min_render_interval_ms < 0 ||
      options.min_render_interval_ms >=
          std::max(options.request_timeout_ms, options.idle_timeout_ms)) {
    impl.log(LogLevel::error,
             "metrics: min_render_interval_ms must be at least 0 and below request_timeout_ms");
    return {Errc::invalid_argument, 0};
  }
  sockaddr_in address{};
  if (!resolve(options.host, options.port, address)) {
    impl.log(LogLevel::error, "metrics: bad listen address " + options.host);
    return {Errc::invalid_argument, 0};
  }
  auto listen = [&impl, options, address]() mutable -> MetricsEndpoint {
    if (impl.metrics_http || impl.metrics_thread) return {Errc::invalid_argument, 0};
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, options.listen_backlog) != 0) {
      impl.log(LogLevel::error, "metrics: cannot listen on " + options.host + ":" +
                                    std::to_string(options.port) + ": " + errno_text(errno));
      if (fd >= 0) ::close(fd);
      return {Errc::invalid_argument, 0};
    }
    socklen_t size = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    const MetricsOptions what = options.metrics;
    // On the loop thread, or the responder's own thread on io_uring (LogSink may be called
    // from any thread).
    auto warn = [&impl](const std::string& line) { impl.log(LogLevel::warning, line); };
    // The scrape's text, on the loop thread.
    auto render_here = [&impl, what]() -> std::optional<std::string> {
      MetricsSnapshot snapshot = impl.node->metrics(impl.fresh_now(), what);
      impl.turn_now_ns = 0;  // a turn of its own, without after_input to end it
      impl.add_io_metrics(snapshot);
      return format_prometheus(snapshot);
    };
    if (impl.ring) {
      auto render = [&impl, render_here]() -> std::optional<std::string> {
        // On the metrics thread: the snapshot is taken on the loop thread, as a command
        // (none when the loop cannot take it: stopping, or its queue full).
        auto [posted, text] = ask_loop<std::optional<std::string>>(impl, render_here);
        return posted == Errc::ok ? std::move(text) : std::nullopt;
      };
      impl.metrics_thread.reset(
          MetricsThread::start(fd, std::move(options), std::move(render), warn).release());
      if (!impl.metrics_thread) {
        impl.log(LogLevel::error,
                 "metrics: cannot start the responder's thread or make its event base");
        return {Errc::invalid_argument, 0};
      }
      return {Errc::ok, ntohs(address.sin_port)};
    }
    impl.metrics_http =
        std::make_unique<MetricsHttp>(impl.base, fd, std::move(options), render_here, warn);
    return {Errc::ok, ntohs(address.sin_port)};
  };
  const auto [posted, endpoint] = ask_loop<MetricsEndpoint>(impl, std::move(listen));
  return posted == Errc::ok ? endpoint : MetricsEndpoint{posted, 0};
}

}  // namespace weft::io
