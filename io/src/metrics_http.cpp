// EventNode::serve_metrics' HTTP/1.x responder (metrics_http.hpp). Deliberately small: one
// request per connection, the head read whole before answering, no keep-alive; a request
// body or anything after the head is read and dropped. Anything else gets its status code
// and the connection closes.

#include "metrics_http.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "accept_failure.hpp"

namespace weft::io {
namespace {

std::string reply(std::string_view status, std::string_view content_type, std::string_view body,
                  bool with_body, std::string_view extra_header = {}) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size());
  out += "\r\nConnection: close\r\n";
  out += extra_header;
  out += "\r\n";
  if (with_body) out += body;
  return out;
}

// A short text answer; `with_body` false for a HEAD request (the head says the length).
std::string plain(std::string_view status, std::string_view body,
                  std::string_view extra_header = {}, bool with_body = true) {
  return reply(status, "text/plain; charset=utf-8", body, with_body, extra_header);
}

// Where the head ends (just past its blank line), or npos while it has not.
std::size_t head_end(std::string_view request) {
  const std::size_t crlf = request.find("\r\n\r\n");
  if (crlf != std::string_view::npos) return crlf + 4;
  const std::size_t lf = request.find("\n\n");
  return lf == std::string_view::npos ? lf : lf + 2;
}

timeval timeval_of_ms(std::int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
}

}  // namespace

namespace {

// The answer to `head` when it is not a GET or HEAD of /metrics; nullopt when it is (and
// `with_body` says which).
std::optional<std::string> refusal(std::string_view head, bool& with_body) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  const std::size_t first_space = line.find(' ');
  const std::size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space ||
      !line.substr(last_space + 1).starts_with("HTTP/1.")) {
    return plain("400 Bad Request", "malformed request line\n");
  }
  const std::string_view method = line.substr(0, first_space);
  std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  target = target.substr(0, target.find('?'));
  with_body = method != "HEAD";
  if (method != "GET" && method != "HEAD") {
    return plain("405 Method Not Allowed", "only GET and HEAD\n", "Allow: GET, HEAD\r\n");
  }
  if (target != "/metrics") return plain("404 Not Found", "try /metrics\n", {}, with_body);
  return std::nullopt;
}

}  // namespace

bool metrics_http_renders(std::string_view head) {
  bool with_body = false;
  return !refusal(head, with_body).has_value();
}

std::string metrics_http_response(std::string_view head, const RenderMetrics& render) {
  bool with_body = false;
  if (std::optional<std::string> refused = refusal(head, with_body)) return std::move(*refused);
  // No text: 503, so that a scraper records a failed scrape, not a node without samples.
  std::optional<std::string> text = render();
  if (!text) {
    return plain("503 Service Unavailable",
                 "the node cannot take a scrape now (stopping, or its command queue full)\n", {},
                 with_body);
  }
  return reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", std::move(*text), with_body);
}

MetricsHttp::MetricsHttp(event_base* base, int listen_fd, MetricsHttpOptions options,
                         RenderMetrics render, std::function<void(std::string)> warn)
    : base_(base),
      listen_fd_(listen_fd),
      options_(std::move(options)),
      render_(std::move(render)),
      warn_(std::move(warn)) {
  listen_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &MetricsHttp::on_accept, this);
  accept_resume_event_ = evtimer_new(base_, &MetricsHttp::on_accept_resume, this);
  render_due_event_ = evtimer_new(base_, &MetricsHttp::on_render_due, this);
  event_add(listen_event_, nullptr);
}

MetricsHttp::~MetricsHttp() {
  while (!connections_.empty())
    close(connections_.begin()->first);
  event_free(listen_event_);
  event_free(accept_resume_event_);
  event_free(render_due_event_);
  ::close(listen_fd_);
}

