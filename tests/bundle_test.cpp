// Bundles (weft/bundle.hpp): one object to ten receivers over four streams each, with one
// completion per object carrying every destination's result, on every path: all ok, a
// destination missing (unreachable, or without the endpoint), one failing mid-way (refused
// half read, or its data not readable again), a stop, a destination removed or added, a peer
// removed from or added to the node, fin, and the all-or-nothing post.
#include <gtest/gtest.h>

#include <set>

#include "bundle_cluster.hpp"
#include "cluster.hpp"

namespace weft::testing {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;
constexpr std::size_t kReceivers = 10;
constexpr std::uint32_t kMultiplier = 4;
using Policy = BundleCluster::Policy;

BundleConfig broadcast(BundleOrder order = BundleOrder::round_robin) {
  return BundleConfig{.endpoint = "store", .multiplier = kMultiplier, .order = order};
}

std::vector<std::uint8_t> pattern(std::size_t size, std::uint8_t seed) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<std::uint8_t>(seed + i * 7);
  return bytes;
}

ObjectArgs object(std::string name, std::vector<std::uint8_t> data, std::uint64_t tag = 0) {
  ObjectArgs args;
  args.header.name = std::move(name);
  args.size = data.size();
  args.data = SharedBytes(std::move(data));
  args.tag = tag;
  return args;
}

// Every object 1..count completed exactly once; returns the completions by object number.
std::map<std::uint64_t, event::BundleObjectCompleted> once_each(
    const std::vector<event::BundleObjectCompleted>& completions, std::uint64_t count) {
  std::map<std::uint64_t, event::BundleObjectCompleted> by_object;
  for (const auto& completion : completions) {
    EXPECT_TRUE(by_object.emplace(completion.object, completion).second)
        << "object " << completion.object << " completed twice";
  }
  EXPECT_EQ(by_object.size(), count);
  for (std::uint64_t object = 1; object <= count; ++object) {
    EXPECT_TRUE(by_object.contains(object)) << "object " << object << " never completed";
  }
  return by_object;
}

std::vector<PeerId> peers_of(const event::BundleObjectCompleted& completion) {
  std::vector<PeerId> peers;
  for (const ReplicaResult& replica : completion.replicas)
    peers.push_back(replica.peer);
  return peers;
}

std::vector<PeerId> all_receivers() {
  std::vector<PeerId> peers;
  for (PeerId peer = 0; peer < kReceivers; ++peer)
    peers.push_back(peer);
  return peers;
}

struct Fixture {
  explicit Fixture(const std::function<void(NodeConfig&)>& adjust = {})
      : cluster(kReceivers, adjust) {}
  BundleCluster cluster;
  BundleId open(const BundleConfig& config = broadcast()) {
    const OpenedBundle opened = cluster.sender().open_bundle(cluster.now(), config);
    EXPECT_EQ(opened.error, Errc::ok);
    return opened.id;
  }
  PostedBundleObject post(BundleId id, ObjectArgs args, std::uint64_t key = 0) {
    return cluster.sender().bundle_post(cluster.now(), id, std::move(args), key);
  }
  std::vector<event::BundleObjectCompleted> completions(BundleId id) {
    return cluster.sender<event::BundleObjectCompleted>(id);
  }
  bool run_until_completed(BundleId id, std::size_t count, TimeNs limit_ns = 60 * kSecond) {
    return cluster.run_until([&] { return completions(id).size() >= count; }, limit_ns);
  }
};

