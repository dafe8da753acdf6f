#include "connection.hpp"

#include <algorithm>

#include "invariant.hpp"

namespace weft::detail {
namespace {

constexpr unsigned kSlotBits = 20;

constexpr std::uint64_t kSlotMask = (std::uint64_t{1} << kSlotBits) - 1;
// Longest error text carried in a response; far below any frame limit.
constexpr std::size_t kMaxErrorText = 4096;

std::vector<std::uint8_t> encode_alone(const Frame& frame) {
  ByteBuffer buffer;
  encode_frame(buffer, frame);
  return {buffer.view().begin(), buffer.view().end()};
}

std::vector<std::uint8_t> copy_of(Bytes bytes) {
  return {bytes.begin(), bytes.end()};
}

DecoderOptions decoder_options(const NodeConfig& config, bool require_checksum) {
  DecoderOptions options;
  options.limits.max_frame_bytes = config.limits.max_frame_bytes;
  options.require_checksum = require_checksum;
  return options;
}

std::string_view clip(std::string_view text) {
  return text.substr(0, kMaxErrorText);
}

}  // namespace

Connection::Connection(NodeContext& context, PeerId peer, std::string peer_name, TimeNs now_ns)
    : context_(context),
      peer_(peer),
      name_(std::move(peer_name)),
      dials_(dial_rule_dials(context.config.name, name_)),
      parity_(dials_ ? 0 : 1),
      state_(dials_ ? PeerState::backoff : PeerState::idle),
      decoder_(decoder_options(context.config, false)),
      lanes_(context.config.limits) {
  // A dialer connects at the first timer tick.
  if (dials_) dial_at_ns_ = now_ns;
}

// ---- timers ---------------------------------------------------------------------------

TimeNs Connection::next_deadline() const {
  TimeNs next = deadlines_.top_deadline();
  switch (state_) {
    case PeerState::idle:
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
      next = std::min({next, next_ping_ns_, last_received_ns_ + silence_limit});
      break;
    }
  }
  return next;
}

