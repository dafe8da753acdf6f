// Object streams through EventNode over loopback sockets (weft/io/objects.hpp): data from
// memory, from a file and from a producer; into memory, a file and a deferring callback;
// one completion per object in order; a receiver that restarts; the node stopping.
#include <fcntl.h>
#include <gtest/gtest.h>
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
#include <thread>

#include "../examples/call_objects.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::wait_until;

std::uint8_t content(std::uint64_t object, std::uint64_t offset) {
  return static_cast<std::uint8_t>((object * 31 + offset * 7 + (offset >> 10)) & 0xff);
}

std::vector<std::uint8_t> data_of(std::uint64_t object, std::size_t size) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i)
    data[i] = content(object, i);
  return data;
}

// What the sending side saw, shared with the loop thread.
struct Completions {
  std::mutex mutex;
  std::vector<ObjectResult> results;
  std::vector<Errc> ends;
  ObjectDone on_done() {
    return [this](const ObjectResult& result) {
      std::lock_guard lock(mutex);
      results.push_back(result);
    };
  }
  std::function<void(Errc, std::string_view)> on_end() {
    return [this](Errc result, std::string_view) {
      std::lock_guard lock(mutex);
      ends.push_back(result);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return results.size();
  }
  std::vector<ObjectResult> copy() {
    std::lock_guard lock(mutex);
    return results;
  }
  // Whether on_end has run (ObjectStream::ended() turns true before it runs).
  bool end_told() {
    std::lock_guard lock(mutex);
    return !ends.empty();
  }
};

// What the receiving side got whole, by object name.
struct Store {
  std::mutex mutex;
  std::map<std::string, std::vector<std::uint8_t>> objects;
  std::vector<std::string> order;
  std::size_t count() {
    std::lock_guard lock(mutex);
    return objects.size();
  }
};

// A sender and a receiver on loopback; the receiver serves endpoint "store" with `sink`.
class ObjectPairOnSockets {
 public:
  explicit ObjectPairOnSockets(ObjectHandler handler, std::string endpoint = "store")
      : handler_(std::move(handler)), endpoint_(std::move(endpoint)) {
    start_receiver(0);
    EventNodeOptions options;
    options.config = config_for("sender", "receiver");
    options.addresses = {{"receiver", "127.0.0.1", receiver_->port()}};
    sender_ = std::make_unique<EventNode>(std::move(options));
    EXPECT_EQ(sender_->start(), Errc::ok);
  }

  void start_receiver(std::uint16_t port) {
    EventNodeOptions options;
    options.config = config_for("receiver", "sender");
    options.listen_port = port;
    receiver_ = std::make_unique<EventNode>(std::move(options));
    receiver_->handle_objects(endpoint_, ObjectWindow{64, 1u << 20}, handler_);
    EXPECT_EQ(receiver_->start(), Errc::ok);
  }
  void restart_receiver() {
    const std::uint16_t port = receiver_->port();
    receiver_->stop();
    receiver_.reset();
    start_receiver(port);
  }

  EventNode& sender() { return *sender_; }

