// A weft node: the sans-I/O core a driver feeds with transports, bytes and timer ticks.
//
// Inputs (the only ways its state changes), each with the current monotonic time:
//   on_accepted, on_connected, on_connect_failed, on_bytes, on_transport_down, on_timer.
// Commands (what the application asks for), through connection(peer): request, cancel,
//   respond, respond_error. They return a result at once and never block. Each (but the
//   getters and object_stream_stats) is use of the connection: with
//   NodeConfig::connect_on_demand its idle period starts again.
// Outputs (read them after every input or command):
//   poll_event()          - what happened (dial this, close that, peer up, request in, ...)
//   poll_transmit()       - which transport has bytes to write; then pending_output(t) and
//                           consume_output(t, n) once n bytes are written
//   next_deadline()       - call on_timer at (or after) this time
// Nothing in the node calls out to the driver, so nothing re-enters it. It reads no clock
// and draws randomness only from NodeConfig::seed. Not thread-safe: one thread drives it.
//
// Transports. The node never opens a socket. When it wants one it emits event::Dial with a
// TransportId; the driver connects and reports on_connected or on_connect_failed. Incoming
// sockets are reported with on_accepted, which returns their TransportId; the node routes
// them to the right peer once their hello arrives. Exactly one side of each pair dials,
// decided by dial_rule_dials().
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/bundle.hpp"
#include "weft/bytes.hpp"
#include "weft/config.hpp"
#include "weft/errors.hpp"
#include "weft/events.hpp"
#include "weft/object.hpp"
#include "weft/time.hpp"

