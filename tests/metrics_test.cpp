// Node::metrics after real traffic between two in-memory nodes, checked from both sides
// (what one sent the other received), the faults it counts, and format_prometheus' text.
#include "weft/metrics.hpp"

#include <gtest/gtest.h>

#include "bundle_cluster.hpp"
#include "cluster.hpp"
#include "object_pair.hpp"
#include "scripted_peer.hpp"
#include "weft/auth.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::kEchoHandler;
using testing::kErrorHandler;

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;
constexpr std::uint16_t kStream = 10;

std::uint64_t count_of(const ErrcCounts& counts, Errc code) {
  return counts.at(static_cast<std::size_t>(code));
}

const PeerMetrics& only_peer(const MetricsSnapshot& snapshot) {
  EXPECT_EQ(snapshot.peers.size(), 1u);
  return snapshot.peers.at(0);
}

// The per-peer stream totals: `sender` wrote `msgs` messages of `bytes` bytes in all to the
// peer of `receiver`, which received them.
void expect_stream_totals(const MetricsSnapshot& sender, const MetricsSnapshot& receiver,
                          std::uint64_t msgs, std::uint64_t bytes) {
  EXPECT_EQ(only_peer(sender).counters.stream_msgs_sent, msgs);
  EXPECT_EQ(only_peer(sender).counters.stream_bytes_sent, bytes);
  EXPECT_EQ(only_peer(receiver).counters.stream_msgs_received, msgs);
  EXPECT_EQ(only_peer(receiver).counters.stream_bytes_received, bytes);
}