void Connection::on_timer(TimeNs now_ns) {
  while (!deadlines_.empty() && deadlines_.top_deadline() <= now_ns) {
    expire(now_ns, deadlines_.top_key());
  }
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  switch (state_) {
    case PeerState::idle:
      return;
    case PeerState::backoff:
      if (now_ns >= dial_at_ns_) start_dial(now_ns);
      return;
    case PeerState::dialing:
      if (now_ns >= link_deadline_ns_) {
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
    teardown(now_ns,
             "peer silent for " + std::to_string(ms_from_ns(now_ns - last_received_ns_)) + " ms",
             true, {});
    return;
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
  awaited_ping_ = 0;
  peer_max_frame_bytes_ = kMinMaxFrameBytes;
}

void Connection::on_connected(TimeNs now_ns, TransportId transport) {
  if (transport != transport_ || state_ != PeerState::dialing) return;  // stale report
  begin_link(now_ns, transport);
  state_ = PeerState::handshaking;
  link_deadline_ns_ = now_ns + ns_from_ms(context_.config.timeouts.handshake_timeout_ms);
  const NodeConfig& config = context_.config;
  const std::string token = config.auth->token_for(name_);
  Frame hello = context_.handshake_frame(Op::hello, now_ns, token);
  hello.seq = generation_;  // this process's dial attempt: lets the acceptor spot stale ones
  hello.version_min = config.version_min;
  hello.version_max = config.version_max;
  hello.peer_name = name_;
  send(hello, EntryKind::control);
}

void Connection::on_connect_failed(TimeNs now_ns, TransportId transport, std::string_view reason) {
  if (transport != transport_ || state_ != PeerState::dialing) return;
  teardown(now_ns, "connect failed: " + std::string(reason), false, {});
}

void Connection::adopt(TimeNs now_ns, TransportId transport, const Frame& hello,
                       std::size_t hello_bytes, Bytes rest) {
  WEFT_ASSERT(!dials_ && !is_stale_hello(hello));
  if (transport_ != 0) teardown(now_ns, "replaced by a newer connection from the peer", true, {});
  accepted_incarnation_ = hello.incarnation;
  accepted_attempt_ = hello.seq;
  begin_link(now_ns, transport);
  decoder_start_offset_ = hello_bytes;
  ++counters_.frames_received;
  counters_.bytes_received += hello_bytes;
  const std::string token = context_.config.auth->token_for(name_);
  Frame welcome = context_.handshake_frame(Op::welcome, now_ns, token);
  welcome.version = std::min(context_.config.version_max, hello.version_max);
  send(welcome, EntryKind::control);
  become_established(now_ns, hello);
  if (!rest.empty()) on_bytes(now_ns, transport, rest);
}

// PROTOCOL.md §4.2: a hello from the same process as the last one accepted, for an attempt
// no later than that one's, was sent before it (a delayed or replayed dial): adopting it
// would replace a newer connection with a dead one.
bool Connection::is_stale_hello(const Frame& hello) const {
  return hello.seq != 0 && hello.incarnation == accepted_incarnation_ &&
         hello.seq <= accepted_attempt_;
}

void Connection::become_established(TimeNs now_ns, const Frame& handshake) {
  state_ = PeerState::established;
  checksums_ = context_.config.checksums || (handshake.flags & flag::kChecksums) != 0;
  decoder_.set_options(decoder_options(context_.config, checksums_));
  peer_max_frame_bytes_ = handshake.max_frame_bytes;
  const bool restarted =
      counters_.peer_incarnation != 0 && counters_.peer_incarnation != handshake.incarnation;
  counters_.peer_incarnation = handshake.incarnation;
  counters_.generation = generation_;
  if (generation_ > 1) ++counters_.reconnects;
  backoff_attempt_ = 0;
  link_deadline_ns_ = kNever;
  last_received_ns_ = now_ns;
  next_ping_ns_ = now_ns + ns_from_ms(context_.config.timeouts.ping_interval_ms);
#if WEFT_CANARIES
  if (context_.config.canary == Canary::old_generation_frames) {
    lanes_.send_stale();
    mark_transmit();
  }
#endif
  context_.emit(event::PeerUp{peer_, generation_, handshake.incarnation, restarted});
}

void Connection::on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason) {
  if (transport != transport_ || transport_ == 0) return;
  teardown(now_ns, "transport down: " + std::string(reason), false, {});
}

// Ends the current transport: every call on it ends exactly once with "disconnected", every
// queued byte of its generation is dropped, and a dialer schedules the next attempt.
void Connection::teardown(TimeNs now_ns, std::string reason, bool close,
                          std::vector<std::uint8_t> final_bytes) {
  const bool was_up = state_ == PeerState::established;
  const TransportId transport = transport_;
  if (transport != 0) {
    context_.transport_owner.erase(transport);
    if (close) context_.emit(event::CloseTransport{transport, reason, std::move(final_bytes)});
  }
  transport_ = 0;
  transmit_marked_ = false;
  fail_all_calls();
#if WEFT_CANARIES
  if (context_.config.canary == Canary::old_generation_frames) lanes_.keep_stale_frames();
#endif
  lanes_.reset(generation_);  // nothing of this generation survives it
  // A fresh decoder, not reset(): a peer that is down holds no gathering buffer.
  decoder_ = FrameDecoder(decoder_options(context_.config, false));
  link_deadline_ns_ = kNever;
  next_ping_ns_ = kNever;
  if (was_up) context_.emit(event::PeerDown{peer_, generation_, std::move(reason)});
  if (dials_) {
    schedule_redial(now_ns);
  } else {
    state_ = PeerState::idle;
  }
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

void Connection::fail_all_calls() {
  // Slot order is deterministic, so the order of these events is too.
  outbound_.for_each([this](std::uint32_t, Outbound& call) {
    context_.emit(event::RequestDone{peer_, call.mux, Errc::disconnected, {}});
  });
  inbound_.for_each([this](std::uint32_t, Inbound& call) {
    if (!call.delivered) return;  // the application never heard of it
    context_.emit(
        event::RequestCanceled{peer_, InboundId{generation_, call.mux}, Errc::disconnected});
  });
  streams_.for_each([this](std::uint32_t, Stream& stream) {
    if (stream.finished) return;  // already ended; only flushing its last frames
    context_.emit(event::StreamEnded{peer_, StreamId{generation_, stream.mux}, Errc::disconnected,
                                     "connection lost"});
  });
  outbound_.clear();
  inbound_.clear();
  inbound_by_mux_.clear();
  streams_.clear();
  peer_streams_by_mux_.clear();
  stream_window_bytes_ = 0;
  assembly_bytes_ = 0;
  deadlines_.clear();
}

void Connection::fail_protocol(TimeNs now_ns, std::string message) {
  const Frame goaway{.op = Op::goaway,
                     .checksum = checksums_,
                     .status = static_cast<std::uint16_t>(Status::protocol_error),
                     .payload = as_bytes(clip(message))};
  teardown(now_ns, "protocol error: " + message, true, encode_alone(goaway));
}

void Connection::reject_handshake(TimeNs now_ns, Status status, std::string message) {
  context_.emit(event::HandshakeFailed{name_, status, true, message});
  const Frame goaway{.op = Op::goaway,
                     .checksum = true,
                     .status = static_cast<std::uint16_t>(status),
                     .payload = as_bytes(clip(message))};
  teardown(now_ns, "handshake refused: " + message, true, encode_alone(goaway));
}

// ---- incoming bytes and frames --------------------------------------------------------

void Connection::on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes) {
  if (transport != transport_ || transport_ == 0 || state_ == PeerState::dialing) return;
  counters_.bytes_received += bytes.size();
  last_received_ns_ = now_ns;
  while (true) {
    const DecodeStep step = decoder_.next(bytes);
    if (step.status == DecodeStatus::error) {
      const DecodeError& error = decoder_.error();
      const std::uint64_t offset = decoder_start_offset_ + error.offset;
      fail_protocol(now_ns, "error at byte " + std::to_string(offset) + ": " +
                                std::string(wire_error_name(error.code)) + ": " + error.message);
      return;
    }
    if (step.status == DecodeStatus::need_more) return;
    bytes = bytes.subspan(step.consumed);
    ++counters_.frames_received;
    if (!dispatch(now_ns, step.frame)) return;  // the transport is gone
  }
}

bool Connection::dispatch_handshake(TimeNs now_ns, const Frame& frame) {
  if (frame.op == Op::reject) {
    context_.emit(event::HandshakeFailed{name_, static_cast<Status>(frame.status), false,
                                         std::string(as_chars(frame.payload))});
    teardown(now_ns, "handshake rejected by peer: " + std::string(status_name(frame.status)), true,
             {});
    return false;
  }
  if (frame.op != Op::welcome) {
    fail_protocol(now_ns, "expected welcome or reject, got " +
                              std::string(op_name(static_cast<std::uint64_t>(frame.op))));
    return false;
  }
  std::string message;
  const Status status = check_welcome(now_ns, frame, message);
  if (status != Status::ok) {
    reject_handshake(now_ns, status, std::move(message));
    return false;
  }
  become_established(now_ns, frame);
  return true;
}

Status Connection::check_welcome(TimeNs now_ns, const Frame& welcome, std::string& message) const {
  const NodeConfig& config = context_.config;
  if (welcome.version < config.version_min || welcome.version > config.version_max) {
    message = "peer chose version " + std::to_string(welcome.version) + ", outside our range";
    return Status::version_mismatch;
  }
  if (welcome.name != name_) {
    message = "dialed " + name_ + " but reached " + std::string(welcome.name);
    return Status::wrong_target;
  }
  return context_.check_credentials(now_ns, name_, welcome, message);
}

bool Connection::dispatch(TimeNs now_ns, const Frame& frame) {
  if (state_ == PeerState::handshaking) return dispatch_handshake(now_ns, frame);
  WEFT_ASSERT(state_ == PeerState::established);
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
      teardown(now_ns,
               "peer going away: " + std::string(status_name(frame.status)) + " " +
                   std::string(as_chars(frame.payload)),
               true, {});
      return false;
    case Op::request:
      return serve_request(now_ns, frame);
    case Op::response:
      if (!ours(frame.mux)) break;
      finish_request(now_ns, frame);
      return true;
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
    case Op::welcome:
    case Op::reject:
      fail_protocol(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) +
                                " after the handshake");
      return false;
    // Object streams are not served yet, so their frames are ignored like frames of a mux
    // that is not open; their direction is still checked (PROTOCOL.md §4.4): only the
    // opener sends objects, only the other side acknowledges them.
    case Op::object_begin:
    case Op::object_data:
    case Op::object_end:
      if (ours(frame.mux)) break;
      return true;
    case Op::object_ack:
      if (!ours(frame.mux)) break;
      return true;
    default:
      return true;  // a frame for a mux this node does not have open: a late one, ignored
  }
  fail_protocol(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) + " on mux " +
                            std::to_string(frame.mux) + " of the wrong side");
  return false;
}

