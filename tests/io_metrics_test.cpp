// EventNode::metrics and serve_metrics over real sockets: the snapshot asked from another
// thread after traffic, the adapter's counters, and the HTTP responder's answers and limits
// (wrong path and method, a second call, the connection limit, the idle timeout, the
// whole-request timeout).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "../examples/stats_view.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"
#include "weft/io/line_throttle.hpp"
#include "weft/metrics.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::answer_on;
using testing::config_for;
using testing::connect_to;
using testing::reply_within;
using testing::wait_until;

constexpr std::uint16_t kEcho = 1;

// Two nodes on loopback; the dialer sends, the acceptor echoes.
struct Nodes {
  Nodes() {
    dialer_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    acceptor_name = dialer_name == "alpha" ? "bravo" : "alpha";
    EventNodeOptions acceptor_options;
    acceptor_options.config = config_for(acceptor_name, dialer_name);
    acceptor = std::make_unique<EventNode>(std::move(acceptor_options));
    acceptor->handle(kEcho, "", [](IncomingRequest&& r) { r.responder.respond(r.payload); });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    dialer = testing::started_dialer(dialer_name, acceptor_name, acceptor->port());
  }
  std::string dialer_name;
  std::string acceptor_name;
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
};

// Sends `request` on a new connection and reads the answer until the server closes.
std::string http_exchange(std::uint16_t port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) return "(no connection)";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  return answer_on(fd);
}

// Whether the server closes `fd` (recv sees the end) within the socket's receive timeout.
bool closed_by_server(int fd) {
  char byte = 0;
  ssize_t got = 0;
  do {
    got = ::recv(fd, &byte, 1, 0);
  } while (got < 0 && errno == EINTR);
  return got == 0;
}

TEST(IoMetrics, ASnapshotFromAnotherThreadCountsTheTrafficOnBothSides) {
  Nodes nodes;
  ASSERT_TRUE(
      wait_until([&] { return nodes.dialer->metrics().peers.at(0).stats.generation == 1; }));
  for (int i = 0; i < 20; ++i) {
    const Reply reply =
        reply_within(nodes.dialer->request(nodes.acceptor_name, kEcho, as_bytes("x")));
    ASSERT_EQ(reply.error, Errc::ok);
  }
  const MetricsSnapshot sent = nodes.dialer->metrics();
  const MetricsSnapshot served = nodes.acceptor->metrics();
  ASSERT_EQ(sent.peers.size(), 1u);
  ASSERT_EQ(served.peers.size(), 1u);
  EXPECT_EQ(sent.node, nodes.dialer_name);
  EXPECT_EQ(sent.peers[0].counters.requests_completed[0], 20u);
  EXPECT_EQ(served.peers[0].counters.requests_received, 20u);
  EXPECT_EQ(served.transports_accepted, 1u);
  // The adapter's own counters come along as driver metrics.
  bool dials = false;
  bool sockets = false;
  for (const DriverMetric& metric : sent.driver) {
    if (metric.name == "io_dials") dials = metric.value >= 1;
    if (metric.name == "io_sockets") sockets = metric.value == 1;
  }
  EXPECT_TRUE(dials);
  EXPECT_TRUE(sockets);
  EXPECT_NE(format_prometheus(sent).find("weft_io_dials_total 1\n"), std::string::npos);
  nodes.dialer->stop();
  EXPECT_TRUE(nodes.dialer->metrics().peers.empty());  // after stop(): an empty snapshot
}

