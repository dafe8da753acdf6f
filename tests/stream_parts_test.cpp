// Stream messages in parts (PROTOCOL.md §6.2 "Messages in parts"): a message longer than a
// part leaves as stream_msg frames that other frames pass, so nothing waits behind a whole
// large message; the receiver assembles the parts, spends credit by them, and treats a part
// out of place as a stream protocol error.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "scripted_peer.hpp"
#include "stream_script.hpp"

namespace weft {
namespace {

using testing::all_of;
using testing::count_for;
using testing::expect_stream_goes_on;
using testing::expect_stream_protocol_error;
using testing::frames_with;
using testing::open_from_script;
using testing::ScriptedPeer;
using testing::stream_peer;
using testing::text_of;

// A stream_msg of stream `id`, one part of message `seq` when `more` (or its last part).
Frame part_frame(StreamId id, std::uint64_t seq, std::string_view payload, bool more) {
  return Frame{.op = Op::stream_msg,
               .flags = more ? flag::kMore : std::uint16_t{0},
               .mux = id.mux,
               .seq = seq,
               .payload = as_bytes(payload)};
}

// `size` bytes that differ from position to position, so a part out of order would show.
std::string patterned(std::size_t size) {
  std::string text(size, ' ');
  for (std::size_t i = 0; i < size; ++i)
    text[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return text;
}

// A frame the node wrote and the wire offset of its first byte, counted from the first byte
// the script read after the handshake.
struct Placed {
  OwnedFrame frame;
  std::size_t offset = 0;
};

// Drains everything the node has to write, as a driver that writes all it is given (piece
// by piece: a large payload part is a piece of its own), and places each frame.
std::vector<Placed> drain_placed(ScriptedPeer& peer) {
  std::vector<std::uint8_t> wire;
  for (Bytes out = peer.node().pending_output(peer.transport()); !out.empty();
       out = peer.node().pending_output(peer.transport())) {
    wire.insert(wire.end(), out.begin(), out.end());
    peer.node().consume_output(peer.transport(), out.size());
  }
  std::vector<Placed> placed;
  FrameDecoder decoder;
  Bytes rest(wire);
  while (true) {
    const DecodeStep step = decoder.next(rest);
    if (step.status != DecodeStatus::frame) break;
    placed.push_back({OwnedFrame(step.frame), wire.size() - rest.size()});
    rest = rest.subspan(step.consumed);
  }
  EXPECT_TRUE(rest.empty());  // whole frames, each decoded (checksums verified)
  return placed;
}

// The payloads of the stream_msg frames among `placed`, joined, checking that they are the
// parts of message `seq` of `mux`: `more` on all but the last.
std::string joined_parts(const std::vector<Placed>& placed, std::uint64_t mux, std::uint64_t seq) {
  std::string joined;
  std::vector<Frame> parts;  // views into `placed`
  for (const Placed& p : placed) {
    if (p.frame.view().op == Op::stream_msg) parts.push_back(p.frame.view());
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    EXPECT_EQ(parts[i].mux, mux);
    EXPECT_EQ(parts[i].seq, seq);
    EXPECT_EQ((parts[i].flags & flag::kMore) != 0, i + 1 < parts.size()) << "part " << i;
    joined += text_of(parts[i].payload);
  }
  return joined;
}

// ---- sending ------------------------------------------------------------------------------

// The case: a pong behind an 8 MiB stream message. Before messages went in parts the
// whole message was encoded into the output at once and the pong went out 8 MiB later.
TEST(StreamParts, APongFedAfterAnEightMiBMessageLeavesWithinAPartOfTheOutputMark) {
  ScriptedPeer peer = testing::accepting(testing::acceptor_config());
  Frame hello = testing::hello_frame();
  hello.max_frame_bytes = 16u << 20;  // a peer that would take the message whole
  ASSERT_EQ(frames_with(testing::prove_as_dialer(peer, hello).sent, Op::welcome).size(), 1u);
  ASSERT_EQ(peer.node().register_stream_handler(testing::kStream, {}, StreamWindow{4, 100}),
            Errc::ok);
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 16u << 20});
  // Under 8 MiB with its frame header, so the node before parts could send it at all.
  const std::string message = patterned((8u << 20) - 64);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(message)), Errc::ok);
  peer.feed(Frame{.op = Op::ping, .seq = 5});
  const std::vector<Placed> placed = drain_placed(peer);
  std::size_t pong_at = SIZE_MAX;
  for (const Placed& p : placed) {
    if (p.frame.view().op == Op::pong && p.frame.view().seq == 5) pong_at = p.offset;
  }
  ASSERT_NE(pong_at, SIZE_MAX);
  const ConnectionLimits limits;
  EXPECT_LE(pong_at, limits.output_high_water_bytes + limits.chunk_bytes + 1024);
  EXPECT_EQ(joined_parts(placed, id.mux, 1), message);
  // 8 MiB in parts of chunk_bytes: the pong passed all but the first few.
  const auto parts = std::count_if(placed.begin(), placed.end(), [](const Placed& p) {
    return p.frame.view().op == Op::stream_msg;
  });
  EXPECT_GE(static_cast<std::size_t>(parts), message.size() / limits.chunk_bytes);
}

