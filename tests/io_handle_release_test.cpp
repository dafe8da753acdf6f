// A handle's callbacks are released once its final on_end returned: an application that
// keeps the handle in state its own callbacks capture (state -> callbacks -> handle ->
// state) must not leak it. Every kind of handle (StreamSession, ObjectStream, ObjectReader,
// Bundle) is ended every way (normal end, a fail from inside on_message, the peer going
// away, stop(), a failure to open off the loop thread) and its state must then be freed.
// Run under the asan preset these also check that releasing never frees a callback that is
// running; under tsan, the off-loop paths.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using namespace std::chrono_literals;
using testing::config_for;
using testing::wait_until;

constexpr std::uint16_t kEcho = 31;
constexpr std::string_view kSink = "sink";

// The application's state for one handle: it keeps the handle, and the handle's callbacks
// keep it.
struct App {
  StreamSession session;
  ObjectStream objects;
  ObjectReader reader;
  Bundle bundle;
  std::atomic<bool> ended{false};
  std::atomic<Errc> result{Errc::ok};
  bool failed_inside = false;  // ended from inside one of its callbacks
};

// Every App made on the loop thread (the serving side), watched without keeping it alive.
struct Served {
  std::mutex mutex;
  std::vector<std::weak_ptr<App>> apps;
  void add(const std::shared_ptr<App>& app) {
    std::lock_guard lock(mutex);
    apps.push_back(app);
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return apps.size();
  }
  bool all_freed() {
    std::lock_guard lock(mutex);
    for (const std::weak_ptr<App>& app : apps) {
      if (!app.expired()) return false;
    }
    return true;
  }
};

// Callbacks that keep `app` (and so the handle it stores).
StreamCallbacks stream_callbacks(const std::shared_ptr<App>& app) {
  StreamCallbacks callbacks;
  callbacks.on_message = [app](StreamSession& session, Bytes message) {
    if (as_chars(message) != "fail") return;
    session.fail(Errc::remote_error, "asked to fail");  // on_end runs inside this call
    app->failed_inside = true;  // the callback still runs: its captures must be alive
  };
  callbacks.on_input_end = [app](StreamSession& session) { session.close(); };
  callbacks.on_writable = [app](StreamSession&) {};
  callbacks.on_end = [app](StreamSession&, Errc result, std::string_view) {
    app->result = result;
    app->ended = true;
  };
  return callbacks;
}

ObjectStreamCallbacks object_callbacks(const std::shared_ptr<App>& app) {
  return {[app](const ObjectResult&) {},
          [app](Errc result, std::string_view) {
            app->result = result;
            app->ended = true;
          }};
}

BundleCallbacks bundle_callbacks(const std::shared_ptr<App>& app) {
  return {[app](const BundleObjectResult&) {},
          [app](Errc result, std::string_view) {
            app->result = result;
            app->ended = true;
          }};
}

// Two connected nodes; the acceptor serves kEcho streams and kSink objects with handles kept
// in state their callbacks capture.
struct Nodes {
  Nodes() {
    const std::string dialer_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    const std::string acceptor_name = dialer_name == "alpha" ? "bravo" : "alpha";
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name, dialer_name);
    acceptor = std::make_unique<EventNode>(std::move(accepting));
    acceptor->handle_stream(kEcho, "", StreamWindow{},
                            [this](const IncomingStream&, StreamSession session) {
                              auto app = std::make_shared<App>();
                              app->session = session;
                              served.add(app);
                              return stream_callbacks(app);
                            });
    acceptor->handle_objects(kSink, ObjectWindow{},
                             [this](const IncomingObject& object, ObjectReader reader) {
                               auto app = std::make_shared<App>();
                               app->reader = reader;
                               served.add(app);
                               ObjectSink sink;
                               sink.on_data = [app, refuse = object.header.name == "refuse"](
                                                  ObjectReader& current, Bytes, bool) {
                                 if (!refuse) return;
                                 current.refuse(Errc::remote_error, "asked to refuse");
                                 app->failed_inside = true;  // on_end ran inside refuse()
                               };
                               sink.on_end = [app](ObjectReader&, Errc result, std::string_view) {
                                 app->result = result;
                                 app->ended = true;
                               };
                               return sink;
                             });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    dialer = testing::started_dialer(dialer_name, acceptor_name, acceptor->port());
    peer = acceptor_name;
    EXPECT_TRUE(testing::wait_established(*dialer));
  }
  // Opens a stream whose App keeps its session; returns the App, watched weakly by the test.
  std::weak_ptr<App> open_stream(std::shared_ptr<App>* keep = nullptr) {
    auto app = std::make_shared<App>();
    app->session = dialer->open_stream(peer, kEcho, "", nullptr, true, StreamWindow{}, 0,
                                       stream_callbacks(app));
    if (keep != nullptr) *keep = app;
    return app;
  }
  Served served;  // before the nodes: their callbacks write here until they stop
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
  std::string peer;
};

