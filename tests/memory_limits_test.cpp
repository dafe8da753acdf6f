// Memory a peer can make a node hold through requests (issue 14, item 3; DESIGN.md rule 8):
// responses queued and not yet written (max_queued_response_bytes), and payloads of requests
// accepted and not yet answered plus those responses (max_inbound_request_bytes). Each limit
// at its boundary and one past it, and a peer that keeps asking while never reading its
// answers: the node stays within its bounds, closes that connection with a reason, and keeps
// serving another peer meanwhile. Part of weft_request_contract_tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <utility>
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

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;
constexpr std::size_t kC = 2;

std::vector<std::uint8_t> bytes_of(std::size_t size, char fill) {
  return std::vector<std::uint8_t>(size, static_cast<std::uint8_t>(fill));
}

// The most this node can hold for a peer's requests, whatever the peer does: the queued
// responses may pass their limit by one frame header (config.hpp).
std::size_t response_bound(const ConnectionLimits& limits) {
  return limits.max_queued_response_bytes + kResponseFrameOverheadBytes;
}

// The largest figures a connection's stats reached, checked against its limits at the end.
struct Peaks {
  std::size_t data = 0;       // queued_data_bytes
  std::size_t responses = 0;  // queued_response_bytes
  std::size_t requests = 0;   // inbound_request_bytes
  std::size_t held = 0;       // both
  std::size_t control = 0;    // queued_control_frames

  void take(const PeerStats& stats) {
    data = std::max(data, stats.queued_data_bytes);
    responses = std::max(responses, stats.queued_response_bytes);
    requests = std::max(requests, stats.inbound_request_bytes);
    held = std::max(held, stats.inbound_request_bytes + stats.queued_response_bytes);
    control = std::max(control, stats.queued_control_frames);
  }
  // The node sends no requests of its own here: everything queued is an answer.
  void expect_within(const ConnectionLimits& limits) const {
    EXPECT_LE(data, response_bound(limits));
    EXPECT_LE(responses, response_bound(limits));
    EXPECT_LE(requests, limits.max_inbound_request_bytes);
    EXPECT_LE(held, limits.max_inbound_request_bytes + response_bound(limits));
    EXPECT_LE(control, limits.max_control_frames);
  }
};

// ---- max_queued_response_bytes -------------------------------------------------------------

// Bravo's transport to alpha is stalled (alpha does not read) and its output buffer full:
// a response whose payload fits the room left in max_queued_response_bytes is queued, one
// byte more is not: respond() returns queue_full and alpha's call ends busy (the request is
// answered), while the connection stays up and every queued answer arrives once alpha reads.
TEST(MemoryLimits, QueuedResponseBytesAPayloadFillingTheRoomIsQueuedOneByteMoreAnswersBusy) {
  constexpr std::size_t kLimit = 10'000;
  Cluster cluster({"alpha", "bravo"}, {}, for_node("bravo", [](NodeConfig& config) {
                    config.limits.max_queued_response_bytes = kLimit;
                    config.limits.max_message_bytes = kLimit;
                    config.limits.output_high_water_bytes = 1;  // one frame fills the output
                  }));
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<Call> calls;
  for (int i = 0; i < 4; ++i)
    calls.push_back(cluster.request(kA, kB, kHoldHandler, "x"));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 4; }));
  cluster.net().set_stalled(kB, kA, true);
  PeerConnection bravo = cluster.to(kB, kA);
  const auto& held = cluster.recorder(kB).held;
  ASSERT_EQ(bravo.respond(cluster.now(), held[0].id, as_bytes("fills the output buffer")),
            Errc::ok);
  EXPECT_EQ(bravo.stats().queued_response_bytes, 0u);
  ASSERT_EQ(bravo.respond(cluster.now(), held[1].id, as_bytes("waits in a lane")), Errc::ok);
  const std::size_t queued = bravo.stats().queued_response_bytes;
  ASSERT_GT(queued, 0u);
  ASSERT_LT(queued, kLimit);
  EXPECT_EQ(bravo.stats().queued_data_bytes, queued);
  const std::size_t room = kLimit - queued;
  // One byte past the room: not queued, the caller gets busy, the request is answered.
  EXPECT_EQ(bravo.respond(cluster.now(), held[2].id, bytes_of(room + 1, 'p')), Errc::queue_full);
  EXPECT_EQ(bravo.stats().queued_response_bytes, queued);
  EXPECT_EQ(bravo.respond(cluster.now(), held[2].id, as_bytes("again")), Errc::not_found);
  EXPECT_EQ(bravo.stats().inbound_in_flight, 1u);
  // Exactly the room: queued.
  EXPECT_EQ(bravo.respond(cluster.now(), held[3].id, bytes_of(room, 'r')), Errc::ok);
  EXPECT_GE(bravo.stats().queued_response_bytes, kLimit);
  EXPECT_LE(bravo.stats().queued_response_bytes, response_bound(cluster.node(kB).config().limits));
  EXPECT_EQ(bravo.stats().inbound_in_flight, 0u);
  EXPECT_EQ(bravo.state(), PeerState::established);
  // Once alpha reads again, every answer arrives: three payloads and one busy.
  cluster.net().set_stalled(kB, kA, false);
  for (const Call& call : calls)
    ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  const testing::Recorder& alpha = cluster.recorder(kA);
  EXPECT_EQ(alpha.done_for(calls[0].id)->result, Errc::ok);
  EXPECT_EQ(alpha.done_for(calls[1].id)->result, Errc::ok);
  EXPECT_EQ(alpha.done_for(calls[2].id)->result, Errc::busy);
  EXPECT_EQ(alpha.done_for(calls[3].id)->result, Errc::ok);
  EXPECT_EQ(alpha.done_for(calls[3].id)->payload.size(), room);
  EXPECT_EQ(alpha.done_count(calls[2].id), 1u);
  EXPECT_EQ(bravo.stats().queued_response_bytes, 0u);
  EXPECT_TRUE(cluster.connected(kA, kB));
}

