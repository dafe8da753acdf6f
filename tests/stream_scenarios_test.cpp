// Stream scenarios (the set MinIO's grid tests its streams with, and more), on two nodes
// wired in memory. Every test ends with both sides' mux tables empty.
#include <gtest/gtest.h>

#include "cluster.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::kEchoHandler;

constexpr std::size_t kCaller = 0;
constexpr std::size_t kServer = 1;
constexpr std::uint16_t kStream = 10;

struct StreamFixture {
  explicit StreamFixture(StreamWindow server_window = {},
                         const std::function<void(NodeConfig&)>& adjust = {})
      : cluster({"caller", "server"}, {}, adjust) {
    cluster.node(kServer).register_stream_handler(kStream, {}, server_window);
    EXPECT_TRUE(cluster.run_until_connected());
  }
  PeerConnection caller() { return cluster.to(kCaller, kServer); }
  PeerConnection server() { return cluster.to(kServer, kCaller); }
  TimeNs now() { return cluster.now(); }
  void run_ms(std::int64_t ms) { cluster.net().run_for(ns_from_ms(ms)); }
  // The id of the stream the server has seen opened last.
  StreamId served() { return cluster.recorder(kServer).streams_opened.back().event.id; }
  testing::Recorder& caller_rec() { return cluster.recorder(kCaller); }
  testing::Recorder& server_rec() { return cluster.recorder(kServer); }

  StreamId open(bool has_input, StreamWindow window = {}, std::int64_t timeout_ms = 0,
                std::string_view route = {}) {
    StreamArgs args;
    args.handler = kStream;
    args.route = route;
    args.has_payload = true;
    args.payload = as_bytes("start");
    args.has_input = has_input;
    args.window = window;
    args.timeout_ms = timeout_ms;
    const OpenedStream opened = caller().open_stream(now(), args);
    EXPECT_EQ(opened.error, Errc::ok);
    return opened.id;
  }

  // Both sides' StreamEnded for the caller's `id` and the server's `served`, exactly once.
  void expect_ended_once(StreamId id, StreamId served_id, Errc caller_result, Errc server_result) {
    ASSERT_EQ(caller_rec().ended_count(id), 1u);
    ASSERT_EQ(server_rec().ended_count(served_id), 1u);
    EXPECT_EQ(errc_name(caller_rec().ended(id)->result), errc_name(caller_result));
    EXPECT_EQ(errc_name(server_rec().ended(served_id)->result), errc_name(server_result));
  }

  Cluster cluster;
};

TEST(StreamScenarios, RoundTripOfElevenMessagesThenTheHandlersError) {
  StreamFixture f;
  std::vector<std::string> echoes;
  // The handler echoes every message; when the caller's input ends it fails the stream.
  f.server_rec().on_stream_event = [&f](const Event& event) {
    const auto* readable = std::get_if<event::StreamReadable>(&event);
    if (readable == nullptr) return;
    for (const std::string& message : f.cluster.drain(kServer, kCaller, readable->id)) {
      EXPECT_EQ(f.server().stream_write(f.now(), readable->id, as_bytes("echo:" + message)),
                Errc::ok);
    }
    if (f.server().stream_input_done(readable->id)) {
      f.server().stream_fail(f.now(), readable->id, Errc::remote_error, "handler says no");
    }
  };
  f.caller_rec().on_stream_event = [&f, &echoes](const Event& event) {
    if (const auto* readable = std::get_if<event::StreamReadable>(&event)) {
      for (std::string& echo : f.cluster.drain(kCaller, kServer, readable->id)) {
        echoes.push_back(std::move(echo));
      }
    }
  };
  const StreamId id = f.open(true);
  f.run_ms(1);
  ASSERT_EQ(f.server_rec().streams_opened.size(), 1u);
  const auto& opened = f.server_rec().streams_opened[0].event;
  EXPECT_TRUE(opened.has_payload);
  EXPECT_EQ(std::string(opened.payload.begin(), opened.payload.end()), "start");
  EXPECT_TRUE(opened.has_input);
  for (int i = 0; i < 11; ++i) {
    ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes("m" + std::to_string(i))), Errc::ok);
  }
  ASSERT_EQ(f.caller().stream_close(f.now(), id), Errc::ok);
  EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("late")), Errc::stream_closed);
  f.run_ms(10);
  ASSERT_EQ(echoes.size(), 11u);
  for (int i = 0; i < 11; ++i)
    EXPECT_EQ(echoes[i], "echo:m" + std::to_string(i));
  f.expect_ended_once(id, f.served(), Errc::remote_error, Errc::remote_error);
  EXPECT_EQ(f.caller_rec().ended(id)->message, "handler says no");
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

