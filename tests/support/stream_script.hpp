// A node under test serving streams to a scripted peer (scripted_peer.hpp): the frames of
// PROTOCOL.md §6.2 as the script sends them, and the two outcomes a stream frame can have
// (the stream goes on; a stream protocol error that leaves the connection alone). Used by
// the stream contract tests.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "scripted_peer.hpp"

namespace weft::testing {

inline constexpr std::uint16_t kStream = 10;

// A stream_open with input for the test stream handler, granting `window`.
inline Frame open_frame(std::uint64_t mux, StreamWindow window) {
  return Frame{.op = Op::stream_open,
               .flags = flag::kHasInput,
               .mux = mux,
               .handler = kStream,
               .credit_msgs = window.msgs,
               .credit_bytes = window.bytes};
}

// ---- a node and a scripted peer ---------------------------------------------------------

// The node under test accepted a transport from the script, which plays the dialing peer
// (even mux ids are the script's, odd ones the node's), and serves stream handler kStream
// granting openers `handler_window`. Time stands still at 0: nothing here depends on timers.
// The script reads everything: each exchange() returns what its frame caused.
inline ScriptedPeer stream_peer(StreamWindow handler_window = {4, 100}) {
  ScriptedPeer peer = accepted();
  EXPECT_EQ(peer.node().register_stream_handler(kStream, {}, handler_window), Errc::ok);
  return peer;
}

// The script opens stream `mux` with input, granting the node `window` for its own
// messages; returns the node's id of it.
inline StreamId open_from_script(ScriptedPeer& peer, std::uint64_t mux,
                                 StreamWindow window = {4, 100}) {
  const ScriptedPeer::Step step = peer.exchange(open_frame(mux, window));
  const auto opened = all_of<event::StreamOpened>(step.events);
  EXPECT_EQ(opened.size(), 1u);
  EXPECT_EQ(frames_with(step.sent, Op::stream_accept).size(), 1u);
  return opened.empty() ? StreamId{} : opened[0].id;
}

// The node opens a stream to the script (which has not accepted it yet).
inline StreamId open_from_node(ScriptedPeer& peer, bool has_input) {
  StreamArgs args;
  args.handler = kStream;
  args.has_input = has_input;
  const OpenedStream opened = peer.connection().open_stream(0, args);
  EXPECT_EQ(opened.error, Errc::ok);
  EXPECT_EQ(frames_with(peer.read().sent, Op::stream_open).size(), 1u);
  return opened.id;
}

inline Frame msg_frame(StreamId id, std::uint64_t seq, std::string_view payload = "m") {
  return Frame{.op = Op::stream_msg, .mux = id.mux, .seq = seq, .payload = as_bytes(payload)};
}
inline Frame end_frame(StreamId id, std::uint64_t seq, Status status = Status::ok) {
  return Frame{.op = Op::stream_end,
               .mux = id.mux,
               .seq = seq,
               .status = static_cast<std::uint16_t>(status)};
}
inline Frame credit_frame(StreamId id, std::uint32_t msgs, std::uint32_t bytes) {
  return Frame{.op = Op::stream_credit, .mux = id.mux, .credit_msgs = msgs, .credit_bytes = bytes};
}
inline Frame accept_frame(StreamId id, std::uint32_t msgs, std::uint32_t bytes) {
  return Frame{.op = Op::stream_accept, .mux = id.mux, .credit_msgs = msgs, .credit_bytes = bytes};
}

// `step` kept stream `id` going: no end, no reset, no goaway.
inline void expect_stream_goes_on(ScriptedPeer& peer, const ScriptedPeer::Step& step, StreamId id) {
  EXPECT_EQ(count_for<event::StreamEnded>(step.events, id), 0u);
  EXPECT_TRUE(frames_with(step.sent, Op::stream_reset).empty());
  EXPECT_TRUE(frames_with(step.sent, Op::goaway).empty());
  EXPECT_TRUE(peer.connection().stream_credits(id).has_value());
}

// `step` broke a rule of stream `id` (PROTOCOL.md §6.2 "Violations"): the node ended that
// stream alone with protocol_error and told the script with stream_reset(protocol_error);
// the connection stays up and answers pings, and later frames for the mux are ignored.
inline void expect_stream_protocol_error(ScriptedPeer& peer, const ScriptedPeer::Step& step,
                                         StreamId id) {
  const auto ended = all_of<event::StreamEnded>(step.events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].id, id);
  EXPECT_EQ(errc_name(ended[0].result), errc_name(Errc::protocol_error));
  EXPECT_FALSE(ended[0].message.empty());
  const auto resets = frames_with(step.sent, Op::stream_reset);
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets[0].view().mux, id.mux);
  EXPECT_EQ(resets[0].view().status, static_cast<std::uint16_t>(Status::protocol_error));
  EXPECT_FALSE(resets[0].view().payload.empty());  // says which rule
  EXPECT_TRUE(frames_with(step.sent, Op::goaway).empty());
  EXPECT_TRUE(all_of<event::PeerDown>(step.events).empty());
  EXPECT_TRUE(all_of<event::CloseTransport>(step.events).empty());
  EXPECT_EQ(peer.connection().state(), PeerState::established);
  EXPECT_FALSE(peer.connection().stream_credits(id).has_value());
  const ScriptedPeer::Step late = peer.exchange(msg_frame(id, 99, "late"));
  EXPECT_TRUE(late.events.empty());
  EXPECT_TRUE(late.sent.empty());
  const ScriptedPeer::Step ping = peer.exchange(Frame{.op = Op::ping, .seq = 77});
  const auto pongs = frames_with(ping.sent, Op::pong);
  ASSERT_EQ(pongs.size(), 1u);
  EXPECT_EQ(pongs[0].view().seq, 77u);
}

}  // namespace weft::testing
