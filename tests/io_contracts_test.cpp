// event_node.hpp's contracts, one test each, on real EventNodes over loopback sockets:
// stop() ends every call and stream once with disconnected; a full command queue refuses
// with queue_full and never calls back; a Responder answers once; CallHandle::cancel is
// not_found after the call ended; StreamSession's send queue, on_writable, on_input_end,
// close, fail and open failures. start()'s refusals are in io_start_test.cpp.
//
// Every wait is bounded (wait_until polls against a deadline and the test fails when it
// passes); nothing sleeps a fixed time before asserting. Callbacks run on the loop threads,
// so everything they share with the test thread is atomic or under a mutex.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
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
constexpr std::uint16_t kHold = 2;            // keeps the responder for the test to answer
constexpr std::uint16_t kAnswerTwice = 3;     // answers on the loop thread, then tries again
constexpr std::uint16_t kAnswerAndKeep = 4;   // answers on the loop thread and keeps the responder
constexpr std::uint16_t kStreamSink = 10;     // records messages and the end; closes at input end
constexpr std::uint16_t kStreamProduce = 11;  // writes kProduced messages, then closes
constexpr std::size_t kProduced = 20;

std::string text(const std::vector<std::uint8_t>& bytes) {
  return {bytes.begin(), bytes.end()};
}

// What one stream's callbacks saw, shared between the loop thread and the test.
struct StreamLog {
  std::mutex mutex;
  std::vector<std::string> messages;
  int input_ends = 0;
  std::size_t messages_at_input_end = 0;
  int writables = 0;
  Errc written_from_writable = Errc::ok;
  int ends = 0;
  Errc end_result = Errc::ok;
  std::string end_message;

  int end_count() {
    std::lock_guard lock(mutex);
    return ends;
  }
  Errc result() {
    std::lock_guard lock(mutex);
    return end_result;
  }
  int input_end_count() {
    std::lock_guard lock(mutex);
    return input_ends;
  }
  int writable_count() {
    std::lock_guard lock(mutex);
    return writables;
  }
  std::size_t message_count() {
    std::lock_guard lock(mutex);
    return messages.size();
  }
  // Callbacks that record into this log. `close_at_input_end` closes this side once the
  // peer's half ended; `write_when_writable` writes it from on_writable.
  StreamCallbacks callbacks(bool close_at_input_end, std::string write_when_writable = {}) {
    StreamCallbacks callbacks;
    callbacks.on_message = [this](StreamSession&, Bytes message) {
      std::lock_guard lock(mutex);
      messages.emplace_back(as_chars(message));
    };
    callbacks.on_input_end = [this, close_at_input_end](StreamSession& session) {
      {
        std::lock_guard lock(mutex);
        ++input_ends;
        messages_at_input_end = messages.size();
      }
      if (close_at_input_end) session.close();
    };
    callbacks.on_writable = [this, write_when_writable](StreamSession& session) {
      const Errc written =
          write_when_writable.empty() ? Errc::ok : session.write(as_bytes(write_when_writable));
      std::lock_guard lock(mutex);
      if (++writables == 1) written_from_writable = written;
    };
    callbacks.on_end = [this](StreamSession&, Errc result, std::string_view message) {
      std::lock_guard lock(mutex);
      if (++ends == 1) {
        end_result = result;
        end_message = std::string(message);
      }
    };
    return callbacks;
  }
};

// What one node serves, shared with the test thread: held responders and the logs of the
// streams it serves.
struct Served {
  std::mutex mutex;
  std::vector<Responder> held;
  std::vector<PeerName> held_peers;  // IncomingRequest::peer of each held request
  std::vector<std::shared_ptr<StreamLog>> streams;
  std::vector<StreamSession> sessions;
  std::vector<std::array<bool, 3>> answered_twice;  // respond, respond again, fail

  std::size_t held_count() {
    std::lock_guard lock(mutex);
    return held.size();
  }
  Responder held_at(std::size_t i) {
    std::lock_guard lock(mutex);
    return held.at(i);
  }
  std::size_t stream_count() {
    std::lock_guard lock(mutex);
    return streams.size();
  }
  std::shared_ptr<StreamLog> stream_at(std::size_t i) {
    std::lock_guard lock(mutex);
    return streams.at(i);
  }
};

