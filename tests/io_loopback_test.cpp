// The libevent adapter over real loopback sockets: the in-memory scenarios again, through
// EventNode, plus a node going away mid-traffic and calls from many threads.
//
// These run next to other tests, under ASan and TSan too: every wait polls against a
// deadline (wait_until) and fails when it passes, nothing sleeps a fixed time before an
// assert, and wall-clock bounds are only the ones a contract implies (lower bounds) plus
// generous upper bounds that only a broken mechanism can exceed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::LoopFreeze;
using testing::reply_within;
using testing::wait_until;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kHold = 2;  // keeps the responder; answers only if told to
constexpr std::uint16_t kError = 3;
constexpr std::uint16_t kStreamEcho = 4;
constexpr std::uint16_t kKeep = 5;  // keeps the payload (moved out), answers "kept"

std::string text(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

// Requests held by kHold, shared with the test thread.
struct Held {
  std::mutex mutex;
  std::vector<Responder> responders;
  std::vector<std::vector<std::uint8_t>> payloads;  // kept by kKeep
  std::size_t count() {
    std::lock_guard lock(mutex);
    return responders.size();
  }
};

// Two EventNodes on loopback. The accepting side starts first; the dialing side learns its
// port. Either can be stopped and started again on the same port.
class Pair {
 public:
  Pair() {
    dialer_name_ = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    acceptor_name_ = dialer_name_ == "alpha" ? "bravo" : "alpha";
    start_acceptor();
    start_dialer();
  }

  void start_acceptor() {
    acceptor_ = make(acceptor_name_, dialer_name_, acceptor_port_, std::nullopt);
    acceptor_port_ = acceptor_->port();
  }
  void start_dialer() { dialer_ = make(dialer_name_, acceptor_name_, 0, acceptor_port_); }
  void stop_acceptor() { acceptor_.reset(); }

  EventNode& dialer() { return *dialer_; }
  EventNode& acceptor() { return *acceptor_; }
  const std::string& acceptor_name() const { return acceptor_name_; }
  const std::string& dialer_name() const { return dialer_name_; }
  Held& held() { return held_; }

  // Waits until `node` reports its peer established.
  static bool wait_connected(EventNode& node, std::chrono::milliseconds limit = 5s) {
    return wait_until(
        [&] {
          const auto peers = node.peers();
          return !peers.empty() && peers[0].stats.state == PeerState::established;
        },
        limit);
  }

 private:
  std::unique_ptr<EventNode> make(const std::string& name, const std::string& peer,
                                  std::uint16_t listen_port,
                                  std::optional<std::uint16_t> peer_port) {
    EventNodeOptions options;
    options.config = config_for(name, peer);
    options.listen_port = listen_port;
    if (peer_port) options.addresses.push_back({peer, "127.0.0.1", *peer_port});
    auto node = std::make_unique<EventNode>(std::move(options));
    node->handle(kEcho, "",
                 [](IncomingRequest&& request) { request.responder.respond(request.payload); });
    node->handle(kError, "", [](IncomingRequest&& request) {
      request.responder.fail(Errc::remote_error, "disk full");
    });
    node->handle(kHold, "", [this](IncomingRequest&& request) {
      std::lock_guard lock(held_.mutex);
      held_.responders.push_back(request.responder);
    });
    node->handle(kKeep, "", [this](IncomingRequest&& request) {
      {
        std::lock_guard lock(held_.mutex);
        held_.payloads.push_back(std::move(request.payload));
      }
      request.responder.respond(as_bytes("kept"));
    });
    node->handle_stream(kStreamEcho, "", StreamWindow{8, 1 << 20},
                        [](const IncomingStream&, StreamSession) {
                          StreamCallbacks callbacks;
                          callbacks.on_message = [](StreamSession& session, Bytes message) {
                            session.write(message);
                          };
                          callbacks.on_end = [](StreamSession&, Errc, std::string_view) {};
                          return callbacks;
                        });
    EXPECT_EQ(node->start(), Errc::ok);
    return node;
  }

  std::string dialer_name_;
  std::string acceptor_name_;
  std::uint16_t acceptor_port_ = 0;
  Held held_;
  std::unique_ptr<EventNode> acceptor_;
  std::unique_ptr<EventNode> dialer_;
};

// The adapter hands a payload back to the core once its handler or reply callback returned
// (node.hpp recycle_payload), unless the application took it: what a handler keeps stays its
// own while later payloads, longer and shorter, come through recycled memory exact.
TEST(IoLoopback, PayloadsKeptStayTheirsWhileOthersReuseMemory) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < 40; ++i) {
    const std::string payload(1 + (i * 53) % 400, static_cast<char>('a' + i % 26));
    if (i % 3 == 0) {
      kept.push_back(payload);
      const Reply reply =
          reply_within(pair.dialer().request(pair.acceptor_name(), kKeep, as_bytes(payload)));
      ASSERT_EQ(reply.error, Errc::ok);
      EXPECT_EQ(text(reply.payload), "kept");
      continue;
    }
    // A reply callback that only looks: its payload goes back to the dialer's core.
    std::promise<std::string> seen;
    ASSERT_EQ(
        pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes(payload), 5000,
                              [&seen](Reply&& reply) { seen.set_value(text(reply.payload)); }),
        Errc::ok);
    std::future<std::string> echoed = seen.get_future();
    ASSERT_EQ(echoed.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(echoed.get(), payload);
  }
  std::lock_guard lock(pair.held().mutex);
  ASSERT_EQ(pair.held().payloads.size(), kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    EXPECT_EQ(text(pair.held().payloads[i]), kept[i]);
}

