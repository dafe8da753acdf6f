// Contract tests of streams (node.hpp, events.hpp, PROTOCOL.md §6.2), each
// at its boundary and one past it. Flow control and the readable rule are checked against a
// node driven frame by frame by a scripted peer after a real handshake, so every frame's
// arrival and every event it causes are exact; end-to-end behaviour runs on a Cluster.
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "scripted_peer.hpp"
#include "stream_script.hpp"
#include "weft/typed.hpp"

namespace weft {
namespace {

using testing::accept_frame;
using testing::all_of;
using testing::Cluster;
using testing::count_for;
using testing::credit_frame;
using testing::end_frame;
using testing::expect_stream_goes_on;
using testing::expect_stream_protocol_error;
using testing::frames_with;
using testing::kStream;
using testing::msg_frame;
using testing::open_frame;
using testing::open_from_node;
using testing::open_from_script;
using testing::ScriptedPeer;
using testing::stream_peer;
using testing::text_of;

// ---- violations by the peer (PROTOCOL.md §6.2) ------------------------------------------

TEST(StreamContracts, MessageWithTheNextNumberIsTakenAGapOrARepeatIsAStreamProtocolError) {
  for (const std::uint64_t wrong : {3u, 1u}) {  // 2 is due
    ScriptedPeer peer = stream_peer();
    const StreamId id = open_from_script(peer, 2);
    expect_stream_goes_on(peer, peer.exchange(msg_frame(id, 1)), id);
    expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, wrong)), id);
  }
}

TEST(StreamContracts, MessagesUpToTheGrantedCountAreTakenOneMoreIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer(StreamWindow{4, 1000});
  const StreamId id = open_from_script(peer, 2);
  for (std::uint64_t seq = 1; seq <= 4; ++seq)
    expect_stream_goes_on(peer, peer.exchange(msg_frame(id, seq)), id);
  EXPECT_EQ(peer.connection().stream_credits(id)->granted_unused_msgs, 0u);
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, 5)), id);
}

TEST(StreamContracts, CreditReturnedForConsumedMessagesRaisesTheAllowanceByExactlyThat) {
  ScriptedPeer peer = stream_peer(StreamWindow{2, 1000});
  const StreamId id = open_from_script(peer, 2);
  peer.exchange(msg_frame(id, 1));
  peer.exchange(msg_frame(id, 2));
  std::uint64_t returned_msgs = 0;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
    for (const OwnedFrame& frame : frames_with(peer.read().sent, Op::stream_credit))
      returned_msgs += frame.view().credit_msgs;
  }
  EXPECT_EQ(returned_msgs, 2u);
  expect_stream_goes_on(peer, peer.exchange(msg_frame(id, 3)), id);
  expect_stream_goes_on(peer, peer.exchange(msg_frame(id, 4)), id);  // 4 granted in all
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, 5)), id);
}

TEST(StreamContracts, BytesUpToTheGrantedWindowAreTakenOneMoreByteIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 100});
  const StreamId id = open_from_script(peer, 2);
  const std::string sixty(60, 'a');
  const std::string forty(40, 'b');
  expect_stream_goes_on(peer, peer.exchange(msg_frame(id, 1, sixty)), id);
  expect_stream_goes_on(peer, peer.exchange(msg_frame(id, 2, forty)), id);  // exactly 100 bytes
  EXPECT_EQ(peer.connection().stream_credits(id)->unread_bytes, 100u);
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, 3, "c")), id);
}

// An opener without input is granted 0 / 0: any message of it is beyond the credit.
TEST(StreamContracts, MessageOnAStreamOpenedWithoutInputIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer();
  Frame open = open_frame(2, StreamWindow{4, 100});
  open.flags = 0;
  const ScriptedPeer::Step opened = peer.exchange(open);
  const auto accepts = frames_with(opened.sent, Op::stream_accept);
  ASSERT_EQ(accepts.size(), 1u);
  EXPECT_EQ(accepts[0].view().credit_msgs, 0u);
  ASSERT_EQ(all_of<event::StreamOpened>(opened.events).size(), 1u);
  const StreamId id = all_of<event::StreamOpened>(opened.events)[0].id;
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, 1, "")), id);
}

TEST(StreamContracts, EndCountingTheMessagesIsTakenAMessageAfterItIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2);
  peer.exchange(msg_frame(id, 1));
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  // The node's own half is still open, so the stream lives on after the script's end.
  expect_stream_goes_on(peer, peer.exchange(end_frame(id, 1)), id);
  EXPECT_TRUE(peer.connection().stream_input_done(id));
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(id, 2)), id);
}

