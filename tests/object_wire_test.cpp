// The two frame forms that keep small objects cheap (PROTOCOL.md §6.3): an object_begin
// with flag ends carries a whole object without data, and an object_ack with flag through
// acknowledges every object up to its number. Checked from both sides of the wire against
// a scripted peer: what the node sends, what it accepts, and what it refuses.
#include <gtest/gtest.h>

#include "scripted_peer.hpp"

namespace weft::testing {
namespace {

constexpr std::uint64_t kMux = 6;

Frame open_frame() {
  return Frame{.op = Op::object_open, .mux = kMux, .seq = 1, .name = "store", .stream_key = 7};
}

std::vector<std::uint8_t> empty_header() {
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  return header;
}

Frame whole_begin(std::uint64_t seq, const std::vector<std::uint8_t>& header) {
  return Frame{
      .op = Op::object_begin, .flags = flag::kEnds, .mux = kMux, .seq = seq, .payload = header};
}

ObjectArgs header_only() {
  ObjectArgs args;
  args.kind = ObjectSize::header_only;
  args.header.opcode = 3;
  return args;
}

// The node's application reads every object of `stream` that is there, to its end.
void read_all(ScriptedPeer& driven, ObjectStreamId stream, std::uint64_t& finished) {
  while (auto read = driven.connection().object_read(stream)) {
    ASSERT_EQ(driven.connection().object_consume(0, stream, read->data.size()), Errc::ok);
    if (read->end) ++finished;
  }
}

// ---- the node receives ----------------------------------------------------------------

TEST(ObjectWire, AnObjectWholeInItsBeginIsDeliveredAndAcknowledged) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  driven.exchange(open_frame());
  driven.feed(whole_begin(1, empty_header()));
  const auto arrived = driven.all<event::ObjectArrived>();
  ASSERT_EQ(arrived.size(), 1u);
  const auto read = driven.connection().object_read(arrived[0].stream);
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->end);
  EXPECT_TRUE(read->data.empty());
  ASSERT_EQ(driven.connection().object_consume(0, arrived[0].stream, 0), Errc::ok);
  const auto acks = frames_with(driven.read().sent, Op::object_ack);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].view().seq, 1u);
  EXPECT_EQ(acks[0].view().flags, 0);
  // The next object follows at once: no object_end was due for the first.
  driven.feed(whole_begin(2, empty_header()));
  EXPECT_EQ(driven.all<event::ObjectArrived>().size(), 2u);
  expect_still_up(driven);
}

TEST(ObjectWire, ObjectsFinishedBetweenTwoWritesAreAcknowledgedByOneFrame) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  driven.exchange(open_frame());
  const auto header = empty_header();
  for (std::uint64_t n = 1; n <= 5; ++n)
    driven.feed(whole_begin(n, header));
  const ObjectStreamId stream = driven.all<event::ObjectArrived>().at(0).stream;
  std::uint64_t finished = 0;
  read_all(driven, stream, finished);
  ASSERT_EQ(finished, 5u);
  const auto acks = frames_with(driven.read().sent, Op::object_ack);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].view().flags, flag::kThrough);
  EXPECT_EQ(acks[0].view().seq, 5u);
  EXPECT_EQ(acks[0].view().status, 0);
}

TEST(ObjectWire, ARefusalGoesAfterTheAcksBeforeItAndAloneWithItsText) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  driven.exchange(open_frame());
  const auto header = empty_header();
  for (std::uint64_t n = 1; n <= 4; ++n)
    driven.feed(whole_begin(n, header));
  const ObjectStreamId stream = driven.all<event::ObjectArrived>().at(0).stream;
  PeerConnection connection = driven.connection();
  for (std::uint64_t n = 1; n <= 4; ++n) {
    const auto read = connection.object_read(stream);
    ASSERT_TRUE(read);
    ASSERT_EQ(read->object, n);
    if (n == 3) {
      ASSERT_EQ(connection.object_refuse(0, stream, Errc::busy, "full"), Errc::ok);
    } else {
      ASSERT_EQ(connection.object_consume(0, stream, 0), Errc::ok);
    }
  }
  const auto acks = frames_with(driven.read().sent, Op::object_ack);
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].view().seq, 2u);
  EXPECT_EQ(acks[0].view().flags, flag::kThrough);
  EXPECT_EQ(acks[1].view().seq, 3u);
  EXPECT_EQ(acks[1].view().status, static_cast<std::uint16_t>(Status::busy));
  EXPECT_EQ(text_of(acks[1].view().payload), "full");
  EXPECT_EQ(acks[2].view().seq, 4u);
  EXPECT_EQ(acks[2].view().flags, 0);
}

