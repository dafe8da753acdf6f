// Membership at run time through EventNode (add_peer / remove_peer from another thread):
// a node added while both run connects and serves requests, streams and objects; removing a
// peer ends everything in flight with it once with peer_removed on the remover while the
// other side sees the disconnect; a name added again is a new relationship that works.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../examples/membership_file.hpp"
#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"
#include "weft/io/regular_file.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::reply_within;
using testing::wait_until;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kHold = 2;     // requests kept unanswered
constexpr std::uint16_t kStreams = 3;  // streams that echo each message until the input ends

// Everything the application saw, by what it was (thread-safe).
struct Seen {
  std::mutex mutex;
  std::map<std::string, std::vector<Errc>> results;
  std::vector<Responder> held;
  void add(const std::string& what, Errc result) {
    std::lock_guard lock(mutex);
    results[what].push_back(result);
  }
  std::vector<Errc> of(const std::string& what) {
    std::lock_guard lock(mutex);
    return results[what];
  }
  std::size_t count(const std::string& what) { return of(what).size(); }
  bool saw(const std::string& what) { return count(what) > 0; }
};

// A node that echoes (kEcho, kStreams), holds (kHold) and stores objects at "store"; an
// object at "slow" is held at its first chunk. What happens is recorded in `seen`.
class Member {
 public:
  Member(const std::string& name, std::vector<std::string> peers, Seen& seen) : seen_(seen) {
    EventNodeOptions options;
    options.config = config_for(name, "");
    options.config.peers = std::move(peers);
    options.config.timeouts.object_resume_timeout_ms = 500;
    node_ = std::make_unique<EventNode>(std::move(options));
    node_->handle(kEcho, "", [](IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    node_->handle(kHold, "", [this](IncomingRequest&& request) {
      std::lock_guard lock(seen_.mutex);
      seen_.held.push_back(request.responder);
    });
    node_->handle_stream(
        kStreams, "", StreamWindow{}, [this](const IncomingStream&, StreamSession) {
          seen_.add("served stream opened", Errc::ok);
          StreamCallbacks callbacks;
          callbacks.on_message = [](StreamSession& session, Bytes message) {
            session.write(message);
          };
          callbacks.on_input_end = [](StreamSession& session) { session.close(); };
          callbacks.on_end = [this](StreamSession&, Errc result, std::string_view) {
            seen_.add("served stream", result);
          };
          return callbacks;
        });
    node_->handle_objects("store", ObjectWindow{},
                          [this](const IncomingObject& object, ObjectReader) {
                            return memory_sink(
                                [this](const IncomingObject&, std::vector<std::uint8_t>&&) {
                                  seen_.add("stored object", Errc::ok);
                                },
                                object);
                          });
    node_->handle_objects("slow", ObjectWindow{}, [this](const IncomingObject&, ObjectReader) {
      ObjectSink sink;
      sink.on_data = [this](ObjectReader& reader, Bytes, bool) {
        reader.defer();  // never resumed: the object stays in flight
        seen_.add("slow object data", Errc::ok);
      };
      sink.on_end = [this](ObjectReader&, Errc result, std::string_view) {
        seen_.add("slow object end", result);
      };
      return sink;
    });
    node_->on_peer_change([this](const PeerChange& change) {
      if (change.kind == PeerChange::Kind::up) seen_.add("up " + change.peer, Errc::ok);
      if (change.kind == PeerChange::Kind::down) seen_.add("down " + change.peer, Errc::ok);
    });
    EXPECT_EQ(node_->start(), Errc::ok);
  }
  EventNode& node() { return *node_; }
  PeerAddress address(const std::string& name) { return {name, "127.0.0.1", node_->port()}; }
  // The state of the peers called `name`, in the order they were added.
  std::vector<PeerState> states(const std::string& name) {
    std::vector<PeerState> found;
    for (const PeerStatus& status : node_->peers()) {
      if (status.name == name) found.push_back(status.stats.state);
    }
    return found;
  }
  bool established(const std::string& name) {
    const std::vector<PeerState> found = states(name);
    return !found.empty() && found.back() == PeerState::established;
  }

 private:
  Seen& seen_;
  std::unique_ptr<EventNode> node_;
};

// A request, a stream and an object from `from` to `to`, each checked to work.
void expect_serves(Member& from, const std::string& to, Seen& seen_by_to) {
  const std::vector<std::uint8_t> hello = {'h', 'i'};
  const Reply reply = reply_within(from.node().request(to, kEcho, Bytes(hello), 5000));
  EXPECT_EQ(reply.error, Errc::ok);
  EXPECT_EQ(reply.payload, hello);

  std::promise<std::vector<std::uint8_t>> echoed;
  StreamCallbacks callbacks;
  callbacks.on_message = [&](StreamSession& session, Bytes message) {
    echoed.set_value({message.begin(), message.end()});
    session.close();
  };
  StreamSession session =
      from.node().open_stream(to, kStreams, "", nullptr, true, StreamWindow{}, 5000, callbacks);
  EXPECT_EQ(session.write(Bytes(hello)), Errc::ok);
  std::future<std::vector<std::uint8_t>> got = echoed.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), hello);

