// Statements of docs/PROTOCOL.md that had no test of their own, each checked against one node
// driven frame by frame (tests/support/scripted_peer.hpp). Every test names the section it
// checks: what the serving side does at a request's deadline (§6.1), what each side sends
// when the handshake breaks, times out or is replaced (§4.2, §9), the order of the handshake
// checks (§4.2), fields below their minimum and nonces over the limit (§3.2, §5.1), the
// reason texts of protocol errors (§9.2); the rules of object streams (§6.3) are in
// spec_statements_objects_test.cpp. Part of weft_protocol_contract_tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "scripted_peer.hpp"

namespace weft::spec_test {
namespace {

using testing::accepted;
using testing::accepting;
using testing::acceptor_config;
using testing::all_of;
using testing::challenge_dialer;
using testing::dialed;
using testing::dialing;
using testing::final_frame;
using testing::frames_with;
using testing::hello_frame;
using testing::kEchoHandler;
using testing::kHandshakeTimeoutMs;
using testing::kHelloTimeoutMs;
using testing::kHoldHandler;
using testing::kMaxSkewMs;
using testing::kStreamHandler;
using testing::prove_as_dialer;
using testing::roles;
using testing::ScriptedPeer;
using testing::text_of;
using testing::welcome_frame;

std::vector<std::uint8_t> bytes_of(const Frame& frame) {
  return testing::encode_to_vector(frame);
}

// An acceptor refused its first frame with reject(`status`) (§4.2, §9.1); returns the
// reject's text, which is also the HandshakeFailed event's message.
std::string reject_text(const ScriptedPeer& peer, Status status) {
  const auto failed = peer.last<event::HandshakeFailed>();
  if (!failed) {
    ADD_FAILURE() << "no HandshakeFailed";
    return {};
  }
  EXPECT_EQ(status_name(static_cast<std::uint16_t>(failed->status)),
            status_name(static_cast<std::uint16_t>(status)));
  EXPECT_TRUE(failed->rejected_by_us);
  const auto frame = final_frame(peer);
  if (!frame) {
    ADD_FAILURE() << "no reject in the transport's final bytes";
    return {};
  }
  EXPECT_EQ(frame->view().op, Op::reject);
  EXPECT_TRUE(frame->view().checksum);
  EXPECT_EQ(frame->view().status, static_cast<std::uint16_t>(status));
  EXPECT_EQ(text_of(frame->view().payload), failed->message);
  return failed->message;
}

// The position in `bytes` of the first occurrence of `pattern` (a test failure if none).
std::size_t find_in(const std::vector<std::uint8_t>& bytes,
                    const std::vector<std::uint8_t>& pattern) {
  const auto at = std::search(bytes.begin(), bytes.end(), pattern.begin(), pattern.end());
  EXPECT_NE(at, bytes.end());
  return static_cast<std::size_t>(at - bytes.begin());
}

// ---- §6.1 deadlines ---------------------------------------------------------------------------

TEST(SpecStatements, S6_1_ServingSideDropsARequestAtItsDeadlineAndSendsNoResponse) {
  auto driven = accepted();
  const TimeNs read_at = ns_from_ms(5);
  const TimeNs deadline = read_at + ns_from_ms(100);
  auto step = driven.exchange(
      Frame{.op = Op::request, .mux = 2, .handler = kHoldHandler, .deadline_ms = 100}, read_at);
  const auto received = all_of<event::RequestReceived>(step.events);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].deadline_ns, deadline);  // deadline_ms after the frame was read
  driven.timer(deadline - 1);
  step = driven.read();
  EXPECT_TRUE(step.events.empty());
  EXPECT_TRUE(step.sent.empty());
  driven.timer(deadline);
  step = driven.read();
  const auto canceled = all_of<event::RequestCanceled>(step.events);
  ASSERT_EQ(canceled.size(), 1u);
  EXPECT_EQ(canceled[0].id, received[0].id);
  EXPECT_EQ(errc_name(canceled[0].reason), errc_name(Errc::deadline_exceeded));
  EXPECT_TRUE(step.sent.empty());  // no response frame, deadline_exceeded or other
  // A later answer is refused locally and never sent.
  EXPECT_EQ(driven.connection().respond(deadline, received[0].id, as_bytes("late")),
            Errc::not_found);
  EXPECT_EQ(
      driven.connection().respond_error(deadline, received[0].id, Errc::deadline_exceeded, "late"),
      Errc::not_found);
  EXPECT_TRUE(driven.read().sent.empty());
  // The caller's cancel, arriving after, is for a mux no longer open: ignored.
  step = driven.exchange(Frame{.op = Op::cancel, .mux = 2}, deadline);
  EXPECT_TRUE(step.events.empty());
  EXPECT_TRUE(step.sent.empty());
  testing::expect_still_up(driven);
}

