// EventNodeOptions::loop_backend and WEFT_LOOP_BACKEND (event_node.hpp): the loop asked for
// is the one that runs (seen from the node, from its metrics and from the process's open
// rings), a name that is no loop fails start(), and nodes on the two loops talk to each
// other: small requests (the ring's copied sends), large ones (written in place) and a
// stream that fills the socket (sends the kernel cuts short or refuses until it drains), also
// under sends posted to complete quietly.
// The whole adapter suite runs once more over io_uring (tests/CMakeLists.txt: io.uring.*).
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;
using testing::driver_metric;
using testing::LogLines;
using testing::reply_within;
using testing::wait_established;
using testing::wait_until;
using namespace std::chrono_literals;

// How many descriptors of this process link to `target` (as /proc/self/fd shows them).
std::size_t descriptors_of(std::string_view target) {
  DIR* listing = ::opendir("/proc/self/fd");
  if (listing == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = ::readdir(listing)) {
    char link[256] = {};
    const std::string path = std::string("/proc/self/fd/") + entry->d_name;
    const ssize_t size = ::readlink(path.c_str(), link, sizeof link - 1);
    if (size > 0 && std::string_view(link, static_cast<std::size_t>(size)) == target) ++count;
  }
  ::closedir(listing);
  return count;
}

// The io_uring instances this process holds open (each ring is one anon inode).
std::size_t open_rings() {
  return descriptors_of("anon_inode:[io_uring]");
}

