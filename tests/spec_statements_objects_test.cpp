// Statements of docs/PROTOCOL.md §6.3 (object streams) that had no test of their own, each
// checked against one node driven frame by frame (tests/support/scripted_peer.hpp): what the
// receiver answers to opens and resumes, the window it grants, acknowledgements, and the
// reason texts of object-stream violations. Part of weft_protocol_contract_tests, beside
// spec_statements_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scripted_peer.hpp"

namespace weft::spec_test {
namespace {

using testing::accepted;
using testing::all_of;
using testing::frames_with;
using testing::kHoldHandler;
using testing::ScriptedPeer;
using testing::text_of;

// ---- §6.3 object streams ------------------------------------------------------------------------

Frame object_open(std::uint64_t mux, std::string_view endpoint, std::uint64_t seq = 1,
                  bool resume = false, std::uint64_t key = 7) {
  return Frame{.op = Op::object_open,
               .flags = resume ? flag::kResume : std::uint16_t{0},
               .mux = mux,
               .seq = seq,
               .name = endpoint,
               .stream_key = key};
}

// The one frame of `op` that `step` sent (a test failure if not exactly one).
std::optional<OwnedFrame> one_sent(const ScriptedPeer::Step& step, Op op) {
  const auto frames = frames_with(step.sent, op);
  EXPECT_EQ(frames.size(), 1u) << op_name(static_cast<std::uint64_t>(op));
  if (frames.size() != 1) return std::nullopt;
  return frames[0];
}

TEST(SpecStatements, S6_3_AnOpenForAnUnknownEndpointIsRejectedAndTheConnectionStays) {
  auto driven = accepted();
  const auto reject = one_sent(driven.exchange(object_open(6, "nowhere")), Op::object_reject);
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->view().mux, 6u);
  EXPECT_EQ(reject->view().status, static_cast<std::uint16_t>(Status::unknown_handler));
  EXPECT_EQ(text_of(reject->view().payload), "no object endpoint nowhere");
  testing::expect_still_up(driven);
}

TEST(SpecStatements, S6_3_AResumeOfAStreamTheReceiverDoesNotHoldIsRejectedStateLost) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  const auto reject =
      one_sent(driven.exchange(object_open(6, "store", 5, true)), Op::object_reject);
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->view().status, static_cast<std::uint16_t>(Status::object_state_lost));
  EXPECT_EQ(text_of(reject->view().payload), "no state for object stream 7");
  testing::expect_still_up(driven);
}

