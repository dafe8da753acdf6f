// Helpers of the tests that run real EventNodes: waits that always end (a test fails
// instead of hanging), and a way to hold a node's loop thread so that commands queue.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "weft/io/event_node.hpp"

namespace weft::io::testing {

using namespace std::chrono_literals;

// A node `name` whose only peer is `peer`, sharing a token with it, reconnecting quickly.
inline NodeConfig config_for(const std::string& name, const std::string& peer) {
  NodeConfig config;
  config.name = name;
  config.peers = {peer};
  config.auth = std::make_shared<SharedKeyAuth>("io-test-secret-cluster-key");
  config.timeouts.backoff_max_ms = 200;  // reconnect quickly in tests
  return config;
}

// Polls `done` until it holds or `limit` passes; false if it never held.
template <typename Predicate>
bool wait_until(Predicate done, std::chrono::milliseconds limit = 5s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Waits (at most 5 s) until `node` has an established connection to some peer.
// The open descriptors of this process (every thread's).
inline std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

inline bool wait_established(EventNode& node) {
  return wait_until([&] {
    for (const PeerStatus& status : node.peers()) {
      if (status.stats.state == PeerState::established) return true;
    }
    return false;
  });
}

// The reply a future holds, waiting at most `limit`; a test failure (and a reply no test
// expects, invalid_argument) when none came by then.
inline Reply reply_within(std::future<Reply> future, std::chrono::milliseconds limit = 5s) {
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "no reply within " << limit.count() << " ms";
    return Reply{Errc::invalid_argument, {}};
  }
  return future.get();
}

// Holds a node's loop thread inside a run_on_loop callback until release() (at the latest
// when this object goes, or after a 10 s safety limit). Declare it after the node, so it
// releases the loop before the node's stop() joins it.
class LoopFreeze {
 public:
  explicit LoopFreeze(EventNode& node) : state_(std::make_shared<State>()) {
    posted_ = node.run_on_loop([state = state_] {
      std::unique_lock lock(state->mutex);
      state->held = true;
      state->changed.notify_all();
      state->changed.wait_for(lock, 10s, [&] { return state->released; });
    });
  }
  ~LoopFreeze() { release(); }
  LoopFreeze(const LoopFreeze&) = delete;
  LoopFreeze& operator=(const LoopFreeze&) = delete;

  Errc posted() const { return posted_; }
  // True once the loop thread is inside the callback: from then on the node sends nothing.
  bool wait_held() {
    std::unique_lock lock(state_->mutex);
    return state_->changed.wait_for(lock, 5s, [&] { return state_->held; });
  }
  void release() {
    std::lock_guard lock(state_->mutex);
    state_->released = true;
    state_->changed.notify_all();
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    bool held = false;
    bool released = false;
  };
  std::shared_ptr<State> state_;
  Errc posted_ = Errc::ok;
};

// The value of the adapter's metric `name` on `node` (-1: not reported).
inline double driver_metric(EventNode& node, std::string_view name) {
  for (const DriverMetric& metric : node.metrics().driver) {
    if (metric.name == name) return metric.value;
  }
  return -1;
}

// The log lines of a node, by level.
class LogLines {
 public:
  LogSink sink() {
    return [this](LogLevel level, std::string_view text) {
      const std::lock_guard lock(mutex_);
      lines_.emplace_back(level, std::string(text));
    };
  }
  // Lines at `level` that contain `part`.
  std::vector<std::string> with(LogLevel level, std::string_view part) const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> found;
    for (const auto& [line_level, text] : lines_) {
      if (line_level == level && text.find(part) != std::string::npos) found.push_back(text);
    }
    return found;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

// A TCP connection to 127.0.0.1:port (-1 on failure), with a receive timeout of 5 s. The
// kernel completes it whether or not anyone accepts it yet.
inline int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// What arrives on `fd` until the peer closes it (or 5 s of nothing); closes `fd`.
inline std::string answer_on(int fd) {
  std::string answer;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::recv(fd, buffer, sizeof buffer, 0)) > 0)
    answer.append(buffer, static_cast<std::size_t>(got));
  ::close(fd);
  return answer;
}

// A listening TCP socket of the test's own on 127.0.0.1, on a port the kernel picks: its
// descriptor (close it when done; -1 when it could not be made) and that port.
struct LoopbackListener {
  int fd = -1;
  std::uint16_t port = 0;
};
inline LoopbackListener listen_on_loopback(int backlog = 4) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), size) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    ::close(fd);
    return {};
  }
  return {fd, ntohs(address.sin_port)};
}

// A node `dialer_name` that dials `acceptor_name` at 127.0.0.1:`port`, started (a failed
// start fails the test).
inline std::unique_ptr<EventNode> started_dialer(const std::string& dialer_name,
                                                 const std::string& acceptor_name,
                                                 std::uint16_t port) {
  EventNodeOptions dialing;
  dialing.config = config_for(dialer_name, acceptor_name);
  dialing.addresses.push_back({acceptor_name, "127.0.0.1", port});
  auto dialer = std::make_unique<EventNode>(std::move(dialing));
  EXPECT_EQ(dialer->start(), Errc::ok);
  return dialer;
}

// Two started nodes: `dialer` connected to `acceptor`, which takes every request to handler 1
// and never answers it (its responders kept in `held`, under `mutex`). Not movable: the
// acceptor's handler refers to the members.
class SilentServerPair {
 public:
  SilentServerPair()
      : dialer_name(dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo"),
        acceptor_name(dialer_name == "alpha" ? "bravo" : "alpha") {
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name, dialer_name);
    acceptor = std::make_unique<EventNode>(std::move(accepting));
    acceptor->handle(1, "", [this](IncomingRequest&& request) {
      std::lock_guard lock(mutex);
      held.push_back(request.responder);
    });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    dialer = started_dialer(dialer_name, acceptor_name, acceptor->port());
  }
  SilentServerPair(const SilentServerPair&) = delete;
  SilentServerPair& operator=(const SilentServerPair&) = delete;

  std::size_t held_count() {
    std::lock_guard lock(mutex);
    return held.size();
  }

  const std::string dialer_name;
  const std::string acceptor_name;
  std::mutex mutex;
  std::vector<Responder> held;  // never answered
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
};

}  // namespace weft::io::testing
