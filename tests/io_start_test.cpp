// A refused start() leaves nothing behind (event_node.hpp, start()): no port held, no
// descriptor open, so an operator's retry loop (start, fail, wait, start again) neither
// leaks nor finds its own earlier attempt in the way; an address in use is waited for
// (listen_busy_wait_ms). A bad listen, peer or source address or handler is refused and
// starts nothing; a node dials from its source address. And the loop thread's scheduling
// policy (EventNodeOptions::loop_scheduling), set or refused.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::wait_until;

// The process's open descriptors (every thread's), from /proc/self/fd.
std::size_t open_descriptors() {
  DIR* listing = ::opendir("/proc/self/fd");
  if (listing == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = ::readdir(listing)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(listing);
  return count - 1;  // the listing's own descriptor
}

// A started node named `name` (on a free port); null when it did not start.
std::unique_ptr<EventNode> started_node(const std::string& name, const std::string& peer) {
  EventNodeOptions options;
  options.config = config_for(name, peer);
  auto node = std::make_unique<EventNode>(std::move(options));
  if (node->start() != Errc::ok) return nullptr;
  return node;
}

// A node stopped before it started stays stopped: start() is refused. Before, it started a
// loop that no later stop() would join (stop() had already run), and destroying the node
// freed the loop under the running thread, then aborted on the joinable thread.
TEST(IoContracts, AStoppedNodeNeverStarts) {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  EventNode node(std::move(options));
  node.stop();
  EXPECT_EQ(node.start(), Errc::shutting_down);
}

// Work queued before start() runs in the loop's first turn. Before, its wake-up found no
// loop to wake, and it waited for whatever woke the loop next (nothing, here).
TEST(IoContracts, WorkQueuedBeforeStartRunsWhenTheLoopStarts) {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  EventNode node(std::move(options));
  std::promise<void> ran;
  ASSERT_EQ(node.run_on_loop([&ran] { ran.set_value(); }), Errc::ok);
  ASSERT_EQ(node.start(), Errc::ok);
  EXPECT_EQ(ran.get_future().wait_for(3s), std::future_status::ready);
  node.stop();
}

// A stop() that finds another thread's stop() under way returns once that one is done (the
// loop joined, every end run), as the contract says of stop(). Before, it returned at once:
// its caller could free what a callback still running on the loop thread used.
TEST(IoContracts, ASecondStopReturnsOnlyOnceTheFirstHasEndedEverything) {
  testing::SilentServerPair pair;
  EventNode& dialer = *pair.dialer;
  ASSERT_TRUE(testing::wait_established(dialer));
  std::atomic<bool> done_finished{false};
  ASSERT_EQ(dialer.request(pair.acceptor_name, 1, as_bytes("held"), 0,
                           [&](Reply&&) {
                             std::this_thread::sleep_for(300ms);  // an end that takes a while
                             done_finished = true;
                           }),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pair.held_count() > 0; }));
  std::thread first([&] { dialer.stop(); });
  std::this_thread::sleep_for(50ms);
  dialer.stop();
  EXPECT_TRUE(done_finished.load()) << "the second stop() returned while the first still ran";
  first.join();
  pair.acceptor->stop();
}