TEST(IoLoopback, EchoRemoteErrorUnknownHandlerAndOneMebibyte) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  Reply echo = reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("hello")));
  EXPECT_EQ(echo.error, Errc::ok);
  EXPECT_EQ(text(echo.payload), "hello");
  // The other direction on the same connection.
  Reply back = reply_within(pair.acceptor().request(pair.dialer_name(), kEcho, as_bytes("back")));
  EXPECT_EQ(text(back.payload), "back");
  Reply error = reply_within(pair.dialer().request(pair.acceptor_name(), kError, as_bytes("x")));
  EXPECT_EQ(error.error, Errc::remote_error);
  EXPECT_EQ(text(error.payload), "disk full");
  Reply unknown = reply_within(pair.dialer().request(pair.acceptor_name(), 99, as_bytes("x")));
  EXPECT_EQ(unknown.error, Errc::unknown_handler);
  std::string big(1 << 20, 'b');
  for (std::size_t i = 0; i < big.size(); i += 4093)
    big[i] = static_cast<char>(i);
  Reply large =
      reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes(big), 10'000), 15s);
  ASSERT_EQ(large.error, Errc::ok);
  EXPECT_TRUE(text(large.payload) == big);
  Reply nobody = reply_within(pair.dialer().request("nobody", kEcho, as_bytes("x")));
  EXPECT_EQ(nobody.error, Errc::unknown_peer);
}

TEST(IoLoopback, DeadlineAndCancelReachTheHandler) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  std::promise<Reply> canceled;
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  const auto start = std::chrono::steady_clock::now();
  Reply late =
      reply_within(pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("slow"), 100));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(late.error, Errc::deadline_exceeded);
  EXPECT_GE(waited, 100ms);  // never before the deadline
  EXPECT_LT(waited, 5s);     // generous: only a deadline that never fires gets here
  // Cancel, with a handle: the caller's callback says canceled, the handler sees it.
  CallHandle handle;
  ASSERT_EQ(pair.dialer().request(
                pair.acceptor_name(), kHold, as_bytes("work"), 0,
                [&canceled](Reply&& reply) { canceled.set_value(std::move(reply)); }, {}, &handle),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pair.held().count() == 2; }));
  ASSERT_EQ(handle.cancel(), Errc::ok);
  EXPECT_EQ(reply_within(canceled.get_future()).error, Errc::canceled);
  Responder held;
  {
    std::lock_guard lock(pair.held().mutex);
    held = pair.held().responders[1];
  }
  EXPECT_TRUE(wait_until([&] { return held.canceled(); }));
  EXPECT_FALSE(held.respond(as_bytes("too late")));
}

