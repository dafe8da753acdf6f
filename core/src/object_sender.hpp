// The sending half of object streams to one peer (PROTOCOL.md §6.3): the streams this node
// opened, their objects until each completes, and the resume after a reconnect. A stream's
// state outlives connections; the frames of one connection never reach the next (rule 2):
// after a reconnect every unacknowledged object is sent again from where the receiver says
// it stopped. Internal to core/; Connection owns one and PeerConnection exposes its commands.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>

#include "lazy_deque.hpp"
#include "node_context.hpp"
#include "object_port.hpp"
#include "weft/node.hpp"
#include "weft/object.hpp"

namespace weft::detail {

class ObjectSender {
 public:
  ObjectSender(NodeContext& context, PeerId peer, ObjectPort& port)
      : context_(context), peer_(peer), port_(port) {}
  ObjectSender(const ObjectSender&) = delete;
  ObjectSender& operator=(const ObjectSender&) = delete;

  // ---- commands (PeerConnection) ----
  OpenedObjectStream open(TimeNs now_ns, std::string_view endpoint, ObjectStreamOptions options);
  PostedObject post(TimeNs now_ns, ObjectStreamId id, ObjectArgs args);
  Errc post_fits(ObjectStreamId id, std::uint64_t data_bytes) const;
  Errc supply(TimeNs now_ns, ObjectStreamId id, std::uint64_t object, std::uint64_t offset,
              const Payload& data, bool last);
  Errc abort_object(TimeNs now_ns, ObjectStreamId id, std::uint64_t object, Errc code,
                    std::string_view message);
  Errc fin(TimeNs now_ns, ObjectStreamId id);
  Errc stop(TimeNs now_ns, ObjectStreamId id, Errc code, std::string_view message);
  // Stops every stream with `code` (the peer is gone for good): each object completes with
  // it, then its stream ends with it.
  void end_all(TimeNs now_ns, Errc code, std::string_view message);
  std::optional<ObjectStreamStats> stats(TimeNs now_ns, ObjectStreamId id);
  // Appends every stream, by id, to snapshot.object_streams while fewer than `limit` are
  // listed (counting the rest in object_streams_omitted); changes nothing
  // (metrics_collect.cpp).
  void collect_metrics(TimeNs now_ns, std::size_t limit, MetricsSnapshot& snapshot) const;
  bool owns(ObjectStreamId id) const { return streams_.contains(id.value); }

  // ---- from the connection ----
  // The connection is established; `peer_restarted` when the peer's incarnation changed.
  void on_up(TimeNs now_ns, bool peer_restarted);
  // The connection went down: frames in flight are gone; streams wait for a reconnect.
  void on_down(TimeNs now_ns);
  // object_accept, object_reject, object_ack or object_credit on a mux of this side's
  // parity. Returns false when it cost the connection (a protocol error).
  bool on_frame(TimeNs now_ns, const Frame& frame);
  // Sends frames while the output has room, round-robin over the streams that can.
  void pump(TimeNs now_ns);
  TimeNs next_deadline() const;
  void on_timer(TimeNs now_ns);
  void check_invariants() const;
  std::size_t stream_count() const { return streams_.size(); }
  // No object waits and no mux is open: the connection carries nothing of these streams.
  bool quiet() const;
  // Some object waits to be sent or acknowledged: it wants a connection.
  bool has_objects() const;
  // After the peer's goaway(idle) (PROTOCOL.md §4.7): the peer held no state of these
  // streams and read nothing after the goaway, so every object not completed starts over on
  // a fresh open (no resume). Call after on_down.
  void restart_unseen();
  std::uint64_t held_bytes() const { return held_bytes_; }