TEST(SpecStatements, S6_3_TheAcceptGrantsTheWindowAndAnObjectIsAcknowledgedWhenRead) {
  auto driven = accepted();
  driven.node().register_object_endpoint("store", ObjectWindow{.objects = 3, .bytes = 70'000});
  const auto accept = one_sent(driven.exchange(object_open(6, "store", 4)), Op::object_accept);
  ASSERT_TRUE(accept);
  EXPECT_EQ(accept->view().seq, 4u);  // the first object it expects: the open's seq
  EXPECT_EQ(accept->view().flags, 0);
  EXPECT_EQ(accept->view().credit_msgs, 3u);
  EXPECT_EQ(accept->view().credit_bytes, 70'000u);
  ObjectHeader named;
  named.name = "x";
  std::vector<std::uint8_t> header;
  encode_object_header(named, header);
  const std::string data = "hello";
  std::uint64_t credit_objects = 0;
  std::uint64_t credit_bytes = 0;
  const auto count_credit = [&](const ScriptedPeer::Step& step) {
    for (const OwnedFrame& credit : frames_with(step.sent, Op::object_credit)) {
      credit_objects += credit.view().credit_msgs;
      credit_bytes += credit.view().credit_bytes;
    }
  };
  auto step = driven.exchange(
      Frame{.op = Op::object_begin, .mux = 6, .seq = 4, .size = 5, .payload = header});
  count_credit(step);
  const auto arrived = all_of<event::ObjectArrived>(step.events);
  ASSERT_EQ(arrived.size(), 1u);
  EXPECT_EQ(arrived[0].object, 4u);
  EXPECT_EQ(arrived[0].header.name, "x");
  EXPECT_EQ(arrived[0].endpoint, "store");
  count_credit(
      driven.exchange(Frame{.op = Op::object_data, .mux = 6, .seq = 4, .payload = as_bytes(data)}));
  step = driven.exchange(Frame{.op = Op::object_end, .mux = 6, .seq = 4, .size = 5});
  count_credit(step);
  EXPECT_TRUE(frames_with(step.sent, Op::object_ack).empty());  // not read yet
  const auto read = driven.connection().object_read(arrived[0].stream);
  ASSERT_TRUE(read);
  EXPECT_EQ(text_of(read->data), "hello");
  EXPECT_TRUE(read->end);
  EXPECT_EQ(driven.connection().object_consume(0, arrived[0].stream, 5), Errc::ok);
  step = driven.read();
  const auto ack = one_sent(step, Op::object_ack);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->view().seq, 4u);
  EXPECT_EQ(ack->view().status, 0);
  count_credit(step);
  // The whole window came back (the header's bytes once delivered): the stream holds nothing.
  EXPECT_EQ(credit_objects, 1u);
  EXPECT_EQ(credit_bytes, header.size() + 5);
  testing::expect_still_up(driven);
}

TEST(SpecStatements, S6_3_ViolationsOfAnObjectStreamAreConnectionProtocolErrors) {
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  const std::string oversized_header(70'000, 'h');  // outlives the frames that view it
  const Frame begin1{.op = Op::object_begin, .mux = 6, .seq = 1, .size = 4, .payload = header};
  struct Case {
    std::string label;
    std::vector<Frame> frames;
    std::string text;
  };
  const std::vector<Case> cases{
      {"object_begin out of order",
       {Frame{.op = Op::object_begin, .mux = 6, .seq = 2, .payload = header}},
       "object_begin 2 on mux 6: object 1 was due"},
      {"object_begin inside an object",
       {begin1, Frame{.op = Op::object_begin, .mux = 6, .seq = 2, .payload = header}},
       "object_begin 2 on mux 6: object 1 has not ended"},
      {"object_data at the wrong offset",
       {begin1,
        Frame{.op = Op::object_data, .mux = 6, .seq = 1, .offset = 1, .payload = as_bytes("ab")}},
       "object_data 1 on mux 6: offset 1 where 0 was due"},
      {"object_data past the size",
       {begin1, Frame{.op = Op::object_data, .mux = 6, .seq = 1, .payload = as_bytes("abcde")}},
       "object_data 1 on mux 6: data past the announced size"},
      {"object_end short of the size",
       {begin1, Frame{.op = Op::object_end, .mux = 6, .seq = 1}},
       "object_end 1 on mux 6: ends at 0 of 4 bytes"},
      {"object_end whose size disagrees",
       {begin1, Frame{.op = Op::object_end, .mux = 6, .seq = 1, .size = 3}},
       "object_end 1 on mux 6: size 3 but 0 bytes arrived"},
      {"object_close inside an object",
       {begin1, Frame{.op = Op::object_close, .mux = 6, .seq = 1}},
       "object_close 1 on mux 6: object 1 is unfinished"},
      {"object_open on an open object stream's id",
       {object_open(6, "store", 1, false, 8)},
       "object_open on mux 6 already open"},
      {"object_open of an open stream key",
       {object_open(8, "store")},
       "object stream 7 is already open on mux 6"},
      {"request on an object stream's id",
       {Frame{.op = Op::request, .mux = 6, .handler = kHoldHandler}},
       "request reuses open mux 6"},
      {"object_begin over the credit",
       {Frame{.op = Op::object_begin, .mux = 6, .seq = 1, .payload = as_bytes(oversized_header)}},
       "object_begin 1 on mux 6: header of 70000 bytes, over 64512"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = accepted();
    driven.node().register_object_endpoint("store");
    driven.feed(object_open(6, "store"));
    for (const Frame& frame : c.frames)
      driven.feed(frame);
    EXPECT_EQ(testing::expect_protocol_error(driven), c.text);
  }
}

TEST(SpecStatements, S6_3_FramesForAnObjectStreamThatIsNotOpenAreIgnored) {
  auto driven = accepted();
  const std::vector<Frame> late{
      Frame{.op = Op::object_begin, .mux = 6, .seq = 1},
      Frame{.op = Op::object_data, .mux = 6, .seq = 1, .payload = as_bytes("x")},
      Frame{.op = Op::object_end, .mux = 6, .seq = 1, .size = 1},
      Frame{.op = Op::object_close, .mux = 6, .seq = 1},
      Frame{.op = Op::object_ack, .mux = 1, .seq = 1},
      Frame{.op = Op::object_credit, .mux = 1, .credit_msgs = 1},
      Frame{.op = Op::object_accept, .mux = 1, .seq = 1},
  };
  for (const Frame& frame : late) {
    SCOPED_TRACE(op_name(static_cast<std::uint64_t>(frame.op)));
    const auto step = driven.exchange(frame);
    EXPECT_TRUE(step.events.empty());
    EXPECT_TRUE(step.sent.empty());
  }
  testing::expect_still_up(driven);
}

}  // namespace
}  // namespace weft::spec_test