// Sets WEFT_LOOP_BACKEND for one test and puts back what was there.
class ScopedLoopVariable {
 public:
  explicit ScopedLoopVariable(const char* value) {
    if (const char* before = std::getenv(kName)) before_ = before;
    if (value != nullptr) {
      ::setenv(kName, value, 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ~ScopedLoopVariable() {
    if (before_) {
      ::setenv(kName, before_->c_str(), 1);
    } else {
      ::unsetenv(kName);
    }
  }
  ScopedLoopVariable(const ScopedLoopVariable&) = delete;
  ScopedLoopVariable& operator=(const ScopedLoopVariable&) = delete;

 private:
  static constexpr const char* kName = "WEFT_LOOP_BACKEND";
  std::optional<std::string> before_;
};

TEST(IoLoopBackend, NamesParseBothWaysAndNothingElseParses) {
  for (const LoopBackend backend : {LoopBackend::libevent, LoopBackend::io_uring}) {
    EXPECT_EQ(parse_loop_backend(loop_backend_name(backend)), backend);
  }
  EXPECT_EQ(parse_loop_backend("epoll"), std::nullopt);
  EXPECT_EQ(parse_loop_backend("IO_URING"), std::nullopt);
  EXPECT_EQ(parse_loop_backend(""), std::nullopt);
  EXPECT_EQ(loop_backend_unavailable(LoopBackend::libevent), std::nullopt);
}

TEST(IoLoopBackend, TheLoopTheEnvironmentNamesIsTheOneThatRuns) {
  const char* named = std::getenv("WEFT_LOOP_BACKEND");
  const LoopBackend expected = named != nullptr && *named != 0
                                   ? parse_loop_backend(named).value_or(LoopBackend::libevent)
                                   : LoopBackend::libevent;
  if (const auto why = loop_backend_unavailable(expected)) GTEST_SKIP() << *why;
  const std::size_t rings_before = open_rings();
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  EventNode node(options);
  ASSERT_EQ(node.start(), Errc::ok);
  EXPECT_EQ(node.loop_backend(), expected);
  // The same fact from the process: a ring is open exactly when the node runs on one.
  EXPECT_EQ(open_rings(), rings_before + (expected == LoopBackend::io_uring ? 1 : 0));
  // And from the metrics an operator scrapes.
  const MetricsSnapshot snapshot = node.metrics();
  std::string reported;
  for (const DriverMetric& metric : snapshot.driver) {
    if (metric.name == "io_loop" && !metric.labels.empty()) reported = metric.labels[0].second;
  }
  EXPECT_EQ(reported, loop_backend_name(expected));
  node.stop();
  EXPECT_EQ(open_rings(), rings_before);  // the loop thread closed its ring
}

TEST(IoLoopBackend, AVariableThatNamesNoLoopFailsStartAndSaysWhy) {
  const ScopedLoopVariable variable("epoll");
  std::vector<std::string> errors;
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.log = [&errors](LogLevel level, std::string_view text) {
    if (level == LogLevel::error) errors.emplace_back(text);
  };
  EventNode node(options);
  EXPECT_EQ(node.start(), Errc::invalid_argument);
  EXPECT_EQ(node.port(), 0);
  ASSERT_EQ(errors.size(), 1U);
  EXPECT_NE(errors[0].find("WEFT_LOOP_BACKEND"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("epoll"), std::string::npos) << errors[0];
}

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kSink = 2;

// What the serving side of a stream saw (the nodes' callbacks write here until they stop).
struct Sink {
  std::atomic<std::uint64_t> messages{0};
  std::atomic<bool> in_order{true};
  std::atomic<bool> ended{false};
  std::atomic<Errc> end_result{Errc::ok};
  // While set, the handler of each message waits (blocking the acceptor's loop), so the
  // dialer's socket fills and stays full.
  std::atomic<bool> hold{false};
};

// Two connected nodes, the acceptor on `accepting` and the dialer on `dialing` (the
// environment variable is cleared for the test, so the options decide). The acceptor echoes
// requests (kEcho) and checks a stream's messages carry 0, 1, 2, ... (kSink); the first
// message waits 500 ms in its handler, so the dialer's socket fills behind it.
struct MixedPair {
  MixedPair(LoopBackend accepting_loop, LoopBackend dialing_loop,
            std::size_t dialer_send_copy_bytes = EventNodeOptions{}.uring_send_copy_bytes,
            std::function<int()> dialer_wait_fault = nullptr, LogSink dialer_log = nullptr) {
    const std::string dialer_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    acceptor_name = dialer_name == "alpha" ? "bravo" : "alpha";
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name, dialer_name);
    accepting.loop_backend = accepting_loop;
    // A small socket receive buffer and a wide window (kSink): while the first message
    // waits, the dialer's socket fills.
    accepting.socket_receive_bytes = EventNodeOptions::kMinSocketReceiveBytes;
    acceptor = std::make_unique<EventNode>(std::move(accepting));
    acceptor->handle(kEcho, "", [](IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    acceptor->handle_stream(
        kSink, "", StreamWindow{1 << 16, 16 << 20}, [this](const IncomingStream&, StreamSession) {
          StreamCallbacks callbacks;
          callbacks.on_message = [this](StreamSession&, Bytes message) {
            const std::uint64_t expected = sink.messages.load();
            if (expected == 0) std::this_thread::sleep_for(500ms);
            while (sink.hold.load())
              std::this_thread::sleep_for(1ms);
            std::uint64_t value = 0;
            for (std::size_t i = 0; i < 8 && i < message.size(); ++i)
              value |= static_cast<std::uint64_t>(message[i]) << (8 * i);
            if (value != expected || message.size() != 64) sink.in_order = false;
            ++sink.messages;
          };
          callbacks.on_input_end = [](StreamSession& session) { session.close(); };
          callbacks.on_end = [this](StreamSession&, Errc result, std::string_view) {
            sink.end_result = result;
            sink.ended = true;
          };
          return callbacks;
        });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    EventNodeOptions dialing;
    dialing.config = config_for(dialer_name, acceptor_name);
    dialing.loop_backend = dialing_loop;
    dialing.uring_send_copy_bytes = dialer_send_copy_bytes;
    dialing.uring_wait_fault = std::move(dialer_wait_fault);
    if (dialer_log) dialing.log = std::move(dialer_log);
    dialing.addresses.push_back({acceptor_name, "127.0.0.1", acceptor->port()});
    dialer = std::make_unique<EventNode>(std::move(dialing));
    EXPECT_EQ(dialer->start(), Errc::ok);
    EXPECT_TRUE(wait_established(*dialer));
  }
  const ScopedLoopVariable variable{nullptr};
  Sink sink;
  std::string acceptor_name;
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
};

// A stream from the pair's dialer to its sink (kSink), whose messages carry 0, 1, 2, ...
struct SinkStream {
  // How the sending end ended; shared with its callback, which may outlive this.
  struct End {
    std::atomic<bool> ended{false};
    std::atomic<Errc> result{Errc::ok};
  };
  explicit SinkStream(MixedPair& pair) {
    StreamCallbacks callbacks;
    callbacks.on_end = [end = sender](StreamSession&, Errc result, std::string_view) {
      end->result = result;
      end->ended = true;
    };
    session =
        pair.dialer->open_stream(pair.acceptor_name, kSink, {}, nullptr, true, {}, 0, callbacks);
  }
  // Writes message `number`, waiting `pause` each time the stream's queue is full, for
  // `patience` at most (then queue_full).
  Errc write(std::uint64_t number, std::chrono::microseconds pause,
             std::chrono::milliseconds patience = 30s) {
    std::array<std::uint8_t, 64> message{};
    for (std::size_t i = 0; i < 8; ++i)
      message[i] = static_cast<std::uint8_t>(number >> (8 * i));
    const auto give_up = std::chrono::steady_clock::now() + patience;
    while (true) {
      const Errc written = session.write(Bytes(message.data(), message.size()));
      if (written != Errc::queue_full || std::chrono::steady_clock::now() > give_up) {
        return written;
      }
      std::this_thread::sleep_for(pause);
    }
  }
  // Closes the stream, and whether both ends then ended well with `messages` delivered in
  // order.
  ::testing::AssertionResult close_and_check(MixedPair& pair, std::uint64_t messages) {
    if (session.close() != Errc::ok) return ::testing::AssertionFailure() << "close failed";
    if (!wait_until([&] { return pair.sink.ended.load() && sender->ended.load(); }, 60s)) {
      return ::testing::AssertionFailure() << "the stream did not end";
    }
    if (pair.sink.end_result.load() != Errc::ok || sender->result.load() != Errc::ok) {
      return ::testing::AssertionFailure()
             << "ended with " << errc_name(pair.sink.end_result.load()) << " / "
             << errc_name(sender->result.load());
    }
    if (pair.sink.messages.load() != messages || !pair.sink.in_order.load()) {
      return ::testing::AssertionFailure()
             << pair.sink.messages.load() << " of " << messages << " messages, "
             << (pair.sink.in_order.load() ? "in order" : "out of order");
    }
    return ::testing::AssertionSuccess();
  }
  std::shared_ptr<End> sender = std::make_shared<End>();
  StreamSession session;
};

// Holds the sink's handler (Sink::hold) while it lives: declared after the pair, it lets
// the acceptor's loop go before the nodes stop, also when an assertion ends the test early.
class SinkHold {
 public:
  explicit SinkHold(Sink& sink) : sink_(sink) { sink_.hold = true; }
  ~SinkHold() { sink_.hold = false; }
  SinkHold(const SinkHold&) = delete;
  SinkHold& operator=(const SinkHold&) = delete;

 private:
  Sink& sink_;
};

TEST(IoLoopBackend, ANodeOnIoUringAndOneOnLibeventServeEachOtherSmallAndLargeRequests) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  for (const bool uring_accepts : {true, false}) {
    SCOPED_TRACE(uring_accepts ? "io_uring accepts" : "io_uring dials");
    MixedPair pair(uring_accepts ? LoopBackend::io_uring : LoopBackend::libevent,
                   uring_accepts ? LoopBackend::libevent : LoopBackend::io_uring);
    EXPECT_EQ(pair.acceptor->loop_backend(),
              uring_accepts ? LoopBackend::io_uring : LoopBackend::libevent);
    EXPECT_EQ(pair.dialer->loop_backend(),
              uring_accepts ? LoopBackend::libevent : LoopBackend::io_uring);
    // Many small requests in flight at once: a turn's output goes as one copied send.
    std::vector<std::future<Reply>> small;
    for (int i = 0; i < 2000; ++i) {
      small.push_back(pair.dialer->request(pair.acceptor_name, kEcho,
                                           as_bytes("request " + std::to_string(i))));
    }
    for (int i = 0; i < 2000; ++i) {
      const Reply reply = reply_within(std::move(small[i]));
      ASSERT_EQ(reply.error, Errc::ok) << i;
      ASSERT_EQ(std::string(reply.payload.begin(), reply.payload.end()),
                "request " + std::to_string(i));
    }
    // Larger than uring_send_copy_bytes: written in place, from the core's buffers.
    std::string big(3 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4099)
      big[i] = static_cast<char>(i * 7);
    const Reply large =
        reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big), 20'000), 30s);
    ASSERT_EQ(large.error, Errc::ok);
    EXPECT_TRUE(std::string(large.payload.begin(), large.payload.end()) == big);
  }
}

TEST(IoLoopBackend, AStreamThatFillsTheSocketOverIoUringArrivesWholeAndInOrder) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  // Every write of the dialer goes as a send operation (none is large enough to be written in
  // place), so a full socket always meets one.
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring, 1 << 20);
  SinkStream stream(pair);
  constexpr std::uint64_t kMessages = 200'000;
  for (std::uint64_t sent = 0; sent < kMessages; ++sent)
    ASSERT_EQ(stream.write(sent, 200us), Errc::ok) << sent;
  EXPECT_TRUE(stream.close_and_check(pair, kMessages));
  // The sender's full socket really did cut send operations short or refuse them.
  EXPECT_GT(driver_metric(*pair.dialer, "io_uring_sends_cut"), 0)
      << "no send operation met a full socket: the test proves less than it says";
}

TEST(IoLoopBackend, AQuietSendAFullSocketRefusesFailsVisiblyAndItsBytesStillArriveInOrder) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  // One message at a time with a pause after each: every turn of the dialer's loop finds
  // one small frame and nothing behind it, which goes as a quiet send (no completion if it
  // succeeds). The acceptor holds its loop, so the socket fills under those sends until the
  // kernel refuses or cuts one: only its failure completion can tell the loop, which must
  // then send the rest once the socket has room, in order.
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring);
  SinkStream stream(pair);
  const auto quiet_failures = [&pair] {
    return driver_metric(*pair.dialer, "io_uring_quiet_sends_failed");
  };
  EXPECT_EQ(quiet_failures(), 0);
  std::uint64_t sent = 0;
  // Well within the two ping intervals after which the dialer takes the held acceptor for
  // dead (10 s each by default).
  const auto give_up = std::chrono::steady_clock::now() + 12s;
  while (quiet_failures() == 0 && std::chrono::steady_clock::now() < give_up) {
    const double cut_before = driver_metric(*pair.dialer, "io_uring_sends_cut");
    {
      const SinkHold hold(pair.sink);
      for (int i = 0; i < 4096 && quiet_failures() == 0; i += 256) {
        for (int j = 0; j < 256; ++j) {
          const Errc written = stream.write(sent, 1ms, 100ms);
          if (written == Errc::queue_full) break;  // full behind the socket: see below
          ASSERT_EQ(written, Errc::ok) << sent;
          ++sent;
          std::this_thread::sleep_for(20us);
        }
        if (driver_metric(*pair.dialer, "io_uring_sends_cut") > cut_before) break;
      }
    }
    // The socket filled under a send with output behind it (a slow turn let frames pile
    // up), which is not quiet and waits for room: let the acceptor read it all, then fill
    // the socket again.
    ASSERT_TRUE(wait_until([&] { return pair.sink.messages.load() == sent; }, 30s));
  }
  const double failed = quiet_failures();
  ASSERT_GT(failed, 0) << "no quiet send met the full socket after " << sent << " messages";
  // Every quiet failure was a send the full socket cut short or refused.
  EXPECT_GE(driver_metric(*pair.dialer, "io_uring_sends_cut"), failed);
  EXPECT_TRUE(stream.close_and_check(pair, sent));
}