TEST(Bundle, BroadcastToTenPeersOverFourStreamsEachCompletesEveryObjectOnceWithTenResults) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  const BundleId id = f.open();
  constexpr std::uint64_t kObjects = 40;
  for (std::uint64_t i = 1; i <= kObjects; ++i) {
    const PostedBundleObject posted =
        f.post(id, object("o" + std::to_string(i), pattern(3000 + i, std::uint8_t(i)), 1000 + i));
    ASSERT_EQ(posted.error, Errc::ok);
    EXPECT_EQ(posted.object, i);
    EXPECT_EQ(posted.replicas, kReceivers);
  }
  ASSERT_TRUE(f.run_until_completed(id, kObjects));
  f.cluster.run(kSecond);  // nothing more may come
  const auto by_object = once_each(f.completions(id), kObjects);
  for (const auto& [number, completion] : by_object) {
    EXPECT_EQ(completion.tag, 1000 + number);
    EXPECT_EQ(peers_of(completion), all_receivers());
    EXPECT_TRUE(completion.all_ok());
  }
  // The receivers' side of the same fact: each got every object once, bytes intact, spread
  // over the four streams round-robin (ten objects on each).
  for (std::size_t receiver = 0; receiver < kReceivers; ++receiver) {
    const auto& arrivals = f.cluster.arrivals(receiver);
    ASSERT_EQ(arrivals.size(), kObjects);
    std::map<std::string, std::size_t> seen;
    std::map<std::uint64_t, std::size_t> per_stream;
    for (const auto& arrival : arrivals) {
      const std::uint64_t i = std::stoull(arrival.name.substr(1));
      EXPECT_EQ(arrival.data, pattern(3000 + i, std::uint8_t(i)));
      ++seen[arrival.name];
      ++per_stream[arrival.stream.value];
    }
    EXPECT_EQ(seen.size(), kObjects);
    ASSERT_EQ(per_stream.size(), kMultiplier);
    for (const auto& [stream, count] : per_stream)
      EXPECT_EQ(count, kObjects / kMultiplier);
  }
  const auto stats = f.cluster.sender().bundle_stats(id);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->destinations, kReceivers);
  EXPECT_EQ(stats->streams, kReceivers * kMultiplier);
  EXPECT_EQ(stats->objects, kObjects);
  EXPECT_EQ(stats->completed_ok, kObjects);
  EXPECT_EQ(stats->in_flight, 0u);
  EXPECT_EQ(stats->replicas_ok, kObjects * kReceivers);
  // The bundle's streams stay its own: no object-stream event reached the application.
  for (const Event& event : f.cluster.sender_events()) {
    EXPECT_FALSE(std::holds_alternative<event::ObjectCompleted>(event));
    EXPECT_FALSE(std::holds_alternative<event::ObjectStreamEnded>(event));
  }
}

TEST(Bundle, OrderedModeDeliversObjectsWithTheSameKeyInPostingOrderToEveryDestination) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  const BundleId id = f.open(broadcast(BundleOrder::by_key));
  constexpr std::uint64_t kObjects = 120;
  constexpr std::uint64_t kKeys = 7;
  for (std::uint64_t i = 0; i < kObjects; ++i) {
    const std::uint64_t key = (i * 5) % kKeys;
    // Sizes vary widely so that streams finish at different times.
    const std::size_t size = (i % 3 == 0) ? 200'000 : 100 + i;
    const std::string name = std::to_string(key) + ":" + std::to_string(i);
    ASSERT_EQ(f.post(id, object(name, pattern(size, std::uint8_t(i))), key).error, Errc::ok);
  }
  ASSERT_TRUE(f.run_until_completed(id, kObjects));
  for (std::size_t receiver = 0; receiver < kReceivers; ++receiver) {
    std::map<std::uint64_t, std::uint64_t> last_of_key;
    std::map<std::uint64_t, std::set<std::uint64_t>> streams_of_key;
    ASSERT_EQ(f.cluster.arrivals(receiver).size(), kObjects);
    for (const auto& arrival : f.cluster.arrivals(receiver)) {
      const auto colon = arrival.name.find(':');
      const std::uint64_t key = std::stoull(arrival.name.substr(0, colon));
      const std::uint64_t index = std::stoull(arrival.name.substr(colon + 1));
      if (last_of_key.contains(key)) {
        EXPECT_LT(last_of_key[key], index) << "key " << key << " out of order at r" << receiver;
      }
      last_of_key[key] = index;
      streams_of_key[key].insert(arrival.stream.value);
    }
    for (const auto& [key, streams] : streams_of_key)
      EXPECT_EQ(streams.size(), 1u);
  }
  // Objects of one key complete in posting order too (events.hpp).
  std::map<std::uint64_t, std::uint64_t> last_completed;
  for (const auto& completion : f.completions(id)) {
    const std::uint64_t key = ((completion.object - 1) * 5) % kKeys;
    EXPECT_LT(last_completed[key], completion.object);
    last_completed[key] = completion.object;
  }
}