OutgoingObject object_named(const std::string& name, const std::shared_ptr<App>& app) {
  OutgoingObject object;
  object.header.name = name;
  object.source = ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(1000, 7)));
  object.on_done = [app](const ObjectResult&) {};
  return object;
}

// Opens a stream, writes `message` (and closes when asked), waits for the end with
// `result`, and expects the App of each side to be freed.
void expect_stream_freed(const std::string& message, bool close, Errc result) {
  Nodes nodes;
  std::shared_ptr<App> app;
  const std::weak_ptr<App> opener = nodes.open_stream(&app);
  ASSERT_EQ(app->session.write(Payload(std::vector<std::uint8_t>(message.begin(), message.end()))),
            Errc::ok);
  if (close) {
    ASSERT_EQ(app->session.close(), Errc::ok);
  }
  ASSERT_TRUE(wait_until([&] { return app->ended.load(); }));
  EXPECT_EQ(app->result.load(), result);
  app.reset();
  EXPECT_TRUE(wait_until([&] { return opener.expired(); }));
  ASSERT_EQ(nodes.served.count(), 1u);
  EXPECT_TRUE(wait_until([&] { return nodes.served.all_freed(); }));
}

TEST(IoHandleRelease, AStreamEndedNormallyFreesTheStateItsCallbacksKeep) {
  expect_stream_freed("hi", true, Errc::ok);
}

// The serving side's on_message fails the stream: its on_end runs inside on_message.
TEST(IoHandleRelease, AFailFromInsideOnMessageFreesTheStateOnBothSides) {
  expect_stream_freed("fail", false, Errc::remote_error);
}

TEST(IoHandleRelease, APeerThatStopsFreesTheStateOfStreamsAndObjectsOnBothSides) {
  Nodes nodes;
  const std::weak_ptr<App> stream = nodes.open_stream();
  auto objects_app = std::make_shared<App>();
  objects_app->objects =
      nodes.dialer->open_object_stream(nodes.peer, kSink, object_callbacks(objects_app));
  ASSERT_EQ(objects_app->objects.send(object_named("kept", objects_app)), Errc::ok);
  const std::weak_ptr<App> objects = objects_app;
  objects_app.reset();
  ASSERT_TRUE(wait_until([&] { return nodes.served.count() == 2; }));
  nodes.acceptor->stop();  // its ends run on its loop thread while it shuts down
  EXPECT_TRUE(wait_until([&] { return nodes.served.all_freed(); }));
  // The dialer's stream ends with the peer gone; its object stream waits for the peer to
  // come back, so only stop() ends it.
  EXPECT_TRUE(wait_until([&] { return stream.expired(); }));
  nodes.dialer->stop();
  EXPECT_TRUE(objects.expired());
}