void cancel_reaches_the_handler(bool has_input, bool fill_the_window) {
  StreamFixture f(StreamWindow{5, 1 << 20});
  const StreamId id = f.open(has_input);
  f.run_ms(1);
  ASSERT_EQ(f.server_rec().streams_opened.size(), 1u);
  if (fill_the_window) {
    int sent = 0;
    while (f.caller().stream_write(f.now(), id, as_bytes("queued")) == Errc::ok)
      ++sent;
    EXPECT_EQ(sent, 5);  // the handler reads nothing, so the window of 5 fills
    EXPECT_EQ(f.caller().stream_write(f.now(), id, as_bytes("x")), Errc::no_credit);
    f.run_ms(1);
  }
  ASSERT_EQ(f.caller().stream_cancel(f.now(), id), Errc::ok);
  f.run_ms(0);
  ASSERT_EQ(f.caller_rec().ended_count(id), 1u);
  EXPECT_EQ(f.caller_rec().ended(id)->result, Errc::canceled);
  EXPECT_EQ(f.server_rec().streams_ended.size(), 0u);  // the reset is on its way
  f.run_ms(1);
  f.expect_ended_once(id, f.served(), Errc::canceled, Errc::canceled);
  EXPECT_EQ(f.server().stream_write(f.now(), f.served(), as_bytes("x")), Errc::not_found);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, CancelWithoutInputReachesTheHandler) {
  cancel_reaches_the_handler(false, false);
}
TEST(StreamScenarios, CancelWithInputReachesTheHandler) {
  cancel_reaches_the_handler(true, false);
}
TEST(StreamScenarios, CancelWithAFullRequestQueueReachesTheHandler) {
  cancel_reaches_the_handler(true, true);
}