TEST(StreamContracts, EndClaimingOneMessageMoreOrFewerThanReceivedIsAStreamProtocolError) {
  for (const std::uint64_t claimed : {3u, 1u}) {  // 2 were received
    ScriptedPeer peer = stream_peer();
    const StreamId id = open_from_script(peer, 2);
    peer.exchange(msg_frame(id, 1));
    peer.exchange(msg_frame(id, 2));
    expect_stream_protocol_error(peer, peer.exchange(end_frame(id, claimed)), id);
  }
}

// Not in PROTOCOL.md's list, but a second end on a live stream is the same kind of lie.
TEST(StreamContracts, SecondEndIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2);
  expect_stream_goes_on(peer, peer.exchange(end_frame(id, 0)), id);
  expect_stream_protocol_error(peer, peer.exchange(end_frame(id, 0)), id);
}

TEST(StreamContracts, FirstAcceptIsTakenASecondIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_node(peer, true);
  expect_stream_goes_on(peer, peer.exchange(accept_frame(id, 4, 100)), id);
  EXPECT_EQ(peer.connection().stream_credits(id)->send_msgs, 4u);
  expect_stream_protocol_error(peer, peer.exchange(accept_frame(id, 4, 100)), id);
}

// Not in PROTOCOL.md's list: before the accept the opener has no window credit could refill.
TEST(StreamContracts, CreditBeforeTheAcceptIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_node(peer, true);
  expect_stream_protocol_error(peer, peer.exchange(credit_frame(id, 1, 10)), id);
}

// The script grants the node a window of 4 messages / 100 bytes; the node spends 2 / 20.
StreamId node_spent_two_of_four(ScriptedPeer& peer, std::uint64_t mux) {
  const StreamId id = open_from_script(peer, mux, StreamWindow{4, 100});
  EXPECT_EQ(peer.connection().stream_write(0, id, as_bytes("0123456789")), Errc::ok);
  EXPECT_EQ(peer.connection().stream_write(0, id, as_bytes("abcdefghij")), Errc::ok);
  EXPECT_EQ(frames_with(peer.read().sent, Op::stream_msg).size(), 2u);
  return id;
}

TEST(StreamContracts, CreditBackUpToTheWindowIsTakenOneMessageOrByteMoreIsAStreamProtocolError) {
  for (const bool one_message_more : {true, false}) {
    ScriptedPeer peer = stream_peer();
    const StreamId id = node_spent_two_of_four(peer, 2);
    expect_stream_goes_on(peer, peer.exchange(credit_frame(id, 2, 20)), id);
    EXPECT_EQ(peer.connection().stream_credits(id)->send_msgs, 4u);
    EXPECT_EQ(peer.connection().stream_credits(id)->send_bytes, 100u);
    const Frame over = one_message_more ? credit_frame(id, 1, 0) : credit_frame(id, 0, 1);
    expect_stream_protocol_error(peer, peer.exchange(over), id);
  }
}

TEST(StreamContracts, AStreamProtocolErrorLeavesTheOtherStreamsOfTheConnectionAlone) {
  ScriptedPeer peer = stream_peer();
  const StreamId bad = open_from_script(peer, 2);
  const StreamId good = open_from_script(peer, 4);
  peer.exchange(msg_frame(good, 1, "kept"));
  expect_stream_protocol_error(peer, peer.exchange(msg_frame(bad, 2)), bad);
  ASSERT_TRUE(peer.connection().stream_peek(good).has_value());
  EXPECT_EQ(text_of(*peer.connection().stream_peek(good)), "kept");
  expect_stream_goes_on(peer, peer.exchange(msg_frame(good, 2)), good);
}

TEST(StreamContracts, ResetWithProtocolErrorFromThePeerEndsTheStreamAndIsNotAnswered) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2);
  const ScriptedPeer::Step step =
      peer.exchange(Frame{.op = Op::stream_reset,
                          .mux = id.mux,
                          .status = static_cast<std::uint16_t>(Status::protocol_error),
                          .payload = as_bytes("message 3 where 2 was due")});
  const auto ended = all_of<event::StreamEnded>(step.events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::protocol_error);
  EXPECT_EQ(ended[0].message, "message 3 where 2 was due");
  EXPECT_TRUE(step.sent.empty());  // a reset is never answered with one
  EXPECT_EQ(peer.connection().state(), PeerState::established);
}

