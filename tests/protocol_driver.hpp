// A harness for the protocol contract tests: one Node driven directly, with the test playing
// its only peer over one transport, byte by byte and with explicit times. That is the only
// way to send what a correct weft node never would. Shared by protocol_contracts_test.cpp
// and handshake_contracts_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster.hpp"
#include "sample_frames.hpp"
#include "weft/node.hpp"

namespace weft::protocol_test {

using testing::kEchoHandler;
using testing::kHoldHandler;

inline constexpr std::int64_t kWallMs = 1'767'225'600'000;   // the node's wall clock at time 0
inline constexpr std::int64_t kMaxSkewMs = 5 * 60 * 1000;    // ConnectionTimeouts' default
inline constexpr std::int64_t kHandshakeTimeoutMs = 10'000;  // ConnectionTimeouts' default
inline constexpr std::uint64_t kPeerIncarnation = 42;        // the scripted peer's
inline constexpr std::uint16_t kStreamHandler = 9;    // what sample_frames' stream_open opens
inline constexpr std::string_view kToken = "secret";  // test_config's token

// Two names and which of them dials the other (PROTOCOL.md §4.1).
struct Roles {
  std::string dialer = "n0";
  std::string acceptor = "n1";
};
inline const Roles& roles() {
  static const Roles fixed = [] {
    Roles r;
    if (!dial_rule_dials(r.dialer, r.acceptor)) std::swap(r.dialer, r.acceptor);
    return r;
  }();
  return fixed;
}

inline std::string text_of(Bytes bytes) {
  return std::string(as_chars(bytes));
}

// A node under test, and the test playing its single peer over one transport.
class Driven {
 public:
  explicit Driven(NodeConfig config)
      : node_(std::make_unique<Node>(std::move(config), 0, kWallMs)) {
    node_->register_handler(kEchoHandler);
    node_->register_handler(kHoldHandler);
    node_->register_stream_handler(kStreamHandler);
  }
  Node& node() { return *node_; }
  PeerConnection peer() { return node_->connection(0); }
  TransportId transport() const { return transport_; }
  void set_transport(TransportId transport) {
    transport_ = transport;
    wire_ = FrameDecoder();
  }

  // Feeds `frame` with the checksum flag this connection needs.
  void feed(Frame frame, TimeNs now_ns = 0) {
    frame.checksum = checksum_;
    feed_bytes(testing::encode_to_vector(frame), now_ns);
  }
  void feed_bytes(Bytes bytes, TimeNs now_ns = 0) {
    node_->on_bytes(now_ns, transport_, bytes);
    collect();
  }
  void timer(TimeNs now_ns) {
    node_->on_timer(now_ns);
    collect();
  }
  void collect() {
    while (auto event = node_->poll_event())
      events_.push_back(std::move(*event));
  }
  void set_checksum(bool checksum) { checksum_ = checksum; }
  const std::vector<Event>& events() const { return events_; }

  template <typename E>
  std::vector<E> all() const {
    std::vector<E> found;
    for (const Event& event : events_) {
      if (const auto* e = std::get_if<E>(&event)) found.push_back(*e);
    }
    return found;
  }
  template <typename E>
  std::optional<E> last() const {
    const std::vector<E> found = all<E>();
    if (found.empty()) return std::nullopt;
    return found.back();
  }

  // The frames the node has written on the transport since the last call (as a driver
  // that wrote them all).
  std::vector<OwnedFrame> written() {
    std::vector<OwnedFrame> frames;
    for (Bytes out = node_->pending_output(transport_); !out.empty();
         out = node_->pending_output(transport_)) {
      Bytes input = out;
      while (true) {
        const DecodeStep step = wire_.next(input);
        if (step.status != DecodeStatus::frame) break;
        frames.emplace_back(step.frame);
        input = input.subspan(step.consumed);
      }
      EXPECT_FALSE(wire_.failed()) << wire_.error().message;
      node_->consume_output(transport_, out.size());
    }
    return frames;
  }

