// Object streams between two nodes (PROTOCOL.md §6.3): order and exact content, one
// completion per object on every path, resume after a disconnect, peer restarts, refusals,
// discards, idle teardown and the limits.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "object_pair.hpp"

namespace weft::testing {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;

// The byte at `offset` of object `object`: content any test can check without keeping it.
std::uint8_t content(std::uint64_t object, std::uint64_t offset) {
  return static_cast<std::uint8_t>((object * 131 + offset * 7 + (offset >> 9)) & 0xff);
}

std::vector<std::uint8_t> data_of(std::uint64_t object, std::size_t size) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i)
    data[i] = content(object, i);
  return data;
}

ObjectArgs sized(std::uint64_t object, std::size_t size) {
  ObjectArgs args;
  args.header.name = "bucket/obj-" + std::to_string(object);
  args.kind = ObjectSize::sized;
  args.size = size;
  args.data = SharedBytes(data_of(object, size));
  args.tag = object;
  return args;
}

PairOptions chunked(std::uint64_t seed, std::size_t max_piece_bytes) {
  PairOptions options;
  options.seed = seed;
  options.max_piece_bytes = max_piece_bytes;
  return options;
}

struct Fixture {
  explicit Fixture(PairOptions options = {}) : pair(std::move(options)) {
    EXPECT_TRUE(pair.run_until_connected());
    const OpenedObjectStream opened = pair.to(0).open_object_stream(pair.now(), "store");
    EXPECT_EQ(opened.error, Errc::ok);
    stream = opened.id;
  }
  PostedObject post(ObjectArgs args) {
    return pair.to(0).object_post(pair.now(), stream, std::move(args));
  }
  void expect_all_ok(std::size_t count) {
    const auto done = pair.completions();
    ASSERT_EQ(done.size(), count);
    for (std::size_t i = 0; i < count; ++i) {
      EXPECT_EQ(done[i].object, i + 1);
      EXPECT_EQ(done[i].result, Errc::ok) << done[i].message;
    }
  }
  ObjectPair pair;
  ObjectStreamId stream;
};