  const std::size_t stored = seen_by_to.count("stored object");
  std::promise<Errc> done;
  ObjectStreamCallbacks object_callbacks;
  object_callbacks.on_done = [&](const ObjectResult& result) { done.set_value(result.error); };
  ObjectStream objects = from.node().open_object_stream(to, "store", object_callbacks);
  OutgoingObject object;
  object.header.name = "o";
  object.source = ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(100'000, 7)));
  EXPECT_EQ(objects.send(std::move(object)), Errc::ok);
  std::future<Errc> completed = done.get_future();
  ASSERT_EQ(completed.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(completed.get(), Errc::ok);
  EXPECT_EQ(seen_by_to.count("stored object"), stored + 1);
  objects.fin();
}

TEST(IoMembership, NodesThatAddEachOtherWhileRunningConnectAndServe) {
  Seen seen_a;
  Seen seen_b;
  Member a("ma", {}, seen_a);
  Member b("mb", {}, seen_b);
  EXPECT_EQ(a.node().request("mb", kEcho, Bytes{}, 1000).get().error, Errc::unknown_peer);
  // Added from this thread while both loops run; each needs the other's address.
  ASSERT_EQ(a.node().add_peer(b.address("mb")), Errc::ok);
  ASSERT_EQ(b.node().add_peer(a.address("ma")), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return a.established("mb") && b.established("ma"); }));
  expect_serves(a, "mb", seen_b);
  expect_serves(b, "ma", seen_a);
  // A live peer, the node itself, a bad name or a bad address are refused.
  EXPECT_EQ(a.node().add_peer(b.address("mb")), Errc::invalid_argument);
  EXPECT_EQ(a.node().add_peer(a.address("ma")), Errc::invalid_argument);
  EXPECT_EQ(a.node().add_peer({"bad name", "127.0.0.1", 1}), Errc::invalid_argument);
  EXPECT_EQ(a.node().add_peer({"mc", "300.1.2.3", 1}), Errc::invalid_argument);
  EXPECT_EQ(a.node().remove_peer("mc"), Errc::unknown_peer);
}