// A handler the core would never serve (handler 0, a route over limits.max_route_bytes, a
// stream window of 0 messages or 0 bytes) makes start() fail with invalid_argument and a
// log line naming it, as a bad object endpoint does (event_node.hpp, handle). Before,
// start() returned ok and every call to it ended with unknown_handler.
TEST(IoContracts, StartRefusesAHandlerTheCoreWouldNeverServe) {
  const std::string long_route(256, 'r');  // limits.max_route_bytes is 255
  const auto serve = [](IncomingRequest&&) {};
  const auto serve_stream = [](const IncomingStream&, StreamSession) { return StreamCallbacks{}; };
  const std::vector<std::pair<std::string, std::function<void(EventNode&)>>> cases = {
      {"bad request handler 0", [&](EventNode& node) { node.handle(0, "", serve); }},
      {"bad request handler 1", [&](EventNode& node) { node.handle(1, long_route, serve); }},
      {"bad stream handler 0",
       [&](EventNode& node) { node.handle_stream(0, "", StreamWindow{}, serve_stream); }},
      {"bad stream handler 2",
       [&](EventNode& node) { node.handle_stream(2, long_route, StreamWindow{}, serve_stream); }},
      {"bad stream handler 3",
       [&](EventNode& node) {
         node.handle_stream(3, "", StreamWindow{0, 1 << 20}, serve_stream);
       }},
      {"bad stream handler 4",
       [&](EventNode& node) {
         node.handle_stream(4, "", StreamWindow{16, 0}, serve_stream);
       }},
  };
  for (const auto& bad : cases) {
    SCOPED_TRACE(bad.first);
    std::mutex mutex;
    std::vector<std::string> errors;
    EventNodeOptions options;
    options.config = config_for("alpha", "bravo");
    options.log = [&](LogLevel level, std::string_view text) {
      std::lock_guard lock(mutex);
      if (level == LogLevel::error) errors.emplace_back(text);
    };
    EventNode node(std::move(options));
    node.handle(7, "fine", serve);  // a good one beside it changes nothing
    bad.second(node);
    EXPECT_EQ(node.start(), Errc::invalid_argument);
    std::lock_guard lock(mutex);
    EXPECT_TRUE(std::any_of(errors.begin(), errors.end(),
                            [&](const std::string& line) { return line.starts_with(bad.first); }))
        << "no error line starting '" << bad.first << "'";
  }
}

TEST(IoContracts, ARefusedStartHoldsNoDescriptorAndMayBeCalledAgain) {
  auto blocker = started_node("alpha", "bravo");
  ASSERT_NE(blocker, nullptr);
  const std::uint16_t port = blocker->port();

  EventNodeOptions options;
  options.config = config_for("bravo", "alpha");
  options.listen_port = port;        // taken by the blocker
  options.listen_busy_wait_ms = 30;  // each attempt waits that long for it, then fails
  EventNode node(std::move(options));
  const std::size_t before = open_descriptors();
  ASSERT_GT(before, 0u);
  for (int attempt = 0; attempt < 3; ++attempt) {
    EXPECT_EQ(node.start(), Errc::invalid_argument);
    // The listener's socket and the loop's event base, eventfd and timerfd were closed.
    EXPECT_EQ(open_descriptors(), before) << "attempt " << attempt;
  }
  blocker.reset();  // stopped: the port is free
  const std::size_t without_blocker = open_descriptors();
  ASSERT_EQ(node.start(), Errc::ok);
  EXPECT_EQ(node.port(), port);
  EXPECT_GT(open_descriptors(), without_blocker);  // now it holds its listener and loop
  node.stop();
}