TEST(IoMetrics, ServeMetricsAnswersTheScrapeAndNothingElse) {
  Nodes nodes;
  EXPECT_EQ(EventNode(EventNodeOptions{}).serve_metrics().error, Errc::shutting_down);
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics();
  ASSERT_EQ(endpoint.error, Errc::ok);
  ASSERT_NE(endpoint.port, 0);
  EXPECT_EQ(nodes.acceptor->serve_metrics().error, Errc::invalid_argument);  // once only
  MetricsHttpOptions bad;
  bad.host = "300.1.2.3";
  EXPECT_EQ(nodes.dialer->serve_metrics(bad).error, Errc::invalid_argument);
  MetricsHttpOptions no_pause;
  no_pause.accept_pause_ms = 0;
  EXPECT_EQ(nodes.dialer->serve_metrics(no_pause).error, Errc::invalid_argument);
  // Options that make an endpoint answer nothing are refused too (before: ok, then silence).
  for (void (*spoil)(MetricsHttpOptions&) :
       {+[](MetricsHttpOptions& o) { o.max_request_bytes = 0; },
        +[](MetricsHttpOptions& o) { o.max_connections = 0; },
        +[](MetricsHttpOptions& o) { o.idle_timeout_ms = 0; },
        +[](MetricsHttpOptions& o) { o.listen_backlog = 0; }}) {
    MetricsHttpOptions silent;
    spoil(silent);
    EXPECT_EQ(nodes.dialer->serve_metrics(silent).error, Errc::invalid_argument);
  }
  ASSERT_TRUE(wait_until([&] { return nodes.acceptor->metrics().peers[0].stats.generation == 1; }));

  const std::string ok = http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok.substr(0, 80);
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(ok.find("weft_node_info{node=\"" + nodes.acceptor_name + "\""), std::string::npos);
  EXPECT_NE(ok.find("\nweft_io_metrics_accept_pauses_total 0\n"), std::string::npos);
  const std::size_t body = ok.find("\r\n\r\n") + 4;
  EXPECT_NE(ok.find("Content-Length: " + std::to_string(ok.size() - body) + "\r\n"),
            std::string::npos);
  const std::string head = http_exchange(endpoint.port, "HEAD /metrics?x=1 HTTP/1.0\n\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));  // no body
  EXPECT_TRUE(http_exchange(endpoint.port, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
  // A HEAD gets no body whatever the status (a body there would be read as the next answer's
  // start by a client that keeps its connection).
  const std::string head_404 = http_exchange(endpoint.port, "HEAD / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(head_404.starts_with("HTTP/1.1 404 ")) << head_404;
  EXPECT_TRUE(head_404.ends_with("\r\n\r\n")) << head_404;
  EXPECT_TRUE(http_exchange(endpoint.port, "DELETE /metrics HTTP/1.1\r\n\r\n")
                  .starts_with("HTTP/1.1 405 "));
  EXPECT_TRUE(http_exchange(endpoint.port, "nonsense\r\n\r\n").starts_with("HTTP/1.1 400 "));
  EXPECT_TRUE(http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n" + std::string(9000, 'h'))
                  .starts_with("HTTP/1.1 431 "));
}

// On io_uring the snapshot is a command on the loop: when the command queue is full the
// scrape is answered 503, so that a scraper records a failed scrape. Before, it was
// answered 200 with no sample at all, which reads as a node whose series all vanished.
TEST(IoMetrics, OnIoUringAScrapeTheLoopCannotTakeIsAnswered503) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.loop_backend = LoopBackend::io_uring;
  options.command_queue_capacity = 1;
  EventNode node(std::move(options));
  ASSERT_EQ(node.start(), Errc::ok);
  if (node.loop_backend() != LoopBackend::io_uring) GTEST_SKIP() << "WEFT_LOOP_BACKEND chose";
  const MetricsEndpoint endpoint = node.serve_metrics();
  ASSERT_EQ(endpoint.error, Errc::ok);
  // The loop held in a callback, and the one command the queue takes waiting behind it.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holding;
  ASSERT_EQ(node.run_on_loop([&holding, released] {
    holding.set_value();
    released.wait();
  }),
            Errc::ok);
  holding.get_future().wait();
  ASSERT_EQ(node.run_on_loop([] {}), Errc::ok);
  const std::string busy = http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n");
  release.set_value();
  EXPECT_TRUE(busy.starts_with("HTTP/1.1 503 ")) << busy.substr(0, 80);
  // Once the loop has gone on (the queued command run), scrapes are answered again.
  EXPECT_TRUE(wait_until([&] {
    return http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n")
        .starts_with("HTTP/1.1 200 OK\r\n");
  }));
  node.stop();
}

// A connection over max_connections is answered 503 at once and closed, and counted: the
// scraper records a failed scrape with a reason, and the operator sees why on the node.
// Before, it was closed without a word (a reset when its request had arrived) and counted
// nowhere.
TEST(IoMetrics, ServeMetricsHoldsItsConnectionLimitAndClosesIdleOnes) {
  Nodes nodes;
  MetricsHttpOptions options;
  options.max_connections = 2;
  options.idle_timeout_ms = 300;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics(options);
  ASSERT_EQ(endpoint.error, Errc::ok);
  const int first = connect_to(endpoint.port);
  const int second = connect_to(endpoint.port);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  // Both are held (nothing sent yet; accepted in the order they connected); the third is
  // over the limit, answered 503 and closed (an idle timeout's close would carry no answer).
  const std::string refused = http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503 ")) << refused;
  EXPECT_NE(refused.find("too many connections"), std::string::npos) << refused;
  // The two silent ones are closed after the idle timeout, which frees the slots.
  EXPECT_TRUE(closed_by_server(first));
  EXPECT_TRUE(closed_by_server(second));
  const std::string ok = http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 ")) << ok.substr(0, 80);
  EXPECT_NE(ok.find("\nweft_io_metrics_refused_connections_total 1\n"), std::string::npos);
  ::close(first);
  ::close(second);
}

// A client that keeps sending after its answer is cut off once max_drain_bytes were read
// and dropped. Before, the endpoint read and dropped whatever came until request_timeout_ms,
// on the node's loop thread under libevent.
TEST(IoMetrics, WhatAClientSendsAfterItsAnswerIsReadOnlyUpToMaxDrainBytes) {
  Nodes nodes;
  MetricsHttpOptions options;
  options.max_drain_bytes = 16 * 1024;
  options.idle_timeout_ms = 5'000;
  options.request_timeout_ms = 10'000;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics(options);
  ASSERT_EQ(endpoint.error, Errc::ok);
  const int fd = connect_to(endpoint.port);
  ASSERT_GE(fd, 0);
  const std::string request = "GET /metrics HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0)  // the answer, then our FIN
    answer.append(buffer, static_cast<std::size_t>(got));
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer.substr(0, 80);
  // Now keep sending: the endpoint drops up to 16 KiB, then closes, and a send fails.
  const std::string junk(4096, 'j');
  const auto start = std::chrono::steady_clock::now();
  bool cut_off = false;
  std::size_t sent_bytes = 0;
  while (std::chrono::steady_clock::now() - start < 3s) {
    const ssize_t sent = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      cut_off = true;  // EPIPE or ECONNRESET: the endpoint closed
      break;
    }
    if (sent > 0) sent_bytes += static_cast<std::size_t>(sent);
    std::this_thread::sleep_for(1ms);
  }
  ::close(fd);
  EXPECT_TRUE(cut_off) << sent_bytes << " bytes sent after the answer in 3 s, never cut off";
  EXPECT_GT(sent_bytes, options.max_drain_bytes);  // not before the limit
  // The endpoint still serves.
  EXPECT_TRUE(
      http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
}

// stop() closes the endpoint with the loop: a scraper is refused, not left in a listen
// queue nobody accepts from. Before, under libevent the listener stayed open until the
// EventNode was destroyed.
TEST(IoMetrics, StopClosesTheEndpoint) {
  Nodes nodes;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics();
  ASSERT_EQ(endpoint.error, Errc::ok);
  const int held = connect_to(endpoint.port);  // a scrape under way when the node stops
  ASSERT_GE(held, 0);
  nodes.acceptor->stop();
  // Its end (a reset if the endpoint had not accepted it yet), within the 5 s timeout.
  char byte = 0;
  ssize_t got = 0;
  do {
    got = ::recv(held, &byte, 1, 0);
  } while (got < 0 && errno == EINTR);
  EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET)) << std::strerror(errno);
  ::close(held);
  EXPECT_EQ(connect_to(endpoint.port), -1);
}

// A scraper that keeps its connection alive with a byte now and then, never finishing its
// request (slowloris), is closed once request_timeout_ms passed since it connected, however
// often it sends: otherwise max_connections such clients would shut every scrape out for
// hours (a byte every idle_timeout_ms, up to max_request_bytes).
TEST(IoMetrics, ServeMetricsClosesAConnectionThatNeverFinishesItsRequest) {
  Nodes nodes;
  MetricsHttpOptions options;
  options.idle_timeout_ms = 400;
  options.request_timeout_ms = 1'000;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics(options);
  ASSERT_EQ(endpoint.error, Errc::ok);
  // Timed from before the connect: the endpoint's clock for it may start before connect_to
  // returns here.
  const auto start = std::chrono::steady_clock::now();
  const int fd = connect_to(endpoint.port);
  ASSERT_GE(fd, 0);
  bool closed = false;
  // A byte every 100 ms (well inside the idle timeout) for up to 3 s.
  while (std::chrono::steady_clock::now() - start < 3s) {
    if (::send(fd, "G", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    std::this_thread::sleep_for(100ms);
    char byte = 0;
    if (::recv(fd, &byte, 1, MSG_DONTWAIT) == 0) {
      closed = true;
      break;
    }
  }
  const auto held = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed) << "the trickling connection was still open after 3 s";
  EXPECT_GE(held, 900ms);  // not before its request time was up
  ::close(fd);
  // The endpoint still serves.
  EXPECT_TRUE(
      http_exchange(endpoint.port, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 "));
}

// The value of weft_io_metrics_renders_total in an answer (-1 when it has none).
double renders_in(const std::string& answer) {
  const std::string name = "\nweft_io_metrics_renders_total ";
  const std::size_t at = answer.find(name);
  return at == std::string::npos ? -1 : std::stod(answer.substr(at + name.size()));
}

// A scraper that sent more than its head (a body) and reads slowly gets the whole answer
// and then the end, not a reset. Before, the responder closed with those bytes unread: the
// kernel then resets the connection and drops the answer's tail still queued to send.
TEST(IoMetrics, BytesAfterTheHeadNeverCostTheAnswersTail) {
  Nodes nodes;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics();
  ASSERT_EQ(endpoint.error, Errc::ok);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int small = 2048;  // far less than the answer: most of it waits in the node's queue
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(endpoint.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  const std::string request =
      "GET /metrics HTTP/1.1\r\nContent-Length: 6000\r\n\r\n" + std::string(6000, 'b');
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::this_thread::sleep_for(300ms);  // the node has written all it can and gone on
  std::string answer;
  char buffer[512];
  ssize_t got = 0;
  while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
    answer.append(buffer, static_cast<std::size_t>(got));
  const int error = got < 0 ? errno : 0;
  ::close(fd);
  EXPECT_EQ(got, 0) << "ended by " << std::strerror(error) << " after " << answer.size()
                    << " bytes";
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 200 OK\r\n")) << answer.substr(0, 80);
  const std::size_t body = answer.find("\r\n\r\n") + 4;
  EXPECT_GT(answer.size() - body, 3u * small);
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(answer.size() - body) + "\r\n"),
            std::string::npos);
}

// Scrapes closer together than min_render_interval_ms wait for the interval's end and
// share one render (the loop renders at most once an interval, however many scrape); with
// 0 each scrape renders its own.
TEST(IoMetrics, ScrapesWithinTheRenderIntervalWaitAndShareOneRender) {
  Nodes nodes;
  MetricsHttpOptions bad;
  bad.min_render_interval_ms = -1;
  EXPECT_EQ(nodes.dialer->serve_metrics(bad).error, Errc::invalid_argument);
  bad.min_render_interval_ms = bad.request_timeout_ms;  // no second scrape could be answered
  EXPECT_EQ(nodes.dialer->serve_metrics(bad).error, Errc::invalid_argument);
  MetricsHttpOptions options;
  options.min_render_interval_ms = 500;
  const MetricsEndpoint endpoint = nodes.acceptor->serve_metrics(options);
  ASSERT_EQ(endpoint.error, Errc::ok);
  const std::string scrape = "GET /metrics HTTP/1.1\r\n\r\n";
  EXPECT_EQ(renders_in(http_exchange(endpoint.port, scrape)), 1);
  const auto second_asked = std::chrono::steady_clock::now();
  // Four scrapes sent one after another from this thread, within the interval.
  std::vector<int> together;
  for (int i = 0; i < 4; ++i) {
    together.push_back(connect_to(endpoint.port));
    ASSERT_GE(together.back(), 0);
    ASSERT_EQ(::send(together.back(), scrape.data(), scrape.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(scrape.size()));
  }
  ASSERT_LT(std::chrono::steady_clock::now() - second_asked, 400ms)
      << "this thread was held past the interval: the scrapes were not together";
  for (const int fd : together)
    EXPECT_EQ(renders_in(answer_on(fd)), 2);  // one render for the four
  // Only 404s and the like never wait: they render nothing.
  EXPECT_TRUE(http_exchange(endpoint.port, "GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
  EXPECT_GE(std::chrono::steady_clock::now() - second_asked, 400ms);  // they waited

  MetricsHttpOptions unlimited;
  unlimited.min_render_interval_ms = 0;
  const MetricsEndpoint each = nodes.dialer->serve_metrics(unlimited);
  ASSERT_EQ(each.error, Errc::ok);
  for (double expected = 1; expected <= 3; ++expected)
    EXPECT_EQ(renders_in(http_exchange(each.port, scrape)), expected);
}

// weft-call stats against a metrics endpoint that answers one byte every 50 ms, for ever:
// the scrape ends at its deadline with "timed out". It bounded each recv only, so a
// trickle held the view until 16 MiB had come.
TEST(StatsView, AScrapeOfATricklingServerEndsAtItsDeadline) {
  const testing::LoopbackListener listener = testing::listen_on_loopback();
  ASSERT_GE(listener.fd, 0);
  std::atomic<bool> stop = false;
  std::thread server([&] {
    const int fd = ::accept(listener.fd, nullptr, nullptr);
    if (fd < 0) return;
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n";
    for (std::size_t i = 0; !stop; ++i) {
      if (::send(fd, &head[i % head.size()], 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(50ms);
    }
    ::close(fd);
  });
  std::string error;
  auto scraped = std::async(std::launch::async, [&] {
    return cli::scrape(cli::HostPort{"127.0.0.1", listener.port}, error, 400);
  });
  const bool ended = scraped.wait_for(10s) == std::future_status::ready;
  stop = true;
  if (!ended) scraped.wait();  // the server's stop ends it
  server.join();
  ::close(listener.fd);
  ASSERT_TRUE(ended) << "the scrape was still going after 10 s";
  EXPECT_FALSE(scraped.get().has_value());
  EXPECT_NE(error.find("timed out after 400 ms"), std::string::npos) << error;
}

// A scrape's lookups: exact labels first, else the first sample served with every label
// asked; sums and listings over one name in the order served.
TEST(StatsView, AScrapeFindsSamplesByNameAndLabels) {
  const auto samples = cli::parse_exposition(
      "# HELP x doc\n"
      "x{peer=\"a\",direction=\"out\"} 1\n"
      "x{peer=\"a\"} 2\n"
      "x{peer=\"b\",direction=\"out\"} 3\n"
      "y 4\n");
  ASSERT_TRUE(samples.has_value());
  const cli::Scrape scrape(*samples);
  EXPECT_EQ(scrape.value("x", {{"peer", "a"}}), 2);  // the exact one, not the first served
  EXPECT_EQ(scrape.value("x", {{"peer", "b"}}), 3);  // the first with peer b
  EXPECT_EQ(scrape.value("x", {{"peer", "a"}, {"direction", "out"}}), 1);
  EXPECT_EQ(scrape.value("x", {{"peer", "c"}}), 0);
  EXPECT_EQ(scrape.value("y", {}), 4);
  EXPECT_EQ(scrape.value("z", {}), 0);
  EXPECT_EQ(scrape.sum("x", {{"peer", "a"}}), 3);
  EXPECT_EQ(scrape.sum("x", {}), 6);
  ASSERT_EQ(scrape.all("x").size(), 3u);
  EXPECT_EQ(scrape.all("x")[2]->value, 3);
  EXPECT_TRUE(scrape.all("z").empty());
}

// A screen's work grows with the samples shown, not with peers times samples: each peer's
// cells look at that peer's samples only. Before, every per-peer sum scanned every sample of
// its name, so 2000 peers cost about 2000 x 6000 comparisons (a redraw of seconds; minutes
// against a hostile endpoint serving many samples).
TEST(StatsView, AScreensLookupsGrowWithThePeersNotWithTheirSquare) {
  constexpr int peers = 2000;
  std::string text;
  for (int peer = 0; peer < peers; ++peer) {
    const std::string p = "\"n" + std::to_string(peer) + "\"";
    text += "weft_peer_state{peer=" + p + ",state=\"up\"} 1\n";
    text += "weft_requests_completed_total{peer=" + p + ",result=\"ok\"} 7\n";
    text += "weft_requests_completed_total{peer=" + p + ",result=\"deadline\"} 2\n";
    text += "weft_requests_completed_total{peer=" + p + ",result=\"canceled\"} 1\n";
  }
  const auto samples = cli::parse_exposition(text);
  ASSERT_TRUE(samples.has_value());
  const cli::Scrape scrape(*samples);
  const std::string screen = cli::stats_screen(scrape, &scrape, 1.0, cli::HostPort{"h", 1});
  EXPECT_NE(screen.find("n1999"), std::string::npos);
  EXPECT_EQ(scrape.sum("weft_requests_completed_total", {{"peer", "n7"}}), 10);
  EXPECT_EQ(scrape.value("weft_peer_rtt_seconds", {{"peer", "n7"}}), 0);  // none served
  EXPECT_LT(scrape.samples_compared(), std::size_t{20} * peers);
}

// A hostile endpoint's label values cannot draw on the terminal: control bytes (an escape
// sequence, an escaped newline) are shown as '?'. Before, they reached the screen as sent.
TEST(StatsView, LabelValuesReachTheScreenWithoutControlBytes) {
  const auto samples = cli::parse_exposition(
      "weft_node_info{node=\"\x1b]52;c;eA==\x07\\nfake row\",incarnation=\"1\"} 1\n"
      "weft_peer_state{peer=\"p\x1b[2J\"} 3\n");
  ASSERT_TRUE(samples.has_value());
  const cli::Scrape scrape(*samples);
  EXPECT_EQ(scrape.all("weft_node_info").at(0)->label("node"), "?]52;c;eA==??fake row");
  const std::string screen = cli::stats_screen(scrape, nullptr, 1.0, cli::HostPort{"h", 1});
  EXPECT_EQ(screen.find('\x1b'), std::string::npos);
  EXPECT_EQ(screen.find('\x07'), std::string::npos);
}

// A counter lower than at the last scrape was started again (the node restarted): its rate
// is what it counted since, never negative. Before, the screen showed "-999000 B" a second.
TEST(StatsView, ARateAcrossACounterResetIsWhatTheCounterCountedSince) {
  const auto scrape_with = [](int bytes_out) {
    return cli::parse_exposition(
        "weft_peer_state{peer=\"p\",state=\"up\"} 1\n"
        "weft_peer_bytes_total{peer=\"p\",direction=\"out\"} " +
        std::to_string(bytes_out) +
        "\n"
        "weft_peer_bytes_total{peer=\"p\",direction=\"in\"} 500\n");
  };
  const auto before = scrape_with(1'000'000);
  const auto after = scrape_with(1'000);
  ASSERT_TRUE(before.has_value() && after.has_value());
  const cli::Scrape previous(*before);
  const cli::Scrape now(*after);
  const std::string screen = cli::stats_screen(now, &previous, 1.0, cli::HostPort{"h", 1});
  EXPECT_EQ(screen.find("-999000"), std::string::npos) << screen;
  EXPECT_NE(screen.find(" 1000 B "), std::string::npos) << screen;  // OUT/s since the restart
  EXPECT_NE(screen.find(" 0 B "), std::string::npos) << screen;     // IN/s: no change
  EXPECT_EQ(cli::counter_increase(5, 3), 2);
  EXPECT_EQ(cli::counter_increase(3, 5), 3);
}

// The throttle behind connection_log_lines_per_s: N lines a window, the rest counted and
// handed to the next line let through, once; 0 lets everything through.
TEST(LineThrottle, LetsNLinesAWindowThroughAndCountsTheRestOnce) {
  LineThrottle throttle(3, 1'000);
  std::uint64_t held_back = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.admit(5'000 + i, held_back));
    EXPECT_EQ(held_back, 0u);
  }
  EXPECT_FALSE(throttle.admit(5'100, held_back));
  EXPECT_FALSE(throttle.admit(5'999, held_back));
  EXPECT_EQ(throttle.held_back(), 2u);
  EXPECT_TRUE(throttle.admit(6'000, held_back));  // a new window
  EXPECT_EQ(held_back, 2u);
  EXPECT_TRUE(throttle.admit(6'001, held_back));
  EXPECT_EQ(held_back, 0u);  // reported once
  LineThrottle unlimited(0);
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(unlimited.admit(0, held_back));
}

}  // namespace
}  // namespace weft::io