TEST(IoHandleRelease, StopFreesTheStateOfEveryOpenHandle) {
  Nodes nodes;
  std::shared_ptr<App> app;
  const std::weak_ptr<App> stream = nodes.open_stream(&app);
  ASSERT_EQ(app->session.write(Payload(std::vector<std::uint8_t>{'h', 'i'})), Errc::ok);
  app.reset();
  auto bundle_app = std::make_shared<App>();
  BundleOptions options;
  options.endpoint = std::string(kSink);
  bundle_app->bundle = nodes.dialer->open_bundle(options, bundle_callbacks(bundle_app));
  const std::weak_ptr<App> bundle = bundle_app;
  bundle_app.reset();
  ASSERT_TRUE(wait_until([&] { return nodes.served.count() == 1; }));
  nodes.dialer->stop();
  EXPECT_TRUE(stream.expired());
  EXPECT_TRUE(bundle.expired());
  EXPECT_TRUE(wait_until([&] { return nodes.served.all_freed(); }));
}

TEST(IoHandleRelease, ObjectsAndBundlesThatFinishFreeTheirStateAndEachOnDone) {
  Nodes nodes;
  auto objects_app = std::make_shared<App>();
  objects_app->objects =
      nodes.dialer->open_object_stream(nodes.peer, kSink, object_callbacks(objects_app));
  ASSERT_EQ(objects_app->objects.send(object_named("one", objects_app)), Errc::ok);
  ASSERT_EQ(objects_app->objects.send(object_named("refuse", objects_app)), Errc::ok);
  ASSERT_EQ(objects_app->objects.fin(), Errc::ok);
  auto bundle_app = std::make_shared<App>();
  BundleOptions options;
  options.endpoint = std::string(kSink);
  bundle_app->bundle = nodes.dialer->open_bundle(options, bundle_callbacks(bundle_app));
  OutgoingBundleObject object;
  object.header.name = "two";
  object.source = ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(1000, 9)));
  object.on_done = [bundle_app](const BundleObjectResult&) {};
  ASSERT_EQ(bundle_app->bundle.send(std::move(object)), Errc::ok);
  ASSERT_EQ(bundle_app->bundle.fin(), Errc::ok);
  ASSERT_TRUE(wait_until([&] { return objects_app->ended && bundle_app->ended; }));
  EXPECT_EQ(objects_app->result.load(), Errc::ok);
  EXPECT_EQ(bundle_app->result.load(), Errc::ok);
  const std::weak_ptr<App> objects = objects_app;
  const std::weak_ptr<App> bundle = bundle_app;
  objects_app.reset();
  bundle_app.reset();
  EXPECT_TRUE(wait_until([&] { return objects.expired() && bundle.expired(); }));
  ASSERT_EQ(nodes.served.count(), 3u);
  EXPECT_TRUE(wait_until([&] { return nodes.served.all_freed(); }));
}

// Off the loop thread: handles that never reached the loop end on the calling thread (work
// queued before start() at stop(), opens after stop()), and are freed there.
TEST(IoHandleRelease, HandlesEndedOffTheLoopThreadAreFreed) {
  EventNodeOptions options;
  options.config = config_for("alpha", "bravo");
  EventNode node(std::move(options));
  std::vector<std::weak_ptr<App>> apps;
  const auto open_all = [&] {
    auto stream = std::make_shared<App>();
    stream->session = node.open_stream("bravo", kEcho, "", nullptr, true, StreamWindow{}, 0,
                                       stream_callbacks(stream));
    auto objects = std::make_shared<App>();
    objects->objects = node.open_object_stream("bravo", kSink, object_callbacks(objects));
    auto bundle = std::make_shared<App>();
    bundle->bundle = node.open_bundle(BundleOptions{std::string(kSink)}, bundle_callbacks(bundle));
    apps.insert(apps.end(), {stream, objects, bundle});
  };
  open_all();  // queued: the loop never started
  node.stop();
  open_all();  // refused: the node stopped
  for (const std::weak_ptr<App>& app : apps)
    EXPECT_TRUE(app.expired());
}

}  // namespace
}  // namespace weft::io