TEST(ObjectStreams, ObjectsOfEveryKindArriveInOrderWithTheirBytesAndCompleteOnce) {
  Fixture f;
  f.pair.read_everything();
  ASSERT_EQ(f.post(sized(1, 100'000)).object, 1u);
  ObjectArgs control;
  control.kind = ObjectSize::header_only;
  control.header.opcode = 7;
  ASSERT_EQ(f.post(control).object, 2u);
  ASSERT_EQ(f.post(sized(3, 0)).object, 3u);
  ObjectArgs unsized;
  unsized.kind = ObjectSize::unsized;
  unsized.header.name = "stream-of-unknown-size";
  ASSERT_EQ(f.post(unsized).object, 4u);
  // The unsized object's data comes on request.
  std::uint64_t supplied = 0;
  f.pair.on_event = [&](std::size_t node, const Event& event) {
    const auto* want = std::get_if<event::ObjectWantData>(&event);
    if (node != 0 || want == nullptr) return;
    EXPECT_EQ(want->object, 4u);
    EXPECT_EQ(want->offset, supplied);
    while (supplied < 300'000) {
      const std::vector<std::uint8_t> piece = [&] {
        std::vector<std::uint8_t> bytes(10'000);
        for (std::size_t i = 0; i < bytes.size(); ++i)
          bytes[i] = content(4, supplied + i);
        return bytes;
      }();
      const Errc result = f.pair.to(0).object_supply(f.pair.now(), f.stream, 4, supplied, piece,
                                                     supplied + piece.size() == 300'000);
      if (result == Errc::no_credit) return;
      ASSERT_EQ(result, Errc::ok);
      supplied += piece.size();
    }
  };
  f.pair.run(5 * kSecond, [&] { return f.pair.completions().size() == 4; });
  f.expect_all_ok(4);
  const auto& got = f.pair.received();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].data, data_of(1, 100'000));
  EXPECT_EQ(got[0].header.name, "bucket/obj-1");
  EXPECT_TRUE(got[1].data.empty());
  EXPECT_EQ(got[1].header.opcode, 7);
  EXPECT_TRUE(got[2].data.empty());
  EXPECT_EQ(got[3].data.size(), 300'000u);
  for (std::size_t i = 0; i < got[3].data.size(); ++i)
    ASSERT_EQ(got[3].data[i], content(4, i)) << i;
  // The stream's counters on both sides.
  const auto sent = f.pair.to(0).object_stream_stats(f.pair.now(), f.stream);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->objects, 4u);
  EXPECT_EQ(sent->completed_ok, 4u);
  EXPECT_EQ(sent->in_flight, 0u);
  EXPECT_EQ(sent->bytes, 400'000u);
  const auto endpoint = f.pair.node(1).object_endpoint_stats("store");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->objects, 4u);
  EXPECT_EQ(endpoint->bytes, 400'000u);
}

TEST(ObjectStreams, AnUnknownEndpointCompletesEveryObjectWithItsErrorInOrder) {
  Fixture f;
  const OpenedObjectStream opened = f.pair.to(0).open_object_stream(f.pair.now(), "nowhere");
  ASSERT_EQ(opened.error, Errc::ok);
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(f.pair.to(0).object_post(f.pair.now(), opened.id, sized(i, 10)).error, Errc::ok);
  f.pair.run(kSecond);
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(done[i].object, i + 1);
    EXPECT_EQ(done[i].result, Errc::unknown_handler);
    EXPECT_EQ(done[i].message, "no object endpoint nowhere");
  }
  std::size_t ended = 0;
  for (const Event& event : f.pair.events(0)) {
    if (const auto* end = std::get_if<event::ObjectStreamEnded>(&event)) {
      ++ended;
      EXPECT_EQ(end->result, Errc::unknown_handler);
    }
  }
  EXPECT_EQ(ended, 1u);
  EXPECT_EQ(f.pair.to(0).object_post(f.pair.now(), opened.id, sized(4, 1)).error, Errc::not_found);
}

TEST(ObjectStreams, AStopCompletesTheRestCanceledInOrderAndTheReceiverDropsItsObject) {
  Fixture f;
  f.pair.read_everything();
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(f.post(sized(i, 3'000'000)).error, Errc::ok);
  // Run until the receiver is inside object 2 and object 1's ack is back (one in flight
  // when the stop comes is not acknowledged yet: that object would end canceled too).
  f.pair.run(5 * kSecond, [&] {
    return f.pair.received().size() == 2 && !f.pair.received()[1].data.empty() &&
           f.pair.completions().size() == 1;
  });
  ASSERT_EQ(f.pair.to(0).object_stream_stop(f.pair.now(), f.stream), Errc::ok);
  f.pair.run(kSecond);
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 5u);
  EXPECT_EQ(done[0].result, Errc::ok);
  for (std::size_t i = 1; i < 5; ++i) {
    EXPECT_EQ(done[i].object, i + 1);
    EXPECT_EQ(done[i].result, Errc::canceled);
  }
  ASSERT_EQ(f.pair.received().size(), 2u);
  EXPECT_EQ(f.pair.received()[1].aborted, Errc::canceled);
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 0u);
  EXPECT_EQ(f.pair.to(0).object_stream_stop(f.pair.now(), f.stream), Errc::not_found);
}

TEST(ObjectStreams, DisconnectsMidObjectResumeAndDeliverEveryObjectOnce) {
  Fixture f(chunked(7, 50'000));
  f.pair.read_everything();
  constexpr int kObjects = 12;
  for (int i = 1; i <= kObjects; ++i)
    ASSERT_EQ(f.post(sized(i, 700'000 + 1'000 * i)).error, Errc::ok);
  int cuts = 0;
  while (f.pair.completions().size() < kObjects && cuts < 40) {
    const std::size_t before = f.pair.received().size();
    f.pair.run(kSecond, [&] {
      return f.pair.received().size() > before && !f.pair.received().back().data.empty();
    });
    f.pair.disconnect();
    ++cuts;
    ASSERT_TRUE(f.pair.run_until_connected());
  }
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == kObjects; });
  EXPECT_GT(cuts, 5);
  f.expect_all_ok(kObjects);
  const auto& got = f.pair.received();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kObjects));  // each delivered once
  for (int i = 1; i <= kObjects; ++i) {
    EXPECT_EQ(got[i - 1].object, static_cast<std::uint64_t>(i));
    EXPECT_TRUE(got[i - 1].data == data_of(i, 700'000 + 1'000 * i)) << "object " << i;
    EXPECT_FALSE(got[i - 1].aborted);
  }
  const auto stats = f.pair.to(0).object_stream_stats(f.pair.now(), f.stream);
  ASSERT_TRUE(stats);
  EXPECT_GT(stats->resumes, 0u);
}

TEST(ObjectStreams, SuppliedDataIsAskedForAgainFromWhereTheReceiverStopped) {
  Fixture f(chunked(3, 30'000));
  f.pair.read_everything();
  constexpr std::size_t kSize = 2'000'000;
  ObjectArgs args;
  args.kind = ObjectSize::sized;
  args.size = kSize;
  ASSERT_EQ(f.post(args).error, Errc::ok);
  std::vector<std::uint64_t> asked;
  std::uint64_t next = 0;
  f.pair.on_event = [&](std::size_t node, const Event& event) {
    const auto* want = std::get_if<event::ObjectWantData>(&event);
    if (node != 0 || want == nullptr) return;
    asked.push_back(want->offset);
    next = want->offset;  // a reconnect may ask from an earlier offset
    while (next < kSize) {
      const std::size_t length = std::min<std::size_t>(64 * 1024, kSize - next);
      std::vector<std::uint8_t> piece(length);
      for (std::size_t i = 0; i < length; ++i)
        piece[i] = content(1, next + i);
      const Errc result = f.pair.to(0).object_supply(f.pair.now(), f.stream, 1, next, piece, false);
      if (result == Errc::no_credit) return;
      ASSERT_EQ(result, Errc::ok);
      next += length;
    }
  };
  f.pair.run(kSecond, [&] {
    return !f.pair.received().empty() && f.pair.received()[0].data.size() > 500'000;
  });
  f.pair.disconnect();
  ASSERT_TRUE(f.pair.run_until_connected());
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 1; });
  f.expect_all_ok(1);
  ASSERT_EQ(f.pair.received().size(), 1u);
  EXPECT_TRUE(f.pair.received()[0].data == data_of(1, kSize));
  // Asked again after the reconnect, from an offset inside the object.
  ASSERT_GE(asked.size(), 2u);
  EXPECT_TRUE(std::any_of(asked.begin() + 1, asked.end(),
                          [&](std::uint64_t offset) { return offset > 0 && offset < kSize; }));
}

TEST(ObjectStreams, AReceiverThatRestartedEndsTheUnacknowledgedObjectsWithPeerRestarted) {
  Fixture f;
  f.pair.read_everything();
  ASSERT_EQ(f.post(sized(1, 1000)).error, Errc::ok);
  f.pair.run(kSecond, [&] { return f.pair.completions().size() == 1; });
  for (int i = 2; i <= 4; ++i)
    ASSERT_EQ(f.post(sized(i, 4'000'000)).error, Errc::ok);
  f.pair.run(kSecond,
             [&] { return f.pair.received().size() == 2 && !f.pair.received()[1].data.empty(); });
  f.pair.restart(1);
  f.pair.read_everything();
  ASSERT_TRUE(f.pair.run_until_connected());
  f.pair.run(kSecond);
  auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[0].result, Errc::ok);
  for (std::size_t i = 1; i < 4; ++i)
    EXPECT_EQ(done[i].result, Errc::peer_restarted) << i;
  // The stream goes on with the new incarnation.
  ASSERT_EQ(f.post(sized(5, 5000)).object, 5u);
  f.pair.run(kSecond, [&] { return f.pair.completions().size() == 5; });
  done = f.pair.completions();
  ASSERT_EQ(done.size(), 5u);
  EXPECT_EQ(done[4].result, Errc::ok);
  ASSERT_FALSE(f.pair.received().empty());
  EXPECT_TRUE(f.pair.received().back().data == data_of(5, 5000));
}