bool Connection::serve_request(TimeNs now_ns, const Frame& frame) {
  if (ours(frame.mux)) {
    fail_protocol(now_ns, "request on mux " + std::to_string(frame.mux) + " of the wrong side");
    return false;
  }
  // Requests and streams share the id space (PROTOCOL.md §4.4).
  if (inbound_by_mux_.contains(frame.mux) || peer_streams_by_mux_.contains(frame.mux)) {
    fail_protocol(now_ns, "request reuses open mux " + std::to_string(frame.mux));
    return false;
  }
  auto answer = [&](Status status, std::string_view message) {
    return answer_with_status(now_ns, Op::response, frame.mux, status, message);
  };
  if (!context_.handlers.contains(frame.handler, frame.route)) {
    return answer(Status::unknown_handler,
                  "no handler " + std::to_string(frame.handler) + " for that route");
  }
  if (inbound_.size() >= context_.config.limits.max_inbound_requests) {
    return answer(Status::busy, "too many requests in flight");
  }
  const bool more = (frame.flags & flag::kMore) != 0;
  if (more) {
    // seq announces the whole payload's size: refuse at once what could not be held.
    if (const std::optional<Refusal> refusal = assembly_refusal(frame.seq)) {
      return answer(refusal->status, refusal->reason);
    }
  } else if (frame.payload.size() > context_.config.limits.max_message_bytes) {
    // A payload sent whole is bounded by the same limit as one sent in parts.
    return answer(Status::too_large, "payload larger than this node accepts");
  }
  Inbound call;
  call.mux = frame.mux;
  call.delivered = false;
  call.handler = frame.handler;
  call.route = frame.route;
  call.total_bytes = more ? frame.seq : 0;
  call.partial.reserve(more ? frame.seq : frame.payload.size());
  call.partial.assign(frame.payload.begin(), frame.payload.end());
  const std::uint32_t slot = inbound_.insert(std::move(call));
  inbound_by_mux_.emplace(frame.mux, slot);
  if (frame.deadline_ms != 0) {
    inbound_.find(slot)->deadline_ns = now_ns + ns_from_ms(frame.deadline_ms);
    deadlines_.set(key_of(slot, kInboundKey), inbound_.find(slot)->deadline_ns);
  }
  if (more) {
    assembly_bytes_ += frame.seq;  // the rest comes in continuation frames
  } else {
    deliver_request(slot);
  }
  return true;
}