TEST(IoMembership, ARemovalEndsEverythingInFlightOnceWithPeerRemovedAndANameAddedAgainWorks) {
  Seen seen_a;
  Seen seen_b;
  Member a("ra", {}, seen_a);
  Member b("rb", {}, seen_b);
  ASSERT_EQ(a.node().add_peer(b.address("rb")), Errc::ok);
  ASSERT_EQ(b.node().add_peer(a.address("ra")), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return a.established("rb") && b.established("ra"); }));

  // In flight from "ra": a held request, an open stream, an object held at its first chunk.
  ASSERT_EQ(a.node().request("rb", kHold, Bytes{}, 0,
                             [&](Reply&& reply) { seen_a.add("call", reply.error); }),
            Errc::ok);
  StreamCallbacks callbacks;
  callbacks.on_end = [&](StreamSession&, Errc result, std::string_view) {
    seen_a.add("stream", result);
  };
  StreamSession session =
      a.node().open_stream("rb", kStreams, "", nullptr, true, StreamWindow{}, 0, callbacks);
  ObjectStreamCallbacks object_callbacks;
  object_callbacks.on_done = [&](const ObjectResult& result) {
    seen_a.add("object", result.error);
  };
  object_callbacks.on_end = [&](Errc result, std::string_view) {
    seen_a.add("object stream", result);
  };
  ObjectStream objects = a.node().open_object_stream("rb", "slow", object_callbacks);
  OutgoingObject object;
  object.source = ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(300'000, 1)));
  ASSERT_EQ(objects.send(std::move(object)), Errc::ok);
  // And one the other way: "rb" calls "ra", which holds it.
  ASSERT_EQ(b.node().request("ra", kHold, Bytes{}, 0,
                             [&](Reply&& reply) { seen_b.add("call", reply.error); }),
            Errc::ok);
  ASSERT_TRUE(wait_until([&] {
    std::scoped_lock lock(seen_a.mutex, seen_b.mutex);
    return seen_a.held.size() == 1 && seen_b.held.size() == 1;
  }));
  ASSERT_TRUE(wait_until(
      [&] { return seen_b.saw("slow object data") && seen_b.saw("served stream opened"); }));

  ASSERT_EQ(a.node().remove_peer("rb"), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return seen_a.saw("object stream"); }));
  // The remover: each ended once, with peer_removed; the request it was serving ended too.
  EXPECT_EQ(seen_a.of("call"), std::vector<Errc>{Errc::peer_removed});
  EXPECT_EQ(seen_a.of("stream"), std::vector<Errc>{Errc::peer_removed});
  EXPECT_EQ(seen_a.of("object"), std::vector<Errc>{Errc::peer_removed});
  EXPECT_EQ(seen_a.of("object stream"), std::vector<Errc>{Errc::peer_removed});
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(seen_a.mutex);
    return seen_a.held[0].canceled();
  }));
  EXPECT_FALSE(seen_a.held[0].respond(Bytes{}));
  EXPECT_EQ(a.states("rb"), std::vector<PeerState>{PeerState::removed});
  // The other side saw the connection go: its own call and the stream it served ended with
  // disconnected, the request it was serving was canceled, and the object it was reading
  // ends when its sender does not come back (object_resume_timeout_ms).
  ASSERT_TRUE(wait_until([&] { return seen_b.saw("slow object end"); }));
  EXPECT_EQ(seen_b.of("call"), std::vector<Errc>{Errc::disconnected});
  EXPECT_EQ(seen_b.of("served stream"), std::vector<Errc>{Errc::disconnected});
  EXPECT_EQ(seen_b.of("slow object end"), std::vector<Errc>{Errc::disconnected});
  EXPECT_TRUE(seen_b.saw("down ra"));
  {
    std::lock_guard lock(seen_b.mutex);
    EXPECT_TRUE(seen_b.held[0].canceled());
  }
  // Nothing reaches the removed name, and it cannot come back on its own.
  EXPECT_EQ(a.node().request("rb", kEcho, Bytes{}, 1000).get().error, Errc::unknown_peer);
  EXPECT_EQ(a.node().remove_peer("rb"), Errc::unknown_peer);
  std::this_thread::sleep_for(600ms);  // "rb" redials (backoff_max_ms 200) and is refused
  EXPECT_FALSE(b.established("ra"));
  EXPECT_EQ(seen_a.count("up rb"), 1u);  // the first relationship's only

  // Added again: a new relationship (a second entry for the name) that serves as before,
  // while nothing of the old one is delivered again.
  ASSERT_EQ(a.node().add_peer(b.address("rb")), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return a.established("rb") && b.established("ra"); }));
  EXPECT_EQ(a.states("rb"), (std::vector<PeerState>{PeerState::removed, PeerState::established}));
  expect_serves(a, "rb", seen_b);
  expect_serves(b, "ra", seen_a);
  EXPECT_EQ(seen_a.count("call"), 1u);
  EXPECT_EQ(seen_a.count("stream"), 1u);
  EXPECT_EQ(seen_a.count("object"), 1u);
  EXPECT_EQ(seen_b.count("call"), 1u);
}