void serve(EventNode& node, Served& served) {
  node.handle(kEcho, "",
              [](IncomingRequest&& request) { request.responder.respond(request.payload); });
  node.handle(kHold, "", [&served](IncomingRequest&& request) {
    std::lock_guard lock(served.mutex);
    served.held.push_back(request.responder);
    served.held_peers.push_back(request.peer);
  });
  node.handle(kAnswerAndKeep, "", [&served](IncomingRequest&& request) {
    request.responder.respond(request.payload);
    std::lock_guard lock(served.mutex);
    served.held.push_back(request.responder);
  });
  node.handle(kAnswerTwice, "", [&served](IncomingRequest&& request) {
    const bool first = request.responder.respond(as_bytes("first"));
    const bool second = request.responder.respond(as_bytes("second"));
    const bool failed = request.responder.fail(Errc::remote_error, "third");
    std::lock_guard lock(served.mutex);
    served.answered_twice.push_back({first, second, failed});
  });
  auto record = [&served](bool produce) {
    return [&served, produce](const IncomingStream&, StreamSession session) {
      auto log = std::make_shared<StreamLog>();
      {
        std::lock_guard lock(served.mutex);
        served.streams.push_back(log);
        served.sessions.push_back(session);
      }
      if (produce) {
        for (std::size_t i = 0; i < kProduced; ++i)
          session.write(as_bytes("p" + std::to_string(i)));
        session.close();
      }
      return log->callbacks(!produce);
    };
  };
  node.handle_stream(kStreamSink, "", StreamWindow{8, 1 << 20}, record(false));
  node.handle_stream(kStreamProduce, "", StreamWindow{8, 1 << 20}, record(true));
}

// Two connected EventNodes on loopback, both serving the handlers above. `adjust` changes
// the dialing node's options (the one the tests mostly drive).
class Pair {
 public:
  explicit Pair(const std::function<void(EventNodeOptions&)>& adjust = {}) {
    dialer_name_ = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    acceptor_name_ = dialer_name_ == "alpha" ? "bravo" : "alpha";
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name_, dialer_name_);
    acceptor_ = std::make_unique<EventNode>(std::move(accepting));
    serve(*acceptor_, acceptor_served_);
    EXPECT_EQ(acceptor_->start(), Errc::ok);
    EventNodeOptions dialing;
    dialing.config = config_for(dialer_name_, acceptor_name_);
    dialing.addresses.push_back({acceptor_name_, "127.0.0.1", acceptor_->port()});
    if (adjust) adjust(dialing);
    dialer_ = std::make_unique<EventNode>(std::move(dialing));
    serve(*dialer_, dialer_served_);
    EXPECT_EQ(dialer_->start(), Errc::ok);
  }

  EventNode& dialer() { return *dialer_; }
  EventNode& acceptor() { return *acceptor_; }
  const std::string& acceptor_name() const { return acceptor_name_; }
  const std::string& dialer_name() const { return dialer_name_; }
  Served& acceptor_served() { return acceptor_served_; }
  Served& dialer_served() { return dialer_served_; }

  // Both nodes see each other established.
  bool wait_connected() {
    auto established = [](EventNode& node) {
      const auto peers = node.peers();
      return !peers.empty() && peers[0].stats.state == PeerState::established;
    };
    return wait_until([&] { return established(*dialer_) && established(*acceptor_); });
  }

 private:
  // Declared before the nodes: the nodes' handlers use them until the nodes stop.
  Served acceptor_served_;
  Served dialer_served_;
  std::string dialer_name_;
  std::string acceptor_name_;
  std::unique_ptr<EventNode> acceptor_;
  std::unique_ptr<EventNode> dialer_;
};

// Counts a reply callback's runs and keeps the first reply's error.
struct ReplyLog {
  std::atomic<int> runs{0};
  std::atomic<Errc> error{Errc::ok};
  ReplyCallback callback() {
    return [this](Reply&& reply) {
      if (runs.fetch_add(1) == 0) error = reply.error;
    };
  }
};

// ---- stop() ---------------------------------------------------------------------------------