 private:
  ObjectHandler handler_;
  std::string endpoint_;
  std::unique_ptr<EventNode> receiver_;
  std::unique_ptr<EventNode> sender_;
};

ObjectHandler store_into(Store& store) {
  return [&store](const IncomingObject& object, ObjectReader) {
    return memory_sink(
        [&store](const IncomingObject& whole, std::vector<std::uint8_t>&& data) {
          std::lock_guard lock(store.mutex);
          store.order.push_back(whole.header.name);
          store.objects[whole.header.name] = std::move(data);
        },
        object);
  };
}

OutgoingObject named(std::string name, ObjectSource source) {
  OutgoingObject object;
  object.header.name = std::move(name);
  object.source = std::move(source);
  return object;
}

// The names in directory `dir` (hidden ones too), sorted.
std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A sender whose stream to "store" keeps what arrives whole in `store`; `done` is declared
// before the nodes, whose stop() still reports into it.
struct StoringPair {
  Completions done;
  Store store;
  ObjectPairOnSockets pair{store_into(store)};
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
};

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

TEST(IoObjects, AFileSinkWritesWholeObjectsOnlyAndABadEndpointFailsStart) {
  Completions done;  // before the nodes: their stop() still reports into it
  char dir[] = "/tmp/weft-io-sink-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string base(dir);
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader reader) {
    return file_sink(base + "/" + object.header.name, reader);
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  ASSERT_EQ(stream.send(named("one.bin", ObjectSource::memory(SharedBytes(data_of(5, 700'000))))),
            Errc::ok);
  ASSERT_EQ(
      stream.send(named("no-such-dir/two.bin", ObjectSource::memory(SharedBytes(data_of(6, 10))))),
      Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 10s));
  EXPECT_EQ(done.copy()[0].error, Errc::ok);
  EXPECT_EQ(done.copy()[1].error, Errc::remote_error);
  std::ifstream in(base + "/one.bin", std::ios::binary);
  const std::vector<std::uint8_t> written((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
  EXPECT_TRUE(written == data_of(5, 700'000));
  EXPECT_EQ(files_in(base), std::vector<std::string>{"one.bin"});  // no partial file left
  ::unlink((base + "/one.bin").c_str());
  ::rmdir(dir);

  EventNodeOptions options;
  options.config = config_for("x", "y");
  EventNode bad(std::move(options));
  bad.handle_objects("two words", ObjectWindow{}, {});
  EXPECT_EQ(bad.start(), Errc::invalid_argument);
}

// A producer that gives nothing without ending, and a sized one that ends early, fail their
// objects with invalid_argument; the objects after them go through. The first was asked
// again and again at once: the loop thread spun and the node stopped serving anything.
TEST(IoObjects, AProducerThatStallsOrEndsShortFailsItsObjectAndTheLoopGoesOn) {
  Completions done;
  Store store;
  ObjectPairOnSockets pair(store_into(store));
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  const auto stalls = [](std::uint64_t, std::span<std::uint8_t>, std::size_t& written, bool& last) {
    written = 0;
    last = false;
    return Errc::ok;
  };
  const auto ends_at_100 = [](std::uint64_t offset, std::span<std::uint8_t> room,
                              std::size_t& written, bool& last) {
    written = std::min<std::size_t>(room.size(), 100 - offset);
    std::fill_n(room.begin(), written, std::uint8_t{7});
    last = offset + written == 100;
    return Errc::ok;
  };
  ASSERT_EQ(stream.send(named("stalls", ObjectSource::producer(std::nullopt, stalls))), Errc::ok);
  ASSERT_EQ(stream.send(named("short", ObjectSource::producer(1000, ends_at_100))), Errc::ok);
  ASSERT_EQ(stream.send(named("after", ObjectSource::memory(SharedBytes(data_of(9, 5000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 3; }, 10s));
  const auto results = done.copy();
  EXPECT_EQ(results[0].error, Errc::invalid_argument);
  EXPECT_NE(results[0].message.find("no data"), std::string::npos) << results[0].message;
  EXPECT_EQ(results[1].error, Errc::invalid_argument);
  EXPECT_NE(results[1].message.find("900 bytes short"), std::string::npos) << results[1].message;
  EXPECT_EQ(results[2].error, Errc::ok) << results[2].message;
  std::lock_guard lock(store.mutex);
  EXPECT_TRUE(store.objects["after"] == data_of(9, 5000));
  EXPECT_FALSE(store.objects.contains("stalls"));
  EXPECT_FALSE(store.objects.contains("short"));
}

// Two objects with one name, arriving at once on two streams, each into file_sink at the same
// path: each is written to a partial file of its own, so the file in place at the end is one
// of them whole (the last to finish), never a mix, and no partial file is left. With one
// partial file per path, the second object truncated the first's and both wrote into it.
TEST(IoObjects, SameNamedObjectsArrivingAtOnceNeverMixInAFileSink) {
  Completions done;
  char dir[] = "/tmp/weft-io-sink-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string base(dir);
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader reader) {
    return file_sink(base + "/" + object.header.name, reader);
  });
  // A large object, and a small one that starts and ends while the large one is written.
  constexpr std::size_t kLargeBytes = 16'000'000;
  constexpr std::size_t kSmallBytes = 100'000;
  std::vector<ObjectStream> streams;
  for (int i = 0; i < 2; ++i) {
    streams.push_back(pair.sender().open_object_stream(
        "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()}));
  }
  ASSERT_EQ(streams[0].send(
                named("same.bin", ObjectSource::memory(SharedBytes(data_of(1, kLargeBytes))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] {
    for (const auto& entry : std::filesystem::directory_iterator(base)) {
      if (entry.file_size() >= 4'000'000) return true;
    }
    return false;
  }));
  ASSERT_EQ(streams[1].send(
                named("same.bin", ObjectSource::memory(SharedBytes(data_of(2, kSmallBytes))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 60s));
  for (const ObjectResult& result : done.copy())
    EXPECT_EQ(result.error, Errc::ok) << result.message;
  const std::vector<std::uint8_t> stored = file_bytes(base + "/same.bin");
  EXPECT_TRUE(stored == data_of(1, kLargeBytes) || stored == data_of(2, kSmallBytes))
      << "the stored file is neither object whole (" << stored.size() << " bytes)";
  EXPECT_EQ(files_in(base), std::vector<std::string>{"same.bin"});
  std::filesystem::remove_all(base);
}

// An object the sink cannot put in place (its path is a directory) is refused, so the sender
// never hears ok for a file that is not there; nothing is left behind. The rename's failure
// was ignored: the sender was told ok.
TEST(IoObjects, AFileSinkRefusesAnObjectItCannotPutInPlace) {
  Completions done;
  char dir[] = "/tmp/weft-io-sink-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string base(dir);
  ASSERT_EQ(::mkdir((base + "/taken").c_str(), 0755), 0);
  ObjectPairOnSockets pair([&](const IncomingObject& object, ObjectReader reader) {
    return file_sink(base + "/" + object.header.name, reader);
  });
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
  ASSERT_EQ(stream.send(named("taken", ObjectSource::memory(SharedBytes(data_of(3, 1000))))),
            Errc::ok);
  ASSERT_EQ(stream.send(named("free", ObjectSource::memory(SharedBytes(data_of(4, 1000))))),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] { return done.count() == 2; }, 10s));
  EXPECT_EQ(done.copy()[0].error, Errc::remote_error);
  EXPECT_NE(done.copy()[0].message.find("taken"), std::string::npos) << done.copy()[0].message;
  EXPECT_EQ(done.copy()[1].error, Errc::ok);
  EXPECT_TRUE(file_bytes(base + "/free") == data_of(4, 1000));
  EXPECT_EQ(files_in(base), (std::vector<std::string>{"free", "taken"}));
  std::filesystem::remove_all(base);
}

// weft-node's store names its files with file_name_for (examples/object_cli.hpp): names
// that used to share a file ("x y" and "x_y", "a/b" and "a_b") get files of their own, no
// file name is hidden or a path, and long names stay under the limit and apart.
TEST(ObjectCli, StoreFileNamesAreOneToOneAndSafe) {
  const std::vector<std::string> names = {"x y",
                                          "x_y",
                                          "x%20y",
                                          "a/b",
                                          "a_b",
                                          "a%2Fb",
                                          "",
                                          "%",
                                          ".hidden",
                                          "%2Ehidden",
                                          "..",
                                          "plain-name_1.bin",
                                          std::string(300, 'a'),
                                          std::string(300, 'a') + "b",
                                          std::string(250, '/'),
                                          std::string(182, 'c') + "%%0123456789abcdef"};
  std::set<std::string> files;
  for (const std::string& name : names) {
    const std::string file = cli::file_name_for(name);
    EXPECT_TRUE(files.insert(file).second) << "\"" << name << "\" shares the file " << file;
    EXPECT_FALSE(file.empty());
    EXPECT_LE(file.size(), cli::kMaxFileNameBytes);
    EXPECT_NE(file.front(), '.') << file;
    EXPECT_EQ(file.find('/'), std::string::npos) << file;
  }
  EXPECT_EQ(cli::file_name_for("plain-name_1.bin"), "plain-name_1.bin");  // as it was
  EXPECT_EQ(cli::file_name_for("x y"), "x%20y");
}

// weft-node removes at start the partial files a run killed mid-object left in its store,
// and nothing else.
TEST(ObjectCli, AStoreLosesOnlyThePartialFilesOfARunThatDied) {
  char dir[] = "/tmp/weft-io-store-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string base(dir);
  const std::vector<std::string> stale = {".a.bin.partial-1", ".a.bin.partial-27"};
  const std::vector<std::string> kept = {"a.bin",        ".keep",      "b.partial-1",
                                         ".c.partial-x", ".partial-3", "%2Ed.partial-1"};
  for (const std::string& name : stale)
    std::ofstream(base + "/" + name) << "x";
  for (const std::string& name : kept)
    std::ofstream(base + "/" + name) << "x";
  EXPECT_EQ(cli::remove_stale_partials(base), stale.size());
  std::vector<std::string> expected = kept;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(files_in(base), expected);
  EXPECT_EQ(cli::remove_stale_partials(base + "/no-such-dir"), 0u);
  std::filesystem::remove_all(base);
}

// weft-call's objects action (examples/call_objects.hpp) when the stream ends under it:
// every object still gets one final result. The receiver has no endpoint "objects", so the
// stream ends (unknown_handler) with its first object; the objects not sent by then were
// left without a result, which the summary then read as if they had one.
TEST(IoObjects, WeftCallGivesEveryObjectAResultWhenTheStreamEndsUnderIt) {
  Store store;
  ObjectPairOnSockets pair(store_into(store));  // serves "store" only
  std::vector<cli::ObjectJob> jobs = cli::generated_jobs(6, 100);
  const Errc first_error = cli::send_objects(pair.sender(), "receiver", jobs, 1, 0);
  EXPECT_NE(first_error, Errc::ok);
  for (const cli::ObjectJob& job : jobs) {
    ASSERT_TRUE(job.result.has_value()) << job.name;
    EXPECT_NE(job.result->error, Errc::ok) << job.name;
  }
  EXPECT_EQ(jobs.front().result->error, Errc::unknown_handler);
  EXPECT_EQ(store.count(), 0u);
}

// The open descriptors of this process (every thread's).
std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

// weft-call's objects action over a directory holds no descriptor per file: it held one
// from the checksum to the end of the run, so a directory of about as many files as its
// descriptor limit could not be sent at all. Now a file is opened when its object is sent.
TEST(IoObjects, WeftCallHoldsNoDescriptorForEachFileOfADirectory) {
  char dir[] = "/tmp/weft-io-files-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string base(dir);
  constexpr std::size_t kFiles = 40;
  for (std::size_t i = 0; i < kFiles; ++i) {
    const std::vector<std::uint8_t> data = data_of(i, 1000 + i);
    std::ofstream(base + "/file-" + std::to_string(100 + i), std::ios::binary)
        .write(reinterpret_cast<const char*>(data.data()),
               static_cast<std::streamsize>(data.size()));
  }
  Store store;
  ObjectPairOnSockets pair(store_into(store), std::string(cli::kObjectEndpoint));
  // The connection up first (its sockets counted in `before`): one generated object.
  std::vector<cli::ObjectJob> warm_up = cli::generated_jobs(1, 10);
  ASSERT_EQ(cli::send_objects(pair.sender(), "receiver", warm_up, 1, 0), Errc::ok);
  const std::size_t before = open_descriptors();
  std::vector<std::string> unreadable;
  auto jobs = cli::jobs_from_dir(base, unreadable);
  ASSERT_TRUE(jobs.has_value());
  ASSERT_EQ(jobs->size(), kFiles);
  EXPECT_TRUE(unreadable.empty());
  EXPECT_EQ(open_descriptors(), before);  // each file was read and closed
  EXPECT_EQ(cli::send_objects(pair.sender(), "receiver", *jobs, 4, 0), Errc::ok);
  for (std::size_t i = 0; i < kFiles; ++i) {
    ASSERT_TRUE((*jobs)[i].result.has_value());
    EXPECT_EQ((*jobs)[i].result->error, Errc::ok) << (*jobs)[i].result->message;
    std::lock_guard lock(store.mutex);
    EXPECT_TRUE(store.objects["file-" + std::to_string(100 + i)] == data_of(i, 1000 + i));
  }
  EXPECT_TRUE(wait_until([&] { return open_descriptors() == before; }));  // sources released
  // A file gone between the listing and its send: that object fails, the others go.
  std::vector<std::string> unused;
  auto again = cli::jobs_from_dir(base, unused);
  ASSERT_TRUE(again.has_value());
  ASSERT_EQ(::unlink((base + "/file-100").c_str()), 0);
  EXPECT_EQ(cli::send_objects(pair.sender(), "receiver", *again, 4, 0), Errc::invalid_argument);
  EXPECT_EQ(again->front().result->error, Errc::invalid_argument);
  EXPECT_NE(again->front().result->message.find("file-100"), std::string::npos);
  EXPECT_EQ(again->back().result->error, Errc::ok);
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace weft::io
