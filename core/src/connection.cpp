#include "connection.hpp"

#include <algorithm>

#include "invariant.hpp"

namespace weft::detail {

// The last bytes of a transport this side closes: what the driver has not written yet of
// the output (the rest of a frame it began, the welcome of a connection that fails at once),
// then a goaway with `status` and `text` (clipped). Dropping that rest would put the goaway
// in the middle of a frame on the wire.
std::vector<std::uint8_t> goaway_after_output(const OutputLanes& unwritten, bool checksum,
                                              Status status, std::string_view text) {
  ByteBuffer buffer;
  unwritten.copy_output(buffer);
  encode_frame(buffer, Frame{.op = Op::goaway,
                             .checksum = checksum,
                             .status = static_cast<std::uint16_t>(status),
                             .payload = as_bytes(clip_error_text(text))});
  return {buffer.view().begin(), buffer.view().end()};
}

namespace {

DecoderOptions decoder_options(const NodeConfig& config, bool require_checksum) {
  DecoderOptions options;
  options.limits.max_frame_bytes = config.limits.max_frame_bytes;
  options.require_checksum = require_checksum;
  return options;
}

}  // namespace

Connection::Connection(NodeContext& context, PeerId peer, std::string peer_name, TimeNs now_ns,
                       bool on_demand)
    : context_(context),
      peer_(peer),
      name_(std::move(peer_name)),
      dials_(dial_rule_dials(context.config.name, name_)),
      on_demand_(on_demand),
      parity_(dials_ ? 0 : 1),
      state_(dials_ && !on_demand_ ? PeerState::backoff : PeerState::idle),
      decoder_(decoder_options(context.config, false)),
      lanes_(context.config.limits),
      inbound_by_mux_(context.nonces.secret_word(2 * std::uint64_t{peer})),
      peer_streams_by_mux_(context.nonces.secret_word(2 * std::uint64_t{peer} + 1)),
      object_sender_(context, peer, *this),
      object_receiver_(context, peer, *this) {
  // A dialer connects at the first timer tick (on demand: at the first use).
  if (state_ == PeerState::backoff) dial_at_ns_ = now_ns;
}

// ---- timers ---------------------------------------------------------------------------

TimeNs Connection::next_deadline() const {
  TimeNs next = std::min({deadlines_.top_deadline(), object_sender_.next_deadline(),
                          object_receiver_.next_deadline()});
  switch (state_) {
    case PeerState::idle:
      next = std::min(next, dial_back_by_ns_);
      break;
    case PeerState::removed:
      break;
    case PeerState::backoff:
      next = std::min(next, dial_at_ns_);
      break;
    case PeerState::dialing:
    case PeerState::handshaking:
      next = std::min(next, link_deadline_ns_);
      break;
    case PeerState::established: {
      const TimeNs silence_limit = ns_from_ms(context_.config.timeouts.ping_interval_ms *
                                              context_.config.timeouts.dead_after_pings);
      next = std::min({next, next_ping_ns_, last_received_ns_ + silence_limit, idle_deadline()});
      break;
    }
  }
  return next;
}

void Connection::expire_due(TimeNs now_ns) {
  while (!deadlines_.empty() && deadlines_.top_deadline() <= now_ns) {
    expire(now_ns, deadlines_.top_key());
  }
}

void Connection::on_timer(TimeNs now_ns) {
  expire_due(now_ns);
  object_sender_.on_timer(now_ns);
  object_receiver_.on_timer(now_ns);
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  switch (state_) {
    case PeerState::idle:
      if (now_ns >= dial_back_by_ns_) dial_back_missed(now_ns);
      return;
    case PeerState::removed:
      return;
    case PeerState::backoff:
      if (now_ns < dial_at_ns_) return;
      if (on_demand_ && !has_demand()) {
        state_ = PeerState::idle;  // what wanted the connection ended meanwhile
        dial_at_ns_ = kNever;
        return;
      }
      start_dial(now_ns);
      return;
    case PeerState::dialing:
      if (now_ns >= link_deadline_ns_) {
        ++context_.metrics.peer(peer_).connect_failures;
        teardown(now_ns,
                 "connect timeout after " + std::to_string(timeouts.connect_timeout_ms) + " ms",
                 true, {});
      }
      return;
    case PeerState::handshaking:
      if (now_ns >= link_deadline_ns_) {
        context_.emit(event::HandshakeFailed{
            name_, Status::handshake_timeout, true,
            "no welcome within " + std::to_string(timeouts.handshake_timeout_ms) + " ms"});
        teardown(now_ns, "handshake timeout", true, {});
      }
      return;
    case PeerState::established:
      break;
  }
  const TimeNs silence_limit = ns_from_ms(timeouts.ping_interval_ms * timeouts.dead_after_pings);
  if (now_ns - last_received_ns_ >= silence_limit) {
    const std::string silent_ms = std::to_string(ms_from_ns(now_ns - last_received_ns_));
    ++context_.metrics.peer(peer_).keepalive_timeouts;
    teardown(now_ns,
             bytes_after_frame_ == 0
                 ? "peer silent for " + silent_ms + " ms"
                 : "no whole frame from the peer for " + silent_ms + " ms (" +
                       std::to_string(bytes_after_frame_) + " bytes of one arrived)",
             true, {});
    return;
  }
  if (now_ns >= idle_deadline()) {
    // Only once everything queued went out: the goaway must be the last frame the peer reads.
    if (lanes_.output_bytes() == 0 && lanes_.data_bytes() == 0 && lanes_.control_frames() == 0) {
      close_idle(now_ns);
      return;
    }
    last_use_ns_ = now_ns;
  }
  if (now_ns >= next_ping_ns_) {
    awaited_ping_ = ++ping_seq_;
    ping_sent_ns_ = now_ns;
    next_ping_ns_ = now_ns + ns_from_ms(timeouts.ping_interval_ms);
    send_control(now_ns, Frame{.op = Op::ping, .checksum = checksums_, .seq = awaited_ping_});
  }
}

// ---- transport lifecycle --------------------------------------------------------------

void Connection::start_dial(TimeNs now_ns) {
  WEFT_ASSERT(state_ == PeerState::backoff && transport_ == 0);
  knocking_ = !dials_;
  transport_ = context_.new_transport();
  context_.transport_owner[transport_] = peer_;
  state_ = PeerState::dialing;
  link_deadline_ns_ = now_ns + ns_from_ms(context_.config.timeouts.connect_timeout_ms);
  context_.emit(event::Dial{peer_, transport_});
}

void Connection::begin_link(TimeNs now_ns, TransportId transport) {
  transport_ = transport;
  context_.transport_owner[transport] = peer_;
  ++generation_;
  lanes_.reset(generation_);
  decoder_.reset(decoder_options(context_.config, false));
  decoder_start_offset_ = 0;
  checksums_ = false;
  transmit_marked_ = false;
  last_received_ns_ = now_ns;
  bytes_after_frame_ = 0;
  awaited_ping_ = 0;
  peer_max_frame_bytes_ = kMinMaxFrameBytes;
  version_ = 0;
  security_ = {};
  hello_header_.clear();
  challenge_.reset();
  peer_proof_.reset();
}

void Connection::on_connect_failed(TimeNs now_ns, TransportId transport, std::string_view reason) {
  if (transport != transport_ || state_ != PeerState::dialing) return;
  ++context_.metrics.peer(peer_).connect_failures;
  teardown(now_ns, "connect failed: " + std::string(reason), false, {});
}

void Connection::become_established(TimeNs now_ns, const Frame& handshake, std::uint16_t version,
                                    bool own_checksums) {
  state_ = PeerState::established;
  checksums_ = own_checksums || (handshake.flags & flag::kChecksums) != 0;
  decoder_.set_options(decoder_options(context_.config, checksums_));
  peer_max_frame_bytes_ = handshake.max_frame_bytes;
  version_ = version;
  counters_.version = version_;
  const bool restarted =
      counters_.peer_incarnation != 0 && counters_.peer_incarnation != handshake.incarnation;
  counters_.peer_incarnation = handshake.incarnation;
  counters_.generation = generation_;
  if (++counters_.connections > 1) ++counters_.reconnects;
  backoff_attempt_ = 0;
  link_deadline_ns_ = kNever;
  last_received_ns_ = now_ns;
  last_use_ns_ = now_ns;
  knocking_ = false;
  dial_back_by_ns_ = kNever;
  next_ping_ns_ = now_ns + ns_from_ms(context_.config.timeouts.ping_interval_ms);
#if WEFT_CANARIES
  if (context_.config.canary == Canary::old_generation_frames) {
    lanes_.send_stale();
    mark_transmit();
  }
#endif
  context_.emit(event::PeerUp{peer_, generation_, handshake.incarnation, restarted, transport_});
  // Object streams outlive the connection: they resume now, or end if the peer restarted.
  object_receiver_.on_up(now_ns, restarted);
  object_sender_.on_up(now_ns, restarted);
  if (state_ == PeerState::established) send_pending_requests(now_ns);
}

void Connection::on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason) {
  if (transport != transport_ || transport_ == 0) return;
  teardown(now_ns, "transport down: " + std::string(reason), false, {});
}