TEST(IoContracts, StopEndsEveryPendingCallAndOpenStreamOnceWithDisconnected) {
  constexpr std::size_t kCalls = 5;
  constexpr std::size_t kStreams = 3;
  // Declared before the nodes: callbacks that still run when they stop use them.
  ReplyLog dialer_calls[kCalls];
  ReplyLog acceptor_calls[kCalls];
  StreamLog dialer_opened[kStreams];
  StreamLog acceptor_opened[kStreams];
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  // The dialer is stopped. It has calls out (held by the acceptor), calls in (held by
  // itself), streams it opened and streams it serves; the acceptor has the mirror image.
  for (std::size_t i = 0; i < kCalls; ++i) {
    ASSERT_EQ(pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("out"), 0,
                                    dialer_calls[i].callback()),
              Errc::ok);
    ASSERT_EQ(pair.acceptor().request(pair.dialer_name(), kHold, as_bytes("in"), 0,
                                      acceptor_calls[i].callback()),
              Errc::ok);
  }
  for (std::size_t i = 0; i < kStreams; ++i) {
    pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr, true, {}, 0,
                              dialer_opened[i].callbacks(false));
    pair.acceptor().open_stream(pair.dialer_name(), kStreamSink, {}, nullptr, true, {}, 0,
                                acceptor_opened[i].callbacks(false));
  }
  ASSERT_TRUE(wait_until([&] {
    return pair.acceptor_served().held_count() == kCalls &&
           pair.dialer_served().held_count() == kCalls &&
           pair.acceptor_served().stream_count() == kStreams &&
           pair.dialer_served().stream_count() == kStreams;
  }));

  pair.dialer().stop();  // joins the loop: every callback of the dialer has run

  for (std::size_t i = 0; i < kCalls; ++i) {
    EXPECT_EQ(dialer_calls[i].runs.load(), 1) << "call " << i;
    EXPECT_EQ(dialer_calls[i].error.load(), Errc::disconnected) << "call " << i;
    // The requests it was serving ended too: their answers are refused.
    Responder held = pair.dialer_served().held_at(i);
    EXPECT_TRUE(held.canceled());
    EXPECT_FALSE(held.respond(as_bytes("after stop")));
  }
  for (std::size_t i = 0; i < kStreams; ++i) {
    EXPECT_EQ(dialer_opened[i].end_count(), 1) << "opened stream " << i;
    EXPECT_EQ(dialer_opened[i].result(), Errc::disconnected);
    std::shared_ptr<StreamLog> serving = pair.dialer_served().stream_at(i);
    EXPECT_EQ(serving->end_count(), 1) << "served stream " << i;
    EXPECT_EQ(serving->result(), Errc::disconnected);
  }

  // The acceptor loses the connection: its side of everything ends once, disconnected.
  ASSERT_TRUE(wait_until([&] {
    for (std::size_t i = 0; i < kCalls; ++i)
      if (acceptor_calls[i].runs == 0) return false;
    for (std::size_t i = 0; i < kStreams; ++i) {
      if (acceptor_opened[i].end_count() == 0) return false;
      if (pair.acceptor_served().stream_at(i)->end_count() == 0) return false;
    }
    return true;
  }));
  pair.acceptor().stop();  // after this no callback can run any more: count them
  for (std::size_t i = 0; i < kCalls; ++i) {
    EXPECT_EQ(acceptor_calls[i].runs.load(), 1);
    EXPECT_EQ(acceptor_calls[i].error.load(), Errc::disconnected);
  }
  for (std::size_t i = 0; i < kStreams; ++i) {
    EXPECT_EQ(acceptor_opened[i].end_count(), 1);
    EXPECT_EQ(acceptor_opened[i].result(), Errc::disconnected);
    EXPECT_EQ(pair.acceptor_served().stream_at(i)->end_count(), 1);
    EXPECT_EQ(pair.acceptor_served().stream_at(i)->result(), Errc::disconnected);
  }
}