TEST(SpecStatements, S6_1_DeadlineZeroSetsNoDeadlineOnTheServingSide) {
  auto driven = accepted();
  const auto step = driven.exchange(
      Frame{.op = Op::request, .mux = 2, .handler = kHoldHandler, .deadline_ms = 0});
  const auto received = all_of<event::RequestReceived>(step.events);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].deadline_ns, kNever);
}

TEST(SpecStatements, S6_1_CallerEndsTheCallAtItsDeadlineAndSendsCancel) {
  auto driven = accepted();
  const Call call =
      driven.connection().request(0, RequestArgs{.handler = kEchoHandler, .timeout_ms = 100});
  ASSERT_EQ(call.error, Errc::ok);
  auto step = driven.read();
  const auto requests = frames_with(step.sent, Op::request);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].view().deadline_ms, 100u);
  driven.timer(ns_from_ms(100));
  step = driven.read();
  const auto done = all_of<event::RequestDone>(step.events);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, call.id);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::deadline_exceeded));
  ASSERT_EQ(step.sent.size(), 1u);
  EXPECT_EQ(step.sent[0].view().op, Op::cancel);
  EXPECT_EQ(step.sent[0].view().mux, call.id);
  // A response arriving after the deadline is for a mux no longer open: ignored.
  step = driven.exchange(Frame{.op = Op::response, .mux = call.id, .payload = as_bytes("late")},
                         ns_from_ms(100));
  EXPECT_TRUE(step.events.empty());
  EXPECT_TRUE(step.sent.empty());
}

// ---- §4.2 / §9.1 protocol errors during the handshake ------------------------------------------

