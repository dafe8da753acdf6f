// Contract tests of docs/PROTOCOL.md's rules for an established connection, each at its
// boundary and one past it: mux parity and reuse (§4.4), payload parts (§6.1), checksum
// negotiation (§4.3) and goaway (§4.6). The handshake's rules are in
// handshake_contracts_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <optional>

#include "scripted_peer.hpp"

namespace weft::protocol_test {
namespace {

using testing::accepted;
using testing::accepting;
using testing::acceptor_config;
using testing::dialed;
using testing::dialing;
using testing::expect_protocol_error;
using testing::expect_still_up;
using testing::frames_in;
using testing::hello_frame;
using testing::kEchoHandler;
using testing::kHoldHandler;
using testing::kStreamHandler;
using testing::ScriptedPeer;
using testing::welcome_frame;

// ---- §4.4 mux parity ----------------------------------------------------------------------

// Whose parity an op's mux must carry, as seen by the receiver: the sender's (it opened the
// exchange), the receiver's (it answers an exchange the receiver opened), or either (the op
// travels both ways on an exchange).
enum class Side { sender, receiver, either };
struct ParityRule {
  Op op;
  Side side;
};
// §4.4 names the opening frames and the answers; §6.2 adds stream_ping (from the opener)
// and stream_pong (to it); cancel, object_data, object_end and object_close travel only from
// the opener, object_ack and object_credit only to it, so "a frame that refers to a mux id
// must match its direction" applies to them too.
constexpr ParityRule kParityRules[] = {
    {Op::request, Side::sender},         {Op::response, Side::receiver},
    {Op::cancel, Side::sender},          {Op::continuation, Side::either},
    {Op::stream_open, Side::sender},     {Op::stream_accept, Side::receiver},
    {Op::stream_reject, Side::receiver}, {Op::stream_msg, Side::either},
    {Op::stream_credit, Side::either},   {Op::stream_end, Side::either},
    {Op::stream_reset, Side::either},    {Op::stream_ping, Side::sender},
    {Op::stream_pong, Side::receiver},   {Op::object_open, Side::sender},
    {Op::object_accept, Side::receiver}, {Op::object_reject, Side::receiver},
    {Op::object_begin, Side::sender},    {Op::object_data, Side::sender},
    {Op::object_end, Side::sender},      {Op::object_ack, Side::receiver},
    {Op::object_credit, Side::receiver}, {Op::object_close, Side::sender},
};

// A valid frame of `op` (from the shared samples) on `mux`.
OwnedFrame sample_of(Op op, std::uint64_t mux) {
  for (const testing::SampleFrame& sample : testing::sample_frames()) {
    if (sample.frame.view().op != op) continue;
    OwnedFrame frame = sample.frame;
    frame.scalars().mux = mux;
    return frame;
  }
  ADD_FAILURE() << "no sample of " << op_name(static_cast<std::uint64_t>(op));
  return {};
}

// A mux id of `parity` that no exchange uses yet.
constexpr std::uint64_t unopened_mux(std::uint64_t parity) {
  return 2000 + parity;
}

// Runs `check` on a fresh established connection for each role the node can have, with the
// node's own parity (dialer 0, acceptor 1) and the peer's.
void for_each_role(
    const std::function<void(ScriptedPeer&, std::uint64_t own, std::uint64_t theirs)>& check) {
  for (const bool node_dials : {false, true}) {
    SCOPED_TRACE(node_dials ? "the node dialed" : "the node accepted");
    auto driven = node_dials ? dialed() : accepted();
    const std::uint64_t own = node_dials ? 0 : 1;
    check(driven, own, 1 - own);
  }
}

TEST(ProtocolContracts, ParityTableCoversEveryOpThatCarriesAMux) {
  for (const OpSchema& schema : all_schemas()) {
    const bool listed = std::any_of(std::begin(kParityRules), std::end(kParityRules),
                                    [&](const ParityRule& rule) { return rule.op == schema.op; });
    EXPECT_EQ(listed, !schema.connection_level) << schema.name;
  }
}

TEST(ProtocolContracts, EveryOpWithTheWrongParityIsAProtocolError) {
  for (const ParityRule& rule : kParityRules) {
    if (rule.side == Side::either) continue;
    SCOPED_TRACE(op_name(static_cast<std::uint64_t>(rule.op)));
    for_each_role([&](ScriptedPeer& driven, std::uint64_t own, std::uint64_t theirs) {
      const std::uint64_t wrong = rule.side == Side::sender ? own : theirs;
      driven.feed(sample_of(rule.op, unopened_mux(wrong)).view());
      expect_protocol_error(driven);
      EXPECT_NE(driven.connection().state(), PeerState::established);
    });
  }
}

TEST(ProtocolContracts, EveryOpWithTheRightParityOnAnUnopenedMuxKeepsTheConnection) {
  for (const ParityRule& rule : kParityRules) {
    SCOPED_TRACE(op_name(static_cast<std::uint64_t>(rule.op)));
    for_each_role([&](ScriptedPeer& driven, std::uint64_t own, std::uint64_t theirs) {
      // Ops that travel both ways are right with either parity.
      for (const std::uint64_t parity : {theirs, own}) {
        const bool right =
            rule.side == Side::either || parity == (rule.side == Side::sender ? theirs : own);
        if (!right) continue;
        driven.feed(sample_of(rule.op, unopened_mux(parity)).view());
        expect_still_up(driven);
      }
    });
  }
}

// ---- §4.4 reuse of an open mux id -----------------------------------------------------------

Frame request_on(std::uint64_t mux, std::uint16_t handler = kHoldHandler) {
  return Frame{.op = Op::request, .mux = mux, .handler = handler, .payload = as_bytes("q")};
}

Frame stream_open_on(std::uint64_t mux) {
  return Frame{.op = Op::stream_open,
               .flags = flag::kHasInput,
               .mux = mux,
               .handler = kStreamHandler,
               .credit_msgs = 4,
               .credit_bytes = 4096};
}

constexpr std::uint64_t kPeerMux = 2;  // the scripted dialer's parity (even)

TEST(ProtocolContracts, RequestOnAMuxWhoseRequestIsStillOpenIsAProtocolError) {
  auto driven = accepted();
  driven.feed(request_on(kPeerMux));
  const auto first = driven.last<event::RequestReceived>();
  ASSERT_TRUE(first.has_value());
  driven.feed(request_on(kPeerMux));
  expect_protocol_error(driven);
  EXPECT_EQ(driven.all<event::RequestReceived>().size(), 1u);
  // The open request ends exactly once, with the connection.
  const auto canceled = driven.all<event::RequestCanceled>();
  ASSERT_EQ(canceled.size(), 1u);
  EXPECT_EQ(canceled[0].id, first->id);
  EXPECT_EQ(canceled[0].reason, Errc::disconnected);
}

TEST(ProtocolContracts, RequestOnAMuxWhosePartsAreStillArrivingIsAProtocolError) {
  auto driven = accepted();
  driven.feed(Frame{.op = Op::request,
                    .flags = flag::kMore,
                    .mux = kPeerMux,
                    .seq = 10,
                    .handler = kHoldHandler,
                    .payload = as_bytes("abcd")});
  driven.feed(request_on(kPeerMux));
  expect_protocol_error(driven);
  EXPECT_TRUE(driven.all<event::RequestReceived>().empty());
}

TEST(ProtocolContracts, MuxIdNoLongerOpenIsNotCheckedByTheReceiver) {
  // One past the boundary: the receiver tracks open ids only, so an id whose request was
  // answered is served again (PROTOCOL.md puts "never reuse" on the opener).
  auto driven = accepted();
  driven.feed(request_on(kPeerMux));
  const auto first = driven.last<event::RequestReceived>();
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(driven.connection().respond(0, first->id, as_bytes("a")), Errc::ok);
  driven.feed(request_on(kPeerMux));
  EXPECT_EQ(driven.all<event::RequestReceived>().size(), 2u);
  expect_still_up(driven);
}

TEST(ProtocolContracts, StreamOpenOnAMuxWhoseStreamIsStillOpenIsAProtocolError) {
  auto driven = accepted();
  driven.feed(stream_open_on(kPeerMux));
  const auto opened = driven.last<event::StreamOpened>();
  ASSERT_TRUE(opened.has_value());
  driven.feed(stream_open_on(kPeerMux));
  expect_protocol_error(driven);
  EXPECT_EQ(driven.all<event::StreamOpened>().size(), 1u);
  const auto ended = driven.all<event::StreamEnded>();
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].id, opened->id);
  EXPECT_EQ(ended[0].result, Errc::disconnected);
}