TEST(IoContracts, AfterStopEveryCallFailsWithShuttingDown) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  ReplyLog refused;
  StreamLog never_opened;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  pair.dialer().stop();
  EXPECT_EQ(
      pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"), 0, refused.callback()),
      Errc::shutting_down);
  EXPECT_EQ(reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"))).error,
            Errc::shutting_down);
  EXPECT_EQ(pair.dialer().run_on_loop([] {}), Errc::shutting_down);
  StreamSession session = pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr,
                                                    true, {}, 0, never_opened.callbacks(false));
  EXPECT_TRUE(session.ended());
  EXPECT_EQ(never_opened.end_count(), 1);
  EXPECT_EQ(never_opened.result(), Errc::shutting_down);
  EXPECT_EQ(session.write(as_bytes("x")), Errc::not_found);
  EXPECT_TRUE(pair.dialer().peers().empty());
  pair.dialer().stop();               // idempotent
  EXPECT_EQ(refused.runs.load(), 0);  // refused calls never call back
}

TEST(IoContracts, CallQueuedWhenStopBeginsEndsExactlyOnce) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  ReplyLog queued;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  std::thread stopper;
  {
    LoopFreeze blocker(pair.dialer());
    ASSERT_TRUE(blocker.wait_held());
    ASSERT_EQ(
        pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("x"), 0, queued.callback()),
        Errc::ok);
    stopper = std::thread([&pair] { pair.dialer().stop(); });
    // stop() has begun once new commands are refused; only then let the loop go on.
    const bool refusing =
        wait_until([&] { return pair.dialer().run_on_loop([] {}) == Errc::shutting_down; });
    blocker.release();
    stopper.join();
    ASSERT_TRUE(refusing);
  }
  // The call was handed over before stop(): it ran and was then disconnected, or never ran
  // and was failed with shutting_down. Either way exactly once.
  EXPECT_EQ(queued.runs.load(), 1);
  const Errc error = queued.error.load();
  EXPECT_TRUE(error == Errc::disconnected || error == Errc::shutting_down) << errc_name(error);
}

// ---- the command queue ----------------------------------------------------------------------

TEST(IoContracts, FullCommandQueueRefusesWithQueueFullAndNeverCallsBack) {
  constexpr std::size_t kCapacity = 2;
  // Declared before the nodes: callbacks that still run when they stop use them.
  ReplyLog answered;
  std::atomic<int> accepted_ran{0};
  ReplyLog refused;
  StreamLog refused_stream;
  Pair pair([](EventNodeOptions& options) { options.command_queue_capacity = kCapacity; });
  ASSERT_TRUE(pair.wait_connected());
  // An incoming request the dialer serves, answered while its queue is full.
  ASSERT_EQ(
      pair.acceptor().request(pair.dialer_name(), kHold, as_bytes("in"), 0, answered.callback()),
      Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pair.dialer_served().held_count() == 1; }));
  Responder responder = pair.dialer_served().held_at(0);

  {
    LoopFreeze blocker(pair.dialer());
    ASSERT_EQ(blocker.posted(), Errc::ok);
    ASSERT_TRUE(blocker.wait_held());  // the loop took the blocker: the queue is empty
    // At the boundary: exactly kCapacity commands wait.
    for (std::size_t i = 0; i < kCapacity; ++i)
      ASSERT_EQ(pair.dialer().run_on_loop([&] { ++accepted_ran; }), Errc::ok);
    // One past it: every way of handing work to the loop says queue_full.
    EXPECT_EQ(pair.dialer().run_on_loop([&] { ++accepted_ran; }), Errc::queue_full);
    EXPECT_EQ(
        pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"), 0, refused.callback()),
        Errc::queue_full);
    EXPECT_EQ(reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("x"))).error,
              Errc::queue_full);
    StreamSession session =
        pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr, true, {}, 0,
                                  refused_stream.callbacks(false));
    EXPECT_TRUE(session.ended());
    EXPECT_EQ(refused_stream.end_count(), 1);  // open failures are reported through on_end
    EXPECT_EQ(refused_stream.result(), Errc::queue_full);
    // A refused answer must not use up the responder: it can be sent once there is room.
    EXPECT_FALSE(responder.respond(as_bytes("no room")));
    blocker.release();
  }
  ASSERT_TRUE(wait_until([&] { return accepted_ran == static_cast<int>(kCapacity); }));
  EXPECT_TRUE(responder.respond(as_bytes("room again")));
  ASSERT_TRUE(wait_until([&] { return answered.runs == 1; }));
  EXPECT_EQ(answered.error.load(), Errc::ok);
  // Everything works again once the loop drains.
  EXPECT_EQ(reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("y"))).error,
            Errc::ok);
  pair.dialer().stop();
  EXPECT_EQ(accepted_ran.load(), static_cast<int>(kCapacity));  // the refused one never ran
  EXPECT_EQ(refused.runs.load(), 0);                            // `done` is never called
  EXPECT_EQ(refused_stream.end_count(), 1);                     // on_end exactly once
}