// The socket inode of this process's TCP connection to port `remote_port` on loopback (0:
// none), from the kernel's table of TCP sockets.
unsigned long connection_inode(std::uint16_t remote_port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
        timeout >> inode;
    const std::size_t colon = remote.find(':');
    if (colon == std::string::npos || state != "01") continue;  // established only
    if (remote.substr(0, colon) == "0100007F" &&  // 127.0.0.1, as the kernel prints it
        std::stoul(remote.substr(colon + 1), nullptr, 16) == remote_port) {
      return inode;
    }
  }
  return 0;
}

// The bytes waiting in the receive queues of the established TCP sockets on loopback whose
// own port is `local_port` (what no receive has taken yet), from the kernel's table.
unsigned long unread_bytes_at(std::uint16_t local_port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  unsigned long unread = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues;
    fields >> slot >> local >> remote >> state >> queues;
    const std::size_t colon = local.find(':');
    const std::size_t queue_colon = queues.find(':');
    if (colon == std::string::npos || queue_colon == std::string::npos || state != "01") continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) != local_port) continue;
    unread += std::stoul(queues.substr(queue_colon + 1), nullptr, 16);
  }
  return unread;
}

// Whether this process holds a descriptor of the socket with `inode`.
bool holds_socket(unsigned long inode) {
  return descriptors_of("socket:[" + std::to_string(inode) + "]") > 0;
}