TEST(ObjectStreams, ASenderThatRestartedAbortsTheObjectTheReceiverWasReading) {
  Fixture f;
  f.pair.read_everything();
  ASSERT_EQ(f.post(sized(1, 6'000'000)).error, Errc::ok);
  f.pair.run(kSecond,
             [&] { return !f.pair.received().empty() && !f.pair.received()[0].data.empty(); });
  f.pair.restart(0);
  ASSERT_TRUE(f.pair.run_until_connected());
  f.pair.run(kSecond / 10);  // the events of the handshake
  ASSERT_EQ(f.pair.received().size(), 1u);
  EXPECT_EQ(f.pair.received()[0].aborted, Errc::peer_restarted);
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 0u);
}

TEST(ObjectStreams, AReaderThatDiscardsHalfOfEachObjectStillGetsEveryObject) {
  Fixture f(chunked(5, 20'000));
  f.pair.read_everything([](const ObjectPair::Received& object) {
    const std::size_t size = 200'000 + 10'000 * object.object;
    return object.data.size() >= size / 2 ? ObjectPair::Action::discard : ObjectPair::Action::read;
  });
  for (int i = 1; i <= 20; ++i)
    ASSERT_EQ(f.post(sized(i, 200'000 + 10'000 * i)).error, Errc::ok);
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 20; });
  f.expect_all_ok(20);
  ASSERT_EQ(f.pair.received().size(), 20u);
  for (int i = 1; i <= 20; ++i) {
    const auto& got = f.pair.received()[i - 1];
    EXPECT_EQ(got.object, static_cast<std::uint64_t>(i));
    EXPECT_GE(got.data.size(), (200'000u + 10'000u * i) / 2);
    const auto expected = data_of(i, got.data.size());
    EXPECT_TRUE(got.data == expected) << "object " << i;  // the first half is intact
  }
}

