// The libevent adapter over real loopback sockets: the in-memory scenarios again, through
// EventNode, plus a node going away mid-traffic and calls from many threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kHold = 2;  // keeps the responder; answers only if told to
constexpr std::uint16_t kError = 3;
constexpr std::uint16_t kStreamEcho = 4;

std::string text(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

// Requests held by kHold, shared with the test thread.
struct Held {
  std::mutex mutex;
  std::vector<Responder> responders;
  std::size_t count() {
    std::lock_guard lock(mutex);
    return responders.size();
  }
};

NodeConfig config_for(const std::string& name, const std::string& peer) {
  NodeConfig config;
  config.name = name;
  config.peers = {peer};
  config.auth = std::make_shared<StaticTokenAuth>("loopback-secret");
  config.timeouts.backoff_max_ms = 200;  // reconnect quickly in tests
  return config;
}

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
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      const auto peers = node.peers();
      if (!peers.empty() && peers[0].stats.state == PeerState::established) return true;
      std::this_thread::sleep_for(2ms);
    }
    return false;
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

TEST(IoLoopback, EchoRemoteErrorUnknownHandlerAndOneMebibyte) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  Reply echo = pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("hello")).get();
  EXPECT_EQ(echo.error, Errc::ok);
  EXPECT_EQ(text(echo.payload), "hello");
  // The other direction on the same connection.
  Reply back = pair.acceptor().request(pair.dialer_name(), kEcho, as_bytes("back")).get();
  EXPECT_EQ(text(back.payload), "back");
  Reply error = pair.dialer().request(pair.acceptor_name(), kError, as_bytes("x")).get();
  EXPECT_EQ(error.error, Errc::remote_error);
  EXPECT_EQ(text(error.payload), "disk full");
  Reply unknown = pair.dialer().request(pair.acceptor_name(), 99, as_bytes("x")).get();
  EXPECT_EQ(unknown.error, Errc::unknown_handler);
  std::string big(1 << 20, 'b');
  for (std::size_t i = 0; i < big.size(); i += 4093)
    big[i] = static_cast<char>(i);
  Reply large = pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes(big), 10'000).get();
  ASSERT_EQ(large.error, Errc::ok);
  EXPECT_TRUE(text(large.payload) == big);
  Reply nobody = pair.dialer().request("nobody", kEcho, as_bytes("x")).get();
  EXPECT_EQ(nobody.error, Errc::unknown_peer);
}

TEST(IoLoopback, DeadlineAndCancelReachTheHandler) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  const auto start = std::chrono::steady_clock::now();
  Reply late = pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("slow"), 100).get();
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(late.error, Errc::deadline_exceeded);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 2s);
  // Cancel, with a handle: the caller's callback says canceled, the handler sees it.
  std::promise<Reply> canceled;
  CallHandle handle;
  ASSERT_EQ(pair.dialer().request(
                pair.acceptor_name(), kHold, as_bytes("work"), 0,
                [&canceled](Reply&& reply) { canceled.set_value(std::move(reply)); }, {}, &handle),
            Errc::ok);
  while (pair.held().count() < 2)
    std::this_thread::sleep_for(1ms);
  ASSERT_EQ(handle.cancel(), Errc::ok);
  EXPECT_EQ(canceled.get_future().get().error, Errc::canceled);
  Responder held;
  {
    std::lock_guard lock(pair.held().mutex);
    held = pair.held().responders[1];
  }
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (!held.canceled() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(held.canceled());
  EXPECT_FALSE(held.respond(as_bytes("too late")));
}

TEST(IoLoopback, NodeGoingAwayFailsInFlightOnceThenReconnects) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  std::atomic<int> replies{0};
  std::atomic<int> disconnected{0};
  for (int i = 0; i < 20; ++i) {
    pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("pending"), 0, [&](Reply&& reply) {
      ++replies;
      if (reply.error == Errc::disconnected) ++disconnected;
    });
  }
  while (pair.held().count() < 20)
    std::this_thread::sleep_for(1ms);
  pair.stop_acceptor();  // its sockets close in the middle of the traffic
  const auto until = std::chrono::steady_clock::now() + 2s;
  while (replies < 20 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(replies.load(), 20);  // exactly once each
  EXPECT_EQ(disconnected.load(), 20);
  Reply refused = pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x")).get();
  EXPECT_EQ(refused.error, Errc::disconnected);
  pair.start_acceptor();  // back, on the same port
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  Reply again = pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("again")).get();
  EXPECT_EQ(again.error, Errc::ok);
  EXPECT_GE(pair.dialer().peers()[0].stats.reconnects, 1u);
}