// A node restarted at once after its previous process died may find its port still held
// for a moment (a dead process's io_uring closes its files after the process is gone; the
// examples.uring.objects_* check once failed that way): start() waits for it, within
// listen_busy_wait_ms, and then listens on that very port.
TEST(IoContracts, StartWaitsForItsListenAddressWhileAnotherSocketStillHoldsIt) {
  // A plain listening socket holds the port. (A node would do too, but on io_uring under
  // tsan its ring's memory, mapped again at the same address for the next node's ring on a
  // thread that never synchronized with the first loop thread, reads as a data race:
  // liburing maps and unmaps with raw system calls tsan does not see.)
  const testing::LoopbackListener holder = testing::listen_on_loopback();
  ASSERT_GE(holder.fd, 0);
  const std::uint16_t port = holder.port;

  EventNodeOptions options;
  options.config = config_for("bravo", "alpha");
  options.listen_port = port;
  options.listen_busy_wait_ms = 60'000;
  EventNode node(std::move(options));
  std::future<Errc> started = std::async(std::launch::async, [&] { return node.start(); });
  // Still waiting while the socket holds the port: not refused.
  EXPECT_EQ(started.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  ::close(holder.fd);  // the port is free
  ASSERT_EQ(started.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(started.get(), Errc::ok);
  EXPECT_EQ(node.port(), port);
  node.stop();

  EventNodeOptions negative;
  negative.config = config_for("bravo", "alpha");
  negative.listen_busy_wait_ms = -1;
  EXPECT_EQ(EventNode(std::move(negative)).start(), Errc::invalid_argument);
}

// A stop() from another thread while start() waits for its address (a signal handler's
// thread at a restart, say) leaves the node stopped: start() then returns shutting_down and
// holds nothing. Before, stop() found no loop and returned; start() went on and started one
// that nothing could stop or join, and destroying the node freed it under the running
// thread, then aborted on the joinable thread.
TEST(IoContracts, AStopWhileStartWaitsForItsAddressLeavesTheNodeStopped) {
  const testing::LoopbackListener holder = testing::listen_on_loopback();
  ASSERT_GE(holder.fd, 0);
  EventNodeOptions options;
  options.config = config_for("bravo", "alpha");
  options.listen_port = holder.port;
  options.listen_busy_wait_ms = 60'000;
  auto node = std::make_unique<EventNode>(std::move(options));
  const std::size_t before = open_descriptors();
  std::future<Errc> started = std::async(std::launch::async, [&] { return node->start(); });
  EXPECT_EQ(started.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  node->stop();
  ::close(holder.fd);  // the port is free: start() goes on
  ASSERT_EQ(started.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(errc_name(started.get()), errc_name(Errc::shutting_down));
  EXPECT_EQ(node->port(), 0);
  EXPECT_EQ(open_descriptors(), before - 1);  // the holder's; the node holds none
  EXPECT_EQ(errc_name(node->start()), errc_name(Errc::shutting_down));
  node.reset();  // nothing runs that the destructor would free under it
}

// A read buffer of no bytes would read nothing (the libevent loop spun on a readable socket,
// an io_uring connection never got a receive posted): start() refuses it, and one over the
// most, and takes one byte (rounded up to a page).
TEST(IoContracts, StartRefusesAReadBufferOutOfItsRange) {
  for (const std::size_t bytes : {std::size_t{0}, kMaxReadBufferBytes + 1}) {
    SCOPED_TRACE(std::to_string(bytes) + " bytes");
    EventNodeOptions options;
    options.config = config_for("alpha", "bravo");
    options.read_buffer_bytes = bytes;
    EventNode node(std::move(options));
    const std::size_t before = open_descriptors();
    EXPECT_EQ(errc_name(node.start()), errc_name(Errc::invalid_argument));
    EXPECT_EQ(open_descriptors(), before);
  }
  EventNodeOptions serving;
  serving.config = config_for("alpha", "bravo");
  serving.read_buffer_bytes = 1;
  EventNode server(std::move(serving));
  server.handle(1, "",
                [](IncomingRequest&& request) { request.responder.respond(request.payload); });
  ASSERT_EQ(server.start(), Errc::ok);
  EventNodeOptions calling;
  calling.config = config_for("bravo", "alpha");
  calling.read_buffer_bytes = 1;
  calling.addresses.push_back({"alpha", "127.0.0.1", server.port()});
  EventNode client(std::move(calling));
  ASSERT_EQ(client.start(), Errc::ok);
  ASSERT_TRUE(testing::wait_established(client));
  const std::string payload(100'000, 'p');
  std::future<Reply> reply = client.request("alpha", 1, as_bytes(payload), 10'000);
  ASSERT_EQ(reply.wait_for(20s), std::future_status::ready);
  const Reply answer = reply.get();
  EXPECT_EQ(errc_name(answer.error), errc_name(Errc::ok));
  EXPECT_EQ(answer.payload.size(), payload.size());
  EXPECT_TRUE(std::string(answer.payload.begin(), answer.payload.end()) == payload);
}

// The policy the loop thread of a node started with `scheduling` runs under.
int loop_thread_policy(LoopScheduling scheduling) {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.loop_scheduling = scheduling;
  EventNode node(std::move(options));
  if (node.start() != Errc::ok) return -1;
  std::promise<int> seen;
  if (node.run_on_loop([&] { seen.set_value(sched_getscheduler(0)); }) != Errc::ok) return -1;
  const int policy = seen.get_future().get();
  node.stop();
  return policy;
}

TEST(IoContracts, LoopSchedulingBatchPutsOnlyTheLoopThreadUnderSchedBatch) {
  const int callers_policy = sched_getscheduler(0);
  if (callers_policy != SCHED_OTHER) GTEST_SKIP() << "needs the default policy (SCHED_OTHER)";
  EXPECT_EQ(loop_thread_policy(LoopScheduling::batch), SCHED_BATCH);
  EXPECT_EQ(sched_getscheduler(0), callers_policy);  // the thread calling start() kept its own
  EXPECT_EQ(loop_thread_policy(LoopScheduling::inherit), callers_policy);
}

// In a child process that may not leave SCHED_IDLE (RLIMIT_NICE 0 and no CAP_SYS_NICE): a
// node asking for SCHED_BATCH is refused, holds nothing, and is refused the same way again;
// a node that inherits starts. Returns 0, 1 when the environment still allows the switch
// or cannot set the scene (no uid to drop to, as in a user namespace mapping only root), or
// the step that failed.
int refused_batch_child() {
  const rlimit no_raise{0, 0};
  if (::setrlimit(RLIMIT_NICE, &no_raise) != 0) return 10;
  const sched_param param{};
  if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) return 11;
  if (::geteuid() == 0 && ::setresuid(65534, 65534, 65534) != 0) return 1;  // drops CAP_SYS_NICE
  ::prctl(PR_SET_DUMPABLE, 1);  // /proc/self/fd stays readable after the uid change
  std::string logged;
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.loop_scheduling = LoopScheduling::batch;
  options.log = [&logged](LogLevel, std::string_view line) { logged += line; };
  {
    EventNode node(options);
    const std::size_t before = open_descriptors();
    if (before == 0) return 13;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (node.start() != Errc::invalid_argument) {
        return ::sched_setscheduler(0, SCHED_BATCH, &param) == 0 ? 1 : 14;
      }
      if (open_descriptors() != before) return 15;
      if (node.port() != 0) return 18;  // the listener it bound was closed
    }
    if (logged.find("SCHED_BATCH") == std::string::npos) return 16;
  }
  options.loop_scheduling = LoopScheduling::inherit;
  EventNode node(std::move(options));
  if (node.start() != Errc::ok) return 17;
  node.stop();
  return 0;
}

TEST(IoContracts, ALoopSchedulingTheKernelRefusesFailsStartAndHoldsNothing) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(refused_batch_child());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 1) {
    GTEST_SKIP() << "this environment lets the thread switch anyway, or has no uid to drop to";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the step that failed (see refused_batch_child)";
}

// ---- start() --------------------------------------------------------------------------------

// Starts a lone node with `adjust`ed options; returns start()'s result and what it logged.
struct StartOutcome {
  Errc result = Errc::ok;
  std::uint16_t port = 0;
  bool peers_empty = false;
  std::vector<std::string> errors;
};
StartOutcome start_with(const std::function<void(EventNodeOptions&)>& adjust) {
  auto errors = std::make_shared<std::vector<std::string>>();
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.log = [errors](LogLevel level, std::string_view line) {
    if (level == LogLevel::error) errors->emplace_back(line);
  };
  adjust(options);
  EventNode node(std::move(options));
  StartOutcome outcome;
  outcome.result = node.start();
  outcome.port = node.port();
  outcome.peers_empty = node.peers().empty();  // empty only when no loop runs
  node.stop();
  outcome.errors = *errors;
  return outcome;
}

bool mentions(const std::vector<std::string>& lines, std::string_view word) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.find(word) != line.npos; });
}

