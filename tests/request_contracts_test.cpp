// Contract tests of requests and connection limits (issue 13): every contract of node.hpp
// and config.hpp about requests, their arguments and the per-connection limits, each
// checked at its boundary and one past it. End-to-end behaviour runs on the in-memory
// network under simulated time; raw-frame cases drive a Node directly. Config validation
// and the decoder's limits are in request_contracts_limits_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "scripted_peer.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::for_node;
using testing::kEchoHandler;
using testing::kHoldHandler;
using testing::Recorder;

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;
constexpr std::int64_t kMaxTimeoutMs = 4'294'967'295;  // 2^32 - 1, the wire's deadline_ms
constexpr std::uint16_t kMaxHandler = 65535;
constexpr std::uint16_t kStreamHandler = 7;
constexpr std::uint16_t kUnregisteredHandler = 99;

// A connected pair alpha (0) / bravo (1), `adjust` applied to both configs.
Cluster connected_pair(const std::function<void(NodeConfig&)>& adjust = {}) {
  return Cluster({"alpha", "bravo"}, {}, adjust);
}

RequestArgs args_of(std::uint16_t handler, std::string_view route = {}, std::int64_t timeout_ms = 0,
                    Payload payload = {}) {
  return RequestArgs{
      .handler = handler, .route = route, .payload = payload, .timeout_ms = timeout_ms};
}

// ---- 1. argument ranges of request and open_stream ----------------------------------------

// A refused request sends nothing and no event follows (node.hpp).
void expect_nothing_started(Cluster& cluster) {
  EXPECT_EQ(cluster.to(kA, kB).stats().outbound_in_flight, 0u);
  const std::uint64_t frames_before = cluster.to(kA, kB).stats().frames_sent;
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.to(kA, kB).stats().frames_sent, frames_before);
  EXPECT_TRUE(cluster.recorder(kA).done.empty());
  EXPECT_TRUE(cluster.recorder(kB).received.empty());
}

TEST(RequestContracts, RequestArgumentsOnePastTheirRangeAreInvalidAndSendNothing) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  PeerConnection alpha = cluster.to(kA, kB);
  const TimeNs now = cluster.now();
  const std::string route_too_long(256, 'r');
  ASSERT_EQ(cluster.node(kA).config().limits.max_route_bytes, 255u);
  EXPECT_EQ(alpha.request(now, args_of(0)).error, Errc::invalid_argument);
  EXPECT_EQ(alpha.request(now, args_of(kEchoHandler, route_too_long)).error,
            Errc::invalid_argument);
  EXPECT_EQ(alpha.request(now, args_of(kEchoHandler, {}, -1)).error, Errc::invalid_argument);
  EXPECT_EQ(alpha.request(now, args_of(kEchoHandler, {}, kMaxTimeoutMs + 1)).error,
            Errc::invalid_argument);
  expect_nothing_started(cluster);
}

TEST(RequestContracts, RequestAtEveryArgumentLimitArrivesWithThatHandlerRouteAndDeadline) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  const std::string route(255, 'r');  // exactly limits.max_route_bytes
  ASSERT_EQ(cluster.node(kB).register_handler(kMaxHandler, route), Errc::ok);
  const Call call =
      cluster.to(kA, kB).request(cluster.now(), args_of(kMaxHandler, route, kMaxTimeoutMs));
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return !cluster.recorder(kB).received.empty(); }));
  const auto& received = cluster.recorder(kB).received.at(0);
  EXPECT_EQ(received.event.handler, kMaxHandler);
  EXPECT_EQ(received.event.route, route_id(route));
  // deadline_ms is relative to when the serving side reads the request.
  EXPECT_EQ(received.event.deadline_ns, received.at_ns + ns_from_ms(kMaxTimeoutMs));
}

TEST(RequestContracts, RequestRouteLimitFollowsTheConfiguredMaxRouteBytes) {
  Cluster cluster = connected_pair([](NodeConfig& config) { config.limits.max_route_bytes = 8; });
  ASSERT_TRUE(cluster.run_until_connected());
  ASSERT_EQ(cluster.node(kB).register_handler(kEchoHandler, "12345678"), Errc::ok);
  EXPECT_EQ(cluster.node(kB).register_handler(kEchoHandler, "123456789"), Errc::invalid_argument);
  EXPECT_EQ(cluster.request(kA, kB, kEchoHandler, "x", 0, "123456789").error,
            Errc::invalid_argument);
  const Call at_limit = cluster.request(kA, kB, kEchoHandler, "x", 0, "12345678");
  ASSERT_EQ(at_limit.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, at_limit.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(at_limit.id)->result, Errc::ok);
}

