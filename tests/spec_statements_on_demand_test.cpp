// Statements of docs/PROTOCOL.md §4.7 (connections on demand), each checked against one node
// driven frame by frame (tests/support/scripted_peer.hpp): the knock and the dial back, the
// goaway(idle) after the idle period (pings are not use), and what the goaway tells the
// other side about the requests it left unanswered. Part of weft_protocol_contract_tests.
#include <gtest/gtest.h>

#include <string>

#include "scripted_peer.hpp"
#include "weft/metrics.hpp"

namespace weft::spec_test {
namespace {

using testing::acceptor_config;
using testing::dialed;
using testing::final_frame;
using testing::frames_with;
using testing::hello_frame;
using testing::kEchoHandler;
using testing::roles;
using testing::ScriptedPeer;
using testing::text_of;
using testing::welcome_frame;

constexpr std::int64_t kIdleMs = 30'000;

void on_demand(NodeConfig& config) {
  config.connect_on_demand = true;
  config.timeouts.idle_close_ms = kIdleMs;
}

Frame goaway_idle() {
  return Frame{.op = Op::goaway,
               .status = static_cast<std::uint16_t>(Status::idle),
               .payload = as_bytes("idle for 30000 ms")};
}

// The node dials (a Dial event follows `step`) and the script connects it, answering the
// hello with a valid challenge as `script_name`: returns the hello once the node answered
// with its auth (nullopt if it did not).
std::optional<OwnedFrame> connect_dial(ScriptedPeer& peer,
                                       const std::string& script_name = roles().acceptor,
                                       TimeNs now_ns = 0) {
  const auto dial = peer.last<event::Dial>();
  if (!dial) return std::nullopt;
  peer.set_transport(dial->transport);
  peer.node().on_connected(now_ns, dial->transport);
  peer.collect();
  const auto [hello, step] = testing::challenge_dialer(
      peer, [&](Frame& challenge) { challenge.name = script_name; }, true, now_ns);
  if (frames_with(step.sent, Op::auth).size() != 1) return std::nullopt;
  return hello;
}

// §4.7: the side the dial rule makes the acceptor knocks: it dials and sends an ordinary
// hello; the peer's reject(wrong_dialer) is the expected answer (no failure reported, the
// request waits), and the request goes out on the connection the peer then dials.
TEST(SpecStatements, S4_7_AnAcceptorWithWorkKnocksAndTheRequestWaitsForTheDialBack) {
  ScriptedPeer peer(acceptor_config(on_demand));
  peer.timer(0);
  EXPECT_FALSE(peer.last<event::Dial>().has_value());  // nothing before there is work
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("waits")});
  ASSERT_EQ(call.error, Errc::ok);
  peer.collect();
  const auto knock = connect_dial(peer, roles().dialer);  // proved, then refused
  ASSERT_TRUE(knock.has_value());
  EXPECT_EQ(knock->view().name, roles().acceptor);
  EXPECT_EQ(knock->view().peer_name, roles().dialer);
  peer.feed(Frame{.op = Op::reject,
                  .checksum = true,
                  .status = static_cast<std::uint16_t>(Status::wrong_dialer),
                  .payload = as_bytes("n0 dials n1, not the other way; dialing back")});
  const auto close = peer.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_TRUE(close->final_bytes.empty());
  EXPECT_TRUE(peer.all<event::HandshakeFailed>().empty());
  EXPECT_TRUE(peer.all<event::RequestDone>().empty());
  EXPECT_EQ(peer.connection().state(), PeerState::idle);
  // The script dials back, as the dial rule says.
  peer.set_transport(peer.node().on_accepted(0));
  const auto sent = testing::prove_as_dialer(peer, hello_frame()).sent;
  ASSERT_EQ(frames_with(sent, Op::welcome).size(), 1u);
  const auto requests = frames_with(sent, Op::request);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].view().mux, call.id);
  EXPECT_EQ(text_of(requests[0].view().payload), "waits");
}