TEST(StreamScenarios, DeadlineOf50Milliseconds) {
  StreamFixture f;
  const TimeNs start = f.now();
  const StreamId id = f.open(false, {}, 50);
  f.run_ms(60);
  ASSERT_EQ(f.caller_rec().ended_count(id), 1u);
  EXPECT_EQ(f.caller_rec().ended(id)->result, Errc::deadline_exceeded);
  EXPECT_EQ(f.caller_rec().streams_ended[0].at_ns, start + ns_from_ms(50));
  ASSERT_EQ(f.server_rec().streams_ended.size(), 1u);
  EXPECT_EQ(f.server_rec().streams_ended[0].event.result, Errc::deadline_exceeded);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

// The handler sends 100 messages into a caller window of 1 while the caller does not read;
// single requests on the same connection are not held up; then the caller reads all 100 in
// order.
TEST(StreamScenarios, ServerOutCongestion) {
  StreamFixture f;
  int next = 0;
  f.server_rec().on_stream_event = [&f, &next](const Event& event) {
    StreamId id;
    if (const auto* opened = std::get_if<event::StreamOpened>(&event))
      id = opened->id;
    else if (const auto* writable = std::get_if<event::StreamWritable>(&event))
      id = writable->id;
    else
      return;
    while (next < 100 &&
           f.server().stream_write(f.now(), id, as_bytes("r" + std::to_string(next))) == Errc::ok) {
      ++next;
    }
    if (next == 100) {
      f.server().stream_close(f.now(), id);
      ++next;
    }
  };
  const StreamId id = f.open(false, StreamWindow{1, 1 << 20});
  f.run_ms(5);
  EXPECT_EQ(next, 1);  // one message fits the window; the rest wait for credit
  const auto credits = f.server().stream_credits(f.served());
  ASSERT_TRUE(credits.has_value());
  EXPECT_EQ(credits->send_msgs, 0u);
  std::vector<RequestId> calls;
  for (int i = 0; i < 100; ++i)
    calls.push_back(f.cluster.request(kCaller, kServer, kEchoHandler, "q").id);
  f.run_ms(5);
  for (RequestId call : calls) {
    ASSERT_NE(f.caller_rec().done_for(call), nullptr);
    EXPECT_EQ(f.caller_rec().done_for(call)->result, Errc::ok);
  }
  std::vector<std::string> received;
  f.caller_rec().on_stream_event = [&](const Event& event) {
    if (const auto* readable = std::get_if<event::StreamReadable>(&event)) {
      for (auto& message : f.cluster.drain(kCaller, kServer, readable->id))
        received.push_back(message);
    }
  };
  for (auto& message : f.cluster.drain(kCaller, kServer, id))
    received.push_back(message);
  f.run_ms(50);
  ASSERT_EQ(received.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(received[i], "r" + std::to_string(i));
  f.expect_ended_once(id, f.served(), Errc::ok, Errc::ok);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

// Capacities 5/5: the caller sends 100 messages into a handler that is blocked; single
// requests still go through; once the handler reads, all 100 arrive in order.
TEST(StreamScenarios, ServerInCongestion) {
  StreamFixture f(StreamWindow{5, 1 << 20});
  bool handler_blocked = true;
  std::vector<std::string> received;
  f.server_rec().on_stream_event = [&](const Event& event) {
    const auto* readable = std::get_if<event::StreamReadable>(&event);
    if (readable == nullptr || handler_blocked) return;
    for (auto& message : f.cluster.drain(kServer, kCaller, readable->id))
      received.push_back(message);
    if (f.server().stream_input_done(readable->id)) f.server().stream_close(f.now(), readable->id);
  };
  const StreamId id = f.open(true, StreamWindow{5, 1 << 20});
  int next = 0;
  auto pump = [&] {
    while (next < 100 &&
           f.caller().stream_write(f.now(), id, as_bytes("w" + std::to_string(next))) == Errc::ok) {
      ++next;
    }
    if (next == 100) {
      f.caller().stream_close(f.now(), id);
      ++next;
    }
  };
  f.caller_rec().on_stream_event = [&](const Event& event) {
    if (std::holds_alternative<event::StreamWritable>(event)) pump();
  };
  pump();
  f.run_ms(5);
  EXPECT_EQ(next, 5);
  std::vector<RequestId> calls;
  for (int i = 0; i < 100; ++i)
    calls.push_back(f.cluster.request(kCaller, kServer, kEchoHandler, "q").id);
  f.run_ms(5);
  for (RequestId call : calls)
    EXPECT_EQ(f.caller_rec().done_for(call)->result, Errc::ok);
  EXPECT_TRUE(received.empty());
  handler_blocked = false;
  for (auto& message : f.cluster.drain(kServer, kCaller, f.served()))
    received.push_back(message);
  f.run_ms(50);
  ASSERT_EQ(received.size(), 100u);
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(received[i], "w" + std::to_string(i));
  f.expect_ended_once(id, f.served(), Errc::ok, Errc::ok);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, ConsumerBlocksUntilTheWindowIsFullThenCancels) {
  StreamFixture f;
  int sent = 0;
  f.server_rec().on_stream_event = [&](const Event& event) {
    StreamId id;
    if (const auto* opened = std::get_if<event::StreamOpened>(&event))
      id = opened->id;
    else if (const auto* writable = std::get_if<event::StreamWritable>(&event))
      id = writable->id;
    else
      return;
    while (f.server().stream_write(f.now(), id, as_bytes("data")) == Errc::ok)
      ++sent;
  };
  const StreamId id = f.open(false, StreamWindow{8, 1 << 20});
  f.run_ms(5);
  EXPECT_EQ(sent, 8);
  const auto caller_credits = f.caller().stream_credits(id);
  ASSERT_TRUE(caller_credits.has_value());
  EXPECT_EQ(caller_credits->unread_msgs, 8u);
  EXPECT_EQ(caller_credits->granted_unused_msgs, 0u);
  EXPECT_EQ(f.server().stream_credits(f.served())->send_msgs, 0u);
  ASSERT_EQ(f.caller().stream_cancel(f.now(), id), Errc::ok);
  f.run_ms(5);
  f.expect_ended_once(id, f.served(), Errc::canceled, Errc::canceled);
  EXPECT_EQ(sent, 8);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, StreamWithoutPingsIsDroppedByTheServer) {
  // The caller's pings are effectively off; the serving side gives up after 60 s.
  StreamFixture f({}, [](NodeConfig& config) {
    if (config.name == "caller") {
      config.timeouts.stream_ping_interval_ms = 3'600'000;
      config.timeouts.stream_silence_timeout_ms = 7'200'000;
    }
  });
  const StreamId id = f.open(false);
  f.run_ms(59'000);
  EXPECT_TRUE(f.server_rec().streams_ended.empty());
  f.run_ms(2'000);
  f.expect_ended_once(id, f.served(), Errc::keepalive_timeout, Errc::keepalive_timeout);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, PingsKeepABlockedStreamAlive) {
  StreamFixture f;
  const StreamId id = f.open(false);
  f.run_ms(120'000);  // the handler does nothing for two minutes
  EXPECT_TRUE(f.caller_rec().streams_ended.empty());
  EXPECT_TRUE(f.server_rec().streams_ended.empty());
  ASSERT_EQ(f.server().stream_write(f.now(), f.served(), as_bytes("finally")), Errc::ok);
  ASSERT_EQ(f.server().stream_close(f.now(), f.served()), Errc::ok);
  f.run_ms(1);
  EXPECT_EQ(f.cluster.drain(kCaller, kServer, id), std::vector<std::string>{"finally"});
  f.run_ms(1);
  f.expect_ended_once(id, f.served(), Errc::ok, Errc::ok);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, CallerSilentForThirtySecondsFailsTheStream) {
  // The serving side stops answering pings (muted): the caller gives up after 30 s.
  StreamFixture f({}, [](NodeConfig& config) { config.timeouts.dead_after_pings = 100; });
  const StreamId id = f.open(false);
  f.run_ms(1);
  f.cluster.net().set_muted(kServer, true);
  f.run_ms(29'000);
  EXPECT_TRUE(f.caller_rec().streams_ended.empty());
  f.run_ms(2'000);
  ASSERT_EQ(f.caller_rec().ended_count(id), 1u);
  EXPECT_EQ(f.caller_rec().ended(id)->result, Errc::keepalive_timeout);
}

TEST(StreamScenarios, DisconnectEndsEveryStreamOnceOnBothSides) {
  StreamFixture f;
  std::vector<StreamId> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(f.open(i % 2 == 0));
  f.run_ms(1);
  ASSERT_EQ(f.server_rec().streams_opened.size(), 5u);
  f.cluster.net().break_links(kCaller, kServer);
  f.run_ms(0);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const StreamId served = f.server_rec().streams_opened[i].event.id;
    f.expect_ended_once(ids[i], served, Errc::disconnected, Errc::disconnected);
  }
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
  EXPECT_EQ(f.caller().stream_write(f.now(), ids[0], as_bytes("x")), Errc::not_found);
}

TEST(StreamScenarios, UnknownStreamHandlerIsRejected) {
  StreamFixture f;
  StreamArgs args;
  args.handler = 77;
  const OpenedStream opened = f.caller().open_stream(f.now(), args);
  ASSERT_EQ(opened.error, Errc::ok);
  f.run_ms(1);
  ASSERT_EQ(f.caller_rec().ended_count(opened.id), 1u);
  EXPECT_EQ(f.caller_rec().ended(opened.id)->result, Errc::unknown_handler);
  EXPECT_TRUE(f.server_rec().streams_opened.empty());
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(StreamScenarios, BothHalvesCloseNormallyAndLargeMessagesKeepTheirOrder) {
  // Messages alternate between small and bulk-lane sizes while the output is congested:
  // a stream's frames must still arrive in order.
  StreamFixture f(StreamWindow{64, 8 << 20},
                  [](NodeConfig& config) { config.limits.output_high_water_bytes = 1024; });
  std::vector<std::string> received;
  f.server_rec().on_stream_event = [&](const Event& event) {
    const auto* readable = std::get_if<event::StreamReadable>(&event);
    if (readable == nullptr) return;
    for (auto& message : f.cluster.drain(kServer, kCaller, readable->id))
      received.push_back(message);
    if (f.server().stream_input_done(readable->id)) f.server().stream_close(f.now(), readable->id);
  };
  const StreamId id = f.open(true, StreamWindow{4, 1 << 20});
  f.run_ms(1);  // the open arrives and the accept comes back with the server's window
  f.cluster.net().set_stalled(kCaller, kServer, true);
  std::vector<std::string> sent;
  for (int i = 0; i < 40; ++i) {
    const std::size_t size = i % 3 == 0 ? 40'000 : 10;
    std::string message(size, static_cast<char>('a' + i % 26));
    message += std::to_string(i);
    ASSERT_EQ(f.caller().stream_write(f.now(), id, as_bytes(message)), Errc::ok) << i;
    sent.push_back(message);
  }
  ASSERT_EQ(f.caller().stream_close(f.now(), id), Errc::ok);
  f.cluster.net().set_stalled(kCaller, kServer, false);
  f.run_ms(100);
  ASSERT_EQ(received.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i)
    EXPECT_EQ(received[i], sent[i]) << i;
  f.expect_ended_once(id, f.served(), Errc::ok, Errc::ok);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

}  // namespace
}  // namespace weft