TEST(ObjectWire, AcksHeldBackWhenTheConnectionDropsAreSentAfterTheResume) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  driven.exchange(open_frame());
  const auto header = empty_header();
  for (std::uint64_t n = 1; n <= 3; ++n)
    driven.feed(whole_begin(n, header));
  const ObjectStreamId stream = driven.all<event::ObjectArrived>().at(0).stream;
  std::uint64_t finished = 0;
  read_all(driven, stream, finished);
  ASSERT_EQ(finished, 3u);
  // The acks were never written: the transport goes down first.
  redial(driven);
  Frame resume = open_frame();
  resume.flags = flag::kResume;
  resume.mux = 8;
  const auto sent = driven.exchange(resume).sent;
  const auto accepts = frames_with(sent, Op::object_accept);
  ASSERT_EQ(accepts.size(), 1u);
  EXPECT_EQ(accepts[0].view().seq, 4u);
  const auto acks = frames_with(sent, Op::object_ack);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].view().mux, 8u);
  EXPECT_EQ(acks[0].view().seq, 3u);
  EXPECT_EQ(acks[0].view().flags, flag::kThrough);
  EXPECT_EQ(driven.all<event::ObjectArrived>().size(), 3u);  // none delivered twice
}

// ---- the node sends -------------------------------------------------------------------

struct SendingSide {
  ScriptedPeer driven = accepted();
  ObjectStreamId stream;
  std::uint64_t mux = 0;

  explicit SendingSide(int header_only_objects) {
    stream = driven.connection().open_object_stream(0, "store").id;
    for (int i = 0; i < header_only_objects; ++i)
      EXPECT_EQ(driven.connection().object_post(0, stream, header_only()).error, Errc::ok);
    mux = frames_with(driven.read().sent, Op::object_open).at(0).view().mux;
  }
  std::vector<OwnedFrame> accept() {
    return driven
        .exchange(Frame{.op = Op::object_accept,
                        .mux = mux,
                        .seq = 1,
                        .credit_msgs = 16,
                        .credit_bytes = 1 << 20})
        .sent;
  }
};

TEST(ObjectWire, AHeaderOnlyObjectIsOneFrame) {
  SendingSide side(3);
  const auto sent = side.accept();
  const auto begins = frames_with(sent, Op::object_begin);
  ASSERT_EQ(begins.size(), 3u);
  for (std::size_t i = 0; i < begins.size(); ++i) {
    EXPECT_EQ(begins[i].view().seq, i + 1);
    EXPECT_EQ(begins[i].view().flags, flag::kEnds);
    EXPECT_EQ(begins[i].view().size, 0u);
  }
  EXPECT_TRUE(frames_with(sent, Op::object_end).empty());
}

TEST(ObjectWire, AnAckThroughCompletesEveryObjectUpToItInOrder) {
  SendingSide side(4);
  side.accept();
  side.driven.feed(Frame{.op = Op::object_ack, .flags = flag::kThrough, .mux = side.mux, .seq = 3});
  const auto done = side.driven.all<event::ObjectCompleted>();
  ASSERT_EQ(done.size(), 3u);
  for (std::size_t i = 0; i < done.size(); ++i) {
    EXPECT_EQ(done[i].object, i + 1);
    EXPECT_EQ(done[i].result, Errc::ok);
  }
  side.driven.feed(Frame{.op = Op::object_ack, .mux = side.mux, .seq = 4});
  EXPECT_EQ(side.driven.all<event::ObjectCompleted>().size(), 4u);
  expect_still_up(side.driven);
}

TEST(ObjectWire, AnAckThroughAnObjectNotSentWholeIsAProtocolError) {
  SendingSide side(2);
  // A sized object whose data cannot all go: the credit holds 100 bytes.
  ObjectArgs sized;
  sized.size = 1000;
  sized.data = SharedBytes(std::vector<std::uint8_t>(1000, 1));
  ASSERT_EQ(side.driven.connection().object_post(0, side.stream, std::move(sized)).error, Errc::ok);
  side.driven.exchange(Frame{
      .op = Op::object_accept, .mux = side.mux, .seq = 1, .credit_msgs = 16, .credit_bytes = 100});
  side.driven.feed(Frame{.op = Op::object_ack, .flags = flag::kThrough, .mux = side.mux, .seq = 3});
  EXPECT_EQ(expect_protocol_error(side.driven),
            "object_ack 3 on mux " + std::to_string(side.mux) +
                ": object 3 was not begun or its end was not sent");
  EXPECT_TRUE(side.driven.all<event::ObjectCompleted>().empty());  // nothing half-applied
}