TEST(RequestContracts, RequestTimeoutZeroMeansTheConfiguredDefault) {
  Cluster cluster = connected_pair(
      [](NodeConfig& config) { config.timeouts.default_request_timeout_ms = 1'234; });
  ASSERT_TRUE(cluster.run_until_connected());
  ASSERT_EQ(cluster.request(kA, kB, kHoldHandler, "x", 0).error, Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return !cluster.recorder(kB).received.empty(); }));
  const auto& received = cluster.recorder(kB).received.at(0);
  EXPECT_EQ(received.event.deadline_ns, received.at_ns + ns_from_ms(1'234));
}

StreamArgs stream_args(std::uint16_t handler, std::string_view route = {},
                       std::int64_t timeout_ms = 0) {
  StreamArgs args;
  args.handler = handler;
  args.route = route;
  args.timeout_ms = timeout_ms;
  return args;
}

TEST(RequestContracts, OpenStreamArgumentsOnePastTheirRangeAreInvalidAndSendNothing) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  ASSERT_EQ(cluster.node(kB).register_stream_handler(kStreamHandler), Errc::ok);
  PeerConnection alpha = cluster.to(kA, kB);
  const TimeNs now = cluster.now();
  const std::uint64_t frames_before = alpha.stats().frames_sent;
  EXPECT_EQ(alpha.open_stream(now, stream_args(0)).error, Errc::invalid_argument);
  EXPECT_EQ(alpha.open_stream(now, stream_args(kStreamHandler, std::string(256, 'r'))).error,
            Errc::invalid_argument);
  EXPECT_EQ(alpha.open_stream(now, stream_args(kStreamHandler, {}, -1)).error,
            Errc::invalid_argument);
  EXPECT_EQ(alpha.open_stream(now, stream_args(kStreamHandler, {}, kMaxTimeoutMs + 1)).error,
            Errc::invalid_argument);
  EXPECT_EQ(alpha.stats().streams_open, 0u);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(alpha.stats().frames_sent, frames_before);
  EXPECT_TRUE(cluster.recorder(kA).streams_ended.empty());
  EXPECT_TRUE(cluster.recorder(kB).streams_opened.empty());
}

TEST(RequestContracts, OpenStreamAtEveryArgumentLimitArrivesWithThatHandlerRouteAndDeadline) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  const std::string route(255, 's');
  ASSERT_EQ(cluster.node(kB).register_stream_handler(kMaxHandler, route), Errc::ok);
  const OpenedStream opened =
      cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kMaxHandler, route, kMaxTimeoutMs));
  ASSERT_EQ(opened.error, Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return !cluster.recorder(kB).streams_opened.empty(); }));
  const auto& seen = cluster.recorder(kB).streams_opened.at(0);
  EXPECT_EQ(seen.event.handler, kMaxHandler);
  EXPECT_EQ(seen.event.route, route_id(route));
  EXPECT_EQ(seen.event.deadline_ns, seen.at_ns + ns_from_ms(kMaxTimeoutMs));
  EXPECT_TRUE(cluster.recorder(kA).streams_ended.empty());  // accepted, still open
}

// ---- 2. each limit's answer ----------------------------------------------------------------

TEST(RequestContracts, MaxOutboundRequestsTheNthSucceedsTheNextIsQueueFull) {
  constexpr std::uint32_t kLimit = 3;
  Cluster cluster = connected_pair(
      for_node("alpha", [](NodeConfig& config) { config.limits.max_outbound_requests = kLimit; }));
  ASSERT_TRUE(cluster.run_until_connected());
  for (std::uint32_t i = 0; i < kLimit; ++i) {
    EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, "x").error, Errc::ok) << "request " << i;
  }
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, "x").error, Errc::queue_full);
  EXPECT_EQ(cluster.to(kA, kB).stats().outbound_in_flight, kLimit);
  // Once one ends, there is room for exactly one more.
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == kLimit; }));
  const auto& held = cluster.recorder(kB).held[0];
  ASSERT_EQ(cluster.to(kB, kA).respond(cluster.now(), held.id, as_bytes("done")), Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kA).done.size() == 1; }));
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, "x").error, Errc::ok);
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, "x").error, Errc::queue_full);
}

TEST(RequestContracts, MaxInboundRequestsTheNthIsDeliveredTheNextIsAnsweredBusy) {
  constexpr std::uint32_t kLimit = 2;
  Cluster cluster = connected_pair(
      for_node("bravo", [](NodeConfig& config) { config.limits.max_inbound_requests = kLimit; }));
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<RequestId> ids;
  for (std::uint32_t i = 0; i <= kLimit; ++i) {
    const Call call = cluster.request(kA, kB, kHoldHandler, "x");
    ASSERT_EQ(call.error, Errc::ok);
    ids.push_back(call.id);
  }
  ASSERT_TRUE(cluster.run_until_done(kA, ids[kLimit]));
  EXPECT_EQ(cluster.recorder(kA).done_for(ids[kLimit])->result, Errc::busy);
  EXPECT_EQ(cluster.recorder(kB).received.size(), kLimit);  // the first kLimit were delivered
  for (std::uint32_t i = 0; i < kLimit; ++i)
    EXPECT_EQ(cluster.recorder(kA).done_for(ids[i]), nullptr);
  // Answering one frees one place.
  ASSERT_EQ(cluster.to(kB, kA).respond(cluster.now(), cluster.recorder(kB).held[0].id, {}),
            Errc::ok);
  const Call again = cluster.request(kA, kB, kHoldHandler, "x");
  ASSERT_EQ(again.error, Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).received.size() == kLimit + 1; }));
  EXPECT_EQ(cluster.recorder(kA).done_for(again.id), nullptr);
}