// Fails the io_uring_enter waits of a node's loop on request (uring_wait_fault), and keeps
// when the failing calls came.
class WaitFaults {
 public:
  // The next `count` waits fail with `error` (ENOMEM unless named).
  void fail_next(int count, int error = ENOMEM) {
    const std::lock_guard lock(mutex_);
    left_ = count;
    error_ = error;
    failed_at_.clear();
  }
  int left() const {
    const std::lock_guard lock(mutex_);
    return left_;
  }
  // The time from the first failed call to the last.
  std::chrono::steady_clock::duration failing_for() const {
    const std::lock_guard lock(mutex_);
    return failed_at_.empty() ? std::chrono::steady_clock::duration{}
                              : failed_at_.back() - failed_at_.front();
  }
  std::function<int()> seam() {
    return [this] {
      const std::lock_guard lock(mutex_);
      if (left_ == 0) return 0;
      --left_;
      failed_at_.push_back(std::chrono::steady_clock::now());
      return -error_;
    };
  }

 private:
  mutable std::mutex mutex_;
  int left_ = 0;
  int error_ = ENOMEM;
  std::vector<std::chrono::steady_clock::time_point> failed_at_;
};

// Two nodes on io_uring whose dialer's waits fail on request, with the dialer's log.
struct FaultyPair {
  WaitFaults faults;
  LogLines logs;
  MixedPair pair{LoopBackend::io_uring, LoopBackend::io_uring,
                 EventNodeOptions{}.uring_send_copy_bytes, faults.seam(), logs.sink()};
};

