// One Node driven directly, with the test playing its only peer over one transport, frame by
// frame and with explicit times: the only way to send what a correct weft node never would,
// and to see every event and every frame each input causes. Header-only (it reports through
// GoogleTest); used by the protocol, handshake, stream and request contract tests and the
// node scenarios.
//
// The usual start is a finished handshake: accepted() (the script dialed the node) or
// dialed() (the node dialed the script); accepting() and dialing() stop before the script's
// hello or challenge. Then feed() frames, and look at events() / all<E>() / first<E>() /
// last<E>() for what the node emitted and written() for what it wrote; or exchange() a frame
// and look at the Step it returns (only what that frame caused).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cluster.hpp"
#include "sample_frames.hpp"
#include "weft/auth.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft::testing {

inline constexpr std::int64_t kWallMs = 1'767'225'600'000;   // the node's wall clock at time 0
inline constexpr std::int64_t kMaxSkewMs = 5 * 60 * 1000;    // ConnectionTimeouts' default
inline constexpr std::int64_t kHandshakeTimeoutMs = 10'000;  // ConnectionTimeouts' default
inline constexpr std::int64_t kHelloTimeoutMs = 2'000;       // ConnectionTimeouts' default
inline constexpr std::uint64_t kPeerIncarnation = 42;        // the scripted peer's
inline constexpr std::uint16_t kStreamHandler = 9;  // what sample_frames' stream_open opens
inline constexpr std::string_view kClusterKey = "secret-cluster-key";  // test_config's key

// ---- small helpers over events, frames and bytes ----------------------------------------

// `bytes` as text.
inline std::string text_of(Bytes bytes) {
  return std::string(as_chars(bytes));
}

// The events of type E among `events`, in order.
template <typename E>
std::vector<E> all_of(const std::vector<Event>& events) {
  std::vector<E> found;
  for (const Event& event : events) {
    if (const auto* e = std::get_if<E>(&event)) found.push_back(*e);
  }
  return found;
}

// How many events of type E among `events` are about stream `id`.
template <typename E>
std::size_t count_for(const std::vector<Event>& events, StreamId id) {
  std::size_t count = 0;
  for (const E& e : all_of<E>(events))
    count += e.id == id ? 1 : 0;
  return count;
}

// The frames of `op` among `frames`, in order.
inline std::vector<OwnedFrame> frames_with(const std::vector<OwnedFrame>& frames, Op op) {
  std::vector<OwnedFrame> found;
  for (const OwnedFrame& frame : frames) {
    if (frame.view().op == op) found.push_back(frame);
  }
  return found;
}

// Decodes every whole frame of `input` with `decoder` (which keeps a partial frame for the
// next input) and appends deep copies to `frames`; a decoding error fails the test.
inline void decode_frames(FrameDecoder& decoder, Bytes input, std::vector<OwnedFrame>& frames) {
  while (true) {
    const DecodeStep step = decoder.next(input);
    if (step.status != DecodeStatus::frame) break;
    frames.emplace_back(step.frame);
    input = input.subspan(step.consumed);
  }
  EXPECT_FALSE(decoder.failed()) << decoder.error().message;
}

// The frames of one direction of a connection from its first byte (a wire log, say).
inline std::vector<OwnedFrame> frames_in(Bytes wire) {
  std::vector<OwnedFrame> frames;
  FrameDecoder decoder;
  decode_frames(decoder, wire, frames);
  return frames;
}

// ---- the node under test and the script ---------------------------------------------------

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

// A node under test, and the test playing its single peer over one transport (the script).
// Movable, not copyable.
class ScriptedPeer {
 public:
  // What a stretch of the script caused: the events the node emitted and the frames it wrote.
  struct Step {
    std::vector<Event> events;
    std::vector<OwnedFrame> sent;
  };

  // A node made from `config` at time 0 with wall clock kWallMs, serving kEchoHandler,
  // kHoldHandler and stream handler kStreamHandler (default window). No transport yet.
  explicit ScriptedPeer(NodeConfig config)
      : node_(std::make_unique<Node>(std::move(config), 0, kWallMs)) {
    node_->register_handler(kEchoHandler);
    node_->register_handler(kHoldHandler);
    node_->register_stream_handler(kStreamHandler);
  }