TEST(SpecStatements, S9_1_AcceptorRefusesABadFirstFrameWithRejectProtocolError) {
  struct Case {
    std::string label;
    std::vector<std::uint8_t> bytes;
    std::string text;  // the reject's text
  };
  std::vector<std::uint8_t> bad_magic = bytes_of(hello_frame());
  bad_magic[0] = 0x78;
  // A prefix announcing a body of 65537 bytes: the first frame's limit is 65536 (§4.3).
  const std::vector<std::uint8_t> too_large{0x77, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x01};
  const std::vector<std::uint8_t> at_limit{0x77, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00};
  const std::vector<Case> cases{
      {"ping", bytes_of(Frame{.op = Op::ping, .seq = 1}), "expected hello, got ping"},
      {"welcome", bytes_of(welcome_frame()), "expected hello, got welcome"},
      {"auth", bytes_of(Frame{.op = Op::auth}), "expected hello, got auth"},
      {"bad magic", bad_magic, "error at byte 0: bad_magic: frame starts with 0x78, expected 0x77"},
      {"body over 65536", too_large,
       "error at byte 4: frame_too_large: body length 65537 exceeds limit 65536"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = accepting(acceptor_config());
    driven.feed_bytes(c.bytes);
    EXPECT_EQ(reject_text(driven, Status::protocol_error), c.text);
    EXPECT_EQ(driven.last<event::HandshakeFailed>()->peer_name, "");  // no hello: no name
  }
  // A body of exactly 65536 passes the prefix check: the node waits for the rest.
  auto driven = accepting(acceptor_config());
  driven.feed_bytes(at_limit);
  EXPECT_TRUE(driven.events().empty());
}

TEST(SpecStatements, S9_1_HandshakeFramesAfterTheHandshakeEndTheConnectionWithGoaway) {
  const Frame reject{.op = Op::reject,
                     .status = static_cast<std::uint16_t>(Status::auth_failed),
                     .payload = as_bytes("no")};
  const Frame auth{.op = Op::auth, .checksum = true};
  const Frame challenge{.op = Op::challenge,
                        .checksum = true,
                        .version = kProtocolVersion,
                        .name = roles().dialer,
                        .incarnation = 1,
                        .wall_ms = 1,
                        .max_frame_bytes = kMinMaxFrameBytes,
                        .nonce = testing::script_nonce()};
  // The acceptor: the auth it verified established the connection; a second hello (or any
  // other handshake frame) is a protocol error of that connection.
  for (const Frame& frame : {hello_frame(2), welcome_frame(), reject, auth, challenge}) {
    SCOPED_TRACE(op_name(static_cast<std::uint64_t>(frame.op)));
    auto driven = accepted();
    driven.feed(frame);
    EXPECT_EQ(testing::expect_protocol_error(driven),
              std::string(op_name(static_cast<std::uint64_t>(frame.op))) + " after the handshake");
    EXPECT_TRUE(driven.all<event::HandshakeFailed>().empty());  // a PeerDown instead
  }
  {  // the dialer, after its welcome
    auto driven = dialed();
    driven.feed(welcome_frame());
    EXPECT_EQ(testing::expect_protocol_error(driven), "welcome after the handshake");
  }
  {  // the dialer, before: a hello instead of challenge / reject
    auto driven = dialing();
    driven.feed(hello_frame());
    EXPECT_EQ(testing::expect_handshake_protocol_error(driven),
              "expected challenge or reject, got hello");
  }
  {  // the dialer, malformed bytes instead of a challenge: the offset counts from the first
     // byte the acceptor sent
    auto driven = dialing();
    std::vector<std::uint8_t> bytes = bytes_of(welcome_frame());
    bytes[1] = 0x03;
    driven.feed_bytes(bytes);
    EXPECT_EQ(testing::expect_handshake_protocol_error(driven),
              "error at byte 1: unknown_frame_flags: frame flags 0x03 has unknown bits");
  }
  {  // ... and after the challenge, counting it
    auto driven = dialing();
    const auto [hello, step] = challenge_dialer(driven);
    std::vector<std::uint8_t> proof;
    const std::size_t challenge_bytes =
        bytes_of(testing::challenge_frame(hello.view(), proof)).size();
    std::vector<std::uint8_t> bytes = bytes_of(welcome_frame());
    bytes[1] = 0x03;
    driven.feed_bytes(bytes);
    EXPECT_EQ(testing::expect_handshake_protocol_error(driven),
              "error at byte " + std::to_string(challenge_bytes + 1) +
                  ": unknown_frame_flags: frame flags 0x03 has unknown bits");
  }
}

// ---- §4.2 a replaced connection ---------------------------------------------------------------

TEST(SpecStatements, S4_2_ReplacedConnectionIsClosedWithoutAFrame) {
  auto driven = accepting(acceptor_config());
  prove_as_dialer(driven, hello_frame(1));
  ASSERT_EQ(driven.all<event::PeerUp>().size(), 1u);
  const TransportId first = driven.transport();
  const Call call = driven.connection().request(0, RequestArgs{.handler = kEchoHandler});
  ASSERT_EQ(call.error, Errc::ok);
  driven.set_transport(driven.node().on_accepted(0));
  // The new hello alone leaves the connection as it is: its sender proved nothing yet.
  driven.feed(hello_frame(2));
  EXPECT_FALSE(driven.first<event::CloseTransport>().has_value());
  const auto challenge = frames_with(driven.written(), Op::challenge);
  ASSERT_EQ(challenge.size(), 1u);
  std::vector<std::uint8_t> proof;
  driven.feed(testing::auth_frame(hello_frame(2), challenge.front().view(), proof));
  const auto close = driven.first<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->transport, first);
  EXPECT_TRUE(close->final_bytes.empty());  // no goaway, no frame at all
  const auto down = driven.all<event::PeerDown>();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].generation, 1u);
  EXPECT_EQ(down[0].reason, "replaced by a newer connection from the peer");
  const auto done = driven.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::disconnected));
  const auto up = driven.all<event::PeerUp>();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[1].generation, 2u);
  EXPECT_TRUE(driven.all<event::HandshakeFailed>().empty());
  // The new connection got its welcome and nothing else.
  const auto sent = driven.written();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].view().op, Op::welcome);
}

// ---- §4.5 keepalive ----------------------------------------------------------------------------

// A frame that never completes (a bit flip in its length announces far more than the peer
// will send) must not keep the connection alive while bytes trickle into it: the peer is
// dead once no whole frame arrived for dead_after_pings intervals, bytes or not.
TEST(SpecStatements, S4_5_BytesThatNeverCompleteAFrameDoNotKeepThePeerAlive) {
  auto driven = accepted();
  constexpr TimeNs kSecond = 1'000'000'000;
  const TimeNs limit_ns = 2 * 10 * kSecond;  // the default ping interval, twice
  // A ping's prefix and header announcing a body of 1 MiB: everything after is its payload.
  const std::vector<std::uint8_t> prefix = {0x77, 0x01, 0x00, 0x04, 0x00, 0x10,
                                            0x00, 0x00, 0x94, 0x04, 0x00, 0x00};
  driven.feed_bytes(prefix, kSecond);
  const std::vector<std::uint8_t> trickle(64, 0x00);
  TimeNs now_ns = kSecond;
  while (now_ns < limit_ns - kSecond) {
    now_ns += kSecond;
    driven.feed_bytes(trickle, now_ns);
    driven.timer(now_ns);
  }
  testing::expect_still_up(driven);
  for (int i = 0; i < 4; ++i) {
    now_ns += kSecond;
    driven.feed_bytes(trickle, now_ns);
    driven.timer(now_ns);
  }
  const auto down = driven.all<event::PeerDown>();
  ASSERT_EQ(down.size(), 1u);
  // Down at 20 s (the hello, at 0, was the last whole frame), after the prefix and the
  // trickles of seconds 2..20: 12 + 19 * 64 bytes.
  EXPECT_EQ(down[0].reason,
            "no whole frame from the peer for 20000 ms (1228 bytes of one arrived)");
  const auto close = driven.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_TRUE(close->final_bytes.empty());  // closed without sending anything
}