TEST(ObjectStreams, ARefusedObjectCarriesTheRefusalAndTheStreamGoesOn) {
  Fixture f;
  f.pair.read_everything([](const ObjectPair::Received& object) {
    return object.object % 2 == 0 ? ObjectPair::Action::refuse : ObjectPair::Action::read;
  });
  for (int i = 1; i <= 6; ++i)
    ASSERT_EQ(f.post(sized(i, 1'000'000)).error, Errc::ok);
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 6; });
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(done[i].object, i + 1);
    if ((i + 1) % 2 == 0) {
      EXPECT_EQ(done[i].result, Errc::remote_error);
      EXPECT_EQ(done[i].message, "refused by the test");
    } else {
      EXPECT_EQ(done[i].result, Errc::ok);
      EXPECT_TRUE(f.pair.received()[i].data == data_of(i + 1, 1'000'000));
    }
  }
}

TEST(ObjectStreams, AnIdleStreamClosesItsMuxAndReopensOnTheNextObject) {
  Fixture f;
  f.pair.read_everything();
  ASSERT_EQ(f.post(sized(1, 10)).error, Errc::ok);
  f.pair.run(kSecond / 2, [&] { return f.pair.completions().size() == 1; });
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 1u);
  f.pair.run(5 * kSecond);  // past the 4 s idle timeout
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 0u);
  EXPECT_EQ(f.pair.to(0).stats().object_streams_out, 1u);  // the stream itself lives on
  ASSERT_EQ(f.post(sized(2, 20)).object, 2u);
  f.pair.run(kSecond, [&] { return f.pair.completions().size() == 2; });
  f.expect_all_ok(2);
  ASSERT_EQ(f.pair.received().size(), 2u);
  EXPECT_TRUE(f.pair.received()[1].data == data_of(2, 20));
  EXPECT_EQ(f.pair.node(1).object_endpoint_stats("store")->streams_opened, 2u);
}

TEST(ObjectStreams, FinCompletesAfterEveryObjectAndRefusesLaterPosts) {
  Fixture f;
  f.pair.read_everything();
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(f.post(sized(i, 50'000)).error, Errc::ok);
  ASSERT_EQ(f.pair.to(0).object_stream_fin(f.pair.now(), f.stream), Errc::ok);
  EXPECT_EQ(f.post(sized(4, 1)).error, Errc::stream_closed);
  f.pair.run(kSecond);
  f.expect_all_ok(3);
  const auto& events = f.pair.events(0);
  const auto ended = std::find_if(events.begin(), events.end(), [](const Event& event) {
    return std::holds_alternative<event::ObjectStreamEnded>(event);
  });
  ASSERT_NE(ended, events.end());
  EXPECT_EQ(std::get<event::ObjectStreamEnded>(*ended).result, Errc::ok);
  // The stream ended after the last completion.
  const auto last_done = std::find_if(events.rbegin(), events.rend(), [](const Event& event) {
    return std::holds_alternative<event::ObjectCompleted>(event);
  });
  EXPECT_LT(std::distance(events.begin(), last_done.base()),
            std::distance(events.begin(), ended) + 1);
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 0u);
}

TEST(ObjectStreams, NoReconnectWithinTheResumeTimeoutCompletesWithDisconnected) {
  Fixture f;
  f.pair.set_unreachable(true);
  f.pair.disconnect();
  ASSERT_EQ(f.post(sized(1, 10)).error, Errc::ok);  // lazily waits for the peer
  f.pair.run(29 * kSecond);
  EXPECT_TRUE(f.pair.completions().empty());
  f.pair.run(2 * kSecond);
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].result, Errc::disconnected);
}

