// StreamSession::try_write (issue 19): a write that never queues, for a producer on the
// loop thread that on_writable pulls. It takes a message only when the message goes into
// the core at once; otherwise it returns no_credit, takes nothing, and on_writable follows
// whichever of the three things held the message back: the peer's window, the connection's
// output above its high-water mark, or messages queued before it by write().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io_stream_nodes.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::expect_both_ends;
using testing::kSink;
using testing::Nodes;
using testing::wait_until;

// Writes messages message(next) .. message(total - 1) with try_write from the loop thread,
// resumed by on_writable, then closes. Counts what try_write answered.
struct Producer {
  std::size_t total = 0;
  std::size_t message_bytes = 0;
  std::size_t next = 0;  // loop thread
  std::atomic<std::size_t> refused{0};
  std::atomic<std::size_t> other_errors{0};
  std::atomic<std::size_t> writables{0};
  std::atomic<bool> closed{false};
  testing::Opener opener;

  std::string message(std::size_t i) const {
    std::string text = std::to_string(i) + ":";
    text.resize(std::max(text.size(), message_bytes), static_cast<char>('a' + i % 26));
    return text;
  }
  // Writes until try_write refuses; true when it did (on_writable resumes the producer).
  bool produce(StreamSession& session) {
    while (next < total) {
      const Errc written = session.try_write(as_bytes(message(next)));
      if (written == Errc::no_credit) {
        ++refused;
        return true;
      }
      if (written != Errc::ok) {
        ++other_errors;
        return false;
      }
      ++next;
    }
    if (!closed.exchange(true)) {
      EXPECT_EQ(session.close(), Errc::ok);
    }
    return false;
  }
  // Opens the producer's stream from the dialer to the sink.
  StreamSession open(Nodes& nodes) {
    return nodes.dialer->open_stream(nodes.peer, kSink, {}, nullptr, true, {}, 0, callbacks());
  }
  StreamCallbacks callbacks() {
    StreamCallbacks callbacks = opener.callbacks();  // its on_end records the end
    callbacks.on_writable = [this](StreamSession& session) {
      ++writables;
      produce(session);
    };
    return callbacks;
  }
  // Waits (at most 20 s) for the opener's end.
  ::testing::AssertionResult ended_with(Errc expected) {
    std::unique_lock lock(opener.mutex);
    if (!opener.changed.wait_for(lock, 20s, [&] { return opener.ended; }))
      return ::testing::AssertionFailure() << "the opener's side never ended";
    if (opener.end_result != expected)
      return ::testing::AssertionFailure() << "ended with " << errc_name(opener.end_result);
    return ::testing::AssertionSuccess();
  }
};

// Every message i arrived once, in order, with its bytes.
void expect_received_in_order(Nodes& nodes, const Producer& producer) {
  std::lock_guard lock(nodes.sink.mutex);
  ASSERT_EQ(nodes.sink.received.size(), producer.total);
  for (std::size_t i = 0; i < producer.total; ++i)
    ASSERT_EQ(nodes.sink.received[i], producer.message(i)) << "message " << i;
}

// A window of 16 messages holds the producer back again and again: each refusal takes
// nothing (the refused message is the next one written, so the order shows it), and each
// is followed by on_writable, or the producer would stop short of the total.
TEST(IoStreamTryWrite, APullProducerIsWokenAfterEachRefusalAndLosesNothing) {
  Nodes nodes(StreamWindow{16, 1 << 20}, /*send_queue_messages=*/4096);
  Producer producer;
  producer.total = 5'000;
  producer.message_bytes = 64;
  StreamSession session = producer.open(nodes);
  ASSERT_EQ(nodes.dialer->run_on_loop([&] { producer.produce(session); }), Errc::ok);
  ASSERT_TRUE(producer.ended_with(Errc::ok));
  ASSERT_TRUE(wait_until([&] { return nodes.sink.ended.load(); }));
  EXPECT_EQ(nodes.sink.end_result.load(), Errc::ok);
  EXPECT_EQ(producer.other_errors.load(), 0u);
  // At least one refusal per window's worth of messages, each answered by on_writable.
  EXPECT_GE(producer.refused.load(), producer.total / 16);
  EXPECT_EQ(producer.writables.load(), producer.refused.load());
  expect_received_in_order(nodes, producer);
}