TEST(ProtocolContracts, OpeningFrameOnAMuxOpenForAnotherKindOfExchangeIsAProtocolError) {
  // Requests and streams share one id space per connection (§4.4: "an opening frame whose id
  // is already open on the receiving side").
  {
    auto driven = accepted();
    driven.feed(stream_open_on(kPeerMux));
    ASSERT_TRUE(driven.last<event::StreamOpened>().has_value());
    driven.feed(request_on(kPeerMux));
    expect_protocol_error(driven);
    EXPECT_TRUE(driven.all<event::RequestReceived>().empty());
  }
  {
    auto driven = accepted();
    driven.feed(request_on(kPeerMux));
    ASSERT_TRUE(driven.last<event::RequestReceived>().has_value());
    driven.feed(stream_open_on(kPeerMux));
    expect_protocol_error(driven);
    EXPECT_TRUE(driven.all<event::StreamOpened>().empty());
  }
}

// ---- §6.1 payload parts -----------------------------------------------------------------------

Frame first_part(Op op, std::uint64_t mux, std::uint64_t total_bytes, std::string_view bytes) {
  Frame frame{
      .op = op, .flags = flag::kMore, .mux = mux, .seq = total_bytes, .payload = as_bytes(bytes)};
  if (op == Op::request) frame.handler = kHoldHandler;
  return frame;
}