// The loop's timer only moves earlier (a busy connection's deadlines move later on every
// turn). A short deadline behind a long one still fires on time; and when the deadline the
// timer was set for is gone, the timer fires early, finds nothing due and is set again, so
// a later deadline fires on time too.
TEST(IoLoopback, DeadlinesFireOnTimeBeforeAndAfterTheOneTheTimerWasSetFor) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  const auto waited_for = [&](std::uint16_t handler, std::int64_t timeout_ms) {
    const auto start = std::chrono::steady_clock::now();
    const Reply reply = reply_within(
        pair.dialer().request(pair.acceptor_name(), handler, as_bytes("x"), timeout_ms), 10s);
    return std::make_pair(reply.error, std::chrono::steady_clock::now() - start);
  };
  // Held for 20 s: the timer is set for it.
  std::future<Reply> long_call =
      pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("long"), 20'000);
  const auto [short_result, short_waited] = waited_for(kHold, 150);
  EXPECT_EQ(short_result, Errc::deadline_exceeded);
  EXPECT_GE(short_waited, 150ms);  // never before the deadline
  EXPECT_LT(short_waited, 5s);     // generous: not with the 20 s one
  // Answered at once: its 300 ms deadline is gone, the timer stays set for it.
  EXPECT_EQ(waited_for(kEcho, 300).first, Errc::ok);
  const auto [later_result, later_waited] = waited_for(kHold, 900);
  EXPECT_EQ(later_result, Errc::deadline_exceeded);
  EXPECT_GE(later_waited, 900ms);
  EXPECT_LT(later_waited, 6s);
}

TEST(IoLoopback, NodeGoingAwayFailsInFlightOnceThenReconnects) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  std::atomic<int> replies{0};
  std::atomic<int> disconnected{0};
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  for (int i = 0; i < 20; ++i) {
    pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("pending"), 0, [&](Reply&& reply) {
      ++replies;
      if (reply.error == Errc::disconnected) ++disconnected;
    });
  }
  ASSERT_TRUE(wait_until([&] { return pair.held().count() == 20; }));
  pair.stop_acceptor();  // its sockets close in the middle of the traffic
  ASSERT_TRUE(wait_until([&] { return replies == 20; }));
  EXPECT_EQ(disconnected.load(), 20);
  Reply refused = reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x")));
  EXPECT_EQ(refused.error, Errc::disconnected);
  pair.start_acceptor();  // back, on the same port
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  Reply again = reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("again")));
  EXPECT_EQ(again.error, Errc::ok);
  EXPECT_GE(pair.dialer().peers()[0].stats.reconnects, 1u);
  // Exactly once each: once the dialer's loop has stopped, no late second reply can come.
  pair.dialer().stop();
  EXPECT_EQ(replies.load(), 20);
  EXPECT_EQ(disconnected.load(), 20);
}

TEST(IoLoopback, StreamEchoesThroughTheAdapter) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  std::mutex mutex;
  std::vector<std::string> echoes;
  std::promise<Errc> ended;
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  StreamCallbacks callbacks;
  callbacks.on_message = [&](StreamSession&, Bytes message) {
    std::lock_guard lock(mutex);
    echoes.emplace_back(as_chars(message));
  };
  callbacks.on_end = [&](StreamSession&, Errc result, std::string_view) {
    ended.set_value(result);
  };
  StreamSession session = pair.dialer().open_stream(pair.acceptor_name(), kStreamEcho, {}, nullptr,
                                                    true, StreamWindow{4, 1 << 20}, 0, callbacks);
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(session.write(as_bytes("m" + std::to_string(i))), Errc::ok);
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return echoes.size() == 100;
  }));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(echoes.size(), 100u);
    for (int i = 0; i < 100; ++i)
      EXPECT_EQ(echoes[i], "m" + std::to_string(i));
  }
  ASSERT_EQ(session.cancel(), Errc::ok);
  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), Errc::canceled);
  EXPECT_TRUE(session.ended());
}