TEST(IoLoopBackend, FailingIoUringWaitsArePacedLoggedOnceAndLoseNothing) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  FaultyPair nodes;
  constexpr int kFailures = 100;
  // The dialer's loop is waiting: the request's command wakes it, the turn queues the
  // request's send (quiet: nothing behind it), and the next waits fail without submitting
  // it. It must go once they work again, and its answer come back.
  std::this_thread::sleep_for(200ms);  // the turns that followed the handshake are over
  nodes.faults.fail_next(kFailures);
  const Reply reply = reply_within(
      nodes.pair.dialer->request(nodes.pair.acceptor_name, kEcho, as_bytes("sent across failures")),
      30s);
  ASSERT_EQ(reply.error, Errc::ok);
  EXPECT_EQ(std::string(reply.payload.begin(), reply.payload.end()), "sent across failures");
  EXPECT_EQ(nodes.faults.left(), 0);
  // Not a spinning core: after the first failure, each turn paused 1 ms.
  EXPECT_GE(nodes.faults.failing_for(), std::chrono::milliseconds(kFailures - 2));
  // One line when the waits began to fail, one when they worked again, with the count.
  EXPECT_EQ(nodes.logs.with(LogLevel::error, "io_uring_enter").size(), 1U);
  EXPECT_EQ(nodes.logs
                .with(LogLevel::warning,
                      "works again, after " + std::to_string(kFailures) + " failed waits")
                .size(),
            1U);
  // Still one connection, which serves as before.
  for (int i = 0; i < 50; ++i) {
    const Reply next = reply_within(
        nodes.pair.dialer->request(nodes.pair.acceptor_name, kEcho, as_bytes("after")));
    ASSERT_EQ(next.error, Errc::ok) << i;
  }
}

