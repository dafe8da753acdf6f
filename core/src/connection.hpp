// The state machine of one peer relationship: the current transport (if any) with its
// handshake, keepalive and lanes, and the requests in flight both ways. It outlives
// transports: a new transport starts a new generation, and nothing of an old generation
// (queued frames, calls, ids) carries over. Internal to core/; Node drives it and
// PeerConnection exposes its commands.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "acceptor.hpp"
#include "deadline_queue.hpp"
#include "lazy_deque.hpp"
#include "message_text.hpp"
#include "mux_index.hpp"
#include "node_context.hpp"
#include "object_port.hpp"
#include "object_receiver.hpp"
#include "object_sender.hpp"
#include "output_lanes.hpp"
#include "slot_map.hpp"
#include "weft/message_queue.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

// A mux id this side opens: its serial, then the slot of what it names (kSlotBits), then
// the side's parity bit.
constexpr unsigned kSlotBits = 20;
constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSlotBits) - 1;

// The last bytes of a transport this side closes: what the driver has not written yet of
// the output (the rest of a frame it began), then a goaway with `status` and `text` (clipped).
std::vector<std::uint8_t> goaway_after_output(const OutputLanes& unwritten, bool checksum,
                                              Status status, std::string_view text);

class Connection : private ObjectPort {
 public:
  // `on_demand`: this peer's mode (NodeConfig::connect_on_demand, or add_peer's override).
  Connection(NodeContext& context, PeerId peer, std::string peer_name, TimeNs now_ns,
             bool on_demand);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  virtual ~Connection() = default;