// What the node wrote for one shared message: the wire bytes, and how many of them the
// driver was given where they lie in the message's own buffer (not copied).
struct WrittenFromShared {
  std::vector<std::uint8_t> wire;
  std::size_t referenced_bytes = 0;
};

WrittenFromShared write_shared_message(std::size_t reference_min_bytes,
                                       const SharedBytes& message) {
  ScriptedPeer peer = testing::accepted(
      [&](NodeConfig& config) { config.limits.output_reference_min_bytes = reference_min_bytes; });
  EXPECT_EQ(peer.node().register_stream_handler(testing::kStream, {}, StreamWindow{4, 100}),
            Errc::ok);
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 1u << 20});
  EXPECT_EQ(peer.connection().stream_write(0, id, message), Errc::ok);
  WrittenFromShared written;
  const Bytes inside = message.view();
  std::array<Bytes, 8> pieces;
  // A gathering driver: takes up to 8 pieces, writes them all, tells the node.
  while (const std::size_t count = peer.node().pending_output_pieces(peer.transport(), pieces)) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const Bytes piece = pieces[i];
      EXPECT_FALSE(piece.empty());
      if (piece.data() >= inside.data() && piece.data() < inside.data() + inside.size())
        written.referenced_bytes += piece.size();
      written.wire.insert(written.wire.end(), piece.begin(), piece.end());
      total += piece.size();
    }
    peer.node().consume_output(peer.transport(), total);
  }
  return written;
}

// Issue 19: the parts of a large shared payload reach the driver as pieces of the payload's
// own buffer (written with the frame heads around them, one writev), never copied into the
// output; the bytes on the wire are the same, checksums and all, as when they are copied.
TEST(StreamParts, ASharedMessagesPartsAreWrittenFromItsBufferAndTheWireIsTheSame) {
  const ConnectionLimits limits;
  const std::string text = patterned(300'000);
  const SharedBytes message = SharedBytes::copy_of(as_bytes(text));
  const std::size_t reference_min_bytes = 16 * 1024;  // off by default: on here
  const WrittenFromShared referenced = write_shared_message(reference_min_bytes, message);
  const WrittenFromShared copied = write_shared_message(SIZE_MAX, message);
  // Every part but the first (encoded with the stream's frame, before the parts are queued)
  // and one shorter than reference_min_bytes (the last here: copying it costs less).
  std::size_t expected = 0;
  for (std::size_t at = limits.chunk_bytes; at < text.size(); at += limits.chunk_bytes) {
    const std::size_t part = std::min(limits.chunk_bytes, text.size() - at);
    if (part >= reference_min_bytes) expected += part;
  }
  ASSERT_LT(text.size() % limits.chunk_bytes, reference_min_bytes);
  EXPECT_EQ(referenced.referenced_bytes, expected);
  EXPECT_EQ(copied.referenced_bytes, 0u);
  EXPECT_EQ(referenced.wire, copied.wire);
  FrameDecoder decoder({.limits = {}, .require_checksum = true});
  Bytes rest(referenced.wire);
  std::string joined;
  while (true) {
    const DecodeStep step = decoder.next(rest);
    if (step.status != DecodeStatus::frame) break;
    if (step.frame.op == Op::stream_msg) joined += text_of(step.frame.payload);
    rest = rest.subspan(step.consumed);
  }
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(joined, text);
}

TEST(StreamParts, AMessageOfOnePartGoesWholeOneByteMoreGoesInTwoParts) {
  const ConnectionLimits limits;
  for (const std::size_t size : {limits.chunk_bytes, limits.chunk_bytes + 1}) {
    ScriptedPeer peer = stream_peer();
    const StreamId id = open_from_script(peer, 2, StreamWindow{4, 1u << 20});
    const std::string message = patterned(size);
    ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(message)), Errc::ok);
    const std::vector<Placed> placed = drain_placed(peer);
    const auto msgs = std::count_if(placed.begin(), placed.end(), [](const Placed& p) {
      return p.frame.view().op == Op::stream_msg;
    });
    EXPECT_EQ(msgs, size == limits.chunk_bytes ? 1 : 2) << size;
    EXPECT_EQ(joined_parts(placed, id.mux, 1), message);
  }
}