// A payload larger than chunk_bytes travels in parts whose first announces the whole size:
// the receiver decides from that size against max_assembly_bytes.
TEST(RequestContracts, MaxAssemblyBytesARequestAnnouncedAtTheLimitIsAcceptedOneMoreIsBusy) {
  constexpr std::size_t kLimit = 100'000;  // > chunk_bytes (32 KiB): sent in parts
  Cluster cluster = connected_pair(
      for_node("bravo", [](NodeConfig& config) { config.limits.max_assembly_bytes = kLimit; }));
  ASSERT_TRUE(cluster.run_until_connected());
  const Call at_limit = cluster.request(kA, kB, kEchoHandler, std::string(kLimit, 'a'));
  ASSERT_EQ(at_limit.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, at_limit.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(at_limit.id)->result, Errc::ok);
  EXPECT_EQ(cluster.recorder(kA).done_for(at_limit.id)->payload.size(), kLimit);
  const Call past = cluster.request(kA, kB, kEchoHandler, std::string(kLimit + 1, 'b'));
  ASSERT_EQ(past.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, past.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(past.id)->result, Errc::busy);
  EXPECT_EQ(cluster.recorder(kB).received.size(), 1u);  // the refused one was never seen
  EXPECT_TRUE(cluster.connected(kA, kB));
}

TEST(RequestContracts, MaxAssemblyBytesAResponseAnnouncedOverTheCallersLimitEndsTheCallBusy) {
  constexpr std::size_t kLimit = 100'000;
  Cluster cluster = connected_pair(
      for_node("alpha", [](NodeConfig& config) { config.limits.max_assembly_bytes = kLimit; }));
  ASSERT_TRUE(cluster.run_until_connected());
  const Call at_limit = cluster.request(kA, kB, kEchoHandler, std::string(kLimit, 'a'));
  ASSERT_TRUE(cluster.run_until_done(kA, at_limit.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(at_limit.id)->result, Errc::ok);
  const Call past = cluster.request(kA, kB, kEchoHandler, std::string(kLimit + 1, 'b'));
  ASSERT_TRUE(cluster.run_until_done(kA, past.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(past.id)->result, Errc::busy);
  // The caller told the serving side it stopped waiting; nothing stays in flight.
  cluster.net().run_for(ns_from_ms(100));
  EXPECT_TRUE(cluster.all_mux_tables_empty());
  EXPECT_TRUE(cluster.connected(kA, kB));
}

// max_queued_bytes bounds the data bytes waiting in the lanes: with the transport stalled
// (the peer not reading) and the output buffer full, a request whose payload fits the room
// left is accepted and one byte more is queue_full. (The code counts the new request by its
// payload, the queued ones by their encoded frames: the accepted request's header may take
// the queue a few dozen bytes past the limit.)
TEST(RequestContracts, MaxQueuedBytesAPayloadFillingTheRoomIsAcceptedOneByteMoreIsQueueFull) {
  constexpr std::size_t kLimit = 10'000;
  Cluster cluster = connected_pair(for_node("alpha", [](NodeConfig& config) {
    config.limits.max_queued_bytes = kLimit;
    config.limits.output_high_water_bytes = 1;  // one frame fills the output buffer
  }));
  ASSERT_TRUE(cluster.run_until_connected());
  cluster.net().set_stalled(kA, kB, true);
  PeerConnection alpha = cluster.to(kA, kB);
  ASSERT_EQ(cluster.request(kA, kB, kHoldHandler, "fills the output buffer").error, Errc::ok);
  ASSERT_EQ(cluster.request(kA, kB, kHoldHandler, "waits in a lane").error, Errc::ok);
  const std::size_t queued = alpha.stats().queued_data_bytes;
  ASSERT_GT(queued, 0u);
  ASSERT_LT(queued, kLimit);
  const std::size_t room = kLimit - queued;
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, std::string(room + 1, 'q')).error,
            Errc::queue_full);
  EXPECT_EQ(alpha.stats().queued_data_bytes, queued);
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, std::string(room, 'q')).error, Errc::ok);
  EXPECT_EQ(alpha.stats().outbound_in_flight, 3u);
  // Once the peer reads again, everything queued goes out and is served.
  cluster.net().set_stalled(kA, kB, false);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 3; }));
  EXPECT_EQ(cluster.recorder(kB).held[2].payload.size(), room);
}