// Ends the current transport: every call on it ends exactly once with "disconnected", every
// queued byte of its generation is dropped, and a dialer schedules the next attempt.
void Connection::teardown(TimeNs now_ns, std::string reason, bool close,
                          std::vector<std::uint8_t> final_bytes, Errc code, bool keep_requests,
                          std::string call_text) {
  const bool was_up = state_ == PeerState::established;
  const TransportId transport = transport_;
  if (transport != 0) {
    context_.transport_owner.erase(transport);
    if (close) context_.emit(event::CloseTransport{transport, reason, std::move(final_bytes)});
  }
  transport_ = 0;
  transmit_marked_ = false;
  peer_proof_.reset();  // the link's: nothing is held for a peer that is down
  fail_all_calls(code, keep_requests, std::move(call_text));
#if WEFT_CANARIES
  if (context_.config.canary == Canary::old_generation_frames) lanes_.keep_stale_frames();
#endif
  lanes_.reset(generation_);  // nothing of this generation survives it
  lanes_.release_memory();    // nor its buffers: most peers of a large cluster are idle
  // A fresh decoder, not reset(): a peer that is down holds no gathering buffer.
  decoder_ = FrameDecoder(decoder_options(context_.config, false));
  link_deadline_ns_ = kNever;
  next_ping_ns_ = kNever;
  if (was_up) {
    context_.emit(event::PeerDown{peer_, generation_, std::move(reason)});
    object_sender_.on_down(now_ns);
    object_receiver_.on_down(now_ns);
  }
  if (on_demand_) {
    after_down_on_demand(now_ns);
  } else if (dials_) {
    schedule_redial(now_ns);
  } else {
    state_ = PeerState::idle;
  }
}

