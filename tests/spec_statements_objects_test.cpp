// Statements of docs/PROTOCOL.md §6.3 (object streams) that had no test of their own, each
// checked against one node driven frame by frame (tests/support/scripted_peer.hpp): what the
// receiver answers to opens and resumes, the window it grants, acknowledgements, and the
// reason texts of object-stream violations. Part of weft_protocol_contract_tests, beside
// spec_statements_test.cpp.
#include <gtest/gtest.h>
#include <lz4.h>

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
      {"object_begin inside an object and out of order: the end is checked first",
       {begin1, Frame{.op = Op::object_begin, .mux = 6, .seq = 3, .payload = header}},
       "object_begin 3 on mux 6: object 1 has not ended"},
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
      {"stream_open on an object stream's id",
       {Frame{.op = Op::stream_open, .mux = 6, .handler = testing::kStreamHandler}},
       "stream_open on mux 6 already open"},
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

// "Acknowledgements": an object refused before its end arrived stays unfinished until the
// opener ends it: the next object_begin and an object_close(0) are protocol errors before
// that end, and an end with a non-zero status and the size sent lets the next object in.
TEST(SpecStatements, S6_3_AnObjectRefusedBeforeItsEndIsUnfinishedUntilTheOpenerEndsIt) {
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  const auto refused = [&] {
    auto driven = accepted();
    driven.node().register_object_endpoint("store");
    driven.feed(object_open(6, "store"));
    const auto step = driven.exchange(
        Frame{.op = Op::object_begin, .mux = 6, .seq = 1, .size = 4, .payload = header});
    const auto arrived = all_of<event::ObjectArrived>(step.events);
    EXPECT_EQ(arrived.size(), 1u);
    if (arrived.size() == 1) {
      EXPECT_EQ(driven.connection().object_refuse(0, arrived[0].stream, Errc::busy, "no"),
                Errc::ok);
    }
    const auto ack = one_sent(driven.read(), Op::object_ack);
    EXPECT_TRUE(ack && ack->view().seq == 1 && ack->view().status != 0);
    return driven;
  };
  const Frame begin2{.op = Op::object_begin, .mux = 6, .seq = 2, .payload = header};
  {
    auto driven = refused();
    driven.feed(begin2);
    EXPECT_EQ(testing::expect_protocol_error(driven),
              "object_begin 2 on mux 6: object 1 has not ended");
  }
  {
    auto driven = refused();
    driven.feed(Frame{.op = Op::object_close, .mux = 6, .seq = 1});
    EXPECT_EQ(testing::expect_protocol_error(driven),
              "object_close 1 on mux 6: object 1 is unfinished");
  }
  auto driven = refused();
  const auto end = driven.exchange(Frame{.op = Op::object_end,
                                         .mux = 6,
                                         .seq = 1,
                                         .status = static_cast<std::uint16_t>(Status::canceled),
                                         .payload = as_bytes("refused by the receiver")});
  EXPECT_TRUE(frames_with(end.sent, Op::object_ack).empty());  // acknowledged once only
  EXPECT_EQ(all_of<event::ObjectArrived>(driven.exchange(begin2).events).size(), 1u);
  testing::expect_still_up(driven);
}