// With the defaults max_queued_bytes (32 MiB) is below max_message_bytes (64 MiB): a request
// between the two still goes when nothing waits, and the next one waits its turn.
TEST(RequestContracts, APayloadOverMaxQueuedBytesGoesIntoEmptyLanesAndOnlyThere) {
  constexpr std::size_t kLimit = 10'000;
  Cluster cluster = connected_pair(for_node("alpha", [](NodeConfig& config) {
    config.limits.max_queued_bytes = kLimit;
    config.limits.output_high_water_bytes = 1;
  }));
  ASSERT_TRUE(cluster.run_until_connected());
  cluster.net().set_stalled(kA, kB, true);
  PeerConnection alpha = cluster.to(kA, kB);
  ASSERT_EQ(alpha.stats().queued_data_bytes, 0u);
  const std::string large(10 * kLimit, 'L');  // longer than a part: parts wait in a lane
  ASSERT_EQ(cluster.request(kA, kB, kHoldHandler, large).error, Errc::ok);
  ASSERT_GT(alpha.stats().queued_data_bytes, 0u);  // its later parts wait
  EXPECT_EQ(cluster.request(kA, kB, kHoldHandler, large).error, Errc::queue_full);
  cluster.net().set_stalled(kA, kB, false);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 1; }));
  EXPECT_EQ(cluster.recorder(kB).held[0].payload.size(), large.size());
}

// max_queued_bytes bounds requests only: responses fall under max_queued_response_bytes
// (tests/memory_limits_test.cpp), so a response past max_queued_bytes is still taken.
TEST(RequestContracts, MaxQueuedBytesNeverRefusesAResponse) {
  constexpr std::size_t kLimit = 1'000;
  Cluster cluster = connected_pair(for_node("bravo", [](NodeConfig& config) {
    config.limits.max_queued_bytes = kLimit;
    config.limits.output_high_water_bytes = 1;
  }));
  ASSERT_TRUE(cluster.run_until_connected());
  const Call first = cluster.request(kA, kB, kHoldHandler, "x");
  const Call second = cluster.request(kA, kB, kHoldHandler, "y");
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 2; }));
  cluster.net().set_stalled(kB, kA, true);
  PeerConnection bravo = cluster.to(kB, kA);
  const std::vector<std::uint8_t> big(kLimit + 1, 'r');
  EXPECT_EQ(bravo.respond(cluster.now(), cluster.recorder(kB).held[0].id, big), Errc::ok);
  EXPECT_EQ(bravo.respond(cluster.now(), cluster.recorder(kB).held[1].id, big), Errc::ok);
  EXPECT_GT(bravo.stats().queued_data_bytes, kLimit);  // the second waits in a lane
  // A request in the same state is refused.
  EXPECT_EQ(cluster.request(kB, kA, kEchoHandler, "z").error, Errc::queue_full);
  cluster.net().set_stalled(kB, kA, false);
  ASSERT_TRUE(cluster.run_until_done(kA, first.id));
  ASSERT_TRUE(cluster.run_until_done(kA, second.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(second.id)->payload, big);
}

void register_stream_handler_on_both(Cluster& cluster, StreamWindow window = {}) {
  ASSERT_EQ(cluster.node(kA).register_stream_handler(kStreamHandler, {}, window), Errc::ok);
  ASSERT_EQ(cluster.node(kB).register_stream_handler(kStreamHandler, {}, window), Errc::ok);
}

bool run_until_opened_at(Cluster& cluster, std::size_t at, std::size_t count) {
  return cluster.settle([&] { return cluster.recorder(at).streams_opened.size() == count; });
}

// max_streams counts streams both ways: this side's own opens fail with queue_full.
TEST(RequestContracts, MaxStreamsLocallyTheNthOpenSucceedsTheNextIsQueueFull) {
  Cluster cluster =
      connected_pair(for_node("alpha", [](NodeConfig& config) { config.limits.max_streams = 2; }));
  ASSERT_TRUE(cluster.run_until_connected());
  register_stream_handler_on_both(cluster);
  // One stream the peer opened, one this side opened: at the limit of 2.
  ASSERT_EQ(cluster.to(kB, kA).open_stream(cluster.now(), stream_args(kStreamHandler)).error,
            Errc::ok);
  ASSERT_TRUE(run_until_opened_at(cluster, kA, 1));
  const OpenedStream second =
      cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler));
  EXPECT_EQ(second.error, Errc::ok);
  EXPECT_EQ(cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler)).error,
            Errc::queue_full);
  EXPECT_EQ(cluster.to(kA, kB).stats().streams_open, 2u);
  // Ending one (and flushing its frames) makes room again.
  ASSERT_EQ(cluster.to(kA, kB).stream_cancel(cluster.now(), second.id), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler)).error,
            Errc::ok);
}

// The serving side refuses a stream over its max_streams with stream_reject(busy): the
// opener's StreamEnded carries busy.
TEST(RequestContracts, MaxStreamsAtThePeerTheNthIsAcceptedTheNextEndsBusy) {
  Cluster cluster =
      connected_pair(for_node("bravo", [](NodeConfig& config) { config.limits.max_streams = 2; }));
  ASSERT_TRUE(cluster.run_until_connected());
  register_stream_handler_on_both(cluster);
  ASSERT_EQ(cluster.to(kB, kA).open_stream(cluster.now(), stream_args(kStreamHandler)).error,
            Errc::ok);  // bravo's own stream counts too
  const OpenedStream at_limit =
      cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler));
  const OpenedStream past =
      cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler));
  ASSERT_EQ(at_limit.error, Errc::ok);
  ASSERT_EQ(past.error, Errc::ok);  // alpha's own limit is the default
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kA).ended(past.id) != nullptr; }));
  EXPECT_EQ(cluster.recorder(kA).ended(past.id)->result, Errc::busy);
  EXPECT_EQ(cluster.recorder(kA).ended(at_limit.id), nullptr);
  ASSERT_EQ(cluster.recorder(kB).streams_opened.size(), 1u);
  EXPECT_EQ(cluster.recorder(kB).streams_opened[0].event.id.mux, at_limit.id.mux);
}

