// Peers added and removed while nodes run (Node::add_peer / remove_peer): a new peer
// connects under the dial rule; a removed one's calls, streams and object streams end once
// with peer_removed, later commands on it are refused with unknown_peer, its hellos are
// refused, and a name added again is a new relationship.
#include <gtest/gtest.h>

#include "cluster.hpp"

namespace weft::testing {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;
constexpr std::uint16_t kStreams = 20;  // a stream handler that never answers

StreamArgs a_stream() {
  StreamArgs args;
  args.handler = kStreams;
  return args;
}

template <typename E>
std::vector<E> all_events(std::deque<Event>& events) {
  std::vector<E> out;
  for (const Event& event : events) {
    if (const auto* match = std::get_if<E>(&event)) out.push_back(*match);
  }
  return out;
}

// Two nodes on the in-memory network; "a" knows "b" from its config, "b" starts knowing
// nobody. Both register the echo handler and an object endpoint; events queue per node.
struct Pair {
  sim::MemNetwork net;
  sim::NodeIndex a;
  sim::NodeIndex b;

  Pair() {
    NodeConfig config_a = test_config("a", {"b"});
    config_a.seed = 11;
    NodeConfig config_b = test_config("b", {});
    config_b.seed = 12;
    a = net.add_node(std::move(config_a));
    b = net.add_node(std::move(config_b));
    for (sim::NodeIndex index : {a, b}) {
      net.node(index).register_handler(kHoldHandler);
      net.node(index).register_stream_handler(kStreams);
      net.node(index).register_object_endpoint("store");
    }
  }
  // "b" adds "a"; true once the two are up on each other.
  bool introduce() {
    if (net.node(b).add_peer(net.now(), "a").error != Errc::ok) return false;
    return net.run_until([&] { return up(a, 0) && up(b, 0); }, net.now() + 10 * kSecond);
  }
  bool up(sim::NodeIndex index, PeerId peer) {
    return net.node(index).connection(peer).state() == PeerState::established;
  }
};

TEST(Membership, APeerAddedWhileRunningConnectsAndServes) {
  Pair pair;
  pair.net.run_for(kSecond);
  EXPECT_FALSE(pair.up(pair.a, 0));  // "b" refuses a name it does not know
  const AddedPeer added = pair.net.node(pair.b).add_peer(pair.net.now(), "a");
  ASSERT_EQ(added.error, Errc::ok);
  EXPECT_EQ(added.peer, 0u);
  EXPECT_EQ(pair.net.node(pair.b).peer_count(), 1u);
  ASSERT_TRUE(pair.net.run_until([&] { return pair.up(pair.a, 0) && pair.up(pair.b, 0); },
                                 pair.net.now() + 10 * kSecond));
  const Call call = pair.net.node(pair.b)
                        .connection(added.peer)
                        .request(pair.net.now(), RequestArgs{.handler = kHoldHandler});
  EXPECT_EQ(call.error, Errc::ok);
}

TEST(Membership, AddingABadNameItselfOrALivePeerIsRefused) {
  Pair pair;
  Node& a = pair.net.node(pair.a);
  EXPECT_EQ(a.add_peer(0, "a").error, Errc::invalid_argument);  // itself
  EXPECT_EQ(a.add_peer(0, "b").error, Errc::invalid_argument);  // already a live peer
  EXPECT_EQ(a.add_peer(0, "").error, Errc::invalid_argument);   // empty
  EXPECT_EQ(a.add_peer(0, "has space").error, Errc::invalid_argument);
  EXPECT_EQ(a.peer_count(), 1u);
  EXPECT_EQ(a.remove_peer(0, 5), Errc::unknown_peer);
}

TEST(Membership, RemovingAPeerEndsEverythingWithItOnceWithPeerRemoved) {
  Pair pair;
  ASSERT_TRUE(pair.introduce());
  Node& a = pair.net.node(pair.a);
  PeerConnection to_b = a.connection(0);
  const Call call = to_b.request(pair.net.now(), RequestArgs{.handler = kHoldHandler});
  ASSERT_EQ(call.error, Errc::ok);
  const OpenedStream stream = to_b.open_stream(pair.net.now(), a_stream());
  ASSERT_EQ(stream.error, Errc::ok);
  const OpenedObjectStream objects = to_b.open_object_stream(pair.net.now(), "store");
  ASSERT_EQ(objects.error, Errc::ok);
  ObjectArgs big;
  big.size = 4 << 20;
  big.data = SharedBytes(std::vector<std::uint8_t>(big.size, 1));
  ASSERT_EQ(to_b.object_post(pair.net.now(), objects.id, big).error, Errc::ok);
  ASSERT_EQ(to_b.object_post(pair.net.now(), objects.id, ObjectArgs{}).error, Errc::ok);
  pair.net.run_for(kSecond / 1000);  // in flight, not finished (nobody answers or reads)
  pair.net.app_events(pair.a).clear();

  ASSERT_EQ(a.remove_peer(pair.net.now(), 0), Errc::ok);
  EXPECT_EQ(a.remove_peer(pair.net.now(), 0), Errc::unknown_peer);  // once
  pair.net.run_for(kSecond);
  auto& events = pair.net.app_events(pair.a);
  const auto done = all_events<event::RequestDone>(events);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, call.id);
  EXPECT_EQ(done[0].result, Errc::peer_removed);
  const auto ended = all_events<event::StreamEnded>(events);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::peer_removed);
  const auto completed = all_events<event::ObjectCompleted>(events);
  ASSERT_EQ(completed.size(), 2u);
  for (std::size_t i = 0; i < completed.size(); ++i) {
    EXPECT_EQ(completed[i].object, i + 1);
    EXPECT_EQ(completed[i].result, Errc::peer_removed);
  }
  const auto streams_ended = all_events<event::ObjectStreamEnded>(events);
  ASSERT_EQ(streams_ended.size(), 1u);
  EXPECT_EQ(streams_ended[0].result, Errc::peer_removed);
  EXPECT_EQ(all_events<event::PeerDown>(events).size(), 1u);
  // The id stays, dead.
  EXPECT_EQ(to_b.state(), PeerState::removed);
  EXPECT_EQ(to_b.request(pair.net.now(), RequestArgs{.handler = kHoldHandler}).error,
            Errc::unknown_peer);
  EXPECT_EQ(to_b.open_stream(pair.net.now(), a_stream()).error, Errc::unknown_peer);
  EXPECT_EQ(to_b.open_object_stream(pair.net.now(), "store").error, Errc::unknown_peer);
  EXPECT_FALSE(a.find_peer("b"));
  // "b" keeps dialing or waiting; "a" refuses it: the two never come up again.
  pair.net.run_for(20 * kSecond);
  EXPECT_FALSE(pair.up(pair.b, 0));
  EXPECT_EQ(all_events<event::PeerUp>(events).size(), 0u);
  EXPECT_EQ(a.next_deadline(), kNever);  // nothing scheduled for a removed peer
}

