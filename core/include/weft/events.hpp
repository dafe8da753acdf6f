// What a node tells its driver and application: poll them with Node::poll_event().
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "weft/bundle.hpp"
#include "weft/errors.hpp"
#include "weft/ids.hpp"
#include "weft/object.hpp"
#include "weft/time.hpp"

namespace weft {

// A request this node sent; unique for the life of the connection object.
using RequestId = std::uint64_t;

// A request this node is serving. The generation makes ids from an earlier connection to
// the same peer distinct from current ones, so a late answer can never reach a new request.
struct InboundId {
  std::uint64_t generation = 0;
  std::uint64_t mux = 0;
  auto operator<=>(const InboundId&) const = default;
};

// A stream, on either side. The generation makes ids of an earlier connection to the
// same peer distinct from current ones.
struct StreamId {
  std::uint64_t generation = 0;
  std::uint64_t mux = 0;
  auto operator<=>(const StreamId&) const = default;
};

namespace event {

// Driver: open a transport to `peer` and report it with Node::on_connected or
// Node::on_connect_failed, quoting `transport`.
struct Dial {
  PeerId peer;
  TransportId transport;
};

// Driver: write `final_bytes` (best effort; may be empty) and close `transport`. The node
// has already forgotten it; later inputs for it are ignored.
struct CloseTransport {
  TransportId transport;
  std::string reason;
  std::vector<std::uint8_t> final_bytes;
};

// The handshake with `peer` completed: calls can be made.
struct PeerUp {
  PeerId peer;
  std::uint64_t generation;   // increases with every connection to this peer
  std::uint64_t incarnation;  // the peer's; a new value means it restarted
  bool peer_restarted;        // the incarnation differs from the previous connection's
  TransportId transport = 0;  // the transport the connection now runs on
};

// The connection to `peer` ended; every call on it has ended with "disconnected" (with
// peer_removed when the application removed the peer).
struct PeerDown {
  PeerId peer;
  std::uint64_t generation;
  std::string reason;
};

// A handshake failed, on either side. `peer_name` is the name the other side claimed (or
// the peer this node dialed).
struct HandshakeFailed {
  std::string peer_name;
  Status status;
  bool rejected_by_us;  // this node refused the other; otherwise the other refused us
  std::string message;
};

// A request arrived for a registered handler. Answer it exactly once with
// PeerConnection::respond / respond_error, unless a RequestCanceled for it comes first.
struct RequestReceived {
  PeerId peer;
  InboundId id;
  std::uint16_t handler;
  std::uint64_t route;
  std::vector<std::uint8_t> payload;
  TimeNs deadline_ns;  // when the caller stops waiting (kNever: no deadline)
};

// A request being served ended without an answer: the caller canceled
// (Errc::canceled), its deadline passed (deadline_exceeded), or the connection went down
// (disconnected; peer_removed after Node::remove_peer). Do not answer it; respond() would
// return not_found.
struct RequestCanceled {
  PeerId peer;
  InboundId id;
  Errc reason;
};

// A request this node sent ended, exactly once. `result` is ok (payload: the response),
// a remote code (remote_error, unknown_handler, busy, ...; payload: the peer's message),
// or a local one (disconnected, deadline_exceeded, canceled, peer_removed).
struct RequestDone {
  PeerId peer;
  RequestId id;
  Errc result;
  std::vector<std::uint8_t> payload;
};

// A peer opened a stream to a registered stream handler; the node has accepted it with
// the handler's window. Read with stream_peek/stream_consume, write with stream_write, end
// with stream_close or stream_fail. Exactly one StreamEnded for `id` follows.
struct StreamOpened {
  PeerId peer;
  StreamId id;
  std::uint16_t handler;
  std::uint64_t route;
  bool has_payload;  // the opener sent an initial payload (possibly empty)
  std::vector<std::uint8_t> payload;
  bool has_input;  // the opener will send messages
  TimeNs deadline_ns;
};

// Messages wait on stream `id`. Emitted when the inbox stops being empty; emitted again only
// after the application has drained it (stream_peek returned nothing or stream_consume
// emptied it).
struct StreamReadable {
  PeerId peer;
  StreamId id;
};

// A write that returned no_credit can be retried: credit arrived on stream `id`.
struct StreamWritable {
  PeerId peer;
  StreamId id;
};

// Stream `id` ended on this side, exactly once. ok: both halves ended normally and every
// message was read. Otherwise the reason: the peer's error (remote_error and other remote
// codes, with its message), canceled, deadline_exceeded, keepalive_timeout, disconnected,
// protocol_error, peer_removed. Unread messages are gone; the id is dead.
struct StreamEnded {
  PeerId peer;
  StreamId id;
  Errc result;
  std::string message;
};

// ---- object streams, sending side ----

// Object `object` of stream `stream` ended, exactly once and in posting order: ok (the
// receiving application finished it), the receiver's refusal (its code and message), or a
// local code: canceled (the stream was stopped; or the code object_stream_stop was given),
// disconnected (the peer did not take the stream within object_resume_timeout_ms: no
// reconnect, or no answer to its open; or posted while the peer was still down after such
// a wait ran out), peer_restarted, object_state_lost, unknown_handler
// (no such endpoint), busy (the peer's object-stream limits), invalid_argument (sized data
// short or long), peer_removed (Node::remove_peer; the stream ends with it too), or the
// code given to object_abort.
struct ObjectCompleted {
  PeerId peer;
  ObjectStreamId stream;
  std::uint64_t object;
  std::uint64_t tag;  // ObjectArgs::tag
  Errc result;
  std::string message;
};

// Supply data of object `object` from `offset` with PeerConnection::object_supply (objects
// posted without in-memory data). Emitted when the object starts, after a reconnect (from
// where the receiver stopped, which may be earlier than what was supplied), and when a
// supply that returned no_credit can go on. A supply for another offset is refused.
struct ObjectWantData {
  PeerId peer;
  ObjectStreamId stream;
  std::uint64_t object;
  std::uint64_t offset;
};

// Stream `stream` ended, exactly once: ok after object_stream_fin once every object
// completed, canceled after object_stream_stop, unknown_handler when the peer has no such
// endpoint (every object completed with it first), peer_removed after Node::remove_peer.
struct ObjectStreamEnded {
  PeerId peer;
  ObjectStreamId stream;
  Errc result;
  std::string message;
};

// ---- object streams, receiving side ----

// The next object of stream `stream` arrived at `endpoint`: exactly once per object, even
// across reconnects, and only after the previous object of the stream was finished. Read
// its data with object_read / object_consume, or end it with object_discard or
// object_refuse. Objects without data are read too: object_read shows an empty end. This
// event is the object's first readable notice (no ObjectReadable follows it): read on it
// until object_read finds nothing, which arms ObjectReadable for what comes next.
struct ObjectArrived {
  PeerId peer;
  ObjectStreamId stream;
  std::string endpoint;
  std::uint64_t object;
  ObjectHeader header;
  bool size_known;     // sized or header-only
  std::uint64_t size;  // data bytes when size_known
};

// Data (or the end) of the object being read on `stream` waits. Emitted only when there is
// something to read after object_read found nothing (so once per such wait); an
// application that stops reading while data waits reads again when it chooses.
struct ObjectReadable {
  PeerId peer;
  ObjectStreamId stream;
};

// The object being read on `stream` ended before the application finished it: the sender
// aborted it (its code), stopped the stream (canceled), restarted (peer_restarted), did
// not come back within object_resume_timeout_ms or gave up waiting for the answer to its
// resume (disconnected), or the application removed the peer (peer_removed). Exactly once
// per object that arrived and was not finished; nothing more of it can be read.
struct ObjectAborted {
  PeerId peer;
  ObjectStreamId stream;
  std::uint64_t object;
  Errc result;
  std::string message;
};

// ---- bundles (weft/bundle.hpp) ----
// The events of a bundle's own object streams never reach the application: the bundle
// turns them into these.

// Supply data of the replica of bundle object `object` to `peer` from `offset` with
// Node::bundle_supply (objects posted without in-memory data), or fail that replica with
// Node::bundle_abort (the data cannot be read again for it). Each replica asks on its own,
// like event::ObjectWantData (again from an earlier offset after a reconnect).
struct BundleWantData {
  BundleId bundle;
  std::uint64_t object;
  PeerId peer;
  std::uint64_t offset;
};

// Bundle object `object` ended: exactly once, after the last of its replicas ended, with
// one result per replica in ascending peer order (the destinations it was posted to).
// Objects that share a slot (the same key in BundleOrder::by_key) complete in posting
// order; others may complete in any order.
struct BundleObjectCompleted {
  BundleId bundle;
  std::uint64_t object;
  std::uint64_t tag;  // ObjectArgs::tag
  std::vector<ReplicaResult> replicas;
  // Whether every replica succeeded.
  bool all_ok() const {
    for (const ReplicaResult& replica : replicas) {
      if (replica.result != Errc::ok) return false;
    }
    return true;
  }
};

// The bundle ended, exactly once, after every object completed and every stream ended:
// ok after bundle_fin, or the code given to bundle_stop.
struct BundleEnded {
  BundleId bundle;
  Errc result;
  std::string message;
};

}  // namespace event

using Event = std::variant<
    event::Dial, event::CloseTransport, event::PeerUp, event::PeerDown, event::HandshakeFailed,
    event::RequestReceived, event::RequestCanceled, event::RequestDone, event::StreamOpened,
    event::StreamReadable, event::StreamWritable, event::StreamEnded, event::ObjectCompleted,
    event::ObjectWantData, event::ObjectStreamEnded, event::ObjectArrived, event::ObjectReadable,
    event::ObjectAborted, event::BundleWantData, event::BundleObjectCompleted, event::BundleEnded>;

}  // namespace weft