namespace weft {

struct MetricsSnapshot;  // weft/metrics.hpp
struct MetricsOptions;

namespace detail {
class NodeCore;
class Bundles;
}  // namespace detail

// Whether node `self` dials node `peer` (PROTOCOL.md §4.1). For any two distinct names,
// exactly one of dial_rule_dials(a, b) and dial_rule_dials(b, a) is true.
bool dial_rule_dials(std::string_view self, std::string_view peer);

enum class PeerState : std::uint8_t {
  idle,         // no transport; this side waits for the peer to dial (or, on demand, for work)
  backoff,      // no transport; this side dials again at the end of the backoff
  dialing,      // a Dial event is out; waiting for on_connected
  handshaking,  // hello sent, waiting for welcome
  established,  // calls can be made
  removed,      // Node::remove_peer: no transport, never again (a re-added name is a new peer)
};
std::string_view peer_state_name(PeerState state);

// What add_peer returns: the new peer's id when error is ok.
struct AddedPeer {
  PeerId peer = 0;
  Errc error = Errc::ok;
};

struct PeerStats {
  PeerState state = PeerState::idle;
  // The link the last established connection was (each link begun takes the next, a
  // knock or a failed handshake too): ids of its streams carry it.
  std::uint64_t generation = 0;
  std::uint64_t connections = 0;  // connections established so far
  std::uint64_t reconnects = 0;   // connections established after the first
  std::uint64_t peer_incarnation = 0;
  std::uint16_t version = 0;      // protocol version of the last connection (0 before the first)
  std::uint64_t frames_sent = 0;  // frames handed to the driver (committed)
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;  // bytes the driver reported written
  std::uint64_t bytes_received = 0;
  std::size_t output_bytes = 0;  // committed, not yet written
  std::size_t queued_data_bytes = 0;
  std::size_t queued_control_frames = 0;
  // Responses to the peer waiting in the lanes (limits.max_queued_response_bytes); part of
  // queued_data_bytes.
  std::size_t queued_response_bytes = 0;
  // Payload bytes of the peer's requests accepted and not yet answered (delivered, or
  // arriving in parts by their announced size); with queued_response_bytes, bounded by
  // limits.max_inbound_request_bytes.
  std::size_t inbound_request_bytes = 0;
  std::size_t outbound_in_flight = 0;
  std::size_t inbound_in_flight = 0;
  std::size_t streams_open = 0;        // streams either way, including ones flushing their end
  std::size_t object_streams_out = 0;  // object streams this node opened to the peer
  std::size_t object_streams_in = 0;   // the peer's object streams held here (open or resumable)
  TimeNs rtt_ns = 0;                   // last measured round trip; 0 before the first pong
};

// What a request asks for.
struct RequestArgs {
  std::uint16_t handler = 0;    // 1..65535
  std::string_view route = {};  // subroute, at most limits.max_route_bytes; "" for none
  // Borrowed bytes are copied only as far as they cannot go out at once; shared bytes are
  // never copied (the core keeps a reference until the last part is written or dropped).
  Payload payload = {};
  // How long the caller waits; 0 means ConnectionTimeouts::default_request_timeout_ms.
  // At most 2^32 - 1.
  std::int64_t timeout_ms = 0;
};

// The result of starting a call: error is ok and id names the call, or error says why
// nothing was started (no event will follow).
struct Call {
  Errc error = Errc::ok;
  RequestId id = 0;
};

// How much a stream's receiving side buffers: it grants the sender this many messages and
// bytes at once, and more as the application consumes.
struct StreamWindow {
  std::uint32_t msgs = 16;
  std::uint32_t bytes = 1 << 20;
};

// What opening a stream asks for.
struct StreamArgs {
  std::uint16_t handler = 0;
  std::string_view route = {};
  bool has_payload = false;  // send `payload` as the initial payload (may be empty)
  Bytes payload = {};
  bool has_input = false;       // this side will write messages to the handler
  StreamWindow window;          // what this side buffers from the handler
  std::int64_t timeout_ms = 0;  // 0: no deadline (keepalive pings still apply)
};

struct OpenedStream {
  Errc error = Errc::ok;
  StreamId id;
};

// A stream's flow-control state on this side, for tests and monitoring.
struct StreamCredits {
  std::uint64_t send_msgs = 0;         // messages this side may still send now
  std::uint64_t send_bytes = 0;        // bytes this side may still send now
  std::uint32_t peer_window_msgs = 0;  // the window the peer granted at the start
  std::uint32_t peer_window_bytes = 0;
  std::uint64_t unread_msgs = 0;  // received, not consumed
  std::uint64_t unread_bytes = 0;
  std::uint64_t granted_unused_msgs = 0;  // granted to the peer, not yet used by it
  std::uint32_t window_msgs = 0;          // the window this side granted
  std::uint32_t window_bytes = 0;
  // The memory the inbox holds: the blocks small messages are copied into (the window
  // rounded up to a power of two, 1 to 64 KiB; one is kept for reuse, and a spare, also
  // when nothing is unread) and the buffers of large messages.
  std::uint64_t unread_memory_bytes = 0;
};

class Node;

// Calls to one peer. A small handle: copy it freely; valid while its node lives. Every call
// on a handle whose id is not below Node::peer_count() throws std::out_of_range (an id the
// node never gave out); a removed peer's id stays valid (Node::remove_peer).
class PeerConnection {
 public:
  // Sends a request. With NodeConfig::connect_on_demand, a request made while the
  // connection is down waits for it (its deadline runs) and brings it up (PROTOCOL.md §4.7):
  // it ends disconnected if the dial or knock it caused fails; a request the peer's
  // goaway(idle) shows unread goes out again on the next connection. Errors (nothing sent,
  // no event follows): unknown_peer (the peer was removed: Node::remove_peer), disconnected (not
  // established, and not on demand), too_large (payload over
  // limits.max_message_bytes; larger payloads than a frame travel in parts), queue_full (too many
  // in flight, or data waiting in the lanes and the payload would take them past max_queued_bytes;
  // into empty lanes any payload up to max_message_bytes goes), invalid_argument (handler 0, route
  // or timeout out of range). Otherwise exactly one event::RequestDone for the returned id follows.
  Call request(TimeNs now_ns, const RequestArgs& args);

  // Ends request `id` now with Errc::canceled (its RequestDone is emitted at once) and
  // tells the serving side, which sees event::RequestCanceled. not_found if it already
  // ended.
  Errc cancel(TimeNs now_ns, RequestId id);

  // Answers request `id` (from event::RequestReceived) with `payload`. not_found when the
  // request ended without an answer (canceled, deadline, disconnect) or was answered.
  // A payload over limits.max_message_bytes sends Errc::too_large to the caller instead
  // and returns too_large (the request is then answered). queue_full when the answers
  // already queued to this peer (it is not reading them) leave less than `payload`'s size
  // of limits.max_queued_response_bytes: the caller receives busy instead and the request is
  // answered (do not retry it; the caller may). Never waits for output. If the busy answer
  // itself overflows limits.max_control_frames, the connection is closed (PeerDown).
  Errc respond(TimeNs now_ns, InboundId id, Payload payload);