TEST(IoContracts, StartRefusesABadListenAddressAndStartsNothing) {
  const StartOutcome good = start_with([](EventNodeOptions&) {});
  EXPECT_EQ(good.result, Errc::ok);
  EXPECT_NE(good.port, 0);
  EXPECT_FALSE(good.peers_empty);
  // Not an IPv4 address: refused without a name lookup (tests send nothing off the host).
  for (const char* host : {"300.1.2.3", "::1", ""}) {
    const StartOutcome bad = start_with([&](EventNodeOptions& o) { o.listen_host = host; });
    EXPECT_EQ(bad.result, Errc::invalid_argument) << host;
    EXPECT_EQ(bad.port, 0) << host;
    EXPECT_TRUE(bad.peers_empty) << host;
    EXPECT_TRUE(mentions(bad.errors, "listen")) << host;
  }
  // A port another node listens on, still held when listen_busy_wait_ms ends.
  EventNodeOptions first_options;
  first_options.config = config_for("alpha", "bravo");
  EventNode first(std::move(first_options));
  ASSERT_EQ(first.start(), Errc::ok);
  const StartOutcome taken = start_with([&](EventNodeOptions& o) {
    o.listen_port = first.port();
    o.listen_busy_wait_ms = 20;
  });
  EXPECT_EQ(taken.result, Errc::invalid_argument);
  EXPECT_EQ(taken.port, 0);
  EXPECT_TRUE(taken.peers_empty);
}