// PROTOCOL.md §6.2: these stream frames break the connection, not just one stream. The
// streams open before them end with the connection (disconnected), not protocol_error.
void expect_connection_protocol_error(const ScriptedPeer::Step& step, StreamId bystander) {
  const auto closes = all_of<event::CloseTransport>(step.events);
  ASSERT_EQ(closes.size(), 1u);
  const std::vector<OwnedFrame> last = testing::frames_in(closes[0].final_bytes);
  ASSERT_FALSE(last.empty());
  EXPECT_EQ(last.back().view().op, Op::goaway);
  EXPECT_EQ(last.back().view().status, static_cast<std::uint16_t>(Status::protocol_error));
  EXPECT_EQ(all_of<event::PeerDown>(step.events).size(), 1u);
  EXPECT_EQ(count_for<event::StreamEnded>(step.events, bystander), 1u);
  for (const event::StreamEnded& ended : all_of<event::StreamEnded>(step.events))
    EXPECT_EQ(ended.result, Errc::disconnected);
}

TEST(StreamContracts, OpenOnANewMuxIsServedOnAnOpenOneOrOfTheWrongParityIsAConnectionError) {
  for (const std::uint64_t mux : {2u, 3u}) {  // 2 is open; odd ids are the node's
    ScriptedPeer peer = stream_peer();
    const StreamId open = open_from_script(peer, 2);
    open_from_script(peer, 4);  // a new id of the script's parity: served
    Frame again = open_frame(mux, StreamWindow{1, 1});
    expect_connection_protocol_error(peer.exchange(again), open);
  }
}

TEST(StreamContracts, AcceptRejectOrPongForAStreamTheReceiverDidNotOpenIsAConnectionError) {
  for (const Op op : {Op::stream_accept, Op::stream_reject, Op::stream_pong}) {
    SCOPED_TRACE(std::string(op_name(static_cast<std::uint64_t>(op))));
    ScriptedPeer peer = stream_peer();
    const StreamId open = open_from_script(peer, 2);
    Frame frame{.op = op, .mux = open.mux};
    if (op == Op::stream_reject) frame.status = static_cast<std::uint16_t>(Status::busy);
    expect_connection_protocol_error(peer.exchange(frame), open);
  }
}

TEST(StreamContracts, PingOnThePeersStreamIsAnsweredOnTheReceiversOwnIsAConnectionError) {
  ScriptedPeer peer = stream_peer();
  const StreamId theirs = open_from_script(peer, 2);
  const auto pongs =
      frames_with(peer.exchange(Frame{.op = Op::stream_ping, .mux = theirs.mux, .seq = 5}).sent,
                  Op::stream_pong);
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_EQ(pongs[0].view().seq, 5u);
  const StreamId own = open_from_node(peer, false);
  expect_connection_protocol_error(
      peer.exchange(Frame{.op = Op::stream_ping, .mux = own.mux, .seq = 1}), theirs);
}

// Credits add up while they wait (issue 14): a peer that keeps sending and consuming credit
// while not reading this side's output makes one credit frame wait per stream, never one per
// consume, and that frame carries the sum.
TEST(StreamContracts, CreditsWaitingForOutputCoalesceIntoOneFramePerStream) {
  ScriptedPeer peer = testing::accepted([](NodeConfig& config) {
    config.limits.output_high_water_bytes = 1;  // anything written makes the rest wait
  });
  ASSERT_EQ(peer.node().register_stream_handler(kStream, {}, StreamWindow{4, 100}), Errc::ok);
  const StreamId id = open_from_script(peer, 2);  // reads the accept: the output is empty
  peer.feed(Frame{.op = Op::ping, .seq = 7});     // a pong fills the output past the mark
  constexpr std::uint64_t kMessages = 12;         // three windows' worth, one at a time
  for (std::uint64_t seq = 1; seq <= kMessages; ++seq) {
    peer.feed(msg_frame(id, seq));
    ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok) << "message " << seq;
    EXPECT_LE(peer.connection().stats().queued_control_frames, 1u) << "message " << seq;
  }
  EXPECT_EQ(peer.connection().stream_credits(id)->granted_unused_msgs, 4u);
  const std::vector<OwnedFrame> credits = frames_with(peer.read().sent, Op::stream_credit);
  ASSERT_EQ(credits.size(), 1u);
  EXPECT_EQ(credits[0].view().mux, id.mux);
  EXPECT_EQ(credits[0].view().credit_msgs, kMessages);
  EXPECT_EQ(credits[0].view().credit_bytes, kMessages);  // one byte each
}

// ---- the StreamReadable rule (events.hpp, node.hpp stream_input_done) -------------------

TEST(StreamContracts, ReadableOnTheFirstMessageIntoAnEmptyInboxThenCoalesced) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  EXPECT_FALSE(peer.connection().stream_peek(id).has_value());  // nothing yet, and no event for it
  EXPECT_TRUE(peer.read().events.empty());
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 1)).events, id), 1u);
  EXPECT_TRUE(peer.connection().stream_peek(id).has_value());  // peeking does not re-arm it
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 2)).events, id), 0u);
  // Reading part of the inbox does not re-arm it: one more message, still no event.
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  EXPECT_TRUE(peer.read().events.empty());
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 3)).events, id), 0u);
  // Draining it does: the next message is announced again, once.
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  EXPECT_TRUE(peer.read().events.empty());
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 4)).events, id), 1u);
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 5)).events, id), 0u);
}