Frame part(std::uint64_t mux, std::uint64_t number, bool last, std::string_view bytes) {
  return Frame{.op = Op::continuation,
               .flags = last ? std::uint16_t{0} : flag::kMore,
               .mux = mux,
               .seq = number,
               .payload = as_bytes(bytes)};
}

TEST(ProtocolContracts, RequestPartsOutOfOrderAreAProtocolError) {
  // After part 1, part 2 is due: 2 completes the request, anything else ends the connection.
  struct Case {
    std::uint64_t number;
    bool accepted;
  };
  for (const Case c : {Case{2, true}, Case{3, false}, Case{1, false}, Case{0, false}}) {
    SCOPED_TRACE("part " + std::to_string(c.number) + " after part 1");
    auto driven = accepted();
    driven.feed(first_part(Op::request, kPeerMux, 10, "abcd"));
    driven.feed(part(kPeerMux, 1, false, "ef"));
    driven.feed(part(kPeerMux, c.number, true, "ghij"));
    if (c.accepted) {
      expect_still_up(driven);
      const auto received = driven.last<event::RequestReceived>();
      ASSERT_TRUE(received.has_value());
      EXPECT_EQ(std::string(received->payload.begin(), received->payload.end()), "abcdefghij");
    } else {
      const std::string why = expect_protocol_error(driven);
      EXPECT_NE(why.find("out of order"), std::string::npos) << why;
      EXPECT_TRUE(driven.all<event::RequestReceived>().empty());
    }
  }
}

TEST(ProtocolContracts, ContinuationOfACompleteRequestIsAProtocolErrorWhileItIsOpen) {
  {  // sent whole, not answered yet
    auto driven = accepted();
    driven.feed(request_on(kPeerMux));
    driven.feed(part(kPeerMux, 1, true, "x"));
    expect_protocol_error(driven);
  }
  {  // sent in parts, all arrived, not answered yet
    auto driven = accepted();
    driven.feed(first_part(Op::request, kPeerMux, 3, "ab"));
    driven.feed(part(kPeerMux, 1, true, "c"));
    ASSERT_TRUE(driven.last<event::RequestReceived>().has_value());
    driven.feed(part(kPeerMux, 2, true, "d"));
    expect_protocol_error(driven);
  }
  {  // answered: the mux is no longer open, so a late part is ignored
    auto driven = accepted();
    driven.feed(request_on(kPeerMux));
    const auto received = driven.last<event::RequestReceived>();
    ASSERT_TRUE(received.has_value());
    ASSERT_EQ(driven.connection().respond(0, received->id, as_bytes("a")), Errc::ok);
    driven.feed(part(kPeerMux, 1, true, "x"));
    expect_still_up(driven);
  }
}

