// A driver may call on_timer late (node.hpp: "at (or after)" next_deadline()): input that
// arrives after a request's deadline but before that on_timer call finds the request ended
// by its deadline, as a timely on_timer would have left it, and an answer given then is
// not_found. Before,
// deadlines ran only in on_timer: a response read late completed the call ok, and an
// answer given late was sent, against PROTOCOL.md §6.1 (a response after the deadline is
// ignored; nothing is sent once the serving side's deadline passed).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "scripted_peer.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::accepted;
using testing::acceptor_config;
using testing::frames_with;
using testing::hello_frame;
using testing::kEchoHandler;
using testing::prove_as_dialer;
using testing::ScriptedPeer;
using testing::Welcome;

constexpr std::int64_t kTimeoutMs = 100;
const TimeNs kLate = ns_from_ms(2 * kTimeoutMs);  // past the deadline; on_timer not called

TEST(LateTimer, AResponseReadAfterTheDeadlineEndsTheCallDeadlineExceeded) {
  ScriptedPeer peer = accepted();
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("q"), .timeout_ms = kTimeoutMs});
  ASSERT_EQ(call.error, Errc::ok);
  const std::vector<OwnedFrame> requests = frames_with(peer.read().sent, Op::request);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_GT(peer.node().next_deadline(), 0);
  EXPECT_LT(peer.node().next_deadline(), kLate);
  const ScriptedPeer::Step answered = peer.exchange(
      Frame{.op = Op::response, .mux = requests[0].view().mux, .payload = as_bytes("late")}, kLate);
  const auto done = testing::all_of<event::RequestDone>(answered.events);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, call.id);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::deadline_exceeded));
  // The timer, called at last, finds nothing more to end.
  peer.timer(kLate);
  EXPECT_EQ(peer.all<event::RequestDone>().size(), 1u);
}

TEST(LateTimer, AnAnswerGivenAfterTheServingDeadlineIsNotSentAndTheRequestEndsOnce) {
  ScriptedPeer peer = accepted();
  const ScriptedPeer::Step received = peer.exchange(Frame{.op = Op::request,
                                                          .mux = 2,
                                                          .handler = kEchoHandler,
                                                          .deadline_ms = kTimeoutMs,
                                                          .payload = as_bytes("q")});
  const auto requests = testing::all_of<event::RequestReceived>(received.events);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(peer.connection().respond(kLate, requests[0].id, as_bytes("late")), Errc::not_found);
  const ScriptedPeer::Step after = peer.read();
  EXPECT_TRUE(frames_with(after.sent, Op::response).empty());
  const auto canceled = testing::all_of<event::RequestCanceled>(after.events);
  ASSERT_EQ(canceled.size(), 1u);
  EXPECT_EQ(errc_name(canceled[0].reason), errc_name(Errc::deadline_exceeded));
  peer.timer(kLate);
  EXPECT_EQ(peer.all<event::RequestCanceled>().size(), 1u);
}

// What a late deadline ends may close the connection: here the cancel of an expired request
// finds the control lane full (a peer that does not read). The frame read with that input
// is then not handled on the closed connection. (The first fix went on decoding: the
// request below reached the application of a connection already down.)
TEST(LateTimer, InputThatExpiresARequestAndClosesTheConnectionIsNotReadFurther) {
  constexpr std::size_t kLimit = 4;
  ScriptedPeer peer = accepted(
      [](NodeConfig& config) {
        config.limits.max_control_frames = kLimit;
        config.limits.output_high_water_bytes = 1;
      },
      testing::Welcome::unread);
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("q"), .timeout_ms = kTimeoutMs});
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_EQ(frames_with(peer.written(), Op::request).size(), 1u);  // the request went out
  // Answers to unknown handlers: the first fills the output, kLimit more fill the lane.
  for (std::uint64_t i = 1; i <= kLimit + 1; ++i)
    peer.feed(Frame{.op = Op::request, .mux = 2 * i, .handler = 99});
  ASSERT_EQ(peer.connection().stats().queued_control_frames, kLimit);
  peer.feed(Frame{.op = Op::request, .mux = 100, .handler = kEchoHandler}, kLate);
  ASSERT_TRUE(peer.first<event::PeerDown>().has_value());
  EXPECT_NE(peer.first<event::PeerDown>()->reason.find("control frames"), std::string::npos);
  for (const auto& received : peer.all<event::RequestReceived>())
    EXPECT_NE(received.id.mux, 100u) << "read on a connection already closed";
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::deadline_exceeded));
}

// The acceptor of an on-demand pair holds a request while it knocks; the peer dials back
// after the request's deadline, before on_timer ran. That side establishes through its
// Acceptor (the hello and auth), not Connection::on_bytes: the held request ends
// deadline_exceeded there, unsent. (Before, it went out already over, its deadline clamped
// to 1 ms, and the server could run it after its client was told it ended.)
TEST(LateTimer, ARequestHeldForTheDialBackIsNotSentWhenItsDeadlinePassedMeanwhile) {
  ScriptedPeer peer(acceptor_config([](NodeConfig& config) { config.connect_on_demand = true; }));
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("q"), .timeout_ms = kTimeoutMs});
  ASSERT_EQ(call.error, Errc::ok);
  peer.collect();
  ASSERT_TRUE(peer.all<event::RequestDone>().empty());
  peer.set_transport(peer.node().on_accepted(kLate));
  const ScriptedPeer::Step step = prove_as_dialer(peer, hello_frame(), Welcome::read, kLate);
  ASSERT_EQ(peer.connection().state(), PeerState::established);
  EXPECT_TRUE(frames_with(step.sent, Op::request).empty()) << "a request already over was sent";
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, call.id);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::deadline_exceeded));
  peer.timer(kLate);
  EXPECT_EQ(peer.all<event::RequestDone>().size(), 1u);
}

// A request waiting in a lane (the output above its high-water mark) whose deadline passed
// by the latest time the node was told (here, a later command), its timer not run yet, is
// not written when the driver drains the output: it ends by its timer unsent, and no
// cancel follows. (Before, it was written already over, and the late timer then sent a
// cancel for it.)
TEST(LateTimer, ARequestWaitingInALaneIsNotWrittenOnceItsDeadlinePassed) {
  ScriptedPeer peer = accepted(
      [](NodeConfig& config) { config.limits.output_high_water_bytes = 1; }, Welcome::unread);
  const Call over = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("q"), .timeout_ms = kTimeoutMs});
  ASSERT_EQ(over.error, Errc::ok);
  const Call live = peer.connection().request(
      kLate, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("r"), .timeout_ms = 0});
  ASSERT_EQ(live.error, Errc::ok);
  const std::vector<OwnedFrame> requests = frames_with(peer.written(), Op::request);
  ASSERT_EQ(requests.size(), 1u) << "a request already over was written";
  EXPECT_EQ(testing::text_of(requests[0].view().payload), "r");
  peer.timer(kLate);
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, over.id);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::deadline_exceeded));
  EXPECT_TRUE(frames_with(peer.written(), Op::cancel).empty()) << "a cancel for what never went";
}

}  // namespace
}  // namespace weft