TEST(StreamParts, TheMessageAfterOneInPartsKeepsItsNumberAndItsPlace) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 1u << 20});
  const std::string large = patterned(100'000);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(large)), Errc::ok);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes("small")), Errc::ok);
  ASSERT_EQ(peer.connection().stream_close(0, id), Errc::ok);
  std::vector<Frame> stream_frames;  // views into `placed`
  const std::vector<Placed> placed = drain_placed(peer);
  for (const Placed& p : placed) {
    if (p.frame.view().mux == id.mux) stream_frames.push_back(p.frame.view());
  }
  ASSERT_GE(stream_frames.size(), 3u);
  const Frame& end = stream_frames.back();
  const Frame& small = stream_frames[stream_frames.size() - 2];
  EXPECT_EQ(end.op, Op::stream_end);
  EXPECT_EQ(end.seq, 2u);
  EXPECT_EQ(small.seq, 2u);
  EXPECT_EQ(text_of(small.payload), "small");
  std::string joined;
  for (std::size_t i = 0; i + 2 < stream_frames.size(); ++i) {
    EXPECT_EQ(stream_frames[i].seq, 1u);
    joined += text_of(stream_frames[i].payload);
  }
  EXPECT_EQ(joined, large);
}

// A stream's frames leave in order whichever lane each waits in: a short message queued in
// the small lane behind other small frames, then a long one whose first part waits in the
// bulk lane. The lanes let bulk frames go after a burst of small ones; the long message
// must still not overtake the short one before it.
TEST(StreamParts, AShortMessageInTheSmallLaneIsNotOvertakenByTheNextInTheBulkLane) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 1u << 20});
  // 200 small requests to the script: the output passes its mark, the rest waits in the
  // small lane (well over one burst of it).
  const std::string filler(1000, 'f');
  for (int i = 0; i < 200; ++i) {
    RequestArgs args;
    args.handler = testing::kEchoHandler;
    args.payload = as_bytes(filler);
    ASSERT_EQ(peer.connection().request(0, args).error, Errc::ok);
  }
  ASSERT_GT(peer.connection().stats().queued_data_bytes,
            2 * ConnectionLimits{}.small_lane_burst_bytes);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes("short")), Errc::ok);
  const std::string long_message = patterned(40'000);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(long_message)), Errc::ok);
  std::vector<std::uint64_t> order;
  std::string joined;
  for (const Placed& p : drain_placed(peer)) {
    if (p.frame.view().op != Op::stream_msg) continue;
    order.push_back(p.frame.view().seq);
    if (p.frame.view().seq == 2) joined += text_of(p.frame.view().payload);
  }
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), 1u) << "message 2 overtook message 1";
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(joined, long_message);
}

TEST(StreamParts, ACancelDropsThePartsNotSentYet) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 4u << 20});
  const std::string message = patterned(2u << 20);
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(message)), Errc::ok);
  // Nothing drained: most parts still wait in the lanes.
  EXPECT_GT(peer.connection().stats().queued_data_bytes, 1u << 20);
  ASSERT_EQ(peer.connection().stream_cancel(0, id), Errc::ok);
  const std::vector<Placed> placed = drain_placed(peer);
  std::size_t sent = 0;
  bool after_reset = false;
  for (const Placed& p : placed) {
    if (p.frame.view().op == Op::stream_reset) after_reset = true;
    if (p.frame.view().op != Op::stream_msg) continue;
    EXPECT_FALSE(after_reset) << "a part after the reset";
    sent += p.frame.view().payload.size();
  }
  EXPECT_LT(sent, 256u << 10);
  EXPECT_EQ(peer.connection().stats().queued_data_bytes, 0u);
  EXPECT_EQ(peer.connection().stats().streams_open, 0u);
}