TEST(StreamContracts, ReadablePerStreamNotPerConnection) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId a = open_from_script(peer, 2);
  const StreamId b = open_from_script(peer, 4);
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(a, 1)).events, a), 1u);
  const ScriptedPeer::Step to_b = peer.exchange(msg_frame(b, 1));
  EXPECT_EQ(count_for<event::StreamReadable>(to_b.events, b), 1u);
  EXPECT_EQ(count_for<event::StreamReadable>(to_b.events, a), 0u);
}

TEST(StreamContracts, EndArrivingAtADrainedInboxIsReadableSoTheReaderSeesInputDone) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  peer.exchange(msg_frame(id, 1));
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  EXPECT_FALSE(peer.connection().stream_input_done(id));
  const ScriptedPeer::Step ended = peer.exchange(end_frame(id, 1));
  EXPECT_EQ(count_for<event::StreamReadable>(ended.events, id), 1u);
  EXPECT_EQ(count_for<event::StreamEnded>(ended.events, id), 0u);  // the node's half is open
  EXPECT_TRUE(peer.connection().stream_input_done(id));
}

TEST(StreamContracts, EndArrivingBehindUnreadMessagesAddsNoReadableAndInputIsDoneAfterThem) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 1)).events, id), 1u);
  EXPECT_TRUE(peer.exchange(end_frame(id, 1)).events.empty());  // the reader is already awake
  EXPECT_FALSE(peer.connection().stream_input_done(id));        // one message is still unread
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  EXPECT_TRUE(peer.connection().stream_input_done(id));
  EXPECT_TRUE(peer.read().events.empty());
}

TEST(StreamContracts, ErrorEndIsReadAfterTheMessagesBeforeIt) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  peer.exchange(msg_frame(id, 1, "before"));
  const ScriptedPeer::Step failed = peer.exchange(end_frame(id, 1, Status::remote_error));
  EXPECT_TRUE(failed.events.empty());
  ASSERT_TRUE(peer.connection().stream_peek(id).has_value());
  EXPECT_EQ(text_of(*peer.connection().stream_peek(id)), "before");
  EXPECT_EQ(peer.connection().stream_write(0, id, as_bytes("x")), Errc::stream_closed);
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  const ScriptedPeer::Step read = peer.read();
  EXPECT_EQ(count_for<event::StreamReadable>(read.events, id), 0u);
  const auto ended = all_of<event::StreamEnded>(read.events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::remote_error);
}

// Runs the node's timers every 5 s up to `until_ns`, answering the connection's pings (the
// script is a live peer) but not the stream's (the script finished the stream); returns the
// frames the node sent and the events it emitted meanwhile.
ScriptedPeer::Step time_passes(ScriptedPeer& peer, TimeNs until_ns) {
  ScriptedPeer::Step seen;
  for (TimeNs now_ns = ns_from_ms(5'000); now_ns <= until_ns; now_ns += ns_from_ms(5'000)) {
    peer.timer(now_ns);
    ScriptedPeer::Step step = peer.read();
    for (const OwnedFrame& sent : step.sent) {
      if (sent.view().op == Op::ping)
        peer.feed(Frame{.op = Op::pong, .seq = sent.view().seq}, now_ns);
    }
    seen.events.insert(seen.events.end(), step.events.begin(), step.events.end());
    seen.sent.insert(seen.sent.end(), step.sent.begin(), step.sent.end());
  }
  return seen;
}