// ---- Responder and CallHandle ---------------------------------------------------------------

TEST(IoContracts, ResponderAnswersOnceSecondRespondAndLaterFailReturnFalse) {
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  // On the loop thread, inside the handler.
  Reply twice =
      reply_within(pair.dialer().request(pair.acceptor_name(), kAnswerTwice, as_bytes("x")));
  EXPECT_EQ(twice.error, Errc::ok);
  EXPECT_EQ(text(twice.payload), "first");
  {
    std::lock_guard lock(pair.acceptor_served().mutex);
    ASSERT_EQ(pair.acceptor_served().answered_twice.size(), 1u);
    EXPECT_EQ(pair.acceptor_served().answered_twice[0], (std::array<bool, 3>{true, false, false}));
  }
  // From the test thread: respond, then respond and fail again.
  auto responded = pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("a"));
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().held_count() == 1; }));
  Responder first = pair.acceptor_served().held_at(0);
  EXPECT_TRUE(first.respond(as_bytes("one")));
  EXPECT_FALSE(first.respond(as_bytes("two")));
  EXPECT_FALSE(first.fail(Errc::remote_error, "three"));
  Reply one = reply_within(std::move(responded));
  EXPECT_EQ(one.error, Errc::ok);
  EXPECT_EQ(text(one.payload), "one");
  // fail first; fail(ok) is no answer and leaves the responder usable.
  auto failed = pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("b"));
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().held_count() == 2; }));
  Responder second = pair.acceptor_served().held_at(1);
  EXPECT_FALSE(second.fail(Errc::ok, "not an error"));
  EXPECT_TRUE(second.fail(Errc::remote_error, "disk full"));
  EXPECT_FALSE(second.respond(as_bytes("late")));
  EXPECT_FALSE(second.fail(Errc::remote_error, "again"));
  Reply error = reply_within(std::move(failed));
  EXPECT_EQ(error.error, Errc::remote_error);
  EXPECT_EQ(text(error.payload), "disk full");
  EXPECT_FALSE(Responder().respond(as_bytes("no request")));
}

// The adapter reuses a responder's state once its request was answered and nothing holds
// it: one the handler kept must stay its own request's, answered, whatever comes after.
TEST(IoContracts, AResponderKeptPastItsAnswerNeverAnswersALaterRequest) {
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  Reply kept =
      reply_within(pair.dialer().request(pair.acceptor_name(), kAnswerAndKeep, as_bytes("kept")));
  EXPECT_EQ(text(kept.payload), "kept");
  // Answered in their handlers and dropped: their states are the ones reused.
  for (int i = 0; i < 3; ++i) {
    const std::string payload = "echo " + std::to_string(i);
    EXPECT_EQ(
        text(reply_within(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes(payload)))
                 .payload),
        payload);
  }
  auto later = pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("later"));
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().held_count() == 2; }));
  Responder first = pair.acceptor_served().held_at(0);
  EXPECT_FALSE(first.canceled());
  EXPECT_FALSE(first.respond(as_bytes("stale")));
  EXPECT_FALSE(first.fail(Errc::remote_error, "stale"));
  EXPECT_EQ(later.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  EXPECT_TRUE(pair.acceptor_served().held_at(1).respond(as_bytes("its own")));
  Reply own = reply_within(std::move(later));
  EXPECT_EQ(own.error, Errc::ok);
  EXPECT_EQ(text(own.payload), "its own");
}