void Connection::remove(TimeNs now_ns) {
  WEFT_ASSERT(!removed());
  const std::string reason = "the peer was removed from this node's list";
  if (transport_ != 0) {
    std::vector<std::uint8_t> final_bytes;
    if (state_ == PeerState::established)
      final_bytes = goaway_after_output(lanes_, checksums_, Status::shutting_down, reason);
    teardown(now_ns, reason, true, std::move(final_bytes), Errc::peer_removed);
  } else {
    fail_all_calls(Errc::peer_removed);  // requests waiting for the connection (on demand)
  }
  dial_back_by_ns_ = kNever;
  object_sender_.end_all(now_ns, Errc::peer_removed, reason);
  object_receiver_.forget_all(Errc::peer_removed, reason);
  state_ = PeerState::removed;
  dial_at_ns_ = kNever;
  link_deadline_ns_ = kNever;
  next_ping_ns_ = kNever;
}

void Connection::schedule_redial(TimeNs now_ns) {
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  const unsigned doublings = std::min<std::uint32_t>(backoff_attempt_, 30);
  const double base_ms = std::min<double>(static_cast<double>(timeouts.backoff_max_ms),
                                          static_cast<double>(timeouts.backoff_initial_ms) *
                                              static_cast<double>(std::uint64_t{1} << doublings));
  const double spread = timeouts.backoff_jitter_fraction * (2.0 * context_.rng.unit() - 1.0);
  const auto delay_ms = static_cast<std::int64_t>(std::max(1.0, base_ms * (1.0 + spread)));
  ++backoff_attempt_;
  state_ = PeerState::backoff;
  dial_at_ns_ = now_ns + ns_from_ms(delay_ms);
}