TEST(IoMembership, AddAndRemoveFromACallbackOnTheLoopThreadRunInline) {
  Seen seen_a;
  Seen seen_b;
  Member a("la", {}, seen_a);
  Member b("lb", {"la"}, seen_b);
  const PeerAddress address = b.address("lb");
  std::promise<std::pair<Errc, Errc>> results;
  ASSERT_EQ(a.node().run_on_loop([&] {
    const Errc added = a.node().add_peer(address);
    results.set_value({added, a.node().remove_peer("lb")});
  }),
            Errc::ok);
  std::future<std::pair<Errc, Errc>> got = results.get_future();
  ASSERT_EQ(got.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(got.get(), std::make_pair(Errc::ok, Errc::ok));
  EXPECT_EQ(a.states("lb"), std::vector<PeerState>{PeerState::removed});
}

TEST(IoMembership, BeforeStartAddAndRemoveEditThePeerList) {
  Seen seen;
  EventNodeOptions options;
  options.config = config_for("sa", "sb");
  EventNode node(std::move(options));
  EXPECT_EQ(node.add_peer({"sc", "127.0.0.1", 1}), Errc::ok);
  EXPECT_EQ(node.remove_peer("sb"), Errc::ok);
  EXPECT_EQ(node.remove_peer("sb"), Errc::unknown_peer);
  ASSERT_EQ(node.start(), Errc::ok);
  const std::vector<PeerStatus> peers = node.peers();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].name, "sc");
  node.stop();
  EXPECT_EQ(node.add_peer({"sd", "127.0.0.1", 1}), Errc::shutting_down);
  EXPECT_EQ(node.remove_peer("sc"), Errc::shutting_down);
}

// Before start(), add_peer refuses what start() would (event_node.hpp, add_peer): not a
// node name, this node's own name, a name listed already; nothing is added and the node
// starts. Before, each was added with ok and start() failed over it. A node stopped before
// it started answers shutting_down.
// Before start() and after it, a refused name is named in an error line with its reason.
TEST(IoMembership, BeforeStartAddPeerRefusesANameStartWouldRefuse) {
  std::mutex mutex;
  std::vector<std::string> errors;  // the log's error lines
  const auto logged = [&] {
    std::lock_guard lock(mutex);
    return std::exchange(errors, {});
  };
  EventNodeOptions options;
  options.config = config_for("sa", "sb");
  options.log = [&](LogLevel level, std::string_view line) {
    std::lock_guard lock(mutex);
    if (level == LogLevel::error) errors.emplace_back(line);
  };
  EventNode node(std::move(options));
  EXPECT_EQ(node.add_peer({"", "127.0.0.1", 1}), Errc::invalid_argument);
  EXPECT_EQ(node.add_peer({"s c", "127.0.0.1", 1}), Errc::invalid_argument);
  EXPECT_EQ(node.add_peer({"sa", "127.0.0.1", 1}), Errc::invalid_argument);
  EXPECT_EQ(node.add_peer({"sb", "127.0.0.1", 1}), Errc::invalid_argument);
  EXPECT_EQ(node.add_peer({"sc", "127.0.0.1", 1}), Errc::ok);
  EXPECT_EQ(node.add_peer({"sc", "127.0.0.1", 2}), Errc::invalid_argument);
  const std::vector<std::string> before = logged();
  ASSERT_EQ(before.size(), 5u);
  EXPECT_EQ(before[0].find("peer  not added: it is not a node name"), 0u) << before[0];
  EXPECT_EQ(before[2], "peer sa not added: it is this node's own name");
  EXPECT_EQ(before[4], "peer sc not added: it is listed already");
  ASSERT_EQ(node.start(), Errc::ok);
  std::vector<std::string> names;
  for (const PeerStatus& status : node.peers())
    names.push_back(status.name);
  EXPECT_EQ(names, (std::vector<std::string>{"sb", "sc"}));
  logged();
  EXPECT_EQ(node.add_peer({"sc", "127.0.0.1", 2}), Errc::invalid_argument);
  EXPECT_EQ(node.add_peer({"sa", "127.0.0.1", 2}), Errc::invalid_argument);
  EXPECT_EQ(logged(), (std::vector<std::string>{"peer sc not added: it is listed already",
                                                "peer sa not added: it is this node's own name"}));
  node.stop();

  EventNodeOptions never_started;
  never_started.config = config_for("sa", "sb");
  EventNode stopped(std::move(never_started));
  stopped.stop();
  EXPECT_EQ(stopped.add_peer({"sc", "127.0.0.1", 1}), Errc::shutting_down);
}