// Written in one loop turn, nothing reaches the socket meanwhile, so the output climbs to
// its high-water mark: try_write then refuses (credit to spare: the window is 4096
// messages), and the output's fall below the mark wakes the producer.
TEST(IoStreamTryWrite, TheOutputsHighWaterMarkHoldsItBackAndItsFallWakesIt) {
  constexpr std::size_t kHighWaterBytes = 16 * 1024;
  constexpr std::size_t kMessageBytes = 1000;
  Nodes nodes(StreamWindow{4096, 32u << 20}, /*send_queue_messages=*/4096,
              /*command_queue_capacity=*/1 << 16, kHighWaterBytes);
  Producer producer;
  producer.total = 2'000;  // 2 MB
  producer.message_bytes = kMessageBytes;
  producer.next = 1;  // message 0 opens the stream, through write()
  StreamSession session = producer.open(nodes);
  // Once message 0 arrived, the window's credit is here.
  ASSERT_EQ(session.write(as_bytes(producer.message(0))), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return nodes.sink.messages.load() == 1; }));
  // One turn's worth: the writes stop at the mark, one frame past it at most.
  std::promise<std::size_t> accepted_in_turn;
  std::promise<std::size_t> output_bytes;
  ASSERT_EQ(nodes.dialer->run_on_loop([&] {
    const std::size_t before = producer.next;
    producer.produce(session);
    accepted_in_turn.set_value(producer.next - before);
    for (const PeerStatus& peer : nodes.dialer->peers()) {  // inline on the loop thread
      if (peer.name == nodes.peer) output_bytes.set_value(peer.stats.output_bytes);
    }
  }),
            Errc::ok);
  const std::size_t accepted = accepted_in_turn.get_future().get();
  EXPECT_GE(accepted, 1u);
  EXPECT_LE(accepted, kHighWaterBytes / kMessageBytes + 1);
  EXPECT_LT(output_bytes.get_future().get(), kHighWaterBytes + 2 * kMessageBytes);
  ASSERT_TRUE(producer.ended_with(Errc::ok));
  ASSERT_TRUE(wait_until([&] { return nodes.sink.ended.load(); }));
  EXPECT_EQ(producer.other_errors.load(), 0u);
  EXPECT_GT(producer.refused.load(), 0u);
  expect_received_in_order(nodes, producer);
}

// Messages write() queued wait for credit; try_write never overtakes them: it refuses
// while any is queued, and on_writable comes once they all went.
TEST(IoStreamTryWrite, ItNeverOvertakesMessagesQueuedByWrite) {
  Nodes nodes(StreamWindow{4, 1 << 20}, /*send_queue_messages=*/4096);
  nodes.sink.defer_all = true;  // credit comes back only as the test consumes
  Producer producer;
  producer.total = 60;
  producer.message_bytes = 10;
  producer.next = 50;  // 0..49 go through write() first
  StreamSession session = producer.open(nodes);
  std::promise<Errc> first_try;
  ASSERT_EQ(nodes.dialer->run_on_loop([&] {
    for (std::size_t i = 0; i < 50; ++i)
      EXPECT_EQ(session.write(as_bytes(producer.message(i))), Errc::ok);
    first_try.set_value(session.try_write(as_bytes(producer.message(50))));
  }),
            Errc::ok);
  EXPECT_EQ(first_try.get_future().get(), Errc::no_credit);
  ASSERT_TRUE(nodes.consume_each_until([&] { return nodes.sink.ended.load(); }, 20s));
  ASSERT_TRUE(producer.ended_with(Errc::ok));
  EXPECT_EQ(nodes.sink.end_result.load(), Errc::ok);
  EXPECT_EQ(producer.other_errors.load(), 0u);
  expect_received_in_order(nodes, producer);
}

