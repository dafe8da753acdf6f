// Two EventNodes joined by one stream, for the tests of StreamSession: the serving side
// (Sink) records what it received and how its stream ended; the opening side (Opener)
// counts on_writable and records its end.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io::testing {

inline constexpr std::uint16_t kSink = 20;

// What the serving side of one stream saw.
struct Sink {
  std::atomic<std::size_t> messages{0};
  std::atomic<bool> ended{false};
  std::atomic<Errc> end_result{Errc::ok};
  // When set, every message is deferred in on_message; the test consumes them.
  std::atomic<bool> defer_all{false};
  std::atomic<Errc> defer_result{Errc::ok};
  // When set, on_message defers each message and consumes it at once ("finished it
  // already"); depth counts nested on_message calls, max_depth the deepest seen.
  std::atomic<bool> consume_inline{false};
  std::atomic<int> depth{0};
  std::atomic<int> max_depth{0};
  // While set, on_message waits (after recording the message and its session, before it
  // returns) with `holding` set: a test acts on the session from another thread meanwhile.
  std::atomic<bool> hold{false};
  std::atomic<bool> holding{false};
  // When set, the next on_message ends what it reads from inside the call (cancel, fail, or
  // the acceptor removing the dialer), then reads the message again: `asked` is what the
  // call returned, `changed` whether the bytes differed afterwards.
  // oversized_reply: a write of a reply larger than the opener's window, which the core
  // refuses on the loop, failing the stream (too_large). revoke_key: the acceptor replaces
  // its key with one the dialer's proof does not verify under (its connection closes).
  enum class EndInside { none, cancel, fail, remove_peer, oversized_reply, revoke_key };
  std::atomic<EndInside> end_inside{EndInside::none};
  std::atomic<Errc> asked{Errc::ok};
  std::atomic<bool> changed{false};
  std::mutex mutex;
  StreamSession session;  // the serving side's session (under mutex)
  std::vector<std::string> received;
};

// Two connected nodes: `dialer` opens streams to `acceptor`, whose kSink handler counts
// messages (with a receive window of `window`).
struct Nodes {
  explicit Nodes(StreamWindow window, std::size_t send_queue_messages,
                 std::size_t command_queue_capacity = 1 << 16,
                 std::size_t dialer_output_high_water_bytes = 0) {
    const std::string dialer_name = dial_rule_dials("alpha", "bravo") ? "alpha" : "bravo";
    const std::string acceptor_name = dialer_name == "alpha" ? "bravo" : "alpha";
    dialer_peer = dialer_name;
    EventNodeOptions accepting;
    accepting.config = config_for(acceptor_name, dialer_name);
    acceptor = std::make_unique<EventNode>(std::move(accepting));
    acceptor->handle_stream(kSink, "", window, [this](const IncomingStream&, StreamSession) {
      StreamCallbacks callbacks;
      callbacks.on_message = [this](StreamSession& session, Bytes message) {
        const int depth = ++sink.depth;
        sink.max_depth = std::max(sink.max_depth.load(), depth);
        {
          std::lock_guard lock(sink.mutex);
          sink.session = session;
          sink.received.emplace_back(as_chars(message));
        }
        if (sink.defer_all) sink.defer_result = session.defer();
        if (const Sink::EndInside end = sink.end_inside.exchange(Sink::EndInside::none);
            end != Sink::EndInside::none) {
          sink.asked = end == Sink::EndInside::cancel ? session.cancel()
                       : end == Sink::EndInside::fail
                           ? session.fail(Errc::remote_error, "refused from on_message")
                       : end == Sink::EndInside::oversized_reply
                           ? session.write(std::vector<std::uint8_t>(2 << 20, 'r'))
                       : end == Sink::EndInside::revoke_key
                           ? acceptor->set_authenticator(std::make_shared<SharedKeyAuth>(
                                 std::string_view("a key the dialer does not hold, 32 B")))
                           : acceptor->remove_peer(dialer_peer);
          std::lock_guard lock(sink.mutex);
          sink.changed = std::string(as_chars(message)) != sink.received.back();
        }
        if (sink.consume_inline) {
          EXPECT_EQ(session.defer(), Errc::ok);
          EXPECT_EQ(session.consume(), Errc::ok);
          // Still this message's bytes (a message of its own buffer freed would differ).
          EXPECT_TRUE(std::string(as_chars(message)) == sink.received.back())
              << "the message changed under on_message";
        }
        --sink.depth;
        ++sink.messages;
        if (sink.hold) {
          sink.holding = true;
          while (sink.hold)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
          sink.holding = false;
        }
      };
      callbacks.on_input_end = [](StreamSession& session) { session.close(); };
      callbacks.on_end = [this](StreamSession&, Errc result, std::string_view) {
        sink.end_result = result;
        sink.ended = true;
      };
      return callbacks;
    });
    EXPECT_EQ(acceptor->start(), Errc::ok);
    EventNodeOptions dialing;
    dialing.config = config_for(dialer_name, acceptor_name);
    if (dialer_output_high_water_bytes > 0)
      dialing.config.limits.output_high_water_bytes = dialer_output_high_water_bytes;
    dialing.addresses.push_back({acceptor_name, "127.0.0.1", acceptor->port()});
    dialing.stream_send_queue_messages = send_queue_messages;
    dialing.command_queue_capacity = command_queue_capacity;
    dialer = std::make_unique<EventNode>(std::move(dialing));
    EXPECT_EQ(dialer->start(), Errc::ok);
    peer = acceptor_name;
    EXPECT_TRUE(wait_established(*dialer));
  }
  // For a sink that defers every message: consumes each as it is delivered, one at a
  // time, until `done` holds (at most `timeout`); false when it never did.
  template <typename Done>
  bool consume_each_until(Done done, std::chrono::milliseconds timeout = 10s) {
    std::size_t consumed = 0;
    return wait_until(
        [&] {
          if (sink.messages.load() > consumed) {
            StreamSession served;
            {
              std::lock_guard lock(sink.mutex);
              served = sink.session;
            }
            if (served.consume() == Errc::ok) ++consumed;
          }
          return done();
        },
        timeout);
  }

  Sink sink;                // before the nodes: their callbacks write here until they stop
  std::string dialer_peer;  // the dialer's name, as the acceptor knows it
  std::unique_ptr<EventNode> acceptor;
  std::unique_ptr<EventNode> dialer;
  std::string peer;
};

// The opener's side: on_writable wakes the writer; on_end records the result.
struct Opener {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t writables = 0;
  bool ended = false;
  Errc end_result = Errc::ok;
  StreamCallbacks callbacks() {
    StreamCallbacks callbacks;
    callbacks.on_writable = [this](StreamSession&) {
      std::lock_guard lock(mutex);
      ++writables;
      changed.notify_all();
    };
    callbacks.on_end = [this](StreamSession&, Errc result, std::string_view) {
      std::lock_guard lock(mutex);
      ended = true;
      end_result = result;
      changed.notify_all();
    };
    return callbacks;
  }
};

// Waits (at most 5 s each) for the stream to end on both sides, with `result` on both.
inline void expect_both_ends(Opener& opener, Nodes& nodes, Errc result) {
  {
    std::unique_lock lock(opener.mutex);
    ASSERT_TRUE(opener.changed.wait_for(lock, 5s, [&] { return opener.ended; }));
    EXPECT_EQ(opener.end_result, result);
  }
  ASSERT_TRUE(wait_until([&] { return nodes.sink.ended.load(); }));
  EXPECT_EQ(nodes.sink.end_result.load(), result);
}

}  // namespace weft::io::testing