TEST(IoLoopback, CallsFromEightThreadsAtOnce) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 500;
  std::atomic<int> ok{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // One deadline for all of a thread's replies: generous, for TSan on a busy machine.
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      std::vector<std::future<Reply>> futures;
      for (int i = 0; i < kCallsPerThread; ++i) {
        const std::string payload = std::to_string(t) + ":" + std::to_string(i);
        // Half the threads call one way, half the other, over the same connection.
        EventNode& from = t % 2 == 0 ? pair.dialer() : pair.acceptor();
        const std::string& to = t % 2 == 0 ? pair.acceptor_name() : pair.dialer_name();
        futures.push_back(from.request(to, kEcho, as_bytes(payload)));
      }
      for (int i = 0; i < kCallsPerThread; ++i) {
        std::future<Reply>& future = futures[static_cast<std::size_t>(i)];
        if (future.wait_until(deadline) != std::future_status::ready) {
          ++wrong;  // no reply in time
          continue;
        }
        Reply reply = future.get();
        const bool right = reply.error == Errc::ok &&
                           text(reply.payload) == std::to_string(t) + ":" + std::to_string(i);
        (right ? ok : wrong)++;
      }
    });
  }
  for (std::thread& thread : threads)
    thread.join();
  EXPECT_EQ(ok.load(), kThreads * kCallsPerThread);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(IoLoopback, WrongKeyIsRefusedAndBothSidesSeeWhy) {
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  std::mutex mutex;
  std::vector<std::string> seen;
  auto record = [&](const std::string& who) {
    return [&, who](const PeerChange& change) {
      if (change.kind != PeerChange::Kind::handshake_failed) return;
      std::lock_guard lock(mutex);
      seen.push_back(who + ": " + change.detail);
    };
  };
  EventNodeOptions accepting;
  accepting.config = config_for(acceptor, dialer);
  EventNode accept_node(accepting);
  accept_node.on_peer_change(record("acceptor"));
  ASSERT_EQ(accept_node.start(), Errc::ok);
  EventNodeOptions dialing;
  dialing.config = config_for(dialer, acceptor);
  dialing.config.auth = std::make_shared<SharedKeyAuth>("wrong-cluster-key");
  dialing.addresses.push_back({acceptor, "127.0.0.1", accept_node.port()});
  EventNode dial_node(dialing);
  dial_node.on_peer_change(record("dialer"));
  ASSERT_EQ(dial_node.start(), Errc::ok);
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    const bool acceptor_saw = std::any_of(seen.begin(), seen.end(), [](const std::string& s) {
      return s.starts_with("acceptor: auth_failed");
    });
    const bool dialer_saw = std::any_of(seen.begin(), seen.end(), [](const std::string& s) {
      return s.starts_with("dialer: auth_failed");
    });
    return acceptor_saw && dialer_saw;
  }));
  EXPECT_EQ(reply_within(dial_node.request(acceptor, kEcho, as_bytes("x"))).error,
            Errc::disconnected);
}