// What `waited` (100 s of timers after the peer's end) holds: no end of stream `id`, no
// stream_ping and no stream_reset; then, once its last message is read at 100 s, the
// stream ends once, with `expected`.
void expect_no_keepalive_then_the_peers_end(ScriptedPeer& peer, const ScriptedPeer::Step& waited,
                                            StreamId id, Errc expected) {
  EXPECT_EQ(count_for<event::StreamEnded>(waited.events, id), 0u) << "ended while unread";
  EXPECT_TRUE(frames_with(waited.sent, Op::stream_ping).empty());
  EXPECT_TRUE(frames_with(waited.sent, Op::stream_reset).empty());
  ASSERT_EQ(peer.connection().stream_consume(ns_from_ms(100'000), id), Errc::ok);
  const auto results = all_of<event::StreamEnded>(peer.read().events);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(errc_name(results[0].result), errc_name(expected));
}

// §6.2: once both directions ended (the peer's end, an error one or the second of two normal
// ends), the peer has finished the stream and answers nothing on it; only the application's
// reading of the messages before the end is awaited. Keepalive stops: the stream ends with
// the peer's result however long the reader takes (its deadline still applies). Before,
// after an error end with its own direction still open, the opener went on pinging, heard
// nothing, and after stream_silence_timeout_ms ended the stream with keepalive_timeout in
// place of the peer's error (two normal ends already stopped it; checked here too).
TEST(StreamContracts, AReaderSlowerThanTheSilenceTimeoutStillGetsThePeersEnd) {
  for (const Status status : {Status::remote_error, Status::ok}) {
    SCOPED_TRACE(status_name(static_cast<std::uint16_t>(status)));
    ScriptedPeer peer = stream_peer();
    // With an error end the node's own direction may still be open; with a normal one it
    // ended at the open (no input), so both have.
    const StreamId id = open_from_node(peer, status != Status::ok);
    peer.exchange(accept_frame(id, 4, 100));
    peer.exchange(msg_frame(id, 1, "slowly read"));
    const ScriptedPeer::Step ended = peer.exchange(end_frame(id, 1, status));
    EXPECT_EQ(count_for<event::StreamEnded>(ended.events, id), 0u);
    expect_no_keepalive_then_the_peers_end(peer, time_passes(peer, ns_from_ms(100'000)), id,
                                           errc_from_status(static_cast<std::uint16_t>(status)));
  }
}

// The same with this side's own messages still waiting in its lanes when the peer's error
// end arrives (a peer that reads slowly, then fails the stream): its direction was closed
// by the error end, so keepalive stops too, although frames of the stream are still queued.
// Before, the queued frames kept keepalive on: the opener pinged a peer that answers
// nothing on the stream and after 30 s ended it with keepalive_timeout, so the peer's
// error and the messages before it were lost. The script keeps the connection alive with
// its own pings and reads none of the node's output until the end.
TEST(StreamContracts, QueuedFramesOfAStreamThePeerFailedDoNotKeepItsKeepaliveGoing) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_node(peer, true);
  peer.exchange(accept_frame(id, 64, 1u << 20));
  const std::string message(16 * 1024, 'q');
  // 256 KiB: past the connection's output high-water mark (64 KiB), so most stay in lanes.
  for (int i = 0; i < 16; ++i)
    ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(message)), Errc::ok) << i;
  peer.feed(msg_frame(id, 1, "slowly read"));
  peer.feed(end_frame(id, 1, Status::remote_error));
  for (TimeNs now_ns = ns_from_ms(5'000); now_ns <= ns_from_ms(100'000);
       now_ns += ns_from_ms(5'000)) {
    peer.feed(Frame{.op = Op::ping, .seq = static_cast<std::uint64_t>(now_ns)}, now_ns);
    peer.timer(now_ns);
  }
  expect_no_keepalive_then_the_peers_end(peer, peer.read(), id, Errc::remote_error);
}

// A stream's inbox copies small messages into blocks the size of the window it granted
// (1 KiB at least), so many streams with small windows, each holding a message, hold
// little. Before, every inbox took a 64 KiB block for its first message: 4096 streams of a
// 1 KiB window held 256 MiB, where max_stream_receive_bytes charged them 4 MiB.
TEST(StreamContracts, AnInboxHoldsBlocksTheSizeOfItsWindowNot64KiB) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  for (std::uint64_t mux = 2; mux <= 20; mux += 2) {
    const StreamId id = open_from_script(peer, mux);
    peer.exchange(msg_frame(id, 1, "x"));
    const std::optional<StreamCredits> credits = peer.connection().stream_credits(id);
    ASSERT_TRUE(credits.has_value());
    EXPECT_EQ(credits->unread_bytes, 1u);
    EXPECT_EQ(credits->unread_memory_bytes, 1024u) << "stream " << mux;
  }
}

TEST(StreamContracts, EndThatCompletesTheStreamIsStreamEndedNotReadable) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_node(peer, false);  // no input: the node's half is done
  peer.exchange(accept_frame(id, 0, 0));
  const ScriptedPeer::Step ended = peer.exchange(end_frame(id, 0));
  EXPECT_EQ(count_for<event::StreamReadable>(ended.events, id), 0u);
  ASSERT_EQ(count_for<event::StreamEnded>(ended.events, id), 1u);
  EXPECT_EQ(all_of<event::StreamEnded>(ended.events)[0].result, Errc::ok);
}

// ---- stream_consume_next: consume, then peek, in one call ------------------------------

TEST(StreamContracts, ConsumeNextDrainsInOrderReturnsTheCreditAndReArmsReadable) {
  ScriptedPeer peer = stream_peer(StreamWindow{3, 1000});
  const StreamId id = open_from_script(peer, 2);
  for (std::uint64_t seq = 1; seq <= 3; ++seq)
    peer.exchange(msg_frame(id, seq, "m" + std::to_string(seq)));
  ASSERT_TRUE(peer.connection().stream_peek(id).has_value());
  EXPECT_EQ(text_of(*peer.connection().stream_peek(id)), "m1");
  std::vector<std::string> read_after;
  while (const std::optional<Bytes> next = peer.connection().stream_consume_next(0, id))
    read_after.push_back(text_of(*next));
  EXPECT_EQ(read_after, (std::vector<std::string>{"m2", "m3"}));
  EXPECT_FALSE(peer.connection().stream_peek(id).has_value());
  EXPECT_EQ(peer.connection().stream_credits(id)->unread_msgs, 0u);
  // The three consumed messages' credit went back, as three stream_consume calls send it.
  const ScriptedPeer::Step drained = peer.read();
  std::uint64_t returned_msgs = 0;
  std::uint64_t returned_bytes = 0;
  for (const OwnedFrame& frame : frames_with(drained.sent, Op::stream_credit)) {
    returned_msgs += frame.view().credit_msgs;
    returned_bytes += frame.view().credit_bytes;
  }
  EXPECT_EQ(returned_msgs, 3u);
  EXPECT_EQ(returned_bytes, 6u);
  EXPECT_TRUE(drained.events.empty());
  // Drained: the next message is announced again.
  EXPECT_EQ(count_for<event::StreamReadable>(peer.exchange(msg_frame(id, 4)).events, id), 1u);
}

TEST(StreamContracts, ConsumeNextOfTheLastMessageEndsAStreamWhoseHalvesBothEnded) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  peer.exchange(msg_frame(id, 1, "first"));
  peer.exchange(msg_frame(id, 2, "last"));
  EXPECT_TRUE(peer.exchange(end_frame(id, 2, Status::remote_error)).events.empty());
  const std::optional<Bytes> next = peer.connection().stream_consume_next(0, id);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(text_of(*next), "last");
  EXPECT_TRUE(peer.read().events.empty());  // a message still waits: not ended yet
  EXPECT_FALSE(peer.connection().stream_consume_next(0, id).has_value());
  const auto ended = all_of<event::StreamEnded>(peer.read().events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::remote_error);
  EXPECT_FALSE(peer.connection().stream_consume_next(0, id).has_value());  // gone
}

