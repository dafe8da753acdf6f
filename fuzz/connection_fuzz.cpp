// libFuzzer target: a node after a valid handshake, fed arbitrary bytes on its connection.
//
// The node ("alpha") accepts a transport, receives a valid hello from "bravo", and from then
// on the fuzzer owns what bravo sends: the input is cut into pieces (sizes from the input),
// the clock moves between pieces, and alpha's application answers every request, reads and
// answers every stream, and writes its output away. Checksums are off so that frames the
// fuzzer writes are accepted as they are.
//
// Checked: no crash, no hang, nothing left behind: after the input, the peer is torn down
// (transport down) and every call ends, and the node's tables are empty. After every piece:
// the events one round produces stay within what the limits allow (kMaxEventsPerRound), the
// output buffer within the high-water mark plus one frame, the control lane within
// max_control_frames, the queued data within what the inbound limit lets responses hold,
// and the node keeps accepting input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "weft/node.hpp"

namespace {

using namespace weft;

void check(bool condition) {
  if (!condition) std::abort();
}

// "bravo" dials "alpha" by the dial rule: pick names for which that holds.
std::pair<std::string, std::string> names() {
  for (int i = 0;; ++i) {
    std::string dialer = "bravo-" + std::to_string(i);
    if (dial_rule_dials(dialer, "alpha")) return {dialer, "alpha"};
  }
}

constexpr std::uint32_t kMaxInbound = 256;
constexpr std::uint32_t kMaxStreams = 64;
constexpr std::uint32_t kMaxFrameBytes = 1 << 20;
constexpr std::size_t kMaxMessageBytes = 4 << 20;
constexpr std::size_t kMaxControlFrames = 4096;
// One round (a piece of at most 64 bytes, a timer tick, the application's answers) can end
// every request and stream at once (a goaway, the silence limit, their deadlines), at most
// two events each (e.g. received then canceled), and start a few from the piece's frames.
constexpr std::size_t kMaxEventsPerRound = 2 * (kMaxInbound + kMaxStreams) + 64;

NodeConfig alpha_config(const std::string& self, const std::string& peer) {
  NodeConfig config;
  config.name = self;
  config.peers = {peer};
  config.auth = std::make_shared<StaticTokenAuth>("fuzz");
  config.checksums = false;
  config.seed = 1;
  config.limits.max_frame_bytes = kMaxFrameBytes;
  config.limits.max_message_bytes = kMaxMessageBytes;
  config.limits.max_assembly_bytes = 8 << 20;
  config.limits.max_inbound_requests = kMaxInbound;
  config.limits.max_streams = kMaxStreams;
  config.limits.max_control_frames = kMaxControlFrames;
  config.max_pending_events = 100'000;
  return config;
}

// Serves what alpha's application sees: echoes requests, reads streams and answers them.
// Returns how many events it handled.
std::size_t serve(Node& node, TimeNs now) {
  std::size_t events = 0;
  while (std::optional<Event> event = node.poll_event()) {
    ++events;
    if (auto* request = std::get_if<event::RequestReceived>(&*event)) {
      PeerConnection peer = node.connection(request->peer);
      if (request->payload.size() % 3 == 0) {
        peer.respond_error(now, request->id, Errc::remote_error, "no");
      } else {
        peer.respond(now, request->id, request->payload);
      }
    } else if (auto* readable = std::get_if<event::StreamReadable>(&*event)) {
      PeerConnection peer = node.connection(readable->peer);
      while (std::optional<Bytes> message = peer.stream_peek(readable->id)) {
        peer.stream_write(now, readable->id, *message);
        peer.stream_consume(now, readable->id);
      }
      if (peer.stream_input_done(readable->id)) peer.stream_close(now, readable->id);
    } else if (auto* opened = std::get_if<event::StreamOpened>(&*event)) {
      PeerConnection peer = node.connection(opened->peer);
      if (!opened->has_input) peer.stream_close(now, opened->id);
    }
  }
  return events;
}

void drain_output(Node& node, TransportId transport) {
  while (node.poll_transmit()) {
  }
  for (Bytes out = node.pending_output(transport); !out.empty();
       out = node.pending_output(transport)) {
    node.consume_output(transport, out.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto [dialer, self] = names();
  Node node(alpha_config(self, dialer), 0, 1'000'000);
  node.register_handler(1);
  node.register_handler(2, "r");
  node.register_stream_handler(3, {}, StreamWindow{4, 4096});
  TimeNs now = 0;
  const TransportId transport = node.on_accepted(now);
  ByteBuffer hello;
  encode_frame(hello, Frame{.op = Op::hello,
                            .checksum = true,
                            .version_min = 1,
                            .version_max = 1,
                            .name = dialer,
                            .peer_name = self,
                            .incarnation = 7,
                            .wall_ms = 1'000'000,
                            .max_frame_bytes = 1 << 20,
                            .token = as_bytes("fuzz")});
  node.on_bytes(now, transport, hello.view());
  serve(node, now);
  drain_output(node, transport);
  check(node.connection(0).state() == PeerState::established);

  // The rest of the input is what bravo sends, in pieces, with time passing between them.
  std::size_t at = 0;
  while (at < size) {
    const std::uint8_t control = data[at++];
    const std::size_t piece = std::min<std::size_t>(size - at, 1 + control % 64);
    node.on_bytes(now, transport, Bytes(data + at, piece));
    at += piece;
    now += static_cast<TimeNs>(control >> 6) * 7'000'000'000LL;  // 0, 7, 14 or 21 s
    node.on_timer(now);
    check(node.accepting_input());
    check(serve(node, now) <= kMaxEventsPerRound);
    const PeerStats stats = node.connection(0).stats();
    check(stats.inbound_in_flight <= kMaxInbound);
    check(stats.streams_open <= kMaxStreams);
    // Filled only while below the mark, so at most one frame past it: a prefix, a header
    // (16-bit length) and a body within the peer's frame limit.
    check(stats.output_bytes <
          node.config().limits.output_high_water_bytes + 8 + 0xffff + kMaxFrameBytes);
    check(stats.queued_control_frames <= kMaxControlFrames);
    check(stats.queued_data_bytes <=
          node.config().limits.max_queued_bytes + kMaxInbound * (kMaxMessageBytes + 64));
    drain_output(node, transport);
  }
  // The peer goes away: everything ends, and nothing is left.
  node.on_transport_down(now, transport, "fuzz input over");
  serve(node, now);
  node.on_timer(now + 3'600'000'000'000LL);
  serve(node, now + 3'600'000'000'000LL);
  const PeerStats stats = node.connection(0).stats();
  check(stats.outbound_in_flight == 0);
  check(stats.inbound_in_flight == 0);
  check(stats.streams_open == 0);
  check(stats.output_bytes == 0 && stats.queued_data_bytes == 0 &&
        stats.queued_control_frames == 0);
  return 0;
}