// The members file weft-node and weft-load reload on SIGHUP (examples/membership_file.hpp).
TEST(IoMembership, AMembersFileIsReadWholeAndApplyingItAddsRemovesAndReaddsMovedPeers) {
  const std::string path = ::testing::TempDir() + "members-io-test.txt";
  const auto write = [&](const std::string& text) { std::ofstream(path, std::ios::trunc) << text; };
  std::string error;
  write("# the cluster\nfa=127.0.0.1:7100\n\nfb 127.0.0.1:7101\nfc=127.0.0.1:1\n");
  EXPECT_FALSE(cli::read_members(path, "fa", error));  // line 4 has no '='
  EXPECT_NE(error.find(":4:"), std::string::npos) << error;
  write("# the cluster\nfa=127.0.0.1:7100\n\n  fb=127.0.0.1:7101   # comment\r\nfc=127.0.0.1:1\n");
  const auto read = cli::read_members(path, "fa", error);  // itself left out
  ASSERT_TRUE(read);
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].name, "fb");
  EXPECT_EQ((*read)[0].port, 7101);
  EXPECT_EQ((*read)[1].name, "fc");
  EXPECT_FALSE(cli::read_members(path + ".missing", "fa", error));

  Seen seen;
  Member node("fa", {}, seen);
  std::vector<PeerAddress> current;
  std::vector<cli::MemberChange> changes = cli::apply_members(node.node(), current, *read);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_TRUE(changes[0].added && changes[1].added);
  EXPECT_EQ(changes[0].result, Errc::ok);
  EXPECT_EQ(node.states("fb").size(), 1u);
  // fb moves, fc goes: fc removed, fb removed and added again (a new relationship).
  changes = cli::apply_members(node.node(), current, {{"fb", "127.0.0.1", 7102}});
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(changes[0].added);
  EXPECT_FALSE(changes[1].added);
  EXPECT_TRUE(changes[2].added);
  EXPECT_EQ(changes[2].name, "fb");
  EXPECT_EQ(node.states("fc"), std::vector<PeerState>{PeerState::removed});
  EXPECT_EQ(node.states("fb").size(), 2u);
  EXPECT_EQ(node.states("fb").front(), PeerState::removed);
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].port, 7102);
  EXPECT_TRUE(cli::apply_members(node.node(), current, current).empty());  // nothing to do
  std::remove(path.c_str());
}

// read_regular_file reads secrets (keys, a cluster key): a file refused for its size leaves
// none of the bytes read so far in `out` (before, the first 64 KiB stayed there).
TEST(IoRegularFile, AFileRefusedForItsSizeLeavesNoneOfItsBytesInOut) {
  const std::string path = ::testing::TempDir() + "regular-file-size-test";
  std::ofstream(path, std::ios::binary) << std::string(100 * 1024, 'k');
  std::string out = "held before";
  const std::optional<std::string> why = io::read_regular_file(path.c_str(), 80 * 1024, out);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("larger than"), std::string::npos) << *why;
  EXPECT_TRUE(out.empty()) << out.size() << " bytes left";
  // Within the limit: the whole file.
  ASSERT_FALSE(io::read_regular_file(path.c_str(), 100 * 1024, out).has_value());
  EXPECT_EQ(out, std::string(100 * 1024, 'k'));
  std::remove(path.c_str());
}