  Node& node() { return *node_; }
  // The node's connection to the script (its only peer).
  PeerConnection connection() { return node_->connection(0); }
  TransportId transport() const { return transport_; }
  // Moves the script to `transport` (a new connection: the decoder of written() starts over).
  void set_transport(TransportId transport) {
    transport_ = transport;
    wire_ = FrameDecoder();
  }
  // Whether feed() sets a frame's checksum flag (true until changed).
  void set_checksum(bool checksum) { checksum_ = checksum; }

  // Feeds `frame` at `now_ns` on the transport, its checksum flag set as set_checksum says,
  // then collects the events. Reads nothing the node wrote.
  void feed(Frame frame, TimeNs now_ns = 0) {
    frame.checksum = checksum_;
    feed_bytes(encode_to_vector(frame), now_ns);
  }
  // Feeds raw `bytes` at `now_ns` on the transport, then collects the events.
  void feed_bytes(Bytes bytes, TimeNs now_ns = 0) {
    node_->on_bytes(now_ns, transport_, bytes);
    collect();
  }
  // Runs the node's timers at `now_ns`, then collects the events.
  void timer(TimeNs now_ns) {
    node_->on_timer(now_ns);
    collect();
  }
  // Polls every event the node has and appends it to events().
  void collect() {
    while (auto event = node_->poll_event())
      events_.push_back(std::move(*event));
  }

  // Every event collected so far, in order.
  const std::vector<Event>& events() const { return events_; }
  template <typename E>
  std::vector<E> all() const {
    return all_of<E>(events_);
  }
  // The first / last collected event of type E (nullopt: none).
  template <typename E>
  std::optional<E> first() const {
    const std::vector<E> found = all<E>();
    if (found.empty()) return std::nullopt;
    return found.front();
  }
  template <typename E>
  std::optional<E> last() const {
    const std::vector<E> found = all<E>();
    if (found.empty()) return std::nullopt;
    return found.back();
  }

  // The frames the node has written on the transport since the last written() or read(),
  // consumed as a driver that wrote them all would. A decoding error fails the test.
  std::vector<OwnedFrame> written() {
    std::vector<OwnedFrame> frames;
    for (Bytes out = node_->pending_output(transport_); !out.empty();
         out = node_->pending_output(transport_)) {
      decode_frames(wire_, out, frames);
      node_->consume_output(transport_, out.size());
    }
    return frames;
  }
  // Collects, then returns the events no earlier read() returned and written().
  Step read() {
    collect();
    Step step;
    step.events.assign(events_.begin() + static_cast<std::ptrdiff_t>(read_events_), events_.end());
    read_events_ = events_.size();
    step.sent = written();
    return step;
  }
  // feed(frame, now_ns), then read(): what the frame caused (when nothing was left unread).
  Step exchange(Frame frame, TimeNs now_ns = 0) {
    feed(std::move(frame), now_ns);
    return read();
  }

 private:
  std::unique_ptr<Node> node_;
  TransportId transport_ = 0;
  FrameDecoder wire_;
  bool checksum_ = true;
  std::vector<Event> events_;
  std::size_t read_events_ = 0;  // how many of events_ read() has returned
};

// ---- handshakes ------------------------------------------------------------------------------

// The script's nonce (hello or challenge): 32 bytes of 0x5a, valid for the whole run.
inline Bytes script_nonce() {
  static const std::array<std::uint8_t, kNonceBytes> nonce = [] {
    std::array<std::uint8_t, kNonceBytes> bytes{};
    bytes.fill(0x5a);
    return bytes;
  }();
  return nonce;
}

// The script's hello as the dialer (numbered `seq`, asking for checksums, checksummed),
// speaking versions kProtocolVersionMin..`version_max`.
inline Frame hello_frame(std::uint64_t seq = 1, std::uint16_t version_max = kProtocolVersion) {
  return Frame{.op = Op::hello,
               .checksum = true,
               .flags = flag::kChecksums,
               .seq = seq,
               .version_min = kProtocolVersionMin,
               .version_max = version_max,
               .name = roles().dialer,
               .peer_name = roles().acceptor,
               .incarnation = kPeerIncarnation,
               .wall_ms = kWallMs,
               .max_frame_bytes = 1 << 20,
               .nonce = script_nonce()};
}

