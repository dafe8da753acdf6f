// libFuzzer target: a node after a valid handshake, fed arbitrary bytes on its connection.
//
// The node ("alpha") accepts a transport, receives a valid hello from "bravo", and from then
// on the fuzzer owns what bravo sends: the input is cut into pieces (sizes from the input),
// the clock moves between pieces, and alpha's application answers every request, reads and
// answers every stream, serves objects at its endpoint "store" (PROTOCOL.md §6.3), sends
// bravo four objects of its own, and writes its output away. When the connection has died
// (a protocol error, a goaway, silence) bravo dials again before the next piece, at most
// kMaxReconnects times, the last time as a new incarnation (a restart). Checksums are off so
// that frames the fuzzer writes are accepted as they are.
//
// Objects. The endpoint's window is small (4 objects, 64 KiB), so credit runs out. The
// application reads each object as its number and header opcode choose (ObjectMode): whole,
// in small steps, half and then discarded, discarded at once, refused, or never (it stalls
// the stream until the object is aborted). Control objects (opcodes kOpcodeFin...) make it
// finish, stop, abort or add to its own stream to bravo, whose objects are header-only,
// sized in memory, and sized and unsized supplied on request (event::ObjectWantData).
//
// Checked: no crash, no hang, nothing left behind: after the input, the peer is torn down
// (transport down) and every call ends, the node's tables are empty, the object streams held
// for a resume are forgotten once object_resume_timeout_ms has passed, and the node's own
// stream has ended. After every piece: the events one round produces stay within what the
// limits allow (kMaxEventsPerRound), the output buffer within the high-water mark plus one
// frame, the control lane within max_control_frames, the queued data within what the inbound
// limit lets responses hold, the object streams within max_object_streams, and the node
// keeps accepting input. Objects: each arrives at most once per stream, in increasing
// numbers, only after the previous one ended; what the application reads continues where it
// stopped and never passes the announced size; every object that arrived ends exactly once,
// finished by the application or with one ObjectAborted; every object alpha posts completes
// once, in posting order, before its stream's one ObjectStreamEnded.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/auth.hpp"
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
constexpr std::uint32_t kMaxObjectStreams = 16;
constexpr ObjectWindow kObjectWindow{4, 64 * 1024};
constexpr int kMaxReconnects = 3;
constexpr std::uint64_t kIncarnation = 7;
constexpr std::string_view kClusterKey = "fuzz-cluster-key";
constexpr std::int64_t kWallMs = 1'000'000;
// alpha's own objects: at most this many (control objects add four at a time).
constexpr std::uint64_t kMaxPosted = 16;
// One round (a piece of at most 64 bytes, a timer tick, the application's answers) can end
// every request and stream at once (a goaway, the silence limit, their deadlines), at most
// two events each (e.g. received then canceled), and start a few from the piece's frames.
// Objects: every object a stream holds (at most its window) and the few a piece begins may
// arrive, be readable and abort; alpha's objects complete and ask for data.
constexpr std::size_t kMaxEventsPerRound = 2 * (kMaxInbound + kMaxStreams) +
                                           3 * (kMaxObjectStreams * kObjectWindow.objects + 8) +
                                           2 * kMaxPosted + 64;

// How the application reads an object: (header opcode + object number) % 6.
enum class ObjectMode { whole, steps, half_then_discard, discard, refuse, stall };
// Header opcodes of control objects: alpha finishes, stops, aborts the oldest object of, or
// posts four more objects to its own object stream to bravo.
constexpr std::uint16_t kOpcodeFin = 0xf0;
constexpr std::uint16_t kOpcodeStop = 0xf1;
constexpr std::uint16_t kOpcodeAbort = 0xf2;
constexpr std::uint16_t kOpcodePost = 0xf3;

// alpha's objects' data: one in memory, two supplied on request in pieces.
constexpr std::size_t kInMemoryBytes = 9000;  // three object_data frames of 4096 at most
constexpr std::size_t kSuppliedBytes = 6000;
constexpr std::size_t kSupplyPiece = 2500;

