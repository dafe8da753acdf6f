// Objects into files and weft-call's object tools, through EventNode over loopback sockets:
// file_sink's partial files and atomic placing, weft-node's store names and start-up
// cleaning, and weft-call's objects action (results, descriptors, generated objects).
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
#include "../io/src/object_states.hpp"
#include "io_objects_support.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using namespace objects_test;
using testing::open_descriptors;
using testing::wait_until;

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

// A log line of weft-node or weft-call can hold a peer's text (why it refused a handshake,
// before any proof): it is written on one line, with control bytes escaped, so a peer can
// neither forge a line nor send a terminal escape. Before, the text went out as it came.
TEST(CliLog, APeersTextCannotForgeALineOrEscapeToTheTerminal) {
  const io::LogSink sink = cli::stderr_log("node-a", false);
  ::testing::internal::CaptureStderr();
  sink(io::LogLevel::warning,
       "peer b handshake failed: auth_failed: bye\n[   1.000] node-a: forged \x1b[2J");
  const std::string written = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 1) << written;
  EXPECT_EQ(written.find('\x1b'), std::string::npos) << written;
  EXPECT_NE(written.find("auth_failed: bye\\x0a[   1.000] node-a: forged \\x1b[2J\n"),
            std::string::npos)
      << written;
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
// weft-call's generated objects are made as they are sent: a job holds no data, so
// `objects gen 100000 1048576` does not need 100 GB. Before, every object's bytes were
// made up front and held to the end of the run. The bytes produced are those the job's
// checksum was computed over.
TEST(ObjectCli, GeneratedObjectsAreMadeAsTheyAreSentNotHeldWhole) {
  constexpr std::uint64_t kSize = 3'000'000;
  const std::vector<cli::ObjectJob> jobs = cli::generated_jobs(3, kSize);
  ASSERT_EQ(jobs.size(), 3u);
  std::vector<std::uint8_t> room(100'000);
  for (const cli::ObjectJob& job : jobs) {
    const std::shared_ptr<const ObjectSource::State> source = job.generate().state();
    EXPECT_EQ(source->kind, ObjectSource::State::Kind::producer) << job.name;
    EXPECT_EQ(source->data.size(), 0u) << job.name;
    ASSERT_TRUE(source->produce);
    DataChecksum checksum;
    std::uint64_t offset = 0;
    bool last = false;
    while (!last) {
      std::size_t written = 0;
      ASSERT_EQ(source->produce(offset, room, written, last), Errc::ok);
      checksum.update(Bytes(room).first(written));
      offset += written;
    }
    EXPECT_EQ(offset, kSize);
    EXPECT_EQ(checksum.hex(), job.checksum) << job.name;
  }
  EXPECT_NE(jobs[0].checksum, jobs[1].checksum);
}

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