// A request from the node under test (an acceptor: odd mux) waiting for its response.
RequestId outbound_request(ScriptedPeer& driven) {
  const Call call = driven.connection().request(0, RequestArgs{.handler = kEchoHandler});
  EXPECT_EQ(call.error, Errc::ok);
  EXPECT_EQ(call.id & 1, 1u);
  return call.id;
}

TEST(ProtocolContracts, ResponsePartsOutOfOrderAreAProtocolErrorEndingTheCallOnce) {
  struct Case {
    std::uint64_t number;
    bool accepted;
  };
  for (const Case c : {Case{1, true}, Case{2, false}, Case{0, false}}) {
    SCOPED_TRACE("part " + std::to_string(c.number) + " after the first");
    auto driven = accepted();
    const RequestId id = outbound_request(driven);
    driven.feed(first_part(Op::response, id, 10, "abcd"));
    driven.feed(part(id, c.number, true, "efghij"));
    const auto done = driven.all<event::RequestDone>();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].id, id);
    if (c.accepted) {
      expect_still_up(driven);
      EXPECT_EQ(done[0].result, Errc::ok);
      EXPECT_EQ(std::string(done[0].payload.begin(), done[0].payload.end()), "abcdefghij");
    } else {
      const std::string why = expect_protocol_error(driven);
      EXPECT_NE(why.find("out of order"), std::string::npos) << why;
      EXPECT_EQ(done[0].result, Errc::disconnected);
    }
  }
}

// §9: a protocol error ends the connection, and nothing after the offending frame is read,
// even when the frames behind it came in the same read. A second response on a mux is such
// an error: before, the rest of the read was still dispatched, so a request behind it reached
// the application after PeerDown (its entry then lived on into the next connection), and
// builds with assertions failed one ("dispatch on a connection that is not established").
TEST(ProtocolContracts, FramesBehindAProtocolErrorInTheSameReadAreNeverDispatched) {
  auto driven = accepted();
  const RequestId id = outbound_request(driven);
  std::vector<std::uint8_t> read;
  for (const Frame& frame :
       {first_part(Op::response, id, 10, "abcd"), first_part(Op::response, id, 10, "abcd"),
        request_on(kPeerMux, kEchoHandler), Frame{.op = Op::ping, .seq = 7}}) {
    Frame checked = frame;
    checked.checksum = true;
    const std::vector<std::uint8_t> encoded = testing::encode_to_vector(checked);
    read.insert(read.end(), encoded.begin(), encoded.end());
  }
  driven.feed_bytes(read);
  const std::string why = expect_protocol_error(driven);
  EXPECT_NE(why.find("second response on mux"), std::string::npos) << why;
  EXPECT_TRUE(driven.all<event::RequestReceived>().empty())
      << "a request read after the protocol error reached the application";
  std::vector<OwnedFrame> sent = driven.written();
  if (const auto close = driven.last<event::CloseTransport>()) {
    const std::vector<OwnedFrame> last = frames_in(close->final_bytes);
    sent.insert(sent.end(), last.begin(), last.end());
  }
  for (const OwnedFrame& frame : sent)
    EXPECT_NE(frame.view().op, Op::pong) << "a ping read after the protocol error was answered";
  const auto done = driven.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, Errc::disconnected);
}

TEST(ProtocolContracts, ContinuationOfAResponseOutsideItsPartsIsAProtocolErrorOrIgnored) {
  {  // before any part of the response: no part is due yet
    auto driven = accepted();
    const RequestId id = outbound_request(driven);
    driven.feed(part(id, 1, true, "x"));
    expect_protocol_error(driven);
    const auto done = driven.all<event::RequestDone>();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result, Errc::disconnected);
  }
  {  // after the last part: the call has ended, so its mux is no longer open
    auto driven = accepted();
    const RequestId id = outbound_request(driven);
    driven.feed(first_part(Op::response, id, 3, "ab"));
    driven.feed(part(id, 1, true, "c"));
    driven.feed(part(id, 2, true, "d"));
    expect_still_up(driven);
    const auto done = driven.all<event::RequestDone>();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(std::string(done[0].payload.begin(), done[0].payload.end()), "abc");
  }
  {  // after a response sent whole
    auto driven = accepted();
    const RequestId id = outbound_request(driven);
    driven.feed(Frame{.op = Op::response, .mux = id, .payload = as_bytes("abc")});
    driven.feed(part(id, 1, true, "d"));
    expect_still_up(driven);
    EXPECT_EQ(driven.all<event::RequestDone>().size(), 1u);
  }
}