TEST(RequestContracts, MaxStreamReceiveBytesLocallyAWindowFillingTheBudgetOpensOneMoreIsQueueFull) {
  constexpr std::uint32_t kWindow = 1'500;
  Cluster cluster = connected_pair(for_node(
      "alpha", [](NodeConfig& config) { config.limits.max_stream_receive_bytes = 2 * kWindow; }));
  ASSERT_TRUE(cluster.run_until_connected());
  register_stream_handler_on_both(cluster);
  StreamArgs args = stream_args(kStreamHandler);
  args.window = {4, kWindow};
  PeerConnection alpha = cluster.to(kA, kB);
  const OpenedStream first = alpha.open_stream(cluster.now(), args);
  ASSERT_EQ(first.error, Errc::ok);
  ASSERT_EQ(alpha.open_stream(cluster.now(), args).error, Errc::ok);  // exactly the budget
  args.window = {4, 1};
  EXPECT_EQ(alpha.open_stream(cluster.now(), args).error, Errc::queue_full);
  // The budget comes back when a stream is gone.
  ASSERT_EQ(alpha.stream_cancel(cluster.now(), first.id), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  args.window = {4, kWindow};
  EXPECT_EQ(alpha.open_stream(cluster.now(), args).error, Errc::ok);
}

TEST(RequestContracts, MaxStreamReceiveBytesAtThePeerAWindowPastTheBudgetEndsBusy) {
  constexpr std::uint32_t kWindow = 1'500;
  Cluster cluster = connected_pair(for_node(
      "bravo", [](NodeConfig& config) { config.limits.max_stream_receive_bytes = 2 * kWindow; }));
  ASSERT_TRUE(cluster.run_until_connected());
  register_stream_handler_on_both(cluster, StreamWindow{4, kWindow});
  StreamArgs with_input = stream_args(kStreamHandler);
  with_input.has_input = true;  // bravo grants its handler's window for alpha's messages
  std::vector<OpenedStream> opened;
  for (int i = 0; i < 3; ++i)
    opened.push_back(cluster.to(kA, kB).open_stream(cluster.now(), with_input));
  // A stream without input needs no receive window, so it still fits.
  const OpenedStream no_input =
      cluster.to(kA, kB).open_stream(cluster.now(), stream_args(kStreamHandler));
  for (const OpenedStream& stream : opened)
    ASSERT_EQ(stream.error, Errc::ok);
  ASSERT_EQ(no_input.error, Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kA).ended(opened[2].id) != nullptr; }));
  EXPECT_EQ(cluster.recorder(kA).ended(opened[2].id)->result, Errc::busy);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.recorder(kA).ended(opened[0].id), nullptr);
  EXPECT_EQ(cluster.recorder(kA).ended(opened[1].id), nullptr);
  EXPECT_EQ(cluster.recorder(kA).ended(no_input.id), nullptr);
  EXPECT_EQ(cluster.recorder(kB).streams_opened.size(), 3u);
}

// A stream's initial payload is charged to the acceptor's max_stream_receive_bytes until the
// stream ends. Before, streams without input were free: a peer could open max_streams of
// them with a frame's payload each (32 GiB at the defaults) while the application had not
// read its events.
TEST(RequestContracts, MaxStreamReceiveBytesAtThePeerCountsInitialPayloadsUntilTheStreamEnds) {
  constexpr std::uint64_t kBudget = 3'000;
  Cluster cluster = connected_pair(for_node(
      "bravo", [](NodeConfig& config) { config.limits.max_stream_receive_bytes = kBudget; }));
  ASSERT_TRUE(cluster.run_until_connected());
  register_stream_handler_on_both(cluster);
  const std::string payload(1'200, 'p');
  StreamArgs with_payload = stream_args(kStreamHandler);
  with_payload.has_payload = true;
  with_payload.payload = as_bytes(payload);
  std::vector<OpenedStream> opened;
  for (int i = 0; i < 3; ++i)
    opened.push_back(cluster.to(kA, kB).open_stream(cluster.now(), with_payload));
  for (const OpenedStream& stream : opened)
    ASSERT_EQ(stream.error, Errc::ok);
  // Two fit (2400 bytes), the third would pass 3000.
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kA).ended(opened[2].id) != nullptr; }));
  EXPECT_EQ(cluster.recorder(kA).ended(opened[2].id)->result, Errc::busy);
  EXPECT_EQ(cluster.recorder(kA).ended(opened[0].id), nullptr);
  EXPECT_EQ(cluster.recorder(kB).streams_opened.size(), 2u);
  // Ending one gives its payload's share back.
  ASSERT_EQ(cluster.to(kA, kB).stream_cancel(cluster.now(), opened[0].id), Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  const OpenedStream again = cluster.to(kA, kB).open_stream(cluster.now(), with_payload);
  ASSERT_EQ(again.error, Errc::ok);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.recorder(kA).ended(again.id), nullptr);
  EXPECT_EQ(cluster.recorder(kB).streams_opened.size(), 3u);
}

