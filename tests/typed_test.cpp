// Typed requests and streams with msgpack-c structs.
#include "weft/typed.hpp"

#include <gtest/gtest.h>

#include "cluster.hpp"

namespace weft {
namespace {

using testing::Cluster;

struct DiskInfoRequest {
  std::string disk;
  std::int64_t metrics = 0;
  MSGPACK_DEFINE(disk, metrics)
};

struct DiskInfo {
  std::string disk;
  std::uint64_t free_bytes = 0;
  std::vector<std::string> tags;
  MSGPACK_DEFINE(disk, free_bytes, tags)
};

struct ScanPayload {
  std::string bucket;
  MSGPACK_DEFINE(bucket)
};
struct ScanIn {
  std::int32_t n = 0;
  MSGPACK_DEFINE(n)
};
struct ScanOut {
  std::int32_t n = 0;
  std::string bucket;
  std::string route;
  MSGPACK_DEFINE(n, bucket, route)
};

constexpr std::size_t kCaller = 0;
constexpr std::size_t kServer = 1;
constexpr std::uint16_t kDiskInfo = 20;
constexpr std::uint16_t kScan = 21;

struct TypedFixture {
  TypedFixture() : cluster({"caller", "server"}) {}
  PeerConnection caller() { return cluster.to(kCaller, kServer); }
  PeerConnection server() { return cluster.to(kServer, kCaller); }
  Cluster cluster;
};

TEST(Typed, RequestRoundTripAndResponseObjectsAreRecycled) {
  TypedFixture f;
  TypedHandler<DiskInfoRequest, DiskInfo> handler(
      kDiskInfo, "", [](const DiskInfoRequest& request, DiskInfo& out) {
        out.disk = request.disk;
        out.free_bytes = 1000 + static_cast<std::uint64_t>(request.metrics);
        out.tags = {"ssd", request.disk};
        return HandlerStatus{};
      });
  ASSERT_EQ(handler.register_with(f.cluster.node(kServer)), Errc::ok);
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    if (handler.matches(request)) handler.serve(f.server(), f.cluster.now(), request);
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  TypedCall<DiskInfoRequest, DiskInfo> call(kDiskInfo);
  for (int i = 0; i < 5; ++i) {
    const Call started = call.call(f.caller(), f.cluster.now(), {"disk" + std::to_string(i), i});
    ASSERT_EQ(started.error, Errc::ok);
    ASSERT_TRUE(f.cluster.run_until_done(kCaller, started.id));
    const Typed<DiskInfo> result = call.result(*f.cluster.recorder(kCaller).done_for(started.id));
    ASSERT_EQ(result.error, Errc::ok) << result.message;
    EXPECT_EQ(result.value->disk, "disk" + std::to_string(i));
    EXPECT_EQ(result.value->free_bytes, 1000u + static_cast<std::uint64_t>(i));
    EXPECT_EQ(result.value->tags, (std::vector<std::string>{"ssd", "disk" + std::to_string(i)}));
  }
  // One request object and one response object served all five calls, on both sides.
  EXPECT_EQ(handler.request_pool().created(), 1u);
  EXPECT_EQ(handler.response_pool().created(), 1u);
  EXPECT_EQ(call.pool().created(), 1u);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(Typed, SharedResponsesAreNotRecycled) {
  TypedFixture f;
  auto cached = std::make_shared<const DiskInfo>(DiskInfo{"cached", 42, {"shared"}});
  TypedHandler<DiskInfoRequest, DiskInfo> handler(
      kDiskInfo, "", [cached](const DiskInfoRequest&, std::shared_ptr<const DiskInfo>& out) {
        out = cached;
        return HandlerStatus{};
      });
  handler.register_with(f.cluster.node(kServer));
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    if (handler.matches(request)) handler.serve(f.server(), f.cluster.now(), request);
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  TypedCall<DiskInfoRequest, DiskInfo> call(kDiskInfo);
  for (int i = 0; i < 3; ++i) {
    const Call started = call.call(f.caller(), f.cluster.now(), {"x", 0});
    ASSERT_TRUE(f.cluster.run_until_done(kCaller, started.id));
    const Typed<DiskInfo> result = call.result(*f.cluster.recorder(kCaller).done_for(started.id));
    ASSERT_EQ(result.error, Errc::ok);
    EXPECT_EQ(result.value->disk, "cached");
  }
  EXPECT_EQ(handler.response_pool().created(), 0u);  // the pool was never used
  EXPECT_EQ(cached->disk, "cached");                 // and the shared object is intact
  EXPECT_EQ(cached.use_count(), 2);                  // held by the test and the handler
}

TEST(Typed, HandlerErrorsAndUndecodablePayloadsAreRemoteErrors) {
  TypedFixture f;
  TypedHandler<DiskInfoRequest, DiskInfo> handler(
      kDiskInfo, "", [](const DiskInfoRequest& request, DiskInfo&) {
        if (request.disk == "bad") return HandlerStatus{Errc::remote_error, "no such disk"};
        return HandlerStatus{};
      });
  handler.register_with(f.cluster.node(kServer));
  int served = 0;
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    if (handler.matches(request)) ++served, handler.serve(f.server(), f.cluster.now(), request);
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  TypedCall<DiskInfoRequest, DiskInfo> call(kDiskInfo);
  const Call failing = call.call(f.caller(), f.cluster.now(), {"bad", 0});
  // Raw bytes that are not msgpack, and msgpack of the wrong shape (an integer).
  const Call garbage = f.cluster.request(kCaller, kServer, kDiskInfo, "\xc1 not msgpack");
  msgpack::sbuffer wrong_shape;
  msgpack::pack(wrong_shape, 12345);
  const Call shaped = f.caller().request(
      f.cluster.now(),
      RequestArgs{kDiskInfo, {}, as_bytes({wrong_shape.data(), wrong_shape.size()}), 0});
  f.cluster.net().run_for(ns_from_ms(5));
  auto& rec = f.cluster.recorder(kCaller);
  const Typed<DiskInfo> failed = call.result(*rec.done_for(failing.id));
  EXPECT_EQ(failed.error, Errc::remote_error);
  EXPECT_EQ(failed.message, "no such disk");
  for (RequestId id : {garbage.id, shaped.id}) {
    const auto* done = rec.done_for(id);
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(done->result, Errc::bad_payload);
    EXPECT_NE(std::string(done->payload.begin(), done->payload.end()).find("does not decode"),
              std::string::npos);
  }
  EXPECT_EQ(served, 3);
  // A response that does not decode on the caller's side is bad_payload too.
  event::RequestDone forged{0, 1, Errc::ok, {0xc1}};
  EXPECT_EQ(call.result(forged).error, Errc::bad_payload);
}

// A typed stream served under two routes: the empty one and "sub".
TEST(Typed, TypedStreamWithAndWithoutSubroute) {
  TypedFixture f;
  TypedStream<ScanPayload, ScanIn, ScanOut> plain(kScan);
  TypedStream<ScanPayload, ScanIn, ScanOut> routed(kScan, "sub");
  plain.register_with(f.cluster.node(kServer));
  routed.register_with(f.cluster.node(kServer));
  std::map<StreamId, std::string> bucket_of;
  std::map<StreamId, std::string> route_of;
  f.cluster.recorder(kServer).on_stream_event = [&](const Event& event) {
    if (const auto* opened = std::get_if<event::StreamOpened>(&event)) {
      auto& typed = plain.matches(*opened) ? plain : routed;
      const Typed<ScanPayload> payload = typed.payload(*opened);
      ASSERT_EQ(payload.error, Errc::ok);
      bucket_of[opened->id] = payload.value->bucket;
      route_of[opened->id] = plain.matches(*opened) ? "" : "sub";
      return;
    }
    const auto* readable = std::get_if<event::StreamReadable>(&event);
    if (readable == nullptr) return;
    while (auto in = plain.read_in(f.server(), f.cluster.now(), readable->id)) {
      ASSERT_EQ(in->error, Errc::ok);
      plain.write_out(f.server(), f.cluster.now(), readable->id,
                      ScanOut{in->value->n * 2, bucket_of[readable->id], route_of[readable->id]});
    }
    if (f.server().stream_input_done(readable->id)) {
      f.server().stream_close(f.cluster.now(), readable->id);
    }
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  const ScanPayload payload_a{"bucket-a"};
  const ScanPayload payload_b{"bucket-b"};
  const OpenedStream a = plain.open(f.caller(), f.cluster.now(), &payload_a, true);
  const OpenedStream b = routed.open(f.caller(), f.cluster.now(), &payload_b, true);
  ASSERT_EQ(a.error, Errc::ok);
  ASSERT_EQ(b.error, Errc::ok);
  f.cluster.net().run_for(ns_from_ms(1));
  for (int n = 1; n <= 3; ++n) {
    EXPECT_EQ(plain.write_in(f.caller(), f.cluster.now(), a.id, ScanIn{n}), Errc::ok);
    EXPECT_EQ(routed.write_in(f.caller(), f.cluster.now(), b.id, ScanIn{n + 10}), Errc::ok);
  }
  f.caller().stream_close(f.cluster.now(), a.id);
  f.caller().stream_close(f.cluster.now(), b.id);
  f.cluster.net().run_for(ns_from_ms(5));
  std::vector<std::int32_t> got_a;
  std::vector<std::int32_t> got_b;
  while (auto out = plain.read_out(f.caller(), f.cluster.now(), a.id)) {
    ASSERT_EQ(out->error, Errc::ok);
    EXPECT_EQ(out->value->bucket, "bucket-a");
    EXPECT_EQ(out->value->route, "");
    got_a.push_back(out->value->n);
  }
  while (auto out = routed.read_out(f.caller(), f.cluster.now(), b.id)) {
    ASSERT_EQ(out->error, Errc::ok);
    EXPECT_EQ(out->value->bucket, "bucket-b");
    EXPECT_EQ(out->value->route, "sub");
    got_b.push_back(out->value->n);
  }
  EXPECT_EQ(got_a, (std::vector<std::int32_t>{2, 4, 6}));
  EXPECT_EQ(got_b, (std::vector<std::int32_t>{22, 24, 26}));
  f.cluster.net().run_for(ns_from_ms(5));
  EXPECT_EQ(f.cluster.recorder(kCaller).ended(a.id)->result, Errc::ok);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended(b.id)->result, Errc::ok);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(Typed, UndecodableStreamMessageFailsTheStreamWithBadPayload) {
  TypedFixture f;
  TypedStream<ScanPayload, ScanIn, ScanOut> typed(kScan);
  typed.register_with(f.cluster.node(kServer));
  f.cluster.recorder(kServer).on_stream_event = [&](const Event& event) {
    if (const auto* readable = std::get_if<event::StreamReadable>(&event)) {
      while (auto in = typed.read_in(f.server(), f.cluster.now(), readable->id)) {
        EXPECT_EQ(in->error, Errc::bad_payload);
      }
    }
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  const OpenedStream opened = typed.open(f.caller(), f.cluster.now(), nullptr, true);
  f.cluster.net().run_for(ns_from_ms(1));
  ASSERT_EQ(f.caller().stream_write(f.cluster.now(), opened.id, as_bytes("\xc1")), Errc::ok);
  f.cluster.net().run_for(ns_from_ms(5));
  ASSERT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 1u);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended(opened.id)->result, Errc::bad_payload);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

// Counts its own destruction in a counter the test owns.
struct Tracked {
  std::shared_ptr<int> destroyed;
  std::string text;
  ~Tracked() {
    if (destroyed) ++*destroyed;
  }
};

TEST(Typed, ObjectPoolKeepsAtMostItsLimitAndSurvivesItsObjects) {
  auto pool = std::make_unique<ObjectPool<Tracked>>(2);
  const auto destroyed = std::make_shared<int>(0);
  {
    auto a = pool->acquire();
    auto b = pool->acquire();
    auto c = pool->acquire();
    for (Tracked* object : {a.get(), b.get(), c.get()})
      object->destroyed = destroyed;
  }
  // Three came back: two kept for reuse, the third deleted.
  EXPECT_EQ(pool->created(), 3u);
  EXPECT_EQ(pool->idle(), 2u);
  EXPECT_EQ(*destroyed, 1);
  auto kept = pool->acquire();
  EXPECT_EQ(pool->created(), 3u);  // reused, not new
  EXPECT_EQ(kept->destroyed, destroyed);
  pool.reset();  // the pool deletes the one object it still held
  EXPECT_EQ(*destroyed, 2);
  kept->text = "still usable";  // the object outlives its pool (ASan checks the access)
  EXPECT_EQ(kept->text, "still usable");
  kept.reset();  // with no pool to go back to, it is deleted
  EXPECT_EQ(*destroyed, 3);
}

}  // namespace
}  // namespace weft