void MetricsHttp::on_accept(evutil_socket_t, short, void* arg) {
  MetricsHttp& self = *static_cast<MetricsHttp*>(arg);
  // At most accepts_per_wake: the listener stays readable, and libevent calls again.
  for (std::size_t accepted = 0;; ++accepted) {
    if (accepted == self.options_.accepts_per_wake) {
      self.accept_budget_reached_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const int fd = ::accept4(self.listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      const AcceptFailure failure = classify_accept_failure(error);
      if (failure == AcceptFailure::retry) continue;
      if (failure == AcceptFailure::pause) self.pause_accepting(error);
      return;
    }
    if (self.connections_.size() >= self.options_.max_connections) {
      self.refuse_over_limit(fd);
      continue;
    }
    const std::uint64_t id = self.next_id_++;
    Connection& connection = self.connections_[id];
    connection.fd = fd;
    connection.context = std::make_unique<std::pair<MetricsHttp*, std::uint64_t>>(&self, id);
    connection.read_event = event_new(self.base_, fd, EV_READ | EV_PERSIST,
                                      &MetricsHttp::on_readable, connection.context.get());
    connection.write_event = event_new(self.base_, fd, EV_WRITE | EV_PERSIST,
                                       &MetricsHttp::on_writable, connection.context.get());
    connection.deadline_event =
        evtimer_new(self.base_, &MetricsHttp::on_deadline, connection.context.get());
    const timeval idle = timeval_of_ms(self.options_.idle_timeout_ms);
    event_add(connection.read_event, &idle);
    const timeval whole =
        timeval_of_ms(std::max(self.options_.request_timeout_ms, self.options_.idle_timeout_ms));
    event_add(connection.deadline_event, &whole);
  }
}

void MetricsHttp::refuse_over_limit(int fd) {
  refused_connections_.fetch_add(1, std::memory_order_relaxed);
  // One read of what the scraper sent already, so that closing is less likely to reset the
  // connection (a reset can throw the answer away before the scraper reads it); no more, so
  // that a flood of connections costs one read each. A scrape this short fits in the send
  // buffer of a new connection, so one nonblocking send takes it all.
  char buffer[4096];
  [[maybe_unused]] const ssize_t got = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  const std::string answer = plain("503 Service Unavailable",
                                   "too many connections to the metrics endpoint (" +
                                       std::to_string(options_.max_connections) + " at once)\n");
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

void MetricsHttp::pause_accepting(int error) {
  accept_pauses_.fetch_add(1, std::memory_order_relaxed);
  if (warn_) {
    warn_("metrics: accept paused for " + std::to_string(options_.accept_pause_ms) +
          " ms: " + std::strerror(error));
  }
  event_del(listen_event_);
  const timeval pause = timeval_of_ms(options_.accept_pause_ms);
  event_add(accept_resume_event_, &pause);
}

void MetricsHttp::on_accept_resume(evutil_socket_t, short, void* arg) {
  MetricsHttp& self = *static_cast<MetricsHttp*>(arg);
  event_add(self.listen_event_, nullptr);
}

void MetricsHttp::on_deadline(evutil_socket_t, short, void* arg) {
  const auto [self, id] = *static_cast<std::pair<MetricsHttp*, std::uint64_t>*>(arg);
  self->close(id);  // its time is up, whatever it sent or read meanwhile
}

void MetricsHttp::on_readable(evutil_socket_t, short what, void* arg) {
  const auto [self, id] = *static_cast<std::pair<MetricsHttp*, std::uint64_t>*>(arg);
  if ((what & EV_TIMEOUT) != 0) return self->close(id);  // silent too long
  if (self->connections_.at(id).draining) return self->drain(id);
  self->read_request(id);
}

void MetricsHttp::on_writable(evutil_socket_t, short what, void* arg) {
  const auto [self, id] = *static_cast<std::pair<MetricsHttp*, std::uint64_t>*>(arg);
  if ((what & EV_TIMEOUT) != 0) return self->close(id);  // the scraper stopped reading
  self->write_response(id);
}

void MetricsHttp::read_request(std::uint64_t id) {
  Connection& connection = connections_.at(id);
  char buffer[4096];
  while (true) {
    const std::size_t room = options_.max_request_bytes - connection.request.size();
    const ssize_t got = ::recv(connection.fd, buffer, std::min(room, sizeof buffer), 0);
    if (got == 0) return close(id);  // closed before its head was whole
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return close(id);
    }
    connection.request.append(buffer, static_cast<std::size_t>(got));
    const std::size_t end = head_end(connection.request);
    if (end != std::string::npos) {
      connection.head_bytes = end;
      return answer(id);
    }
    if (connection.request.size() >= options_.max_request_bytes) {
      return respond(
          connection,
          plain("431 Request Header Fields Too Large",
                "request head over " + std::to_string(options_.max_request_bytes) + " bytes\n"));
    }
  }
}

void MetricsHttp::answer(std::uint64_t id) {
  Connection& connection = connections_.at(id);
  event_del(connection.read_event);  // one request per connection: read nothing more for now
  const std::string_view head =
      std::string_view(connection.request).substr(0, connection.head_bytes);
  const auto interval = std::chrono::milliseconds(options_.min_render_interval_ms);
  const auto now = std::chrono::steady_clock::now();
  if (metrics_http_renders(head) && last_render_ && now - *last_render_ < interval) {
    connection.waiting_for_render = true;
    if (event_pending(render_due_event_, EV_TIMEOUT, nullptr) == 0) {
      const auto wait =
          std::chrono::ceil<std::chrono::milliseconds>(*last_render_ + interval - now);
      const timeval due = timeval_of_ms(wait.count());
      event_add(render_due_event_, &due);
    }
    return;
  }
  respond(connection, metrics_http_response(head, [this] { return render_now(); }));
}

std::optional<std::string> MetricsHttp::render_now() {
  last_render_ = std::chrono::steady_clock::now();
  renders_.fetch_add(1, std::memory_order_relaxed);
  return render_();
}

void MetricsHttp::on_render_due(evutil_socket_t, short, void* arg) {
  MetricsHttp& self = *static_cast<MetricsHttp*>(arg);
  std::optional<std::optional<std::string>> text;  // rendered at the first that wants it
  const RenderMetrics shared = [&self, &text] {
    if (!text) text = self.render_now();
    return *text;
  };
  for (auto& [id, connection] : self.connections_) {
    if (!connection.waiting_for_render) continue;
    connection.waiting_for_render = false;
    const std::string_view head =
        std::string_view(connection.request).substr(0, connection.head_bytes);
    self.respond(connection, metrics_http_response(head, shared));
  }
}

void MetricsHttp::respond(Connection& connection, std::string response) {
  event_del(connection.read_event);  // one request per connection: read nothing more
  connection.response = std::move(response);
  const timeval idle = timeval_of_ms(options_.idle_timeout_ms);
  event_add(connection.write_event, &idle);
}

void MetricsHttp::write_response(std::uint64_t id) {
  Connection& connection = connections_.at(id);
  while (connection.sent < connection.response.size()) {
    const ssize_t sent =
        ::send(connection.fd, connection.response.data() + connection.sent,
               connection.response.size() - connection.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) {
      connection.sent += static_cast<std::size_t>(sent);
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    return close(id);  // the scraper went away
  }
  // All of it is in our send queue: our FIN goes after it, and what the scraper still sends
  // (a body, a second request) is read and dropped until it closes its side.
  ::shutdown(connection.fd, SHUT_WR);
  event_del(connection.write_event);
  std::string().swap(connection.response);
  std::string().swap(connection.request);
  connection.draining = true;
  const timeval idle = timeval_of_ms(options_.idle_timeout_ms);
  event_add(connection.read_event, &idle);
  drain(id);
}

void MetricsHttp::drain(std::uint64_t id) {
  Connection& connection = connections_.at(id);
  char buffer[4096];
  while (true) {
    const ssize_t got = ::recv(connection.fd, buffer, sizeof buffer, 0);
    if (got > 0) {
      connection.drained_bytes += static_cast<std::size_t>(got);
      // A scraper does not send this much after its request: stop reading for it.
      if (connection.drained_bytes > options_.max_drain_bytes) return close(id);
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close(id);  // the scraper closed (or reset): the answer is its
  }
}

void MetricsHttp::close(std::uint64_t id) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) return;
  event_free(found->second.read_event);
  event_free(found->second.write_event);
  event_free(found->second.deadline_event);
  ::close(found->second.fd);
  connections_.erase(found);
}

}  // namespace weft::io
