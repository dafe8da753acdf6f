// Object streams through EventNode over loopback sockets (weft/io/objects.hpp): data from
// memory, from a file and from a producer; into memory, a file and a deferring callback;
// one completion per object in order; a receiver that restarts; the node stopping.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <thread>

#include "../examples/call_objects.hpp"
#include "io_objects_support.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using namespace objects_test;
using testing::wait_until;

TEST(IoObjects, MemoryFileAndProducerObjectsArriveWholeAndCompleteInOrder) {
  StoringPair storing;
  Completions& done = storing.done;
  Store& store = storing.store;
  ObjectStream& stream = storing.stream;
  // A file of 3 MB + 17 bytes, sent from offset 5.
  char path[] = "/tmp/weft-io-objects-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::vector<std::uint8_t> file_data = data_of(2, 3'000'022);
  ASSERT_EQ(::write(fd, file_data.data(), file_data.size()),
            static_cast<ssize_t>(file_data.size()));
  ASSERT_EQ(stream.send(named("memory", ObjectSource::memory(SharedBytes(data_of(1, 2'500'000))))),
            Errc::ok);
  ASSERT_EQ(stream.send(named("file", ObjectSource::file(fd, 5, file_data.size() - 5))), Errc::ok);
  ::close(fd);  // the source holds its own descriptor
  ::unlink(path);
  const std::size_t produced_size = 1'234'567;
  ASSERT_EQ(
      stream.send(named(
          "producer", ObjectSource::producer(std::nullopt,
                                             [&](std::uint64_t offset, std::span<std::uint8_t> room,
                                                 std::size_t& written, bool& last) {
                                               written = std::min<std::size_t>(
                                                   room.size(), produced_size - offset);
                                               for (std::size_t i = 0; i < written; ++i)
                                                 room[i] = content(3, offset + i);
                                               last = offset + written == produced_size;
                                               return Errc::ok;
                                             }))),
      Errc::ok);
  ASSERT_EQ(stream.send(named("control", ObjectSource::none())), Errc::ok);
  ASSERT_EQ(stream.fin(), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 4 && store.count() == 4; }, 20s));
  const auto results = done.copy();
  for (std::size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].object, i + 1);
    EXPECT_EQ(results[i].error, Errc::ok) << results[i].message;
  }
  EXPECT_TRUE(store.objects["memory"] == data_of(1, 2'500'000));
  EXPECT_TRUE(store.objects["file"] ==
              std::vector<std::uint8_t>(file_data.begin() + 5, file_data.end()));
  EXPECT_TRUE(store.objects["producer"] == data_of(3, produced_size));
  EXPECT_TRUE(store.objects["control"].empty());
  EXPECT_EQ(store.order, (std::vector<std::string>{"memory", "file", "producer", "control"}));
  ASSERT_TRUE(wait_until([&] { return done.end_told(); }));
  EXPECT_TRUE(stream.ended());
  std::lock_guard lock(done.mutex);
  EXPECT_EQ(done.ends, std::vector<Errc>{Errc::ok});
}

// Without a reconnect a producer is asked for each offset once, in order (objects.hpp):
// one that keeps its own position (a pipe, a generator) can ignore the offset. Before,
// each time the supply buffer filled, the piece produced for it was dropped and the
// producer asked for the same offset again (a position-keeping producer then skipped
// 64 KiB).
TEST(IoObjects, WithoutAReconnectAProducerIsAskedForEachOffsetOnceInOrder) {
  StoringPair storing;
  Completions& done = storing.done;
  Store& store = storing.store;
  ObjectStream& stream = storing.stream;
  constexpr std::size_t kSize = 4 * 1024 * 1024;
  std::vector<std::uint64_t> asked;  // loop thread only, read after the completion
  std::uint64_t position = 0;        // the producer's own: it ignores `offset`
  ASSERT_EQ(stream.send(named("counted", ObjectSource::producer(
                                             std::nullopt,
                                             [&](std::uint64_t offset, std::span<std::uint8_t> room,
                                                 std::size_t& written, bool& last) {
                                               asked.push_back(offset);
                                               written = std::min<std::size_t>(room.size(),
                                                                               kSize - position);
                                               for (std::size_t i = 0; i < written; ++i)
                                                 room[i] = content(4, position + i);
                                               position += written;
                                               last = position == kSize;
                                               return Errc::ok;
                                             }))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 1 && store.count() == 1; }, 20s));
  EXPECT_EQ(done.copy()[0].error, Errc::ok);
  EXPECT_TRUE(store.objects["counted"] == data_of(4, kSize));
  for (std::size_t i = 1; i < asked.size(); ++i)
    ASSERT_LT(asked[i - 1], asked[i]) << "offset " << asked[i] << " asked for again";
}