TEST(Bundle, AnUnreachableDestinationAndOneWithoutTheEndpointGetTheirOwnResults) {
  Fixture f([](NodeConfig& config) { config.timeouts.object_resume_timeout_ms = 2'000; });
  ASSERT_TRUE(f.cluster.run_until_connected());
  // r9 becomes unreachable; r8 alone serves "other" (r7 does not).
  f.cluster.net().set_reachable(0, 10, false);
  f.cluster.net().break_links(0, 10);
  f.cluster.net().node(9).register_object_endpoint("other");
  BundleConfig config{.endpoint = "other",
                      .broadcast = false,
                      .destinations = {7, 8, 9},
                      .multiplier = kMultiplier};
  const BundleId id = f.open(config);
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(f.post(id, object("x", pattern(5000, 1))).error, Errc::ok);
  ASSERT_TRUE(f.run_until_completed(id, 8));
  f.cluster.run(5 * kSecond);
  for (const auto& [number, completion] : once_each(f.completions(id), 8)) {
    ASSERT_EQ(peers_of(completion), (std::vector<PeerId>{7, 8, 9}));
    EXPECT_EQ(completion.replicas[0].result, Errc::unknown_handler);  // r7 lacks "other"
    EXPECT_EQ(completion.replicas[1].result, Errc::ok);
    EXPECT_EQ(completion.replicas[2].result, Errc::disconnected);  // r9 unreachable
    EXPECT_FALSE(completion.all_ok());
  }
  // A later object to the same set: the endpoint-less destination's slot was reopened and
  // refuses again, still with a result of its own.
  f.cluster.net().set_reachable(0, 10, true);
  ASSERT_EQ(f.post(id, object("y", pattern(10, 2))).error, Errc::ok);
  ASSERT_TRUE(f.run_until_completed(id, 9));
  const auto last = f.completions(id).back();
  EXPECT_EQ(last.object, 9u);
  EXPECT_EQ(last.replicas[0].result, Errc::unknown_handler);
  EXPECT_EQ(last.replicas[1].result, Errc::ok);
}

TEST(Bundle, OneDestinationRefusingHalfWayFailsOnlyItsReplica) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  f.cluster.set_policy(3, Policy::refuse_half);
  const BundleId id = f.open();
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(f.post(id, object("big", pattern(1 << 20, std::uint8_t(i)))).error, Errc::ok);
  }
  ASSERT_TRUE(f.run_until_completed(id, 8));
  for (const auto& [number, completion] : once_each(f.completions(id), 8)) {
    ASSERT_EQ(peers_of(completion), all_receivers());
    for (const ReplicaResult& replica : completion.replicas) {
      if (replica.peer == 3) {
        EXPECT_EQ(replica.result, Errc::remote_error);
        EXPECT_EQ(replica.message, "refused by the test");
      } else {
        EXPECT_EQ(replica.result, Errc::ok) << "r" << replica.peer;
      }
    }
  }
  EXPECT_EQ(f.cluster.arrivals(3).size(), 8u);
  for (const auto& arrival : f.cluster.arrivals(3))
    EXPECT_TRUE(arrival.refused);
}