TEST(StreamContracts, ConsumeNextFindsNothingOnAnEmptyInboxOrAnUnknownOrEndedStream) {
  ScriptedPeer peer = stream_peer(StreamWindow{8, 1000});
  const StreamId id = open_from_script(peer, 2);
  EXPECT_FALSE(peer.connection().stream_consume_next(0, id).has_value());
  EXPECT_TRUE(peer.connection().stream_credits(id).has_value());  // nothing consumed, not ended
  const StreamId unknown{id.generation, id.mux + 1000};
  EXPECT_FALSE(peer.connection().stream_consume_next(0, unknown).has_value());
  peer.exchange(msg_frame(id, 1));
  peer.exchange(msg_frame(id, 2));
  ASSERT_EQ(peer.connection().stream_cancel(0, id), Errc::ok);
  EXPECT_FALSE(peer.connection().stream_consume_next(0, id).has_value());
}

// ---- stream_write, stream_peek, stream_consume on a cluster -----------------------------

constexpr std::size_t kCaller = 0;
constexpr std::size_t kServer = 1;

struct StreamPair {
  explicit StreamPair(StreamWindow server_window,
                      const std::function<void(NodeConfig&)>& adjust = {})
      : cluster({"caller", "server"}, {}, adjust) {
    cluster.node(kServer).register_stream_handler(kStream, {}, server_window);
    cluster.recorder(kCaller).on_stream_event = [this](const Event& e) { caller_log.push_back(e); };
    cluster.recorder(kServer).on_stream_event = [this](const Event& e) { server_log.push_back(e); };
    EXPECT_TRUE(cluster.run_until_connected());
  }
  PeerConnection caller() { return cluster.to(kCaller, kServer); }
  PeerConnection server() { return cluster.to(kServer, kCaller); }
  TimeNs now() { return cluster.now(); }
  void run_ms(std::int64_t ms) { cluster.net().run_for(ns_from_ms(ms)); }
  // Opens a stream with input and runs until the server has accepted it.
  StreamId open_accepted() {
    StreamArgs args;
    args.handler = kStream;
    args.has_input = true;
    const OpenedStream opened = caller().open_stream(now(), args);
    EXPECT_EQ(opened.error, Errc::ok);
    run_ms(1);
    EXPECT_EQ(all_of<event::StreamOpened>(server_log).size(), 1u);
    return opened.id;
  }
  StreamId served() { return all_of<event::StreamOpened>(server_log).back().id; }

