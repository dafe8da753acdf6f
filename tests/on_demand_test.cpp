// Connections on demand (NodeConfig::connect_on_demand, PROTOCOL.md §4.7): nothing connects
// until there is work; the dialer dials on first use and the acceptor knocks; a connection
// that carries nothing for idle_close_ms closes with goaway(idle), and not before; a request
// that crosses that goaway is sent again and ends exactly once; the next use reconnects.
#include <gtest/gtest.h>

#include <string>

#include "cluster.hpp"
#include "weft/metrics.hpp"

namespace weft::testing {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;
constexpr TimeNs kLatency = 50'000;  // MemNetworkOptions' default one-way delay
constexpr std::int64_t kIdleMs = 30'000;
constexpr std::uint16_t kStreams = 9;

StreamArgs a_stream() {
  StreamArgs args;
  args.handler = kStreams;
  return args;
}

// Two on-demand nodes; `dialer` is the one the dial rule makes dial the other.
struct OnDemandPair {
  Cluster cluster;
  std::size_t dialer;
  std::size_t acceptor;

  OnDemandPair()
      : cluster({"a", "b"}, {},
                [](NodeConfig& config) {
                  config.connect_on_demand = true;
                  config.timeouts.idle_close_ms = kIdleMs;
                }),
        dialer(dial_rule_dials("a", "b") ? 0 : 1),
        acceptor(1 - dialer) {}

  bool up(std::size_t index) {
    return cluster.node(index).connection(0).state() == PeerState::established;
  }
  std::size_t open() {
    return cluster.node(0).open_connections() + cluster.node(1).open_connections();
  }
  // A request from `from` to the other node's echo handler; runs until it is done.
  const event::RequestDone* echo(std::size_t from, std::string_view payload) {
    const Call call = cluster.request(from, 1 - from, kEchoHandler, payload);
    EXPECT_EQ(call.error, Errc::ok);
    if (!cluster.run_until_done(from, call.id, 20 * kSecond)) return nullptr;
    EXPECT_EQ(cluster.recorder(from).done_count(call.id), 1u);
    return cluster.recorder(from).done_for(call.id);
  }
};

TEST(OnDemand, NothingConnectsBeforeFirstUse) {
  OnDemandPair pair;
  pair.cluster.net().run_for(10 * kSecond);
  EXPECT_EQ(pair.open(), 0u);
  EXPECT_TRUE(pair.cluster.net().dial_log(0).empty());
  EXPECT_TRUE(pair.cluster.net().dial_log(1).empty());
  EXPECT_EQ(pair.cluster.node(0).connection(0).state(), PeerState::idle);
}

TEST(OnDemand, TheDialersFirstRequestDialsAndIsAnswered) {
  OnDemandPair pair;
  const event::RequestDone* done = pair.echo(pair.dialer, "hello");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->result, Errc::ok);
  EXPECT_EQ(std::string(done->payload.begin(), done->payload.end()), "hello");
  EXPECT_EQ(pair.cluster.net().dial_log(pair.dialer).size(), 1u);
  EXPECT_TRUE(pair.cluster.net().dial_log(pair.acceptor).empty());
  EXPECT_EQ(pair.cluster.node(0).open_connections(), 1u);
  EXPECT_EQ(pair.cluster.node(1).open_connections(), 1u);
}

