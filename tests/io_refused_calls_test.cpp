// Calls on a handle that the node's command queue refuses (queue_full) leave the handle as
// it was, so the call, or another, can be made again (event_node.hpp: "calls are handed to
// the loop through a bounded queue"). The queue is filled without a loop: a node not
// started yet keeps what is posted to it, here one command in a queue of one place.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;

// A node that is never started, whose command queue has one place.
EventNodeOptions one_place_queue() {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  options.command_queue_capacity = 1;
  return options;
}

// The handle's ends, as its on_end reports them.
struct Ends {
  std::mutex mutex;
  std::vector<Errc> seen;
  std::function<void(Errc, std::string_view)> on_end() {
    return [this](Errc result, std::string_view) {
      std::lock_guard lock(mutex);
      seen.push_back(result);
    };
  }
  std::vector<Errc> copy() {
    std::lock_guard lock(mutex);
    return seen;
  }
};

// ObjectStream::stop() refused by a full queue leaves the stream open: fin() and send() are
// then refused for the queue (queue_full), not as if the stream had closed. Before, the
// refused stop() marked it closing, and everything but another stop() said stream_closed.
TEST(IoRefusedCalls, AnObjectStreamStopRefusedByAFullQueueLeavesTheStreamOpen) {
  Ends ends;
  EventNode node(one_place_queue());
  ObjectStream stream =
      node.open_object_stream("bravo", "store", ObjectStreamCallbacks{{}, ends.on_end()});
  // The open took the queue's one place.
  EXPECT_EQ(stream.stop(), Errc::queue_full);
  EXPECT_EQ(stream.fin(), Errc::queue_full);
  OutgoingObject object;
  object.header.name = "x";
  EXPECT_EQ(stream.send(std::move(object)), Errc::queue_full);
  EXPECT_EQ(stream.in_flight(), 0u);
  node.stop();  // the open never ran: its on_end says so, on this thread
  EXPECT_EQ(ends.copy(), std::vector<Errc>{Errc::shutting_down});
}

// The same for Bundle::stop().
TEST(IoRefusedCalls, ABundleStopRefusedByAFullQueueLeavesTheBundleOpen) {
  Ends ends;
  EventNode node(one_place_queue());
  BundleOptions options;
  options.endpoint = "store";
  Bundle bundle = node.open_bundle(options, BundleCallbacks{{}, ends.on_end()});
  EXPECT_EQ(bundle.stop(), Errc::queue_full);
  EXPECT_EQ(bundle.fin(), Errc::queue_full);
  OutgoingBundleObject object;
  object.header.name = "x";
  EXPECT_EQ(bundle.send(std::move(object)), Errc::queue_full);
  EXPECT_EQ(bundle.in_flight(), 0u);
  node.stop();
  EXPECT_EQ(ends.copy(), std::vector<Errc>{Errc::shutting_down});
}

// A stop() that was taken still closes the handle at once: a later fin() or send() is
// stream_closed, whatever the queue holds.
TEST(IoRefusedCalls, AStopThatWasTakenClosesTheHandleAtOnce) {
  EventNodeOptions options = one_place_queue();
  options.command_queue_capacity = 2;
  Ends ends;
  EventNode node(std::move(options));
  ObjectStream stream =
      node.open_object_stream("bravo", "store", ObjectStreamCallbacks{{}, ends.on_end()});
  EXPECT_EQ(stream.stop(), Errc::ok);
  EXPECT_EQ(stream.fin(), Errc::stream_closed);
  OutgoingObject object;
  object.header.name = "x";
  EXPECT_EQ(stream.send(std::move(object)), Errc::stream_closed);
  node.stop();
  EXPECT_EQ(ends.copy(), std::vector<Errc>{Errc::shutting_down});
}

}  // namespace
}  // namespace weft::io