std::optional<Connection::Refusal> Connection::assembly_refusal(std::uint64_t total_bytes) const {
  const ConnectionLimits& limits = context_.config.limits;
  if (total_bytes > limits.max_message_bytes) {
    return Refusal{Status::too_large, "payload larger than this node accepts"};
  }
  if (assembly_bytes_ + total_bytes > limits.max_assembly_bytes) {
    return Refusal{Status::busy, "too many partly received payloads"};
  }
  return std::nullopt;
}

bool Connection::append_part(TimeNs now_ns, const Frame& frame, std::uint64_t& next_part,
                             std::vector<std::uint8_t>& partial, std::uint64_t total_bytes) {
  const auto fail = [&](const std::string& why) {
    fail_protocol(now_ns, why + " on mux " + std::to_string(frame.mux));
    return false;
  };
  if (frame.seq != next_part) {
    return fail("continuation " + std::to_string(frame.seq) + " out of order");
  }
  const bool last = (frame.flags & flag::kMore) == 0;
  const std::uint64_t size = partial.size() + frame.payload.size();
  if (size > total_bytes || (last && size != total_bytes)) {
    return fail("payload parts add up to " + std::to_string(size) + (last ? "" : "+") +
                " bytes, announced " + std::to_string(total_bytes));
  }
  ++next_part;
  partial.insert(partial.end(), frame.payload.begin(), frame.payload.end());
  return true;
}