NodeConfig alpha_config(const std::string& self, const std::string& peer) {
  NodeConfig config;
  config.name = self;
  config.peers = {peer};
  config.auth = std::make_shared<SharedKeyAuth>(kClusterKey);
  config.checksums = false;
  config.seed = 1;
  config.limits.max_frame_bytes = kMaxFrameBytes;
  config.limits.max_message_bytes = kMaxMessageBytes;
  config.limits.max_assembly_bytes = 8 << 20;
  config.limits.max_inbound_requests = kMaxInbound;
  config.limits.max_streams = kMaxStreams;
  config.limits.max_control_frames = kMaxControlFrames;
  config.limits.max_object_streams = kMaxObjectStreams;
  config.limits.object_chunk_bytes = 4096;
  config.limits.object_results_kept = 8;  // a resume from further back is refused
  config.max_pending_events = 100'000;
  return config;
}

// alpha's application: answers requests and streams, serves objects at "store", and sends
// objects of its own; keeps what it needs to check that every object ends exactly once.
class Application {
 public:
  explicit Application(Node& node) : node_(node) {}

  // Handles every event and does what they ask for until nothing more happens. Returns how
  // many events it handled.
  std::size_t serve(TimeNs now);
  void open_stream(TimeNs now);
  // The input is over: alpha's stream finishes once its objects complete.
  void finish_stream(TimeNs now);
  // After the peer went away for longer than object_resume_timeout_ms.
  void check_all_ended();

 private:
  // An object of the peer that arrived and has not ended for the application.
  struct Reading {
    std::uint64_t object = 0;
    ObjectMode mode = ObjectMode::whole;
    bool size_known = true;
    std::uint64_t size = 0;
    std::uint64_t consumed = 0;
    bool discarded = false;  // ends when its end arrives, without an event
    bool due = true;         // read it in the next pass
  };

  void handle(TimeNs now, const Event& event);
  void arrived(const event::ObjectArrived& incoming);
  // Does what the events asked for; false when there was nothing to do.
  bool act(TimeNs now);
  // Reads (or refuses, or discards) `reading`; true when the object ended.
  bool read_object(TimeNs now, ObjectStreamId id, Reading& reading);
  void supply(TimeNs now, std::uint64_t object, std::uint64_t offset);
  void post(TimeNs now);
  // Objects discarded before their end arrived: ended once the stream moved past them.
  void settle_discarded(TimeNs now);
  PeerConnection peer() { return node_.connection(0); }

  Node& node_;
  std::map<std::uint64_t, Reading> reading_;       // by ObjectStreamId::value
  std::map<std::uint64_t, std::uint64_t> latest_;  // the last object arrived, per stream
  std::uint64_t arrivals_ = 0;
  // alpha's object stream to bravo.
  ObjectStreamId out_;
  std::uint64_t posted_ = 0;
  std::uint64_t completed_ = 0;
  bool fin_ = false;
  bool ended_ = false;
  std::map<std::uint64_t, std::uint64_t> wanted_;  // object -> offset to supply from
  std::vector<std::uint16_t> controls_;            // control opcodes arrived, to act on
};

std::size_t Application::serve(TimeNs now) {
  std::size_t events = 0;
  do {
    while (std::optional<Event> event = node_.poll_event()) {
      ++events;
      handle(now, *event);
    }
  } while (act(now));
  settle_discarded(now);
  return events;
}

void Application::handle(TimeNs now, const Event& event) {
  if (const auto* request = std::get_if<event::RequestReceived>(&event)) {
    PeerConnection peer = node_.connection(request->peer);
    if (request->payload.size() % 3 == 0) {
      peer.respond_error(now, request->id, Errc::remote_error, "no");
    } else {
      peer.respond(now, request->id, request->payload);
    }
  } else if (const auto* readable = std::get_if<event::StreamReadable>(&event)) {
    PeerConnection peer = node_.connection(readable->peer);
    while (std::optional<Bytes> message = peer.stream_peek(readable->id)) {
      peer.stream_write(now, readable->id, *message);
      peer.stream_consume(now, readable->id);
    }
    if (peer.stream_input_done(readable->id)) peer.stream_close(now, readable->id);
  } else if (const auto* opened = std::get_if<event::StreamOpened>(&event)) {
    PeerConnection peer = node_.connection(opened->peer);
    if (!opened->has_input) peer.stream_close(now, opened->id);
  } else if (const auto* object = std::get_if<event::ObjectArrived>(&event)) {
    arrived(*object);
  } else if (const auto* object_readable = std::get_if<event::ObjectReadable>(&event)) {
    // May be stale: the object it was for may have ended since.
    if (const auto found = reading_.find(object_readable->stream.value); found != reading_.end())
      found->second.due = true;
  } else if (const auto* aborted = std::get_if<event::ObjectAborted>(&event)) {
    const auto found = reading_.find(aborted->stream.value);
    check(found != reading_.end() && found->second.object == aborted->object);
    check(aborted->result != Errc::ok);
    reading_.erase(found);
  } else if (const auto* completed = std::get_if<event::ObjectCompleted>(&event)) {
    check(completed->stream == out_ && !ended_);
    check(completed->object == completed_ + 1 && completed->object <= posted_);
    check(completed->tag == completed->object);
    ++completed_;
    wanted_.erase(completed->object);
  } else if (const auto* want = std::get_if<event::ObjectWantData>(&event)) {
    check(want->stream == out_ && !ended_ && want->object > completed_ && want->object <= posted_);
    wanted_[want->object] = want->offset;
  } else if (const auto* stream_ended = std::get_if<event::ObjectStreamEnded>(&event)) {
    check(stream_ended->stream == out_ && !ended_ && completed_ == posted_);
    check(stream_ended->result != Errc::ok || fin_);
    ended_ = true;
    wanted_.clear();
  }
}