// ---- a node driven by hand, its peer played by the test ----------------------------------

// A reason text the peer sends is kept to its first 4096 bytes (PROTOCOL.md §9.2): a
// stream_reset's text of 100 KB reaches the application clipped.
TEST(RequestContracts, AStreamResetsTextIsKeptToItsFirst4096Bytes) {
  testing::ScriptedPeer peer = testing::accepted({});
  peer.feed(Frame{.op = Op::stream_open, .mux = 2, .handler = testing::kStreamHandler});
  ASSERT_EQ(peer.all<event::StreamOpened>().size(), 1u);
  const std::string text(100'000, 'r');
  peer.feed(Frame{.op = Op::stream_reset,
                  .mux = 2,
                  .status = static_cast<std::uint16_t>(Status::canceled),
                  .payload = as_bytes(text)});
  const auto ended = peer.all<event::StreamEnded>();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].message, text.substr(0, 4096));
}

// Each request for a handler the node does not serve needs an answer in the control lane.
// A peer that keeps sending them while never reading fills that lane: at max_control_frames
// queued the connection stays, one more closes it.
TEST(RequestContracts, MaxControlFramesAtTheLimitTheConnectionStaysOneMoreClosesIt) {
  constexpr std::size_t kLimit = 4;
  // The script feeds frames and never reads the node's output (a peer that does not read).
  testing::ScriptedPeer peer = testing::accepted(
      [](NodeConfig& config) {
        config.limits.max_control_frames = kLimit;
        config.limits.output_high_water_bytes = 1;  // the welcome alone fills the output buffer
      },
      testing::Welcome::unread);
  PeerConnection connection = peer.connection();
  for (std::uint64_t i = 1; i <= kLimit; ++i) {
    peer.feed(Frame{.op = Op::request, .mux = 2 * i, .handler = kUnregisteredHandler});
    EXPECT_EQ(connection.stats().queued_control_frames, i);
  }
  EXPECT_EQ(connection.state(), PeerState::established);
  EXPECT_FALSE(peer.first<event::PeerDown>().has_value());
  peer.feed(Frame{.op = Op::request, .mux = 2 * (kLimit + 1), .handler = kUnregisteredHandler});
  const auto down = peer.first<event::PeerDown>();
  ASSERT_TRUE(down.has_value());
  EXPECT_NE(down->reason.find("control frames"), std::string::npos) << down->reason;
  EXPECT_TRUE(peer.first<event::CloseTransport>().has_value());
  EXPECT_NE(connection.state(), PeerState::established);
}

// A stream_open whose accept finds the control lane full closes the connection (the peer
// does not read), and the stream, never told opened, is not told ended either. Before, it
// was inserted before its accept was queued: the close ended it with a StreamEnded for an
// id the application never saw.
TEST(RequestContracts, AStreamOpenThatOverflowsTheControlLaneEndsNothingNeverOpened) {
  constexpr std::size_t kLimit = 4;
  testing::ScriptedPeer peer = testing::accepted(
      [](NodeConfig& config) {
        config.limits.max_control_frames = kLimit;
        config.limits.output_high_water_bytes = 1;
      },
      testing::Welcome::unread);
  for (std::uint64_t i = 1; i <= kLimit; ++i)
    peer.feed(Frame{.op = Op::request, .mux = 2 * i, .handler = kUnregisteredHandler});
  ASSERT_EQ(peer.connection().state(), PeerState::established);
  peer.feed(
      Frame{.op = Op::stream_open, .mux = 2 * (kLimit + 1), .handler = testing::kStreamHandler});
  ASSERT_TRUE(peer.first<event::PeerDown>().has_value());
  EXPECT_TRUE(peer.all<event::StreamOpened>().empty());
  EXPECT_TRUE(peer.all<event::StreamEnded>().empty());
}

// ---- 3. respond and respond_error ----------------------------------------------------------

// Runs until bravo holds `count` requests of kHoldHandler.
bool run_until_held(Cluster& cluster, std::size_t count) {
  return cluster.settle([&] { return cluster.recorder(kB).held.size() >= count; });
}

// What happened to two answers of `bytes` and `bytes + 1` bytes from bravo to alpha.
struct AnswerPair {
  Errc respond_at = Errc::ok;  // what respond() returned on bravo
  Errc respond_past = Errc::ok;
  Errc seen_at = Errc::ok;  // alpha's RequestDone
  Errc seen_past = Errc::ok;
  std::size_t seen_at_bytes = 0;
  Errc second_respond_past = Errc::ok;  // respond() again after the answer of `bytes + 1`
};