// A members file that cannot be read whole changes nothing: a directory in its place (whose
// read fails with EISDIR: the lines read so far, none, were taken as the whole list and
// every peer was removed), a FIFO (the read blocked weft-node's signal thread), a file cut
// short while being written (its last line without a newline), an empty one on a reload,
// one too large. A file of comments lists no members, and so does an empty one at start.
TEST(IoMembership, AMembersFileThatCannotBeReadWholeIsRefused) {
  const std::string dir = ::testing::TempDir() + "members-whole-test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/a-directory");
  const std::string fifo = dir + "/a-fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto file = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  std::string error;
  EXPECT_FALSE(cli::read_members(dir + "/a-directory", "fa", error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_FALSE(cli::read_members(fifo, "fa", error));  // at once, without a writer
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_FALSE(cli::read_members(file("cut", "fb=127.0.0.1:7101\nfc=127.0.0.1:71"), "fa", error));
  EXPECT_NE(error.find("no newline"), std::string::npos) << error;
  EXPECT_FALSE(cli::read_members(file("empty", ""), "fa", error));  // a reload's
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
  const auto at_start =
      cli::read_members(dir + "/empty", "fa", error, cli::EmptyMembersFile::allowed);
  ASSERT_TRUE(at_start.has_value()) << error;
  EXPECT_TRUE(at_start->empty());
  EXPECT_FALSE(cli::read_members(file("huge", std::string(cli::kMaxReadFileBytes, '#') + "\n"),
                                 "fa", error));
  EXPECT_NE(error.find("larger than"), std::string::npos) << error;
  const auto none = cli::read_members(file("comments", "# nobody for now\n"), "fa", error);
  ASSERT_TRUE(none.has_value()) << error;
  EXPECT_TRUE(none->empty());
  const auto two =
      cli::read_members(file("two", "fb=127.0.0.1:7101\nfc=127.0.0.1:1\n"), "fa", error);
  ASSERT_TRUE(two.has_value()) << error;
  EXPECT_EQ(two->size(), 2u);
  std::filesystem::remove_all(dir);
}

// A peer moved to a host that does not resolve keeps its relationship (the change is
// reported with invalid_argument); it was removed first and then not added, so the node
// lost it until a later reload.
TEST(IoMembership, APeerMovedToAnUnresolvableHostKeepsItsRelationship) {
  Seen seen;
  Member node("fa", {}, seen);
  std::vector<PeerAddress> current;
  ASSERT_EQ(cli::apply_members(node.node(), current, {{"fb", "127.0.0.1", 7101}}).size(), 1u);
  ASSERT_EQ(current.size(), 1u);
  const std::vector<cli::MemberChange> changes = cli::apply_members(
      node.node(), current, {{"fb", "300.1.2.3", 7101}, {"fc", "300.1.2.4", 7102}});
  ASSERT_EQ(changes.size(), 2u);
  for (const cli::MemberChange& change : changes) {
    EXPECT_TRUE(change.added);
    EXPECT_EQ(change.result, Errc::invalid_argument) << change.name;
  }
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].host, "127.0.0.1");
  EXPECT_EQ(node.states("fb").size(), 1u);  // never removed
  EXPECT_TRUE(node.states("fc").empty());
  // Fixed in the file: the move goes through as a new relationship.
  EXPECT_EQ(cli::apply_members(node.node(), current, {{"fb", "127.0.0.1", 7102}}).size(), 2u);
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].port, 7102);
  // Short and zero-padded IPv4 forms, which getaddrinfo takes and the node refuses, are held
  // back the same way. Before, fb was removed, add_peer then failed, and its relationship was
  // lost.
  for (const char* host : {"127.1", "010.0.0.1", "2130706433"}) {
    EXPECT_FALSE(cli::resolvable(host)) << host;
    const std::vector<cli::MemberChange> refused =
        cli::apply_members(node.node(), current, {{"fb", host, 7103}});
    ASSERT_EQ(refused.size(), 1u) << host;
    EXPECT_EQ(refused[0].result, Errc::invalid_argument) << host;
    ASSERT_EQ(current.size(), 1u);
    EXPECT_EQ(current[0].port, 7102) << host;
  }
  EXPECT_TRUE(cli::resolvable("127.0.0.1"));
  EXPECT_TRUE(cli::resolvable("localhost"));
  EXPECT_FALSE(cli::resolvable(""));
  // The address handed to the node instead of the name (no second lookup), by the same rule.
  EXPECT_EQ(io::resolved_address("localhost"), "127.0.0.1");
  EXPECT_EQ(io::resolved_address("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(io::resolved_address("127.1"), std::nullopt);
  EXPECT_EQ(io::resolved_address(""), std::nullopt);
  // The file's entry is what the caller keeps: a reload of the same file changes nothing.
  ASSERT_EQ(cli::apply_members(node.node(), current, {{"fl", "localhost", 7104}}).size(), 2u);
  EXPECT_NE(std::find_if(current.begin(), current.end(),
                         [](const io::PeerAddress& peer) { return peer.host == "localhost"; }),
            current.end());
  EXPECT_TRUE(cli::apply_members(node.node(), current, current).empty());
}

// A name listed twice, or also given with --peer, is refused by the same read at start and on
// a reload. Before, start put both into the peer list (the node then refused to start) while
// a reload skipped the second quietly: a file a running node took stopped its next start.
TEST(IoMembership, AMembersFileListingANameTwiceIsRefusedAtStartAndOnReload) {
  const std::string path = ::testing::TempDir() + "members-twice-test.txt";
  const auto write = [&](const std::string& text) { std::ofstream(path, std::ios::trunc) << text; };
  std::string error;
  write("fb=127.0.0.1:7101\n# moved?\nfb=127.0.0.1:7102\n");
  EXPECT_FALSE(cli::read_members(path, "fa", error, cli::EmptyMembersFile::allowed));
  EXPECT_NE(error.find(":3: fb is listed already (line 1)"), std::string::npos) << error;
  write("fa=127.0.0.1:7100\nfb=127.0.0.1:7101\nfa=127.0.0.1:7109\n");  // itself twice
  EXPECT_FALSE(cli::read_members(path, "fa", error));
  EXPECT_NE(error.find(":3: fa is listed already (line 1)"), std::string::npos) << error;
  write("fb=127.0.0.1:7101\nfc=127.0.0.1:7102\n");
  const std::vector<PeerAddress> fixed{{"fc", "127.0.0.1", 7102}};
  EXPECT_FALSE(cli::read_members(path, "fa", error, cli::EmptyMembersFile::refused, fixed));
  EXPECT_NE(error.find(":2: fc is given with --peer already"), std::string::npos) << error;
  // At start (start_members, --peer fc given): refused with the reason, nothing added.
  EventNodeOptions options;
  options.config = config_for("fa", "fc");
  options.addresses = fixed;
  std::vector<PeerAddress> current = fixed;
  error.clear();
  EXPECT_FALSE(cli::start_members(path, options, current, error));
  EXPECT_NE(error.find("fc is given with --peer already"), std::string::npos) << error;
  EXPECT_EQ(options.addresses.size(), 1u);
  // On a reload (reload_members): refused the same way, nothing changed.
  Seen seen;
  Member node("fa", {}, seen);
  current.clear();
  ASSERT_EQ(cli::apply_members(node.node(), current, {{"fb", "127.0.0.1", 7101}}).size(), 1u);
  write("fb=127.0.0.1:7101\nfb=127.0.0.1:7109\n");
  error.clear();
  EXPECT_FALSE(cli::reload_members(node.node(), path, "fa", {}, current, error));
  EXPECT_NE(error.find("fb is listed already"), std::string::npos) << error;
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].port, 7101);
  EXPECT_EQ(node.states("fb").size(), 1u);  // never removed
  std::remove(path.c_str());
}

}  // namespace
}  // namespace weft::io