void Connection::deliver_request(std::uint32_t slot) {
  Inbound& call = *inbound_.find(slot);
  assembly_bytes_ -= call.total_bytes;
  call.total_bytes = 0;
  call.delivered = true;
  context_.emit(event::RequestReceived{peer_, InboundId{generation_, call.mux}, call.handler,
                                       call.route, std::move(call.partial), call.deadline_ns});
  call.partial = {};
}

// A part of a request the peer is sending: append it; deliver the request at its last part.
bool Connection::continue_request(TimeNs now_ns, const Frame& frame) {
  const auto found = inbound_by_mux_.find(frame.mux);
  if (found == inbound_by_mux_.end()) return true;  // refused or ended: the rest is ignored
  const std::uint32_t slot = found->second;
  Inbound& call = *inbound_.find(slot);
  if (call.delivered) {
    fail_protocol(now_ns, "continuation " + std::to_string(frame.seq) +
                              " after the last part on mux " + std::to_string(frame.mux));
    return false;
  }
  if (!append_part(now_ns, frame, call.next_part, call.partial, call.total_bytes)) return false;
  if ((frame.flags & flag::kMore) == 0) deliver_request(slot);
  return true;
}

void Connection::finish_request(TimeNs now_ns, const Frame& frame) {
  Outbound* call = find_outbound(frame.mux);
  if (call == nullptr) return;  // ended already: a late answer
  if ((frame.flags & flag::kMore) == 0) {
    // A payload sent whole is bounded by the same limit as one sent in parts.
    if (frame.payload.size() > context_.config.limits.max_message_bytes) {
      complete(slot_of(frame.mux), Errc::too_large,
               copy_of(as_bytes("response larger than this node accepts")));
      return;
    }
    complete(slot_of(frame.mux), errc_from_status(frame.status), copy_of(frame.payload));
    return;
  }
  // seq announces the whole payload's size: end at once a call whose answer could not be held.
  if (const std::optional<Refusal> refusal = assembly_refusal(frame.seq)) {
    complete(slot_of(frame.mux), errc_from_status(static_cast<std::uint16_t>(refusal->status)),
             copy_of(as_bytes(refusal->reason)));
    return send_control(now_ns, frame_of(Op::cancel, frame.mux));
  }
  call->assembling = true;
  call->status = frame.status;
  call->total_bytes = frame.seq;
  call->partial.reserve(frame.seq);
  call->partial.assign(frame.payload.begin(), frame.payload.end());
  assembly_bytes_ += frame.seq;
}

// A part of a response: append it; complete the call at its last part.
void Connection::continue_response(TimeNs now_ns, const Frame& frame) {
  Outbound* call = find_outbound(frame.mux);
  if (call == nullptr) return;
  if (!call->assembling) {
    return fail_protocol(now_ns, "continuation " + std::to_string(frame.seq) +
                                     " for a response sent whole on mux " +
                                     std::to_string(frame.mux));
  }
  if (!append_part(now_ns, frame, call->next_part, call->partial, call->total_bytes)) return;
  if ((frame.flags & flag::kMore) == 0) {
    complete(slot_of(frame.mux), errc_from_status(call->status), std::move(call->partial));
  }
}