AnswerPair answer_at_and_past(std::size_t bytes, const std::function<void(NodeConfig&)>& adjust) {
  AnswerPair result;
  Cluster cluster = connected_pair(adjust);
  EXPECT_TRUE(cluster.run_until_connected());
  const Call at = cluster.request(kA, kB, kHoldHandler, "x");
  const Call past = cluster.request(kA, kB, kHoldHandler, "y");
  EXPECT_TRUE(run_until_held(cluster, 2));
  PeerConnection bravo = cluster.to(kB, kA);
  const auto& held = cluster.recorder(kB).held;
  result.respond_at = bravo.respond(cluster.now(), held.at(0).id, std::vector<std::uint8_t>(bytes));
  result.respond_past =
      bravo.respond(cluster.now(), held.at(1).id, std::vector<std::uint8_t>(bytes + 1));
  result.second_respond_past = bravo.respond(cluster.now(), held.at(1).id, as_bytes("again"));
  EXPECT_TRUE(cluster.run_until_done(kA, at.id));
  EXPECT_TRUE(cluster.run_until_done(kA, past.id));
  const Recorder& alpha = cluster.recorder(kA);
  if (alpha.done_for(at.id) == nullptr || alpha.done_for(past.id) == nullptr) return result;
  result.seen_at = alpha.done_for(at.id)->result;
  result.seen_at_bytes = alpha.done_for(at.id)->payload.size();
  result.seen_past = alpha.done_for(past.id)->result;
  EXPECT_EQ(alpha.done_count(past.id), 1u);
  return result;
}

// respond() refuses a payload over this node's max_message_bytes: it returns too_large and
// the caller's RequestDone carries too_large. (node.hpp speaks of "the peer's frame limit",
// but payloads over a frame limit travel in parts; the bound is max_message_bytes.)
TEST(RequestContracts, RespondAtMaxMessageBytesIsDeliveredOneByteMoreGivesTheCallerTooLarge) {
  for (std::size_t limit : {1'000u, 50'000u}) {  // sent whole, and sent in parts
    SCOPED_TRACE(limit);
    const AnswerPair answers = answer_at_and_past(
        limit, for_node("bravo", [limit](NodeConfig& c) { c.limits.max_message_bytes = limit; }));
    EXPECT_EQ(answers.respond_at, Errc::ok);
    EXPECT_EQ(answers.seen_at, Errc::ok);
    EXPECT_EQ(answers.seen_at_bytes, limit);
    EXPECT_EQ(answers.respond_past, Errc::too_large);
    EXPECT_EQ(answers.seen_past, Errc::too_large);
    EXPECT_EQ(answers.second_respond_past, Errc::not_found);  // too_large was the answer
  }
}

// The caller's own max_message_bytes bounds the responses it accepts, whether they come
// in parts announcing their size or whole in one frame (below chunk_bytes).
TEST(RequestContracts, ResponseOverTheCallersMaxMessageBytesEndsTheCallTooLarge) {
  for (std::size_t limit : {1'000u, 50'000u}) {  // sent whole, and sent in parts
    SCOPED_TRACE(limit);
    const AnswerPair answers = answer_at_and_past(
        limit, for_node("alpha", [limit](NodeConfig& c) { c.limits.max_message_bytes = limit; }));
    EXPECT_EQ(answers.respond_past, Errc::ok);  // bravo cannot know alpha's limit
    EXPECT_EQ(answers.seen_at, Errc::ok);
    EXPECT_EQ(answers.seen_at_bytes, limit);
    EXPECT_EQ(answers.seen_past, Errc::too_large);
  }
}

// The serving side's max_message_bytes bounds the requests it accepts, also one sent whole.
TEST(RequestContracts, RequestOverTheReceiversMaxMessageBytesIsAnsweredTooLarge) {
  for (std::size_t limit : {1'000u, 50'000u}) {  // sent whole, and sent in parts
    SCOPED_TRACE(limit);
    Cluster cluster = connected_pair(
        for_node("bravo", [limit](NodeConfig& c) { c.limits.max_message_bytes = limit; }));
    ASSERT_TRUE(cluster.run_until_connected());
    const Call at = cluster.request(kA, kB, kHoldHandler, std::string(limit, 'a'));
    const Call past = cluster.request(kA, kB, kHoldHandler, std::string(limit + 1, 'b'));
    ASSERT_TRUE(cluster.run_until_done(kA, past.id));
    EXPECT_EQ(cluster.recorder(kA).done_for(past.id)->result, Errc::too_large);
    ASSERT_EQ(cluster.recorder(kB).held.size(), 1u);  // only the one at the limit
    EXPECT_EQ(cluster.recorder(kB).held[0].payload.size(), limit);
    EXPECT_EQ(cluster.recorder(kA).done_for(at.id), nullptr);
  }
}

