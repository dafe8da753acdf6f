// Scenarios of the connection state machine, each on two or three nodes wired in memory.
// Handshake, requests-in-parts and dial-rule scenarios: node_handshake_scenarios_test.cpp.
#include <gtest/gtest.h>

#include <set>

#include "cluster.hpp"
#include "scripted_peer.hpp"
#include "weft/frame_text.hpp"
#include "weft/node.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::frames_in;
using testing::kDelayHandler;
using testing::kEchoHandler;
using testing::kErrorHandler;
using testing::kHoldHandler;
using testing::text_of;

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;

sim::MemNetworkOptions chunky(std::uint64_t seed = 7) {
  sim::MemNetworkOptions options;
  options.seed = seed;
  options.max_piece_bytes = 13;  // every frame arrives cut into pieces
  return options;
}

TEST(NodeScenarios, EchoRoundTripBothWays) {
  Cluster cluster({"alpha", "bravo"}, chunky());
  ASSERT_TRUE(cluster.run_until_connected());
  const Call ab = cluster.request(kA, kB, kEchoHandler, "hello");
  const Call ba = cluster.request(kB, kA, kEchoHandler, "olleh");
  ASSERT_EQ(ab.error, Errc::ok);
  ASSERT_EQ(ba.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, ab.id));
  ASSERT_TRUE(cluster.run_until_done(kB, ba.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(ab.id)->result, Errc::ok);
  EXPECT_EQ(text_of(cluster.recorder(kA).done_for(ab.id)->payload), "hello");
  EXPECT_EQ(text_of(cluster.recorder(kB).done_for(ba.id)->payload), "olleh");
  // The serving side saw each request once, with its payload.
  ASSERT_EQ(cluster.recorder(kB).received.size(), 1u);
  EXPECT_EQ(text_of(cluster.recorder(kB).received[0].event.payload), "hello");
  EXPECT_TRUE(cluster.all_mux_tables_empty());
  // Exactly one side dialed.
  EXPECT_NE(cluster.to(kA, kB).dials(), cluster.to(kB, kA).dials());
  EXPECT_EQ(cluster.net().links_opened(kA, kB), 1u);
}

// has_output() is true while poll_event or poll_transmit would find something: a driver
// serving many nodes skips a node for which it is false.
TEST(NodeScenarios, HasOutputSaysWhetherPollingWouldFindSomething) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  Node& alpha = cluster.node(kA);
  EXPECT_FALSE(alpha.has_output());  // the network polled everything
  const Call call = cluster.request(kA, kB, kEchoHandler, "x");
  ASSERT_EQ(call.error, Errc::ok);
  EXPECT_TRUE(alpha.has_output());  // the request's transport waits for its write notice
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  EXPECT_FALSE(alpha.has_output());
}

TEST(NodeScenarios, RemoteErrorReachesTheCaller) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(kA, kB, kErrorHandler, "x");
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  const auto* done = cluster.recorder(kA).done_for(call.id);
  EXPECT_EQ(done->result, Errc::remote_error);
  EXPECT_EQ(text_of(done->payload), "disk full");
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