// respond_error's answers are responses too: over the room, the caller gets busy instead.
TEST(MemoryLimits, QueuedResponseBytesAnErrorAnswerPastTheRoomAnswersBusy) {
  constexpr std::size_t kLimit = 1'000;
  Cluster cluster({"alpha", "bravo"}, {}, for_node("bravo", [](NodeConfig& config) {
                    config.limits.max_queued_response_bytes = kLimit;
                    config.limits.max_message_bytes = kLimit;
                    config.limits.output_high_water_bytes = 1;
                  }));
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<Call> calls;
  for (int i = 0; i < 3; ++i)
    calls.push_back(cluster.request(kA, kB, kHoldHandler, "x"));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 3; }));
  cluster.net().set_stalled(kB, kA, true);
  PeerConnection bravo = cluster.to(kB, kA);
  const auto& held = cluster.recorder(kB).held;
  ASSERT_EQ(bravo.respond(cluster.now(), held[0].id, as_bytes("fills the output buffer")),
            Errc::ok);
  ASSERT_EQ(bravo.respond(cluster.now(), held[1].id, bytes_of(kLimit - 10, 'f')), Errc::ok);
  const std::string message(100, 'm');  // more than the room left
  EXPECT_EQ(bravo.respond_error(cluster.now(), held[2].id, Errc::remote_error, message),
            Errc::queue_full);
  EXPECT_LE(bravo.stats().queued_response_bytes, response_bound(cluster.node(kB).config().limits));
  cluster.net().set_stalled(kB, kA, false);
  ASSERT_TRUE(cluster.run_until_done(kA, calls[2].id));
  EXPECT_EQ(cluster.recorder(kA).done_for(calls[2].id)->result, Errc::busy);
}

// ---- max_inbound_request_bytes -------------------------------------------------------------

