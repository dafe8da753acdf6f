// Calls on a handle that the node's command queue refuses (queue_full) leave the handle as
// it was, so the call, or another, can be made again (event_node.hpp: "calls are handed to
// the loop through a bounded queue"). The queue is filled without a loop: a node not
// started yet keeps what is posted to it, here one command in a queue of one place.
#include <gtest/gtest.h>

#include <mutex>
#include <optional>
#include <span>
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

// A node stopped before its loop ever ran ends the work queued for it: each object posted to
// an object stream or a bundle completes (shutting_down) before the handle's on_end, as
// on_end promises ("every object completed first"). Before, the open's command came first in
// the queue, so its on_end ran ahead of the objects' on_done.
TEST(IoRefusedCalls, WorkAbandonedAtStopCompletesEachObjectBeforeItsHandlesEnd) {
  std::mutex mutex;
  std::vector<std::string> order;
  const auto note = [&](std::string what) {
    std::lock_guard lock(mutex);
    order.push_back(std::move(what));
  };
  EventNodeOptions options = one_place_queue();
  options.command_queue_capacity = 16;
  EventNode node(std::move(options));
  ObjectStream stream = node.open_object_stream(
      "bravo", "store",
      ObjectStreamCallbacks{[&](const ObjectResult& result) {
                              note("object " + std::string(errc_name(result.error)));
                            },
                            [&](Errc result, std::string_view) {
                              note("stream end " + std::string(errc_name(result)));
                            }});
  BundleOptions bundle_options;
  bundle_options.endpoint = "store";
  Bundle bundle = node.open_bundle(
      bundle_options,
      BundleCallbacks{[&](const BundleObjectResult& result) {
                        note("bundle object " + std::string(errc_name(result.error)));
                      },
                      [&](Errc result, std::string_view) {
                        note("bundle end " + std::string(errc_name(result)));
                      }});
  for (int i = 0; i < 2; ++i) {
    OutgoingObject object;
    object.header.name = "o" + std::to_string(i);
    ASSERT_EQ(stream.send(std::move(object)), Errc::ok);
    OutgoingBundleObject replicated;
    replicated.header.name = "b" + std::to_string(i);
    ASSERT_EQ(bundle.send(std::move(replicated)), Errc::ok);
  }
  node.stop();
  const std::vector<std::string> expected = {
      "object shutting_down",        "bundle object shutting_down", "object shutting_down",
      "bundle object shutting_down", "stream end shutting_down",    "bundle end shutting_down"};
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, expected);
}

// A bundle cannot share one producer between its replicas: each asks from its own offset,
// and a producer answers one reader in order (objects.hpp), so the replicas would get each
// other's bytes. send() refuses one without `reopen`, and takes it with `reopen`. Before, it
// was taken, and every replica's data came from the one producer, interleaved.
TEST(IoRefusedCalls, ABundleRefusesAProducerItsReplicasWouldShare) {
  EventNodeOptions options = one_place_queue();
  options.command_queue_capacity = 16;
  EventNode node(std::move(options));
  BundleOptions bundle_options;
  bundle_options.endpoint = "store";
  Bundle bundle = node.open_bundle(bundle_options, BundleCallbacks{});
  const ObjectSource::Producer produce = [](std::uint64_t, std::span<std::uint8_t> room,
                                            std::size_t& written, bool& last) {
    written = room.size();
    last = true;
    return Errc::ok;
  };
  OutgoingBundleObject shared;
  shared.header.name = "shared";
  shared.source = ObjectSource::producer(std::nullopt, produce);
  EXPECT_EQ(errc_name(bundle.send(std::move(shared))), errc_name(Errc::invalid_argument));
  EXPECT_EQ(bundle.in_flight(), 0u);
  OutgoingBundleObject own;
  own.header.name = "own";
  own.source = ObjectSource::producer(std::nullopt, produce);
  own.reopen = [produce](std::string_view, std::string&) {
    return std::optional<ObjectSource>(ObjectSource::producer(std::nullopt, produce));
  };
  EXPECT_EQ(errc_name(bundle.send(std::move(own))), errc_name(Errc::ok));
  node.stop();
}

}  // namespace
}  // namespace weft::io