void Connection::fail_all_calls(Errc code, bool keep_requests, std::string text) {
#if WEFT_CANARIES
  // Canary: a removal forgets the first call to the peer (it never ends).
  bool forget_one =
      code == Errc::peer_removed && context_.config.canary == Canary::removal_forgets_a_call;
#else
  bool forget_one = false;
#endif
  // Slot order is deterministic, so the order of these events is too.
  if (!keep_requests) {
    outbound_.for_each([this, code, &text, &forget_one](std::uint32_t, Outbound& call) {
      if (forget_one) {
        forget_one = false;
        return;
      }
      context_.emit(event::RequestDone{peer_, call.mux, code, {text.begin(), text.end()}});
    });
  }
  inbound_.for_each([this, code](std::uint32_t, Inbound& call) {
    if (!call.delivered) return;  // the application never heard of it
    context_.emit(event::RequestCanceled{peer_, InboundId{generation_, call.mux}, code});
  });
  streams_.for_each([this, code, &text](std::uint32_t, Stream& stream) {
    if (stream.finished) return;  // already ended; only flushing its last frames
    context_.emit(event::StreamEnded{peer_, StreamId{generation_, stream.mux}, code,
                                     !text.empty()                ? text
                                     : code == Errc::disconnected ? "connection lost"
                                                                  : std::string(errc_name(code))});
  });
  if (keep_requests) {
    inbound_.for_each(
        [this](std::uint32_t slot, Inbound&) { deadlines_.erase(key_of(slot, kInboundKey)); });
    streams_.for_each(
        [this](std::uint32_t slot, Stream&) { deadlines_.erase(key_of(slot, kStreamKey)); });
  } else {
    outbound_.clear();
    pending_requests_.clear();
    pending_bytes_ = 0;
    deadlines_.clear();
  }
  inbound_.clear();
  inbound_by_mux_.clear();
  streams_.for_each([this](std::uint32_t, const Stream& stream) { retire_stream(stream); });
  streams_.clear();
  peer_streams_by_mux_.clear();
  stream_window_bytes_ = 0;
  assembly_bytes_ = 0;
  inbound_request_bytes_ = 0;
}

void Connection::fail_protocol(TimeNs now_ns, std::string message, WireError code, bool answer) {
  ++context_.metrics.peer(peer_).protocol_errors[static_cast<std::size_t>(code)];
  // A handshake that breaks the protocol failed like any refused one: the application hears
  // of it (an acceptor's refusals of a bad first frame are reported the same way).
  if (state_ == PeerState::handshaking) {
    context_.emit(event::HandshakeFailed{name_, Status::protocol_error, true, message});
  }
  std::vector<std::uint8_t> goaway;
  if (answer) goaway = goaway_after_output(lanes_, checksums_, Status::protocol_error, message);
  teardown(now_ns, "protocol error: " + message, true, std::move(goaway));
}

// ---- incoming bytes and frames --------------------------------------------------------

void Connection::on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes) {
  if (transport != transport_ || transport_ == 0 || state_ == PeerState::dialing) return;
  // A response or goaway read now must not save a request already over. What expires may
  // close the connection (a control frame past its lane's limit): nothing more is read then.
  expire_due(now_ns);
  if (transport != transport_) return;
  counters_.bytes_received += bytes.size();
  bytes_after_frame_ += bytes.size();
  while (true) {
    const DecodeStep step = decoder_.next(bytes);
    if (step.status == DecodeStatus::error) {
      const DecodeError& error = decoder_.error();
      const std::uint64_t offset = decoder_start_offset_ + error.offset;
      fail_protocol(now_ns,
                    "error at byte " + std::to_string(offset) + ": " +
                        std::string(wire_error_name(error.code)) + ": " + error.message,
                    error.code);
      return;
    }
    if (step.status == DecodeStatus::need_more) return;
    bytes = bytes.subspan(step.consumed);
    ++counters_.frames_received;
    last_received_ns_ = now_ns;
    bytes_after_frame_ = bytes.size();
    const bool kept = state_ == PeerState::handshaking
                          ? dispatch_handshake(now_ns, step.frame, step.frame_bytes)
                          : dispatch(now_ns, step.frame);
    // The transport is gone: nothing after the frame that ended it is read (§9), whichever
    // path ended it.
    if (!kept || transport_ != transport) return;
  }
}