// IncomingRequest::peer names the caller, shares its bytes with every other request from
// that peer (the node keeps one copy, not one per request), and may be kept past the
// request, past the peer's removal and past the node itself.
TEST(IoContracts, ARequestsPeerNameIsTheCallersSharedAndOutlivesTheNode) {
  auto pair = std::make_unique<Pair>();
  ASSERT_TRUE(pair->wait_connected());
  const std::string dialer_name = pair->dialer_name();
  auto first = pair->dialer().request(pair->acceptor_name(), kHold, as_bytes("a"));
  auto second = pair->dialer().request(pair->acceptor_name(), kHold, as_bytes("b"));
  ASSERT_TRUE(wait_until([&] { return pair->acceptor_served().held_count() == 2; }));
  std::vector<PeerName> kept;
  {
    std::lock_guard lock(pair->acceptor_served().mutex);
    kept = pair->acceptor_served().held_peers;
  }
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0], dialer_name);
  EXPECT_EQ(kept[1].str(), dialer_name);
  EXPECT_EQ(kept[0].view().data(), kept[1].view().data());
  EXPECT_TRUE(pair->acceptor_served().held_at(0).respond(as_bytes("one")));
  EXPECT_TRUE(pair->acceptor_served().held_at(1).respond(as_bytes("two")));
  EXPECT_EQ(reply_within(std::move(first)).error, Errc::ok);
  EXPECT_EQ(reply_within(std::move(second)).error, Errc::ok);
  EXPECT_EQ(pair->acceptor().remove_peer(dialer_name), Errc::ok);
  pair.reset();  // both nodes stop and are destroyed
  EXPECT_EQ(kept[0], dialer_name);
  EXPECT_EQ(std::string(kept[1]), dialer_name);
  EXPECT_TRUE(PeerName().empty());
  EXPECT_EQ(PeerName(), std::string_view());
}

TEST(IoContracts, CancelIsOkWhilePendingAndNotFoundAfterTheCallEnded) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  ReplyLog pending;
  ReplyLog answered;
  ReplyLog nobody;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  EXPECT_EQ(CallHandle().cancel(), Errc::not_found);  // never started
  // Pending: ok, the reply says canceled and the serving side sees it.
  CallHandle handle;
  ASSERT_EQ(pair.dialer().request(pair.acceptor_name(), kHold, as_bytes("x"), 0, pending.callback(),
                                  {}, &handle),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().held_count() == 1; }));
  EXPECT_EQ(handle.cancel(), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return pending.runs == 1; }));
  EXPECT_EQ(pending.error.load(), Errc::canceled);
  Responder held = pair.acceptor_served().held_at(0);
  EXPECT_TRUE(wait_until([&] { return held.canceled(); }));
  // Ended by the cancel: a second cancel finds nothing.
  EXPECT_EQ(handle.cancel(), Errc::not_found);
  // Ended by its reply.
  CallHandle answered_handle;
  ASSERT_EQ(pair.dialer().request(pair.acceptor_name(), kEcho, as_bytes("y"), 0,
                                  answered.callback(), {}, &answered_handle),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return answered.runs == 1; }));
  EXPECT_EQ(answered.error.load(), Errc::ok);
  EXPECT_EQ(answered_handle.cancel(), Errc::not_found);
  // Never started (no such peer: the reply says so at once).
  CallHandle nobody_handle;
  ASSERT_EQ(pair.dialer().request("nobody", kEcho, as_bytes("z"), 0, nobody.callback(), {},
                                  &nobody_handle),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return nobody.runs == 1; }));
  EXPECT_EQ(nobody.error.load(), Errc::unknown_peer);
  EXPECT_EQ(nobody_handle.cancel(), Errc::not_found);
  pair.dialer().stop();
  EXPECT_EQ(pending.runs.load(), 1);  // the cancel did not add a second reply
}

// ---- StreamSession --------------------------------------------------------------------------