// ---- §4.2 handshake timeout -------------------------------------------------------------------

TEST(SpecStatements, S4_2_HandshakeTimeoutSendsNothingOnEitherSide) {
  {  // the acceptor: no hello in time
    auto driven = accepting(acceptor_config());
    driven.timer(ns_from_ms(kHelloTimeoutMs));
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, Status::handshake_timeout);
    EXPECT_EQ(failed->message, "no hello on an accepted transport in time");
    const auto close = driven.last<event::CloseTransport>();
    ASSERT_TRUE(close.has_value());
    EXPECT_TRUE(close->final_bytes.empty());
    EXPECT_TRUE(driven.written().empty());
  }
  {  // the acceptor: a hello, then no auth in time
    auto driven = accepting(acceptor_config());
    driven.feed(hello_frame());
    EXPECT_EQ(frames_with(driven.written(), Op::challenge).size(), 1u);
    driven.timer(ns_from_ms(kHelloTimeoutMs) - 1);
    EXPECT_FALSE(driven.last<event::HandshakeFailed>().has_value());
    driven.timer(ns_from_ms(kHelloTimeoutMs));
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, Status::handshake_timeout);
    EXPECT_EQ(failed->peer_name, roles().dialer);
    EXPECT_EQ(failed->message, "no auth answered the challenge in time");
    const auto close = driven.last<event::CloseTransport>();
    ASSERT_TRUE(close.has_value());
    EXPECT_TRUE(close->final_bytes.empty());
    EXPECT_TRUE(driven.all<event::PeerUp>().empty());
  }
  {  // the dialer: no welcome in time
    auto driven = dialing();
    const auto hello = driven.written();
    ASSERT_EQ(hello.size(), 1u);
    EXPECT_EQ(hello[0].view().op, Op::hello);
    driven.timer(ns_from_ms(kHandshakeTimeoutMs));
    const auto failed = driven.last<event::HandshakeFailed>();
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->status, Status::handshake_timeout);
    EXPECT_EQ(failed->message, "no welcome within " + std::to_string(kHandshakeTimeoutMs) + " ms");
    const auto close = driven.last<event::CloseTransport>();
    ASSERT_TRUE(close.has_value());
    EXPECT_TRUE(close->final_bytes.empty());
    EXPECT_TRUE(driven.all<event::PeerDown>().empty());
  }
}

// ---- §3.2 / §5.1 values past a field's limit in a hello or welcome
// -------------------------------

// A hello (no checksum) whose nonce is `nonce_bytes` long. The encoder refuses nonces over
// 256 bytes, so a 257-byte one is a 256-byte one grown by a byte (the nonce is the header's
// last element and the frame has no payload). *at: the nonce element's offset.
std::vector<std::uint8_t> hello_with_nonce(std::size_t nonce_bytes, std::size_t* at) {
  const std::string nonce(std::min<std::size_t>(nonce_bytes, 256), 'n');
  Frame hello = hello_frame();
  hello.checksum = false;
  hello.nonce = as_bytes(nonce);
  std::vector<std::uint8_t> bytes = bytes_of(hello);
  const std::size_t length_bytes = nonce.size() < 256 ? 2 : 3;  // bin 8 or bin 16
  *at = bytes.size() - nonce.size() - length_bytes;
  if (nonce_bytes <= 256) return bytes;
  EXPECT_EQ(bytes[*at], 0xc5);
  bytes[*at + 1] = static_cast<std::uint8_t>(nonce_bytes >> 8);
  bytes[*at + 2] = static_cast<std::uint8_t>(nonce_bytes);
  bytes.resize(bytes.size() + (nonce_bytes - 256), 'n');
  const std::size_t header = (std::size_t{bytes[2]} << 8 | bytes[3]) + nonce_bytes - 256;
  bytes[2] = static_cast<std::uint8_t>(header >> 8);
  bytes[3] = static_cast<std::uint8_t>(header);
  bytes[7] = static_cast<std::uint8_t>(header);  // the body is the header (under 64 KiB)
  bytes[6] = static_cast<std::uint8_t>(header >> 8);
  return bytes;
}