 private:
  std::unique_ptr<Node> node_;
  TransportId transport_ = 0;
  FrameDecoder wire_;
  bool checksum_ = true;
  std::vector<Event> events_;
};

inline Frame hello_frame(std::uint64_t seq = 1) {
  return Frame{.op = Op::hello,
               .checksum = true,
               .flags = flag::kChecksums,
               .seq = seq,
               .version_min = 1,
               .version_max = 1,
               .name = roles().dialer,
               .peer_name = roles().acceptor,
               .incarnation = kPeerIncarnation,
               .wall_ms = kWallMs,
               .max_frame_bytes = 1 << 20,
               .token = as_bytes(kToken)};
}

inline Frame welcome_frame() {
  return Frame{.op = Op::welcome,
               .checksum = true,
               .flags = flag::kChecksums,
               .version = 1,
               .name = roles().acceptor,
               .incarnation = kPeerIncarnation,
               .wall_ms = kWallMs,
               .max_frame_bytes = 1 << 20,
               .token = as_bytes(kToken)};
}

inline NodeConfig acceptor_config(const std::function<void(NodeConfig&)>& adjust = {}) {
  NodeConfig config = testing::test_config(roles().acceptor, {roles().dialer});
  if (adjust) adjust(config);
  return config;
}

inline NodeConfig dialer_config(const std::function<void(NodeConfig&)>& adjust = {}) {
  NodeConfig config = testing::test_config(roles().dialer, {roles().acceptor});
  if (adjust) adjust(config);
  return config;
}

// An acceptor that has taken a transport from the test; `hello` not yet fed.
inline std::unique_ptr<Driven> accepting(NodeConfig config, TimeNs now_ns = 0) {
  auto driven = std::make_unique<Driven>(std::move(config));
  driven->set_transport(driven->node().on_accepted(now_ns));
  return driven;
}

// An acceptor whose handshake with the test finished.
inline std::unique_ptr<Driven> accepted(const std::function<void(NodeConfig&)>& adjust = {}) {
  auto driven = accepting(acceptor_config(adjust));
  driven->feed(hello_frame());
  EXPECT_TRUE(driven->last<event::PeerUp>().has_value());
  driven->written();  // the welcome
  return driven;
}

// A dialer that dialed the test at time 0 and sent its hello; the welcome not yet fed.
inline std::unique_ptr<Driven> dialing(const std::function<void(NodeConfig&)>& adjust = {}) {
  auto driven = std::make_unique<Driven>(dialer_config(adjust));
  driven->timer(0);  // a dialer dials at its first tick
  const auto dial = driven->last<event::Dial>();
  EXPECT_TRUE(dial.has_value());
  if (!dial) return driven;
  driven->set_transport(dial->transport);
  driven->node().on_connected(0, dial->transport);
  driven->collect();
  return driven;
}

// A dialer whose handshake with the test finished.
inline std::unique_ptr<Driven> dialed() {
  auto driven = dialing();
  driven->written();  // the hello
  driven->feed(welcome_frame());
  EXPECT_TRUE(driven->last<event::PeerUp>().has_value());
  return driven;
}

// The frame in the node's last CloseTransport's final bytes (nullopt: none, or no close).
inline std::optional<OwnedFrame> final_frame(const Driven& driven) {
  const auto close = driven.last<event::CloseTransport>();
  if (!close || close->final_bytes.empty()) return std::nullopt;
  EXPECT_EQ(close->transport, driven.transport());
  DecodeError error;
  const auto frame = decode_one(close->final_bytes, {}, &error);
  EXPECT_TRUE(frame.has_value()) << error.message;
  if (!frame) return std::nullopt;
  return OwnedFrame(*frame);
}

// §9: the connection ended with goaway(protocol_error) and a reason, and the application
// saw the peer go down. Returns the goaway's text.
inline std::string expect_protocol_error(const Driven& driven) {
  const auto goaway = final_frame(driven);
  if (!goaway) {
    ADD_FAILURE() << "no goaway in the transport's final bytes";
    return {};
  }
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(status_name(goaway->view().status),
            status_name(static_cast<std::uint16_t>(Status::protocol_error)));
  EXPECT_FALSE(goaway->view().payload.empty());
  EXPECT_EQ(driven.all<event::PeerDown>().size(), 1u);
  return text_of(goaway->view().payload);
}

// §4.2: a dialer that fails the handshake closes with goaway(protocol_error) and dials again
// later. Returns the goaway's text.
inline std::string expect_handshake_protocol_error(Driven& driven) {
  EXPECT_TRUE(driven.all<event::PeerUp>().empty());
  EXPECT_EQ(driven.peer().state(), PeerState::backoff);
  // events.hpp: HandshakeFailed reports a failed handshake "on either side".
  const auto failed = driven.last<event::HandshakeFailed>();
  EXPECT_TRUE(failed.has_value());
  if (failed) {
    EXPECT_EQ(failed->status, Status::protocol_error);
    EXPECT_TRUE(failed->rejected_by_us);
    EXPECT_EQ(failed->peer_name, roles().acceptor);
  }
  const auto goaway = final_frame(driven);
  if (!goaway) {
    ADD_FAILURE() << "no goaway in the transport's final bytes";
    return {};
  }
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(goaway->view().status, static_cast<std::uint16_t>(Status::protocol_error));
  return text_of(goaway->view().payload);
}

inline void expect_still_up(Driven& driven) {
  EXPECT_FALSE(driven.last<event::CloseTransport>().has_value())
      << driven.last<event::CloseTransport>()->reason;
  EXPECT_TRUE(driven.all<event::PeerDown>().empty());
  EXPECT_EQ(driven.peer().state(), PeerState::established);
}

// A handshake the node refused with `status`: its event, and the frame it sent last (reject
// for an acceptor, goaway for a dialer) carrying that status.
inline void expect_refused(const Driven& driven, Status status, Op answer) {
  const auto failed = driven.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(status_name(static_cast<std::uint16_t>(failed->status)),
            status_name(static_cast<std::uint16_t>(status)))
      << failed->message;
  EXPECT_TRUE(failed->rejected_by_us);
  EXPECT_FALSE(failed->message.empty());
  const auto frame = final_frame(driven);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->view().op, answer);
  EXPECT_EQ(frame->view().status, static_cast<std::uint16_t>(status));
  // A dialer that refuses the welcome never reports the peer up (an acceptor may have an
  // earlier connection up).
  if (answer == Op::goaway) {
    EXPECT_TRUE(driven.all<event::PeerUp>().empty());
  }
}

inline std::vector<OwnedFrame> frames_in(Bytes wire) {
  std::vector<OwnedFrame> frames;
  FrameDecoder decoder;
  while (true) {
    const DecodeStep step = decoder.next(wire);
    if (step.status != DecodeStatus::frame) break;
    frames.emplace_back(step.frame);
    wire = wire.subspan(step.consumed);
  }
  EXPECT_FALSE(decoder.failed()) << decoder.error().message;
  return frames;
}

}  // namespace weft::protocol_test