void Connection::cancel_inbound(const Frame& frame) {
  if (!inbound_by_mux_.contains(frame.mux)) return;
  const InboundId id{generation_, frame.mux};
  if (drop_inbound(frame.mux)) context_.emit(event::RequestCanceled{peer_, id, Errc::canceled});
}

// ---- calls ----------------------------------------------------------------------------

std::uint64_t Connection::make_mux(std::uint32_t slot) {
  // serial (42 bits) | slot (20 bits) | opener parity (1 bit): O(1) lookup by slot, and an
  // id is not seen twice on a connection before 2^42 requests.
  ++mux_serial_;
  return (((mux_serial_ << kSlotBits) | slot) << 1) | parity_;
}

std::uint32_t Connection::slot_of(std::uint64_t mux) const {
  return static_cast<std::uint32_t>((mux >> 1) & kSlotMask);
}

bool Connection::ours(std::uint64_t mux) const {
  return (mux & 1) == parity_;
}

Connection::Outbound* Connection::find_outbound(std::uint64_t mux) {
  Outbound* call = outbound_.find(slot_of(mux));
  return call != nullptr && call->mux == mux ? call : nullptr;
}

void Connection::complete(std::uint32_t slot, Errc result, std::vector<std::uint8_t> payload) {
  Outbound* call = outbound_.find(slot);
  WEFT_ASSERT(call != nullptr);
  assembly_bytes_ -= call->total_bytes;
  context_.emit(event::RequestDone{peer_, call->mux, result, std::move(payload)});
  deadlines_.erase(key_of(slot, kOutboundKey));
  outbound_.erase(slot);
}

bool Connection::drop_inbound(std::uint64_t mux) {
  const auto found = inbound_by_mux_.find(mux);
  WEFT_ASSERT(found != inbound_by_mux_.end());
  const Inbound& call = *inbound_.find(found->second);
  const bool delivered = call.delivered;
  if (!delivered) assembly_bytes_ -= call.total_bytes;
  deadlines_.erase(key_of(found->second, kInboundKey));
  inbound_.erase(found->second);
  inbound_by_mux_.erase(found);
  return delivered;
}

void Connection::expire(TimeNs now_ns, std::uint32_t key) {
  const std::uint32_t slot = key / 4;
  switch (key % 4) {
    case kOutboundKey: {
      const Outbound call = *outbound_.find(slot);
      complete(slot, Errc::deadline_exceeded, {});
      // Tell the serving side, so it can stop; a frame still in a lane is simply dropped.
      if (call.committed) send_control(now_ns, frame_of(Op::cancel, call.mux));
      return;
    }
    case kInboundKey: {
      const std::uint64_t mux = inbound_.find(slot)->mux;
      if (drop_inbound(mux)) {
        context_.emit(
            event::RequestCanceled{peer_, InboundId{generation_, mux}, Errc::deadline_exceeded});
      }
      return;
    }
    default:
      stream_timer(now_ns, slot);
      return;
  }
}

Call Connection::request(TimeNs now_ns, const RequestArgs& args) {
  const ConnectionLimits& limits = context_.config.limits;
  if (args.handler == 0 || args.route.size() > limits.max_route_bytes || args.timeout_ms < 0 ||
      args.timeout_ms > UINT32_MAX) {
    return {Errc::invalid_argument, 0};
  }
  if (state_ != PeerState::established) return {Errc::disconnected, 0};
  if (outbound_.size() >= limits.max_outbound_requests) return {Errc::queue_full, 0};
  const std::int64_t timeout_ms =
      args.timeout_ms > 0 ? args.timeout_ms : context_.config.timeouts.default_request_timeout_ms;
  if (args.payload.size() > limits.max_message_bytes) return {Errc::too_large, 0};
  if (lanes_.data_bytes() + args.payload.size() > limits.max_queued_bytes) {
    return {Errc::queue_full, 0};
  }
  const std::uint32_t slot = outbound_.insert(Outbound{});
  const std::uint64_t mux = make_mux(slot);
  outbound_.find(slot)->mux = mux;
  deadlines_.set(key_of(slot, kOutboundKey), now_ns + ns_from_ms(timeout_ms));
  const Frame first{.op = Op::request,
                    .checksum = checksums_,
                    .mux = mux,
                    .handler = args.handler,
                    .route = route_id(args.route),
                    .deadline_ms = static_cast<std::uint32_t>(timeout_ms)};
  if (send_payload(first, args.payload, EntryKind::request)) outbound_.find(slot)->committed = true;
  return {Errc::ok, mux};
}