  // Answers request `id` with an error; the caller's RequestDone carries `code` and
  // `message`. Codes travel as their wire status (PROTOCOL.md §7): queue_full arrives as
  // busy, and codes without a status (disconnected, not_found, invalid_argument, ...) as
  // remote_error. invalid_argument for Errc::ok (nothing sent; the request stays
  // answerable); not_found as for respond; queue_full as for respond (the message's size
  // counts as the payload's; the caller receives busy instead of `code`).
  Errc respond_error(TimeNs now_ns, InboundId id, Errc code, std::string_view message);

  // ---- streams (both sides use the same calls on a StreamId) ----

  // Opens a stream to (handler, route). Errors (nothing sent, no event): unknown_peer (the
  // peer was removed), disconnected (on demand this also brings the connection up: open
  // the stream again after PeerUp),
  // too_large (initial payload), queue_full (too many streams or receive budget spent),
  // invalid_argument. Otherwise exactly one event::StreamEnded for the id follows.
  OpenedStream open_stream(TimeNs now_ns, const StreamArgs& args);
  // Sends one message (borrowed bytes are copied; shared ones are kept by reference until
  // sent). A message longer than limits.chunk_bytes travels in parts that other frames pass
  // (PROTOCOL.md §6.2); it takes the credit for all its bytes at once. no_credit: the peer's
  // window is full; StreamWritable follows when credit arrives (nothing was sent).
  // stream_closed: this side's half has ended. too_large: bigger than the peer's whole byte
  // window or than limits.max_message_bytes (nothing sent). not_found: no such live stream.
  Errc stream_write(TimeNs now_ns, StreamId id, const Payload& message);
  // The oldest unconsumed message, or nullopt when none (or no such stream). The view is
  // valid until stream_consume or the stream ends.
  std::optional<Bytes> stream_peek(StreamId id);
  // True when the peer's half has ended and every message was consumed: no more input will
  // come. (A StreamReadable is emitted when the end arrives at a drained inbox, so a reader
  // wakes up for it; an end that completes the stream gives StreamEnded instead.)
  bool stream_input_done(StreamId id);
  // Drops the oldest message and, in due course, returns its credit to the sender.
  // not_found when there is no message or no such stream.
  Errc stream_consume(TimeNs now_ns, StreamId id);
  // stream_consume, then stream_peek, in one call (one lookup of the stream instead of two,
  // for a reader that drains the inbox): drops the oldest message and returns the one after
  // it, valid as stream_peek's view is. nullopt when none is left after it (the stream may
  // have completed then: StreamEnded follows), when there was no message to consume, or
  // when there is no such stream.
  std::optional<Bytes> stream_consume_next(TimeNs now_ns, StreamId id);
  // Ends this side's half normally (the peer reads an end after the last message). The
  // stream ends once the peer's half ended too and every message was consumed.
  Errc stream_close(TimeNs now_ns, StreamId id);
  // Ends the stream with an error: the peer receives `code` and `message` after the
  // messages already sent; this side's StreamEnded(code) is emitted now.
  Errc stream_fail(TimeNs now_ns, StreamId id, Errc code, std::string_view message);
  // Cancels the stream on both sides at once: StreamEnded(canceled) here now, and the peer
  // sees StreamEnded(canceled) when the reset arrives. Unsent messages are dropped.
  Errc stream_cancel(TimeNs now_ns, StreamId id);
  // The stream's credits, or nullopt when it is not live.
  std::optional<StreamCredits> stream_credits(StreamId id) const;
  // Whether the connection's committed output is below limits.output_high_water_bytes, so
  // that a frame written now is encoded straight into it. Above the mark a stream_write with
  // credit is still accepted but waits in the connection's lanes (encoded there and copied
  // to the output later). A driver that holds its application's messages until this is true
  // again (after consume_output) sends each with one copy fewer. No connection: true.
  bool output_below_high_water() const;

  // ---- object streams, sending (PROTOCOL.md §6.3) ----