TEST(IoLoopback, StreamEchoesThroughTheAdapter) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  std::mutex mutex;
  std::vector<std::string> echoes;
  std::promise<Errc> ended;
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
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard lock(mutex);
      if (echoes.size() == 100) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(echoes.size(), 100u);
    for (int i = 0; i < 100; ++i)
      EXPECT_EQ(echoes[i], "m" + std::to_string(i));
  }
  ASSERT_EQ(session.cancel(), Errc::ok);
  auto future = ended.get_future();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
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
      std::vector<std::future<Reply>> futures;
      for (int i = 0; i < kCallsPerThread; ++i) {
        const std::string payload = std::to_string(t) + ":" + std::to_string(i);
        // Half the threads call one way, half the other, over the same connection.
        EventNode& from = t % 2 == 0 ? pair.dialer() : pair.acceptor();
        const std::string& to = t % 2 == 0 ? pair.acceptor_name() : pair.dialer_name();
        futures.push_back(from.request(to, kEcho, as_bytes(payload)));
      }
      for (int i = 0; i < kCallsPerThread; ++i) {
        Reply reply = futures[static_cast<std::size_t>(i)].get();
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

TEST(IoLoopback, BadTokenIsRejectedAndBothSidesSeeWhy) {
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
  dialing.config.auth = std::make_shared<StaticTokenAuth>("wrong-token");
  dialing.addresses.push_back({acceptor, "127.0.0.1", accept_node.port()});
  EventNode dial_node(dialing);
  dial_node.on_peer_change(record("dialer"));
  ASSERT_EQ(dial_node.start(), Errc::ok);
  const auto until = std::chrono::steady_clock::now() + 3s;
  bool both = false;
  while (!both && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
    std::lock_guard lock(mutex);
    const bool acceptor_saw = std::any_of(seen.begin(), seen.end(), [](const std::string& s) {
      return s.starts_with("acceptor: bad_token");
    });
    const bool dialer_saw = std::any_of(seen.begin(), seen.end(), [](const std::string& s) {
      return s.starts_with("dialer: bad_token");
    });
    both = acceptor_saw && dialer_saw;
  }
  EXPECT_TRUE(both);
  EXPECT_EQ(dial_node.request(acceptor, kEcho, as_bytes("x")).get().error, Errc::disconnected);
}

// Starts an acceptor and a dialer whose configs `adjust` may break, and returns what each
// side's peer-change callback reported as handshake failures within `wait`.
std::pair<std::vector<std::string>, std::vector<std::string>> handshake_failures(
    const std::function<void(NodeConfig&, bool dialer)>& adjust, std::chrono::milliseconds wait) {
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
  std::this_thread::sleep_for(wait);
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
      300ms);
  EXPECT_TRUE(any_starts_with(unknown_acceptor, "unknown_node"));
  EXPECT_TRUE(any_starts_with(unknown_dialer, "unknown_node"));
  const auto [version_acceptor, version_dialer] = handshake_failures(
      [](NodeConfig& config, bool dialer) {
        if (dialer) config.version_min = config.version_max = 2;
      },
      300ms);
  EXPECT_TRUE(any_starts_with(version_acceptor, "version_mismatch"));
  EXPECT_TRUE(any_starts_with(version_dialer, "version_mismatch"));
}

TEST(IoLoopback, PeerWhoseLoopStopsIsDeclaredDeadWithinTwoPingIntervals) {
  // 100 ms pings; the acceptor's loop thread is then held for 1 s, so it answers nothing.
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  auto fast_pings = [](NodeConfig config) {
    config.timeouts.ping_interval_ms = 100;
    return config;
  };
  EventNodeOptions accepting;
  accepting.config = fast_pings(config_for(acceptor, dialer));
  EventNode accept_node(accepting);
  ASSERT_EQ(accept_node.start(), Errc::ok);
  EventNodeOptions dialing;
  dialing.config = fast_pings(config_for(dialer, acceptor));
  dialing.addresses.push_back({acceptor, "127.0.0.1", accept_node.port()});
  std::promise<std::chrono::steady_clock::time_point> down_at;
  std::atomic<bool> told{false};
  EventNode dial_node(dialing);
  dial_node.on_peer_change([&](const PeerChange& change) {
    if (change.kind == PeerChange::Kind::down && !told.exchange(true)) {
      down_at.set_value(std::chrono::steady_clock::now());
    }
  });
  ASSERT_EQ(dial_node.start(), Errc::ok);
  ASSERT_TRUE(Pair::wait_connected(dial_node));
  const auto frozen_at = std::chrono::steady_clock::now();
  accept_node.run_on_loop([] { std::this_thread::sleep_for(1s); });
  auto future = down_at.get_future();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  const auto detected = future.get() - frozen_at;
  EXPECT_LE(detected, 450ms);  // two 100 ms intervals of silence, plus slack for sanitizers
  EXPECT_GE(detected, 100ms);
}

TEST(IoLoopback, StopFailsPendingCallsOnceAndRefusesNewOnes) {
  Pair pair;
  ASSERT_TRUE(Pair::wait_connected(pair.dialer()));
  std::atomic<int> replies{0};
  for (int i = 0; i < 10; ++i) {
    pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("x"), 0,
                          [&](Reply&&) { ++replies; });
  }
  while (pair.held().count() < 10)
    std::this_thread::sleep_for(1ms);
  pair.dialer().stop();
  EXPECT_EQ(replies.load(), 10);
  EXPECT_EQ(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x")).get().error,
            Errc::shutting_down);
  pair.dialer().stop();  // idempotent
}

}  // namespace
}  // namespace weft::io