bool Connection::dispatch(TimeNs now_ns, const Frame& frame) {
  WEFT_ASSERT(state_ == PeerState::established);
  // Keepalive is not use: a connection that carries only pings is idle.
  if (frame.op != Op::ping && frame.op != Op::pong) last_use_ns_ = now_ns;
  switch (frame.op) {
    case Op::ping:
      lanes_.push_pong(frame.seq, checksums_);
      mark_transmit();
      return true;
    case Op::pong:
      if (awaited_ping_ != 0 && frame.seq == awaited_ping_) {
        counters_.rtt_ns = now_ns - ping_sent_ns_;
        awaited_ping_ = 0;
      }
      return true;
    case Op::goaway:
      if (frame.status == static_cast<std::uint16_t>(Status::idle)) {
        on_peer_idle_close(now_ns, frame);
        return false;
      }
      teardown(now_ns,
               "peer going away: " + std::string(status_name(frame.status)) + " " +
                   std::string(clip_error_text(as_chars(frame.payload))),
               true, {});
      return false;
    case Op::request:
      return serve_request(now_ns, frame);
    case Op::response:
      if (!ours(frame.mux)) break;
      finish_request(now_ns, frame);
      return transport_ != 0;  // a second response, or a cancel it sent, can end it
    case Op::cancel:
      if (ours(frame.mux)) break;
      cancel_inbound(frame);
      return true;
    case Op::continuation:
      if (ours(frame.mux)) {
        continue_response(now_ns, frame);
        return transport_ != 0;
      }
      return continue_request(now_ns, frame);
    case Op::stream_open:
    case Op::stream_accept:
    case Op::stream_reject:
    case Op::stream_msg:
    case Op::stream_credit:
    case Op::stream_end:
    case Op::stream_reset:
    case Op::stream_ping:
    case Op::stream_pong:
      return dispatch_stream(now_ns, frame);
    case Op::hello:
    case Op::challenge:
    case Op::auth:
    case Op::welcome:
    case Op::reject:
      fail_protocol(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) +
                                " after the handshake");
      return false;
    // Only the opener of an object stream sends objects; only the other side answers them
    // (PROTOCOL.md §4.4).
    case Op::object_open:
    case Op::object_begin:
    case Op::object_data:
    case Op::object_end:
    case Op::object_close:
      if (ours(frame.mux)) break;
      return object_receiver_.on_frame(now_ns, frame);
    case Op::object_accept:
    case Op::object_reject:
    case Op::object_ack:
    case Op::object_credit:
      if (!ours(frame.mux)) break;
      return object_sender_.on_frame(now_ns, frame);
    default:
      return true;  // a frame for a mux this node does not have open: a late one, ignored
  }
  fail_protocol(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) + " on mux " +
                            std::to_string(frame.mux) + " of the wrong side");
  return false;
}

// ---- sending --------------------------------------------------------------------------

bool Connection::answer_with_status(TimeNs now_ns, Op op, std::uint64_t mux, Status status,
                                    std::string_view message) {
  Frame frame = frame_of(op, mux);
  frame.status = static_cast<std::uint16_t>(status);
  frame.payload = as_bytes(message);
  send_control(now_ns, frame);
  return transport_ != 0;
}

std::size_t Connection::chunk_bytes() const {
  // A part must fit the peer's frame limit with room for its header and checksum.
  return std::max<std::size_t>(
      1, std::min<std::size_t>(context_.config.limits.chunk_bytes, peer_max_frame_bytes_ - 1024));
}