  // Opens an object stream to the peer's endpoint `endpoint` (1..255 printable ASCII
  // bytes). Nothing goes on the wire until the first object: the stream may be opened
  // while the peer is down. Errors (no stream, no event): unknown_peer (the peer was
  // removed), invalid_argument (the name), queue_full (limits.max_object_streams). Otherwise
  // exactly one event::ObjectStreamEnded for the id follows, after object_stream_fin or
  // object_stream_stop (or unknown_handler when the peer has no such endpoint). With
  // options.compression lz4 each data chunk goes LZ4-compressed when that makes it smaller; the
  // receiver sees the same data, offsets and sizes as without. A peer that cannot take it (an
  // endpoint registered without compression) ends the stream with unsupported when its first object
  // would open it there: every object posted completes with unsupported, then
  // ObjectStreamEnded(unsupported).
  OpenedObjectStream open_object_stream(TimeNs now_ns, std::string_view endpoint,
                                        ObjectStreamOptions options = {});
  // Posts an object. Errors (nothing posted, no event): not_found (no such stream),
  // stream_closed (after object_stream_fin), invalid_argument (kind, size and data do not
  // agree: see ObjectArgs), too_large (encoded header over limits.max_object_header_bytes, or
  // more than kMaxObjectHeaderCustomEntries custom attributes),
  // queue_full (limits.max_objects_in_flight objects not completed, or in-memory data over
  // limits.max_object_held_bytes). Otherwise exactly one event::ObjectCompleted for the
  // returned number follows, after those of every object posted before it. An object
  // posted while the peer is down waits for it (object_resume_timeout_ms, then it completes
  // with disconnected; once that wait ran out with the peer still down, objects posted
  // before it comes back complete with disconnected at once); on demand, posting brings
  // the connection up, and each post waits.
  PostedObject object_post(TimeNs now_ns, ObjectStreamId id, ObjectArgs args);
  // What object_post would say about its limits for an object with `data_bytes` of
  // in-memory data, without posting: ok, not_found, stream_closed or queue_full (the
  // arguments' own checks are not made). For posting one object to several streams only
  // when every one has room.
  Errc object_post_fits(ObjectStreamId id, std::uint64_t data_bytes) const;
  // Supplies data of object `object` (posted without ObjectArgs::data) from `offset`, the
  // offset the last event::ObjectWantData named plus what was supplied since. `last` ends an
  // unsized object (a sized one ends when its size is reached). Borrowed bytes are copied,
  // shared ones kept by reference until sent. Returns ok; no_credit when the stream's buffer
  // is full (nothing taken; ObjectWantData follows when there is room); invalid_argument when
  // the core did not ask for data there (wait for ObjectWantData: after a reconnect it asks
  // again from an earlier offset), or when the data runs past a sized object's size or
  // `last` comes short of it, which fails the object (invalid_argument is its completion);
  // not_found when no such object waits for data.
  Errc object_supply(TimeNs now_ns, ObjectStreamId id, std::uint64_t object, std::uint64_t offset,
                     const Payload& data, bool last);
  // Fails object `object` not yet wholly sent: it completes with `code` and `message`, in its
  // turn; the receiver drops what it got of it. invalid_argument for Errc::ok; not_found
  // when the object completed or was already sent whole.
  Errc object_abort(TimeNs now_ns, ObjectStreamId id, std::uint64_t object, Errc code,
                    std::string_view message);
  // Ends the stream gracefully: no more posts (stream_closed); ObjectStreamEnded(ok) once
  // every object posted completed. not_found: no such stream; stream_closed: fin already.
  Errc object_stream_fin(TimeNs now_ns, ObjectStreamId id);
  // Aborts the stream: every object not completed completes with `code` (canceled unless a
  // driver that stops says shutting_down) and `message`, in order, then
  // ObjectStreamEnded(code), all before this returns; the receiver drops the object it was
  // receiving. not_found: no such stream; invalid_argument for Errc::ok.
  Errc object_stream_stop(TimeNs now_ns, ObjectStreamId id, Errc code = Errc::canceled,
                          std::string_view message = "object stream stopped");

  // ---- object streams, receiving ----
  //
  // These act on the stream's object being read *now*. When the sender aborts that object
  // (event::ObjectAborted), the next object can become the one being read before the
  // application has handled the abort, so a command meant for the aborted object would act
  // on the next one: an application that may still hold an abort to handle checks
  // object_being_read first (or ObjectRead::object).

  // The number of the object being read on `id` now, the one the calls below act on; 0 when
  // none is (no such stream, or its next object has not arrived).
  std::uint64_t object_being_read(ObjectStreamId id);