TEST(ObjectWire, AnAckThroughAnObjectAlreadyAcknowledgedIsAProtocolError) {
  SendingSide side(2);
  side.accept();
  side.driven.feed(Frame{.op = Op::object_ack, .mux = side.mux, .seq = 1});
  side.driven.feed(Frame{.op = Op::object_ack, .flags = flag::kThrough, .mux = side.mux, .seq = 1});
  EXPECT_EQ(expect_protocol_error(side.driven),
            "object_ack 1 on mux " + std::to_string(side.mux) + ": object 2 was due");
}

// The open the node sends on the connection the script dials next, once the old one is gone.
Frame reopened(SendingSide& side) {
  const ScriptedPeer::Step step = redial(side.driven);
  std::vector<OwnedFrame> opens = frames_with(step.sent, Op::object_open);
  if (opens.empty()) opens = frames_with(side.driven.read().sent, Op::object_open);
  EXPECT_EQ(opens.size(), 1u);
  if (opens.empty()) return Frame{};
  side.mux = opens[0].view().mux;
  const Frame open = opens[0].view();
  return open;
}

// §4.7: after a goaway(idle), an object the peer never acknowledged starts over under the
// next number, and the peer's ack of that number completes it. Before, the node still
// waited for the old number's ack: "object 1 was due", a protocol error, and on the next
// resume the object ended object_state_lost although the receiver had finished it.
TEST(ObjectWire, AfterAGoawayIdleAnObjectStartedOverIsAcknowledgedUnderItsNewNumber) {
  SendingSide side(1);
  const auto first = frames_with(side.accept(), Op::object_begin);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].view().seq, 1u);
  side.driven.feed(Frame{.op = Op::goaway,
                         .status = static_cast<std::uint16_t>(Status::idle),
                         .payload = as_bytes("idle for 30000 ms")});
  ASSERT_TRUE(side.driven.all<event::ObjectCompleted>().empty());
  const Frame open = reopened(side);
  EXPECT_EQ(open.flags & flag::kResume, 0);
  EXPECT_EQ(open.seq, 2u);
  const auto begins = frames_with(side.driven
                                      .exchange(Frame{.op = Op::object_accept,
                                                      .mux = side.mux,
                                                      .seq = 2,
                                                      .credit_msgs = 16,
                                                      .credit_bytes = 1 << 20})
                                      .sent,
                                  Op::object_begin);
  ASSERT_EQ(begins.size(), 1u);
  EXPECT_EQ(begins[0].view().seq, 2u);
  side.driven.feed(Frame{.op = Op::object_ack, .mux = side.mux, .seq = 2});
  const auto done = side.driven.all<event::ObjectCompleted>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].object, 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::ok));
  // The goaway's close is the only one: the new connection stays up.
  EXPECT_EQ(side.driven.all<event::CloseTransport>().size(), 1u);
  EXPECT_EQ(side.driven.all<event::PeerDown>().size(), 1u);
}

// §6.3: after a resume, an object the receiver's accept did not say begun is not begun on
// this connection: an ack of it is a protocol error. Before, a refusal ack completed it
// while it stayed due, so its begin went out again (and its data was asked for) after its
// completion.
TEST(ObjectWire, AfterAResumeAnAckOfAnObjectNotBegunAgainIsAProtocolError) {
  SendingSide side(1);
  ASSERT_EQ(frames_with(side.accept(), Op::object_begin).size(), 1u);
  const Frame open = reopened(side);
  EXPECT_EQ(open.flags & flag::kResume, flag::kResume);
  EXPECT_EQ(open.seq, 1u);
  side.driven.feed(Frame{.op = Op::object_accept, .mux = side.mux, .seq = 1});  // no credit
  side.driven.feed(Frame{.op = Op::object_ack,
                         .mux = side.mux,
                         .seq = 1,
                         .status = static_cast<std::uint16_t>(Status::busy)});
  const std::optional<OwnedFrame> goaway = final_frame(side.driven);
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(text_of(goaway->view().payload),
            "object_ack 1 on mux " + std::to_string(side.mux) + ": no such object was begun");
  EXPECT_TRUE(side.driven.all<event::ObjectCompleted>().empty());
}

}  // namespace
}  // namespace weft::testing