// §4.7: an on-demand dialer answers a knock (a hello that passes every check but the dial
// rule) with its challenge, and the knocker's auth with reject(wrong_dialer); it reports no
// failure, and dials the peer at once.
TEST(SpecStatements, S4_7_ADialerAnswersAKnockWithRejectWrongDialerAndDialsAtOnce) {
  ScriptedPeer peer(testing::dialer_config(on_demand));
  peer.timer(0);
  ASSERT_FALSE(peer.last<event::Dial>().has_value());
  peer.set_transport(peer.node().on_accepted(0));
  Frame knock = hello_frame();
  knock.name = roles().acceptor;
  knock.peer_name = roles().dialer;
  const auto step = testing::prove_as_dialer(peer, knock);
  EXPECT_EQ(frames_with(step.sent, Op::challenge).size(), 1u);
  const auto reject = final_frame(peer);
  ASSERT_TRUE(reject.has_value());
  EXPECT_EQ(reject->view().op, Op::reject);
  EXPECT_EQ(reject->view().status, static_cast<std::uint16_t>(Status::wrong_dialer));
  EXPECT_EQ(text_of(reject->view().payload),
            roles().dialer + " dials " + roles().acceptor + ", not the other way; dialing back");
  EXPECT_TRUE(peer.all<event::HandshakeFailed>().empty());
  EXPECT_TRUE(peer.last<event::Dial>().has_value());
}

// §4.7: a connection that carried nothing but keepalive for the idle period closes with
// goaway(idle) as its last frame; pings and pongs do not restart the period.
TEST(SpecStatements, S4_7_AnIdleConnectionClosesWithGoawayIdleAndPingsAreNotUse) {
  ScriptedPeer peer(testing::dialer_config(on_demand));
  const Call call = peer.connection().request(0, RequestArgs{.handler = kEchoHandler});
  ASSERT_EQ(call.error, Errc::ok);
  peer.collect();
  ASSERT_TRUE(connect_dial(peer).has_value());
  peer.feed(welcome_frame());
  ASSERT_EQ(frames_with(peer.written(), Op::request).size(), 1u);
  peer.feed(Frame{.op = Op::response, .mux = call.id});  // the last use, at time 0
  // The node pings every 10 s; the script answers, and pings once itself.
  for (const std::uint64_t seq : {1, 2}) {
    const TimeNs at_ns = ns_from_ms(10'000 * static_cast<std::int64_t>(seq));
    peer.timer(at_ns);
    ASSERT_EQ(frames_with(peer.written(), Op::ping).size(), 1u);
    peer.feed(Frame{.op = Op::pong, .seq = seq}, at_ns);
  }
  peer.feed(Frame{.op = Op::ping, .seq = 7}, ns_from_ms(25'000));
  EXPECT_EQ(frames_with(peer.written(), Op::pong).size(), 1u);
  peer.timer(ns_from_ms(kIdleMs) - 1);
  EXPECT_EQ(peer.connection().state(), PeerState::established);
  EXPECT_FALSE(peer.last<event::CloseTransport>().has_value());
  peer.timer(ns_from_ms(kIdleMs));
  const auto goaway = final_frame(peer);
  ASSERT_TRUE(goaway.has_value());
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(goaway->view().status, static_cast<std::uint16_t>(Status::idle));
  EXPECT_EQ(text_of(goaway->view().payload), "idle for 30000 ms (connect on demand)");
  EXPECT_EQ(peer.connection().state(), PeerState::idle);
  // Nothing waits for the peer: no dial follows.
  peer.timer(ns_from_ms(10 * kIdleMs));
  EXPECT_EQ(peer.all<event::Dial>().size(), 1u);
}

// §4.7: the requests a goaway(idle) leaves unanswered were not read by its sender: an
// on-demand node sends them again, same mux id, on the next connection, and each ends once.
TEST(SpecStatements, S4_7_RequestsUnansweredAtAGoawayIdleGoOutAgainOnTheNextConnection) {
  ScriptedPeer peer(testing::dialer_config(on_demand));
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("again")});
  ASSERT_EQ(call.error, Errc::ok);
  peer.collect();
  ASSERT_TRUE(connect_dial(peer).has_value());
  peer.feed(welcome_frame());
  ASSERT_EQ(frames_with(peer.written(), Op::request).size(), 1u);
  peer.feed(goaway_idle());
  EXPECT_TRUE(peer.all<event::RequestDone>().empty());
  const auto down = peer.last<event::PeerDown>();
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->reason, "the peer closed the idle connection: idle for 30000 ms");
  ASSERT_TRUE(connect_dial(peer).has_value());  // at once, no backoff
  peer.feed(welcome_frame());
  const auto requests = frames_with(peer.written(), Op::request);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].view().mux, call.id);
  EXPECT_EQ(text_of(requests[0].view().payload), "again");
  peer.feed(Frame{.op = Op::response, .mux = call.id, .payload = as_bytes("again")});
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::ok));
}