  // The next bytes of the object being read on `id` (announced by event::ObjectArrived), or
  // nullopt when nothing is there yet (event::ObjectReadable follows when there is). The
  // view is valid until the next call into the node. Always the object's data as sent:
  // chunks that came LZ4-compressed were decoded on arrival (offsets count data bytes).
  std::optional<ObjectRead> object_read(ObjectStreamId id);
  // Marks `bytes` of the object being read as read (at most what object_read showed, or
  // more of the following chunks); their window goes back to the sender. Consuming the last
  // byte of an object whose end has come (ObjectRead::end; `bytes` may then be 0) finishes
  // it: the sender's completion is ok, and the next object arrives. not_found: no object
  // being read; invalid_argument: more bytes than are there (nothing consumed).
  Errc object_consume(TimeNs now_ns, ObjectStreamId id, std::size_t bytes);
  // Stops reading the object: the rest is drained as it arrives, and the object finishes
  // with ok when its end arrives. not_found: no object being read.
  Errc object_discard(TimeNs now_ns, ObjectStreamId id);
  // Refuses the object being read: the sender's completion carries `code` and `message`
  // (sent as their wire status), the rest is drained, the stream goes on with the next
  // object. invalid_argument for Errc::ok; not_found: no object being read.
  Errc object_refuse(TimeNs now_ns, ObjectStreamId id, Errc code, std::string_view message);

  // Counters of an object stream of either direction, or nullopt when it is not held here.
  // Starts a new period for ObjectStreamStats::idle_percent.
  std::optional<ObjectStreamStats> object_stream_stats(TimeNs now_ns, ObjectStreamId id);

  PeerStats stats() const;
  PeerState state() const;
  const std::string& name() const;
  PeerId id() const { return peer_; }
  // Whether this node dials this peer (otherwise it waits to be dialed).
  bool dials() const;
  // Whether the connection to this peer is made on demand (NodeConfig::connect_on_demand,
  // or add_peer's override).
  bool on_demand() const;

 private:
  friend class Node;
  PeerConnection(Node* node, PeerId peer) : node_(node), peer_(peer) {}
  Node* node_;
  PeerId peer_;
};

class Node {
 public:
  // Creates a node at monotonic time `now_ns` whose wall clock reads `wall_ms` (ms since
  // 1970) then. Throws std::invalid_argument when the config is unusable (bad or duplicate
  // names, no authenticator, a limit out of range) or `now_ns` is past kMaxTimeNs (no
  // instant given to the node may be). Dialing starts at the first on_timer.
  Node(NodeConfig config, TimeNs now_ns, std::int64_t wall_ms);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // ---- inputs -----------------------------------------------------------------------