// Payloads handed to the application and not yet answered add up to at most the limit
// (requests over chunk_bytes travel in parts and are counted by their announced size): a
// request that fills it exactly is delivered, one byte more is answered busy at once and
// never seen by the application. Answering one frees its bytes.
TEST(MemoryLimits, InboundRequestBytesARequestFillingTheBudgetIsDeliveredOneByteMoreIsBusy) {
  constexpr std::size_t kLimit = 100'000;  // both requests below exceed chunk_bytes (32 KiB)
  Cluster cluster({"alpha", "bravo"}, {}, for_node("bravo", [](NodeConfig& config) {
                    config.limits.max_inbound_request_bytes = kLimit;
                    config.limits.max_message_bytes = kLimit;
                  }));
  ASSERT_TRUE(cluster.run_until_connected());
  PeerConnection bravo = cluster.to(kB, kA);
  const Call first = cluster.request(kA, kB, kHoldHandler, std::string(60'000, 'a'));
  const Call second = cluster.request(kA, kB, kHoldHandler, std::string(kLimit - 60'000, 'b'));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 2; }));
  EXPECT_EQ(bravo.stats().inbound_request_bytes, kLimit);
  ASSERT_EQ(cluster.recorder(kB).held[0].payload.size(), 60'000u);
  const Call past = cluster.request(kA, kB, kHoldHandler, "c");
  ASSERT_TRUE(cluster.run_until_done(kA, past.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(past.id)->result, Errc::busy);
  EXPECT_EQ(cluster.recorder(kB).received.size(), 2u);
  EXPECT_EQ(bravo.stats().inbound_request_bytes, kLimit);
  // An empty request takes nothing from the budget.
  const Call empty = cluster.request(kA, kB, kHoldHandler, "");
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 3; }));
  // Answering the first frees its 60000 bytes: exactly that much fits again, not a byte more.
  ASSERT_EQ(bravo.respond(cluster.now(), cluster.recorder(kB).held[0].id, {}), Errc::ok);
  EXPECT_EQ(bravo.stats().inbound_request_bytes, kLimit - 60'000);
  const Call over = cluster.request(kA, kB, kHoldHandler, std::string(60'001, 'd'));
  ASSERT_TRUE(cluster.run_until_done(kA, over.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(over.id)->result, Errc::busy);
  const Call fits = cluster.request(kA, kB, kHoldHandler, std::string(60'000, 'e'));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 4; }));
  EXPECT_EQ(cluster.recorder(kA).done_for(fits.id), nullptr);
  EXPECT_EQ(bravo.stats().inbound_request_bytes, kLimit);
  // A canceled request frees its bytes too.
  ASSERT_EQ(cluster.to(kA, kB).cancel(cluster.now(), second.id), Errc::ok);
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).canceled.size() == 1; }));
  EXPECT_EQ(bravo.stats().inbound_request_bytes, 60'000u);
  ASSERT_TRUE(cluster.run_until_done(kA, first.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(first.id)->result, Errc::ok);
  EXPECT_EQ(cluster.recorder(kA).done_for(empty.id), nullptr);
  EXPECT_TRUE(cluster.connected(kA, kB));
}

// The same budget counts the responses queued for the peer: a peer that does not read its
// answers gets no new work done once they fill it.
TEST(MemoryLimits, InboundRequestBytesCountQueuedResponsesARequestPastWhatIsLeftIsBusy) {
  constexpr std::size_t kLimit = 10'000;
  Cluster cluster({"alpha", "bravo"}, {}, for_node("bravo", [](NodeConfig& config) {
                    config.limits.max_inbound_request_bytes = kLimit;
                    config.limits.max_message_bytes = kLimit;
                    config.limits.output_high_water_bytes = 1;
                  }));
  ASSERT_TRUE(cluster.run_until_connected());
  const Call a = cluster.request(kA, kB, kHoldHandler, "fill");
  const Call b = cluster.request(kA, kB, kHoldHandler, std::string(1'000, 'q'));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 2; }));
  cluster.net().set_stalled(kB, kA, true);
  PeerConnection bravo = cluster.to(kB, kA);
  const auto& held = cluster.recorder(kB).held;
  ASSERT_EQ(bravo.respond(cluster.now(), held[0].id, as_bytes("fills the output buffer")),
            Errc::ok);
  ASSERT_EQ(bravo.respond(cluster.now(), held[1].id, bytes_of(3'000, 'r')), Errc::ok);
  const PeerStats stats = bravo.stats();
  ASSERT_GT(stats.queued_response_bytes, 3'000u);
  EXPECT_EQ(stats.inbound_request_bytes, 0u);
  const std::size_t left = kLimit - stats.queued_response_bytes;
  // Requests still reach bravo (only bravo's output is stalled); their answers do not leave.
  const Call past = cluster.request(kA, kB, kHoldHandler, std::string(left + 1, 'p'));
  const Call fits = cluster.request(kA, kB, kHoldHandler, std::string(left, 'f'));
  ASSERT_TRUE(cluster.settle([&] { return cluster.recorder(kB).held.size() == 3; }));
  EXPECT_EQ(held[2].payload.size(), left);
  EXPECT_EQ(bravo.stats().inbound_request_bytes + bravo.stats().queued_response_bytes, kLimit);
  cluster.net().set_stalled(kB, kA, false);
  ASSERT_TRUE(cluster.run_until_done(kA, past.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(past.id)->result, Errc::busy);
  ASSERT_TRUE(cluster.run_until_done(kA, b.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(a.id)->result, Errc::ok);
  EXPECT_EQ(cluster.recorder(kA).done_for(fits.id), nullptr);
}

TEST(MemoryLimits, ConfigResponseAndInboundBudgetsMustHoldOneLargestMessage) {
  const auto accepts = [](const std::function<void(NodeConfig&)>& change) {
    NodeConfig config = testing::test_config("alpha", {"bravo"});
    config.limits.max_message_bytes = 1'000;
    change(config);
    return testing::node_accepts(std::move(config));
  };
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_queued_response_bytes = 1'000; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_queued_response_bytes = 999; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_inbound_request_bytes = 1'000; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_inbound_request_bytes = 999; }));
}

// ---- a peer that asks and never reads ------------------------------------------------------

// The peer (played by the test) sends echo requests and never reads a byte; the application
// answers every request it is given. The node holds at most its configured bytes for that
// peer at every step: answers past max_queued_response_bytes and requests past
// max_inbound_request_bytes are refused busy in the control lane, and once that lane passes
// max_control_frames the connection is closed with a reason.
TEST(MemoryLimits, APeerThatOnlySendsRequestsNeverPushesTheNodePastItsBounds) {
  constexpr std::size_t kBudget = 8 * 1024;
  constexpr std::size_t kPayload = 1'000;
  constexpr std::size_t kControlFrames = 16;
  testing::ScriptedPeer peer = testing::accepted(
      [](NodeConfig& config) {
        config.limits.max_queued_response_bytes = kBudget;
        config.limits.max_inbound_request_bytes = kBudget;
        config.limits.max_message_bytes = 4 * 1024;
        config.limits.max_control_frames = kControlFrames;
        config.limits.output_high_water_bytes = 1;  // the welcome alone fills the output
      },
      testing::Welcome::unread);
  PeerConnection connection = peer.connection();
  const ConnectionLimits& limits = peer.node().config().limits;
  std::size_t answered = 0;
  std::size_t refused = 0;
  Peaks peak;
  std::size_t fed = 0;
  const std::string payload(kPayload, 'x');
  for (std::uint64_t mux = 2; fed < 1'000 && connection.state() == PeerState::established;
       mux += 2, ++fed) {
    peer.feed(Frame{
        .op = Op::request, .mux = mux, .handler = kEchoHandler, .payload = as_bytes(payload)});
    for (const auto& request : peer.all<event::RequestReceived>()) {
      if (request.id.mux != mux) continue;
      const Errc result = connection.respond(0, request.id, request.payload);
      (result == Errc::ok ? answered : refused) += 1;
      EXPECT_TRUE(result == Errc::ok || result == Errc::queue_full) << errc_name(result);
    }
    peak.take(connection.stats());
  }
  std::cout << "fed " << fed << " requests of " << kPayload << " bytes: " << answered
            << " answers queued, " << refused << " refused at respond; peak queued data "
            << peak.data << " bytes, peak held " << peak.held << " bytes\n";
  peak.expect_within(limits);
  EXPECT_LT(fed, 100u);  // cut off long before the script ran out
  // The connection was closed, with a reason, once the refusals filled the control lane.
  const auto down = peer.first<event::PeerDown>();
  ASSERT_TRUE(down.has_value());
  EXPECT_NE(down->reason.find("does not read"), std::string::npos) << down->reason;
  EXPECT_TRUE(peer.first<event::CloseTransport>().has_value());
  const PeerStats after = connection.stats();
  EXPECT_EQ(after.queued_data_bytes, 0u);
  EXPECT_EQ(after.inbound_request_bytes, 0u);
}

// Three nodes under simulated time: alpha keeps sending echo requests to bravo and never
// reads bravo's output (bravo's transport to alpha is stalled); charlie sends requests to
// bravo at the same time. Bravo never holds more for alpha than its bounds, closes alpha's
// connection with a reason, and serves every one of charlie's requests meanwhile.
TEST(MemoryLimits, ANonReadingPeerIsBoundedAndCutOffWhileAnotherPeerIsServed) {
  constexpr std::size_t kBudget = 64 * 1024;
  Cluster cluster({"alpha", "bravo", "charlie"}, {}, for_node("bravo", [](NodeConfig& config) {
                    config.limits.max_queued_response_bytes = kBudget;
                    config.limits.max_inbound_request_bytes = kBudget;
                    config.limits.max_message_bytes = 16 * 1024;
                    config.limits.max_control_frames = 256;
                    config.limits.output_high_water_bytes = 4 * 1024;
                  }));
  ASSERT_TRUE(cluster.run_until_connected());
  cluster.net().set_stalled(kB, kA, true);
  const ConnectionLimits& limits = cluster.node(kB).config().limits;
  const std::string payload(1'000, 'a');
  std::vector<RequestId> alpha_calls;
  std::vector<RequestId> charlie_calls;
  Peaks peak;
  for (int ms = 0; ms < 2'000; ++ms) {
    const Call call = cluster.request(kA, kB, kEchoHandler, payload, 30'000);
    if (call.error == Errc::ok) alpha_calls.push_back(call.id);
    if (ms % 10 == 0) {
      const Call served = cluster.request(kC, kB, kEchoHandler, "charlie " + std::to_string(ms));
      ASSERT_EQ(served.error, Errc::ok);
      charlie_calls.push_back(served.id);
    }
    cluster.net().run_for(ns_from_ms(1));
    peak.take(cluster.to(kB, kA).stats());
  }
  std::cout << "alpha sent " << alpha_calls.size() << " requests of " << payload.size()
            << " bytes; bravo's peak queued data to alpha " << peak.data << " bytes, peak held "
            << peak.held << " bytes; bravo closed alpha's connection "
            << cluster.recorder(kB).downs.size() << " times\n";
  peak.expect_within(limits);
  // Bravo cut alpha off with a reason.
  const auto& downs = cluster.recorder(kB).downs;
  ASSERT_FALSE(downs.empty());
  EXPECT_NE(downs.front().event.reason.find("does not read"), std::string::npos)
      << downs.front().event.reason;
  // Charlie was served all along.
  cluster.net().run_for(ns_from_ms(100));
  const testing::Recorder& charlie = cluster.recorder(kC);
  for (RequestId id : charlie_calls) {
    ASSERT_NE(charlie.done_for(id), nullptr);
    EXPECT_EQ(charlie.done_for(id)->result, Errc::ok);
  }
  EXPECT_TRUE(cluster.connected(kC, kB));
  // Every call alpha made ends exactly once (busy or disconnected when its answer could not
  // reach it).
  cluster.net().set_stalled(kB, kA, false);
  ASSERT_TRUE(cluster.net().run_until(
      [&] { return cluster.recorder(kA).done.size() == alpha_calls.size(); },
      cluster.now() + ns_from_ms(40'000)));
  for (RequestId id : alpha_calls)
    EXPECT_EQ(cluster.recorder(kA).done_count(id), 1u);
}

// A response travelling in parts stops when its caller cancels (issue 14, item 6): the parts
// not sent yet are dropped at once, instead of going out to a caller that ignores them.
TEST(MemoryLimits, ResponsePartsWaitingWhenTheCallerCancelsAreDropped) {
  Cluster cluster({"alpha", "bravo"});
  ASSERT_TRUE(cluster.run_until_connected());
  const Call call = cluster.request(kA, kB, kHoldHandler, "big please");
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.net().run_until([&] { return cluster.recorder(kB).held.size() == 1; },
                                      ns_from_ms(1'000)));
  // bravo's output to alpha backs up: its answer waits in the lanes, part after part.
  cluster.net().set_stalled(kB, kA, true);
  constexpr std::size_t kAnswerBytes = 2 << 20;
  std::vector<std::uint8_t> answer(kAnswerBytes, 0x5a);
  ASSERT_EQ(cluster.to(kB, kA).respond(cluster.now(), cluster.recorder(kB).held[0].id,
                                       SharedBytes(std::move(answer))),
            Errc::ok);
  const std::size_t waiting = cluster.to(kB, kA).stats().queued_data_bytes;
  ASSERT_GT(waiting, kAnswerBytes / 2);  // most of it waits
  // alpha gives up; its cancel reaches bravo (that direction is not stalled).
  ASSERT_EQ(cluster.to(kA, kB).cancel(cluster.now(), call.id), Errc::ok);
  cluster.net().run_for(ns_from_ms(1));
  const PeerStats after_cancel = cluster.to(kB, kA).stats();
  // What remains is at most the first part, already encoded before the cancel.
  EXPECT_LE(after_cancel.queued_data_bytes, cluster.node(kB).config().limits.chunk_bytes + 64);
  EXPECT_LE(after_cancel.queued_response_bytes, after_cancel.queued_data_bytes);
  // The connection is healthy, and the canceled call ended exactly once.
  cluster.net().set_stalled(kB, kA, false);
  const Call next = cluster.request(kA, kB, kEchoHandler, "still there?");
  ASSERT_TRUE(cluster.run_until_done(kA, next.id));
  EXPECT_EQ(cluster.recorder(kA).done_for(next.id)->result, Errc::ok);
  EXPECT_EQ(cluster.recorder(kA).done_count(call.id), 1u);
  EXPECT_EQ(cluster.recorder(kA).done_for(call.id)->result, Errc::canceled);
  EXPECT_EQ(cluster.to(kB, kA).stats().queued_data_bytes, 0u);
}

}  // namespace
}  // namespace weft