// A proof for `role` over `hello` and `challenge` (its payload ignored), made with `auth`:
// by default test_config's cluster key, what the node under test expects of the script.
inline std::vector<std::uint8_t> script_proof(ProofRole role, const Frame& hello,
                                              const Frame& challenge,
                                              const Authenticator* auth = nullptr) {
  const std::vector<std::uint8_t> transcript = handshake_transcript(role, hello, challenge);
  if (auth != nullptr) return auth->prove(transcript).value();
  return SharedKeyAuth(kClusterKey).prove(transcript).value();
}

// The script's challenge as the acceptor, answering the node's `hello` (version 3, asking
// for checksums, checksummed), its proof made with the cluster key. The payload views
// `proof_storage`, which the caller keeps alive.
inline Frame challenge_frame(const Frame& hello, std::vector<std::uint8_t>& proof_storage) {
  Frame challenge{.op = Op::challenge,
                  .checksum = true,
                  .flags = flag::kChecksums,
                  .version = kProtocolVersion,
                  .name = roles().acceptor,
                  .incarnation = kPeerIncarnation,
                  .wall_ms = kWallMs,
                  .max_frame_bytes = 1 << 20,
                  .nonce = script_nonce()};
  proof_storage = script_proof(ProofRole::acceptor, hello, challenge);
  challenge.payload = proof_storage;
  return challenge;
}

// The script's auth as the dialer: its proof over its `hello` and the node's `challenge`.
inline Frame auth_frame(const Frame& hello, const Frame& challenge,
                        std::vector<std::uint8_t>& proof_storage) {
  proof_storage = script_proof(ProofRole::dialer, hello, challenge);
  return Frame{.op = Op::auth, .checksum = true, .payload = proof_storage};
}

// Dials `node` as the peer `hello` names, all at `now_ns`: a new accepted transport, the
// hello, and, when the node answers with a challenge, an auth made with `auth` (the
// cluster key by default). Returns every event the node emitted and the transport.
struct DialedNode {
  TransportId transport = 0;
  std::vector<Event> events;
  std::vector<OwnedFrame> sent;  // what the node wrote before any CloseTransport
};
inline DialedNode dial_node(Node& node, const Frame& hello, const Authenticator* auth = nullptr,
                            TimeNs now_ns = 0) {
  DialedNode out;
  out.transport = node.on_accepted(now_ns);
  const auto drain = [&] {
    while (auto event = node.poll_event())
      out.events.push_back(std::move(*event));
    FrameDecoder decoder;
    for (Bytes bytes = node.pending_output(out.transport); !bytes.empty();
         bytes = node.pending_output(out.transport)) {
      decode_frames(decoder, bytes, out.sent);
      node.consume_output(out.transport, bytes.size());
    }
  };
  node.on_bytes(now_ns, out.transport, encode_to_vector(hello));
  drain();
  const std::vector<OwnedFrame> challenges = frames_with(out.sent, Op::challenge);
  if (challenges.empty()) return out;
  std::vector<std::uint8_t> proof =
      script_proof(ProofRole::dialer, hello, challenges.front().view(), auth);
  node.on_bytes(now_ns, out.transport,
                encode_to_vector(Frame{.op = Op::auth, .checksum = true, .payload = proof}));
  drain();
  return out;
}

// The script's welcome as the acceptor (after the node's auth).
inline Frame welcome_frame() {
  return Frame{.op = Op::welcome, .checksum = true};
}

// test_config for the node as the acceptor (or the dialer) of the script, `adjust` applied.
inline NodeConfig acceptor_config(const std::function<void(NodeConfig&)>& adjust = {}) {
  NodeConfig config = test_config(roles().acceptor, {roles().dialer});
  if (adjust) adjust(config);
  return config;
}
inline NodeConfig dialer_config(const std::function<void(NodeConfig&)>& adjust = {}) {
  NodeConfig config = test_config(roles().dialer, {roles().acceptor});
  if (adjust) adjust(config);
  return config;
}

// An acceptor made from `config` that took a transport from the script at `now_ns`; no
// hello fed yet.
inline ScriptedPeer accepting(NodeConfig config, TimeNs now_ns = 0) {
  ScriptedPeer peer(std::move(config));
  peer.set_transport(peer.node().on_accepted(now_ns));
  return peer;
}

// What the script does with the node's welcome once the handshake is done.
enum class Welcome {
  read,    // reads it: written() and read() start after it
  unread,  // never reads it (nor anything else unless the test does): the output only grows
};