TEST(Membership, ANameAddedAgainIsANewRelationship) {
  Pair pair;
  ASSERT_TRUE(pair.introduce());
  Node& a = pair.net.node(pair.a);
  // find_peer remembers the peer it found last; neither the removal nor the new
  // relationship may be hidden by that.
  EXPECT_EQ(a.find_peer("b"), std::optional<PeerId>(0));
  EXPECT_FALSE(a.find_peer("bb"));
  EXPECT_FALSE(a.find_peer(""));
  ASSERT_EQ(a.remove_peer(pair.net.now(), 0), Errc::ok);
  EXPECT_FALSE(a.find_peer("b"));
  pair.net.run_for(kSecond);
  const AddedPeer again = a.add_peer(pair.net.now(), "b");
  ASSERT_EQ(again.error, Errc::ok);
  EXPECT_EQ(again.peer, 1u);  // ids are never reused
  EXPECT_EQ(a.find_peer("b"), std::optional<PeerId>(1));
  ASSERT_TRUE(pair.net.run_until([&] { return pair.up(pair.a, 1) && pair.up(pair.b, 0); },
                                 pair.net.now() + 20 * kSecond));
  EXPECT_EQ(a.connection(0).state(), PeerState::removed);
  const Call call =
      a.connection(again.peer).request(pair.net.now(), RequestArgs{.handler = kHoldHandler});
  EXPECT_EQ(call.error, Errc::ok);
}

// The peer remembers the last hello it adopted from this process (PROTOCOL.md §4.2): a
// re-added name's hellos must continue the attempt numbers of the removed relationship, or
// the peer refuses them stale_hello until as many dials have failed (found by the on-demand
// swarm, where a dial comes only with work).
TEST(Membership, AReAddedDialersFirstHelloIsNotStale) {
  Cluster cluster({"a", "b"});
  const std::size_t dialer = dial_rule_dials("a", "b") ? 0 : 1;
  const std::string acceptor_name = dialer == 0 ? "b" : "a";
  ASSERT_TRUE(cluster.run_until_connected());
  for (int cut = 0; cut < 3; ++cut) {  // attempts 2, 3, 4
    cluster.net().break_links(0, 1);
    ASSERT_TRUE(cluster.run_until_connected(10 * kSecond));
  }
  Node& node = cluster.node(dialer);
  ASSERT_EQ(node.remove_peer(cluster.now(), 0), Errc::ok);
  cluster.net().run_for(kSecond);
  const AddedPeer again = node.add_peer(cluster.now(), acceptor_name);
  ASSERT_EQ(again.error, Errc::ok);
  const std::size_t dials_before = cluster.net().dial_log(dialer).size();
  ASSERT_TRUE(cluster.net().run_until(
      [&] { return node.connection(again.peer).state() == PeerState::established; },
      cluster.now() + 10 * kSecond));
  EXPECT_EQ(cluster.net().dial_log(dialer).size(), dials_before + 1);  // the first dial
  for (const auto& failed : cluster.recorder(dialer).handshake_failures)
    EXPECT_NE(failed.event.status, Status::stale_hello) << failed.event.message;
}

}  // namespace
}  // namespace weft::testing