  Cluster cluster;
  std::vector<Event> caller_log;
  std::vector<Event> server_log;
};

TEST(StreamContracts, WriteOfExactlyThePeersByteWindowGoesOneByteMoreIsTooLargeAndNotSent) {
  StreamPair f(StreamWindow{4, 1000});
  const StreamId id = f.open_accepted();
  const std::uint64_t frames_before = f.caller().stats().frames_sent;
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes(std::string(1001, 'x'))),
            Errc::too_large);
  EXPECT_EQ(f.caller().stats().frames_sent, frames_before);
  EXPECT_EQ(f.caller().stream_credits(id)->send_msgs, 4u);  // no credit spent
  EXPECT_EQ(f.caller().stream_credits(id)->send_bytes, 1000u);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes(std::string(1000, 'y'))), Errc::ok);
  f.run_ms(1);
  const std::vector<std::string> got = f.cluster.drain(kServer, kCaller, f.served());
  ASSERT_EQ(got.size(), 1u);  // only the message that fit
  EXPECT_EQ(got[0], std::string(1000, 'y'));
  // too_large is not "wait for credit": no StreamWritable follows it, even when the
  // server's reading returns credit.
  f.run_ms(1);
  EXPECT_EQ(f.caller().stream_credits(id)->send_msgs, 4u);
  EXPECT_EQ(count_for<event::StreamWritable>(f.caller_log, id), 0u);
}

TEST(StreamContracts, MessageFourTimesThePeersFrameLimitArrivesWholeInParts) {
  StreamPair f(StreamWindow{4, 1 << 20}, [](NodeConfig& config) {
    if (config.name == "server") config.limits.max_frame_bytes = kMinMaxFrameBytes;
  });
  const StreamId id = f.open_accepted();
  std::string message(4 * kMinMaxFrameBytes, ' ');
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes(message)), Errc::ok);
  f.run_ms(1);
  const std::vector<std::string> got = f.cluster.drain(kServer, kCaller, f.served());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], message);
  EXPECT_TRUE(f.cluster.connected(kCaller, kServer));  // no frame over the server's limit
}

TEST(StreamContracts, WriteOfExactlyMaxMessageBytesGoesOneByteMoreIsTooLargeAndNotSent) {
  constexpr std::size_t kMaxMessage = 100'000;
  StreamPair f(StreamWindow{4, 1 << 20}, [](NodeConfig& config) {
    if (config.name == "caller") config.limits.max_message_bytes = kMaxMessage;
  });
  const StreamId id = f.open_accepted();
  const std::uint64_t frames_before = f.caller().stats().frames_sent;
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes(std::string(kMaxMessage + 1, 'x'))),
            Errc::too_large);
  EXPECT_EQ(f.caller().stats().frames_sent, frames_before);
  EXPECT_EQ(f.caller().stream_credits(id)->send_bytes, 1u << 20);  // no credit spent
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes(std::string(kMaxMessage, 'y'))),
            Errc::ok);
  f.run_ms(1);
  const std::vector<std::string> got = f.cluster.drain(kServer, kCaller, f.served());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], std::string(kMaxMessage, 'y'));
}

TEST(StreamContracts, NoCreditWhenTheWindowIsFullThenOneWritableWhenCreditArrives) {
  StreamPair f(StreamWindow{2, 1000});
  const StreamId id = f.open_accepted();
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("a")), Errc::ok);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("b")), Errc::ok);
  const std::uint64_t frames_before = f.caller().stats().frames_sent;
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("c")), Errc::no_credit);
  EXPECT_EQ(f.caller().stats().frames_sent, frames_before);
  f.run_ms(5);  // the server reads nothing: no credit, no event
  EXPECT_EQ(count_for<event::StreamWritable>(f.caller_log, id), 0u);
  EXPECT_EQ(f.cluster.drain(kServer, kCaller, f.served()), (std::vector<std::string>{"a", "b"}));
  f.run_ms(1);
  EXPECT_EQ(count_for<event::StreamWritable>(f.caller_log, id), 1u);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("c")), Errc::ok);
  f.run_ms(1);
  EXPECT_EQ(f.cluster.drain(kServer, kCaller, f.served()), std::vector<std::string>{"c"});
}

TEST(StreamContracts, NoCreditForBytesWhenTheByteWindowIsShortByOne) {
  StreamPair f(StreamWindow{8, 10});
  const StreamId id = f.open_accepted();
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("123456")), Errc::ok);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("12345")), Errc::no_credit);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("1234")), Errc::ok);  // exactly 10
  f.run_ms(1);
  f.cluster.drain(kServer, kCaller, f.served());
  f.run_ms(1);
  EXPECT_EQ(count_for<event::StreamWritable>(f.caller_log, id), 1u);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("12345")), Errc::ok);
}