TEST(OnDemand, TheAcceptorsFirstRequestKnocksAndThePeerDialsBack) {
  OnDemandPair pair;
  const event::RequestDone* done = pair.echo(pair.acceptor, "knock knock");
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->result, Errc::ok);
  // One knock (refused wrong_dialer), then the dialer's own dial: two transports, and the
  // connection that carries the call is the dial rule's.
  EXPECT_EQ(pair.cluster.net().dial_log(pair.acceptor).size(), 1u);
  EXPECT_EQ(pair.cluster.net().dial_log(pair.dialer).size(), 1u);
  EXPECT_EQ(pair.cluster.net().links_opened(0, 1), 2u);
  // The refusal of a knock is the protocol working: no one reports a failed handshake.
  EXPECT_TRUE(pair.cluster.recorder(0).handshake_failures.empty());
  EXPECT_TRUE(pair.cluster.recorder(1).handshake_failures.empty());
  EXPECT_EQ(pair.cluster.node(pair.acceptor).connection(0).stats().generation, 2u);
  // The knock took a generation but established nothing: one connection, no reconnect, on
  // both sides and in the metrics (before: connections 2, reconnects 1 on the knocker).
  for (const std::size_t side : {pair.acceptor, pair.dialer}) {
    const PeerStats stats = pair.cluster.node(side).connection(0).stats();
    EXPECT_EQ(stats.connections, 1u) << side;
    EXPECT_EQ(stats.reconnects, 0u) << side;
    const std::string text = format_prometheus(pair.cluster.node(side).metrics(pair.cluster.now()));
    EXPECT_NE(text.find("weft_peer_connections_total{peer=\"" + pair.cluster.node(1 - side).name() +
                        "\"} 1\n"),
              std::string::npos)
        << text;
  }
}

TEST(OnDemand, AnIdleConnectionClosesAfterThePeriodAndNotBefore) {
  OnDemandPair pair;
  ASSERT_NE(pair.echo(pair.dialer, "x"), nullptr);
  const TimeNs served_at = pair.cluster.recorder(pair.acceptor).received.at(0).at_ns;
  // Keepalive pings (every 10 s) go both ways meanwhile; they are not use.
  pair.cluster.net().run_until(served_at + ns_from_ms(kIdleMs) - ns_from_ms(1));
  EXPECT_TRUE(pair.up(0) && pair.up(1));
  EXPECT_GE(pair.cluster.node(0).connection(0).stats().frames_received, 3u);  // pings came
  pair.cluster.net().run_until(served_at + ns_from_ms(kIdleMs) + 4 * kLatency);
  EXPECT_EQ(pair.open(), 0u);
  for (std::size_t index : {0, 1}) {
    ASSERT_EQ(pair.cluster.recorder(index).downs.size(), 1u);
    EXPECT_NE(pair.cluster.recorder(index).downs[0].event.reason.find("idle"), std::string::npos)
        << pair.cluster.recorder(index).downs[0].event.reason;
  }
  // Nothing redials on its own.
  pair.cluster.net().run_for(60 * kSecond);
  EXPECT_EQ(pair.open(), 0u);
  EXPECT_EQ(pair.cluster.net().dial_log(pair.dialer).size(), 1u);
}

