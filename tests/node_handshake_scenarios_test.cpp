// Scenarios of the handshake and the wire, each on nodes wired in memory or fed scripted
// frames: handshake rejections (a wrong key, unknown name, clock skew, version, wrong
// dialer or target, stale hellos), a handshake that never finishes, requests in parts checked
// against the announced size, and the dial rule over many names.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "scripted_peer.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::kEchoHandler;
using testing::ScriptedPeer;
using testing::text_of;

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;

// ---- handshake rejections ----

struct Rejection {
  const testing::Recorder* refuser;
  const testing::Recorder* refused;
};

// Runs a cluster where `adjust` breaks node b's or a's config, then checks both sides saw
// the handshake fail with `status`.
void expect_rejection(const std::function<void(NodeConfig&)>& adjust, Status status) {
  Cluster cluster({"alpha", "bravo"}, {}, adjust);
  cluster.net().run_for(ns_from_ms(300));
  EXPECT_FALSE(cluster.connected(kA, kB));
  std::size_t refusing = 0;
  std::size_t refused = 0;
  for (std::size_t i : {kA, kB}) {
    for (const auto& failure : cluster.recorder(i).handshake_failures) {
      EXPECT_EQ(status_name(static_cast<std::uint16_t>(failure.event.status)),
                status_name(static_cast<std::uint16_t>(status)))
          << failure.event.message;
      EXPECT_FALSE(failure.event.message.empty());
      (failure.event.rejected_by_us ? refusing : refused) += 1;
    }
  }
  EXPECT_GE(refusing, 1u) << "the refusing side saw no event";
  EXPECT_GE(refused, 1u) << "the refused side saw no event";
}

TEST(NodeScenarios, HandshakeRejectsAWrongKey) {
  // Whichever side dials, the first proof checked is the other key's: the dialer refuses the
  // challenge (goaway) or the acceptor the auth (reject), and both report auth_failed.
  expect_rejection(
      [](NodeConfig& config) {
        if (config.name == "bravo")
          config.auth = std::make_shared<SharedKeyAuth>("other-cluster-key");
      },
      Status::auth_failed);
}

TEST(NodeScenarios, HandshakeRejectsAnUnknownName) {
  // The acceptor does not list the dialer; the dialer lists the acceptor.
  const bool alpha_dials = dial_rule_dials("alpha", "bravo");
  const std::string acceptor = alpha_dials ? "bravo" : "alpha";
  expect_rejection(
      [acceptor](NodeConfig& config) {
        if (config.name == acceptor) config.peers = {"someone-else"};
      },
      Status::unknown_node);
}

