// The checker's membership rules (docs/CHAOS.md, "leave" and "join"), on small hand-made
// runs: peer_removed (and a relay's unknown_peer) only while a membership fault removed a
// node of the call's path; a node added back must serve calls afterwards.
#include <gtest/gtest.h>

#include "checker.hpp"
#include "checker_test_support.hpp"

namespace weft::chaos {
namespace {

// op 0 (load1 to n1, started at 5 s) ends peer_removed 100 ns later.
void end_removed(FakeRun& run) {
  replace(run.driver, R"("op":0,"ev":"end")",
          FakeRun::op(0, "end").add("error", "peer_removed").add("t_ns", 5 * kSecond + 100).str());
}

TEST(ChaosMembership, PeerRemovedNeedsAMembershipFaultOfTheCallsPath) {
  FakeRun calm;
  end_removed(calm);
  {
    SCOPED_TRACE("calm");
    expect_only(calm.check(), "outcome");
  }
  FakeRun partitioned;  // a partition of the same pair explains a disconnect, not a removal
  partitioned.add_fault(7, "partition", "n1", "load1", 4 * kSecond, 6 * kSecond);
  end_removed(partitioned);
  {
    SCOPED_TRACE("partitioned");
    expect_only(partitioned.check(), "outcome");
  }
  FakeRun other_node;  // n2 left: nothing to do with a call to n1
  other_node.add_fault(7, "leave", "n2", "", 4 * kSecond, 6 * kSecond);
  end_removed(other_node);
  {
    SCOPED_TRACE("other node");
    expect_only(other_node.check(), "outcome");
  }
  FakeRun later;  // n1 left only after the call had ended
  later.add_fault(7, "leave", "n1", "", 6 * kSecond, 8 * kSecond);
  end_removed(later);
  {
    SCOPED_TRACE("later");
    expect_only(later.check(), "outcome");
  }
  FakeRun removed;  // the cluster removed n1 while the call ran, and added it back at 6 s
  removed.add_fault(7, "leave", "n1", "", 4 * kSecond, 6 * kSecond);
  end_removed(removed);
  const Verdict verdict = removed.check();
  EXPECT_TRUE(verdict.passed()) << all(verdict);
  EXPECT_EQ(verdict.counts.at("removals_explained"), 1);
  EXPECT_EQ(verdict.counts.at("rejoined_nodes_serving"), 1);  // its probe after the heal
}

TEST(ChaosMembership, ARelayMayFindItsTargetRemovedOnlyWhileAMembershipFaultRemovedIt) {
  for (const char* inner : {"peer_removed", "unknown_peer"}) {
    SCOPED_TRACE(inner);
    FakeRun paused;  // a pause of n2 explains a disconnect only
    paused.add_fault(7, "pause", "n2", "", 8 * kSecond, 10 * kSecond);
    paused.add_relay("relay to n2: " + std::string(inner), 9 * kSecond);
    expect_only(paused.check(), "outcome");
    FakeRun joined;  // n2 was removed (and a new process of it added at 10 s)
    joined.add_fault(7, "join", "n2", "", 8 * kSecond, 10 * kSecond);
    joined.add_relay("relay to n2: " + std::string(inner), 9 * kSecond);
    const Verdict verdict = joined.check();
    EXPECT_TRUE(verdict.passed()) << all(verdict);
    EXPECT_EQ(verdict.counts.at("removals_explained"), 1);
  }
}

TEST(ChaosMembership, ANodeAddedBackThatServesNothingAfterwardsIsReported) {
  FakeRun run;  // n1 left from 9 s to 10 s; its only success is op 0 at 5 s, no probe after
  run.add_fault(7, "leave", "n1", "", 9 * kSecond, 10 * kSecond);
  run.driver.erase(std::remove_if(run.driver.begin(), run.driver.end(),
                                  [](const std::string& line) {
                                    return line.find(R"("ev":"probe")") != std::string::npos &&
                                           line.find(R"("target":"n1")") != std::string::npos;
                                  }),
                   run.driver.end());
  expect_only(run.check(), "membership");
}

}  // namespace
}  // namespace weft::chaos
