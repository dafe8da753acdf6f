// Scripted scenarios in the stepped simulator, beside the model-based tests of
// sim_stateful_test.cpp (same suite): the same seed and commands give the same trace, a
// settled drain stops early with the same verdict, a partitioned echo ends by its deadline,
// bytes written during a partition go on after heal(), an invariant broken while draining
// is the drain's verdict, and the oracle catches a writer stopped mid-frame, and a call or
// an object ended disconnected on a live connection, but not a replica that ended so while
// its destination was down.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "weft/invariant.hpp"
#include "weft/sim/stepped.hpp"

namespace weft::sim {
namespace {

using Handler = SteppedSimulation::Handler;

constexpr TimeNs kSecond = 1'000'000'000;

SimOptions three_nodes(std::uint64_t seed, Profile profile) {
  SimOptions options;
  options.seed = seed;
  options.nodes = 3;
  options.profile = profile;
  return options;
}

// A call, a stream, a partition and a crash in a chaotic three-node cluster, then the
// drain (stopping `settled_ns` after the cluster settles; kNever: never early).
SimResult play_faulty_scenario(TimeNs settled_ns) {
  SteppedSimulation sim(three_nodes(11, Profile::chaos));
  sim.advance(2 * kSecond);
  const auto call = sim.request(0, 1, Handler::echo, 5000, 3000);
  const auto stream = sim.open_stream(1, 2, 3, 1, 0);
  sim.partition({true, false, false}, false);
  sim.advance(500'000'000);
  if (stream) sim.stream_write(*stream);
  sim.heal();
  sim.crash(2);
  sim.advance(kSecond);
  sim.restart(2);
  EXPECT_TRUE(call.has_value());
  return sim.heal_and_drain(60 * kSecond, settled_ns);
}

// The stepped simulator is deterministic too: the same seed and commands, the same result.
TEST(SimStateful, SameCommandsSameTrace) {
  const SimResult first = play_faulty_scenario(kNever);
  const SimResult again = play_faulty_scenario(kNever);
  EXPECT_EQ(first.kind, SimResult::Kind::pass) << first.message;
  EXPECT_EQ(first.trace_hash, again.trace_hash);
  EXPECT_EQ(first.events, again.events);
}

// Stopping the drain once the cluster has settled (as the fuzz targets do) saves simulated
// time and changes no verdict: a cluster that settles passes sooner, one that cannot (a
// call whose deadline lies past the drain) still fails the final check.
TEST(SimStateful, SettledDrainStopsEarlyWithTheSameVerdict) {
  const SimResult full = play_faulty_scenario(kNever);
  const SimResult early = play_faulty_scenario(25 * kSecond);
  EXPECT_EQ(full.kind, SimResult::Kind::pass) << full.message;
  EXPECT_EQ(early.kind, SimResult::Kind::pass) << early.message;
  EXPECT_LT(early.sim_ns, full.sim_ns);

  SteppedSimulation stuck(three_nodes(5, Profile::clean));
  stuck.advance(2 * kSecond);
  ASSERT_TRUE(stuck.request(0, 1, Handler::silent, 100, 600'000).has_value());
  const SimResult never = stuck.heal_and_drain(60 * kSecond, 25 * kSecond);
  EXPECT_EQ(never.kind, SimResult::Kind::liveness) << never.message;
  EXPECT_GE(never.sim_ns, 62 * kSecond);  // it ran the whole minute
}

// A partition holds an echo's bytes: the call ends by its deadline, not with an answer,
// and after healing the cluster drains.
TEST(SimStateful, PartitionedEchoEndsWithinItsDeadline) {
  SteppedSimulation sim(three_nodes(3, Profile::clean));
  sim.advance(2 * kSecond);
  const auto call = sim.request(0, 1, Handler::echo, 100, 2000);
  ASSERT_TRUE(call.has_value());
  sim.partition({true, false, false}, false);
  sim.advance(2001 * 1'000'000);
  const SteppedOutcome outcome = sim.request_outcome(*call);
  EXPECT_TRUE(outcome.ended);
  EXPECT_EQ(outcome.result, Errc::deadline_exceeded);
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::pass) << result.message;
}

// Bytes written during a partition wait for heal() and then go on, in order: a call made
// while cut off is answered once the cut heals, on the same connection (a reconnect would
// fail it with disconnected). They used to be scheduled for a time that never came.
TEST(SimStateful, BytesWrittenDuringAPartitionArriveAfterHeal) {
  SteppedSimulation sim(three_nodes(3, Profile::clean));
  sim.advance(2 * kSecond);
  sim.partition({true, false, false}, false);
  const auto call = sim.request(0, 1, Handler::echo, 100, 5000);
  ASSERT_TRUE(call.has_value());
  sim.advance(500'000'000);
  EXPECT_FALSE(sim.request_outcome(*call).ended);
  sim.heal();
  sim.advance(kSecond);
  const SteppedOutcome outcome = sim.request_outcome(*call);
  EXPECT_TRUE(outcome.ended);
  EXPECT_EQ(outcome.result, Errc::ok);
  // Later writes in both directions are not stuck behind them either.
  const auto after = sim.request(1, 0, Handler::echo, 100, 5000);
  ASSERT_TRUE(after.has_value());
  sim.advance(kSecond);
  EXPECT_TRUE(sim.request_outcome(*after).ended);
  EXPECT_EQ(sim.request_outcome(*after).result, Errc::ok);
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::pass) << result.message;
}

// An invariant a node breaks while the drain runs is the drain's verdict. Here the
// stream_budget_leak canary breaks one when the first stream ends, which is in the drain:
// the stream's opener writes nothing before it.
TEST(SimStateful, AnInvariantBrokenWhileDrainingIsTheVerdict) {
  const std::vector<std::string> canaries = canary_names();
  if (std::find(canaries.begin(), canaries.end(), "stream_budget_leak") == canaries.end()) {
    GTEST_SKIP() << "needs WEFT_CANARIES and a build with assertions (invariant checks on)";
  }
  SimOptions options = three_nodes(1, Profile::clean);
  options.canary = "stream_budget_leak";
  SteppedSimulation sim(options);
  sim.advance(2 * kSecond);
  ASSERT_TRUE(sim.open_stream(0, 1, 2, 2, 0).has_value());
  sim.advance(kSecond);
  ASSERT_FALSE(sim.failed()) << sim.failure();
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::assertion) << result.message;
  EXPECT_NE(result.message.find("invariant"), std::string::npos) << result.message;
}

bool has_canary(const std::string& name) {
  const std::vector<std::string> canaries = canary_names();
  return std::find(canaries.begin(), canaries.end(), name) != canaries.end();
}

// A writer that stops in the middle of a frame leaves its peer with part of one: keepalive
// drops the link ("no whole frame from the peer"), and on a clean network that is a stopped
// writer, which the oracle must report as it reports a silent peer.
TEST(SimStateful, AWriterStoppedMidFrameIsALivenessFailure) {
  if (!has_canary("writer_stalls_mid_frame")) GTEST_SKIP() << "built without WEFT_CANARIES";
  SimOptions options = three_nodes(1, Profile::clean);
  options.canary = "writer_stalls_mid_frame";
  SteppedSimulation sim(options);
  sim.advance(2 * kSecond);
  ASSERT_TRUE(sim.request(0, 1, Handler::echo, 100'000, 60'000).has_value());
  sim.advance(30 * kSecond);
  ASSERT_TRUE(sim.failed());
  EXPECT_NE(sim.failure().find("no whole frame from the peer"), std::string::npos) << sim.failure();
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::liveness) << result.message;
}