TEST(IoObjects, AFileThatIsShorterThanSaidFailsItsObjectAndTheNextGoesThrough) {
  Completions done;  // before the nodes: their stop() still reports into it
  Store store;
  ObjectPairOnSockets pair(store_into(store));
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  char path[] = "/tmp/weft-io-short-XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_EQ(::write(fd, "0123456789", 10), 10);
  ASSERT_EQ(stream.send(named("short", ObjectSource::file(fd, 0, 100))), Errc::ok);
  ASSERT_EQ(stream.send(named("bad fd", ObjectSource::file(-1, 0, 10))), Errc::ok);
  ASSERT_EQ(stream.send(named("fine", ObjectSource::memory(SharedBytes(data_of(9, 10))))),
            Errc::ok);
  ::close(fd);
  ::unlink(path);
  ASSERT_TRUE(wait_until([&] { return done.count() == 3; }, 10s));
  const auto results = done.copy();
  EXPECT_EQ(results[0].error, Errc::remote_error);
  EXPECT_EQ(results[1].error, Errc::invalid_argument);
  EXPECT_EQ(results[2].error, Errc::ok);
  ASSERT_TRUE(wait_until([&] { return store.count() == 1; }));
  EXPECT_TRUE(store.objects.contains("fine"));
}

TEST(IoObjects, ADeferringReaderHoldsTheSenderBackUntilItResumesFromAnotherThread) {
  Completions done;  // before the nodes: their stop() still reports into it
  std::mutex mutex;
  std::vector<ObjectReader> deferred;
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<int> ended_ok{0};
  ObjectPairOnSockets pair([&](const IncomingObject&, ObjectReader) {
    ObjectSink sink;
    sink.on_data = [&](ObjectReader& reader, Bytes chunk, bool) {
      bytes += chunk.size();
      EXPECT_EQ(reader.defer(), Errc::ok);
      std::lock_guard lock(mutex);
      deferred.push_back(reader);
    };
    sink.on_end = [&](ObjectReader&, Errc result, std::string_view) {
      if (result == Errc::ok) ++ended_ok;
    };
    return sink;
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(stream.send(named("o" + std::to_string(i),
                                ObjectSource::memory(SharedBytes(data_of(i, 3'000'000))))),
              Errc::ok);
  }
  // Nothing is resumed: the 1 MiB window fills, nothing completes.
  ASSERT_TRUE(wait_until([&] { return bytes.load() > 0; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_LE(bytes.load(), std::uint64_t{1} << 20);
  EXPECT_EQ(done.count(), 0u);
  // A worker resumes every deferred chunk.
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    while (!stop) {
      std::vector<ObjectReader> batch;
      {
        std::lock_guard lock(mutex);
        batch.swap(deferred);
      }
      for (ObjectReader& reader : batch)
        EXPECT_EQ(reader.resume(), Errc::ok);
      std::this_thread::sleep_for(1ms);
    }
  });
  const bool all = wait_until([&] { return done.count() == 3; }, 20s);
  stop = true;
  worker.join();
  ASSERT_TRUE(all);
  EXPECT_EQ(bytes.load(), 9'000'000u);
  EXPECT_EQ(ended_ok.load(), 3);
  for (const ObjectResult& result : done.copy())
    EXPECT_EQ(result.error, Errc::ok);
}

// on_data's view of a chunk stays valid for the whole call: refuse() or discard() from inside
// it ends the object in the core, which frees the stream's buffer once it grew past 256 KiB.
// They now run once on_data returned. Before, on_data read freed memory after the call (with
// the allocator's threshold for mapping fixed low, the buffer was unmapped on free: a crash,
// or other bytes; under AddressSanitizer, which ignores mallopt, a use-after-free report).
// The reader defers its first chunk, so that the window fills the buffer, and ends the object
// in the second call, whose chunk is everything buffered.
TEST(IoObjects, EndingAnObjectFromOnDataLeavesTheChunkReadableUntilItReturns) {
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);  // glibc's allocator: buffers over it are unmapped
  for (const bool refuse : {true, false}) {
    SCOPED_TRACE(refuse ? "refuse" : "discard");
    Completions done;  // before the nodes: their stop() still reports into it
    std::mutex mutex;
    std::optional<ObjectReader> held;
    std::atomic<int> calls{0};
    std::atomic<std::size_t> second_chunk_bytes{0};
    std::atomic<bool> changed{false};
    std::atomic<Errc> asked{Errc::canceled};
    std::atomic<bool> ended{false};
    std::atomic<Errc> end_result{Errc::ok};
    ObjectPairOnSockets pair([&](const IncomingObject&, ObjectReader) {
      ObjectSink sink;
      sink.on_data = [&](ObjectReader& reader, Bytes chunk, bool) {
        if (calls++ == 0) {
          EXPECT_EQ(reader.defer(), Errc::ok);
          std::lock_guard lock(mutex);
          held = reader;
          return;
        }
        const std::vector<std::uint8_t> copy(chunk.begin(), chunk.end());
        second_chunk_bytes = chunk.size();
        asked =
            refuse ? reader.refuse(Errc::remote_error, "refused from on_data") : reader.discard();
        changed = !std::equal(chunk.begin(), chunk.end(), copy.begin(), copy.end());
      };
      sink.on_end = [&](ObjectReader&, Errc result, std::string_view) {
        end_result = result;
        ended = true;
      };
      return sink;
    });
    ObjectStream stream = pair.sender().open_object_stream(
        "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
    ASSERT_EQ(stream.send(named("big", ObjectSource::memory(SharedBytes(data_of(1, 3'000'000))))),
              Errc::ok);
    ASSERT_TRUE(wait_until([&] { return calls.load() == 1; }));
    // Most of the window's worth arrives behind the first chunk.
    ASSERT_TRUE(wait_until([&] { return received_object_bytes(pair.receiver()) >= 768 * 1024; }));
    {
      std::lock_guard lock(mutex);
      ASSERT_TRUE(held.has_value());
      ASSERT_EQ(held->resume(), Errc::ok);
    }
    ASSERT_TRUE(wait_until([&] { return ended.load() && done.count() == 1; }, 10s));
    EXPECT_GT(second_chunk_bytes.load(), std::size_t{256} * 1024) << "the buffer never grew";
    EXPECT_EQ(asked.load(), Errc::ok);
    EXPECT_FALSE(changed.load()) << "the chunk changed under on_data";
    EXPECT_EQ(errc_name(end_result.load()), errc_name(refuse ? Errc::remote_error : Errc::ok));
    EXPECT_EQ(errc_name(done.copy()[0].error), errc_name(refuse ? Errc::remote_error : Errc::ok));
  }
}

// A refuse() from on_data takes effect as soon as that on_data returned, also when its
// delivery runs nested inside another reader's on_data (which resumed it). Before, it waited
// for the outermost on_data: meanwhile the nested delivery went on, consumed the object's
// last chunk and ended it ok, the refusal was lost and the sender was told ok.
TEST(IoObjects, ARefuseFromADeliveryNestedInAnotherReadersOnDataEndsThatObject) {
  Completions held_done;  // before the nodes: their stop() still reports into them
  Completions trigger_done;
  std::mutex mutex;
  std::optional<ObjectReader> held;
  std::atomic<int> held_calls{0};
  std::atomic<bool> first_chunk_was_last{false};
  std::atomic<bool> refused_nested{false};
  std::atomic<Errc> held_end{Errc::ok};
  std::atomic<bool> held_ended{false};
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader) {
    ObjectSink sink;
    if (object.header.name == "held") {
      sink.on_data = [&](ObjectReader& reader, Bytes, bool last) {
        if (held_calls++ == 0) {
          first_chunk_was_last = last;
          EXPECT_EQ(reader.defer(), Errc::ok);
          std::lock_guard lock(mutex);
          held = reader;
          return;
        }
        refused_nested = true;
        EXPECT_EQ(reader.refuse(Errc::remote_error, "refused when resumed"), Errc::ok);
      };
      sink.on_end = [&](ObjectReader&, Errc result, std::string_view) {
        held_end = result;
        held_ended = true;
      };
    } else {
      sink.on_data = [&](ObjectReader&, Bytes, bool) {
        std::optional<ObjectReader> resumed;
        {
          std::lock_guard lock(mutex);
          resumed.swap(held);
        }
        // Runs at once on this thread: the held reader's delivery nests in this on_data.
        if (resumed) {
          EXPECT_EQ(resumed->resume(), Errc::ok);
        }
      };
    }
    return sink;
  });
  ObjectStream first = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{held_done.on_done(), held_done.on_end()});
  constexpr std::size_t kHeldBytes = 900'000;  // within the 1 MiB window: all of it arrives
  ASSERT_EQ(first.send(named("held", ObjectSource::memory(SharedBytes(data_of(1, kHeldBytes))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return held.has_value();
  }));
  ASSERT_FALSE(first_chunk_was_last.load()) << "the object came in one chunk: nothing to nest";
  ASSERT_TRUE(wait_until([&] { return received_object_bytes(pair.receiver()) == kHeldBytes; }));
  ObjectStream second = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{trigger_done.on_done(), trigger_done.on_end()});
  ASSERT_EQ(second.send(named("trigger", ObjectSource::memory(SharedBytes(data_of(2, 1000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return held_done.count() == 1 && trigger_done.count() == 1; }));
  EXPECT_TRUE(refused_nested.load());
  EXPECT_EQ(errc_name(held_done.copy()[0].error), errc_name(Errc::remote_error));
  EXPECT_EQ(errc_name(trigger_done.copy()[0].error), errc_name(Errc::ok));
  ASSERT_TRUE(wait_until([&] { return held_ended.load(); }));
  EXPECT_EQ(errc_name(held_end.load()), errc_name(Errc::remote_error));
}

// An object the core refuses on the loop (here queue_full: the objects held would pass
// max_object_held_bytes, which send() cannot see) completes in posting order, after the
// objects posted before it. Before, its on_done ran at once, ahead of theirs.
TEST(IoObjects, AnObjectRefusedOnTheLoopCompletesAfterTheObjectsPostedBeforeIt) {
  std::mutex mutex;
  std::vector<std::pair<std::string, Errc>> order;
  std::vector<ObjectReader> deferred;
  ObjectPairOnSockets pair(
      [&](const IncomingObject&, ObjectReader) {
        ObjectSink sink;
        sink.on_data = [&](ObjectReader& reader, Bytes, bool) {
          EXPECT_EQ(reader.defer(), Errc::ok);
          std::lock_guard lock(mutex);
          deferred.push_back(reader);
        };
        return sink;
      },
      "store", [](NodeConfig& config) { config.limits.max_object_held_bytes = 1 << 20; });
  ObjectStream stream = pair.sender().open_object_stream("receiver", "store", {});
  auto record = [&](std::string name) {
    return [&, name](const ObjectResult& result) {
      std::lock_guard lock(mutex);
      order.emplace_back(name, result.error);
    };
  };
  for (const char* name : {"first", "second"}) {
    OutgoingObject object = named(name, ObjectSource::memory(SharedBytes(data_of(1, 800'000))));
    object.on_done = record(name);
    ASSERT_EQ(stream.send(std::move(object)), Errc::ok);  // the loop refuses the second
  }
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lock(mutex);
    return !deferred.empty();
  }));
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(order.empty()) << order.size() << " completed while the first is in flight";
  }
  // The receiver reads on: the first completes, then the second's refusal is told.
  ASSERT_TRUE(wait_until(
      [&] {
        std::vector<ObjectReader> batch;
        {
          std::lock_guard lock(mutex);
          batch.swap(deferred);
          if (order.size() == 2) return true;
        }
        for (ObjectReader& reader : batch)
          reader.resume();
        return false;
      },
      20s));
  std::lock_guard lock(mutex);
  EXPECT_EQ(order[0], std::pair(std::string("first"), Errc::ok));
  EXPECT_EQ(order[1], std::pair(std::string("second"), Errc::queue_full));
}

// The "queue it, and if it is done at once go on" pattern: defer() then resume() inside
// on_data, on the loop thread. The chunk is consumed once and delivery goes on after
// on_data returns. Before, resume() ran inline, consumed a stale count and delivered the
// same chunk again from inside on_data: chunks stored twice, reported ok (and done on every
// chunk, a recursion without end).
TEST(IoObjects, DeferAndResumeInsideOnDataDeliverEachChunkOnce) {
  Completions done;  // before the nodes: their stop() still reports into it
  std::mutex mutex;
  std::map<std::string, std::vector<std::uint8_t>> received;
  std::atomic<int> ended_ok{0};
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader) {
    ObjectSink sink;
    const std::string name = object.header.name;
    auto calls = std::make_shared<int>(0);
    sink.on_data = [&, name, calls](ObjectReader& reader, Bytes chunk, bool) {
      {
        std::lock_guard lock(mutex);
        auto& into = received[name];
        into.insert(into.end(), chunk.begin(), chunk.end());
      }
      // "every": each chunk; "odd": every other one.
      if (name == "every" || (*calls)++ % 2 == 0) {
        EXPECT_EQ(reader.defer(), Errc::ok);
        EXPECT_EQ(reader.resume(), Errc::ok);
      }
    };
    sink.on_end = [&](ObjectReader&, Errc result, std::string_view) {
      if (result == Errc::ok) ++ended_ok;
    };
    return sink;
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  ASSERT_EQ(stream.send(named("odd", ObjectSource::memory(SharedBytes(data_of(1, 300'000))))),
            Errc::ok);
  ASSERT_EQ(stream.send(named("every", ObjectSource::memory(SharedBytes(data_of(2, 300'000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 20s));
  for (const ObjectResult& result : done.copy())
    EXPECT_EQ(result.error, Errc::ok) << result.message;
  EXPECT_TRUE(wait_until([&] { return ended_ok.load() == 2; }));
  std::lock_guard lock(mutex);
  EXPECT_TRUE(received["odd"] == data_of(1, 300'000)) << received["odd"].size() << " bytes";
  EXPECT_TRUE(received["every"] == data_of(2, 300'000)) << received["every"].size() << " bytes";
}

// defer() answers only the thread inside on_data: another thread's call while on_data runs
// for that reader is invalid_argument and keeps nothing, so the object still arrives whole
// with no resume().
TEST(IoObjects, DeferFromAnotherThreadDuringOnDataIsRefused) {
  Completions done;  // before the nodes: their stop() still reports into it
  std::mutex mutex;
  std::optional<ObjectReader> held_reader;
  std::atomic<bool> hold{true};
  std::atomic<bool> holding{false};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<int> ended_ok{0};
  ObjectPairOnSockets pair([&](const IncomingObject&, ObjectReader) {
    ObjectSink sink;
    sink.on_data = [&](ObjectReader& reader, Bytes chunk, bool) {
      bytes += chunk.size();
      if (!hold) return;
      {
        std::lock_guard lock(mutex);
        held_reader = reader;
      }
      holding = true;
      while (hold)
        std::this_thread::sleep_for(1ms);
    };
    sink.on_end = [&](ObjectReader&, Errc result, std::string_view) {
      if (result == Errc::ok) ++ended_ok;
    };
    return sink;
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  ASSERT_EQ(stream.send(named("o", ObjectSource::memory(SharedBytes(data_of(1, 3'000'000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return holding.load(); }));
  {
    std::lock_guard lock(mutex);
    ASSERT_TRUE(held_reader.has_value());
    EXPECT_EQ(held_reader->defer(), Errc::invalid_argument);
  }
  hold = false;
  ASSERT_TRUE(wait_until([&] { return done.count() == 1; }, 20s));
  EXPECT_EQ(bytes.load(), 3'000'000u);
  EXPECT_EQ(ended_ok.load(), 1);
  EXPECT_EQ(done.copy().at(0).error, Errc::ok);
  std::lock_guard lock(mutex);
  EXPECT_EQ(held_reader->resume(), Errc::not_found);  // nothing was kept
}

TEST(IoObjects, AReceiverThatRestartsEndsTheUnacknowledgedObjectsAndTheStreamGoesOn) {
  Completions done;  // before the nodes: their stop() still reports into it
  std::atomic<bool> hold{true};
  std::atomic<int> started{0};
  Store store;
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader reader) {
    ++started;
    if (hold) {  // never reads: the object stays unfinished
      ObjectSink sink;
      sink.on_data = [](ObjectReader& current, Bytes, bool) { current.defer(); };
      return sink;
    }
    return store_into(store)(object, reader);
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  ASSERT_EQ(stream.send(named("a", ObjectSource::memory(SharedBytes(data_of(1, 100'000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return started.load() == 1; }));
  hold = false;
  pair.restart_receiver();
  ASSERT_TRUE(wait_until([&] { return done.count() == 1; }, 10s));
  EXPECT_EQ(done.copy()[0].error, Errc::peer_restarted);
  ASSERT_EQ(stream.send(named("b", ObjectSource::memory(SharedBytes(data_of(2, 100'000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 10s));
  EXPECT_EQ(done.copy()[1].error, Errc::ok);
  // The store is the receiver's loop thread's: read it under its lock (the sender's
  // completion orders nothing the race detector can see, it came over a socket).
  std::lock_guard lock(store.mutex);
  EXPECT_TRUE(store.objects["b"] == data_of(2, 100'000));
}

TEST(IoObjects, StoppingTheSenderCompletesEveryObjectWithShuttingDown) {
  Completions done;  // before the nodes: their stop() still reports into it
  ObjectPairOnSockets pair([](const IncomingObject&, ObjectReader) {
    ObjectSink sink;
    sink.on_data = [](ObjectReader& reader, Bytes, bool) { reader.defer(); };
    return sink;
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(stream.send(named("x", ObjectSource::memory(SharedBytes(data_of(i, 400'000))))),
              Errc::ok);
  }
  std::this_thread::sleep_for(100ms);
  pair.sender().stop();
  const auto results = done.copy();
  ASSERT_EQ(results.size(), 5u);
  for (const ObjectResult& result : results)
    EXPECT_EQ(result.error, Errc::shutting_down);
  std::lock_guard lock(done.mutex);
  EXPECT_EQ(done.ends, std::vector<Errc>{Errc::shutting_down});
  EXPECT_EQ(stream.send(named("late", ObjectSource::none())), Errc::stream_closed);
}

// A reader kept from a deferring on_data, and refused, discarded or resumed from a callback
// of the loop thread in the turn whose input also holds the sender's abort of its object and
// the next object: the abort is the reader's end, and the command touches nothing else.
// Before, the command hit the next object, the one the stream read by then (refuse: the next
// object failed with this one's code and its reader never heard its end; discard: it was
// acknowledged unread; resume: its first bytes were consumed unseen).
TEST(IoObjects, AKeptReaderOfAnAbortedObjectNeverActsOnTheNextObject) {
  constexpr std::uint16_t kPoke = 7;
  constexpr std::size_t kSecondBytes = 20'000;
  for (const std::string command : {"refuse", "discard", "resume"}) {
    SCOPED_TRACE(command);
    Completions done;  // before the nodes: their stop() still reports into it
    std::mutex mutex;
    ObjectReader kept;  // the first object's, deferred
    std::atomic<bool> reader_kept{false};
    std::atomic<bool> poked{false};
    std::map<std::string, std::size_t> received;            // by object name
    std::vector<std::pair<std::string, Errc>> reader_ends;  // (name, result)
    EventNodeOptions receiving;
    receiving.config = config_for("receiver", "sender");
    EventNode receiver(std::move(receiving));
    receiver.handle_objects(
        "store", ObjectWindow{64, 8u << 20}, [&](const IncomingObject& object, ObjectReader) {
          ObjectSink sink;
          sink.on_data = [&, name = object.header.name](ObjectReader& reader, Bytes chunk, bool) {
            std::lock_guard lock(mutex);
            received[name] += chunk.size();
            if (name == "first" && received[name] >= 16 * 1024 && !reader_kept) {
              EXPECT_EQ(reader.defer(), Errc::ok);
              kept = reader;
              reader_kept = true;
            }
          };
          sink.on_end = [&, name = object.header.name](ObjectReader&, Errc result,
                                                       std::string_view) {
            std::lock_guard lock(mutex);
            reader_ends.emplace_back(name, result);
          };
          return sink;
        });
    receiver.handle(kPoke, "", [&](IncomingRequest&& request) {
      ObjectReader reader;
      {
        std::lock_guard lock(mutex);
        reader = kept;
      }
      // Inline, on the loop thread (on_end may run within it: no lock held).
      Errc posted = Errc::ok;
      if (command == "refuse") posted = reader.refuse(Errc::too_large, "poked");
      if (command == "discard") posted = reader.discard();
      if (command == "resume") posted = reader.resume();
      EXPECT_EQ(posted, Errc::ok);
      poked = true;
      request.responder.respond({});
    });
    ASSERT_EQ(receiver.start(), Errc::ok);
    EventNodeOptions sending;
    sending.config = config_for("sender", "receiver");
    sending.addresses = {{"receiver", "127.0.0.1", receiver.port()}};
    EventNode sender(std::move(sending));
    ASSERT_EQ(sender.start(), Errc::ok);
    ObjectStream stream = sender.open_object_stream(
        "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
    // The first object's data comes slowly until its reader is kept; then, on the sender's
    // loop thread, the poke goes out and the object fails, so the poke, the abort and the
    // second object's start leave in one write and arrive in one read.
    const auto produce = [&](std::uint64_t, std::span<std::uint8_t> room, std::size_t& written,
                             bool&) {
      if (reader_kept) {
        sender.request("receiver", kPoke, {}, 0, [](Reply&&) {});
        return Errc::canceled;
      }
      std::this_thread::sleep_for(1ms);
      written = std::min<std::size_t>(room.size(), 4096);
      std::fill_n(room.begin(), written, std::uint8_t{0x11});
      return Errc::ok;
    };
    ASSERT_EQ(stream.send(named("first", ObjectSource::producer(std::nullopt, produce))), Errc::ok);
    ASSERT_EQ(
        stream.send(named("second", ObjectSource::memory(SharedBytes(data_of(2, kSecondBytes))))),
        Errc::ok);
    ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 20s));
    const auto results = done.copy();
    EXPECT_EQ(results[0].error, Errc::canceled);
    EXPECT_EQ(results[1].error, Errc::ok) << results[1].message;
    EXPECT_TRUE(poked.load());
    // The receiver: the first reader ended once, by the abort; the second read whole.
    const auto both_ended = [&] {
      std::lock_guard lock(mutex);
      return reader_ends.size() >= 2;
    };
    EXPECT_TRUE(wait_until(both_ended, 5s));
    std::lock_guard lock(mutex);
    ASSERT_EQ(reader_ends.size(), 2u);
    // The first ends by the abort (the poke came in the abort's read, the case this test is
    // about, as it did in every run before the fix), or, when a read ended between the two,
    // by the command itself, which then still found its own object.
    const Errc by_command = command == "refuse"    ? Errc::too_large
                            : command == "discard" ? Errc::ok
                                                   : Errc::canceled;
    EXPECT_EQ(reader_ends[0].first, "first");
    EXPECT_TRUE(reader_ends[0].second == Errc::canceled || reader_ends[0].second == by_command)
        << errc_name(reader_ends[0].second);
    EXPECT_EQ(reader_ends[1], (std::pair<std::string, Errc>{"second", Errc::ok}));
    EXPECT_EQ(received["second"], kSecondBytes);
  }
}

}  // namespace
}  // namespace weft::io