Errc Connection::cancel(TimeNs now_ns, RequestId id) {
  const Outbound* call = find_outbound(id);
  if (call == nullptr) return Errc::not_found;
  const bool committed = call->committed;
  complete(slot_of(id), Errc::canceled, {});
  if (committed) send_control(now_ns, frame_of(Op::cancel, id));
  return Errc::ok;
}

bool Connection::answerable(InboundId id) const {
  if (state_ != PeerState::established || id.generation != generation_) return false;
  const auto found = inbound_by_mux_.find(id.mux);
  return found != inbound_by_mux_.end() && inbound_.find(found->second)->delivered;
}

Errc Connection::respond(TimeNs now_ns, InboundId id, const Payload& payload) {
  if (!answerable(id)) return Errc::not_found;
  if (payload.size() > context_.config.limits.max_message_bytes) {
    respond_error(now_ns, id, Errc::too_large, "response larger than this node sends");
    return Errc::too_large;
  }
  drop_inbound(id.mux);
  send_payload(frame_of(Op::response, id.mux), payload, EntryKind::response);
  return Errc::ok;
}

Errc Connection::respond_error(TimeNs, InboundId id, Errc code, std::string_view message) {
  if (!answerable(id)) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;
  Frame frame = frame_of(Op::response, id.mux);
  frame.status = static_cast<std::uint16_t>(status_from_errc(code));
  frame.payload = as_bytes(clip(message));
  drop_inbound(id.mux);
  send(frame, EntryKind::response);
  return Errc::ok;
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
    return send(first, kind) == Pushed::committed;
  }
  // Parts travel the bulk lane, so small frames go out between them; the lanes encode each
  // continuation part only when the output has room for it.
  first.flags |= flag::kMore;
  first.seq = payload.size();  // announces the whole size, so the peer can refuse or reserve
  first.payload = payload.view().first(chunk);
  const bool committed = send(first, kind, true) == Pushed::committed;
  auto [kept, offset] = payload.keep_from(chunk);
  lanes_.push_parts(first.mux, kind,
                    PendingParts{.payload = std::move(kept),
                                 .offset = offset,
                                 .part_bytes = chunk,
                                 .checksum = checksums_});
  mark_transmit();
  return committed;
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
  transmit_marked_ = false;
  return lanes_.output_bytes() > 0;
}

Bytes Connection::pending_output(TransportId transport) const {
  return transport == transport_ ? lanes_.output() : Bytes{};
}

void Connection::consume_output(TransportId transport, std::size_t count) {
  if (transport != transport_) return;
  WEFT_ASSERT(count <= lanes_.output_bytes());
  counters_.bytes_sent += count;
  const std::size_t before = lanes_.output_bytes() - count;
  lanes_.consume(count, [this](const LaneEntry& entry) {
    if (entry.kind == EntryKind::stream) return stream_frame_left_lane(entry);
    Outbound* call = find_outbound(entry.mux);
    if (call == nullptr) return false;  // canceled or expired while queued: never sent
    call->committed = true;
    return true;
  });
  if (lanes_.output_bytes() > before) mark_transmit();
}

PeerStats Connection::stats() const {
  PeerStats stats = counters_;
  stats.state = state_;
  stats.output_bytes = lanes_.output_bytes();
  stats.queued_data_bytes = lanes_.data_bytes();
  stats.queued_control_frames = lanes_.control_frames();
  stats.outbound_in_flight = outbound_.size();
  stats.inbound_in_flight = inbound_.size();
  stats.streams_open = streams_.size();
  stats.frames_sent = lanes_.frames_committed();
  return stats;
}

}  // namespace weft::detail