// A call that ends with disconnected while its connection stays up, on a network without a
// fault, is a bug: disconnected needs the call's link closed or the pair disturbed.
TEST(SimStateful, DisconnectedOnALiveConnectionIsASafetyFailure) {
  if (!has_canary("disconnected_on_live_connection")) GTEST_SKIP() << "built without WEFT_CANARIES";
  SimOptions options = three_nodes(1, Profile::clean);
  options.canary = "disconnected_on_live_connection";
  SteppedSimulation sim(options);
  sim.advance(2 * kSecond);
  for (int i = 0; i < 8 && !sim.failed(); ++i) {
    ASSERT_TRUE(sim.request(0, 1, Handler::echo, 100, 5000).has_value());
    sim.advance(100'000'000);
  }
  ASSERT_TRUE(sim.failed());
  EXPECT_NE(sim.failure().find("disconnected"), std::string::npos) << sim.failure();
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::safety) << result.message;
}

// Likewise an object the receiver took that completes disconnected while the connection
// stays up and no fault touches the pair: its sender gives up only after the connection
// was away (or an open unanswered) for object_resume_timeout_ms.
TEST(SimStateful, AnObjectDisconnectedOnALiveConnectionIsASafetyFailure) {
  if (!has_canary("object_disconnected_on_live_connection"))
    GTEST_SKIP() << "built without WEFT_CANARIES";
  SimOptions options = three_nodes(1, Profile::clean);
  options.canary = "object_disconnected_on_live_connection";
  SteppedSimulation sim(options);
  sim.advance(2 * kSecond);
  const auto stream = sim.open_object_stream(0, 1);
  ASSERT_TRUE(stream.has_value());
  for (int i = 0; i < 4 && !sim.failed(); ++i) {
    ASSERT_TRUE(sim.object_post(*stream, SteppedSimulation::ObjectKind::in_memory, 1000));
    sim.advance(100'000'000);
    ASSERT_TRUE(sim.object_read(*stream, 1000));
    sim.advance(100'000'000);
  }
  ASSERT_TRUE(sim.failed());
  EXPECT_NE(sim.failure().find("o3 completed disconnected"), std::string::npos) << sim.failure();
  const SimResult result = sim.heal_and_drain(60 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::safety) << result.message;
}