// A peer still unreachable after a give-up: an object posted then is not held for another
// whole object_resume_timeout_ms (weft-call sending files to a node killed for good waited
// one timeout per window of objects in flight: six minutes for 16 files with --retry 2); it
// completes with disconnected at once. A reconnect ends that: objects wait again.
TEST(ObjectStreams, AfterAGiveUpObjectsPostedWhileThePeerStaysUnreachableCompleteAtOnce) {
  Fixture f;
  f.pair.read_everything();
  f.pair.set_unreachable(true);
  f.pair.disconnect();
  ASSERT_EQ(f.post(sized(1, 10)).error, Errc::ok);
  f.pair.run(31 * kSecond);
  ASSERT_EQ(f.pair.completions().size(), 1u);
  ASSERT_EQ(f.post(sized(2, 10)).error, Errc::ok);
  f.pair.run(kSecond / 1000);
  auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].result, Errc::disconnected);
  EXPECT_NE(done[1].message.find("still unreachable"), std::string::npos) << done[1].message;
  // Reached again: objects go over the new connection.
  f.pair.set_unreachable(false);
  ASSERT_TRUE(f.pair.run_until_connected());
  ASSERT_EQ(f.post(sized(3, 10)).error, Errc::ok);
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 3; });
  done = f.pair.completions();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[2].result, Errc::ok) << done[2].message;
  // Down again: the first object posted waits the whole timeout again.
  f.pair.set_unreachable(true);
  f.pair.disconnect();
  ASSERT_EQ(f.post(sized(4, 10)).error, Errc::ok);
  f.pair.run(29 * kSecond);
  EXPECT_EQ(f.pair.completions().size(), 3u);
  f.pair.run(2 * kSecond);
  done = f.pair.completions();
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[3].result, Errc::disconnected);
}

// On demand a post is what dials: after a give-up the next object is still given its
// object_resume_timeout_ms to bring the connection up, and goes once the peer answers.
TEST(ObjectStreams, OnDemandAnObjectPostedAfterAGiveUpStillWaitsForTheDial) {
  PairOptions options;
  options.adjust = [](NodeConfig& config) { config.connect_on_demand = true; };
  ObjectPair pair(std::move(options));
  pair.read_everything();
  pair.set_unreachable(true);
  const ObjectStreamId stream = pair.to(0).open_object_stream(pair.now(), "store").id;
  ASSERT_EQ(pair.to(0).object_post(pair.now(), stream, sized(1, 10)).error, Errc::ok);
  pair.run(31 * kSecond);
  ASSERT_EQ(pair.completions().size(), 1u);
  EXPECT_EQ(pair.completions()[0].result, Errc::disconnected);
  ASSERT_EQ(pair.to(0).object_post(pair.now(), stream, sized(2, 10)).error, Errc::ok);
  pair.run(kSecond);
  EXPECT_EQ(pair.completions().size(), 1u);
  pair.set_unreachable(false);
  pair.run(20 * kSecond, [&] { return pair.completions().size() == 2; });
  ASSERT_EQ(pair.completions().size(), 2u);
  EXPECT_EQ(pair.completions()[1].result, Errc::ok) << pair.completions()[1].message;
}

TEST(ObjectStreams, ObjectsPostedWhileThePeerIsDownGoOutWhenItComesBack) {
  Fixture f;
  f.pair.read_everything();
  f.pair.set_unreachable(true);
  f.pair.disconnect();
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(f.post(sized(i, 1000)).error, Errc::ok);
  f.pair.run(3 * kSecond);
  EXPECT_TRUE(f.pair.completions().empty());
  f.pair.set_unreachable(false);
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 3; });
  f.expect_all_ok(3);
}