TEST(SpecStatements, S3_2_NonceOverTheReceiversLimitIsMalformedAndAnyLengthBut32IsRefused) {
  std::size_t at = 0;
  for (const std::size_t length :
       {std::size_t{256}, kNonceBytes + 1, kNonceBytes - 1, std::size_t{0}}) {
    SCOPED_TRACE("nonce of " + std::to_string(length) + " bytes");
    // Decoded (an older node's token decodes too, to be refused for its version), then
    // refused for its length: a version-3 nonce is exactly 32 bytes.
    auto driven = accepting(acceptor_config());
    driven.feed_bytes(hello_with_nonce(length, &at));
    EXPECT_EQ(reject_text(driven, Status::protocol_error),
              "nonce is " + std::to_string(length) + " bytes, not 32");
  }
  {  // 257 bytes: the hello is malformed
    auto driven = accepting(acceptor_config());
    driven.feed_bytes(hello_with_nonce(257, &at));
    EXPECT_EQ(
        reject_text(driven, Status::protocol_error),
        "error at byte " + std::to_string(at) + ": invalid_field: nonce is 257 bytes, limit 256");
  }
}

TEST(SpecStatements, S5_1_HandshakeFieldsBelowTheirMinimumAreInvalidFieldAtTheField) {
  // hello_frame's header: 9c, op 01, flags 01, mux 00, seq 01, then version_min at byte 13
  // and version_max at byte 14 (one byte each, positive fixint).
  Frame hello = hello_frame();
  hello.checksum = false;  // the patches below would break a checksum
  hello.max_frame_bytes = kMinMaxFrameBytes;
  const std::vector<std::uint8_t> valid = bytes_of(hello);
  ASSERT_EQ(valid[13], kProtocolVersionMin);
  ASSERT_EQ(valid[14], kProtocolVersion);
  const std::size_t limit_at = find_in(valid, {0xce, 0x00, 0x01, 0x00, 0x00});
  struct Case {
    std::string label;
    std::function<void(std::vector<std::uint8_t>&)> patch;
    std::string text;
  };
  const Case cases[] = {
      {"version_min 0", [](std::vector<std::uint8_t>& b) { b[13] = 0; },
       "error at byte 13: invalid_field: version_min must be at least 1"},
      {"version_max below version_min", [](std::vector<std::uint8_t>& b) { b[14] = 0; },
       "error at byte 14: invalid_field: version_max is below version_min"},
      {"max_frame_bytes 65535",
       [&](std::vector<std::uint8_t>& b) {  // ce 00 01 00 00 becomes ce 00 00 ff ff
         b[limit_at + 2] = 0x00;
         b[limit_at + 3] = 0xff;
         b[limit_at + 4] = 0xff;
       },
       "error at byte " + std::to_string(limit_at) +
           ": invalid_field: max_frame_bytes is below 65536"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = accepting(acceptor_config());
    std::vector<std::uint8_t> bytes = valid;
    c.patch(bytes);
    driven.feed_bytes(bytes);
    EXPECT_EQ(reject_text(driven, Status::protocol_error), c.text);
  }
  {  // at the minimum: adopted
    auto driven = accepting(acceptor_config());
    prove_as_dialer(driven, hello);
    EXPECT_EQ(driven.all<event::PeerUp>().size(), 1u);
  }
  {  // a challenge choosing version 0 (challenge_frame: 9a, op 07, flags 01, mux 00, seq 00,
     // then version at byte 13): the dialer answers goaway(protocol_error)
    auto driven = dialing();
    const auto hellos = frames_with(driven.written(), Op::hello);
    ASSERT_EQ(hellos.size(), 1u);
    std::vector<std::uint8_t> proof;
    Frame challenge = testing::challenge_frame(hellos.front().view(), proof);
    challenge.checksum = false;
    std::vector<std::uint8_t> bytes = bytes_of(challenge);
    ASSERT_EQ(bytes[13], kProtocolVersion);
    bytes[13] = 0;
    driven.feed_bytes(bytes);
    EXPECT_EQ(testing::expect_handshake_protocol_error(driven),
              "error at byte 13: invalid_field: version must be at least 1");
  }
}

// ---- §4.2 the order of the handshake checks -----------------------------------------------------

TEST(SpecStatements, S4_2_AcceptorAppliesItsChecksInTheDocumentedOrder) {
  // A second known peer that the node dials: a hello from it is from the wrong dialer.
  std::string other;
  for (int i = 0; other.empty(); ++i) {
    const std::string name = "w" + std::to_string(i);
    if (dial_rule_dials(roles().acceptor, name)) other = name;
  }
  auto driven = accepting(acceptor_config([&](NodeConfig& c) { c.peers.push_back(other); }));
  prove_as_dialer(driven, hello_frame(5));  // adopted: seq 5 of kPeerIncarnation
  ASSERT_EQ(driven.all<event::PeerUp>().size(), 1u);
  const std::string stranger = "stranger";
  const std::string nobody = "nobody";
  const std::vector<std::uint8_t> short_nonce(kNonceBytes - 1, 0x5a);
  Frame hello = hello_frame(3);  // stale once everything else is right
  hello.version_min = 7;
  hello.version_max = 9;
  hello.name = stranger;
  hello.peer_name = nobody;
  hello.nonce = short_nonce;
  hello.wall_ms = static_cast<std::uint64_t>(testing::kWallMs + kMaxSkewMs + 1);
  // What the transport's certificate names (a TLS layer, §4.2 check 6): at first nobody.
  std::vector<std::string> certified{"someone-else"};
  // Fixing the first failing check each time reveals the next, in the document's order.
  const std::vector<std::pair<Status, std::function<void(Frame&)>>> steps{
      {Status::version_mismatch,
       [](Frame& h) {
         h.version_min = kProtocolVersionMin;
         h.version_max = kProtocolVersion;
       }},
      {Status::unknown_node, [&](Frame& h) { h.name = other; }},
      {Status::wrong_target, [](Frame& h) { h.peer_name = roles().acceptor; }},
      {Status::protocol_error, [](Frame& h) { h.nonce = testing::script_nonce(); }},
      {Status::auth_failed,
       [&](Frame&) {
         certified = {other, roles().dialer};
       }},
      {Status::clock_skew, [](Frame& h) { h.wall_ms = testing::kWallMs; }},
      {Status::wrong_dialer, [](Frame& h) { h.name = roles().dialer; }},
      {Status::stale_hello, [](Frame& h) { h.seq = 6; }},
  };
  const auto offer = [&] {
    driven.set_transport(driven.node().on_accepted(0));
    driven.node().on_secured(
        0, driven.transport(),
        TransportSecurity{.encrypted = true, .peer_names = certified, .channel_binding = {}});
  };
  for (const auto& [status, fix] : steps) {
    SCOPED_TRACE(status_name(static_cast<std::uint16_t>(status)));
    offer();
    driven.feed(hello);
    reject_text(driven, status);
    fix(hello);
  }
  offer();
  prove_as_dialer(driven, hello);
  EXPECT_EQ(driven.all<event::PeerUp>().size(), 2u);
}

TEST(SpecStatements, S4_2_DialerAppliesItsChecksInTheDocumentedOrder) {
  const std::string stranger = "stranger";
  const std::vector<std::uint8_t> short_nonce(kNonceBytes - 1, 0x5a);
  const std::vector<std::uint8_t> wrong_proof(32, 0);
  struct Challenge {
    std::uint16_t version = kProtocolVersion + 1;  // past the dialer's [3, 3]
    std::string_view name;
    Bytes nonce;
    std::uint64_t wall_ms = 0;
    bool good_proof = false;
  } challenge{.name = stranger,
              .nonce = short_nonce,
              .wall_ms = static_cast<std::uint64_t>(testing::kWallMs - kMaxSkewMs - 1)};
  std::vector<std::string> certified{"someone-else"};
  const std::vector<std::pair<Status, std::function<void()>>> steps{
      {Status::version_mismatch, [&] { challenge.version = kProtocolVersion; }},
      {Status::wrong_target, [&] { challenge.name = roles().acceptor; }},
      {Status::protocol_error, [&] { challenge.nonce = testing::script_nonce(); }},
      {Status::auth_failed, [&] { certified = {roles().acceptor}; }},
      {Status::clock_skew, [&] { challenge.wall_ms = testing::kWallMs; }},
      {Status::auth_failed, [&] { challenge.good_proof = true; }},
  };
  const auto offer = [&] {
    ScriptedPeer driven(testing::dialer_config());
    driven.timer(0);
    const auto dial = driven.last<event::Dial>();
    driven.set_transport(dial->transport);
    driven.node().on_connected(
        0, dial->transport,
        TransportSecurity{.encrypted = true, .peer_names = certified, .channel_binding = {}});
    driven.collect();
    challenge_dialer(
        driven,
        [&](Frame& c) {
          c.version = challenge.version;
          c.name = challenge.name;
          c.nonce = challenge.nonce;
          c.wall_ms = challenge.wall_ms;
          if (!challenge.good_proof) c.payload = wrong_proof;
        },
        challenge.good_proof);
    return driven;
  };
  for (const auto& [status, fix] : steps) {
    SCOPED_TRACE(status_name(static_cast<std::uint16_t>(status)));
    ScriptedPeer driven = offer();
    testing::expect_refused(driven, status, Op::goaway);
    EXPECT_TRUE(final_frame(driven)->view().checksum);
    fix();
  }
  ScriptedPeer driven = offer();
  EXPECT_EQ(frames_with(driven.written(), Op::auth).size(), 0u);  // read by challenge_dialer
  driven.feed(welcome_frame());
  EXPECT_TRUE(driven.last<event::PeerUp>().has_value());
}

// ---- §9.2 the reason texts of connection protocol errors
// ------------------------------------------

TEST(SpecStatements, S9_2_GoawayReasonTextsHaveTheDocumentedShape) {
  struct Case {
    std::string label;
    std::vector<Frame> frames;  // fed in order to an acceptor (the script's ids are even)
    std::string text;
  };
  const Frame held{.op = Op::request, .mux = 2, .handler = kHoldHandler};
  const Frame open{.op = Op::stream_open, .mux = 4, .handler = kStreamHandler};
  const auto first = [](std::uint64_t total, std::string_view bytes) {
    return Frame{.op = Op::request,
                 .flags = flag::kMore,
                 .mux = 2,
                 .seq = total,
                 .handler = kHoldHandler,
                 .payload = as_bytes(bytes)};
  };
  const auto part = [](std::uint64_t number, bool last, std::string_view bytes) {
    return Frame{.op = Op::continuation,
                 .flags = last ? std::uint16_t{0} : flag::kMore,
                 .mux = 2,
                 .seq = number,
                 .payload = as_bytes(bytes)};
  };
  const std::vector<Case> cases{
      {"request of the wrong side",
       {Frame{.op = Op::request, .mux = 3, .handler = kHoldHandler}},
       "request on mux 3 of the wrong side"},
      {"request reusing an open request's id", {held, held}, "request reuses open mux 2"},
      {"request reusing an open stream's id",
       {open, Frame{.op = Op::request, .mux = 4, .handler = kHoldHandler}},
       "request reuses open mux 4"},
      {"stream_open of the wrong side",
       {Frame{.op = Op::stream_open, .mux = 5, .handler = kStreamHandler}},
       "stream_open on mux 5 of the wrong side"},
      {"stream_open reusing an open request's id",
       {held, Frame{.op = Op::stream_open, .mux = 2, .handler = kStreamHandler}},
       "stream_open on mux 2 already open"},
      {"response of the wrong side",
       {Frame{.op = Op::response, .mux = 2}},
       "response on mux 2 of the wrong side"},
      {"cancel of the wrong side",
       {Frame{.op = Op::cancel, .mux = 1}},
       "cancel on mux 1 of the wrong side"},
      {"stream_ping of the wrong side",
       {Frame{.op = Op::stream_ping, .mux = 1, .seq = 1}},
       "stream_ping on mux 1 of the wrong side"},
      {"stream_accept of the wrong side",
       {Frame{.op = Op::stream_accept, .mux = 2}},
       "stream_accept on mux 2 of the wrong side"},
      {"object_begin of the wrong side",
       {Frame{.op = Op::object_begin, .mux = 1, .seq = 1}},
       "object_begin on mux 1 of the wrong side"},
      {"object_ack of the wrong side",
       {Frame{.op = Op::object_ack, .mux = 2, .seq = 1}},
       "object_ack on mux 2 of the wrong side"},
      {"continuation out of order",
       {first(10, "abcd"), part(2, true, "efghij")},
       "continuation 2 out of order on mux 2"},
      {"parts past the announced size",
       {first(6, "abcd"), part(1, false, "efg")},
       "payload parts add up to 7+ bytes, announced 6 on mux 2"},
      {"last part short of the announced size",
       {first(10, "abcd"), part(1, true, "ef")},
       "payload parts add up to 6 bytes, announced 10 on mux 2"},
      {"continuation after a request's last part",
       {held, part(1, true, "x")},
       "continuation 1 after the last part on mux 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    auto driven = accepted();
    for (const Frame& frame : c.frames)
      driven.feed(frame);
    EXPECT_EQ(testing::expect_protocol_error(driven), c.text);
  }
  {  // a continuation of the node's own parity before any part of the response
    auto driven = accepted();
    const Call call = driven.connection().request(0, RequestArgs{.handler = kEchoHandler});
    ASSERT_EQ(call.error, Errc::ok);
    driven.feed(Frame{.op = Op::continuation, .mux = call.id, .seq = 1});
    EXPECT_EQ(testing::expect_protocol_error(driven),
              "continuation 1 before the response on mux " + std::to_string(call.id));
  }
  {  // a decoding error: the offset counts the hello and the auth (the first byte the dialer
     // sent is 0)
    auto driven = accepted();
    const std::size_t hello_bytes = bytes_of(hello_frame()).size() +
                                    bytes_of(Frame{.op = Op::auth, .checksum = true}).size() + 32;
    std::vector<std::uint8_t> ping = bytes_of(Frame{.op = Op::ping, .checksum = true, .seq = 1});
    ping[0] = 0x00;
    driven.feed_bytes(ping);
    EXPECT_EQ(testing::expect_protocol_error(driven),
              "error at byte " + std::to_string(hello_bytes) +
                  ": bad_magic: frame starts with 0x00, expected 0x77");
  }
}

// ---- §6.2 the reason texts of stream protocol errors
// ----------------------------------------------

// The text of the one stream_reset(protocol_error) `step` sent for `mux`.
std::string reset_text(const ScriptedPeer::Step& step, std::uint64_t mux) {
  const auto resets = frames_with(step.sent, Op::stream_reset);
  if (resets.size() != 1) {
    ADD_FAILURE() << resets.size() << " stream_reset frames";
    return {};
  }
  EXPECT_EQ(resets[0].view().mux, mux);
  EXPECT_EQ(resets[0].view().status, static_cast<std::uint16_t>(Status::protocol_error));
  return text_of(resets[0].view().payload);
}

TEST(SpecStatements, S6_2_StreamResetReasonTextsHaveTheDocumentedShape) {
  const auto msg = [](std::uint64_t mux, std::uint64_t seq) {
    return Frame{.op = Op::stream_msg, .mux = mux, .seq = seq, .payload = as_bytes("m")};
  };
  const auto end = [](std::uint64_t mux, std::uint64_t seq) {
    return Frame{.op = Op::stream_end, .mux = mux, .seq = seq};
  };
  struct ScriptOpened {
    std::string label;
    bool has_input;
    std::vector<Frame> frames;  // after the open, on mux 2
    std::string text;
  };
  const std::vector<ScriptOpened> script_opened{
      {"message out of sequence", true, {msg(2, 2)}, "message 2 where 1 was due"},
      {"message on a stream without input", false, {msg(2, 1)}, "message after the end"},
      {"message after the end", true, {end(2, 0), msg(2, 1)}, "message after the end"},
      {"second end", true, {end(2, 0), end(2, 0)}, "second end"},
      {"end on a stream without input", false, {end(2, 0)}, "second end"},
      {"end with the wrong count", true, {msg(2, 1), end(2, 2)}, "end after 2 messages, got 1"},
  };
  for (const ScriptOpened& c : script_opened) {
    SCOPED_TRACE(c.label);
    auto driven = accepted();
    driven.exchange(Frame{.op = Op::stream_open,
                          .flags = c.has_input ? flag::kHasInput : std::uint16_t{0},
                          .mux = 2,
                          .handler = kStreamHandler,
                          .credit_msgs = 4,
                          .credit_bytes = 100});
    ScriptedPeer::Step step;
    for (const Frame& frame : c.frames)
      step = driven.exchange(frame);
    EXPECT_EQ(reset_text(step, 2), c.text);
  }
  {  // beyond the granted credit: the handler's window, 1 message
    auto driven = accepted();
    driven.node().register_stream_handler(kStreamHandler + 1, {}, StreamWindow{1, 100});
    driven.exchange(Frame{.op = Op::stream_open,
                          .flags = flag::kHasInput,
                          .mux = 2,
                          .handler = kStreamHandler + 1,
                          .credit_msgs = 4,
                          .credit_bytes = 100});
    driven.exchange(msg(2, 1));
    EXPECT_EQ(reset_text(driven.exchange(msg(2, 2)), 2), "message beyond the granted credit");
  }
  struct NodeOpened {
    std::string label;
    std::vector<Frame> frames;  // on the node's stream; mux filled in
    std::string text;
  };
  const Frame accept{.op = Op::stream_accept, .credit_msgs = 4, .credit_bytes = 100};
  const Frame credit{.op = Op::stream_credit, .credit_msgs = 1, .credit_bytes = 1};
  const std::vector<NodeOpened> node_opened{
      {"credit before the accept", {credit}, "credit before accept"},
      {"second accept", {accept, accept}, "second stream_accept"},
      {"credit beyond the window", {accept, credit}, "credit beyond the window"},
  };
  for (const NodeOpened& c : node_opened) {
    SCOPED_TRACE(c.label);
    auto driven = accepted();
    StreamArgs args;
    args.handler = kStreamHandler;
    args.has_input = true;
    const OpenedStream opened = driven.connection().open_stream(0, args);
    ASSERT_EQ(opened.error, Errc::ok);
    driven.read();
    ScriptedPeer::Step step;
    for (Frame frame : c.frames) {
      frame.mux = opened.id.mux;
      step = driven.exchange(frame);
    }
    EXPECT_EQ(reset_text(step, opened.id.mux), c.text);
  }
}

}  // namespace
}  // namespace weft::spec_test
