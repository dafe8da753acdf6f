// format_prometheus: the exposition text of snapshots built by hand, byte for byte, and the
// format's rules over a snapshot with every kind of entry (each family once, HELP then TYPE
// then its samples together, counters ending _total).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include "weft/metrics.hpp"

namespace weft {
namespace {

TEST(MetricsFormat, EscapesLabelValues) {
  EXPECT_EQ(prometheus_escape_label("plain"), "plain");
  EXPECT_EQ(prometheus_escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsFormat, GoldenTextOfANodeWithoutPeers) {
  MetricsSnapshot snapshot;
  snapshot.node = "n1";
  snapshot.incarnation = 7;
  snapshot.transports_accepted = 2;
  snapshot.handshake_failures.push_back({Status::auth_failed, true, 2});
  snapshot.handshake_failures.push_back({Status::unknown_node, false, 1});
  snapshot.endpoints.push_back({"store", ObjectEndpointStats{1, 2, 2048, 0}});
  snapshot.driver.push_back({"io_tls_failures",
                             "TLS handshakes that failed,\nby code.",
                             true,
                             {{"code", "a\"b\\c\nd"}},
                             1});
  snapshot.driver.push_back({"io_sockets", "Open sockets.", false, {}, 3});
  snapshot.driver.push_back(
      {"io_tls_failures", "(help of the first)", true, {{"code", "expired"}}, 2});
  snapshot.driver.push_back({"io-bad name", "Bad characters.", false, {{"bad-key", "v"}}, 0.5});
  EXPECT_EQ(format_prometheus(snapshot),
            R"(# HELP weft_node_info This node: its name and incarnation (always 1).
# TYPE weft_node_info gauge
weft_node_info{node="n1",incarnation="7"} 1
# HELP weft_transports_accepted_total Incoming transports handed to the node (before their handshake).
# TYPE weft_transports_accepted_total counter
weft_transports_accepted_total 2
# HELP weft_handshake_failures_total Failed handshakes by status; side says who refused (us or peer).
# TYPE weft_handshake_failures_total counter
weft_handshake_failures_total{status="auth_failed",side="us"} 2
weft_handshake_failures_total{status="unknown_node",side="peer"} 1
# HELP weft_endpoint_streams_opened_total Object streams opened to the endpoint.
# TYPE weft_endpoint_streams_opened_total counter
weft_endpoint_streams_opened_total{endpoint="store"} 1
# HELP weft_endpoint_objects_total Objects the endpoint delivered to the application.
# TYPE weft_endpoint_objects_total counter
weft_endpoint_objects_total{endpoint="store"} 2
# HELP weft_endpoint_bytes_total Data bytes the endpoint received.
# TYPE weft_endpoint_bytes_total counter
weft_endpoint_bytes_total{endpoint="store"} 2048
# HELP weft_endpoint_refused_total Objects refused by the application, or with a bad header.
# TYPE weft_endpoint_refused_total counter
weft_endpoint_refused_total{endpoint="store"} 0
# HELP weft_metrics_omitted Live streams past the snapshot's limits, counted and not listed.
# TYPE weft_metrics_omitted gauge
weft_metrics_omitted{kind="stream"} 0
weft_metrics_omitted{kind="object_stream"} 0
# HELP weft_io_tls_failures_total TLS handshakes that failed,\nby code.
# TYPE weft_io_tls_failures_total counter
weft_io_tls_failures_total{code="a\"b\\c\nd"} 1
weft_io_tls_failures_total{code="expired"} 2
# HELP weft_io_sockets Open sockets.
# TYPE weft_io_sockets gauge
weft_io_sockets 3
# HELP weft_io_bad_name Bad characters.
# TYPE weft_io_bad_name gauge
weft_io_bad_name{bad_key="v"} 0.5
)");
}

// A snapshot with a peer, a stream, an object stream each way and failures of every kind.
MetricsSnapshot full_snapshot() {
  MetricsSnapshot snapshot;
  snapshot.node = "n1";
  PeerMetrics peer;
  peer.name = "n2";
  peer.stats.state = PeerState::established;
  peer.stats.rtt_ns = 1'500'000;
  peer.stats.outbound_in_flight = 1;
  peer.counters.requests_completed[static_cast<std::size_t>(Errc::ok)] = 3;
  peer.counters.requests_completed[static_cast<std::size_t>(Errc::busy)] = 1;
  peer.counters.requests_canceled[static_cast<std::size_t>(Errc::deadline_exceeded)] = 1;
  peer.counters.objects_aborted[static_cast<std::size_t>(Errc::peer_restarted)] = 1;
  peer.counters.protocol_errors[static_cast<std::size_t>(WireError::checksum_mismatch)] = 1;
  peer.counters.protocol_errors[0] = 2;
  snapshot.peers.push_back(peer);
  snapshot.streams.push_back(
      StreamMetrics{.peer = 0, .id = {2, 5}, .opener = true, .msgs_sent = 4});
  ObjectStreamMetrics out;
  out.id.value = 9;
  out.stats.sender = true;
  out.stats.endpoint = "store";
  out.stats.idle_percent = 75;
  out.busy_ns = 250'000'000;
  snapshot.object_streams.push_back(out);
  ObjectStreamMetrics in = out;
  in.id.value = 10;
  in.stats.sender = false;
  snapshot.object_streams.push_back(in);
  snapshot.bundles.push_back(
      BundleMetrics{BundleId{3}, "store", BundleStats{.destinations = 2, .objects = 5}});
  return snapshot;
}

// A status this node has no name for (a peer's reject or goaway may carry any non-zero
// status) is labelled by its number: two of them are two series. Before, both were
// labelled status="", one series twice, which a Prometheus server refuses.
TEST(MetricsFormat, HandshakeFailuresOfStatusesWithoutANameKeepTheirNumber) {
  MetricsSnapshot snapshot;
  snapshot.node = "alpha";
  snapshot.handshake_failures.push_back({static_cast<Status>(15), false, 1});
  snapshot.handshake_failures.push_back({static_cast<Status>(40), false, 2});
  const std::string text = format_prometheus(snapshot);
  EXPECT_NE(text.find("weft_handshake_failures_total{status=\"15\",side=\"peer\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("weft_handshake_failures_total{status=\"40\",side=\"peer\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("status=\"\""), std::string::npos) << text;
}

// The format's rules over `text`: each family once, HELP then TYPE then its samples
// together, no series twice, counters and only counters ending _total, all named weft_*.
void expect_valid_exposition(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::string current;  // the family whose samples may follow
  std::map<std::string, std::string> types;
  std::set<std::string> samples;
  std::string last_help;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      last_help = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_FALSE(types.contains(last_help)) << "family twice: " << last_help;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(name, last_help) << "TYPE without its HELP just before";
      types[name] = line.substr(line.find(' ', 7) + 1);
      current = name;
      continue;
    }
    const std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_EQ(name, current) << "a sample away from its family: " << line;
    EXPECT_TRUE(samples.insert(line.substr(0, line.rfind(' '))).second) << "twice: " << line;
  }
  for (const auto& [name, type] : types) {
    EXPECT_TRUE(type == "counter" || type == "gauge") << name;
    EXPECT_EQ(type == "counter", name.ends_with("_total")) << name;
    EXPECT_TRUE(name.starts_with("weft_")) << name;
  }
}

TEST(MetricsFormat, EveryFamilyComesOnceWithItsHelpAndTypeBeforeItsSamples) {
  const std::string text = format_prometheus(full_snapshot());
  expect_valid_exposition(text);
  // Outcome families list ok, and failure families only what occurred.
  EXPECT_NE(text.find("weft_requests_completed_total{peer=\"n2\",result=\"ok\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("weft_requests_completed_total{peer=\"n2\",result=\"busy\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("weft_requests_canceled_total{peer=\"n2\",reason=\"deadline_exceeded\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(text.find("reason=\"ok\""), std::string::npos);
  EXPECT_NE(text.find("weft_protocol_errors_total{peer=\"n2\",error=\"rule\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("weft_peer_rtt_seconds{peer=\"n2\"} 0.0015\n"), std::string::npos);
  EXPECT_NE(text.find("weft_object_stream_idle_percent{peer=\"n2\",stream=\"10\",direction=\"in\","
                      "endpoint=\"store\"} 75\n"),
            std::string::npos);
  EXPECT_NE(text.find("weft_stream_messages_total{peer=\"n2\",stream=\"2.5\",role=\"opener\","
                      "direction=\"out\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("weft_bundle_objects_total{bundle=\"3\",endpoint=\"store\"} 5\n"),
            std::string::npos);
  EXPECT_EQ(format_prometheus(full_snapshot()), text);  // deterministic
}

// A driver's metrics never break the format, whatever their names: names that clean to one
// share its family, and a sample that would make a family twice, mix a counter into a
// gauge, give a label twice or repeat a series is counted in weft_metrics_refused (by the
// name the driver gave and why) instead of written. Before, each raw name was its own
// family: "io-x" and "io.x" made weft_io_x_total twice, which a Prometheus server refuses.
TEST(MetricsFormat, DriverMetricsThatWouldBreakTheFormatAreCountedNotWritten) {
  MetricsSnapshot snapshot = full_snapshot();
  snapshot.driver = {
      {"io-x", "The first.", true, {{"k", "1"}}, 1},
      {"io.x", "The second.", true, {{"k", "2"}}, 2},
      {"metrics_omitted", "A core family's name.", false, {}, 3},
      {"y", "A counter.", true, {}, 4},
      {"y_total", "A gauge of the counter's name.", false, {}, 5},
      {"z", "Two keys that clean to one.", false, {{"a-b", "1"}, {"a.b", "2"}}, 6},
      {"io-x", "The same series again.", true, {{"k", "1"}}, 7},
      {"io-x", "", true, {{"k", "1"}}, 8},
      {"w", "Keys made valid.", false, {{"1st", "a"}, {"", "b"}, {"c:d", "c"}}, 9},
  };
  const std::string text = format_prometheus(snapshot);
  expect_valid_exposition(text);
  EXPECT_NE(text.find("# HELP weft_io_x_total The first.\n# TYPE weft_io_x_total counter\n"
                      "weft_io_x_total{k=\"1\"} 1\nweft_io_x_total{k=\"2\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("weft_y_total 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_w{_1st=\"a\",_=\"b\",c_d=\"c\"} 9\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("} 7\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("weft_z"), std::string::npos) << text;
  const std::string refused =
      "# TYPE weft_metrics_refused gauge\n"
      "weft_metrics_refused{name=\"io-x\",reason=\"series_twice\"} 2\n"
      "weft_metrics_refused{name=\"metrics_omitted\",reason=\"name_taken\"} 1\n"
      "weft_metrics_refused{name=\"y_total\",reason=\"kind_differs\"} 1\n"
      "weft_metrics_refused{name=\"z\",reason=\"labels_collide\"} 1\n";
  EXPECT_NE(text.find(refused), std::string::npos) << text;
  // Nothing refused: no such family.
  EXPECT_EQ(format_prometheus(full_snapshot()).find("weft_metrics_refused"), std::string::npos);
}

}  // namespace
}  // namespace weft