void Application::arrived(const event::ObjectArrived& incoming) {
  check(incoming.endpoint == "store");
  check(incoming.size_known || incoming.size == 0);
  std::uint64_t& latest = latest_[incoming.stream.value];
  check(incoming.object > latest);
  latest = incoming.object;
  ++arrivals_;
  if (const auto earlier = reading_.find(incoming.stream.value); earlier != reading_.end()) {
    // Only an object discarded before its end may end without the application's knowing.
    check(earlier->second.discarded);
    reading_.erase(earlier);
  }
  const std::uint16_t opcode = incoming.header.opcode;
  if (opcode >= kOpcodeFin && opcode <= kOpcodePost) controls_.push_back(opcode);
  reading_[incoming.stream.value] = Reading{
      .object = incoming.object,
      .mode = static_cast<ObjectMode>((opcode + incoming.object) % 6),
      .size_known = incoming.size_known,
      .size = incoming.size,
  };
}

bool Application::act(TimeNs now) {
  // One control object at a time: what it does may end the stream (events not seen yet).
  if (!controls_.empty()) {
    const std::uint16_t opcode = controls_.front();
    controls_.erase(controls_.begin());
    if (ended_) return true;
    switch (opcode) {
      case kOpcodeFin:
        fin_ = fin_ || peer().object_stream_fin(now, out_) == Errc::ok;
        break;
      case kOpcodeStop:
        check(peer().object_stream_stop(now, out_) == Errc::ok);
        break;
      case kOpcodeAbort:
        peer().object_abort(now, out_, completed_ + 1, Errc::canceled,
                            "aborted by the fuzz target");
        break;
      default:
        if (!fin_) post(now);
        break;
    }
    return true;
  }
  bool acted = false;
  for (const auto& [object, offset] : std::exchange(wanted_, {})) {
    acted = true;
    if (!ended_) supply(now, object, offset);
  }
  for (auto it = reading_.begin(); it != reading_.end();) {
    Reading& reading = it->second;
    if (!reading.due || reading.discarded) {
      ++it;
      continue;
    }
    acted = true;
    reading.due = false;
    it = read_object(now, ObjectStreamId{it->first}, reading) ? reading_.erase(it) : std::next(it);
  }
  return acted;
}

bool Application::read_object(TimeNs now, ObjectStreamId id, Reading& reading) {
  PeerConnection connection = peer();
  switch (reading.mode) {
    case ObjectMode::stall:
      return false;
    case ObjectMode::refuse:
      check(connection.object_refuse(now, id, Errc::remote_error, "refused by the fuzz target") ==
            Errc::ok);
      return true;
    case ObjectMode::discard: {
      const std::optional<ObjectRead> read = connection.object_read(id);
      const bool end = read && read->end;
      check(connection.object_discard(now, id) == Errc::ok);
      reading.discarded = !end;  // with its end here it ended now
      return end;
    }
    default:
      break;
  }
  while (const std::optional<ObjectRead> read = connection.object_read(id)) {
    // The view dies with the next call into the node.
    const std::size_t size = read->data.size();
    const bool end = read->end;
    check(read->object == reading.object && read->offset == reading.consumed);
    check(!reading.size_known || read->offset + size <= reading.size);
    check(!end || !reading.size_known || read->offset + size == reading.size);
    if (reading.mode == ObjectMode::half_then_discard) {
      // Less than all of it: consuming the last byte after the end would finish it.
      if (size / 2 > 0) check(connection.object_consume(now, id, size / 2) == Errc::ok);
      check(connection.object_discard(now, id) == Errc::ok);
      reading.discarded = !end;
      return end;
    }
    const std::size_t step =
        reading.mode == ObjectMode::steps ? std::min<std::size_t>(size, 1000) : size;
    check(connection.object_consume(now, id, step) == Errc::ok);
    reading.consumed += step;
    if (end && step == size) return true;
  }
  return false;
}