// A bundle object completes when its last replica ends. A replica that failed while its
// destination was down (crashed past object_resume_timeout_ms) is judged then, when the
// destination may be back: the oracle counts that reconnect. Before, it took the replica
// for one lost on a live connection (the bundle property found it, shrunk to this).
TEST(SimStateful, AReplicaLostWhileItsDestinationWasDownIsJudgedAfterItsReturn) {
  SteppedSimulation sim(three_nodes(0, Profile::lossy));
  sim.advance(2 * kSecond);
  sim.reset(2, 1);
  sim.crash(2);
  const auto bundle = sim.open_bundle(1, true, {}, 1, false);
  ASSERT_TRUE(bundle.has_value());
  using Kind = SteppedSimulation::ObjectKind;
  ASSERT_TRUE(sim.bundle_post(*bundle, Kind::supplied_unsized, 70'000, 0));
  sim.advance(66 * kSecond);
  ASSERT_TRUE(sim.bundle_post(*bundle, Kind::in_memory, 1000, 0));
  const SimResult result = sim.heal_and_drain(90 * kSecond);
  EXPECT_EQ(result.kind, SimResult::Kind::pass) << result.message;
}

// Without the canary the same objects all complete ok.
TEST(SimStateful, ObjectsOnALiveConnectionCompleteOk) {
  SteppedSimulation sim(three_nodes(1, Profile::clean));
  sim.advance(2 * kSecond);
  const auto stream = sim.open_object_stream(0, 1);
  ASSERT_TRUE(stream.has_value());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(sim.object_post(*stream, SteppedSimulation::ObjectKind::in_memory, 1000));
    sim.advance(100'000'000);
    ASSERT_TRUE(sim.object_read(*stream, 1000));
    sim.advance(100'000'000);
  }
  ASSERT_FALSE(sim.failed()) << sim.failure();
  EXPECT_EQ(sim.object_outcome(*stream).completed_ok, 4u);
}

}  // namespace
}  // namespace weft::sim