TEST(RequestContracts, RequestPayloadAtMaxMessageBytesIsSentOneByteMoreIsTooLarge) {
  constexpr std::size_t kLimit = 50'000;
  Cluster cluster = connected_pair(
      for_node("alpha", [](NodeConfig& config) { config.limits.max_message_bytes = kLimit; }));
  ASSERT_TRUE(cluster.run_until_connected());
  EXPECT_EQ(cluster.request(kA, kB, kEchoHandler, std::string(kLimit + 1, 'm')).error,
            Errc::too_large);
  EXPECT_EQ(cluster.to(kA, kB).stats().outbound_in_flight, 0u);
  const Call at_limit = cluster.request(kA, kB, kEchoHandler, std::string(kLimit, 'e'));
  ASSERT_EQ(at_limit.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, at_limit.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(at_limit.id)->result, Errc::ok);
}

TEST(RequestContracts, ASecondAnswerIsNotFoundWhicheverWayTheFirstWent) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(cluster.request(kA, kB, kHoldHandler, "x").error, Errc::ok);
  ASSERT_TRUE(run_until_held(cluster, 2));
  PeerConnection bravo = cluster.to(kB, kA);
  const InboundId responded = cluster.recorder(kB).held[0].id;
  const InboundId failed = cluster.recorder(kB).held[1].id;
  EXPECT_EQ(bravo.respond(cluster.now(), responded, as_bytes("one")), Errc::ok);
  EXPECT_EQ(bravo.respond(cluster.now(), responded, as_bytes("two")), Errc::not_found);
  EXPECT_EQ(bravo.respond_error(cluster.now(), responded, Errc::busy, "no"), Errc::not_found);
  EXPECT_EQ(bravo.respond_error(cluster.now(), failed, Errc::busy, "one"), Errc::ok);
  EXPECT_EQ(bravo.respond_error(cluster.now(), failed, Errc::busy, "two"), Errc::not_found);
  EXPECT_EQ(bravo.respond(cluster.now(), failed, as_bytes("two")), Errc::not_found);
  // A request that never existed.
  EXPECT_EQ(bravo.respond(cluster.now(), InboundId{responded.generation, 1'000'001}, {}),
            Errc::not_found);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.recorder(kA).done.size(), 2u);  // exactly one answer each
}

TEST(RequestContracts, RespondErrorWithOkIsInvalidAndLeavesTheRequestAnswerable) {
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(kA, kB, kHoldHandler, "x");
  ASSERT_TRUE(run_until_held(cluster, 1));
  PeerConnection bravo = cluster.to(kB, kA);
  const InboundId id = cluster.recorder(kB).held[0].id;
  EXPECT_EQ(bravo.respond_error(cluster.now(), id, Errc::ok, "fine"), Errc::invalid_argument);
  cluster.net().run_for(ns_from_ms(10));
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id), nullptr);  // nothing was sent
  EXPECT_EQ(bravo.respond(cluster.now(), id, as_bytes("answer")), Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::ok);
}

// respond_error: the caller's RequestDone carries `code` when the wire has a status for it,
// remote_error otherwise, and the message either way.
TEST(RequestContracts, RespondErrorCodesWithAWireStatusArriveAsThemselvesOthersAsRemoteError) {
  struct Case {
    Errc sent;
    Errc seen;
  };
  const std::vector<Case> cases = {
      {Errc::remote_error, Errc::remote_error},
      {Errc::unknown_handler, Errc::unknown_handler},
      {Errc::busy, Errc::busy},
      {Errc::deadline_exceeded, Errc::deadline_exceeded},
      {Errc::canceled, Errc::canceled},
      {Errc::too_large, Errc::too_large},
      {Errc::shutting_down, Errc::shutting_down},
      {Errc::protocol_error, Errc::protocol_error},
      {Errc::bad_payload, Errc::bad_payload},
      {Errc::keepalive_timeout, Errc::keepalive_timeout},
      // A local queue at its limit is the wire's busy ("the receiver's queue is full").
      {Errc::queue_full, Errc::busy},
      // No wire status: remote_error.
      {Errc::disconnected, Errc::remote_error},
      {Errc::unknown_peer, Errc::remote_error},
      {Errc::not_found, Errc::remote_error},
      {Errc::invalid_argument, Errc::remote_error},
      {Errc::no_credit, Errc::remote_error},
      {Errc::stream_closed, Errc::remote_error},
  };
  Cluster cluster = connected_pair();
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<RequestId> ids;
  for (std::size_t i = 0; i < cases.size(); ++i)
    ids.push_back(cluster.request(kA, kB, kHoldHandler, "x").id);
  ASSERT_TRUE(run_until_held(cluster, cases.size()));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string message = "because " + std::string(errc_name(cases[i].sent));
    ASSERT_EQ(cluster.to(kB, kA).respond_error(cluster.now(), cluster.recorder(kB).held[i].id,
                                               cases[i].sent, message),
              Errc::ok);
  }
  cluster.net().run_for(ns_from_ms(10));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(errc_name(cases[i].sent));
    const auto* done = cluster.recorder(kA).done_for(ids[i]);
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(errc_name(done->result), errc_name(cases[i].seen));
    EXPECT_EQ(testing::text_of(done->payload), "because " + std::string(errc_name(cases[i].sent)));
  }
}

}  // namespace
}  // namespace weft