// ---- §4.3 checksums ------------------------------------------------------------------------

TEST(ProtocolContracts, EitherSideAskingForChecksumsMakesBothDirectionsCarryThem) {
  struct Case {
    bool dialer_asks;
    bool acceptor_asks;
  };
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  for (const Case c :
       {Case{false, false}, Case{true, false}, Case{false, true}, Case{true, true}}) {
    SCOPED_TRACE(std::string("dialer asks: ") + (c.dialer_asks ? "yes" : "no") +
                 ", acceptor asks: " + (c.acceptor_asks ? "yes" : "no"));
    testing::Cluster cluster({"alpha", "bravo"}, {}, [&](NodeConfig& config) {
      config.checksums = config.name == dialer ? c.dialer_asks : c.acceptor_asks;
    });
    ASSERT_TRUE(cluster.run_until_connected());
    const std::size_t d = cluster.net().index_of(dialer);
    const std::size_t a = 1 - d;
    for (const auto& [from, to] : {std::pair{d, a}, std::pair{a, d}}) {
      const Call call = cluster.request(from, to, kEchoHandler, "ping");
      ASSERT_EQ(call.error, Errc::ok);
      ASSERT_TRUE(cluster.run_until_done(from, call.id));
    }
    const bool negotiated = c.dialer_asks || c.acceptor_asks;
    for (const auto& [from, to] : {std::pair{d, a}, std::pair{a, d}}) {
      const std::vector<OwnedFrame> frames = frames_in(cluster.net().wire_log(from, to));
      // hello and auth, or challenge and welcome; then a request and a response
      ASSERT_GE(frames.size(), 4u);
      const Frame handshake = frames[0].view();
      EXPECT_TRUE(handshake.checksum);  // handshake frames SHOULD carry one: weft's do
      EXPECT_EQ((handshake.flags & flag::kChecksums) != 0,
                from == d ? c.dialer_asks : c.acceptor_asks);
      EXPECT_EQ(frames[1].view().op, from == d ? Op::auth : Op::welcome);
      EXPECT_TRUE(frames[1].view().checksum);
      for (std::size_t i = 2; i < frames.size(); ++i) {
        EXPECT_EQ(frames[i].view().checksum, negotiated)
            << op_name(static_cast<std::uint64_t>(frames[i].view().op));
      }
    }
  }
}

TEST(ProtocolContracts, FrameWithoutAChecksumOnceNegotiatedIsChecksumMissing) {
  struct Case {
    std::string label;
    bool node_dials;
    bool node_asks;
    bool peer_asks;
  };
  for (const Case& c : {Case{"acceptor, only the peer asked", false, false, true},
                        Case{"acceptor, only the node asked", false, true, false},
                        Case{"acceptor, both asked", false, true, true},
                        Case{"dialer, only the peer asked", true, false, true},
                        Case{"dialer, only the node asked", true, true, false}}) {
    SCOPED_TRACE(c.label);
    const auto adjust = [&](NodeConfig& config) { config.checksums = c.node_asks; };
    auto driven = c.node_dials ? dialing(adjust) : accepting(acceptor_config(adjust));
    const std::uint16_t flags = c.peer_asks ? flag::kChecksums : 0;
    // What the peer sent before the pings: hello and auth, or challenge and welcome.
    std::size_t before = 0;
    if (c.node_dials) {
      const auto [hello, step] =
          testing::challenge_dialer(driven, [&](Frame& challenge) { challenge.flags = flags; });
      std::vector<std::uint8_t> proof;
      Frame challenge = testing::challenge_frame(hello.view(), proof);
      challenge.flags = flags;
      before += testing::encode_to_vector(challenge).size();
      driven.feed(welcome_frame());
      before += testing::encode_to_vector(welcome_frame()).size();
    } else {
      Frame hello = hello_frame();
      hello.flags = flags;
      const auto step = testing::prove_as_dialer(driven, hello);
      before += testing::encode_to_vector(hello).size();
      const auto challenge = testing::frames_with(step.sent, Op::challenge);
      ASSERT_EQ(challenge.size(), 1u);
      std::vector<std::uint8_t> proof;
      before +=
          testing::encode_to_vector(testing::auth_frame(hello, challenge[0].view(), proof)).size();
    }
    ASSERT_TRUE(driven.last<event::PeerUp>().has_value());
    const Frame ping{.op = Op::ping, .checksum = true, .seq = 1};
    driven.feed(ping);  // the boundary: with a checksum, fine
    expect_still_up(driven);
    driven.set_checksum(false);
    driven.feed(Frame{.op = Op::ping, .seq = 2});
    const std::string why = expect_protocol_error(driven);
    EXPECT_NE(why.find("checksum_missing"), std::string::npos) << why;
    // §2.1 check 8 reports the frame's flags byte, counted from the connection's first byte
    // in that direction: the handshake frames count.
    before += testing::encode_to_vector(ping).size();
    EXPECT_NE(why.find("error at byte " + std::to_string(before + 1) + ":"), std::string::npos)
        << why;
  }
}