  // ---- inputs (from Node) -----------------------------------------------------------
  void on_timer(TimeNs now_ns);
  // Ends what the deadline queue holds that is due at `now_ns` (requests each way, stream
  // timers), as on_timer does first. on_bytes and send_pending_requests call it too, so that a
  // driver calling on_timer late (allowed: "at or after" next_deadline) does not let a response
  // read or a request sent after its deadline count (PROTOCOL.md §6.1). Commands do not: a command
  // may run inside a stream's on_message, whose message an expired stream would free; an answer
  // checks its own request's deadline instead (answerable_at).
  void expire_due(TimeNs now_ns);
  void on_connected(TimeNs now_ns, TransportId transport, TransportSecurity security);
  void on_connect_failed(TimeNs now_ns, TransportId transport, std::string_view reason);
  // An accepted transport whose dialer proved itself (acceptor.hpp); the connection is
  // established on this side, and the welcome is on its way.
  void adopt(TimeNs now_ns, Adoption& adoption);
  // After Node::set_authenticator: checks the proof the peer gave on the current transport
  // again, with the authenticator now in use. One that no longer verifies (a key revoked,
  // a ring without the peer) closes the connection with goaway(auth_failed), or, in the
  // dialer's handshake, refuses it as any failed proof (PROTOCOL.md §4.2). True when it
  // closed.
  bool recheck_peer_proof(TimeNs now_ns);
  // Whether `hello` comes from an earlier dial than the last one this side accepted.
  bool is_stale_hello(const Frame& hello) const;
  void on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes);
  void on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason);
  TimeNs next_deadline() const;
  // Node::remove_peer: closes the transport (with goaway(shutting_down) when established),
  // ends every call, stream, object stream and object held for the peer with peer_removed,
  // and stays removed: no dial, no transport, no timer.
  void remove(TimeNs now_ns);
  // Connect on demand, no transport: ends every call held for the connection (disconnected,
  // `reason`) and forgets the dial back or redial it waited for. A stopping driver's last word.
  void abandon_waiting(const std::string& reason);
  bool removed() const { return state_ == PeerState::removed; }

  // ---- connections on demand (NodeConfig::connect_on_demand) ------------------------
  // An application command used the connection: the idle period starts again.
  void used(TimeNs now_ns) { last_use_ns_ = now_ns; }
  // There is work for the peer: in on-demand mode, a connection that is down comes up now
  // (this side dials, or knocks when the peer dials). Nothing in the other mode.
  void demand(TimeNs now_ns);
  // The peer knocked (its hello was refused wrong_dialer): in on-demand mode this side,
  // the dialer, dials it now unless a transport is already there.
  void on_knock(TimeNs now_ns);
  bool on_demand() const { return on_demand_; }
  // This connection is a re-added name's (Node::add_peer): its hellos continue the numbering
  // of `removed`'s (PROTOCOL.md §4.2, seq), or the peer, which may still remember a later
  // attempt of the same incarnation, would refuse them stale_hello.
  void follow(const Connection& removed) {
    hello_seq_base_ = removed.hello_seq_base_ + removed.generation_;
  }

  // ---- output -----------------------------------------------------------------------
  Bytes pending_output(TransportId transport) const;
  // The first pieces of the output (Node::pending_output_pieces).
  std::size_t pending_output_pieces(TransportId transport, std::span<Bytes> pieces) const;
  // Puts out what waits for the next write (acknowledgements held back): call before
  // pending_output.
  void flush_deferred();
  void consume_output(TransportId transport, std::size_t count);
  // Clears the "queued for transmit" mark; true when `transport` is current with output.
  bool take_transmit(TransportId transport);

  // ---- commands (PeerConnection) ----------------------------------------------------
  Call request(TimeNs now_ns, const RequestArgs& args);
  Errc cancel(TimeNs now_ns, RequestId id);
  Errc respond(TimeNs now_ns, InboundId id, const Payload& payload);
  Errc respond_error(TimeNs now_ns, InboundId id, Errc code, std::string_view message);

  OpenedStream open_stream(TimeNs now_ns, const StreamArgs& args);
  Errc stream_write(TimeNs now_ns, StreamId id, const Payload& message);
  std::optional<Bytes> stream_peek(StreamId id);
  bool stream_input_done(StreamId id);
  Errc stream_consume(TimeNs now_ns, StreamId id);
  std::optional<Bytes> stream_consume_next(TimeNs now_ns, StreamId id);
  Errc stream_close(TimeNs now_ns, StreamId id);
  Errc stream_fail(TimeNs now_ns, StreamId id, Errc code, std::string_view message);
  Errc stream_cancel(TimeNs now_ns, StreamId id);
  std::optional<StreamCredits> stream_credits(StreamId id) const;
  bool output_below_high_water() const { return lanes_.below_high_water(); }

  // Object streams to this peer (sending) and from it (receiving).
  ObjectSender& object_sender() { return object_sender_; }
  ObjectReceiver& object_receiver() { return object_receiver_; }
  const ObjectSender& object_sender() const { return object_sender_; }
  const ObjectReceiver& object_receiver() const { return object_receiver_; }

  PeerStats stats() const;
  // Appends this peer's live streams to snapshot.streams (up to options.max_streams in
  // all; the rest are counted in streams_omitted) and its object streams likewise
  // (metrics_collect.cpp).
  void collect_metrics(TimeNs now_ns, const MetricsOptions& options,
                       MetricsSnapshot& snapshot) const;
  PeerState state() const { return state_; }
  // Checks every invariant of this connection (connection_invariants.cpp); the node calls
  // it after each input and command that touched the connection, in builds with
  // assertions. Throws InvariantViolation at the first broken one.
  void check_invariants() const;
  const std::string& name() const { return name_; }
  bool dials() const { return dials_; }

 private:
  struct Outbound {
    std::uint64_t mux = 0;
    bool committed = false;  // a frame of it reached the output buffer: the peer may see it
    // A response arriving in parts (response with flag more, then continuations).
    bool assembling = false;
    std::uint16_t status = 0;
    std::uint64_t next_part = 1;
    std::uint64_t total_bytes = 0;  // the size the first part announced (counted in assembly)
    std::vector<std::uint8_t> partial;
    // What the request needs to go out later: while it waits for the connection to come up
    // (pending), and in on-demand mode until it ends, so that a request the peer's
    // goaway(idle) shows it never processed goes out again on the next connection.
    bool pending = false;
    std::uint16_t handler = 0;
    std::uint64_t route = 0;
    TimeNs deadline_ns = kNever;
    Payload payload;
  };
  struct Inbound {
    std::uint64_t mux = 0;
    // False while the request's parts are still arriving: the application has not been
    // told of it, so ending it then emits nothing.
    bool delivered = true;
    std::uint16_t handler = 0;
    std::uint64_t route = 0;
    TimeNs deadline_ns = kNever;
    std::uint64_t next_part = 1;
    std::uint64_t total_bytes = 0;  // while not delivered: the size the first part announced
    // What it counts in inbound_request_bytes_ until answered or ended: its payload's size
    // (announced by the first part when it comes in parts).
    std::uint64_t request_bytes = 0;
    std::vector<std::uint8_t> partial;
  };
  // One stream, either side. "send" is this side's half, "recv" the peer's.
  struct Stream {
    std::uint64_t mux = 0;
    bool opener = false;  // this side opened it
    // send half
    bool send_open = false;
    bool accepted = false;  // the peer's window is known (always, on the serving side)
    std::uint64_t sent_msgs = 0;
    std::uint64_t sent_bytes = 0;
    std::uint64_t credit_msgs = 0;
    std::uint64_t credit_bytes = 0;
    std::uint32_t peer_window_msgs = 0;
    std::uint32_t peer_window_bytes = 0;
    bool want_writable = false;
    // receive half
    bool recv_open = false;
    std::uint64_t recv_msgs = 0;
    std::uint64_t recv_bytes = 0;
    MessageQueue inbox;  // its bytes: inbox.bytes()
    // A message arriving in parts: its parts so far (counted in recv_msgs and recv_bytes,
    // not in the inbox), while `assembling`.
    std::vector<std::uint8_t> partial;
    bool assembling = false;
    std::uint32_t window_msgs = 0;
    std::uint32_t window_bytes = 0;
    std::uint32_t open_payload_bytes = 0;  // served: the peer's initial payload, charged too
    std::uint64_t granted_msgs = 0;        // credit granted to the peer in total
    std::uint64_t granted_bytes = 0;
    std::uint32_t unreturned_msgs = 0;  // consumed, credit not sent back yet
    std::uint32_t unreturned_bytes = 0;
    bool readable_armed = true;
    Errc end_result = Errc::ok;  // what the peer's stream_end said
    std::string end_message;
    // lifecycle
    bool finished = false;        // StreamEnded was emitted
    bool aborted = false;         // frames still queued for it are dropped
    bool open_committed = false;  // the peer knows the stream
    std::uint32_t queued_frames = 0;
    std::uint32_t bulk_frames = 0;
    TimeNs deadline_ns = kNever;
    TimeNs last_heard_ns = 0;
    TimeNs next_ping_ns = kNever;
    std::uint64_t ping_seq = 0;
    // Busy while messages are in flight: sent and not yet credited back, or received and
    // not yet consumed (Node::metrics' idle share).
    IdleMeter idle{0};
  };

  // ObjectPort (object streams' view of this connection).
  bool port_up() const override;
  bool port_has_room() const override;
  void port_send(const Frame& frame) override;
  void port_send_shared(const Frame& frame, const SharedBytes& owner) override;
  void port_send_control(TimeNs now_ns, const Frame& frame) override;
  void port_send_credit(std::uint64_t mux, std::uint32_t objects, std::uint32_t bytes) override;
  void port_want_flush() override;
  void port_protocol_error(TimeNs now_ns, std::string message) override;
  std::uint64_t port_new_mux() override;
  bool port_mux_taken(std::uint64_t mux) const override;
  bool port_checksums() const override;
  bool port_on_demand() const override { return on_demand_; }
  std::size_t port_max_chunk() const override;
  std::uint32_t port_own_max_frame() const override;

  // Transport lifecycle.
  void start_dial(TimeNs now_ns);
  void begin_link(TimeNs now_ns, TransportId transport);
  // `handshake`: the peer's hello (acceptor) or challenge (dialer); `version` the one the
  // challenge chose; `own_checksums` whether this side asked for checksums.
  void become_established(TimeNs now_ns, const Frame& handshake, std::uint16_t version,
                          bool own_checksums);
  // Ends the transport: calls and streams in flight end with `code`, object streams wait
  // for a reconnect (on_down), and a dialer schedules its next dial.
  // With `keep_requests` the outbound requests stay to go out on the next connection;
  // `call_text` (if any) is the message calls and streams end with.
  void teardown(TimeNs now_ns, std::string reason, bool close,
                std::vector<std::uint8_t> final_bytes, Errc code = Errc::disconnected,
                bool keep_requests = false, std::string call_text = {});
  // Closes the transport for a protocol error; `code` is the decoder's (none: a rule
  // broken by a frame that decoded), counted per peer for Node::metrics. Without `answer`
  // no goaway goes out: the frame at fault was the peer's goaway, and its sender reads no
  // more (PROTOCOL.md §4.6, §9.1).
  void fail_protocol(TimeNs now_ns, std::string message, WireError code = WireError::none,
                     bool answer = true);
  void reject_handshake(TimeNs now_ns, Status status, std::string message);
  void schedule_redial(TimeNs now_ns);
  // Ends every call and stream with `code` (streams with `stream_text`); with
  // `keep_requests`, the outbound requests stay (they go out again on the next connection).
  void fail_all_calls(Errc code, bool keep_requests = false, std::string stream_text = {});

  // Connections on demand (connection_on_demand.cpp).
  // Nothing in flight either way: no call, stream, object or object stream state.
  bool quiet() const;
  // Whether anything waits for a connection: requests, or objects to send.
  bool has_demand() const;
  // The state after a transport ended in on-demand mode: redial (or knock) after the
  // backoff while there is demand, else idle.
  void after_down_on_demand(TimeNs now_ns);
  // The idle period passed with nothing in flight: goaway(idle) and close.
  void close_idle(TimeNs now_ns);
  // The peer's goaway(idle): it processed nothing of ours after its last answer.
  void on_peer_idle_close(TimeNs now_ns, const Frame& goaway);
  // The peer refused our knock with wrong_dialer: wait for its dial.
  void knock_answered(TimeNs now_ns);
  // No dial back within the wait: the requests waiting end, and demand knocks again.
  void dial_back_missed(TimeNs now_ns);
  // Sends a request held while the connection was down (slot `slot`).
  void send_pending_request(TimeNs now_ns, std::uint32_t slot);
  void send_pending_requests(TimeNs now_ns);
  TimeNs idle_deadline() const;

  // Frames.
  bool dispatch(TimeNs now_ns, const Frame& frame);
  bool dispatch_handshake(TimeNs now_ns, const Frame& frame, Bytes frame_bytes);
  // The dialer's answer to the challenge: checks it, then sends the auth.
  bool answer_challenge(TimeNs now_ns, const Frame& challenge, Bytes frame_bytes);
  bool serve_request(TimeNs now_ns, const Frame& frame);
  void finish_request(TimeNs now_ns, const Frame& frame);
  void cancel_inbound(const Frame& frame);
  Status check_challenge(TimeNs now_ns, const Frame& challenge, Bytes frame_bytes,
                         std::string& message) const;

  // Sending.
  Pushed send(const Frame& frame, EntryKind kind, bool force_bulk = false);
  void send_control(TimeNs now_ns, const Frame& frame);
  // Answers an opening frame of the peer with `op` (response, stream_reject) carrying
  // `status` and `message`; false when that cost the transport (control lane overflow).
  bool answer_with_status(TimeNs now_ns, Op op, std::uint64_t mux, Status status,
                          std::string_view message);
  void mark_transmit();
  Frame frame_of(Op op, std::uint64_t mux) const;

  // Calls.
  std::uint64_t make_mux(std::uint32_t slot);
  // Inline: every frame of a request or stream asks them.
  std::uint32_t slot_of(std::uint64_t mux) const {
    return static_cast<std::uint32_t>((mux >> 1) & kSlotMask);
  }
  bool ours(std::uint64_t mux) const { return (mux & 1) == parity_; }
  Outbound* find_outbound(std::uint64_t mux);
  void complete(std::uint32_t slot, Errc result, std::vector<std::uint8_t> payload);
  // Why a payload of `total_bytes` announced by its first part cannot be assembled: over
  // max_message_bytes (too_large) or over max_assembly_bytes (busy); empty when it can.
  struct Refusal {
    Status status;
    const char* reason;
  };
  std::optional<Refusal> assembly_refusal(std::uint64_t total_bytes) const;
  // Appends a part to `partial`; false (after failing the connection) when the parts run
  // past the announced total, or end short of it.
  bool append_part(TimeNs now_ns, const Frame& frame, std::uint64_t& next_part,
                   std::vector<std::uint8_t>& partial, std::uint64_t total_bytes);
  void expire(TimeNs now_ns, std::uint32_t key);
  // Forgets an inbound request; true when the application had been told of it.
  bool drop_inbound(std::uint64_t mux);
  // The same for the request in `slot`, whose mux is `mux` (found already).
  bool drop_inbound_at(std::uint32_t slot, std::uint64_t mux);
  // Sends `first` with `payload`, cut into continuation frames past the chunk size; returns
  // whether the first frame went straight to the output buffer. Callers pass a frame built in
  // the call (a prvalue): it is then built in the parameter, not copied (about 200 bytes).
  bool send_payload(Frame first, const Payload& payload, EntryKind kind);
  // Queues the parts of `payload` after its first (chunk_bytes() long) as continuations, or
  // as stream_msg parts of `message`; returns whether any still wait in the bulk lane.
  bool push_later_parts(std::uint64_t mux, EntryKind kind, const Payload& payload,
                        std::optional<std::uint64_t> message);
  std::size_t chunk_bytes() const;
  // The slot of the request `id` names if the application was told of it and has not
  // answered it; nullopt otherwise.
  std::optional<std::uint32_t> answerable(InboundId id) const;
  // answerable, but a request whose deadline passed by `now_ns` ends here as its timer would
  // have ended it (RequestCanceled deadline_exceeded), and is not answerable.
  std::optional<std::uint32_t> answerable_at(TimeNs now_ns, InboundId id);
  // Answers request `id` (answerable, in `slot`) with busy instead of an answer of
  // `payload_bytes` when the responses queued leave no room for it
  // (max_queued_response_bytes): true when it did so (the request is then answered).
  bool refuse_response(TimeNs now_ns, InboundId id, std::uint32_t slot, std::size_t payload_bytes);
  bool continue_request(TimeNs now_ns, const Frame& frame);
  void continue_response(TimeNs now_ns, const Frame& frame);
  void deliver_request(std::uint32_t slot);
  Call hold_request(TimeNs now_ns, const RequestArgs& args, std::int64_t timeout_ms);

  // Streams.
  bool dispatch_stream(TimeNs now_ns, const Frame& frame);
  bool serve_stream_open(TimeNs now_ns, const Frame& frame);
  void stream_message(TimeNs now_ns, std::uint32_t slot, const Frame& frame);
  void stream_credit(TimeNs now_ns, std::uint32_t slot, const Frame& frame);
  // Tells the stream's idle meter whether messages are in flight now.
  void meter_stream(TimeNs now_ns, Stream& stream);
  // Drops the oldest message of a non-empty inbox and owes its credit (stream_consume
  // without the stream's completion).
  void consume_front(TimeNs now_ns, Stream& stream);
  void stream_end(TimeNs now_ns, std::uint32_t slot, const Frame& frame);
  // The slot of the stream `mux` names, if it is open (finished ones included).
  // A pointer, not an optional slot: the optional's return through memory cost a stalled
  // store forwarding on every message (perf).
  const Stream* find_stream(std::uint64_t mux, std::uint32_t& slot) const;
  Stream* find_stream(std::uint64_t mux, std::uint32_t& slot) {
    return const_cast<Stream*>(std::as_const(*this).find_stream(mux, slot));
  }
  // The live (not finished) stream `id` names, if any.
  Stream* live_stream(StreamId id, std::uint32_t* slot = nullptr);
  Pushed send_stream_frame(Stream& stream, const Frame& frame, bool force_bulk = false);
  // Sends message number stream.sent_msgs (credit already spent), in parts when long.
  void send_stream_message(Stream& stream, const Payload& message);
  void return_credit(Stream& stream, bool force);
  void maybe_complete(TimeNs now_ns, std::uint32_t slot);
  void finish_stream(TimeNs now_ns, std::uint32_t slot, Errc result, std::string message,
                     bool abort, bool tell_peer);
  void erase_stream_if_flushed(std::uint32_t slot);
  // Adds a stream's traffic to the peer's totals (PeerCounters) as its record goes: the
  // totals cost nothing per message (Node::metrics adds the live streams').
  void retire_stream(const Stream& stream);
  void stream_timer(TimeNs now_ns, std::uint32_t slot);
  static bool stream_keepalive_applies(const Stream& stream);
  void schedule_stream_timer(std::uint32_t slot);
  bool stream_frame_left_lane(const LaneEntry& entry);
  void fail_stream_protocol(TimeNs now_ns, std::uint32_t slot, std::string message);
  void check_stream(std::uint32_t slot, const Stream& stream) const;

  NodeContext& context_;
  const PeerId peer_;
  const std::string name_;
  const bool dials_;
  const bool on_demand_;        // NodeConfig::connect_on_demand
  const std::uint64_t parity_;  // low bit of the mux ids this side opens

  PeerState state_;
  TransportId transport_ = 0;  // 0: none
  // The current transport's handshake (dialer): what the layer under it proved, the exact
  // header of the hello sent, and the challenge once answered (its fields establish the
  // connection when the welcome comes).
  TransportSecurity security_;
  std::vector<std::uint8_t> hello_header_;
  std::optional<OwnedFrame> challenge_;
  // The peer's proof on the current transport once checked (either role), for
  // recheck_peer_proof.
  std::optional<PeerProof> peer_proof_;
  // Challenges this side sent as the acceptor of adopted transports (written before the
  // connection had them, so not among the lanes' frames).
  std::uint64_t challenges_sent_ = 0;
  // The last hello adopted (acceptor): its sender's incarnation and attempt (hello seq).
  std::uint64_t accepted_incarnation_ = 0;
  std::uint64_t accepted_attempt_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t hello_seq_base_ = 0;  // added to generation_ for hello.seq (follow)
  FrameDecoder decoder_;
  // Bytes of the transport's stream read before decoder_ started on it (an acceptor's
  // hello), so errors report offsets from the connection's first byte (PROTOCOL.md §2.1).
  std::uint64_t decoder_start_offset_ = 0;
  OutputLanes lanes_;
  bool checksums_ = false;
  std::uint32_t peer_max_frame_bytes_ = kMinMaxFrameBytes;
  std::uint16_t version_ = 0;  // of the established connection (PROTOCOL.md §4.2)
  bool transmit_marked_ = false;
  TimeNs link_deadline_ns_ = kNever;  // connect timeout or handshake timeout
  TimeNs dial_at_ns_ = kNever;        // end of the backoff
  TimeNs next_ping_ns_ = kNever;
  // When the last whole frame arrived (or the transport began): keepalive's clock. Bytes
  // alone do not count: a frame whose length a bit flip inflated swallows everything after
  // it and never completes, and a trickle into it must not keep the connection up.
  TimeNs last_received_ns_ = 0;
  std::uint64_t bytes_after_frame_ = 0;  // received since the last whole frame ended
  TransportId stalled_transport_ = 0;    // the writer_stalls_mid_frame canary's victim
  std::uint64_t ping_seq_ = 0;
  std::uint64_t awaited_ping_ = 0;
  TimeNs ping_sent_ns_ = 0;
  std::uint32_t backoff_attempt_ = 0;
  // On demand: when the connection was last used (a frame other than ping and pong, or a
  // command); the current dial is a knock (this side does not dial by the rule); until
  // when a knock's answer waits for the peer to dial back.
  TimeNs last_use_ns_ = 0;
  bool knocking_ = false;
  TimeNs dial_back_by_ns_ = kNever;
  // Requests waiting for the connection, in the order they were made (mux ids).
  LazyDeque<std::uint64_t> pending_requests_;
  std::uint64_t pending_bytes_ = 0;  // their payloads

  SlotMap<Outbound> outbound_;
  SlotMap<Inbound> inbound_;
  MuxIndex inbound_by_mux_;
  SlotMap<Stream> streams_;
  mutable std::uint32_t peer_stream_hint_ = 0;  // find_stream's last peer stream (a guess)
  MuxIndex peer_streams_by_mux_;
  // Receive windows granted on live streams, plus the initial payloads of those the peer
  // opened: max_stream_receive_bytes bounds it.
  std::uint64_t stream_window_bytes_ = 0;
  // Keys: key_of(slot, kind) for the deadline of an outbound request, an inbound one, or a
  // stream's next timer (deadline or keepalive).
  static constexpr std::uint32_t kOutboundKey = 0;
  static constexpr std::uint32_t kInboundKey = 1;
  static constexpr std::uint32_t kStreamKey = 2;
  static constexpr std::uint32_t key_of(std::uint32_t slot, std::uint32_t kind) {
    return 4 * slot + kind;
  }
  DeadlineQueue deadlines_;
  std::uint64_t mux_serial_ = 0;
  std::uint64_t assembly_bytes_ = 0;  // partly received payloads held now
  // Payload bytes of the peer's requests accepted and not yet answered or ended.
  std::uint64_t inbound_request_bytes_ = 0;

  PeerStats counters_;  // the cumulative fields of stats()

  // Declared last: they hold references to the members above.
  ObjectSender object_sender_;
  ObjectReceiver object_receiver_;
};

}  // namespace weft::detail