// stream_fail after stream_close cannot end by a stream_end (this side's end is already
// queued): it resets the stream, and what waits behind the reset is dropped, not sent to a
// peer that ignores frames of a reset stream.
TEST(StreamParts, AFailAfterACloseDropsThePartsStillWaiting) {
  ScriptedPeer peer = stream_peer();
  const StreamId id = open_from_script(peer, 2, StreamWindow{4, 4u << 20});
  ASSERT_EQ(peer.connection().stream_write(0, id, as_bytes(patterned(2u << 20))), Errc::ok);
  ASSERT_EQ(peer.connection().stream_close(0, id), Errc::ok);
  ASSERT_EQ(peer.connection().stream_fail(0, id, Errc::remote_error, "gave up"), Errc::ok);
  bool after_reset = false;
  std::size_t sent_after = 0;
  for (const Placed& p : drain_placed(peer)) {
    if (p.frame.view().mux != id.mux) continue;
    if (p.frame.view().op == Op::stream_reset) {
      after_reset = true;
    } else if (after_reset) {
      sent_after += encoded_size(p.frame.view());
    }
  }
  EXPECT_TRUE(after_reset);
  EXPECT_EQ(sent_after, 0u) << "bytes of the stream sent after its reset";
  EXPECT_EQ(peer.connection().stats().queued_data_bytes, 0u);
  EXPECT_EQ(peer.connection().stats().streams_open, 0u);
}

// ---- receiving ----------------------------------------------------------------------------

TEST(StreamParts, PartsAreOneMessageReadableOnlyOnceTheLastArrives) {
  ScriptedPeer peer = stream_peer(StreamWindow{4, 100});
  const StreamId id = open_from_script(peer, 2);
  const ScriptedPeer::Step first = peer.exchange(part_frame(id, 1, "abc", true));
  expect_stream_goes_on(peer, first, id);
  EXPECT_EQ(count_for<event::StreamReadable>(first.events, id), 0u);
  EXPECT_FALSE(peer.connection().stream_peek(id).has_value());
  EXPECT_EQ(
      count_for<event::StreamReadable>(peer.exchange(part_frame(id, 1, "def", true)).events, id),
      0u);
  const ScriptedPeer::Step last = peer.exchange(part_frame(id, 1, "g", false));
  EXPECT_EQ(count_for<event::StreamReadable>(last.events, id), 1u);
  const std::optional<Bytes> message = peer.connection().stream_peek(id);
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(text_of(*message), "abcdefg");
  // One message's credit, and the bytes of all its parts, come back when it is consumed.
  ASSERT_EQ(peer.connection().stream_consume(0, id), Errc::ok);
  const auto credits = frames_with(peer.read().sent, Op::stream_credit);
  ASSERT_EQ(credits.size(), 1u);
  EXPECT_EQ(credits[0].view().credit_msgs, 1u);
  EXPECT_EQ(credits[0].view().credit_bytes, 7u);
  // The next message is number 2.
  expect_stream_goes_on(peer, peer.exchange(part_frame(id, 2, "h", false)), id);
}

TEST(StreamParts, PartsOfOneMessageSpendOneMessageCredit) {
  ScriptedPeer peer = stream_peer(StreamWindow{1, 100});
  const StreamId id = open_from_script(peer, 2);
  for (int i = 0; i < 5; ++i)
    expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "p", true)), id);
  expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "q", false)), id);
  // The window of one message is spent: a second one is beyond the credit.
  expect_stream_protocol_error(peer, peer.exchange(part_frame(id, 2, "r", true)), id);
}

TEST(StreamParts, PartsUpToTheByteWindowAreTakenOneByteMoreIsAStreamProtocolError) {
  ScriptedPeer peer = stream_peer(StreamWindow{4, 10});
  const StreamId id = open_from_script(peer, 2);
  expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "123456", true)), id);
  expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "7890", true)), id);
  expect_stream_protocol_error(peer, peer.exchange(part_frame(id, 1, "x", false)), id);
}

TEST(StreamParts, APartWithAnotherNumberThanTheMessageItContinuesIsAStreamProtocolError) {
  for (const std::uint64_t wrong : {2u, 0u, 3u}) {  // message 1 is in parts
    ScriptedPeer peer = stream_peer();
    const StreamId id = open_from_script(peer, 2);
    expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "a", true)), id);
    const ScriptedPeer::Step step = peer.exchange(part_frame(id, wrong, "b", false));
    expect_stream_protocol_error(peer, step, id);
  }
}

TEST(StreamParts, AnEndInsideAMessageInPartsIsAStreamProtocolError) {
  for (const std::uint64_t seq : {0u, 1u}) {  // with either count, the message is unfinished
    ScriptedPeer peer = stream_peer();
    const StreamId id = open_from_script(peer, 2);
    expect_stream_goes_on(peer, peer.exchange(part_frame(id, 1, "a", true)), id);
    expect_stream_protocol_error(peer, peer.exchange(testing::end_frame(id, seq)), id);
  }
}

}  // namespace
}  // namespace weft