TEST(Bundle, DataReadAgainPerReplicaAndAFailureToReadItIsThatReplicasError) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  const BundleId id = f.open();
  const std::vector<std::uint8_t> data = pattern(300'000, 9);
  ObjectArgs args;
  args.header.name = "from-a-file";
  args.size = data.size();
  const PostedBundleObject posted = f.post(id, args);
  ASSERT_EQ(posted.error, Errc::ok);
  // The application's data source: each replica reads the data on its own; for r5 the
  // source fails after the first 100000 bytes.
  std::set<PeerId> asked;
  std::size_t handled = 0;
  ASSERT_TRUE(f.cluster.run_until(
      [&] {
        auto& events = f.cluster.sender_events();
        for (; handled < events.size(); ++handled) {
          const auto* want = std::get_if<event::BundleWantData>(&events[handled]);
          if (want == nullptr) continue;
          EXPECT_EQ(want->object, posted.object);
          asked.insert(want->peer);
          Node& sender = f.cluster.sender();
          // Supply in pieces until the stream's buffer is full (the next BundleWantData
          // says when to go on) or the data ends.
          for (std::uint64_t offset = want->offset; offset < data.size();) {
            if (want->peer == 5 && offset >= 100'000) {
              EXPECT_EQ(sender.bundle_abort(f.cluster.now(), id, want->object, 5,
                                            Errc::remote_error, "source unreadable"),
                        Errc::ok);
              break;
            }
            const std::uint64_t end = std::min<std::uint64_t>(data.size(), offset + 50'000);
            const Bytes piece(data.data() + offset, end - offset);
            const Errc supplied = sender.bundle_supply(f.cluster.now(), id, want->object,
                                                       want->peer, offset, piece, false);
            if (supplied == Errc::no_credit) break;
            EXPECT_EQ(supplied, Errc::ok);
            if (supplied != Errc::ok) break;
            offset = end;
          }
        }
        return !f.completions(id).empty();
      },
      30 * kSecond));
  EXPECT_EQ(asked.size(), kReceivers);
  const auto completions = f.completions(id);
  ASSERT_EQ(completions.size(), 1u);
  for (const ReplicaResult& replica : completions[0].replicas) {
    if (replica.peer == 5) {
      EXPECT_EQ(replica.result, Errc::remote_error);
      EXPECT_EQ(replica.message, "source unreadable");
      EXPECT_TRUE(f.cluster.arrivals(5).empty());
    } else {
      EXPECT_EQ(replica.result, Errc::ok);
      ASSERT_EQ(f.cluster.arrivals(replica.peer).size(), 1u);
      EXPECT_EQ(f.cluster.arrivals(replica.peer)[0].data, data);
    }
  }
}

TEST(Bundle, AStopCompletesEveryObjectOnceThenEndsTheBundle) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  f.cluster.set_policy(6, Policy::hold);  // r6 reads nothing: its replicas stay in flight
  const BundleId id = f.open();
  constexpr std::uint64_t kObjects = 12;
  for (std::uint64_t i = 0; i < kObjects; ++i) {
    ASSERT_EQ(f.post(id, object("s", pattern(20'000, 3))).error, Errc::ok);
  }
  f.cluster.run(kSecond);
  EXPECT_TRUE(f.completions(id).empty());  // every object waits for r6
  ASSERT_EQ(f.cluster.sender().bundle_stop(f.cluster.now(), id, Errc::canceled, "enough"),
            Errc::ok);
  EXPECT_EQ(f.cluster.sender().bundle_stop(f.cluster.now(), id), Errc::stream_closed);
  EXPECT_EQ(f.post(id, object("late", {})).error, Errc::stream_closed);
  f.cluster.run(kSecond);
  for (const auto& [number, completion] : once_each(f.completions(id), kObjects)) {
    ASSERT_EQ(peers_of(completion), all_receivers());
    for (const ReplicaResult& replica : completion.replicas) {
      EXPECT_EQ(replica.result, replica.peer == 6 ? Errc::canceled : Errc::ok);
    }
  }
  const auto ended = f.cluster.sender<event::BundleEnded>(id);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::canceled);
  EXPECT_EQ(ended[0].message, "enough");
  // The end comes last, and the bundle is gone.
  EXPECT_TRUE(std::holds_alternative<event::BundleEnded>(f.cluster.sender_events().back()));
  EXPECT_FALSE(f.cluster.sender().bundle_stats(id));
}

TEST(Bundle, FinEndsTheBundleAfterItsObjectsAndRefusesMorePosts) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  const BundleId id = f.open();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(f.post(id, object("f", pattern(70'000, 4))).error, Errc::ok);
  ASSERT_EQ(f.cluster.sender().bundle_fin(f.cluster.now(), id), Errc::ok);
  EXPECT_EQ(f.cluster.sender().bundle_fin(f.cluster.now(), id), Errc::stream_closed);
  EXPECT_EQ(f.post(id, object("late", {})).error, Errc::stream_closed);
  f.cluster.run(5 * kSecond);
  for (const auto& [number, completion] : once_each(f.completions(id), 5)) {
    EXPECT_TRUE(completion.all_ok());
  }
  const auto ended = f.cluster.sender<event::BundleEnded>(id);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].result, Errc::ok);
  EXPECT_EQ(f.cluster.sender().bundle_post(f.cluster.now(), id, object("x", {})).error,
            Errc::not_found);
}

TEST(Bundle, RemovingAndAddingDestinationsChangesWhereLaterObjectsGo) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  f.cluster.set_policy(2, Policy::hold);
  Node& sender = f.cluster.sender();
  const BundleId id = f.open();
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(f.post(id, object("a", pattern(9000, 5))).error, Errc::ok);
  f.cluster.run(kSecond);
  ASSERT_EQ(sender.bundle_remove_destination(f.cluster.now(), id, 2), Errc::ok);
  EXPECT_EQ(sender.bundle_remove_destination(f.cluster.now(), id, 2), Errc::not_found);
  const PostedBundleObject fewer = f.post(id, object("b", pattern(10, 6)));
  ASSERT_EQ(fewer.error, Errc::ok);
  EXPECT_EQ(fewer.replicas, kReceivers - 1);
  ASSERT_TRUE(f.run_until_completed(id, 4));
  const auto by_object = once_each(f.completions(id), 4);
  for (std::uint64_t number = 1; number <= 3; ++number) {
    for (const ReplicaResult& replica : by_object.at(number).replicas) {
      EXPECT_EQ(replica.result, replica.peer == 2 ? Errc::destination_removed : Errc::ok);
    }
  }
  std::vector<PeerId> without_2 = all_receivers();
  without_2.erase(without_2.begin() + 2);
  EXPECT_EQ(peers_of(by_object.at(4)), without_2);
  EXPECT_EQ(sender.bundle_destinations(id), without_2);
  // Added back: later objects reach it again.
  f.cluster.set_policy(2, Policy::read);
  ASSERT_EQ(sender.bundle_add_destination(f.cluster.now(), id, 2), Errc::ok);
  EXPECT_EQ(sender.bundle_add_destination(f.cluster.now(), id, 2), Errc::invalid_argument);
  EXPECT_EQ(sender.bundle_add_destination(f.cluster.now(), id, 77), Errc::unknown_peer);
  ASSERT_EQ(f.post(id, object("c", pattern(10, 7))).replicas, kReceivers);
  ASSERT_TRUE(f.run_until_completed(id, 5));
  EXPECT_TRUE(f.completions(id).back().all_ok());
}

TEST(Bundle, ABroadcastFollowsPeersAddedToAndRemovedFromTheNode) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  Node& sender = f.cluster.sender();
  f.cluster.set_policy(4, Policy::hold);
  const BundleId id = f.open();
  ASSERT_EQ(f.post(id, object("a", pattern(5000, 1))).error, Errc::ok);
  f.cluster.run(kSecond);
  ASSERT_EQ(sender.remove_peer(f.cluster.now(), 4), Errc::ok);
  // A new node joins the cluster and the sender learns it.
  f.cluster.add_receiver("r10", 555);
  const AddedPeer added = sender.add_peer(f.cluster.now(), "r10");
  ASSERT_EQ(added.error, Errc::ok);
  const PostedBundleObject later = f.post(id, object("b", pattern(100, 2)));
  ASSERT_EQ(later.error, Errc::ok);
  EXPECT_EQ(later.replicas, kReceivers);  // 10 - r4 + r10
  ASSERT_TRUE(f.run_until_completed(id, 2));
  const auto by_object = once_each(f.completions(id), 2);
  for (const ReplicaResult& replica : by_object.at(1).replicas) {
    EXPECT_EQ(replica.result, replica.peer == 4 ? Errc::peer_removed : Errc::ok);
  }
  const auto second = peers_of(by_object.at(2));
  EXPECT_FALSE(std::count(second.begin(), second.end(), 4));
  EXPECT_EQ(second.back(), added.peer);
  EXPECT_TRUE(by_object.at(2).all_ok());
}

TEST(Bundle, ADestinationThatRestartsMidObjectEndsItsReplicaWithPeerRestarted) {
  Fixture f;
  ASSERT_TRUE(f.cluster.run_until_connected());
  f.cluster.set_policy(1, Policy::hold);  // r1 holds the object when its process dies
  const BundleId id = f.open();
  ASSERT_EQ(f.post(id, object("a", pattern(50'000, 1))).error, Errc::ok);
  f.cluster.run(kSecond);
  EXPECT_TRUE(f.completions(id).empty());
  NodeConfig again = test_config("r1", {"s"});
  again.seed = 999;
  f.cluster.net().restart_node(2, std::move(again));
  f.cluster.net().node(2).register_object_endpoint("store");
  f.cluster.set_policy(1, Policy::read);
  ASSERT_TRUE(f.run_until_completed(id, 1));
  const auto first = f.completions(id)[0];
  for (const ReplicaResult& replica : first.replicas) {
    EXPECT_EQ(replica.result, replica.peer == 1 ? Errc::peer_restarted : Errc::ok);
  }
  // The bundle goes on with the new process.
  ASSERT_EQ(f.post(id, object("b", pattern(100, 2))).error, Errc::ok);
  ASSERT_TRUE(f.run_until_completed(id, 2));
  EXPECT_TRUE(f.completions(id).back().all_ok());
  once_each(f.completions(id), 2);
}

TEST(Bundle, APostIsAllOrNothingWhenOneDestinationIsFull) {
  Fixture f([](NodeConfig& config) { config.limits.max_objects_in_flight = 3; });
  ASSERT_TRUE(f.cluster.run_until_connected());
  f.cluster.set_policy(8, Policy::hold);
  // One stream per destination: r8's fills after three objects it does not read.
  const BundleId id = f.open(BundleConfig{.endpoint = "store", .multiplier = 1});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(f.post(id, object("a", pattern(100, 1))).error, Errc::ok);
  f.cluster.run(kSecond);
  const PostedBundleObject refused = f.post(id, object("b", pattern(100, 2)));
  EXPECT_EQ(refused.error, Errc::queue_full);
  f.cluster.run(kSecond);
  // No other destination got the refused object.
  for (std::size_t receiver = 0; receiver < kReceivers; ++receiver) {
    if (receiver != 8) {
      EXPECT_EQ(f.cluster.arrivals(receiver).size(), 3u);
    }
  }
  EXPECT_EQ(f.cluster.sender().bundle_stats(id)->objects, 3u);
  ASSERT_EQ(f.cluster.sender().bundle_stop(f.cluster.now(), id), Errc::ok);
}

TEST(Bundle, OpeningChecksItsArguments) {
  Fixture f([](NodeConfig& config) { config.max_bundles = 2; });
  Node& sender = f.cluster.sender();
  const auto open = [&](BundleConfig config) { return sender.open_bundle(0, config).error; };
  EXPECT_EQ(open({.endpoint = ""}), Errc::invalid_argument);
  EXPECT_EQ(open({.endpoint = "store", .multiplier = 0}), Errc::invalid_argument);
  EXPECT_EQ(open({.endpoint = "store", .multiplier = 33}), Errc::invalid_argument);
  EXPECT_EQ(open({.endpoint = "store", .destinations = {1}}), Errc::invalid_argument);
  EXPECT_EQ(open({.endpoint = "store", .broadcast = false, .destinations = {1, 1}}),
            Errc::invalid_argument);
  EXPECT_EQ(open({.endpoint = "store", .broadcast = false, .destinations = {10}}),
            Errc::unknown_peer);
  EXPECT_EQ(open({.endpoint = "store", .broadcast = false}), Errc::ok);  // empty multicast
  EXPECT_EQ(open({.endpoint = "store"}), Errc::ok);
  EXPECT_EQ(open({.endpoint = "store"}), Errc::queue_full);  // max_bundles
  // A multicast bundle with no destination refuses posts.
  EXPECT_EQ(sender.bundle_post(0, BundleId{1}, object("x", {})).error, Errc::unknown_peer);
  EXPECT_EQ(sender.bundle_post(0, BundleId{9}, object("x", {})).error, Errc::not_found);
}

}  // namespace
}  // namespace weft::testing