// A write() from another thread that returned ok is on its way to the loop (a command not
// run yet); try_write on the loop thread must not overtake it either.
TEST(IoStreamTryWrite, ItNeverOvertakesAWriteFromAnotherThreadOnItsWayToTheLoop) {
  Nodes nodes(StreamWindow{16, 1 << 20}, /*send_queue_messages=*/16);
  Producer producer;
  producer.total = 3;
  producer.message_bytes = 10;
  producer.next = 2;  // 0 and 1 through write() from other threads
  StreamSession session = producer.open(nodes);
  ASSERT_EQ(session.write(as_bytes(producer.message(0))), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return nodes.sink.messages.load() == 1; }));  // credit is here
  std::promise<Errc> tried;
  ASSERT_EQ(nodes.dialer->run_on_loop([&] {
    // The loop is busy here: the other thread's write waits in the command queue.
    std::thread other([&] { EXPECT_EQ(session.write(as_bytes(producer.message(1))), Errc::ok); });
    other.join();
    const Errc result = session.try_write(as_bytes(producer.message(2)));
    tried.set_value(result);
    if (result == Errc::ok) {
      ++producer.next;
      producer.produce(session);  // closes
    }
  }),
            Errc::ok);
  EXPECT_EQ(tried.get_future().get(), Errc::no_credit);
  ASSERT_TRUE(producer.ended_with(Errc::ok));
  ASSERT_TRUE(wait_until([&] { return nodes.sink.ended.load(); }));
  expect_received_in_order(nodes, producer);
}

// Off the loop thread try_write cannot know whether the message goes now: it refuses with
// invalid_argument and takes nothing; write() from the same thread still works. After
// close(), stream_closed, as for write().
TEST(IoStreamTryWrite, OffTheLoopThreadItIsRefusedAndTakesNothing) {
  Nodes nodes(StreamWindow{16, 1 << 20}, /*send_queue_messages=*/16);
  testing::Opener opener;
  StreamSession session =
      nodes.dialer->open_stream(nodes.peer, kSink, {}, nullptr, true, {}, 0, opener.callbacks());
  EXPECT_EQ(session.try_write(as_bytes("not taken")), Errc::invalid_argument);
  ASSERT_EQ(session.write(as_bytes("taken")), Errc::ok);
  // Closed and tried in one callback, so that the stream cannot have ended in between.
  std::promise<Errc> after_close;
  ASSERT_EQ(nodes.dialer->run_on_loop([&] {
    EXPECT_EQ(session.close(), Errc::ok);
    after_close.set_value(session.try_write(as_bytes("late")));
  }),
            Errc::ok);
  EXPECT_EQ(after_close.get_future().get(), Errc::stream_closed);
  expect_both_ends(opener, nodes, Errc::ok);
  std::lock_guard lock(nodes.sink.mutex);
  EXPECT_EQ(nodes.sink.received, std::vector<std::string>{"taken"});
}

// Inside the stream's own callbacks the loop thread's try_write finds the node without
// locking it (the callback keeps it alive), and only that thread may: another thread
// calling try_write on the same session all the while is refused every time and has
// nothing taken. Under ThreadSanitizer a thread that took the loop thread's way would
// race with the loop's note of each callback.
TEST(IoStreamTryWrite, DuringCallbacksAnotherThreadIsStillRefused) {
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> tries{0};  // the other thread's
  std::size_t taken = 0;
  Nodes nodes(StreamWindow{16, 1 << 20}, /*send_queue_messages=*/16);
  Producer producer;
  producer.total = 2'000;
  producer.message_bytes = 16;
  StreamSession session = producer.open(nodes);
  std::thread other([&, session]() mutable {
    while (!stop.load()) {
      ++tries;
      const Errc result = session.try_write(as_bytes("from another thread"));
      // Refused off the loop thread; after the close, stream_closed or not_found.
      if (result == Errc::ok || result == Errc::no_credit) ++taken;
    }
  });
  // The other thread is trying before the callbacks begin: on a loaded machine it might
  // otherwise first run after the last of them, and test nothing.
  if (!wait_until([&] { return tries.load() > 0; })) {
    stop = true;
    other.join();
    FAIL() << "the other thread never ran";
  }
  ASSERT_EQ(nodes.dialer->run_on_loop([&] { producer.produce(session); }), Errc::ok);
  const bool ended = producer.ended_with(Errc::ok);
  stop = true;
  other.join();
  ASSERT_TRUE(ended);
  ASSERT_TRUE(wait_until([&] { return nodes.sink.ended.load(); }));
  EXPECT_EQ(taken, 0u);
  EXPECT_EQ(producer.other_errors.load(), 0u);
  EXPECT_GE(producer.writables.load(), producer.total / 32);  // many callbacks crossed
  expect_received_in_order(nodes, producer);
}

}  // namespace
}  // namespace weft::io