  // A transport arrived from outside; the node expects its side of the handshake (hello,
  // then auth) on it within hello_timeout_ms. Returns its id. `source` names where it came
  // from, as the driver can tell (io::EventNode: the peer's IPv4 address; any stable key
  // will do); without one the transport counts as a source of its own. When
  // max_transports_awaiting_hello_per_source from `source` are already in their handshake,
  // the oldest of those that showed least (nothing, then a hello, then a verified
  // certificate) is closed to make room; else, when max_transports_awaiting_hello of all
  // are, one without a verified certificate (of all, if each has one) whose source holds
  // the most places (the new transport counted with its source), of those the oldest that
  // showed least: a HandshakeFailed (busy) and a CloseTransport for it follow. Until the dialer
  // proved itself the node writes on it only its challenge (poll_transmit / pending_output work as
  // for any transport) and touches no connection.
  TransportId on_accepted(TimeNs now_ns, std::optional<std::uint64_t> source = std::nullopt);
  // What the layer under an accepted transport proved (TLS: encrypted, the names of the
  // peer's verified certificate, a channel binding; weft/auth.hpp). Call it before the
  // first on_bytes of that transport; later calls, and calls for other transports, are
  // ignored. Without it the transport is plain.
  void on_secured(TimeNs now_ns, TransportId transport, TransportSecurity security);
  // The dial for `transport` (from event::Dial) succeeded; `security` is what the layer
  // under it proved (a TLS driver reports this once its TLS handshake is done).
  void on_connected(TimeNs now_ns, TransportId transport, TransportSecurity security = {});
  // The dial for `transport` failed.
  void on_connect_failed(TimeNs now_ns, TransportId transport, std::string_view reason);
  // Bytes arrived on `transport`, in any piece size. Ignored for unknown transports.
  void on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes);
  // `transport` is gone (closed, reset, write error). Ignored for unknown transports.
  void on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason);
  // Time passed: fires every deadline up to `now_ns`. Early or repeated calls are harmless.
  void on_timer(TimeNs now_ns);
  // Tells the node its wall clock reads `wall_ms` at monotonic time `now_ns` (used only to
  // stamp and check handshakes); call again when the wall clock jumps.
  void set_wall_clock(TimeNs now_ns, std::int64_t wall_ms);
  // Replaces the authenticator at `now_ns` (new keys, a rotated key ring, a revoked key):
  // every proof made or checked from now on uses it, including the later steps of
  // handshakes under way. The proof each connected peer gave in its handshake is checked
  // again with it: a connection whose peer's proof no longer verifies is closed with
  // goaway(auth_failed) (PeerDown, its calls end disconnected; a dialer dials again, and
  // the next handshake decides), and a dialer's handshake waiting for its welcome is
  // refused (HandshakeFailed auth_failed). The others stay as they are. Returns how many
  // it closed. Throws std::invalid_argument for a null one.
  std::size_t set_authenticator(TimeNs now_ns, std::shared_ptr<const Authenticator> auth);

  // ---- outputs ----------------------------------------------------------------------

  // False when poll_event and poll_transmit would both return nullopt (true may still
  // find nothing to transmit): a driver that serves many nodes skips the idle ones cheaply.
  bool has_output() const;
  // The next event, oldest first; nullopt when none.
  std::optional<Event> poll_event();
  // A transport that got bytes to write since it was last returned here; nullopt when
  // none. (A transport the driver could not drain needs no new notice: keep writing it.)
  std::optional<TransportId> poll_transmit();
  // The bytes to write on `transport` next (empty if none or unknown): the first
  // contiguous piece of its output. A large payload the node holds by reference is a piece
  // of its own (NodeConfig::limits.output_reference_min_bytes), so write, consume_output
  // and ask again until this is empty. Valid until the next call into the node.
  Bytes pending_output(TransportId transport);
  // The first pieces of `transport`'s output, in order, for one gathering write (writev):
  // fills `pieces` and returns how many it filled (0: nothing to write). pieces[0] is
  // pending_output(transport). Valid until the next call into the node; consume_output
  // takes a byte count across pieces.
  std::size_t pending_output_pieces(TransportId transport, std::span<Bytes> pieces);
  // The driver wrote the first `count` bytes of the output (of pending_output(transport),
  // or across the pieces of pending_output_pieces).
  void consume_output(TransportId transport, std::size_t count);
  // When on_timer must next be called; kNever when nothing is scheduled. Calling it later is
  // allowed. Until it runs: bytes read at a later time (on_bytes) first end the requests and
  // streams whose deadlines or stream timers were due by then, as if on_timer had run on
  // time (a request whose deadline passed ends deadline_exceeded before a response read
  // with those bytes); a request held for the connection, or waiting in a lane, is never
  // sent once its deadline passed by the latest time given to the node; and an answer
  // given after its request's deadline is not_found. Other inputs and commands do not end
  // what is due (a transport going down ends a request past its deadline disconnected; a
  // cancel ends it canceled). The connection's own timers (keepalive, handshake and connect
  // timeouts, idle close) and object timers wait for on_timer.
  TimeNs next_deadline() const;
  // False while more than max_pending_events events wait: the driver should stop reading
  // transports until the application has polled events.
  bool accepting_input() const;
  // Optional: hands back a payload vector once the application is done with it (the
  // payload of a RequestReceived or RequestDone it polled, or any other). The node keeps its
  // memory within NodeConfig::payload_pool_bytes (a vector that does not fit is freed here)
  // and fills a later RequestReceived or RequestDone payload there instead of allocating,
  // when the vector fits that payload closely (capacity at most twice its size plus 64
  // bytes), so a small payload never holds a large vector. The old bytes are never shown
  // again; any pointer or view into the vector is the node's from this call on.
  void recycle_payload(std::vector<std::uint8_t>&& payload);
  // The memory held for that now (the vectors' capacity and the list that holds them), at
  // most NodeConfig::payload_pool_bytes.
  std::size_t recycled_payload_bytes() const;

  // ---- commands and getters ---------------------------------------------------------

  // Declares that this node serves (handler, route); requests for anything else are
  // answered unknown_handler. invalid_argument (nothing registered) for handler 0 or a route
  // longer than limits.max_route_bytes.
  Errc register_handler(std::uint16_t handler, std::string_view route = {});
  // Declares that this node serves streams for (handler, route), granting openers `window`
  // for their messages (the window is ignored for streams without input). Opening any
  // other stream is refused with unknown_handler. invalid_argument (nothing registered) for
  // handler 0, a route longer than limits.max_route_bytes, or a window of 0 messages or 0
  // bytes.
  Errc register_stream_handler(std::uint16_t handler, std::string_view route = {},
                               StreamWindow window = {});
  // Declares that this node receives object streams at `endpoint`, granting each `window`.
  // invalid_argument for a name that is not 1..255 printable ASCII bytes, a window of 0
  // objects or under 65536 bytes (an object header must always fit, PROTOCOL.md §6.3).
  // Registering a name again changes the window of streams opened after. `accepts` is the
  // compression the endpoint takes: lz4 (the default) or none, which refuses compressed
  // streams (object_reject(unsupported); the sender's stream ends with unsupported).
  Errc register_object_endpoint(std::string_view endpoint, ObjectWindow window = {},
                                ObjectCompression accepts = ObjectCompression::lz4);
  // The counters of an endpoint, or nullopt when it is not registered.
  std::optional<ObjectEndpointStats> object_endpoint_stats(std::string_view endpoint) const;
  // The calls to `peer`. Never fails itself; every call on the handle throws
  // std::out_of_range when `peer` is not below peer_count().
  PeerConnection connection(PeerId peer) { return {this, peer}; }
  // The live peer called `name` (a removed one is not found).
  std::optional<PeerId> find_peer(std::string_view name) const;
  // Peers ever known: the configured ones, then those add_peer added, removed ones included
  // (ids are never reused, so 0..peer_count()-1 are all valid PeerConnection ids).
  std::size_t peer_count() const;
  // Peers with a transport open or opening (dialing, handshaking, established): what the
  // node holds sockets for. With NodeConfig::connect_on_demand, only the peers in use.
  std::size_t open_connections() const;

  // ---- membership at run time ----------------------------------------------------------

  // Adds peer `name` to the running node: a new relationship under a new PeerId (never one
  // used before, also for a name that was removed and comes back). Its connection follows
  // the dial rule like a configured peer's: this side dials at the next timer, or waits for
  // the peer's hello. `connect_on_demand` sets this peer's mode (PROTOCOL.md §4.7);
  // nullopt takes NodeConfig::connect_on_demand. Give both sides of a pair the same mode: an
  // always-on dialer redials a peer that closed idle. invalid_argument (and no peer) for a
  // name that is not a valid node name, this node's own name, or the name of a live peer.
  AddedPeer add_peer(TimeNs now_ns, std::string_view name,
                     std::optional<bool> connect_on_demand = std::nullopt);
  // Removes `peer`: its transport closes (after a goaway(shutting_down) when established);
  // every request, inbound call and stream with it ends once with peer_removed (RequestDone,
  // RequestCanceled, StreamEnded), every object posted to it completes with peer_removed and
  // its object streams end with it, and an object being read from it ends with
  // ObjectAborted(peer_removed); PeerDown follows if it was up. Afterwards the id stays
  // valid but dead: request, open_stream and open_object_stream return unknown_peer,
  // stats() shows PeerState::removed, and a hello from the name is refused (unknown_node)
  // unless add_peer takes the name again. unknown_peer if `peer` is not a live peer.
  Errc remove_peer(TimeNs now_ns, PeerId peer);
  // For a driver that stops, after it closed every transport (on_transport_down, or
  // on_connect_failed for a Dial it will not make): ends what still waits for a connection,
  // which no transport's end reaches. Every request and stream held for a peer that connects
  // on demand and has no transport (waiting for the peer's dial back after a knock, or for a
  // dial after a backoff) ends once with disconnected and `reason` (RequestDone, StreamEnded),
  // and that dial back or dial is forgotten: the peer goes idle. Peers with a transport, and
  // object streams (object_stream_stop them), are left as they are.
  void abandon_waiting(TimeNs now_ns, std::string_view reason);

  // ---- bundles (weft/bundle.hpp) ---------------------------------------------------------
  // A bundle's object streams are the node's own (they count against max_object_streams
  // of each peer and follow every object-stream rule); their events never reach the
  // application, which sees BundleWantData, BundleObjectCompleted and BundleEnded instead.

  // Opens a bundle. Errors (no bundle, no event): invalid_argument (an endpoint name that is
  // not 1..255 printable ASCII bytes, multiplier 0 or over max_bundle_multiplier, a
  // multicast list with a duplicate, a broadcast config with a list), unknown_peer (a
  // listed peer is not live), queue_full (max_bundles open). Otherwise exactly one
  // event::BundleEnded follows, after bundle_fin or bundle_stop. Nothing goes on the wire
  // until the first object.
  OpenedBundle open_bundle(TimeNs now_ns, const BundleConfig& config);
  // Posts one object to every current destination (one replica each, on the stream of the
  // object's slot: round-robin, or `key`'s in BundleOrder::by_key). All or nothing: an
  // error posts no replica and no event follows: not_found (no such bundle), stream_closed
  // (after bundle_fin or bundle_stop), unknown_peer (no destination), queue_full (some
  // destination's stream has no room, or no stream could be opened: try again after
  // completions), or object_post's argument errors (invalid_argument, too_large).
  // Otherwise exactly one event::BundleObjectCompleted for the returned number follows,
  // with a result per destination. In-memory data is shared by the replicas, not copied;
  // without it each replica asks with event::BundleWantData.
  PostedBundleObject bundle_post(TimeNs now_ns, BundleId id, ObjectArgs args,
                                 std::uint64_t key = 0);
  // Supplies data of the replica of `object` to `peer`, as object_supply does for one
  // stream (same errors; not_found also when the replica already ended).
  Errc bundle_supply(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer,
                     std::uint64_t offset, const Payload& data, bool last);
  // Fails the replica of `object` to `peer` not yet sent whole (its data could not be read
  // again for it, say) with `code` and `message`; the object completes when its other
  // replicas end, this result among theirs. invalid_argument for Errc::ok; not_found when
  // no such replica is in flight or it was already sent whole.
  Errc bundle_abort(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer, Errc code,
                    std::string_view message);
  // Adds destination `peer`: objects posted from now on go to it too. not_found (no such
  // bundle), stream_closed (after bundle_fin or bundle_stop), unknown_peer (not a live
  // peer), invalid_argument (already a destination).
  Errc bundle_add_destination(TimeNs now_ns, BundleId id, PeerId peer);
  // Removes destination `peer`: its streams stop, each of its replicas in flight ends with
  // destination_removed (and its object completes once its other replicas end). not_found
  // when the bundle or the destination does not exist. A peer removed from the node
  // (remove_peer) leaves every bundle the same way, its replicas ending with peer_removed.
  Errc bundle_remove_destination(TimeNs now_ns, BundleId id, PeerId peer);
  // Ends the bundle gracefully: no more posts (stream_closed); BundleEnded(ok) once every
  // object completed. not_found: no such bundle; stream_closed: fin or stop already.
  Errc bundle_fin(TimeNs now_ns, BundleId id);
  // Aborts the bundle: every replica in flight ends with `code` (canceled unless given;
  // invalid_argument for ok), each object completes, then BundleEnded(code). The events
  // follow at the next poll_event. not_found: no such bundle; stream_closed: stopped already.
  Errc bundle_stop(TimeNs now_ns, BundleId id, Errc code = Errc::canceled,
                   std::string_view message = "bundle stopped");
  // Counters of a bundle, or nullopt once it ended (or never existed).
  std::optional<BundleStats> bundle_stats(BundleId id) const;
  // Its current destinations in ascending order, or nullopt once it ended.
  std::optional<std::vector<PeerId>> bundle_destinations(BundleId id) const;

  // ---- metrics (weft/metrics.hpp) ---------------------------------------------------------

  // A copy of every counter the node keeps (include weft/metrics.hpp to call these): the
  // live peers with their PeerStats and outcome counters, the live streams and object
  // streams (up to options' limits), the endpoints, the open bundles and the handshakes
  // refused. `now_ns` is the caller's clock, used only for durations (an earlier time than
  // the latest input counts as that input's); taking a snapshot changes nothing, so it is
  // not use of any connection and starts no idle period.
  MetricsSnapshot metrics(TimeNs now_ns) const;
  MetricsSnapshot metrics(TimeNs now_ns, const MetricsOptions& options) const;

  const std::string& name() const;
  std::uint64_t incarnation() const;
  const NodeConfig& config() const;

 private:
  friend class PeerConnection;
  std::unique_ptr<detail::NodeCore> core_;
  std::unique_ptr<detail::Bundles> bundles_;
};

}  // namespace weft
