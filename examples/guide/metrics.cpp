// Metrics with EventNode (docs/GUIDE.md quotes the marked regions): "client" makes calls to
// "server" that end in three ways; the client reads how they ended from its snapshot, and
// the server serves its counters over HTTP in the Prometheus text format, scraped here over
// 127.0.0.1 as Prometheus would. Both nodes live in this process.
//
//   guide_metrics KEY_DIR     KEY_DIR as `weft-keys KEY_DIR server client` made it
#include "weft/metrics.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common.hpp"
#include "weft/io/event_node.hpp"

namespace {

using namespace weft;
using io::EventNode;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kFail = 2;

// Makes 20 calls that succeed, 3 to a handler the server lacks and 2 that fail there.
void make_calls(EventNode& client) {
  for (int i = 0; i < 20; ++i)
    guide::expect(client.request("server", kEcho, as_bytes("hi"), 1000).get().error == Errc::ok,
                  "echo");
  for (int i = 0; i < 3; ++i)
    client.request("server", 99, {}, 1000).get();
  for (int i = 0; i < 2; ++i)
    client.request("server", kFail, {}, 1000).get();
}

void show_outcomes(EventNode& client) {
  // [guide:metrics-snapshot]
  // Every counter the node keeps, taken on the loop thread (metrics() waits for it, like
  // peers()). Here: how this node's calls to each peer ended.
  const MetricsSnapshot snapshot = client.metrics();
  for (const PeerMetrics& peer : snapshot.peers) {
    for (std::size_t code = 0; code < kErrcCount; ++code) {
      const std::uint64_t ended = peer.counters.requests_completed[code];
      if (ended == 0) continue;
      std::printf("%s: %llu calls ended %s\n", peer.name.c_str(),
                  static_cast<unsigned long long>(ended),
                  std::string(errc_name(static_cast<Errc>(code))).c_str());
    }
  }
  // [/guide]
  guide::expect(snapshot.peers.size() == 1, "one peer");
  const ErrcCounts& ended = snapshot.peers[0].counters.requests_completed;
  const auto count = [&ended](Errc code) { return ended[static_cast<std::size_t>(code)]; };
  guide::expect(count(Errc::ok) == 20 && count(Errc::unknown_handler) == 3 &&
                    count(Errc::remote_error) == 2 && snapshot.peers[0].requests_sent() == 25,
                "the client's counts of how its calls ended");
}

// GET `path` from 127.0.0.1:`port` over HTTP/1.0; the whole answer, head and body.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[16 * 1024];
      ssize_t got = 0;
      while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
        answer.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  return answer;
}

void scrape(EventNode& server) {
  // [guide:metrics-http]
  // GET /metrics on a listening socket of the node's own, each snapshot taken on its loop
  // thread, in the Prometheus text format (what weft-node --metrics HOST:PORT serves).
  io::MetricsHttpOptions http;
  http.host = "127.0.0.1";
  http.port = 0;  // a free port, for this demo; a deployment names one for the scrape job
  const io::MetricsEndpoint endpoint = server.serve_metrics(http);
  if (endpoint.error != Errc::ok) {
    std::printf("no metrics endpoint: %s\n", std::string(errc_name(endpoint.error)).c_str());
  }
  // [/guide]
  guide::expect(endpoint.error == Errc::ok && endpoint.port != 0, "the endpoint listens");
  const std::string answer = http_get(endpoint.port, "/metrics");
  const auto has = [&answer](const std::string& text) {
    return answer.find(text) != std::string::npos;
  };
  guide::expect(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
                "200 for /metrics");
  guide::expect(has("text/plain; version=0.0.4"), "the exposition format's content type");
  guide::expect(has("# TYPE weft_requests_received_total counter\n") &&
                    has("weft_requests_received_total{peer=\"client\"} 22\n"),
                "the server counted the 22 calls its handlers got");
  guide::expect(has("weft_node_info{node=\"server\""), "the node's own family");
  guide::expect(http_get(endpoint.port, "/other").starts_with("HTTP/1.1 404") ||
                    http_get(endpoint.port, "/other").starts_with("HTTP/1.0 404"),
                "404 for another path");
}

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_metrics", [](const std::filesystem::path& keys) {
    EventNode server(guide::keyed_options(keys, "server"));
    server.handle(kEcho, "", [](io::IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    server.handle(kFail, "", [](io::IncomingRequest&& request) {
      request.responder.fail(Errc::remote_error, "failed on purpose");
    });
    guide::start(server, "server");
    EventNode client(guide::keyed_options(keys, "client"));
    guide::connect(server, client, "client");
    make_calls(client);
    show_outcomes(client);
    scrape(server);
    client.stop();
    server.stop();
  });
}