TEST(ProtocolContracts, NeitherSideAskingLeavesChecksumsOptional) {
  auto driven = accepting(acceptor_config([](NodeConfig& config) { config.checksums = false; }));
  Frame hello = hello_frame();
  hello.flags = 0;
  const auto step = testing::prove_as_dialer(driven, hello, testing::Welcome::unread);
  ASSERT_TRUE(driven.last<event::PeerUp>().has_value());
  const auto challenge = testing::frames_with(step.sent, Op::challenge);
  ASSERT_EQ(challenge.size(), 1u);
  EXPECT_EQ(challenge[0].view().flags & flag::kChecksums, 0);
  driven.set_checksum(false);
  driven.feed(Frame{.op = Op::ping, .seq = 1});
  driven.set_checksum(true);
  driven.feed(Frame{.op = Op::ping, .seq = 2});
  expect_still_up(driven);
  const std::vector<OwnedFrame> sent = driven.written();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].view().op, Op::welcome);
  for (const std::size_t i : {1u, 2u}) {
    EXPECT_EQ(sent[i].view().op, Op::pong);
    EXPECT_FALSE(sent[i].view().checksum);
  }
}

// ---- §4.6 goaway ------------------------------------------------------------------------------

Frame goaway_frame() {
  return Frame{.op = Op::goaway,
               .status = static_cast<std::uint16_t>(Status::shutting_down),
               .payload = as_bytes("restart")};
}

// §9.1: the goaway of a protocol error is the last frame on the wire, after the frames the
// node had already committed. The driver may have written part of one when the bad frame
// arrives: the goaway follows the rest of it, never the middle of it.
TEST(ProtocolContracts, TheGoawayOfAProtocolErrorFollowsTheRestOfAFrameBegunOnTheWire) {
  ScriptedPeer peer = accepted();
  peer.feed(Frame{.op = Op::ping, .seq = 9});
  const Bytes output = peer.node().pending_output(peer.transport());
  ASSERT_GT(output.size(), 3u);
  std::vector<std::uint8_t> wire(output.begin(), output.begin() + 3);  // the driver wrote 3
  peer.node().consume_output(peer.transport(), 3);
  const std::uint8_t bad_magic[8] = {0x78, 0x01, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c};
  peer.feed_bytes(bad_magic);
  const auto close = peer.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  wire.insert(wire.end(), close->final_bytes.begin(), close->final_bytes.end());
  const std::vector<OwnedFrame> frames = frames_in(wire);  // fails the test if it does not decode
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].view().op, Op::pong);
  EXPECT_EQ(frames[0].view().seq, 9u);
  EXPECT_EQ(frames[1].view().op, Op::goaway);
  EXPECT_EQ(frames[1].view().status, static_cast<std::uint16_t>(Status::protocol_error));
}