bool Connection::send_payload(Frame first, const Payload& payload, EntryKind kind) {
  const std::size_t chunk = chunk_bytes();
  if (payload.size() <= chunk) {
    first.payload = payload.view();
    WEFT_ASSERT(kind != EntryKind::response ||
                encoded_size(first) <= payload.size() + kResponseFrameOverheadBytes);
    return send(first, kind) == Pushed::committed;
  }
  // Parts travel the bulk lane, so small frames go out between them; the lanes encode each
  // continuation part only when the output has room for it.
  first.flags |= flag::kMore;
  first.seq = payload.size();  // announces the whole size, so the peer can refuse or reserve
  first.payload = payload.view().first(chunk);
  WEFT_ASSERT(kind != EntryKind::response ||
              encoded_size(first) <= chunk + kResponseFrameOverheadBytes);
  const bool committed = send(first, kind, true) == Pushed::committed;
  push_later_parts(first.mux, kind, payload, std::nullopt);
  return committed;
}

bool Connection::push_later_parts(std::uint64_t mux, EntryKind kind, const Payload& payload,
                                  std::optional<std::uint64_t> message) {
  const std::size_t chunk = chunk_bytes();
  auto [kept, offset] = payload.keep_from(chunk);
  const bool waiting = lanes_.push_parts(mux, kind,
                                         PendingParts{.payload = std::move(kept),
                                                      .offset = offset,
                                                      .part_bytes = chunk,
                                                      .message = message,
                                                      .checksum = checksums_});
  mark_transmit();
  return waiting;
}

Frame Connection::frame_of(Op op, std::uint64_t mux) const {
  return Frame{.op = op, .checksum = checksums_, .mux = mux};
}

Pushed Connection::send(const Frame& frame, EntryKind kind, bool force_bulk) {
  const Pushed pushed = lanes_.push(frame, kind, force_bulk);
  mark_transmit();
  return pushed;
}

// Control frames are caused by incoming frames or timers; they never wait for room (rule 1
// of the design), but a peer that makes us queue more than the limit while not reading is
// cut off instead of growing memory.
void Connection::send_control(TimeNs now_ns, const Frame& frame) {
  send(frame, EntryKind::control);
  if (lanes_.control_frames() > context_.config.limits.max_control_frames) {
    fail_protocol(now_ns, "peer does not read: over " +
                              std::to_string(context_.config.limits.max_control_frames) +
                              " control frames queued");
  }
}

void Connection::mark_transmit() {
  if (transmit_marked_ || transport_ == 0 || lanes_.output_bytes() == 0) return;
  transmit_marked_ = true;
  context_.transmit_queue.push_back(transport_);
}

bool Connection::take_transmit(TransportId transport) {
  if (transport != transport_) return false;
  flush_deferred();  // while still marked: what it sends needs no second notice
  transmit_marked_ = false;
  return lanes_.output_bytes() > 0;
}

void Connection::flush_deferred() {
  if (port_up()) object_receiver_.flush_acks(context_.latest_now_ns);
}

#if WEFT_CANARIES
namespace {

// The writer_stalls_mid_frame canary cuts output pieces of at least this many bytes in half.
constexpr std::size_t kStallPieceBytes = 1024;

}  // namespace
#endif

Bytes Connection::pending_output(TransportId transport) const {
  if (transport != transport_) return Bytes{};
#if WEFT_CANARIES
  if (context_.config.canary == Canary::writer_stalls_mid_frame) {
    if (stalled_transport_ == transport) return Bytes{};
    const Bytes output = lanes_.output();
    return output.size() >= kStallPieceBytes ? output.first(output.size() / 2) : output;
  }
#endif
  return lanes_.output();
}

std::size_t Connection::pending_output_pieces(TransportId transport,
                                              std::span<Bytes> pieces) const {
  if (transport != transport_) return 0;
#if WEFT_CANARIES
  if (context_.config.canary == Canary::writer_stalls_mid_frame) {
    if (pieces.empty()) return 0;
    pieces[0] = pending_output(transport);
    return pieces[0].empty() ? 0 : 1;
  }
#endif
  return lanes_.output_pieces(pieces);
}