// stop() drains the ring: it cancels every operation and waits for their completions
// before the buffers they name are freed. Waits that fail for a while then (ENOMEM here)
// are retried as the loop retries them. Before, the first failure ended the drain, and the
// ring closed with its operations in flight (the seam was cleared at the drain, so the test
// found every failure still to come).
TEST(IoLoopBackend, WaitsThatFailWhileTheRingDrainsAreRetried) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  FaultyPair nodes;
  constexpr int kFailures = 50;
  std::this_thread::sleep_for(200ms);  // the turns that followed the handshake are over
  nodes.faults.fail_next(kFailures);   // the loop is waiting: the next waits are stop()'s
  nodes.pair.dialer->stop();
  EXPECT_EQ(nodes.faults.left(), 0) << "the drain gave up at a failed wait";
  EXPECT_EQ(nodes.logs.with(LogLevel::error, "while the ring drained").size(), 0U);
  EXPECT_EQ(nodes.logs.with(LogLevel::warning, "works again while the ring drains").size(), 1U);
}

// Waits interrupted without end while stop() drains the ring (a signal storm; here the
// seam's EINTR) do not spin stop() for ever: after a second in which nothing completed the
// drain ends with an error line. Before, an interrupted wait was retried at once, with no
// bound and no pause: this test's stop() took all the seam's failures (endless to the
// drain, as they come faster than anything completes) in a fraction of a second.
TEST(IoLoopBackend, ADrainWhoseWaitsAreInterruptedWithoutEndEndsAfterASecond) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  FaultyPair nodes;
  constexpr int kEndless = 200'000;
  // The turns that followed the handshake are over: the loop waits in the kernel, and the
  // stop command ends that wait. (A turn of the loop between these two lines would meet the
  // EINTRs itself, which it retries at once; nothing here wakes it, so none comes.)
  std::this_thread::sleep_for(200ms);
  nodes.faults.fail_next(kEndless, EINTR);
  const auto started = std::chrono::steady_clock::now();
  nodes.pair.dialer->stop();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GT(nodes.faults.left(), kEndless - 10'000) << "retried without a pause, or no end";
  EXPECT_GE(took, 900ms);
  EXPECT_EQ(nodes.logs.with(LogLevel::error, "nothing completed for 1000 ms while the ring drained")
                .size(),
            1U);
  nodes.faults.fail_next(0);
}

TEST(IoLoopBackend, AClosedSocketsDescriptorStaysOpenWhileEntriesNamingItAreUnsubmitted) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  FaultyPair nodes;
  const unsigned long dialer_socket = connection_inode(nodes.pair.acceptor->port());
  ASSERT_NE(dialer_socket, 0U);
  ASSERT_TRUE(holds_socket(dialer_socket));
  // Removing the peer closes its connection: the turn queues the cancellations of the
  // socket's receive, and the waits after it fail without submitting them. Closed now, its
  // number could go to the next socket while a queued entry still names it.
  // The turns that followed the handshake are over: the next wait ends on the command.
  std::this_thread::sleep_for(200ms);
  nodes.faults.fail_next(1000);
  ASSERT_EQ(nodes.pair.dialer->remove_peer(nodes.pair.acceptor_name), Errc::ok);
  std::this_thread::sleep_for(50ms);
  const bool held = holds_socket(dialer_socket);
  // Failures still to come after the check: they lasted through it.
  ASSERT_GT(nodes.faults.left(), 0) << "the failures ended before the check: it proves nothing";
  EXPECT_TRUE(held) << "closed with its entries still queued";
  // Once a wait submits them, the descriptor closes.
  EXPECT_TRUE(wait_until([&] { return !holds_socket(dialer_socket); }, 60s));
  EXPECT_EQ(nodes.faults.left(), 0);
  // Logged in the turn that closed it, just after the close.
  const std::string recovered = "works again, after 1000 failed waits";
  EXPECT_TRUE(
      wait_until([&] { return !nodes.logs.with(LogLevel::warning, recovered).empty(); }, 10s));
  EXPECT_EQ(nodes.logs.with(LogLevel::warning, recovered).size(), 1U);
}

