// EventNode::set_authenticator (keys at run time): a node whose key differs from its peer's
// is refused until its key is replaced, and then connects with no restart; a key replaced
// under a live connection that it no longer verifies closes it; before start()
// the call replaces the options' authenticator; a null one is refused and changes nothing;
// from the loop thread it runs inline; a stopped node reports shutting_down.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::wait_until;

std::shared_ptr<const Authenticator> key(const char* text) {
  return std::make_shared<SharedKeyAuth>(std::string_view(text));
}
constexpr const char* kRightKey = "the cluster's key, 32 bytes long";
constexpr const char* kWrongKey = "a key nobody else has, 32 bytes!";

// A running node `name` with `auth` and no peers yet; counts its failed handshakes.
class KeyedNode {
 public:
  KeyedNode(const std::string& name, std::shared_ptr<const Authenticator> auth, bool start = true)
      : name_(name) {
    EventNodeOptions options;
    options.config = config_for(name, "");
    options.config.peers.clear();
    options.config.auth = std::move(auth);
    node_ = std::make_unique<EventNode>(std::move(options));
    node_->on_peer_change([this](const PeerChange& change) {
      if (change.kind == PeerChange::Kind::handshake_failed) ++failures_;
    });
    if (start) {
      EXPECT_EQ(node_->start(), Errc::ok);
    }
  }
  EventNode& node() { return *node_; }
  PeerAddress address() const { return {name_, "127.0.0.1", node_->port()}; }
  int failures() const { return failures_.load(); }
  bool established(const std::string& peer) {
    for (const PeerStatus& status : node_->peers()) {
      if (status.name == peer) return status.stats.state == PeerState::established;
    }
    return false;
  }

 private:
  std::string name_;
  std::atomic<int> failures_{0};
  std::unique_ptr<EventNode> node_;
};

// Each adds the other while both run.
void introduce(KeyedNode& a, KeyedNode& b) {
  ASSERT_EQ(a.node().add_peer(b.address()), Errc::ok);
  ASSERT_EQ(b.node().add_peer(a.address()), Errc::ok);
}

TEST(IoKeys, AReplacedKeyAppliesToTheNextHandshakeWithoutARestart) {
  KeyedNode a("ka", key(kRightKey));
  KeyedNode b("kb", key(kWrongKey));
  introduce(a, b);
  ASSERT_TRUE(wait_until([&] { return a.failures() + b.failures() >= 2; }))
      << "the handshakes with different keys did not fail";
  EXPECT_FALSE(a.established("kb"));
  EXPECT_EQ(b.node().set_authenticator(key(kRightKey)), Errc::ok);
  EXPECT_TRUE(wait_until([&] { return a.established("kb") && b.established("ka"); }));
  // Echo needs no handler here: an unknown handler's answer proves the connection works.
  EXPECT_EQ(a.node().request("kb", 77, Bytes{}, 2000).get().error, Errc::unknown_handler);
}

// A key replaced while connected: the connection whose peer's proof the new key does not
// verify closes at once (before, it stayed up until it dropped), the next handshakes fail,
// and the right key brings it back without a restart.
TEST(IoKeys, ANewKeyThatNoLongerVerifiesThePeerClosesItsConnectionAtOnce) {
  KeyedNode a("ra", key(kRightKey));
  KeyedNode b("rb", key(kRightKey));
  introduce(a, b);
  ASSERT_TRUE(wait_until([&] { return a.established("rb") && b.established("ra"); }));
  // (A first dial may have been refused unknown_node, before b added a.)
  const int failures_before = a.failures() + b.failures();
  EXPECT_EQ(b.node().set_authenticator(key(kWrongKey)), Errc::ok);
  EXPECT_FALSE(b.established("ra"));  // closed before set_authenticator returned
  EXPECT_TRUE(wait_until([&] { return !a.established("rb"); }));
  EXPECT_TRUE(wait_until([&] { return a.failures() + b.failures() >= failures_before + 2; }))
      << "the handshakes after the new key did not fail";
  EXPECT_FALSE(a.established("rb"));
  EXPECT_EQ(b.node().set_authenticator(key(kRightKey)), Errc::ok);
  EXPECT_TRUE(wait_until([&] { return a.established("rb") && b.established("ra"); }));
}

TEST(IoKeys, BeforeStartTheNewAuthenticatorIsTheOneStartUses) {
  KeyedNode a("sa", key(kRightKey));
  KeyedNode b("sb", key(kWrongKey), false);
  EXPECT_EQ(b.node().set_authenticator(key(kRightKey)), Errc::ok);
  ASSERT_EQ(b.node().start(), Errc::ok);
  introduce(a, b);
  EXPECT_TRUE(wait_until([&] { return a.established("sb") && b.established("sa"); }));
  EXPECT_EQ(a.failures() + b.failures(), 0);
}

TEST(IoKeys, ANullAuthenticatorIsRefusedAndChangesNothing) {
  KeyedNode unstarted("na", key(kRightKey), false);
  EXPECT_EQ(unstarted.node().set_authenticator(nullptr), Errc::invalid_argument);
  EXPECT_EQ(unstarted.node().start(), Errc::ok);  // its authenticator is still there
  KeyedNode a("nb", key(kRightKey));
  EXPECT_EQ(a.node().set_authenticator(nullptr), Errc::invalid_argument);
  introduce(unstarted, a);
  EXPECT_TRUE(wait_until([&] { return a.established("na") && unstarted.established("nb"); }));
}

TEST(IoKeys, FromTheLoopThreadItRunsInlineAndAStoppedNodeSaysShuttingDown) {
  KeyedNode a("la", key(kRightKey));
  std::promise<Errc> inline_result;
  ASSERT_EQ(a.node().run_on_loop(
                [&] { inline_result.set_value(a.node().set_authenticator(key(kRightKey))); }),
            Errc::ok);
  std::future<Errc> result = inline_result.get_future();
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(result.get(), Errc::ok);
  a.node().stop();
  EXPECT_EQ(a.node().set_authenticator(key(kRightKey)), Errc::shutting_down);
}

}  // namespace
}  // namespace weft::io