TEST(ObjectStreams, TheBurstLimitRefusesOneObjectMoreWithQueueFull) {
  PairOptions options;
  options.adjust = [](NodeConfig& config) { config.limits.max_objects_in_flight = 8; };
  Fixture f(options);
  f.pair.set_paused(true);
  for (int i = 1; i <= 8; ++i)
    ASSERT_EQ(f.post(sized(i, 10)).error, Errc::ok);
  EXPECT_EQ(f.post(sized(9, 10)).error, Errc::queue_full);
  f.pair.set_paused(false);
  f.pair.read_everything();
  f.pair.run(kSecond, [&] { return f.pair.completions().size() == 8; });
  f.expect_all_ok(8);
  EXPECT_EQ(f.post(sized(9, 10)).error, Errc::ok);
}

TEST(ObjectStreams, AReceiverThatDoesNotReadHoldsNoMoreThanItsWindow) {
  PairOptions options;
  options.window = ObjectWindow{.objects = 4, .bytes = 256 * 1024};
  Fixture f(options);
  for (int i = 1; i <= 10; ++i)
    ASSERT_EQ(f.post(sized(i, 300'000)).error, Errc::ok);
  f.pair.run(2 * kSecond);  // nobody reads at node 1
  const auto endpoint = f.pair.node(1).object_endpoint_stats("store");
  ASSERT_TRUE(endpoint);
  EXPECT_LE(endpoint->bytes, 256u * 1024);
  EXPECT_GT(endpoint->bytes, 0u);
  EXPECT_TRUE(f.pair.completions().empty());
  // Only the first object arrived: the next waits for it to be finished.
  std::size_t arrived = 0;
  for (const Event& event : f.pair.events(1))
    arrived += std::holds_alternative<event::ObjectArrived>(event) ? 1 : 0;
  EXPECT_EQ(arrived, 1u);
}

TEST(ObjectStreams, PostingChecksItsArguments) {
  Fixture f;
  ObjectArgs mismatch = sized(1, 10);
  mismatch.size = 11;
  EXPECT_EQ(f.post(mismatch).error, Errc::invalid_argument);
  ObjectArgs header_only;
  header_only.kind = ObjectSize::header_only;
  header_only.size = 1;
  EXPECT_EQ(f.post(header_only).error, Errc::invalid_argument);
  ObjectArgs big_header;
  big_header.kind = ObjectSize::header_only;
  big_header.header.name.assign(70'000, 'x');
  EXPECT_EQ(f.post(big_header).error, Errc::too_large);
  EXPECT_EQ(f.pair.to(0).object_post(f.pair.now(), ObjectStreamId{999}, sized(1, 1)).error,
            Errc::not_found);
  EXPECT_EQ(f.pair.to(0).open_object_stream(f.pair.now(), "").error, Errc::invalid_argument);
  EXPECT_EQ(f.pair.to(0).open_object_stream(f.pair.now(), "two words").error,
            Errc::invalid_argument);
  EXPECT_EQ(f.pair.node(1).register_object_endpoint("tiny", ObjectWindow{1, 1000}),
            Errc::invalid_argument);
  f.pair.run(kSecond);
  EXPECT_TRUE(f.pair.completions().empty());  // nothing was posted
}

TEST(ObjectStreams, ASizedObjectSuppliedShortFailsWithInvalidArgument) {
  Fixture f;
  f.pair.read_everything();
  ObjectArgs args;
  args.kind = ObjectSize::sized;
  args.size = 1000;
  ASSERT_EQ(f.post(args).error, Errc::ok);
  ASSERT_EQ(f.post(sized(2, 10)).error, Errc::ok);
  f.pair.on_event = [&](std::size_t node, const Event& event) {
    const auto* want = std::get_if<event::ObjectWantData>(&event);
    if (node != 0 || want == nullptr) return;
    const std::vector<std::uint8_t> piece(400, 1);
    EXPECT_EQ(f.pair.to(0).object_supply(f.pair.now(), f.stream, 1, 0, piece, true),
              Errc::invalid_argument);
  };
  f.pair.run(kSecond, [&] { return f.pair.completions().size() == 2; });
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].result, Errc::invalid_argument);
  EXPECT_EQ(done[1].result, Errc::ok);
  ASSERT_EQ(f.pair.received().size(), 2u);  // the receiver dropped the first
  EXPECT_EQ(f.pair.received()[0].aborted, Errc::remote_error);
  EXPECT_TRUE(f.pair.received()[1].data == data_of(2, 10));
}

}  // namespace
}  // namespace weft::testing