void Application::settle_discarded(TimeNs now) {
  for (auto it = reading_.begin(); it != reading_.end();) {
    if (!it->second.discarded) {
      ++it;
      continue;
    }
    // Its end arrived (the stream reads a later object, or none) or the stream was forgotten
    // after it ended: an object that had not ended would have had its ObjectAborted.
    const std::optional<ObjectStreamStats> stats =
        peer().object_stream_stats(now, ObjectStreamId{it->first});
    const bool ended = !stats || stats->current_object != it->second.object;
    it = ended ? reading_.erase(it) : std::next(it);
  }
}

void Application::open_stream(TimeNs now) {
  const OpenedObjectStream opened = peer().open_object_stream(now, "store");
  check(opened.error == Errc::ok);
  out_ = opened.id;
  post(now);
}

// Four objects: header-only, sized in memory, sized and unsized supplied on request.
void Application::post(TimeNs now) {
  static const SharedBytes in_memory(std::vector<std::uint8_t>(kInMemoryBytes, 0x5a));
  for (int kind = 0; kind < 4 && posted_ < kMaxPosted; ++kind) {
    ObjectArgs args;
    args.header.name = "alpha/" + std::to_string(posted_ + 1);
    args.header.opcode = kind == 0 ? 1 : 0;
    args.kind =
        kind == 0 ? ObjectSize::header_only : (kind == 3 ? ObjectSize::unsized : ObjectSize::sized);
    args.size = kind == 1 ? kInMemoryBytes : (kind == 2 ? kSuppliedBytes : 0);
    if (kind == 1) args.data = in_memory;
    args.tag = posted_ + 1;
    const PostedObject result = peer().object_post(now, out_, std::move(args));
    check(result.error == Errc::ok && result.object == posted_ + 1);
    ++posted_;
  }
}

// Supplies from `offset` in pieces while the core takes them (it may not: the want may be
// stale after a reconnect, the buffer full, the object aborted).
void Application::supply(TimeNs now, std::uint64_t object, std::uint64_t offset) {
  static const std::vector<std::uint8_t> data(kSuppliedBytes, 0xa5);
  Errc result = Errc::ok;
  do {
    const std::size_t piece =
        offset < kSuppliedBytes ? std::min<std::size_t>(kSupplyPiece, kSuppliedBytes - offset) : 0;
    const Bytes bytes = piece == 0 ? Bytes{} : Bytes(data.data() + offset, piece);
    result =
        peer().object_supply(now, out_, object, offset, bytes, offset + piece >= kSuppliedBytes);
    offset += piece;
  } while (result == Errc::ok && offset < kSuppliedBytes);
}

void Application::finish_stream(TimeNs now) {
  if (!ended_ && !fin_) fin_ = peer().object_stream_fin(now, out_) == Errc::ok;
}

void Application::check_all_ended() {
  check(reading_.empty());
  check(ended_ && completed_ == posted_);
  check(node_.object_endpoint_stats("store")->objects == arrivals_);
}

void drain_output(Node& node, TransportId transport) {
  while (node.poll_transmit()) {
  }
  for (Bytes out = node.pending_output(transport); !out.empty();
       out = node.pending_output(transport)) {
    node.consume_output(transport, out.size());
  }
}