void Connection::consume_output(TransportId transport, std::size_t count) {
  if (transport != transport_) return;
  WEFT_ASSERT(count <= lanes_.output_bytes());
#if WEFT_CANARIES
  if (context_.config.canary == Canary::writer_stalls_mid_frame && count > 0 &&
      lanes_.output().size() >= kStallPieceBytes)
    stalled_transport_ = transport;  // it wrote the half: nothing more goes out
#endif
  counters_.bytes_sent += count;
  const std::size_t before = lanes_.output_bytes() - count;
  lanes_.consume(count, [this](const LaneEntry& entry) {
    if (entry.kind == EntryKind::stream) return stream_frame_left_lane(entry);
    Outbound* call = find_outbound(entry.mux);
    if (call == nullptr) return false;  // canceled or expired while queued: never sent
    // Over by the latest time the core was told, its timer not run yet (a late on_timer):
    // never sent either. Its timer ends it unsent, with no cancel (PROTOCOL.md §6.1).
    if (!call->committed && call->deadline_ns <= context_.latest_now_ns) return false;
    call->committed = true;
    return true;
  });
  // Object data fills what room the lanes leave (they never wait in a lane themselves).
  if (lanes_.below_high_water()) object_sender_.pump(context_.latest_now_ns);
  if (lanes_.output_bytes() > before) mark_transmit();
}

// ---- the object streams' port -----------------------------------------------------------

bool Connection::port_up() const {
  return state_ == PeerState::established && transport_ != 0;
}

bool Connection::port_has_room() const {
  return lanes_.below_high_water();
}

void Connection::port_send(const Frame& frame) {
  WEFT_ASSERT(port_up() && lanes_.below_high_water());
  send(frame, EntryKind::control);
}

void Connection::port_send_shared(const Frame& frame, const SharedBytes& owner) {
  WEFT_ASSERT(port_up() && lanes_.below_high_water());
  lanes_.push_shared(frame, owner, EntryKind::control);
  mark_transmit();
}

void Connection::port_send_control(TimeNs now_ns, const Frame& frame) {
  send_control(now_ns, frame);
}

void Connection::port_send_credit(std::uint64_t mux, std::uint32_t objects, std::uint32_t bytes) {
  lanes_.push_credit(mux, objects, bytes, checksums_, Op::object_credit);
  mark_transmit();
}

void Connection::port_want_flush() {
  if (transmit_marked_ || transport_ == 0) return;
  transmit_marked_ = true;
  context_.transmit_queue.push_back(transport_);
}

void Connection::port_protocol_error(TimeNs now_ns, std::string message) {
  fail_protocol(now_ns, std::move(message));
}

std::uint64_t Connection::port_new_mux() {
  return make_mux(0);  // looked up by the whole id, never by slot
}

bool Connection::port_mux_taken(std::uint64_t mux) const {
  return inbound_by_mux_.contains(mux) || peer_streams_by_mux_.contains(mux);
}

bool Connection::port_checksums() const {
  return checksums_;
}

std::size_t Connection::port_max_chunk() const {
  return peer_max_frame_bytes_ - 1024;
}

std::uint32_t Connection::port_own_max_frame() const {
  return context_.config.limits.max_frame_bytes;
}

PeerStats Connection::stats() const {
  PeerStats stats = counters_;
  stats.state = state_;
  stats.output_bytes = lanes_.output_bytes();
  stats.queued_data_bytes = lanes_.data_bytes();
  stats.queued_control_frames = lanes_.control_frames();
  stats.queued_response_bytes = lanes_.response_bytes();
  stats.inbound_request_bytes = inbound_request_bytes_;
  stats.outbound_in_flight = outbound_.size();
  stats.inbound_in_flight = inbound_.size();
  stats.streams_open = streams_.size();
  stats.object_streams_out = object_sender_.stream_count();
  stats.object_streams_in = object_receiver_.stream_count();
  stats.frames_sent = lanes_.frames_committed() + challenges_sent_;
  return stats;
}

}  // namespace weft::detail