TEST(IoLoopBackend, AReceiveBufferGrowsForBulkAndGoesBackToSixteenKibWhenTrafficIsSmall) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring);
  constexpr double kFirst = 16 * 1024;
  const double large = static_cast<double>(EventNodeOptions{}.read_buffer_bytes);
  const auto buffers = [&] {
    return std::array<double, 2>{driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes"),
                                 driver_metric(*pair.dialer, "io_uring_receive_buffer_bytes")};
  };
  // One connection each: its buffer starts small.
  EXPECT_EQ(buffers(), (std::array<double, 2>{kFirst, kFirst}));
  // A 1 MiB request and its echo fill both sides' receives: both grow.
  const std::string big(1 << 20, 'b');
  const Reply echoed = reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big)));
  ASSERT_EQ(echoed.error, Errc::ok);
  ASSERT_EQ(echoed.payload.size(), big.size());
  EXPECT_EQ(buffers(), (std::array<double, 2>{large, large}));
  // Small requests one at a time: each receive is one small frame, and after 64 in a row
  // each side's buffer is back to 16 KiB.
  for (int i = 0; i < 100; ++i) {
    const Reply small =
        reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes("s")));
    ASSERT_EQ(small.error, Errc::ok) << i;
  }
  EXPECT_EQ(buffers(), (std::array<double, 2>{kFirst, kFirst}));
  // And it grows again for the next bulk.
  ASSERT_EQ(reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big))).error,
            Errc::ok);
  EXPECT_EQ(buffers(), (std::array<double, 2>{large, large}));
}

// A stranger that never sends a hello keeps the 16 KiB buffer however it fills its receives:
// here eight connections each announce a 60 KB frame (under the 64 KiB a frame may have
// before the hello) and send 40 KB of it. Before, each one's receive buffer grew to
// read_buffer_bytes (256 KiB): max_transports_awaiting_hello of them, 64 MiB, for nothing.
TEST(IoLoopBackend, AConnectionThatHasNotSentItsHelloKeepsTheSmallReceiveBuffer) {
  if (const auto why = loop_backend_unavailable(LoopBackend::io_uring)) GTEST_SKIP() << *why;
  MixedPair pair(LoopBackend::io_uring, LoopBackend::io_uring);
  constexpr double kFirst = 16 * 1024;
  ASSERT_EQ(driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes"), kFirst);
  const std::vector<std::uint8_t> payload(60'000, 'j');
  ByteBuffer encoded;
  encode_frame(encoded, Frame{.op = Op::request, .mux = 2, .handler = 1, .payload = payload});
  const std::vector<std::uint8_t> frame(encoded.view().begin(), encoded.view().end());
  constexpr int kStrangers = 8;
  std::vector<int> strangers;
  for (int i = 0; i < kStrangers; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(pair.acceptor->port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::send(fd, frame.data(), 40'000, MSG_NOSIGNAL), 40'000);
    strangers.push_back(fd);
  }
  EXPECT_TRUE(
      wait_until([&] { return driver_metric(*pair.acceptor, "io_sockets") == 1 + kStrangers; }));
  // Every stranger's 40 KB taken by the acceptor's receives (the kernel holds none of it).
  EXPECT_TRUE(wait_until([&] { return unread_bytes_at(pair.acceptor->port()) == 0; }));
  // One snapshot for both figures: a stranger the hello timeout (2 s) closed meanwhile
  // leaves them in step. Every socket open holds 16 KiB; a grown buffer would add 240 KiB.
  const MetricsSnapshot snapshot = pair.acceptor->metrics();
  double sockets = -1;
  double buffers = -1;
  for (const DriverMetric& metric : snapshot.driver) {
    if (metric.name == "io_sockets") sockets = metric.value;
    if (metric.name == "io_uring_receive_buffer_bytes") buffers = metric.value;
  }
  ASSERT_GT(sockets, 1) << "every stranger closed before the check: it proves nothing";
  EXPECT_EQ(buffers, kFirst * sockets);
  for (const int fd : strangers)
    ::close(fd);
  // The authenticated connection still grows for bulk.
  const std::string big(1 << 20, 'b');
  ASSERT_EQ(reply_within(pair.dialer->request(pair.acceptor_name, kEcho, as_bytes(big))).error,
            Errc::ok);
  EXPECT_TRUE(wait_until([&] {
    return driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes") ==
           static_cast<double>(EventNodeOptions{}.read_buffer_bytes);
  }));
}

TEST(IoLoopBackend, OnLibeventNoRingReceiveBufferIsReported) {
  MixedPair pair(LoopBackend::libevent, LoopBackend::libevent);
  EXPECT_EQ(driver_metric(*pair.acceptor, "io_uring_receive_buffer_bytes"), 0);
  EXPECT_EQ(driver_metric(*pair.dialer, "io_uring_receive_buffer_bytes"), 0);
}

}  // namespace
}  // namespace weft::io