TEST(NodeScenarios, HandshakeRejectsClockSkew) {
  Cluster cluster({"alpha", "bravo"});
  cluster.node(kB).set_wall_clock(cluster.now(), cluster.net().wall_ms() + 6 * 60 * 1000);
  cluster.net().run_for(ns_from_ms(300));
  EXPECT_FALSE(cluster.connected(kA, kB));
  bool refuser_saw = false;
  bool refused_saw = false;
  for (std::size_t i : {kA, kB}) {
    for (const auto& failure : cluster.recorder(i).handshake_failures) {
      EXPECT_EQ(failure.event.status, Status::clock_skew);
      (failure.event.rejected_by_us ? refuser_saw : refused_saw) = true;
    }
  }
  EXPECT_TRUE(refuser_saw);
  EXPECT_TRUE(refused_saw);
  // Within the allowed skew the pair connects.
  cluster.node(kB).set_wall_clock(cluster.now(), cluster.net().wall_ms() + 4 * 60 * 1000);
  EXPECT_TRUE(cluster.run_until_connected(ns_from_ms(20'000)));
}

TEST(NodeScenarios, HandshakeRejectsAVersionMismatch) {
  expect_rejection(
      [](NodeConfig& config) {
        if (config.name == "alpha") {  // bravo speaks [3, 3]
          config.version_min = 4;
          config.version_max = 5;
        }
      },
      Status::version_mismatch);
}

// Feeds a node raw bytes on an accepted transport and returns the events it emits.
std::vector<Event> feed_accepted(Node& node, const Frame& first_frame) {
  const TransportId transport = node.on_accepted(0);
  ByteBuffer bytes;
  encode_frame(bytes, first_frame);
  node.on_bytes(0, transport, bytes.view());
  std::vector<Event> events;
  while (auto event = node.poll_event())
    events.push_back(std::move(*event));
  return events;
}

Frame hello_from(std::string_view from, std::string_view to) {
  return Frame{.op = Op::hello,
               .checksum = true,
               .version_min = kProtocolVersionMin,
               .version_max = kProtocolVersion,
               .name = from,
               .peer_name = to,
               .incarnation = 42,
               .wall_ms = 1'000'000,
               .max_frame_bytes = 1 << 20,
               .nonce = testing::script_nonce()};
}

// The reject frame in a CloseTransport's final bytes, and the HandshakeFailed event.
void expect_refused(const std::vector<Event>& events, Status status) {
  bool saw_event = false;
  bool saw_reject = false;
  for (const Event& event : events) {
    if (const auto* failed = std::get_if<event::HandshakeFailed>(&event)) {
      EXPECT_EQ(failed->status, status) << failed->message;
      EXPECT_TRUE(failed->rejected_by_us);
      saw_event = true;
    }
    if (const auto* close = std::get_if<event::CloseTransport>(&event)) {
      const auto frame = decode_one(close->final_bytes, {});
      ASSERT_TRUE(frame.has_value());
      EXPECT_EQ(frame->op, Op::reject);
      EXPECT_EQ(frame->status, static_cast<std::uint16_t>(status));
      EXPECT_FALSE(frame->payload.empty());
      saw_reject = true;
    }
  }
  EXPECT_TRUE(saw_event);
  EXPECT_TRUE(saw_reject);
}

TEST(NodeScenarios, HandshakeRejectsTheWrongDialerAndWrongTarget) {
  // Find a pair where "x" must dial "y"; then a hello from "y" to "x" is from the wrong side.
  std::string x = "n0";
  std::string y = "n1";
  if (!dial_rule_dials(x, y)) std::swap(x, y);
  NodeConfig config = testing::test_config(x, {y});
  Node node(config, 0, 1'000'000);
  expect_refused(feed_accepted(node, hello_from(y, x)), Status::wrong_dialer);
  expect_refused(feed_accepted(node, hello_from(y, "not-me")), Status::wrong_target);
  expect_refused(feed_accepted(node, hello_from("stranger", x)), Status::unknown_node);
  Frame not_hello{.op = Op::ping, .seq = 1};
  expect_refused(feed_accepted(node, not_hello), Status::protocol_error);
}

// The PeerUp among `events`, if there is one.
const event::PeerUp* peer_up_in(const std::vector<Event>& events) {
  for (const Event& event : events) {
    if (const auto* up = std::get_if<event::PeerUp>(&event)) return up;
  }
  return nullptr;
}

TEST(NodeScenarios, StaleHelloOfAnEarlierAttemptIsRefusedAndKeepsTheConnection) {
  std::string acceptor = "n0";
  std::string dialer = "n1";
  if (!dial_rule_dials(dialer, acceptor)) std::swap(acceptor, dialer);
  Node node(testing::test_config(acceptor, {dialer}), 0, 1'000'000);
  Frame attempt = hello_from(dialer, acceptor);
  attempt.seq = 5;  // the dialer's fifth dial is the one that got through
  const auto dialed = testing::dial_node(node, attempt);
  const std::vector<Event>& adopted = dialed.events;
  ASSERT_EQ(adopted.size(), 1u);
  ASSERT_TRUE(std::holds_alternative<event::PeerUp>(adopted[0]));
  // It names the transport the handshake ran on (a driver sizes that socket's buffers).
  EXPECT_EQ(std::get<event::PeerUp>(adopted[0]).transport, dialed.transport);
  // Its fourth and fifth dials again (delayed or replayed) are stale; the connection stays.
  for (std::uint64_t seq : {4u, 5u}) {
    Frame stale = attempt;
    stale.seq = seq;
    expect_refused(feed_accepted(node, stale), Status::stale_hello);
    EXPECT_EQ(node.connection(0).state(), PeerState::established);
  }
  // A later dial of the same process, or any dial of a new incarnation, replaces it.
  Frame later = attempt;
  later.seq = 6;
  EXPECT_NE(peer_up_in(testing::dial_node(node, later).events), nullptr);
  Frame restarted = attempt;
  restarted.incarnation = 43;
  restarted.seq = 1;
  const auto redialed = testing::dial_node(node, restarted);
  const event::PeerUp* up = peer_up_in(redialed.events);
  ASSERT_NE(up, nullptr);
  EXPECT_TRUE(up->peer_restarted);
  EXPECT_EQ(up->transport, redialed.transport);
  EXPECT_NE(up->transport, dialed.transport);
}

TEST(NodeScenarios, HandshakeThatNeverFinishesTimesOut) {
  Cluster cluster({"alpha", "bravo"});
  const std::size_t acceptor = cluster.to(kA, kB).dials() ? kB : kA;
  const std::size_t dialer = 1 - acceptor;
  cluster.net().set_muted(acceptor, true);  // the hello arrives; no challenge ever leaves
  cluster.net().run_for(ns_from_ms(10'500));
  EXPECT_FALSE(cluster.connected(kA, kB));
  // The acceptor gives the dialer hello_timeout_ms (2 s) for its auth, then closes; the
  // dialer dials again each time (its own 10 s wait: the scripted contract tests).
  std::size_t acceptor_timeouts = 0;
  for (const auto& failure : cluster.recorder(acceptor).handshake_failures) {
    if (failure.event.status != Status::handshake_timeout) continue;
    ++acceptor_timeouts;
    EXPECT_EQ(failure.event.message, "no auth answered the challenge in time");
  }
  EXPECT_GE(acceptor_timeouts, 2u);
  EXPECT_GE(cluster.net().dial_log(dialer).size(), 2u);  // and it tries again
  cluster.net().set_muted(acceptor, false);
  EXPECT_TRUE(cluster.run_until_connected(ns_from_ms(20'000)));
}

// ---- requests in parts ----

// One node that accepted a transport from a scripted peer and finished the handshake (its
// welcome read): the frames a test feeds it come from an established peer.
ScriptedPeer limited_peer() {
  return testing::accepted([](NodeConfig& config) { config.limits.max_message_bytes = 1000; });
}

Frame first_part(std::uint64_t total_bytes, std::string_view bytes) {
  return Frame{.op = Op::request,
               .flags = flag::kMore,
               .mux = 2,
               .seq = total_bytes,
               .handler = kEchoHandler,
               .payload = as_bytes(bytes)};
}

Frame next_part(std::uint64_t part, bool last, std::string_view bytes) {
  return Frame{.op = Op::continuation,
               .flags = last ? std::uint16_t{0} : flag::kMore,
               .mux = 2,
               .seq = part,
               .payload = as_bytes(bytes)};
}

TEST(NodeScenarios, PartsMustAddUpToTheAnnouncedSize) {
  {  // exactly the announced size: delivered whole
    ScriptedPeer peer = limited_peer();
    peer.feed(first_part(10, "abcd"));
    peer.feed(next_part(1, false, "ef"));
    EXPECT_FALSE(peer.first<event::RequestReceived>().has_value());
    peer.feed(next_part(2, true, "ghij"));
    const auto received = peer.first<event::RequestReceived>();
    ASSERT_TRUE(received.has_value());
    EXPECT_EQ(text_of(received->payload), "abcdefghij");
    EXPECT_FALSE(peer.first<event::PeerDown>().has_value());
  }
  {  // a part that runs past it: the connection fails, naming both sizes
    ScriptedPeer peer = limited_peer();
    peer.feed(first_part(10, "abcd"));
    peer.feed(next_part(1, false, "efghijk"));
    const auto down = peer.first<event::PeerDown>();
    ASSERT_TRUE(down.has_value());
    EXPECT_NE(down->reason.find("add up to 11+ bytes, announced 10"), std::string::npos)
        << down->reason;
    EXPECT_FALSE(peer.first<event::RequestReceived>().has_value());
  }
  {  // a last part that leaves it short
    ScriptedPeer peer = limited_peer();
    peer.feed(first_part(10, "abcd"));
    peer.feed(next_part(1, true, "ef"));
    const auto down = peer.first<event::PeerDown>();
    ASSERT_TRUE(down.has_value());
    EXPECT_NE(down->reason.find("add up to 6 bytes, announced 10"), std::string::npos)
        << down->reason;
    EXPECT_FALSE(peer.first<event::RequestReceived>().has_value());
  }
}

TEST(NodeScenarios, AnnouncedSizeOverTheLimitIsRefusedAtTheFirstPart) {
  ScriptedPeer peer = limited_peer();  // max_message_bytes 1000
  peer.feed(first_part(1001, "abcd"));
  // Answered at once, before any further part: too_large, and the connection stays up.
  const auto sent = peer.written();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].view().op, Op::response);
  EXPECT_EQ(sent[0].view().mux, 2u);
  EXPECT_EQ(sent[0].view().status, static_cast<std::uint16_t>(Status::too_large));
  // Its later parts are ignored.
  peer.feed(next_part(1, true, "x"));
  EXPECT_FALSE(peer.first<event::RequestReceived>().has_value());
  EXPECT_FALSE(peer.first<event::PeerDown>().has_value());
}
// ---- the dial rule ----

TEST(NodeScenarios, DialRuleIsAntisymmetricAndBalancedOver100Names) {
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i)
    names.push_back("node-" + std::to_string(i));
  std::vector<int> dials(names.size(), 0);
  for (std::size_t a = 0; a < names.size(); ++a) {
    EXPECT_FALSE(dial_rule_dials(names[a], names[a]));
    for (std::size_t b = 0; b < names.size(); ++b) {
      if (a == b) continue;
      const bool ab = dial_rule_dials(names[a], names[b]);
      const bool ba = dial_rule_dials(names[b], names[a]);
      ASSERT_NE(ab, ba) << names[a] << " / " << names[b];
      dials[a] += ab ? 1 : 0;
    }
  }
  // Each node dials about half of its 99 peers: a fair coin gives 49.5 +/- 5; allow 4.5
  // standard deviations either way.
  for (std::size_t a = 0; a < names.size(); ++a) {
    EXPECT_GE(dials[a], 27) << names[a];
    EXPECT_LE(dials[a], 72) << names[a];
  }
  int total = 0;
  for (int d : dials)
    total += d;
  EXPECT_EQ(total, 100 * 99 / 2);
}

}  // namespace
}  // namespace weft