TEST(IoContracts, StreamWriteIsQueueFullPastTheSendQueueAndOnWritableFollowsTheDrain) {
  constexpr std::size_t kQueue = 4;
  // Declared before the nodes: callbacks that still run when they stop use them.
  StreamLog opener;
  Pair pair([](EventNodeOptions& options) { options.stream_send_queue_messages = kQueue; });
  ASSERT_TRUE(pair.wait_connected());
  StreamSession session =
      pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr, true, {}, 0,
                                opener.callbacks(true, /*write_when_writable=*/"from on_writable"));
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().stream_count() == 1; }));
  {
    // With the loop held nothing leaves the session's queue.
    LoopFreeze blocker(pair.dialer());
    ASSERT_TRUE(blocker.wait_held());
    for (std::size_t i = 0; i < kQueue; ++i)
      ASSERT_EQ(session.write(as_bytes("m" + std::to_string(i))), Errc::ok) << i;
    EXPECT_EQ(session.write(as_bytes("one too many")), Errc::queue_full);
    EXPECT_EQ(opener.writable_count(), 0);
    blocker.release();
  }
  ASSERT_TRUE(wait_until([&] { return opener.writable_count() >= 1; }));
  {
    std::lock_guard lock(opener.mutex);
    EXPECT_EQ(opener.written_from_writable, Errc::ok);  // there is room from on_writable
  }
  std::shared_ptr<StreamLog> served = pair.acceptor_served().stream_at(0);
  ASSERT_TRUE(wait_until([&] { return served->message_count() == kQueue + 1; }));
  ASSERT_EQ(session.close(), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return opener.end_count() == 1 && served->end_count() == 1; }));
  std::lock_guard lock(served->mutex);
  EXPECT_EQ(served->messages,
            (std::vector<std::string>{"m0", "m1", "m2", "m3", "from on_writable"}));
  EXPECT_EQ(served->end_result, Errc::ok);
  std::lock_guard opener_lock(opener.mutex);
  EXPECT_EQ(opener.writables, 1);  // once per queue_full
  EXPECT_EQ(opener.end_result, Errc::ok);
}

TEST(IoContracts, OnInputEndRunsOnceAfterThePeerClosedAndEveryMessageArrived) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  StreamLog opener;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  // A window of 2 messages: the producer's 20 messages wait for credit along the way.
  StreamSession session =
      pair.dialer().open_stream(pair.acceptor_name(), kStreamProduce, {}, nullptr, false,
                                StreamWindow{2, 1 << 20}, 0, opener.callbacks(true));
  ASSERT_TRUE(wait_until([&] { return opener.end_count() == 1; }));
  std::lock_guard lock(opener.mutex);
  EXPECT_EQ(opener.input_ends, 1);
  EXPECT_EQ(opener.messages_at_input_end, kProduced);
  ASSERT_EQ(opener.messages.size(), kProduced);
  for (std::size_t i = 0; i < kProduced; ++i)
    EXPECT_EQ(opener.messages[i], "p" + std::to_string(i));
  EXPECT_EQ(opener.end_result, Errc::ok);  // both halves closed
  EXPECT_EQ(opener.writables, 0);          // no write was refused
  EXPECT_TRUE(session.ended());
}

// A stream from the dialer to the acceptor's sink, with input, recorded by `opener`.
StreamSession open_to_sink(Pair& pair, StreamLog& opener) {
  return pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr, true, {}, 0,
                                   opener.callbacks(false));
}

TEST(IoContracts, CloseEndsThisHalfAfterItsMessagesAndRefusesLaterWrites) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  StreamLog opener;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  StreamSession session = open_to_sink(pair, opener);
  {
    // Held, the loop cannot end the stream yet: closed, not ended, is what the calls see
    // (otherwise the peer's end could race them and make it not_found).
    LoopFreeze blocker(pair.dialer());
    ASSERT_TRUE(blocker.wait_held());
    ASSERT_EQ(session.write(as_bytes("a")), Errc::ok);
    ASSERT_EQ(session.write(as_bytes("b")), Errc::ok);
    ASSERT_EQ(session.close(), Errc::ok);
    EXPECT_EQ(session.write(as_bytes("c")), Errc::stream_closed);
    EXPECT_EQ(session.close(), Errc::stream_closed);
    EXPECT_EQ(session.fail(Errc::remote_error, "x"), Errc::stream_closed);
  }
  // The peer reads both messages, then the end; it closes its half and the stream ends.
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().stream_count() == 1; }));
  std::shared_ptr<StreamLog> served = pair.acceptor_served().stream_at(0);
  ASSERT_TRUE(wait_until([&] { return opener.end_count() == 1 && served->end_count() == 1; }));
  {
    std::lock_guard lock(served->mutex);
    EXPECT_EQ(served->messages, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(served->input_ends, 1);
    EXPECT_EQ(served->end_result, Errc::ok);
  }
  EXPECT_EQ(opener.result(), Errc::ok);
  EXPECT_EQ(opener.input_end_count(), 1);  // the peer's half ended normally too
  EXPECT_TRUE(session.ended());
  EXPECT_EQ(session.write(as_bytes("d")), Errc::not_found);
  EXPECT_EQ(session.close(), Errc::not_found);
  EXPECT_EQ(session.cancel(), Errc::not_found);
  EXPECT_EQ(StreamSession().write(as_bytes("e")), Errc::not_found);
}