TEST(OnDemand, ACallInFlightKeepsTheConnectionOpen) {
  OnDemandPair pair;
  const Call held = pair.cluster.request(pair.dialer, pair.acceptor, kHoldHandler, "wait",
                                         /*timeout_ms=*/120'000);
  ASSERT_EQ(held.error, Errc::ok);
  pair.cluster.net().run_for(3 * ns_from_ms(kIdleMs));
  EXPECT_TRUE(pair.up(0) && pair.up(1));
  Recorder& server = pair.cluster.recorder(pair.acceptor);
  ASSERT_EQ(server.held.size(), 1u);
  ASSERT_EQ(pair.cluster.node(pair.acceptor)
                .connection(0)
                .respond(pair.cluster.now(), server.held[0].id, Bytes{}),
            Errc::ok);
  pair.cluster.net().run_for(ns_from_ms(kIdleMs) / 2);
  EXPECT_TRUE(pair.up(0) && pair.up(1));  // the answer was use
  pair.cluster.net().run_for(ns_from_ms(kIdleMs));
  EXPECT_EQ(pair.open(), 0u);
  EXPECT_EQ(pair.cluster.recorder(pair.dialer).done_count(held.id), 1u);
}

TEST(OnDemand, TheNextUseAfterAnIdleCloseReconnects) {
  OnDemandPair pair;
  ASSERT_NE(pair.echo(pair.acceptor, "1"), nullptr);
  pair.cluster.net().run_for(2 * ns_from_ms(kIdleMs));
  ASSERT_EQ(pair.open(), 0u);
  for (std::size_t from : {pair.dialer, pair.acceptor}) {
    const event::RequestDone* done = pair.echo(from, "again");
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(done->result, Errc::ok);
    pair.cluster.net().run_for(2 * ns_from_ms(kIdleMs));
    EXPECT_EQ(pair.open(), 0u);
  }
  EXPECT_EQ(pair.cluster.recorder(pair.dialer).ups.size(), 3u);
}

// The closer's goaway(idle) and a request of the other side cross: the request reaches the
// closer after its goaway, unread. The requester learns from the goaway that it was not
// processed, sends it again on a new connection, and it ends once, answered; the server's
// application sees it once.
TEST(OnDemand, ARequestCrossingTheIdleGoawayIsSentAgainAndEndsOnce) {
  for (const bool from_dialer : {true, false}) {
    OnDemandPair pair;
    const std::size_t client = from_dialer ? pair.dialer : pair.acceptor;
    const std::size_t server = 1 - client;
    ASSERT_NE(pair.echo(client, "first"), nullptr);
    // The server answered at once, so its idle period ends first, one latency before the
    // client's: a request sent half a latency before that arrives after the goaway.
    const TimeNs close_at =
        pair.cluster.recorder(server).received.at(0).at_ns + ns_from_ms(kIdleMs);
    Call crossing;
    pair.cluster.net().at(close_at - kLatency / 2, [&] {
      crossing = pair.cluster.request(client, server, kEchoHandler, "crossing");
    });
    pair.cluster.net().run_until(close_at + kLatency + 1);
    ASSERT_EQ(crossing.error, Errc::ok);
    ASSERT_EQ(pair.cluster.recorder(server).received.size(), 1u);  // not read by the closer
    ASSERT_TRUE(pair.cluster.run_until_done(client, crossing.id, 20 * kSecond));
    EXPECT_EQ(pair.cluster.recorder(client).done_count(crossing.id), 1u);
    const event::RequestDone* done = pair.cluster.recorder(client).done_for(crossing.id);
    EXPECT_EQ(done->result, Errc::ok);
    EXPECT_EQ(std::string(done->payload.begin(), done->payload.end()), "crossing");
    EXPECT_EQ(pair.cluster.recorder(server).received.size(), 2u);
    EXPECT_EQ(pair.cluster.recorder(server).downs.size(), 1u);  // the idle close, once
  }
}

TEST(OnDemand, AStreamCrossingTheIdleGoawayEndsOnceNotProcessed) {
  OnDemandPair pair;
  pair.cluster.node(pair.acceptor).register_stream_handler(kStreams);
  ASSERT_NE(pair.echo(pair.dialer, "first"), nullptr);
  const TimeNs close_at =
      pair.cluster.recorder(pair.acceptor).received.at(0).at_ns + ns_from_ms(kIdleMs);
  OpenedStream opened;
  pair.cluster.net().at(close_at - kLatency / 2, [&] {
    opened =
        pair.cluster.to(pair.dialer, pair.acceptor).open_stream(pair.cluster.now(), a_stream());
  });
  pair.cluster.net().run_until(close_at + 10 * kLatency);
  ASSERT_EQ(opened.error, Errc::ok);
  Recorder& client = pair.cluster.recorder(pair.dialer);
  ASSERT_EQ(client.ended_count(opened.id), 1u);
  EXPECT_EQ(client.ended(opened.id)->result, Errc::disconnected);
  EXPECT_NE(client.ended(opened.id)->message.find("not processed"), std::string::npos);
  EXPECT_TRUE(pair.cluster.recorder(pair.acceptor).streams_opened.empty());
}

TEST(OnDemand, ARequestWaitsForTheConnectionWithinItsDeadline) {
  OnDemandPair pair;
  pair.cluster.net().set_reachable(0, 1, false);
  const Call call = pair.cluster.request(pair.dialer, pair.acceptor, kEchoHandler, "x", 1'000);
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(pair.cluster.run_until_done(pair.dialer, call.id, 5 * kSecond));
  // The dial it caused failed: it ends once, disconnected, and nothing keeps dialing.
  EXPECT_EQ(pair.cluster.recorder(pair.dialer).done_for(call.id)->result, Errc::disconnected);
  pair.cluster.net().run_for(30 * kSecond);
  EXPECT_EQ(pair.cluster.net().dial_log(pair.dialer).size(), 1u);
  EXPECT_EQ(pair.cluster.recorder(pair.dialer).done_count(call.id), 1u);
}

TEST(OnDemand, AStreamOnADownPeerIsRefusedButBringsTheConnectionUp) {
  OnDemandPair pair;
  pair.cluster.node(pair.acceptor).register_stream_handler(kStreams);
  PeerConnection to = pair.cluster.to(pair.dialer, pair.acceptor);
  EXPECT_EQ(to.open_stream(pair.cluster.now(), a_stream()).error, Errc::disconnected);
  ASSERT_TRUE(pair.cluster.settle([&] { return pair.up(0) && pair.up(1); }));
  EXPECT_EQ(to.open_stream(pair.cluster.now(), a_stream()).error, Errc::ok);
}

// Node::add_peer's override: a node kept always-on adds a peer on demand (and the other
// way round); each connection follows its own peer's mode.
TEST(OnDemand, APeerAddedOnDemandFollowsItsOwnMode) {
  sim::MemNetwork net;
  std::vector<sim::NodeIndex> nodes;
  for (const char* name : {"a", "b", "c"}) {
    NodeConfig config = test_config(name, {});
    config.seed = static_cast<std::uint64_t>(name[0]);
    config.timeouts.idle_close_ms = kIdleMs;
    config.connect_on_demand = std::string(name) == "c";  // c on demand, a and b always on
    nodes.push_back(net.add_node(std::move(config)));
    net.node(nodes.back()).register_handler(kEchoHandler);
  }
  Node& a = net.node(nodes[0]);
  Node& b = net.node(nodes[1]);
  Node& c = net.node(nodes[2]);
  // a-b on demand by override on both sides; a-c on demand (c's default, a's override);
  // b-c always on (b's default, c's override).
  const PeerId a_b = a.add_peer(0, "b", true).peer;
  const PeerId a_c = a.add_peer(0, "c", true).peer;
  const PeerId b_a = b.add_peer(0, "a", true).peer;
  const PeerId b_c = b.add_peer(0, "c").peer;
  const PeerId c_a = c.add_peer(0, "a").peer;
  const PeerId c_b = c.add_peer(0, "b", false).peer;
  EXPECT_TRUE(a.connection(a_b).on_demand() && a.connection(a_c).on_demand());
  EXPECT_TRUE(b.connection(b_a).on_demand() && !b.connection(b_c).on_demand());
  EXPECT_TRUE(c.connection(c_a).on_demand() && !c.connection(c_b).on_demand());
  net.run_for(10 * kSecond);
  EXPECT_EQ(b.connection(b_c).state(), PeerState::established);  // always on: up at once
  EXPECT_EQ(a.open_connections(), 0u);                           // on demand: nothing yet
  // Nobody answers (the default application only queues events): it ends at its deadline.
  const Call call = a.connection(a_c).request(
      net.now(), RequestArgs{.handler = kEchoHandler, .timeout_ms = 1'000});
  ASSERT_EQ(call.error, Errc::ok);
  net.run_for(kSecond);
  EXPECT_EQ(a.connection(a_c).state(), PeerState::established);
  EXPECT_EQ(a.connection(a_b).state(), PeerState::idle);
  net.run_for(2 * ns_from_ms(kIdleMs));
  EXPECT_EQ(a.open_connections(), 0u);                           // a-c closed idle
  EXPECT_EQ(b.connection(b_c).state(), PeerState::established);  // b-c stays up
}

TEST(OnDemand, TheIdlePeriodMustBePositive) {
  NodeConfig config = test_config("a", {"b"});
  config.connect_on_demand = true;
  config.timeouts.idle_close_ms = 0;
  EXPECT_FALSE(node_accepts(config));
  config.timeouts.idle_close_ms = 1;
  EXPECT_TRUE(node_accepts(config));
}

}  // namespace
}  // namespace weft::testing