// Starts an acceptor and a dialer whose configs `adjust` may break, waits (at most 5 s)
// until both sides' peer-change callbacks reported a handshake failure starting with
// `expected`, and returns every failure each side reported by then.
std::pair<std::vector<std::string>, std::vector<std::string>> handshake_failures(
    const std::function<void(NodeConfig&, bool dialer)>& adjust, const std::string& expected) {
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  std::mutex mutex;
  std::vector<std::string> seen[2];
  EventNodeOptions accepting;
  accepting.config = config_for(acceptor, dialer);
  adjust(accepting.config, false);
  EventNode accept_node(accepting);
  accept_node.on_peer_change([&](const PeerChange& change) {
    std::lock_guard lock(mutex);
    if (change.kind == PeerChange::Kind::handshake_failed) seen[0].push_back(change.detail);
  });
  EXPECT_EQ(accept_node.start(), Errc::ok);
  EventNodeOptions dialing;
  dialing.config = config_for(dialer, acceptor);
  adjust(dialing.config, true);
  dialing.addresses.push_back({acceptor, "127.0.0.1", accept_node.port()});
  EventNode dial_node(dialing);
  dial_node.on_peer_change([&](const PeerChange& change) {
    std::lock_guard lock(mutex);
    if (change.kind == PeerChange::Kind::handshake_failed) seen[1].push_back(change.detail);
  });
  EXPECT_EQ(dial_node.start(), Errc::ok);
  auto saw = [&](const std::vector<std::string>& lines) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& line) { return line.starts_with(expected); });
  };
  // Not asserted here: the caller's checks name which side missed it.
  wait_until([&] {
    std::lock_guard lock(mutex);
    return saw(seen[0]) && saw(seen[1]);
  });
  dial_node.stop();
  accept_node.stop();
  return {seen[0], seen[1]};
}

bool any_starts_with(const std::vector<std::string>& lines, const std::string& prefix) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.starts_with(prefix); });
}

TEST(IoLoopback, UnknownNodeAndVersionMismatchAreRejectedOnBothSides) {
  const auto [unknown_acceptor, unknown_dialer] = handshake_failures(
      [](NodeConfig& config, bool dialer) {
        if (!dialer) config.peers = {"someone-else"};
      },
      "unknown_node");
  EXPECT_TRUE(any_starts_with(unknown_acceptor, "unknown_node"));
  EXPECT_TRUE(any_starts_with(unknown_dialer, "unknown_node"));
  const auto [version_acceptor, version_dialer] = handshake_failures(
      [](NodeConfig& config, bool dialer) {
        if (dialer) config.version_min = config.version_max = 4;  // the acceptor: [3, 3]
      },
      "version_mismatch");
  EXPECT_TRUE(any_starts_with(version_acceptor, "version_mismatch"));
  EXPECT_TRUE(any_starts_with(version_dialer, "version_mismatch"));
}