TEST(ProtocolContracts, GoawayEndsEveryOpenExchangeExactlyOnceWithDisconnected) {
  auto driven = accepted();
  const RequestId outbound = outbound_request(driven);
  driven.feed(request_on(kPeerMux));
  const auto inbound = driven.last<event::RequestReceived>();
  ASSERT_TRUE(inbound.has_value());
  driven.feed(stream_open_on(kPeerMux + 2));
  const auto served = driven.last<event::StreamOpened>();
  ASSERT_TRUE(served.has_value());
  StreamArgs args;
  args.handler = kStreamHandler;
  args.has_input = true;
  const OpenedStream opened = driven.connection().open_stream(0, args);
  ASSERT_EQ(opened.error, Errc::ok);

  driven.feed(goaway_frame());
  const auto close = driven.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->transport, driven.transport());
  const auto downs = driven.all<event::PeerDown>();
  ASSERT_EQ(downs.size(), 1u);
  EXPECT_NE(downs[0].reason.find("shutting_down"), std::string::npos) << downs[0].reason;
  const auto check_ended_once = [&] {
    const auto done = driven.all<event::RequestDone>();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].id, outbound);
    EXPECT_EQ(done[0].result, Errc::disconnected);
    const auto canceled = driven.all<event::RequestCanceled>();
    ASSERT_EQ(canceled.size(), 1u);
    EXPECT_EQ(canceled[0].id, inbound->id);
    EXPECT_EQ(canceled[0].reason, Errc::disconnected);
    const auto ended = driven.all<event::StreamEnded>();
    ASSERT_EQ(ended.size(), 2u);
    for (const auto& end : ended)
      EXPECT_EQ(end.result, Errc::disconnected);
    EXPECT_TRUE((ended[0].id == served->id && ended[1].id == opened.id) ||
                (ended[0].id == opened.id && ended[1].id == served->id));
  };
  check_ended_once();
  // Nothing of the old connection can be answered or ends again, even past every deadline.
  EXPECT_EQ(driven.connection().respond(0, inbound->id, as_bytes("late")), Errc::not_found);
  EXPECT_EQ(driven.connection().cancel(0, outbound), Errc::not_found);
  const TimeNs later = ns_from_ms(120'000);
  driven.timer(later);
  check_ended_once();
  // An acceptor waits to be dialed again; the peer's next attempt is a new connection.
  EXPECT_EQ(driven.connection().state(), PeerState::idle);
  driven.set_transport(driven.node().on_accepted(later));
  testing::prove_as_dialer(driven, hello_frame(2), testing::Welcome::read, later);
  const auto ups = driven.all<event::PeerUp>();
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_GT(ups[1].generation, ups[0].generation);
  check_ended_once();
}

TEST(ProtocolContracts, GoawayMakesTheDialerReconnectWithoutTheOldConnectionsFrames) {
  auto driven = dialed();
  const Call call = driven.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("q")});
  ASSERT_EQ(call.error, Errc::ok);
  // The request still waits in the output, unwritten, when the goaway arrives.
  ASSERT_FALSE(driven.node().pending_output(driven.transport()).empty());
  const TransportId first_transport = driven.transport();
  driven.feed(goaway_frame());
  const auto done = driven.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, Errc::disconnected);
  EXPECT_EQ(driven.all<event::PeerDown>().size(), 1u);
  EXPECT_EQ(driven.connection().state(), PeerState::backoff);
  // It dials again after the first backoff step (100 ms +/- 20 %).
  const TimeNs redial_at = driven.node().next_deadline();
  EXPECT_GE(redial_at, ns_from_ms(80));
  EXPECT_LE(redial_at, ns_from_ms(120));
  driven.timer(redial_at - 1);
  EXPECT_EQ(driven.all<event::Dial>().size(), 1u);
  driven.timer(redial_at);
  const auto dials = driven.all<event::Dial>();
  ASSERT_EQ(dials.size(), 2u);
  EXPECT_NE(dials[1].transport, first_transport);
  driven.set_transport(dials[1].transport);
  driven.node().on_connected(redial_at, dials[1].transport);
  // The new connection starts with its hello (the second attempt) and nothing else.
  const std::vector<OwnedFrame> sent = frames_in(driven.node().pending_output(dials[1].transport));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].view().op, Op::hello);
  EXPECT_EQ(sent[0].view().seq, 2u);
  const auto [hello, step] = testing::challenge_dialer(driven, {}, true, redial_at);
  ASSERT_EQ(step.sent.size(), 1u);
  EXPECT_EQ(step.sent[0].view().op, Op::auth);
  driven.feed(welcome_frame(), redial_at);
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 2u);
  EXPECT_EQ(driven.all<event::RequestDone>().size(), 1u);
  EXPECT_TRUE(driven.written().empty());
}

}  // namespace
}  // namespace weft::protocol_test