TEST(IoContracts, StartRefusesABadPeerAddressAndStartsNothing) {
  const std::vector<PeerAddress> bad_addresses = {
      {"bravo", "300.1.2.3", 7000},    // not an IPv4 address
      {"bravo", "::1", 7000},          // IPv6: the adapter dials IPv4 only
      {"charlie", "127.0.0.1", 7000},  // not one of the node's peers
  };
  for (const PeerAddress& address : bad_addresses) {
    const StartOutcome bad = start_with([&](EventNodeOptions& o) { o.addresses = {address}; });
    EXPECT_EQ(bad.result, Errc::invalid_argument) << address.name << "=" << address.host;
    EXPECT_EQ(bad.port, 0);  // not even the listener was bound
    EXPECT_TRUE(bad.peers_empty);
    EXPECT_TRUE(mentions(bad.errors, address.name)) << address.name;
  }
}

TEST(IoContracts, StartRefusesABadSourceAddressAndStartsNothing) {
  for (const char* host : {"300.1.2.3", "::1"}) {
    const StartOutcome bad = start_with([&](EventNodeOptions& o) { o.source_host = host; });
    EXPECT_EQ(bad.result, Errc::invalid_argument) << host;
    EXPECT_EQ(bad.port, 0) << host;
    EXPECT_TRUE(bad.peers_empty) << host;
    EXPECT_TRUE(mentions(bad.errors, "source")) << host;
  }
}

// The connection to a peer comes from source_host (a fault harness tells nodes on 127/8
// apart by it); without it the kernel picks 127.0.0.1.
TEST(IoContracts, DialsFromTheSourceAddress) {
  const std::string dialer = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
  const std::string acceptor = dialer == "alpha" ? "bravo" : "alpha";
  for (const char* source : {"127.0.0.2", ""}) {
    const testing::LoopbackListener own = testing::listen_on_loopback();
    ASSERT_GE(own.fd, 0);
    const int listener = own.fd;
    EventNodeOptions options;
    options.config = config_for(dialer, acceptor);
    options.addresses.push_back({acceptor, "127.0.0.1", own.port});
    options.source_host = source;
    EventNode node(std::move(options));
    ASSERT_EQ(node.start(), Errc::ok);
    pollfd ready{listener, POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 10'000), 1) << "no connection from " << source;
    sockaddr_in from{};
    socklen_t from_size = sizeof from;
    const int accepted = ::accept(listener, reinterpret_cast<sockaddr*>(&from), &from_size);
    ASSERT_GE(accepted, 0);
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &from.sin_addr, text, sizeof text);
    EXPECT_EQ(std::string(text), *source ? source : "127.0.0.1");
    node.stop();
    ::close(accepted);
    ::close(listener);
  }
}

}  // namespace
}  // namespace weft::io