// "Closing": an object_close with status open_timeout (the opener gave up waiting for the
// answer to its object_open) ends the object being delivered `disconnected`, the code the
// opener completed it with; any other non-zero status ends it with that status's code.
TEST(SpecStatements, S6_3_AnObjectCloseOpenTimeoutEndsTheObjectBeingDeliveredDisconnected) {
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  const auto aborted_by = [&](Status status) -> std::optional<event::ObjectAborted> {
    auto driven = accepted();
    driven.node().register_object_endpoint("store");
    driven.feed(object_open(6, "store"));
    driven.feed(Frame{.op = Op::object_begin, .mux = 6, .seq = 1, .size = 10, .payload = header});
    const auto step = driven.exchange(Frame{.op = Op::object_close,
                                            .mux = 6,
                                            .seq = 1,
                                            .status = static_cast<std::uint16_t>(status),
                                            .payload = as_bytes("gave up")});
    testing::expect_still_up(driven);
    const auto aborted = all_of<event::ObjectAborted>(step.events);
    EXPECT_EQ(aborted.size(), 1u);
    if (aborted.size() != 1) return std::nullopt;
    return aborted[0];
  };
  const auto timed_out = aborted_by(Status::open_timeout);
  ASSERT_TRUE(timed_out);
  EXPECT_EQ(timed_out->result, Errc::disconnected);
  EXPECT_EQ(timed_out->message, "gave up");
  const auto canceled = aborted_by(Status::canceled);
  ASSERT_TRUE(canceled);
  EXPECT_EQ(canceled->result, Errc::canceled);
  // §7: in any other frame open_timeout is a remote error (here an object_end that aborts).
  auto driven = accepted();
  driven.node().register_object_endpoint("store");
  driven.feed(object_open(6, "store"));
  driven.feed(Frame{.op = Op::object_begin, .mux = 6, .seq = 1, .size = 10, .payload = header});
  const auto step =
      driven.exchange(Frame{.op = Op::object_end,
                            .mux = 6,
                            .seq = 1,
                            .status = static_cast<std::uint16_t>(Status::open_timeout),
                            .payload = as_bytes("gave up")});
  const auto ended = all_of<event::ObjectAborted>(step.events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::remote_error);
  testing::expect_still_up(driven);
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

// ---- §6.3 compression --------------------------------------------------

Frame lz4_open(std::uint64_t mux, std::string_view endpoint) {
  Frame open = object_open(mux, endpoint);
  open.flags = flag::kLz4Stream;
  return open;
}

// A compressed object_data payload written from the spec: the 4-byte big-endian size (the
// data's own unless `declared` says otherwise), then the LZ4 block of `data`.
std::vector<std::uint8_t> lz4_payload(std::string_view data,
                                      std::optional<std::uint32_t> declared = std::nullopt) {
  std::vector<std::uint8_t> out(4 + LZ4_compressBound(static_cast<int>(data.size())));
  const int block =
      LZ4_compress_default(data.data(), reinterpret_cast<char*>(out.data() + 4),
                           static_cast<int>(data.size()), static_cast<int>(out.size() - 4));
  EXPECT_GT(block, 0);
  out.resize(4 + static_cast<std::size_t>(block));
  const std::uint32_t size = declared.value_or(static_cast<std::uint32_t>(data.size()));
  for (int i = 0; i < 4; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
  return out;
}

TEST(SpecStatements, S6_3_AnEndpointThatTakesNoCompressionRejectsALz4OpenUnsupported) {
  auto driven = testing::accepted();
  driven.node().register_object_endpoint("store", {}, ObjectCompression::none);
  const auto reject = one_sent(driven.exchange(lz4_open(6, "store")), Op::object_reject);
  ASSERT_TRUE(reject);
  EXPECT_EQ(reject->view().status, static_cast<std::uint16_t>(Status::unsupported));
  EXPECT_EQ(text_of(reject->view().payload), "object endpoint store takes no compressed streams");
  // The same endpoint takes the stream without compression.
  EXPECT_TRUE(one_sent(driven.exchange(object_open(8, "store")), Op::object_accept));
  testing::expect_still_up(driven);
}

TEST(SpecStatements, S6_3_ACompressedChunkIsReadAsItsDataAndSpendsCreditByItsDataBytes) {
  auto driven = testing::accepted();
  driven.node().register_object_endpoint("store", ObjectWindow{.objects = 2, .bytes = 70'000});
  ASSERT_TRUE(one_sent(driven.exchange(lz4_open(6, "store")), Op::object_accept));
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  const std::string compressible(30'000, 'w');
  const std::vector<std::uint8_t> payload = lz4_payload(compressible);
  ASSERT_LT(payload.size(), 1'000u);
  auto step = driven.exchange(
      Frame{.op = Op::object_begin, .mux = 6, .seq = 1, .size = 30'005, .payload = header});
  const auto arrived = all_of<event::ObjectArrived>(step.events);
  ASSERT_EQ(arrived.size(), 1u);
  driven.feed(
      Frame{.op = Op::object_data, .flags = flag::kLz4, .mux = 6, .seq = 1, .payload = payload});
  // Offsets count data bytes: the next chunk (uncompressed: a compressed stream may send
  // either) is at 30000, not at the payload's length.
  driven.feed(Frame{
      .op = Op::object_data, .mux = 6, .seq = 1, .offset = 30'000, .payload = as_bytes("tail!")});
  driven.feed(Frame{.op = Op::object_end, .mux = 6, .seq = 1, .size = 30'005});
  testing::expect_still_up(driven);
  std::string read;
  while (const auto chunk = driven.connection().object_read(arrived[0].stream)) {
    read += text_of(chunk->data);
    ASSERT_EQ(driven.connection().object_consume(0, arrived[0].stream, chunk->data.size()),
              Errc::ok);
    if (chunk->end) break;
  }
  EXPECT_EQ(read, compressible + "tail!");
  // Counters count data bytes; wire_bytes the payloads. (Credit by data bytes: the case
  // "a declared size beyond the credit" below.)
  const auto stats = driven.connection().object_stream_stats(0, arrived[0].stream);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->bytes, 30'005u);
  EXPECT_EQ(stats->wire_bytes, payload.size() + 5);
  EXPECT_EQ(stats->compression, ObjectCompression::lz4);
}

TEST(SpecStatements, S6_3_BadCompressedChunksAreConnectionProtocolErrorsWithTheirOffset) {
  std::vector<std::uint8_t> header;
  encode_object_header(ObjectHeader{}, header);
  const std::string data(5'000, 'z');
  const std::vector<std::uint8_t> good = lz4_payload(data);
  const std::vector<std::uint8_t> declared_more = lz4_payload(data, 5'001);
  const std::vector<std::uint8_t> declared_less = lz4_payload(data, 4'999);
  const std::vector<std::uint8_t> declared_zero = lz4_payload(data, 0);
  const std::vector<std::uint8_t> declared_huge = lz4_payload(data, 0xffff'ffff);
  const std::vector<std::uint8_t> over_credit = lz4_payload(std::string(80'000, 'z'));
  std::vector<std::uint8_t> garbage = good;
  garbage.resize(20);
  garbage[4] = 0xff;  // a literal run whose length bytes outrun the block
  const std::vector<std::uint8_t> short_size{0x00, 0x00, 0x13};
  struct Case {
    std::string label;
    bool lz4_stream;
    std::uint64_t size;  // of object 1; 0 for an unsized object
    Bytes first;         // a first, uncompressed chunk (may be empty: none)
    Bytes payload;       // the compressed chunk after it
    std::string text;
  };
  const std::string kFirst = "0123456789";
  const std::string at0 = "object_data 1 on mux 6: bad compressed chunk at offset 0: ";
  const std::vector<Case> cases{
      {"flag lz4 on a stream opened without it",
       false,
       0,
       {},
       good,
       "object_data 1 on mux 6: compressed data on a stream opened without lz4"},
      {"a payload shorter than its size",
       true,
       0,
       {},
       short_size,
       at0 + "3 bytes, shorter than its 4-byte size"},
      {"a declared size of 0",
       true,
       0,
       {},
       declared_zero,
       at0 + "declares 0 bytes, outside 1..8388608"},
      {"a declared size over the frame limit",
       true,
       0,
       {},
       declared_huge,
       at0 + "declares 4294967295 bytes, outside 1..8388608"},
      {"a declared size past the object",
       true,
       4'000,
       {},
       good,
       "object_data 1 on mux 6: data past the announced size"},
      {"a declared size beyond the credit",
       true,
       0,
       {},
       over_credit,
       "object_data 1 on mux 6: beyond the granted credit"},
      {"a block that does not decode",
       true,
       0,
       {},
       garbage,
       at0 + "the LZ4 block does not decode into 5000 bytes"},
      {"a block shorter than declared",
       true,
       0,
       {},
       declared_more,
       at0 + "the LZ4 block decodes to 5000 of 5001 bytes"},
      {"a block longer than declared, after data", true, 0, as_bytes(kFirst), declared_less,
       "object_data 1 on mux 6: bad compressed chunk at offset 10: the LZ4 block does not "
       "decode into 4999 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = testing::accepted();
    driven.node().register_object_endpoint("store", ObjectWindow{.objects = 4, .bytes = 70'000});
    driven.feed(c.lz4_stream ? lz4_open(6, "store") : object_open(6, "store"));
    driven.feed(Frame{.op = Op::object_begin,
                      .flags = c.size == 0 ? flag::kSizeUnknown : std::uint16_t{0},
                      .mux = 6,
                      .seq = 1,
                      .size = c.size,
                      .payload = header});
    if (!c.first.empty())
      driven.feed(Frame{.op = Op::object_data, .mux = 6, .seq = 1, .payload = c.first});
    driven.feed(Frame{.op = Op::object_data,
                      .flags = flag::kLz4,
                      .mux = 6,
                      .seq = 1,
                      .offset = c.first.size(),
                      .payload = c.payload});
    EXPECT_EQ(testing::expect_protocol_error(driven), c.text);
  }
}

}  // namespace
}  // namespace weft::spec_test
