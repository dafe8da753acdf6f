// The HTTP/1.x responder behind EventNode::serve_metrics: its own listening socket on the
// node's event loop, answering GET /metrics with the Prometheus text. One request per
// connection (Connection: close); every connection and request under the named limits of
// MetricsHttpOptions. Internal to weft_io; loop thread only.
#pragma once

#include <event2/event.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "weft/io/event_node.hpp"

namespace weft::io {

// Makes a scrape's text on demand, or nothing when the node cannot now (it is stopping, or
// its command queue is full).
using RenderMetrics = std::function<std::optional<std::string>()>;

// The response to one request's head (request line and headers), for a body `render`
// makes on demand: 200 for GET or HEAD of /metrics (a query string is ignored), 503 when
// `render` made nothing, 404 for another path, 405 for another method, 400 for a malformed
// request line.
std::string metrics_http_response(std::string_view head, const RenderMetrics& render);

// Whether metrics_http_response calls `render` for `head` (a GET or HEAD of /metrics).
bool metrics_http_renders(std::string_view head);

class MetricsHttp {
 public:
  // Listens on `listen_fd` (bound, listening, nonblocking; owned from now on). `warn`
  // receives the line saying accepting paused (called on the thread running `base`).
  MetricsHttp(event_base* base, int listen_fd, MetricsHttpOptions options, RenderMetrics render,
              std::function<void(std::string)> warn);
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

  // Times accepting paused for lack of descriptors or memory (any thread may read it).
  std::uint64_t accept_pauses() const { return accept_pauses_.load(std::memory_order_relaxed); }
  // Wake-ups that used the whole accepts_per_wake (any thread may read it).
  std::uint64_t accept_budget_reached() const {
    return accept_budget_reached_.load(std::memory_order_relaxed);
  }
  // Connections answered 503 at once for being over max_connections (any thread may read it).
  std::uint64_t refused_connections() const {
    return refused_connections_.load(std::memory_order_relaxed);
  }
  // Scrapes rendered, counting the one under way (any thread may read it).
  std::uint64_t renders() const { return renders_.load(std::memory_order_relaxed); }

 private:
  struct Connection {
    int fd = -1;
    std::unique_ptr<std::pair<MetricsHttp*, std::uint64_t>> context;
    ::event* read_event = nullptr;
    ::event* write_event = nullptr;
    ::event* deadline_event = nullptr;  // request_timeout_ms after the accept: closes it
    std::string request;
    std::size_t head_bytes = 0;       // of `request`, once the head is whole
    bool waiting_for_render = false;  // until the render timer (min_render_interval_ms)
    bool draining = false;            // answered; reading until the scraper closes
    std::size_t drained_bytes = 0;    // read and dropped while draining (max_drain_bytes)
    std::string response;
    std::size_t sent = 0;
  };

  static void on_accept(evutil_socket_t, short, void* arg);
  static void on_accept_resume(evutil_socket_t, short, void* arg);
  // A connection over max_connections: answered 503 and closed, counted.
  void refuse_over_limit(int fd);
  // Stops accepting for options_.accept_pause_ms after accept4 failed with `error`.
  void pause_accepting(int error);
  static void on_readable(evutil_socket_t, short what, void* arg);
  static void on_writable(evutil_socket_t, short what, void* arg);
  static void on_deadline(evutil_socket_t, short what, void* arg);
  void read_request(std::uint64_t id);
  // The head is whole: answers it now, or once the render interval is over.
  void answer(std::uint64_t id);
  static void on_render_due(evutil_socket_t, short, void* arg);
  // One render, shared by every scrape waiting for it.
  std::optional<std::string> render_now();
  // After the answer and our FIN: reads and drops what the scraper still sends, until it
  // closes (or the timeouts, or max_drain_bytes). Closing with its bytes unread would reset
  // the connection, and a reset throws away the answer's tail still in our send queue.
  void drain(std::uint64_t id);
  // Writes what the socket takes; once all is written, sends our FIN and drains.
  void write_response(std::uint64_t id);
  void respond(Connection& connection, std::string response);
  void close(std::uint64_t id);

  event_base* base_;
  int listen_fd_;
  ::event* listen_event_ = nullptr;
  ::event* accept_resume_event_ = nullptr;  // ends a pause of accepting
  MetricsHttpOptions options_;
  RenderMetrics render_;
  std::function<void(std::string)> warn_;
  std::atomic<std::uint64_t> accept_pauses_ = 0;
  std::atomic<std::uint64_t> accept_budget_reached_ = 0;
  std::atomic<std::uint64_t> renders_ = 0;
  std::atomic<std::uint64_t> refused_connections_ = 0;
  ::event* render_due_event_ = nullptr;  // the end of a render interval, scrapes waiting
  std::optional<std::chrono::steady_clock::time_point> last_render_;
  std::map<std::uint64_t, Connection> connections_;
  std::uint64_t next_id_ = 1;
};

}  // namespace weft::io