// The script, as the dialer on the node's pending transport, sends `hello`, reads the
// node's challenge (if it sent one rather than a reject) and answers it with a valid auth. Returns
// what the node did after the hello and after the auth (the events, and the frames it wrote,
// challenge included); with Welcome::unread, the frames written after the auth are left unread.
inline ScriptedPeer::Step prove_as_dialer(ScriptedPeer& peer, const Frame& hello,
                                          Welcome welcome = Welcome::read, TimeNs now_ns = 0) {
  peer.feed(hello, now_ns);
  ScriptedPeer::Step step = peer.read();
  const std::vector<OwnedFrame> challenges = frames_with(step.sent, Op::challenge);
  if (challenges.size() != 1) return step;  // refused at the hello: the caller checks
  std::vector<std::uint8_t> proof;
  peer.feed(auth_frame(hello, challenges.front().view(), proof), now_ns);
  if (welcome == Welcome::unread) {
    peer.collect();
    return step;
  }
  ScriptedPeer::Step after = peer.read();
  step.events.insert(step.events.end(), after.events.begin(), after.events.end());
  step.sent.insert(step.sent.end(), after.sent.begin(), after.sent.end());
  return step;
}

// An acceptor (acceptor_config(adjust)) whose handshake with the script finished at time 0:
// the hello and auth were fed, the node reported the peer up once and wrote one welcome.
inline ScriptedPeer accepted(const std::function<void(NodeConfig&)>& adjust = {},
                             Welcome welcome = Welcome::read) {
  ScriptedPeer peer = accepting(acceptor_config(adjust));
  const ScriptedPeer::Step step = prove_as_dialer(peer, hello_frame(), welcome);
  EXPECT_EQ(peer.all<event::PeerUp>().size(), 1u);
  EXPECT_EQ(peer.connection().state(), PeerState::established);
  if (welcome == Welcome::read) {
    EXPECT_EQ(frames_with(step.sent, Op::welcome).size(), 1u);
  } else {  // look without reading
    EXPECT_EQ(
        frames_with(frames_in(peer.node().pending_output(peer.transport())), Op::welcome).size(),
        1u);
  }
  return peer;
}

// The accepted transport of `peer` resets and the script dials again (hello attempt
// `hello_seq`) at time 0: the node sees the transport down, then a new accepted transport,
// its hello and auth. Returns what the node did and wrote (challenge, welcome, resumes, ...).
inline ScriptedPeer::Step redial(ScriptedPeer& peer, std::uint64_t hello_seq = 2) {
  peer.node().on_transport_down(0, peer.transport(), "reset");
  peer.collect();
  peer.set_transport(peer.node().on_accepted(0));
  return prove_as_dialer(peer, hello_frame(hello_seq));
}

// A dialer (dialer_config(adjust)) that dialed the script at its first tick (time 0) and is
// connected; its hello is unread, the challenge not yet fed.
inline ScriptedPeer dialing(const std::function<void(NodeConfig&)>& adjust = {}) {
  ScriptedPeer peer(dialer_config(adjust));
  peer.timer(0);
  const auto dial = peer.last<event::Dial>();
  EXPECT_TRUE(dial.has_value());
  if (!dial) return peer;
  peer.set_transport(dial->transport);
  peer.node().on_connected(0, dial->transport);
  peer.collect();
  return peer;
}

// The script, as the acceptor, reads the dialing node's hello and feeds it a challenge:
// the valid one, changed by `adjust` if given, and then proved again over what `adjust`
// made of it unless `prove_again` is false (to test the proof itself). Returns the node's
// hello and what the challenge caused.
inline std::pair<OwnedFrame, ScriptedPeer::Step> challenge_dialer(
    ScriptedPeer& peer, const std::function<void(Frame&)>& adjust = {}, bool prove_again = true,
    TimeNs now_ns = 0) {
  const std::vector<OwnedFrame> sent = peer.written();
  const std::vector<OwnedFrame> hellos = frames_with(sent, Op::hello);
  EXPECT_EQ(hellos.size(), 1u);
  if (hellos.empty()) return {};
  const Frame hello = hellos.front().view();
  std::vector<std::uint8_t> proof;
  Frame challenge = challenge_frame(hello, proof);
  if (adjust) {
    adjust(challenge);
    if (prove_again) {
      proof = script_proof(ProofRole::acceptor, hello, challenge);
      challenge.payload = proof;
    }
  }
  peer.feed(challenge, now_ns);
  return {hellos.front(), peer.read()};
}

