// A handle made from another thread is opened by a command that waits in the node's queue
// until the loop takes it; meanwhile a callback on the loop thread may already act on the
// handle (an application that shares its handles between threads). What it asks for goes
// behind the open, never before it (event_node.hpp: calls from any thread). Before, the
// loop thread ran it at once, found no stream or call yet, did nothing and returned ok: a
// stop() or fin() so dropped left the handle open for good, a cancel() left the call running.
#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io_objects_support.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::wait_until;

// Runs `act` on the loop thread after `make` (on this thread) made the handle it acts on
// while the loop was busy: the handle's open is queued behind the command running `act`.
void act_on_loop_before_the_open_ran(EventNode& node, const std::function<void()>& make,
                                     const std::function<Errc()>& act, Errc& acted) {
  // Shared with the loop's command, which may outlive this call when a wait below times out.
  struct Steps {
    std::mutex mutex;
    std::condition_variable changed;
    bool running = false;
    bool made = false;
    bool done = false;
    bool abandoned = false;  // the test gave up waiting: `act` must not run
    Errc acted = Errc::not_found;
  };
  const auto steps = std::make_shared<Steps>();
  ASSERT_EQ(node.run_on_loop([steps, act] {
    std::unique_lock lock(steps->mutex);
    steps->running = true;
    steps->changed.notify_all();
    steps->changed.wait(lock, [&] { return steps->made; });
    if (steps->abandoned) return;
    steps->acted = act();
    steps->done = true;
    steps->changed.notify_all();
  }),
            Errc::ok);
  std::unique_lock lock(steps->mutex);
  if (!steps->changed.wait_for(lock, 5s, [&] { return steps->running; })) {
    steps->abandoned = steps->made = true;  // lets the command end without acting
    steps->changed.notify_all();
    FAIL() << "the loop never ran the command";
  }
  make();  // queued: the loop is inside the command above
  steps->made = true;
  steps->changed.notify_all();
  // No time limit now: the command, running, refers to the handle `make` made.
  steps->changed.wait(lock, [&] { return steps->done; });
  acted = steps->acted;
}

// A node whose peer never answers: what it opens to the peer stays open until ended.
EventNodeOptions lonely_node() {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.addresses.push_back({"bravo", "127.0.0.1", 1});  // nothing listens there
  return options;
}

TEST(IoHandleOrder, AStopOnTheLoopGoesBehindTheQueuedOpenOfItsObjectStream) {
  EventNode node(lonely_node());
  ASSERT_EQ(node.start(), Errc::ok);
  std::mutex mutex;
  std::optional<Errc> ended;
  ObjectStream stream;
  Errc stopped = Errc::not_found;
  act_on_loop_before_the_open_ran(
      node,
      [&] {
        stream = node.open_object_stream(
            "bravo", "store", ObjectStreamCallbacks{{}, [&](Errc result, std::string_view) {
                                                      std::lock_guard lock(mutex);
                                                      ended = result;
                                                    }});
      },
      [&] { return stream.stop(); }, stopped);
  EXPECT_EQ(errc_name(stopped), errc_name(Errc::ok));
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return ended.has_value();
  }));
  std::lock_guard lock(mutex);
  ASSERT_TRUE(ended.has_value()) << "the stop was dropped: the stream never ended";
  EXPECT_EQ(errc_name(*ended), errc_name(Errc::canceled));
}

// The same for an object posted on the loop: it goes behind the open and completes ok. Before,
// it met no stream yet and completed with stream_closed, though the stream opened just after.
TEST(IoHandleOrder, AnObjectSentOnTheLoopGoesBehindTheQueuedOpenOfItsStream) {
  objects_test::Completions done;  // before the nodes: their stop() still reports into it
  objects_test::Store store;
  objects_test::ObjectPairOnSockets pair(objects_test::store_into(store));
  ObjectStream stream;
  Errc sent = Errc::not_found;
  act_on_loop_before_the_open_ran(
      pair.sender(),
      [&] {
        stream = pair.sender().open_object_stream(
            "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
      },
      [&] {
        return stream.send(objects_test::named(
            "o", ObjectSource::memory(SharedBytes(objects_test::data_of(1, 1000)))));
      },
      sent);
  EXPECT_EQ(errc_name(sent), errc_name(Errc::ok));
  ASSERT_TRUE(wait_until([&] { return done.count() == 1; }));
  EXPECT_EQ(errc_name(done.copy()[0].error), errc_name(Errc::ok));
  EXPECT_TRUE(wait_until([&] { return store.count() == 1; }));
}

TEST(IoHandleOrder, ACancelOnTheLoopGoesBehindTheQueuedRequestOfItsCall) {
  testing::SilentServerPair pair;  // a peer that takes every request and never answers
  EventNode& node = *pair.dialer;
  ASSERT_TRUE(testing::wait_established(node));
  std::mutex mutex;
  std::optional<Errc> answered;
  CallHandle handle;
  Errc canceled = Errc::not_found;
  act_on_loop_before_the_open_ran(
      node,
      [&] {
        ASSERT_EQ(node.request(
                      pair.acceptor_name, 1, as_bytes("q"), 60'000,
                      [&](Reply&& reply) {
                        std::lock_guard lock(mutex);
                        answered = reply.error;
                      },
                      {}, &handle),
                  Errc::ok);
      },
      [&] { return handle.cancel(); }, canceled);
  EXPECT_EQ(errc_name(canceled), errc_name(Errc::ok));
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return answered.has_value();
  }));
  std::lock_guard lock(mutex);
  ASSERT_TRUE(answered.has_value()) << "the cancel was dropped: the call is still waiting";
  EXPECT_EQ(errc_name(*answered), errc_name(Errc::canceled));
}

}  // namespace
}  // namespace weft::io