 private:
  enum class Phase : std::uint8_t { begin, data, end, sent };
  struct Object {
    std::uint64_t number = 0;          // posting order, 1, 2, 3...
    std::uint64_t wire = 0;            // object number on the wire, 0 until first begun
    std::vector<std::uint8_t> header;  // encoded
    ObjectSize kind = ObjectSize::sized;
    std::uint64_t size = 0;
    std::optional<SharedBytes> data;  // in memory
    std::uint64_t tag = 0;
    // On the current connection.
    Phase phase = Phase::begin;
    std::uint64_t sent = 0;  // data bytes sent (or known received) of this object
    // Supplied data (objects without `data`): pieces from `sent` on, not sent yet.
    std::vector<std::pair<SharedBytes, std::size_t>> supplied;  // buffer, start in it (few)
    std::uint64_t supplied_to = 0;  // offset after the last supplied byte
    std::size_t supplied_bytes = 0;
    bool supply_done = false;   // the last byte was supplied (unsized: `last` was given)
    bool want_pending = false;  // an ObjectWantData is out and not yet answered by a supply
    bool want_room = false;     // a supply returned no_credit: ask when there is room
    std::optional<std::pair<Errc, std::string>> aborted;  // the application aborted it
    std::optional<std::pair<Errc, std::string>> result;   // its completion
    bool emitted = false;                                 // ObjectCompleted was emitted
    bool sent_whole = false;  // its end went out (or the receiver has all of it): no abort
  };
  enum class Link : std::uint8_t { closed, opening, open };
  struct Stream {
    ObjectStreamId id;
    std::string endpoint;
    ObjectCompression compression = ObjectCompression::none;
    std::deque<Object> objects;  // posted and not completed (emitted), in posting order
    std::size_t cursor = 0;      // the first object not fully sent on this connection
    std::uint64_t posted = 0;
    std::uint64_t next_wire = 1;
    std::uint64_t acked_through = 0;
    Link link = Link::closed;
    std::uint64_t mux = 0;
    std::uint64_t open_seq = 0;  // seq of the object_open on this connection
    std::uint64_t credit_objects = 0;
    std::uint64_t credit_bytes = 0;
    std::uint32_t window_objects = 0;  // the receiver's grant at accept (its window, at most)
    std::uint32_t window_bytes = 0;
    bool fin = false;
    bool ready = false;             // queued in ready_
    TimeNs idle_at_ns = kNever;     // close the idle mux then
    TimeNs give_up_at_ns = kNever;  // while down with objects: complete them disconnected
    // Whether give_up_at_ns counts from a loss (the window of PROTOCOL.md §6.3), not from
    // an open sent on a live connection (which a loss replaces with a window of its own).
    bool window_from_loss = false;
    ObjectStreamStats counters;
    IdleMeter idle;  // busy while objects are in flight
  };

  Stream* find(ObjectStreamId id);
  // Whether the limits leave room for one more object with `data_bytes` in memory.
  bool has_room(const Stream& stream, std::uint64_t data_bytes) const;
  Stream* find_by_mux(std::uint64_t mux);
  void make_ready(Stream& stream);
  // Sends the stream's next frame if it can; false when it waits (credit, data, accept).
  bool send_next(TimeNs now_ns, Stream& stream);
  bool send_open(TimeNs now_ns, Stream& stream);
  bool send_object_frame(TimeNs now_ns, Stream& stream, Object& object);
  bool send_data(Stream& stream, Object& object);
  // `object`'s last frame went out: nothing more of it is sent on this connection, the
  // cursor moves on, and its completion leaves if its result is known.
  void sent_whole(TimeNs now_ns, Stream& stream, Object& object);
  void ask_for_data(Stream& stream, Object& object);
  // Applies the receiver's resume point; false when the stream ended meanwhile.
  bool on_accept(TimeNs now_ns, Stream& stream, const Frame& frame);
  // Whether object `wire` of `stream` may resume from data offset `offset`.
  bool resumable_at(const Stream& stream, std::uint64_t wire, std::uint64_t offset) const;
  bool on_ack(TimeNs now_ns, Stream& stream, const Frame& frame);
  // Fails the connection for a bad object_ack: "object_ack <seq> on mux <mux>: <why>".
  // Returns false.
  bool ack_violation(TimeNs now_ns, const Frame& frame, const std::string& why);
  bool on_acks_through(TimeNs now_ns, Stream& stream, const Frame& frame);
  // Completes every object not completed yet with `code` (in order) and starts the stream
  // over: nothing is unacknowledged any more.
  // Returns false when the stream was erased (a fin that completed).
  bool fail_all(TimeNs now_ns, Stream& stream, Errc code, const std::string& message);
  // Emits the completions at the front of the stream, in order; ends a finished stream.
  // Returns false when the stream was erased.
  bool emit_completions(TimeNs now_ns, Stream& stream);
  void end_stream(Stream& stream, Errc result, std::string message);
  // object_close for `mux`; `last` is the last object begun. A status other than ok (with
  // its text) aborts the stream at the receiver.
  void send_close(TimeNs now_ns, std::uint64_t mux, std::uint64_t last, Status status = Status::ok,
                  std::string_view text = {});
  void set_busy(TimeNs now_ns, Stream& stream);
  void schedule_idle(TimeNs now_ns, Stream& stream);
  void reset_link(Stream& stream);

  NodeContext& context_;
  const PeerId peer_;
  ObjectPort& port_;
  std::map<std::uint64_t, Stream> streams_;        // by ObjectStreamId::value
  std::map<std::uint64_t, std::uint64_t> by_mux_;  // current connection's mux -> stream
  LazyDeque<std::uint64_t> ready_;                 // streams that may send, round-robin
  std::uint64_t held_bytes_ = 0;                   // in-memory data of live objects
  std::vector<std::uint8_t> compressed_;           // the last compressed chunk's payload
  bool pumping_ = false;
  // A give-up fired while the connection was down and it has not been up since: the peer
  // has been unreachable for object_resume_timeout_ms already, so objects posted now are not
  // held for another whole timeout each; they complete with disconnected at once. Never on
  // demand, where a post is what dials. Cleared by on_up.
  bool unreachable_ = false;
};

}  // namespace weft::detail
