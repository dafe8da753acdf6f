// Real processes draw their own seed (DESIGN.md rule 10): a client that starts again under
// the same name, as a restarted process would, is a new incarnation. Each start is admitted
// at its first dial (no stale_hello refusal first) and the serving side reports the restart.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;
using testing::wait_until;

// What the serving node told its application about its peer.
struct PeerLog {
  std::mutex mutex;
  std::vector<PeerChange> changes;
  std::size_t count(PeerChange::Kind kind) {
    std::lock_guard lock(mutex);
    return static_cast<std::size_t>(std::count_if(
        changes.begin(), changes.end(), [&](const PeerChange& c) { return c.kind == kind; }));
  }
  std::vector<PeerChange> of(PeerChange::Kind kind) {
    std::lock_guard lock(mutex);
    std::vector<PeerChange> found;
    for (const PeerChange& change : changes) {
      if (change.kind == kind) found.push_back(change);
    }
    return found;
  }
};

TEST(IoContracts, AClientRestartedTenTimesIsAdmittedAtItsFirstDialAndSeenAsRestarted) {
  const std::string client = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string server = client == "alpha" ? "bravo" : "alpha";
  PeerLog log;  // declared before the node: its callbacks write here until it stops
  EventNodeOptions serving;
  serving.config = config_for(server, client);
  EventNode server_node(std::move(serving));
  server_node.on_peer_change([&](const PeerChange& change) {
    std::lock_guard lock(log.mutex);
    log.changes.push_back(change);
  });
  ASSERT_EQ(server_node.start(), Errc::ok);

  constexpr std::size_t kStarts = 10;
  for (std::size_t start = 1; start <= kStarts; ++start) {
    SCOPED_TRACE("start " + std::to_string(start));
    EventNodeOptions options;
    options.config = config_for(client, server);  // no seed: drawn from the OS at start()
    options.addresses.push_back({server, "127.0.0.1", server_node.port()});
    EventNode client_node(std::move(options));
    ASSERT_EQ(client_node.start(), Errc::ok);
    ASSERT_TRUE(wait_until([&] { return log.count(PeerChange::Kind::up) == start; }));
    client_node.stop();
    ASSERT_TRUE(wait_until([&] { return log.count(PeerChange::Kind::down) == start; }));
  }
  // Never refused: each process's first hello was adopted.
  EXPECT_EQ(log.count(PeerChange::Kind::handshake_failed), 0u);
  const std::vector<PeerChange> ups = log.of(PeerChange::Kind::up);
  ASSERT_EQ(ups.size(), kStarts);
  std::set<std::uint64_t> incarnations;
  for (std::size_t i = 0; i < ups.size(); ++i) {
    EXPECT_EQ(ups[i].peer_restarted, i > 0) << "up " << i << ": " << ups[i].detail;
    EXPECT_EQ(ups[i].detail.find("restarted") != std::string::npos, i > 0) << ups[i].detail;
    incarnations.insert(ups[i].incarnation);
  }
  EXPECT_EQ(incarnations.size(), kStarts);  // every process its own incarnation
}

}  // namespace
}  // namespace weft::io