TEST(IoLoopback, PeerWhoseLoopStopsIsDeclaredDeadAfterTwoPingIntervalsOfSilence) {
  // The contract (ConnectionTimeouts, PROTOCOL.md "ping"): a peer from which nothing at all
  // has arrived for dead_after_pings (2) ping intervals is dead. The core checks
  // `now - last_received >= 2 intervals` when its timer fires, and the adapter rounds the
  // timer up, so the down event never comes before 2 intervals after the last byte
  // arrived. That is the lower bound checked here, against a lower bound of the last
  // arrival measured by polling the dialer's bytes_received (the bytes that raised it came
  // after the previous poll began). Wall time since the freeze is not a valid lower bound:
  // the last bytes may have arrived up to an interval before it. The upper bound is loose
  // on purpose (2 intervals + 3 s): under ASan/TSan next to parallel tests the loop can be
  // late by hundreds of milliseconds, and only a detection that does not work at all
  // should fail it.
  constexpr auto kPingInterval = 100ms;
  constexpr auto kSilenceLimit = 2 * kPingInterval;
  constexpr auto kSlack = 3s;
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  auto fast_pings = [&](NodeConfig config) {
    config.timeouts.ping_interval_ms = kPingInterval.count();
    config.timeouts.dead_after_pings = 2;
    return config;
  };
  using Clock = std::chrono::steady_clock;
  EventNodeOptions accepting;
  accepting.config = fast_pings(config_for(acceptor, dialer));
  EventNode accept_node(accepting);
  ASSERT_EQ(accept_node.start(), Errc::ok);
  EventNodeOptions dialing;
  dialing.config = fast_pings(config_for(dialer, acceptor));
  dialing.addresses.push_back({acceptor, "127.0.0.1", accept_node.port()});
  std::atomic<bool> down{false};
  std::atomic<Clock::rep> down_at{0};  // steady_clock ticks of the first down event
  EventNode dial_node(dialing);
  dial_node.on_peer_change([&](const PeerChange& change) {
    if (change.kind == PeerChange::Kind::down && !down.load()) {
      down_at = Clock::now().time_since_epoch().count();
      down = true;
    }
  });
  ASSERT_EQ(dial_node.start(), Errc::ok);
  ASSERT_TRUE(Pair::wait_connected(dial_node));
  const std::uint64_t generation = dial_node.peers()[0].stats.generation;

  // One poll of the dialer's connection: the latest time before which its last byte
  // cannot have arrived.
  std::optional<std::uint64_t> last_bytes;
  Clock::time_point previous_poll{};
  std::optional<Clock::time_point> silence_not_before;
  auto poll = [&] {
    const Clock::time_point began = Clock::now();
    const auto peers = dial_node.peers();
    if (peers.empty() || peers[0].stats.state != PeerState::established ||
        peers[0].stats.generation != generation) {
      return;  // down (or reconnected): bytes of another connection do not count
    }
    const std::uint64_t bytes = peers[0].stats.bytes_received;
    if (last_bytes && bytes != *last_bytes) silence_not_before = previous_poll;
    last_bytes = bytes;
    previous_poll = began;
  };
  // Pings flow both ways every interval: see bytes arrive once before the freeze.
  ASSERT_TRUE(wait_until([&] {
    poll();
    return silence_not_before.has_value();
  }));
  LoopFreeze freeze(accept_node);
  ASSERT_EQ(freeze.posted(), Errc::ok);
  ASSERT_TRUE(freeze.wait_held());
  const Clock::time_point frozen_at = Clock::now();
  ASSERT_TRUE(wait_until(
      [&] {
        poll();
        return down.load();
      },
      kSilenceLimit + kSlack + 2s));
  const Clock::time_point detected{Clock::duration(down_at.load())};
  EXPECT_GE(detected - *silence_not_before, kSilenceLimit)
      << "declared dead before two ping intervals of silence";
  EXPECT_LE(detected - frozen_at, kSilenceLimit + kSlack);
}

TEST(IoLoopback, StopFailsPendingCallsOnceWithDisconnectedAndRefusesNewOnes) {
  constexpr std::size_t kCalls = 10;
  // Declared before the nodes: callbacks that still run when they stop use them.
  std::atomic<int> runs[kCalls] = {};
  std::atomic<Errc> errors[kCalls] = {};
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  for (std::size_t i = 0; i < kCalls; ++i) {
    ASSERT_EQ(pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("x"), 0,
                                    [&runs, &errors, i](Reply&& reply) {
                                      if (runs[i].fetch_add(1) == 0) errors[i] = reply.error;
                                    }),
              Errc::ok);
  }
  ASSERT_TRUE(wait_until([&] { return pair.held().count() == kCalls; }));
  pair.dialer().stop();  // joins the loop: every callback that will ever run has run
  for (std::size_t i = 0; i < kCalls; ++i) {
    EXPECT_EQ(runs[i].load(), 1) << "call " << i;
    EXPECT_EQ(errors[i].load(), Errc::disconnected) << "call " << i;
  }
  std::atomic<int> refused_runs{0};
  EXPECT_EQ(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"), 0,
                                  [&](Reply&&) { ++refused_runs; }),
            Errc::shutting_down);
  EXPECT_EQ(reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"))).error,
            Errc::shutting_down);
  pair.dialer().stop();  // idempotent
  EXPECT_EQ(refused_runs.load(), 0);
}

}  // namespace
}  // namespace weft::io