TEST(Metrics, RequestsAndStreamsAreCountedTheSameFromBothSides) {
  Cluster cluster({"a", "b"});
  cluster.node(kB).register_stream_handler(kStream);
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<RequestId> ids;
  for (int i = 0; i < 10; ++i)
    ids.push_back(cluster.request(kA, kB, kEchoHandler, "payload-" + std::to_string(i)).id);
  ids.push_back(cluster.request(kA, kB, kErrorHandler, "fail").id);
  ids.push_back(cluster.request(kA, kB, 999, "nobody").id);
  for (const RequestId id : ids)
    ASSERT_TRUE(cluster.run_until_done(kA, id));

  StreamArgs args;
  args.handler = kStream;
  args.has_input = true;
  const OpenedStream opened = cluster.to(kA, kB).open_stream(cluster.now(), args);
  ASSERT_EQ(opened.error, Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  for (const std::string_view message : {"one", "two", "three"})
    ASSERT_EQ(cluster.to(kA, kB).stream_write(cluster.now(), opened.id, as_bytes(message)),
              Errc::ok);
  cluster.net().run_for(ns_from_ms(10));  // the messages arrive; b does not read them

  const MetricsSnapshot a = cluster.node(kA).metrics(cluster.now());
  const MetricsSnapshot b = cluster.node(kB).metrics(cluster.now());
  const PeerMetrics& a_to_b = only_peer(a);
  const PeerMetrics& b_to_a = only_peer(b);
  EXPECT_EQ(a.node, "a");
  EXPECT_EQ(a_to_b.name, "b");
  EXPECT_EQ(a_to_b.stats.state, PeerState::established);
  EXPECT_EQ(a_to_b.stats.generation, 1u);

  // Requests: a's outcomes, b's deliveries (the unknown handler is answered by the core).
  EXPECT_EQ(a_to_b.requests_sent(), 12u);
  EXPECT_EQ(count_of(a_to_b.counters.requests_completed, Errc::ok), 10u);
  EXPECT_EQ(count_of(a_to_b.counters.requests_completed, Errc::remote_error), 1u);
  EXPECT_EQ(count_of(a_to_b.counters.requests_completed, Errc::unknown_handler), 1u);
  EXPECT_EQ(b_to_a.counters.requests_received, 11u);
  EXPECT_EQ(b_to_a.requests_sent(), 0u);

  // Bytes and frames: all written, so what one side sent the other received.
  EXPECT_GT(a_to_b.stats.bytes_sent, 0u);
  EXPECT_EQ(a_to_b.stats.bytes_sent, b_to_a.stats.bytes_received);
  EXPECT_EQ(b_to_a.stats.bytes_sent, a_to_b.stats.bytes_received);
  EXPECT_EQ(a_to_b.stats.frames_sent, b_to_a.stats.frames_received);
  EXPECT_EQ(b_to_a.stats.frames_sent, a_to_b.stats.frames_received);

  // The stream, listed on both sides.
  ASSERT_EQ(a.streams.size(), 1u);
  ASSERT_EQ(b.streams.size(), 1u);
  const StreamMetrics& sent = a.streams[0];
  const StreamMetrics& received = b.streams[0];
  EXPECT_EQ(sent.id, opened.id);
  EXPECT_TRUE(sent.opener);
  EXPECT_FALSE(received.opener);
  EXPECT_EQ(sent.msgs_sent, 3u);
  EXPECT_EQ(sent.bytes_sent, 11u);
  EXPECT_EQ(received.msgs_received, 3u);
  EXPECT_EQ(received.bytes_received, 11u);
  EXPECT_EQ(received.unread_msgs, 3u);
  EXPECT_EQ(received.unread_bytes, 11u);
  // Opened, then 10 ms later three messages in flight (unread at b, not credited back at a)
  // until the snapshot 10 ms after: busy for part of the stream's life on both sides.
  for (const StreamMetrics* side : {&sent, &received}) {
    EXPECT_GT(side->busy_ns, 0);
    EXPECT_LT(side->busy_ns, side->age_ns);
    EXPECT_GT(side->idle_percent, 0.0);
    EXPECT_LT(side->idle_percent, 100.0);
  }
  EXPECT_EQ(a_to_b.counters.stream_msgs_sent, b_to_a.counters.stream_msgs_received);
  EXPECT_EQ(a_to_b.counters.stream_bytes_sent, b_to_a.counters.stream_bytes_received);
  EXPECT_EQ(b_to_a.counters.streams_accepted, 1u);
  EXPECT_EQ(a_to_b.stats.streams_open, 1u);

  const std::string text = format_prometheus(a);
  EXPECT_NE(text.find("weft_requests_completed_total{peer=\"b\",result=\"ok\"} 10\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("weft_requests_sent_total{peer=\"b\"} 12\n"), std::string::npos);
  EXPECT_NE(text.find("weft_peer_state{peer=\"b\",state=\"established\"} 1\n"), std::string::npos);
  // Taking a snapshot changes nothing: the next one is the same.
  EXPECT_EQ(format_prometheus(cluster.node(kA).metrics(cluster.now())), text);

  // The stream ends: it leaves the listing and is counted by result on both sides.
  ASSERT_EQ(cluster.to(kA, kB).stream_cancel(cluster.now(), opened.id), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  const MetricsSnapshot a_after = cluster.node(kA).metrics(cluster.now());
  const MetricsSnapshot b_after = cluster.node(kB).metrics(cluster.now());
  EXPECT_TRUE(a_after.streams.empty());
  EXPECT_TRUE(b_after.streams.empty());
  EXPECT_EQ(count_of(only_peer(a_after).counters.streams_ended, Errc::canceled), 1u);
  EXPECT_EQ(count_of(only_peer(b_after).counters.streams_ended, Errc::canceled), 1u);
  expect_stream_totals(a_after, b_after, 3, 11);  // its traffic stays once it is gone
}

TEST(Metrics, AStreamEndedByADisconnectKeepsItsTrafficInThePeersTotals) {
  Cluster cluster({"a", "b"});
  cluster.node(kB).register_stream_handler(kStream);
  ASSERT_TRUE(cluster.run_until_connected());
  StreamArgs args;
  args.handler = kStream;
  args.has_input = true;
  const OpenedStream opened = cluster.to(kA, kB).open_stream(cluster.now(), args);
  cluster.net().run_for(ns_from_ms(10));
  ASSERT_EQ(cluster.to(kA, kB).stream_write(cluster.now(), opened.id, as_bytes("12345")), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  cluster.net().break_links(kA, kB);
  cluster.net().run_for(ns_from_ms(10));
  const MetricsSnapshot a = cluster.node(kA).metrics(cluster.now());
  const MetricsSnapshot b = cluster.node(kB).metrics(cluster.now());
  EXPECT_TRUE(a.streams.empty());
  EXPECT_EQ(count_of(only_peer(a).counters.streams_ended, Errc::disconnected), 1u);
  EXPECT_EQ(only_peer(a).counters.disconnects, 1u);
  expect_stream_totals(a, b, 1, 5);
}

TEST(Metrics, StreamsPastTheLimitAreCountedNotListed) {
  Cluster cluster({"a", "b"});
  cluster.node(kB).register_stream_handler(kStream);
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<StreamId> ids;
  for (int i = 0; i < 3; ++i) {
    StreamArgs args;
    args.handler = kStream;
    args.has_input = true;
    ids.push_back(cluster.to(kA, kB).open_stream(cluster.now(), args).id);
  }
  const MetricsSnapshot all = cluster.node(kA).metrics(cluster.now());
  ASSERT_EQ(all.streams.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(all.streams[i].id, ids[i]);  // in id order
  const MetricsSnapshot some =
      cluster.node(kA).metrics(cluster.now(), MetricsOptions{.max_streams = 2});
  EXPECT_EQ(some.streams.size(), 2u);
  EXPECT_EQ(some.streams_omitted, 1u);
  for (const StreamMetrics& stream : all.streams) {
    EXPECT_EQ(stream.busy_ns, 0);  // no message ever in flight
    EXPECT_EQ(stream.idle_percent, 100.0);
  }
}

TEST(Metrics, ObjectStreamsAndEndpointsAgreeAcrossTheConnection) {
  testing::ObjectPair pair;
  pair.read_everything();
  ASSERT_TRUE(pair.run_until_connected());
  const OpenedObjectStream opened = pair.to(0).open_object_stream(pair.now(), "store");
  ASSERT_EQ(opened.error, Errc::ok);
  for (int i = 0; i < 3; ++i) {
    ObjectArgs args;
    args.header.name = "object-" + std::to_string(i);
    args.size = 1000;
    args.data = SharedBytes(std::vector<std::uint8_t>(1000, static_cast<std::uint8_t>(i)));
    ASSERT_EQ(pair.to(0).object_post(pair.now(), opened.id, std::move(args)).error, Errc::ok);
  }
  pair.run(ns_from_ms(100), [&] { return pair.completions().size() == 3; });
  ASSERT_EQ(pair.completions().size(), 3u);

  const MetricsSnapshot a = pair.node(0).metrics(pair.now());
  const MetricsSnapshot b = pair.node(1).metrics(pair.now());
  ASSERT_EQ(a.object_streams.size(), 1u);
  ASSERT_EQ(b.object_streams.size(), 1u);
  const ObjectStreamMetrics& out = a.object_streams[0];
  const ObjectStreamMetrics& in = b.object_streams[0];
  EXPECT_TRUE(out.stats.sender);
  EXPECT_FALSE(in.stats.sender);
  EXPECT_EQ(out.id, opened.id);
  EXPECT_EQ(out.stats.endpoint, "store");
  EXPECT_EQ(out.stats.objects, 3u);
  EXPECT_EQ(in.stats.objects, 3u);
  EXPECT_EQ(out.stats.bytes, 3000u);
  EXPECT_EQ(in.stats.bytes, 3000u);
  EXPECT_EQ(out.stats.completed_ok, 3u);
  EXPECT_EQ(out.stats.in_flight, 0u);
  EXPECT_EQ(in.stats.in_flight, 0u);
  EXPECT_EQ(in.stats.current_object, 0u);  // nothing being read: no offset either
  EXPECT_EQ(in.stats.offset, 0u);
  EXPECT_EQ(pair.to(1).object_stream_stats(pair.now(), in.id)->offset, 0u);
  EXPECT_GE(out.stats.idle_percent, 0.0);
  EXPECT_LE(out.stats.idle_percent, 100.0);
  EXPECT_LE(out.busy_ns, out.age_ns);
  EXPECT_EQ(count_of(only_peer(a).counters.objects_completed, Errc::ok), 3u);
  EXPECT_EQ(only_peer(b).counters.objects_arrived, 3u);
  ASSERT_EQ(b.endpoints.size(), 1u);
  EXPECT_EQ(b.endpoints[0].name, "store");
  EXPECT_EQ(b.endpoints[0].stats.objects, 3u);
  EXPECT_EQ(b.endpoints[0].stats.bytes, 3000u);
  // Reading metrics starts no new idle period for object_stream_stats: the sender's share
  // over its whole life stays what the snapshot said.
  const MetricsSnapshot again = pair.node(0).metrics(pair.now());
  EXPECT_EQ(again.object_streams[0].stats.idle_percent, out.stats.idle_percent);
}

TEST(Metrics, OpenBundlesAreListedWithTheirCounters) {
  testing::BundleCluster cluster(3);
  ASSERT_TRUE(cluster.run_until_connected());
  const OpenedBundle opened = cluster.sender().open_bundle(
      cluster.now(), BundleConfig{.endpoint = "store", .multiplier = 2});
  ASSERT_EQ(opened.error, Errc::ok);
  for (int i = 0; i < 4; ++i) {
    ObjectArgs args;
    args.header.name = "b" + std::to_string(i);
    args.size = 100;
    args.data = SharedBytes(std::vector<std::uint8_t>(100, 7));
    ASSERT_EQ(cluster.sender().bundle_post(cluster.now(), opened.id, std::move(args)).error,
              Errc::ok);
  }
  ASSERT_TRUE(cluster.run_until(
      [&] { return cluster.sender<event::BundleObjectCompleted>(opened.id).size() == 4; },
      ns_from_ms(5'000)));
  const MetricsSnapshot snapshot = cluster.sender().metrics(cluster.now());
  ASSERT_EQ(snapshot.bundles.size(), 1u);
  const BundleMetrics& bundle = snapshot.bundles[0];
  EXPECT_EQ(bundle.id, opened.id);
  EXPECT_EQ(bundle.endpoint, "store");
  EXPECT_EQ(bundle.stats.objects, 4u);
  EXPECT_EQ(bundle.stats.completed_ok, 4u);
  EXPECT_EQ(bundle.stats.replicas_ok, 12u);
  EXPECT_EQ(bundle.stats.destinations, 3u);
  EXPECT_EQ(bundle.stats.in_flight, 0u);
  const std::string text = format_prometheus(snapshot);
  EXPECT_NE(text.find("weft_bundle_replicas_total{bundle=\"" + std::to_string(opened.id.value) +
                      "\",endpoint=\"store\",result=\"ok\"} 12\n"),
            std::string::npos)
      << text;
  ASSERT_EQ(cluster.sender().bundle_fin(cluster.now(), opened.id), Errc::ok);
  cluster.run(ns_from_ms(100));
  EXPECT_TRUE(cluster.sender().metrics(cluster.now()).bundles.empty());  // ended: not listed
}

TEST(Metrics, HandshakeRefusalsAreCountedByStatusOnBothSides) {
  Cluster cluster({"a", "b"}, {}, testing::for_node("b", [](NodeConfig& config) {
                    config.auth = std::make_shared<SharedKeyAuth>("another-cluster-key");
                  }));
  cluster.net().run_for(ns_from_ms(1'000));
  std::uint64_t refused_by_us = 0;
  std::uint64_t refused_by_peer = 0;
  for (const std::size_t node : {kA, kB}) {
    for (const HandshakeFailures& failures :
         cluster.node(node).metrics(cluster.now()).handshake_failures) {
      EXPECT_EQ(failures.status, Status::auth_failed);
      (failures.rejected_by_us ? refused_by_us : refused_by_peer) += failures.count;
    }
  }
  EXPECT_GE(refused_by_us, 1u);
  EXPECT_GE(refused_by_peer, 1u);
  EXPECT_EQ(refused_by_us, refused_by_peer);  // each refusal is heard by the other side
}

// A dialer needs no proof to send a goaway after its hello, with any u16 status. Statuses
// without a name are counted under one ("other"): before, each kept a series of its own for
// the node's life, so one peer could add 65 000 of them (rule 8: bounded memory).
TEST(Metrics, HandshakeRefusalsWithUnnamedStatusesShareOneSeries) {
  testing::ScriptedPeer driven = testing::accepting(testing::acceptor_config());
  for (std::uint16_t status = 1000; status < 1100; ++status) {
    driven.set_transport(driven.node().on_accepted(0));
    driven.feed(testing::hello_frame(status));
    driven.feed(Frame{.op = Op::goaway, .checksum = true, .status = status});
  }
  driven.set_transport(driven.node().on_accepted(0));
  driven.feed(testing::hello_frame(2000));
  driven.feed(Frame{.op = Op::goaway,
                    .checksum = true,
                    .status = static_cast<std::uint16_t>(Status::clock_skew)});
  const MetricsSnapshot snapshot = driven.node().metrics(0);
  ASSERT_EQ(snapshot.handshake_failures.size(), 2u);
  EXPECT_EQ(snapshot.handshake_failures[0].status, Status::clock_skew);
  EXPECT_EQ(snapshot.handshake_failures[0].count, 1u);
  EXPECT_EQ(static_cast<std::uint16_t>(snapshot.handshake_failures[1].status),
            kUnnamedHandshakeStatus);
  EXPECT_EQ(snapshot.handshake_failures[1].count, 100u);
  EXPECT_FALSE(snapshot.handshake_failures[1].rejected_by_us);
  EXPECT_NE(format_prometheus(snapshot).find(
                "weft_handshake_failures_total{status=\"other\",side=\"peer\"} 100\n"),
            std::string::npos);
}

TEST(Metrics, ProtocolErrorsAreCountedByTheDecodersName) {
  testing::ScriptedPeer peer = testing::accepted();
  const std::uint8_t bad_magic[8] = {0x78, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c};
  peer.feed_bytes(bad_magic);
  const MetricsSnapshot snapshot = peer.node().metrics(0);
  const PeerMetrics& after = only_peer(snapshot);
  EXPECT_EQ(after.counters.protocol_errors.at(static_cast<std::size_t>(WireError::bad_magic)), 1u);
  EXPECT_EQ(after.counters.disconnects, 1u);
  const std::string text = format_prometheus(peer.node().metrics(0));
  EXPECT_NE(text.find("weft_protocol_errors_total{peer=\"" + testing::roles().dialer +
                      "\",error=\"bad_magic\"} 1\n"),
            std::string::npos)
      << text;

  testing::ScriptedPeer rule = testing::accepted();
  rule.feed(testing::welcome_frame());  // a handshake frame after the handshake
  EXPECT_EQ(only_peer(rule.node().metrics(0)).counters.protocol_errors.at(0), 1u);
  EXPECT_NE(format_prometheus(rule.node().metrics(0)).find(",error=\"rule\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace weft