// §4.7: a node not in on-demand mode cannot send such a request again (it kept no copy): it
// ends once, disconnected, with a text that says the peer never read it.
TEST(SpecStatements, S4_7_WithoutOnDemandAGoawayIdleEndsTheUnansweredRequestsNotProcessed) {
  ScriptedPeer peer = dialed();
  const Call call = peer.connection().request(0, RequestArgs{.handler = kEchoHandler});
  ASSERT_EQ(call.error, Errc::ok);
  peer.written();
  peer.feed(goaway_idle());
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(errc_name(done[0].result), errc_name(Errc::disconnected));
  EXPECT_EQ(text_of(done[0].payload),
            "the peer closed the idle connection before it read this (not processed); the peer "
            "closed the idle connection: idle for 30000 ms");
}

// §4.7 and §9.2: a goaway(idle) that comes while a response to this side's request is
// arriving in parts contradicts itself (the peer was answering): a protocol error, and the
// request ends once as for any failed connection; it is not sent again, and no part of the
// old answer is carried into the next connection. Before, a debug build failed an
// assertion, and a release build kept the half answer for the next connection. Like any
// goaway (§4.6) it draws no frame: its sender reads nothing more. The error is this side's
// to report (close reason, metrics); before, it was answered with goaway(protocol_error).
TEST(SpecStatements, S4_7_AGoawayIdleWhileAResponseArrivesInPartsIsAProtocolError) {
  ScriptedPeer peer(testing::dialer_config(on_demand));
  const Call call = peer.connection().request(
      0, RequestArgs{.handler = kEchoHandler, .payload = as_bytes("answered in parts")});
  ASSERT_EQ(call.error, Errc::ok);
  peer.collect();
  ASSERT_TRUE(connect_dial(peer).has_value());
  peer.feed(welcome_frame());
  ASSERT_EQ(frames_with(peer.written(), Op::request).size(), 1u);
  peer.feed(Frame{.op = Op::response,
                  .flags = flag::kMore,
                  .mux = call.id,
                  .seq = 100,
                  .payload = as_bytes("0123456789")});
  peer.feed(goaway_idle());
  const std::string why = "goaway(idle) while answering mux " + std::to_string(call.id);
  const auto close = peer.last<event::CloseTransport>();
  ASSERT_TRUE(close.has_value());
  EXPECT_TRUE(close->final_bytes.empty());
  EXPECT_EQ(close->reason, "protocol error: " + why);
  const auto down = peer.all<event::PeerDown>();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].reason, "protocol error: " + why);
  const MetricsSnapshot metrics = peer.node().metrics(0);
  ASSERT_EQ(metrics.peers.size(), 1u);
  EXPECT_EQ(metrics.peers[0].counters.protocol_errors.at(0), 1u);  // a rule, not a decoding error
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, call.id);
  EXPECT_NE(errc_name(done[0].result), errc_name(Errc::ok));
}

// §6.1 and §9.2: a second response on a call whose response is arriving in parts is a
// protocol error. Before, it was taken as the start of the answer again, and the first
// one's size stayed counted against max_assembly_bytes for the rest of the connection (a
// debug build failed an assertion).
TEST(SpecStatements, S6_1_ASecondResponseWhileTheFirstArrivesInPartsIsAProtocolError) {
  ScriptedPeer peer = dialed();
  const Call call = peer.connection().request(0, RequestArgs{.handler = kEchoHandler});
  ASSERT_EQ(call.error, Errc::ok);
  peer.written();
  const Frame first_part{.op = Op::response,
                         .flags = flag::kMore,
                         .mux = call.id,
                         .seq = 400,
                         .payload = as_bytes("0123456789")};
  peer.feed(first_part);
  EXPECT_TRUE(peer.all<event::RequestDone>().empty());
  peer.feed(first_part);
  EXPECT_EQ(testing::expect_protocol_error(peer),
            "second response on mux " + std::to_string(call.id));
  const auto done = peer.all<event::RequestDone>();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_NE(errc_name(done[0].result), errc_name(Errc::ok));
}

}  // namespace
}  // namespace weft::spec_test