// bravo's handshake on a new transport (hello, then the auth answering the node's
// challenge); an established connection for it.
TransportId connect(Node& node, Application& application, TimeNs now, const std::string& dialer,
                    std::uint64_t incarnation) {
  const TransportId transport = node.on_accepted(now);
  const std::array<std::uint8_t, kNonceBytes> nonce{0x5a};
  const Frame hello{.op = Op::hello,
                    .checksum = true,
                    .version_min = kProtocolVersionMin,
                    .version_max = kProtocolVersion,
                    .name = dialer,
                    .peer_name = node.name(),
                    .incarnation = incarnation,
                    .wall_ms = static_cast<std::uint64_t>(kWallMs + now / 1'000'000),
                    .max_frame_bytes = 1 << 20,
                    .nonce = nonce};
  ByteBuffer bytes;
  encode_frame(bytes, hello);
  node.on_bytes(now, transport, bytes.view());
  const Bytes out = node.pending_output(transport);
  FrameDecoder decoder;
  const DecodeStep step = decoder.next(out);
  check(step.status == DecodeStatus::frame && step.frame.op == Op::challenge);
  const std::vector<std::uint8_t> proof =
      SharedKeyAuth(kClusterKey)
          .prove(handshake_transcript(ProofRole::dialer, hello, step.frame))
          .value();
  node.consume_output(transport, out.size());
  bytes.clear();
  encode_frame(bytes, Frame{.op = Op::auth, .checksum = true, .payload = proof});
  node.on_bytes(now, transport, bytes.view());
  application.serve(now);
  drain_output(node, transport);
  check(node.connection(0).state() == PeerState::established);
  return transport;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto [dialer, self] = names();
  Node node(alpha_config(self, dialer), 0, kWallMs);
  node.register_handler(1);
  node.register_handler(2, "r");
  node.register_stream_handler(3, {}, StreamWindow{4, 4096});
  check(node.register_object_endpoint("store", kObjectWindow) == Errc::ok);
  Application application(node);
  TimeNs now = 0;
  TransportId transport = connect(node, application, now, dialer, kIncarnation);
  application.open_stream(now);
  application.serve(now);
  drain_output(node, transport);

  // The rest of the input is what bravo sends, in pieces, with time passing between them.
  int reconnects = 0;
  std::size_t at = 0;
  while (at < size) {
    const std::uint8_t control = data[at++];
    const TimeNs step = static_cast<TimeNs>(control >> 6) * 7'000'000'000LL;  // 0, 7, 14, 21 s
    if (node.connection(0).state() != PeerState::established && reconnects < kMaxReconnects) {
      // bravo dials again after 0, 14, 28 or 42 s (object streams are kept for 30 s); the
      // last time it has restarted.
      now += 2 * step;
      node.on_timer(now);
      check(application.serve(now) <= kMaxEventsPerRound);
      ++reconnects;
      transport = connect(node, application, now, dialer,
                          kIncarnation + (reconnects == kMaxReconnects ? 1 : 0));
    }
    const std::size_t piece = std::min<std::size_t>(size - at, 1 + control % 64);
    node.on_bytes(now, transport, Bytes(data + at, piece));
    at += piece;
    now += step;
    node.on_timer(now);
    check(node.accepting_input());
    check(application.serve(now) <= kMaxEventsPerRound);
    const PeerStats stats = node.connection(0).stats();
    check(stats.inbound_in_flight <= kMaxInbound);
    check(stats.streams_open <= kMaxStreams);
    check(stats.object_streams_in <= kMaxObjectStreams && stats.object_streams_out <= 1);
    // Filled only while below the mark, so at most one frame past it: a prefix, a header
    // (16-bit length) and a body within the peer's frame limit.
    check(stats.output_bytes <
          node.config().limits.output_high_water_bytes + 8 + 0xffff + kMaxFrameBytes);
    check(stats.queued_control_frames <= kMaxControlFrames);
    check(stats.queued_data_bytes <=
          node.config().limits.max_queued_bytes + kMaxInbound * (kMaxMessageBytes + 64));
    drain_output(node, transport);
  }
  // The peer goes away: everything ends, and nothing is left; the object streams kept for a
  // resume go when object_resume_timeout_ms (30 s) has passed.
  application.finish_stream(now);
  application.serve(now);
  node.on_transport_down(now, transport, "fuzz input over");
  application.serve(now);
  now += 3'600'000'000'000LL;
  node.on_timer(now);
  application.serve(now);
  const PeerStats stats = node.connection(0).stats();
  check(stats.outbound_in_flight == 0);
  check(stats.inbound_in_flight == 0);
  check(stats.streams_open == 0);
  check(stats.output_bytes == 0 && stats.queued_data_bytes == 0 &&
        stats.queued_control_frames == 0);
  check(stats.object_streams_in == 0 && stats.object_streams_out == 0);
  application.check_all_ended();
  return 0;
}