// A dialer whose handshake with the script finished at time 0 (its hello read, a challenge
// fed, its auth read, the welcome fed, the peer reported up).
inline ScriptedPeer dialed() {
  ScriptedPeer peer = dialing();
  const auto [hello, step] = challenge_dialer(peer);
  EXPECT_EQ(frames_with(step.sent, Op::auth).size(), 1u);
  peer.feed(welcome_frame());
  EXPECT_TRUE(peer.last<event::PeerUp>().has_value());
  return peer;
}

// ---- checks ----------------------------------------------------------------------------------

// The last frame in the node's last CloseTransport's final bytes (nullopt: none, or no
// close). Frames the node had committed and not yet handed to the driver come before it
// (PROTOCOL.md §9.1); a script that read everything sees the last frame alone.
inline std::optional<OwnedFrame> final_frame(const ScriptedPeer& peer) {
  const auto close = peer.last<event::CloseTransport>();
  if (!close || close->final_bytes.empty()) return std::nullopt;
  EXPECT_EQ(close->transport, peer.transport());
  const std::vector<OwnedFrame> frames = frames_in(close->final_bytes);
  if (frames.empty()) return std::nullopt;
  return frames.back();
}

// §9: the connection ended with goaway(protocol_error) and a reason, and the application
// saw the peer go down. Returns the goaway's text.
inline std::string expect_protocol_error(const ScriptedPeer& peer) {
  const auto goaway = final_frame(peer);
  if (!goaway) {
    ADD_FAILURE() << "no goaway in the transport's final bytes";
    return {};
  }
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(status_name(goaway->view().status),
            status_name(static_cast<std::uint16_t>(Status::protocol_error)));
  EXPECT_FALSE(goaway->view().payload.empty());
  EXPECT_EQ(peer.all<event::PeerDown>().size(), 1u);
  return text_of(goaway->view().payload);
}

// §4.2: a dialer that fails the handshake closes with goaway(protocol_error) and dials again
// later. Returns the goaway's text.
inline std::string expect_handshake_protocol_error(ScriptedPeer& peer) {
  EXPECT_TRUE(peer.all<event::PeerUp>().empty());
  EXPECT_EQ(peer.connection().state(), PeerState::backoff);
  // events.hpp: HandshakeFailed reports a failed handshake "on either side".
  const auto failed = peer.last<event::HandshakeFailed>();
  EXPECT_TRUE(failed.has_value());
  if (failed) {
    EXPECT_EQ(failed->status, Status::protocol_error);
    EXPECT_TRUE(failed->rejected_by_us);
    EXPECT_EQ(failed->peer_name, roles().acceptor);
  }
  const auto goaway = final_frame(peer);
  if (!goaway) {
    ADD_FAILURE() << "no goaway in the transport's final bytes";
    return {};
  }
  EXPECT_EQ(goaway->view().op, Op::goaway);
  EXPECT_EQ(goaway->view().status, static_cast<std::uint16_t>(Status::protocol_error));
  return text_of(goaway->view().payload);
}

// The connection is established: no transport closed, no peer down.
inline void expect_still_up(ScriptedPeer& peer) {
  EXPECT_FALSE(peer.last<event::CloseTransport>().has_value())
      << peer.last<event::CloseTransport>()->reason;
  EXPECT_TRUE(peer.all<event::PeerDown>().empty());
  EXPECT_EQ(peer.connection().state(), PeerState::established);
}

// A handshake the node refused with `status`: its event, and the frame it sent last (reject
// for an acceptor, goaway for a dialer) carrying that status.
inline void expect_refused(const ScriptedPeer& peer, Status status, Op answer) {
  const auto failed = peer.last<event::HandshakeFailed>();
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(status_name(static_cast<std::uint16_t>(failed->status)),
            status_name(static_cast<std::uint16_t>(status)))
      << failed->message;
  EXPECT_TRUE(failed->rejected_by_us);
  EXPECT_FALSE(failed->message.empty());
  const auto frame = final_frame(peer);
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->view().op, answer);
  EXPECT_EQ(frame->view().status, static_cast<std::uint16_t>(status));
  // A dialer that refuses the welcome never reports the peer up (an acceptor may have an
  // earlier connection up).
  if (answer == Op::goaway) {
    EXPECT_TRUE(peer.all<event::PeerUp>().empty());
  }
}

}  // namespace weft::testing