TEST(IoContracts, FailEndsTheStreamAndThePeerReadsTheCodeAndMessageAfterTheMessages) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  StreamLog opener;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  StreamSession session = open_to_sink(pair, opener);
  {
    // Held, the loop cannot end the stream yet (a failed stream ends on this side at once):
    // the write after fail() sees this side closed, not a stream that ended.
    LoopFreeze blocker(pair.dialer());
    ASSERT_TRUE(blocker.wait_held());
    ASSERT_EQ(session.write(as_bytes("row 1")), Errc::ok);
    ASSERT_EQ(session.write(as_bytes("row 2")), Errc::ok);
    // An error needs an error code: fail(ok) is refused and leaves the stream as it was.
    EXPECT_EQ(session.fail(Errc::ok, "not an error"), Errc::invalid_argument);
    ASSERT_EQ(session.fail(Errc::bad_payload, "row 3 does not parse"), Errc::ok);
    EXPECT_EQ(session.write(as_bytes("row 4")), Errc::stream_closed);
  }
  ASSERT_TRUE(wait_until([&] { return pair.acceptor_served().stream_count() == 1; }));
  std::shared_ptr<StreamLog> served = pair.acceptor_served().stream_at(0);
  ASSERT_TRUE(wait_until([&] { return opener.end_count() == 1 && served->end_count() == 1; }));
  {
    std::lock_guard lock(served->mutex);
    EXPECT_EQ(served->messages, (std::vector<std::string>{"row 1", "row 2"}));
    EXPECT_EQ(served->end_result, Errc::bad_payload);
    EXPECT_EQ(served->end_message, "row 3 does not parse");
    EXPECT_EQ(served->input_ends, 0);  // a failed input did not end normally
  }
  std::lock_guard lock(opener.mutex);
  EXPECT_EQ(opener.end_result, Errc::bad_payload);
}

TEST(IoContracts, StreamOpenFailuresAreReportedThroughOnEnd) {
  // Declared before the nodes: callbacks that still run when they stop use them.
  StreamLog unknown_handler;
  StreamLog unknown_peer;
  StreamLog not_connected;
  Pair pair;
  ASSERT_TRUE(pair.wait_connected());
  StreamSession no_handler = pair.dialer().open_stream(pair.acceptor_name(), 77, {}, nullptr, true,
                                                       {}, 0, unknown_handler.callbacks(false));
  StreamSession no_peer = pair.dialer().open_stream("nobody", kStreamSink, {}, nullptr, true, {}, 0,
                                                    unknown_peer.callbacks(false));
  ASSERT_TRUE(wait_until(
      [&] { return unknown_handler.end_count() == 1 && unknown_peer.end_count() == 1; }));
  EXPECT_EQ(unknown_handler.result(), Errc::unknown_handler);
  EXPECT_EQ(unknown_peer.result(), Errc::unknown_peer);
  EXPECT_TRUE(no_handler.ended());
  EXPECT_TRUE(no_peer.ended());
  EXPECT_EQ(pair.acceptor_served().stream_count(), 0u);
  // A known peer that is not connected (its node is gone).
  pair.acceptor().stop();
  ASSERT_TRUE(wait_until([&] {
    const auto peers = pair.dialer().peers();
    return !peers.empty() && peers[0].stats.state != PeerState::established;
  }));
  pair.dialer().open_stream(pair.acceptor_name(), kStreamSink, {}, nullptr, true, {}, 0,
                            not_connected.callbacks(false));
  ASSERT_TRUE(wait_until([&] { return not_connected.end_count() == 1; }));
  EXPECT_EQ(not_connected.result(), Errc::disconnected);
  pair.dialer().stop();
  EXPECT_EQ(unknown_handler.end_count(), 1);
  EXPECT_EQ(unknown_peer.end_count(), 1);
  EXPECT_EQ(not_connected.end_count(), 1);
}

}  // namespace
}  // namespace weft::io