TEST(NodeScenarios, OneMebibytePayloadBothWays) {
  Cluster cluster({"alpha", "bravo"}, chunky());
  ASSERT_TRUE(cluster.run_until_connected());
  std::string payload(1 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>(i * 31 + 7);
  const Call call = cluster.request(kA, kB, kEchoHandler, payload);
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, call.id, ns_from_ms(60'000)));
  const auto* done = cluster.recorder(kA).done_for(call.id);
  EXPECT_EQ(done->result, Errc::ok);
  EXPECT_TRUE(text_of(done->payload) == payload);
}

TEST(NodeScenarios, PayloadLargerThanThePeersFrameLimitTravelsInParts) {
  Cluster cluster({"alpha", "bravo"}, chunky(5),
                  [](NodeConfig& config) { config.limits.max_frame_bytes = 65536; });
  ASSERT_TRUE(cluster.run_until_connected());
  const std::string payload(200'000, 'x');
  const Call call = cluster.request(kA, kB, kEchoHandler, payload);
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::ok);
  EXPECT_TRUE(text_of(cluster.recorder(kA).done_for(call.id)->payload) == payload);
  // Every frame on the wire respected the 64 KiB limit.
  FrameDecoder decoder(DecoderOptions{.limits = {.max_frame_bytes = 65536}});
  Bytes wire = cluster.net().wire_log(kA, kB);
  int continuations = 0;
  for (DecodeStep step = decoder.next(wire); step.status == DecodeStatus::frame;
       step = decoder.next(wire)) {
    continuations += step.frame.op == Op::continuation ? 1 : 0;
    wire = wire.subspan(step.consumed);
  }
  EXPECT_FALSE(decoder.failed()) << decoder.error().message;
  EXPECT_GE(continuations, 3);
}

TEST(NodeScenarios, PayloadOverTheMessageLimitIsRefused) {
  Cluster cluster({"alpha", "bravo"}, {}, [](NodeConfig& config) {
    if (config.name == "bravo") config.limits.max_message_bytes = 100'000;
  });
  ASSERT_TRUE(cluster.run_until_connected());
  // alpha sends more than bravo accepts: bravo answers too_large, its application never
  // sees the request.
  const Call call = cluster.request(kA, kB, kEchoHandler, std::string(300'000, 'y'));
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::too_large);
  EXPECT_TRUE(cluster.recorder(kB).received.empty());
  // And bravo refuses to send more than its own limit.
  EXPECT_EQ(cluster.request(kB, kA, kEchoHandler, std::string(100'001, 'z')).error,
            Errc::too_large);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

TEST(NodeScenarios, SmallRequestsPassBetweenThePartsOfALargeOne) {
  Cluster cluster({"alpha", "bravo"}, {},
                  [](NodeConfig& config) { config.limits.output_high_water_bytes = 4096; });
  ASSERT_TRUE(cluster.run_until_connected());
  const Call big = cluster.request(kA, kB, kEchoHandler, std::string(1 << 20, 'B'));
  const Call small = cluster.request(kA, kB, kEchoHandler, "small");
  cluster.net().run_for(ns_from_ms(50));
  EXPECT_EQ(cluster.recorder(kA).done_for(big.id)->result, Errc::ok);
  EXPECT_EQ(cluster.recorder(kA).done_for(small.id)->result, Errc::ok);
  // On the wire, the small request went out before the big one's last part.
  const auto frames = frames_in(cluster.net().wire_log(kA, kB));
  std::size_t small_at = 0;
  std::size_t last_part_at = 0;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Frame frame = frames[i].view();
    if (frame.mux == small.id && frame.op == Op::request) small_at = i;
    if (frame.mux == big.id && frame.op == Op::continuation) last_part_at = i;
  }
  EXPECT_GT(small_at, 0u);
  EXPECT_LT(small_at, last_part_at);
}

TEST(NodeScenarios, BorrowedPayloadMayBeReusedOnceTheCallReturns) {
  Cluster cluster({"alpha", "bravo"}, {},
                  [](NodeConfig& config) { config.limits.output_high_water_bytes = 4096; });
  ASSERT_TRUE(cluster.run_until_connected());
  // Most of the parts wait for room after request() returns; the core kept its own copy.
  std::vector<std::uint8_t> buffer(300'000, 'a');
  const Call call = cluster.to(kA, kB).request(
      cluster.now(), RequestArgs{.handler = kEchoHandler, .payload = Payload(buffer)});
  ASSERT_EQ(call.error, Errc::ok);
  EXPECT_GT(cluster.to(kA, kB).stats().queued_data_bytes, 200'000u);
  std::fill(buffer.begin(), buffer.end(), 'z');
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  EXPECT_TRUE(text_of(cluster.recorder(kA).done_for(call.id)->payload) ==
              std::string(300'000, 'a'));
  EXPECT_EQ(cluster.to(kA, kB).stats().queued_data_bytes, 0u);
}

TEST(NodeScenarios, OneSharedPayloadGoesOutOnManyCalls) {
  Cluster cluster({"alpha", "bravo"}, {},
                  [](NodeConfig& config) { config.limits.output_high_water_bytes = 4096; });
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<std::uint8_t> bytes(200'000);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::uint8_t>(i * 7);
  const std::vector<std::uint8_t> expected = bytes;
  const SharedBytes shared(std::move(bytes));
  std::vector<RequestId> calls;
  for (int i = 0; i < 3; ++i) {
    const Call call = cluster.to(kA, kB).request(
        cluster.now(), RequestArgs{.handler = kEchoHandler, .payload = shared});
    ASSERT_EQ(call.error, Errc::ok);
    calls.push_back(call.id);
  }
  for (RequestId id : calls) {
    ASSERT_TRUE(cluster.run_until_done(kA, id));
    EXPECT_EQ(cluster.recorder(kA).done_for(id)->result, Errc::ok);
    EXPECT_TRUE(cluster.recorder(kA).done_for(id)->payload == expected);
  }
  EXPECT_TRUE(bytes_equal(shared.view(), expected));
}

TEST(NodeScenarios, CancelWhileThePartsArriveEndsItUnseen) {
  Cluster cluster({"alpha", "bravo"}, {},
                  [](NodeConfig& config) { config.limits.output_high_water_bytes = 4096; });
  ASSERT_TRUE(cluster.run_until_connected());
  // The first part leaves at once, the rest wait in the bulk lane; the cancel drops them.
  const Call call = cluster.request(kA, kB, kHoldHandler, std::string(1 << 20, 'C'));
  ASSERT_EQ(cluster.to(kA, kB).cancel(cluster.now(), call.id), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.recorder(kA).done_count(call.id), 1u);
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::canceled);
  // bravo's application never heard of the request: neither received nor canceled.
  EXPECT_TRUE(cluster.recorder(kB).received.empty());
  EXPECT_TRUE(cluster.recorder(kB).canceled.empty());
  EXPECT_TRUE(cluster.all_mux_tables_empty());
  // Far fewer than the 16 parts went out.
  int parts = 0;
  for (const OwnedFrame& frame : frames_in(cluster.net().wire_log(kA, kB))) {
    parts += frame.view().op == Op::continuation ? 1 : 0;
  }
  EXPECT_LT(parts, 3);
}

TEST(NodeScenarios, UnknownHandlerAndUnknownRoute) {
  Cluster cluster({"alpha", "bravo"});
  cluster.node(kB).register_handler(9, "disk/1");
  ASSERT_TRUE(cluster.run_until_connected());
  const Call no_handler = cluster.request(kA, kB, 99, "x");
  const Call wrong_route = cluster.request(kA, kB, 9, "x", 0, "disk/2");
  const Call right_route = cluster.request(kA, kB, 9, "x", 0, "disk/1");
  ASSERT_TRUE(cluster.run_until_done(kA, no_handler.id));
  ASSERT_TRUE(cluster.run_until_done(kA, wrong_route.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(no_handler.id)->result, Errc::unknown_handler);
  EXPECT_EQ(cluster.recorder(kA).done_for(wrong_route.id)->result, Errc::unknown_handler);
  // The registered route reaches the application (which has no behaviour for handler 9).
  cluster.net().run_for(ns_from_ms(10));
  ASSERT_EQ(cluster.recorder(kB).received.size(), 1u);
  EXPECT_EQ(cluster.recorder(kB).received[0].event.route, route_id("disk/1"));
  EXPECT_EQ(right_route.error, Errc::ok);
}

TEST(NodeScenarios, DeadlineExceededWithASlowHandler) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const TimeNs start = cluster.now();
  const Call call = cluster.request(kA, kB, kHoldHandler, "slow", 100);
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  const auto& done = cluster.recorder(kA).done.back();
  EXPECT_EQ(done.event.result, Errc::deadline_exceeded);
  EXPECT_EQ(done.at_ns, start + ns_from_ms(100));  // on the deadline, not after it
  // The serving side learns the caller gave up, and its answer is refused.
  cluster.net().run_for(ns_from_ms(10));
  ASSERT_EQ(cluster.recorder(kB).canceled.size(), 1u);
  const auto reason = cluster.recorder(kB).canceled[0].event.reason;
  EXPECT_TRUE(reason == Errc::canceled || reason == Errc::deadline_exceeded) << errc_name(reason);
  const auto& held = cluster.recorder(kB).held.at(0);
  EXPECT_EQ(cluster.to(kB, kA).respond(cluster.now(), held.id, as_bytes("late")), Errc::not_found);
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

TEST(NodeScenarios, NextDeadlineFollowsEveryChangeAfterItWasRead) {
  // The node caches its earliest deadline between inputs: each input must forget it.
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  Node& alpha = cluster.node(kA);
  const TimeNs idle_deadline = alpha.next_deadline();
  ASSERT_GT(idle_deadline, cluster.now() + ns_from_ms(100));  // keepalive, seconds away
  const Call call = cluster.request(kA, kB, kHoldHandler, "slow", 100);
  ASSERT_EQ(call.error, Errc::ok);
  EXPECT_EQ(alpha.next_deadline(), cluster.now() + ns_from_ms(100));
  ASSERT_EQ(cluster.to(kA, kB).cancel(cluster.now(), call.id), Errc::ok);
  EXPECT_EQ(alpha.next_deadline(), idle_deadline);
}

TEST(NodeScenarios, LateResponseIsDroppedSilently) {
  // The handler answers after the caller's deadline but before the cancel reaches it.
  sim::MemNetworkOptions options;
  options.latency_ns = ns_from_ms(10);
  Cluster cluster({"alpha", "bravo"}, options);
  ASSERT_TRUE(cluster.run_until_connected(ns_from_ms(10'000)));
  cluster.recorder(kB).delay_ns = ns_from_ms(100);  // received at +10 ms, answered at +110 ms
  const Call call = cluster.request(kA, kB, kDelayHandler, "x", 105);
  cluster.net().run_for(ns_from_ms(500));
  EXPECT_EQ(cluster.recorder(kA).done_count(call.id), 1u);
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::deadline_exceeded);
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

TEST(NodeScenarios, CancelReachesTheHandler) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(kA, kB, kHoldHandler, "work");
  cluster.net().run_for(ns_from_ms(1));
  ASSERT_EQ(cluster.recorder(kB).held.size(), 1u);
  EXPECT_EQ(cluster.to(kA, kB).cancel(cluster.now(), call.id), Errc::ok);
  // The caller's call ends at once (its event is queued now), exactly once.
  cluster.net().run_for(0);
  ASSERT_EQ(cluster.recorder(kA).done_count(call.id), 1u);
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::canceled);
  EXPECT_EQ(cluster.to(kA, kB).cancel(cluster.now(), call.id), Errc::not_found);
  cluster.net().run_for(ns_from_ms(1));
  ASSERT_EQ(cluster.recorder(kB).canceled.size(), 1u);
  EXPECT_EQ(cluster.recorder(kB).canceled[0].event.reason, Errc::canceled);
  EXPECT_EQ(cluster.recorder(kB).canceled[0].event.id, cluster.recorder(kB).held[0].id);
  EXPECT_EQ(cluster.to(kB, kA).respond(cluster.now(), cluster.recorder(kB).held[0].id, {}),
            Errc::not_found);
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

TEST(NodeScenarios, DisconnectMidRequestThenReconnectAndSucceed) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(kA, kB, kHoldHandler, "pending");
  cluster.net().run_for(ns_from_ms(1));
  ASSERT_EQ(cluster.recorder(kB).held.size(), 1u);
  cluster.net().break_links(kA, kB);
  cluster.net().run_for(0);
  // Both sides end the call exactly once, with "disconnected".
  EXPECT_EQ(cluster.recorder(kA).done_count(call.id), 1u);
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::disconnected);
  ASSERT_EQ(cluster.recorder(kB).canceled.size(), 1u);
  EXPECT_EQ(cluster.recorder(kB).canceled[0].event.reason, Errc::disconnected);
  // A late answer for the dead generation goes nowhere.
  EXPECT_EQ(cluster.to(kB, kA).respond(cluster.now(), cluster.recorder(kB).held[0].id, {}),
            Errc::not_found);
  // Calls while disconnected fail fast.
  EXPECT_EQ(cluster.request(kA, kB, kEchoHandler, "x").error, Errc::disconnected);
  ASSERT_TRUE(cluster.run_until_connected());
  EXPECT_EQ(cluster.net().links_opened(kA, kB), 2u);
  EXPECT_EQ(cluster.to(kA, kB).stats().reconnects, 1u);
  ASSERT_EQ(cluster.recorder(kA).ups.size(), 2u);
  EXPECT_FALSE(cluster.recorder(kA).ups[1].event.peer_restarted);
  const Call again = cluster.request(kA, kB, kEchoHandler, "again");
  ASSERT_TRUE(cluster.run_until_done(kA, again.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(again.id)->result, Errc::ok);
  EXPECT_TRUE(cluster.all_mux_tables_empty());
}

// MinIO grid's deadlock (PR 19964): the connection breaks while its output queue is full
// and incoming frames keep asking for answers. Here nothing waits for outbound space: the
// teardown ends every call once, the reconnect completes, and no frame of the dead
// connection is sent on the new one.
TEST(NodeScenarios, ReconnectWhileOutputQueueIsFull) {
  Cluster cluster({"alpha", "bravo"}, {}, [](NodeConfig& config) {
    config.limits.output_high_water_bytes = 4096;
    config.limits.max_queued_bytes = 64 * 1024;
    config.timeouts.ping_interval_ms = 1000;
    config.timeouts.dead_after_pings = 30;  // the stall must not look like a dead peer
  });
  ASSERT_TRUE(cluster.run_until_connected());
  // alpha's socket to bravo is full: nothing it writes leaves.
  cluster.net().set_stalled(kA, kB, true);
  std::set<RequestId> accepted;
  const std::string payload(1000, 'p');
  for (int i = 0; i < 1000; ++i) {
    const Call call = cluster.request(kA, kB, kHoldHandler, payload);
    if (call.error == Errc::queue_full) break;
    ASSERT_EQ(call.error, Errc::ok);
    accepted.insert(call.id);
  }
  ASSERT_GT(accepted.size(), 50u);
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, payload).error, Errc::queue_full);
  EXPECT_GT(cluster.to(kA, kB).stats().queued_data_bytes, 50'000u);
  // Meanwhile bravo keeps talking: its pings and requests make alpha owe pongs and
  // answers, which must not wait behind the full data lanes.
  for (int i = 0; i < 20; ++i)
    cluster.request(kB, kA, kEchoHandler, "poke");
  cluster.net().run_for(ns_from_ms(3000));
  EXPECT_GT(cluster.to(kA, kB).stats().queued_control_frames, 0u);
  EXPECT_TRUE(cluster.recorder(kA).done.empty());

  cluster.net().break_links(kA, kB);
  cluster.net().set_stalled(kA, kB, false);  // the new socket is a fresh one
  cluster.net().run_for(0);
  // Every accepted call ended exactly once, with "disconnected".
  for (RequestId id : accepted) {
    ASSERT_EQ(cluster.recorder(kA).done_count(id), 1u);
    EXPECT_EQ(cluster.recorder(kA).done_for(id)->result, Errc::disconnected);
  }
  EXPECT_EQ(cluster.to(kA, kB).stats().queued_data_bytes, 0u);
  EXPECT_EQ(cluster.to(kA, kB).stats().queued_control_frames, 0u);

  ASSERT_TRUE(cluster.run_until_connected());
  const Call fresh = cluster.request(kA, kB, kEchoHandler, "fresh");
  ASSERT_TRUE(cluster.run_until_done(kA, fresh.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(fresh.id)->result, Errc::ok);
  // The new connection carried nothing of the old one: it starts with the handshake and
  // no request of the dead generation appears on it.
  const auto frames = frames_in(cluster.net().wire_log(kA, kB));
  ASSERT_FALSE(frames.empty());
  const Op first = frames.front().view().op;
  EXPECT_TRUE(first == Op::hello || first == Op::challenge) << op_name(static_cast<int>(first));
  for (const OwnedFrame& frame : frames) {
    if (frame.view().op == Op::request) {
      EXPECT_FALSE(accepted.contains(frame.view().mux));
    }
  }
}

TEST(NodeScenarios, RequestsWhileDisconnectedFailFast) {
  Cluster cluster({"alpha", "bravo"});
  // Before the first handshake.
  const Call early = cluster.request(kA, kB, kEchoHandler, "x");
  EXPECT_EQ(early.error, Errc::disconnected);
  // A refused call has no event: none comes later either, once the network has run (and
  // connected), and the serving side never saw a request.
  ASSERT_TRUE(cluster.run_until_connected());
  cluster.net().run_for(ns_from_ms(100));
  EXPECT_TRUE(cluster.recorder(kA).done.empty());
  EXPECT_TRUE(cluster.recorder(kB).received.empty());
}

TEST(NodeScenarios, SilentPeerIsDeclaredDeadWithinTwoPingIntervals) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  // One ping interval in, the round trip has been measured (two one-way latencies).
  cluster.net().run_for(ns_from_ms(10'500));
  EXPECT_EQ(cluster.to(kA, kB).stats().rtt_ns, 2 * sim::MemNetworkOptions{}.latency_ns);
  const TimeNs muted_at = cluster.now();
  cluster.net().set_muted(kB, true);
  ASSERT_TRUE(cluster.net().run_until([&] { return !cluster.recorder(kA).downs.empty(); },
                                      muted_at + ns_from_ms(30'000)));
  const TimeNs detected = cluster.recorder(kA).downs[0].at_ns - muted_at;
  EXPECT_LE(detected, ns_from_ms(20'000));
  EXPECT_GE(detected, ns_from_ms(9'000));  // not before the silence lasted a while
  EXPECT_NE(cluster.recorder(kA).downs[0].event.reason.find("silent"), std::string::npos);
}

TEST(NodeScenarios, BackoffDoublesWithJitterUpToTheCap) {
  Cluster cluster({"alpha", "bravo"});
  cluster.net().set_reachable(kA, kB, false);
  cluster.net().run_for(ns_from_ms(40'000));
  const std::size_t dialer = cluster.to(kA, kB).dials() ? kA : kB;
  const auto& times = cluster.net().dial_log(dialer);
  ASSERT_GE(times.size(), 10u);
  // Gaps between attempts (minus the connect latency) follow 100 ms doubling to 5 s, each
  // within +/- 20 %.
  double expected_ms = 100;
  for (std::size_t i = 1; i < times.size(); ++i) {
    const double gap_ms = static_cast<double>(times[i] - times[i - 1]) / 1e6 -
                          static_cast<double>(sim::MemNetworkOptions{}.latency_ns) / 1e6;
    EXPECT_GE(gap_ms, expected_ms * 0.8 - 1) << "attempt " << i;
    EXPECT_LE(gap_ms, expected_ms * 1.2 + 1) << "attempt " << i;
    expected_ms = std::min(expected_ms * 2, 5000.0);
  }
  // Once reachable again it connects, and the backoff starts over.
  cluster.net().set_reachable(kA, kB, true);
  EXPECT_TRUE(cluster.run_until_connected(ns_from_ms(6'000)));
}

TEST(NodeScenarios, ThreeNodesRouteAcceptedTransportsToTheRightPeer) {
  Cluster cluster({"alpha", "bravo", "charlie"}, chunky(11));
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<std::pair<std::size_t, Call>> calls;
  for (std::size_t from = 0; from < 3; ++from) {
    for (std::size_t to = 0; to < 3; ++to) {
      if (from == to) continue;
      const std::string payload = std::to_string(from) + "->" + std::to_string(to);
      calls.emplace_back(from, cluster.request(from, to, kEchoHandler, payload));
    }
  }
  cluster.net().run_for(ns_from_ms(10));
  for (const auto& [from, call] : calls) {
    const auto* done = cluster.recorder(from).done_for(call.id);
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(done->result, Errc::ok);
    EXPECT_EQ(text_of(done->payload).substr(0, 3), std::to_string(from) + "->");
  }
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(cluster.recorder(i).received.size(), 2u);
}

TEST(NodeScenarios, RestartedPeerIsReportedWithANewIncarnation) {
  // A peer's hello with a different incarnation on a later connection means it restarted;
  // a reconnect of the same process does not.
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const auto first = cluster.recorder(kA).ups.at(0).event;
  const std::uint64_t old_incarnation = cluster.node(kB).incarnation();
  EXPECT_EQ(first.incarnation, old_incarnation);
  EXPECT_FALSE(first.peer_restarted);

  NodeConfig restarted = cluster.node(kB).config();
  restarted.seed = *restarted.seed + 1;  // a new process draws a new seed
  cluster.net().restart_node(kB, restarted);
  const std::uint64_t new_incarnation = cluster.node(kB).incarnation();
  ASSERT_NE(new_incarnation, old_incarnation);
  const auto& ups = cluster.recorder(kA).ups;
  ASSERT_TRUE(cluster.net().run_until([&] { return ups.size() == 2; }, ns_from_ms(5'000)));
  EXPECT_EQ(cluster.recorder(kA).downs.size(), 1u);  // the old process's link went down
  EXPECT_EQ(ups[1].event.incarnation, new_incarnation);
  EXPECT_TRUE(ups[1].event.peer_restarted);
  EXPECT_EQ(ups[1].event.generation, 2u);
  EXPECT_EQ(cluster.to(kA, kB).stats().peer_incarnation, new_incarnation);

  // The same process again after a reset: not a restart.
  cluster.net().break_links(kA, kB);
  ASSERT_TRUE(cluster.net().run_until([&] { return ups.size() == 3; }, ns_from_ms(5'000)));
  EXPECT_EQ(ups[2].event.incarnation, new_incarnation);
  EXPECT_FALSE(ups[2].event.peer_restarted);
}

TEST(NodeScenarios, StatsCountFramesAndBytesOnBothSides) {
  Cluster cluster({"alpha", "bravo"}, chunky(3));
  ASSERT_TRUE(cluster.run_until_connected());
  for (int i = 0; i < 10; ++i)
    cluster.request(kA, kB, kEchoHandler, "0123456789");
  cluster.net().run_for(ns_from_ms(5));
  const PeerStats a = cluster.to(kA, kB).stats();
  const PeerStats b = cluster.to(kB, kA).stats();
  EXPECT_EQ(a.state, PeerState::established);
  EXPECT_EQ(a.generation, 1u);
  EXPECT_EQ(a.peer_incarnation, cluster.node(kB).incarnation());
  // What one side sent, the other received: the same fact seen from both ends.
  EXPECT_EQ(a.bytes_sent, b.bytes_received);
  EXPECT_EQ(b.bytes_sent, a.bytes_received);
  EXPECT_EQ(a.frames_sent, b.frames_received);
  EXPECT_EQ(b.frames_sent, a.frames_received);
  EXPECT_GE(a.frames_sent, 11u);  // handshake frame + 10 requests
  EXPECT_EQ(a.output_bytes, 0u);
  EXPECT_EQ(a.outbound_in_flight, 0u);
  EXPECT_EQ(cluster.recorder(kA).done.size(), 10u);
}

TEST(NodeScenarios, EventQueueBoundTurnsInputOff) {
  NodeConfig config = testing::test_config("alpha", {"bravo"});
  config.max_pending_events = 4;
  Node node(config, 0, 0);
  // Three accepted transports that never say hello time out: two events each.
  for (int i = 0; i < 3; ++i)
    node.on_accepted(0);
  EXPECT_TRUE(node.accepting_input());
  node.on_timer(ns_from_ms(config.timeouts.hello_timeout_ms));
  EXPECT_FALSE(node.accepting_input());
  int events = 0;
  while (node.poll_event())
    ++events;
  EXPECT_GE(events, 6);
  EXPECT_TRUE(node.accepting_input());
}

TEST(NodeScenarios, ManySmallFramesLeaveAsOneContiguousWrite) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  std::size_t expected = 0;
  for (int i = 0; i < 50; ++i) {
    const Call call = cluster.request(kA, kB, kEchoHandler, "small");
    ASSERT_EQ(call.error, Errc::ok);
    expected += encoded_size(Frame{.op = Op::request,
                                   .checksum = true,
                                   .mux = call.id,
                                   .handler = kEchoHandler,
                                   .deadline_ms = 60'000,
                                   .payload = as_bytes("small")});
  }
  const std::optional<TransportId> transport = cluster.node(kA).poll_transmit();
  ASSERT_TRUE(transport.has_value());
  EXPECT_FALSE(cluster.node(kA).poll_transmit().has_value());  // one notice for all 50
  EXPECT_EQ(cluster.node(kA).pending_output(*transport).size(), expected);
}

// One rule for a peer's name (peer_name_refusal): the constructor's error names it, and
// add_peer at run time refuses exactly the names the constructor refuses.
TEST(NodeScenarios, ThePeerListAndAddPeerRefuseTheSameNamesForTheSameReason) {
  struct Case {
    std::vector<std::string> peers;  // the last is the one refused
    std::string reason;
  };
  const std::vector<Case> cases{
      {{"bravo", "bravo"}, "is listed already"},
      {{"alpha"}, "is this node's own name"},
      {{""}, "is not a node name"},
      {{"has space"}, "is not a node name"},
      {{std::string(256, 'x')}, "is not a node name"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.peers.back());
    const std::string refused = c.peers.back();
    const bool listed = c.peers.size() > 1;
    EXPECT_EQ(peer_name_refusal("alpha", refused, listed).substr(0, c.reason.size()), c.reason);
    try {
      Node rejected(testing::test_config("alpha", c.peers), 0, 0);
      ADD_FAILURE() << "the constructor took the peer list";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("peer '" + refused + "' " + c.reason),
                std::string::npos)
          << error.what();
    }
    Node node(testing::test_config(
                  "alpha", listed ? std::vector<std::string>{refused} : std::vector<std::string>{}),
              0, 0);
    EXPECT_EQ(node.add_peer(0, refused).error, Errc::invalid_argument);
  }
  EXPECT_EQ(peer_name_refusal("alpha", "bravo", false), "");
  Node node(testing::test_config("alpha", {}), 0, 0);
  EXPECT_EQ(node.add_peer(0, "bravo").error, Errc::ok);
}

TEST(NodeScenarios, ConfigIsValidated) {
  NodeConfig config = testing::test_config("alpha", {"bravo", "bravo"});
  EXPECT_THROW(Node(config, 0, 0), std::invalid_argument);
  config = testing::test_config("has space", {"bravo"});
  EXPECT_THROW(Node(config, 0, 0), std::invalid_argument);
  config = testing::test_config("alpha", {"alpha"});
  EXPECT_THROW(Node(config, 0, 0), std::invalid_argument);
  config = testing::test_config("alpha", {"bravo"});
  config.auth = nullptr;
  EXPECT_THROW(Node(config, 0, 0), std::invalid_argument);
  config = testing::test_config("alpha", {"bravo"});
  Node node(config, 0, 0);
  EXPECT_EQ(node.register_handler(0), Errc::invalid_argument);
  EXPECT_EQ(node.register_handler(1, std::string(300, 'r')), Errc::invalid_argument);
}

}  // namespace
}  // namespace weft