TEST(StreamContracts, WriteBeforeTheAcceptIsNoCreditThenWritableWhenTheAcceptArrives) {
  StreamPair f(StreamWindow{2, 1000});
  StreamArgs args;
  args.handler = kStream;
  args.has_input = true;
  const OpenedStream opened = f.caller().open_stream(f.now(), args);
  ASSERT_EQ(opened.error, Errc::ok);
  EXPECT_EQ(f.caller().stream_write(f.now(), opened.id, as_bytes("early")), Errc::no_credit);
  f.run_ms(1);
  EXPECT_EQ(count_for<event::StreamWritable>(f.caller_log, opened.id), 1u);
  EXPECT_EQ(f.caller().stream_write(f.now(), opened.id, as_bytes("early")), Errc::ok);
}

TEST(StreamContracts, WriteAfterThisSideClosedIsStreamClosedWhileThePeerStillWrites) {
  StreamPair f(StreamWindow{2, 1000});
  const StreamId id = f.open_accepted();
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("last")), Errc::ok);
  ASSERT_EQ(f.caller().stream_close(f.now(), id), Errc::ok);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("late")), Errc::stream_closed);
  EXPECT_EQ(f.caller().stream_close(f.now(), id), Errc::stream_closed);
  f.run_ms(1);
  // The other half is open: the server still writes and the caller still reads.
  EXPECT_EQ(f.server().stream_write(f.now(), f.served(), as_bytes("reply")), Errc::ok);
  f.run_ms(1);
  EXPECT_EQ(f.cluster.drain(kCaller, kServer, id), std::vector<std::string>{"reply"});
  EXPECT_EQ(f.cluster.drain(kServer, kCaller, f.served()), std::vector<std::string>{"last"});
}

TEST(StreamContracts, WriteOnAnUnknownOrEndedStreamIsNotFound) {
  StreamPair f(StreamWindow{2, 1000});
  const StreamId id = f.open_accepted();
  const StreamId unknown{id.generation, id.mux + 1000};
  const StreamId old_generation{id.generation - 1, id.mux};
  EXPECT_EQ(f.caller().stream_write(f.now(), unknown, as_bytes("x")), Errc::not_found);
  EXPECT_EQ(f.caller().stream_write(f.now(), old_generation, as_bytes("x")), Errc::not_found);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("x")), Errc::ok);  // live: fine
  ASSERT_EQ(f.caller().stream_cancel(f.now(), id), Errc::ok);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("x")), Errc::not_found);
  f.run_ms(1);
  EXPECT_EQ(f.server().stream_write(f.now(), f.served(), as_bytes("x")), Errc::not_found);
}

TEST(StreamContracts, ConsumeAndPeekFindNothingOnAnEmptyInboxOrAnUnknownStream) {
  StreamPair f(StreamWindow{2, 1000});
  const StreamId id = f.open_accepted();
  const StreamId served = f.served();
  EXPECT_FALSE(f.server().stream_peek(served).has_value());
  EXPECT_EQ(f.server().stream_consume(f.now(), served), Errc::not_found);
  const StreamId unknown{served.generation, served.mux + 1000};
  EXPECT_FALSE(f.server().stream_peek(unknown).has_value());
  EXPECT_EQ(f.server().stream_consume(f.now(), unknown), Errc::not_found);
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("one")), Errc::ok);
  f.run_ms(1);
  ASSERT_TRUE(f.server().stream_peek(served).has_value());
  EXPECT_EQ(text_of(*f.server().stream_peek(served)), "one");  // peeking twice: same message
  EXPECT_EQ(f.server().stream_consume(f.now(), served), Errc::ok);
  EXPECT_FALSE(f.server().stream_peek(served).has_value());
  EXPECT_EQ(f.server().stream_consume(f.now(), served), Errc::not_found);
  EXPECT_TRUE(f.server().stream_credits(served).has_value());  // not_found did not end it
}

TEST(StreamContracts, ConsumeAndPeekOnAnEndedStreamFindNothingEvenWithMessagesLeft) {
  StreamPair f(StreamWindow{2, 1000});
  const StreamId id = f.open_accepted();
  ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("unread")), Errc::ok);
  f.run_ms(1);
  ASSERT_TRUE(f.server().stream_peek(f.served()).has_value());
  ASSERT_EQ(f.server().stream_cancel(f.now(), f.served()), Errc::ok);
  EXPECT_FALSE(f.server().stream_peek(f.served()).has_value());
  EXPECT_EQ(f.server().stream_consume(f.now(), f.served()), Errc::not_found);
}

}  // namespace
}  // namespace weft
