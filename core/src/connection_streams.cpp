// Streams: opening and serving, credit flow control both ways, ending, keepalive.
#include <algorithm>

#include "connection.hpp"
#include "invariant.hpp"

namespace weft::detail {
namespace {

// A reason text as kept: its first kMaxErrorText bytes (PROTOCOL.md §9.2), so a peer cannot
// make each of its streams hold a frame's worth of text.
std::string text_of(Bytes bytes) {
  return std::string(clip_error_text(as_chars(bytes)));
}

}  // namespace

// ---- lookup ---------------------------------------------------------------------------

const Connection::Stream* Connection::find_stream(std::uint64_t mux, std::uint32_t& slot) const {
  if (ours(mux)) {
    slot = slot_of(mux);
    const Stream* stream = streams_.find(slot);
    return stream != nullptr && stream->mux == mux ? stream : nullptr;
  }
  // The peer's stream found last, first: a stream's frames come in runs, and the salted
  // hash is a chain of multiplies that cost a fifth of a 64 B message's receiver (perf).
  // Every record of a peer's stream is indexed under its slot (check_stream), so a record
  // at the hint with this mux is the one the index names.
  if (const Stream* hinted = streams_.find(peer_stream_hint_);
      hinted != nullptr && hinted->mux == mux) {
    WEFT_ASSERT(peer_streams_by_mux_.find(mux) != nullptr &&
                *peer_streams_by_mux_.find(mux) == peer_stream_hint_);
    slot = peer_stream_hint_;
    return hinted;
  }
  const std::uint32_t* found = peer_streams_by_mux_.find(mux);
  if (found == nullptr) return nullptr;
  slot = *found;
  peer_stream_hint_ = slot;
  return streams_.find(slot);
}

Connection::Stream* Connection::live_stream(StreamId id, std::uint32_t* slot) {
  if (state_ != PeerState::established || id.generation != generation_) return nullptr;
  std::uint32_t at = 0;
  Stream* stream = find_stream(id.mux, at);
  if (stream == nullptr || stream->finished) return nullptr;
  if (slot != nullptr) *slot = at;
  return stream;
}

// ---- opening --------------------------------------------------------------------------

OpenedStream Connection::open_stream(TimeNs now_ns, const StreamArgs& args) {
  const ConnectionLimits& limits = context_.config.limits;
  if (args.handler == 0 || args.route.size() > limits.max_route_bytes || args.timeout_ms < 0 ||
      args.timeout_ms > UINT32_MAX || args.window.msgs == 0 || args.window.bytes == 0 ||
      (!args.has_payload && !args.payload.empty())) {
    return {Errc::invalid_argument, {}};
  }
  if (state_ != PeerState::established) return {Errc::disconnected, {}};
  if (streams_.size() >= limits.max_streams ||
      stream_window_bytes_ + args.window.bytes > limits.max_stream_receive_bytes) {
    return {Errc::queue_full, {}};
  }
  const std::uint32_t slot = streams_.insert(Stream{});
  Stream& stream = *streams_.find(slot);
  stream.idle = IdleMeter(now_ns);
  stream.mux = make_mux(slot);
  stream.opener = true;
  stream.send_open = args.has_input;
  stream.recv_open = true;
  stream.window_msgs = args.window.msgs;
  stream.window_bytes = args.window.bytes;
  stream.inbox = MessageQueue::for_window(args.window.bytes);
  stream.granted_msgs = args.window.msgs;
  stream.granted_bytes = args.window.bytes;
  const Frame open{.op = Op::stream_open,
                   .checksum = checksums_,
                   .flags = static_cast<std::uint16_t>((args.has_payload ? flag::kHasPayload : 0) |
                                                       (args.has_input ? flag::kHasInput : 0)),
                   .mux = stream.mux,
                   .handler = args.handler,
                   .route = route_id(args.route),
                   .deadline_ms = static_cast<std::uint32_t>(args.timeout_ms),
                   .credit_msgs = args.window.msgs,
                   .credit_bytes = args.window.bytes,
                   .payload = args.payload};
  if (encoded_size(open) - kPrefixBytes > peer_max_frame_bytes_) {
    streams_.erase(slot);
    return {Errc::too_large, {}};
  }
  stream_window_bytes_ += args.window.bytes;
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  stream.deadline_ns = args.timeout_ms > 0 ? now_ns + ns_from_ms(args.timeout_ms) : kNever;
  stream.last_heard_ns = now_ns;
  stream.next_ping_ns = now_ns + ns_from_ms(timeouts.stream_ping_interval_ms);
  send_stream_frame(stream, open);
  schedule_stream_timer(slot);
  return {Errc::ok, StreamId{generation_, stream.mux}};
}

bool Connection::serve_stream_open(TimeNs now_ns, const Frame& open) {
  // Requests and streams share the id space (PROTOCOL.md §4.4).
  if (ours(open.mux) || peer_streams_by_mux_.contains(open.mux) ||
      inbound_by_mux_.contains(open.mux) || object_receiver_.mux_taken(open.mux)) {
    fail_protocol(now_ns, "stream_open on mux " + std::to_string(open.mux) +
                              (ours(open.mux) ? " of the wrong side" : " already open"));
    return false;
  }
  auto refuse = [&](Status status, std::string_view message) {
    return answer_with_status(now_ns, Op::stream_reject, open.mux, status, message);
  };
  const StreamWindow* registered = context_.stream_handlers.find(open.handler, open.route);
  if (registered == nullptr)
    return refuse(Status::unknown_handler, "no stream handler for that route");
  const bool has_input = (open.flags & flag::kHasInput) != 0;
  const StreamWindow window = has_input ? *registered : StreamWindow{0, 0};
  const ConnectionLimits& limits = context_.config.limits;
  // The initial payload is charged with the window until the stream ends: it is handed to
  // the application in StreamOpened, and a peer could otherwise open max_streams streams
  // of a frame's payload each while the application has not read its events.
  const auto open_payload_bytes = static_cast<std::uint32_t>(open.payload.size());
  if (streams_.size() >= limits.max_streams ||
      stream_window_bytes_ + window.bytes + open_payload_bytes > limits.max_stream_receive_bytes) {
    return refuse(Status::busy, "too many streams");
  }
  // The accept goes in the control lane, which drains before any message of this stream.
  // Queued before the stream exists: a full lane closes the connection, and a stream the
  // application never saw opened must not be ended to it.
  send_control(now_ns, Frame{.op = Op::stream_accept,
                             .checksum = checksums_,
                             .mux = open.mux,
                             .credit_msgs = window.msgs,
                             .credit_bytes = window.bytes});
  if (transport_ == 0) return false;
  const std::uint32_t slot = streams_.insert(Stream{});
  peer_streams_by_mux_.insert(open.mux, slot);
  Stream& stream = *streams_.find(slot);
  stream.idle = IdleMeter(now_ns);
  stream.mux = open.mux;
  stream.send_open = true;
  stream.accepted = true;
  stream.open_committed = true;
  stream.credit_msgs = open.credit_msgs;
  stream.credit_bytes = open.credit_bytes;
  stream.peer_window_msgs = open.credit_msgs;
  stream.peer_window_bytes = open.credit_bytes;
  stream.recv_open = has_input;
  stream.window_msgs = window.msgs;
  stream.window_bytes = window.bytes;
  stream.inbox = MessageQueue::for_window(window.bytes);
  stream.granted_msgs = window.msgs;
  stream.granted_bytes = window.bytes;
  stream.open_payload_bytes = open_payload_bytes;
  stream_window_bytes_ += window.bytes + open_payload_bytes;
  stream.deadline_ns = open.deadline_ms != 0 ? now_ns + ns_from_ms(open.deadline_ms) : kNever;
  stream.last_heard_ns = now_ns;
  schedule_stream_timer(slot);
  const bool has_payload = (open.flags & flag::kHasPayload) != 0;
  context_.emit(event::StreamOpened{peer_,
                                    StreamId{generation_, open.mux},
                                    open.handler,
                                    open.route,
                                    has_payload,
                                    {open.payload.begin(), open.payload.end()},
                                    has_input,
                                    stream.deadline_ns});
  return true;
}

// ---- incoming stream frames -----------------------------------------------------------

bool Connection::dispatch_stream(TimeNs now_ns, const Frame& frame) {
  if (frame.op == Op::stream_open) return serve_stream_open(now_ns, frame);
  const bool opener_only =
      frame.op == Op::stream_accept || frame.op == Op::stream_reject || frame.op == Op::stream_pong;
  if ((opener_only && !ours(frame.mux)) || (frame.op == Op::stream_ping && ours(frame.mux))) {
    fail_protocol(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) + " on mux " +
                              std::to_string(frame.mux) + " of the wrong side");
    return false;
  }
  std::uint32_t slot = 0;
  Stream* found = find_stream(frame.mux, slot);
  if (found == nullptr) return true;  // a stream that ended: a late frame, ignored
  Stream& stream = *found;
  if (stream.finished) return true;
  stream.last_heard_ns = now_ns;
  switch (frame.op) {
    case Op::stream_accept:
      if (stream.accepted) {
        fail_stream_protocol(now_ns, slot, "second stream_accept");
        break;
      }
      stream.accepted = true;
      stream.credit_msgs = stream.send_open ? frame.credit_msgs : 0;
      stream.credit_bytes = stream.send_open ? frame.credit_bytes : 0;
      stream.peer_window_msgs = frame.credit_msgs;
      stream.peer_window_bytes = frame.credit_bytes;
      if (stream.want_writable) {
        stream.want_writable = false;
        context_.emit(event::StreamWritable{peer_, StreamId{generation_, stream.mux}});
      }
      break;
    case Op::stream_msg:
      stream_message(now_ns, slot, frame);
      break;
    case Op::stream_credit:
      stream_credit(now_ns, slot, frame);
      break;
    case Op::stream_end:
      stream_end(now_ns, slot, frame);
      break;
    case Op::stream_reject:
    case Op::stream_reset:
      finish_stream(now_ns, slot, errc_from_status(frame.status), text_of(frame.payload), true,
                    false);
      break;
    case Op::stream_ping:
      send_control(
          now_ns,
          Frame{.op = Op::stream_pong, .checksum = checksums_, .mux = frame.mux, .seq = frame.seq});
      break;
    default:
      break;  // stream_pong: hearing from the peer was the point
  }
  return transport_ != 0;
}

// A stream_msg: a whole message, or one part of a message in parts (flag more on every part
// but the last, all with the message's number). The message credit is spent by its first
// part, byte credit by every part; the application sees the message once its last part came.
void Connection::stream_message(TimeNs now_ns, std::uint32_t slot, const Frame& frame) {
  Stream& stream = *streams_.find(slot);
  if (!stream.recv_open) return fail_stream_protocol(now_ns, slot, "message after the end");
  const bool continues = stream.assembling;
  const std::uint64_t due = continues ? stream.recv_msgs : stream.recv_msgs + 1;
  if (frame.seq != due) {
    return fail_stream_protocol(now_ns, slot,
                                "message " + std::to_string(frame.seq) + " where " +
                                    (continues ? "the next part of " : "") + std::to_string(due) +
                                    " was due");
  }
  if ((!continues && stream.recv_msgs + 1 > stream.granted_msgs) ||
      stream.recv_bytes + frame.payload.size() > stream.granted_bytes) {
    return fail_stream_protocol(now_ns, slot, "message beyond the granted credit");
  }
  if (!continues) ++stream.recv_msgs;
  stream.recv_bytes += frame.payload.size();
  const bool more = (frame.flags & flag::kMore) != 0;
  if (continues || more) {
    stream.partial.insert(stream.partial.end(), frame.payload.begin(), frame.payload.end());
    stream.assembling = more;
    if (more) return;
    stream.inbox.push_owned(std::move(stream.partial));
    stream.partial = {};
  } else {
    stream.inbox.push_copy(frame.payload);
  }
  meter_stream(now_ns, stream);
  if (stream.readable_armed) {
    stream.readable_armed = false;
    context_.emit(event::StreamReadable{peer_, StreamId{generation_, stream.mux}});
  }
}

void Connection::stream_credit(TimeNs now_ns, std::uint32_t slot, const Frame& frame) {
  Stream& stream = *streams_.find(slot);
  if (!stream.accepted) return fail_stream_protocol(now_ns, slot, "credit before accept");
  stream.credit_msgs += frame.credit_msgs;
  stream.credit_bytes += frame.credit_bytes;
  // Credit comes back only for consumed messages, so it can never exceed the window.
  if (stream.credit_msgs > stream.peer_window_msgs ||
      stream.credit_bytes > stream.peer_window_bytes) {
    return fail_stream_protocol(now_ns, slot, "credit beyond the window");
  }
  meter_stream(now_ns, stream);
  if (stream.want_writable && stream.send_open) {
    stream.want_writable = false;
    context_.emit(event::StreamWritable{peer_, StreamId{generation_, stream.mux}});
  }
}

void Connection::meter_stream(TimeNs now_ns, Stream& stream) {
  const bool sent_unreturned = stream.accepted && stream.credit_msgs < stream.peer_window_msgs;
  stream.idle.set_busy(now_ns, sent_unreturned || !stream.inbox.empty());
}

void Connection::stream_end(TimeNs now_ns, std::uint32_t slot, const Frame& frame) {
  Stream& stream = *streams_.find(slot);
  if (!stream.recv_open) return fail_stream_protocol(now_ns, slot, "second end");
  if (stream.assembling) {
    return fail_stream_protocol(now_ns, slot,
                                "end inside message " + std::to_string(stream.recv_msgs));
  }
  if (frame.seq != stream.recv_msgs) {
    return fail_stream_protocol(now_ns, slot,
                                "end after " + std::to_string(frame.seq) + " messages, got " +
                                    std::to_string(stream.recv_msgs));
  }
  stream.recv_open = false;
  stream.end_result = errc_from_status(frame.status);
  stream.end_message = text_of(frame.payload);
  if (stream.end_result != Errc::ok) {
    // The peer failed the stream: it reads nothing more, so this side's half is over too.
    stream.send_open = false;
    stream.aborted = true;
  }
  const std::uint64_t mux = stream.mux;
  maybe_complete(now_ns, slot);  // may finish and erase the stream
  // Wake a reader that waits for input, so it can see the input is done.
  Stream* still = streams_.find(slot);
  if (still != nullptr && still->mux == mux && !still->finished && still->readable_armed) {
    still->readable_armed = false;
    context_.emit(event::StreamReadable{peer_, StreamId{generation_, mux}});
  }
}

void Connection::fail_stream_protocol(TimeNs now_ns, std::uint32_t slot, std::string message) {
  finish_stream(now_ns, slot, Errc::protocol_error, std::move(message), true, true);
}

// ---- commands -------------------------------------------------------------------------

Errc Connection::stream_write(TimeNs now_ns, StreamId id, const Payload& message) {
  Stream* stream = live_stream(id);
  if (stream == nullptr) return Errc::not_found;
  if (!stream->send_open) return Errc::stream_closed;
  if (message.size() > context_.config.limits.max_message_bytes) return Errc::too_large;
  if (stream->accepted && message.size() > stream->peer_window_bytes) return Errc::too_large;
  if (!stream->accepted || stream->credit_msgs == 0 || stream->credit_bytes < message.size()) {
    stream->want_writable = true;
    return Errc::no_credit;
  }
  // Credit for the whole message is spent now: its parts need no more.
  --stream->credit_msgs;
  stream->credit_bytes -= message.size();
  ++stream->sent_msgs;
  stream->sent_bytes += message.size();
  meter_stream(now_ns, *stream);
  send_stream_message(*stream, message);
  return Errc::ok;
}

// A message longer than a part goes out as stream_msg frames of one part each, all with its
// number and all but the last with `more`, through the bulk lane: a pong or a small request
// waits behind one part at most, never behind the whole message (rule 7 of the design).
void Connection::send_stream_message(Stream& stream, const Payload& message) {
  Frame frame{.op = Op::stream_msg,
              .checksum = checksums_,
              .mux = stream.mux,
              .seq = stream.sent_msgs,
              .payload = message.view()};
  const std::size_t chunk = chunk_bytes();
  if (message.size() <= chunk) {
    send_stream_frame(stream, frame);
    return;
  }
  frame.flags = flag::kMore;
  frame.payload = message.view().first(chunk);
  send_stream_frame(stream, frame, true);
  if (push_later_parts(stream.mux, EntryKind::stream, message, stream.sent_msgs)) {
    // One queued bulk frame of the stream until its last part leaves the lane.
    ++stream.queued_frames;
    ++stream.bulk_frames;
  }
}

std::optional<Bytes> Connection::stream_peek(StreamId id) {
  Stream* stream = live_stream(id);
  if (stream == nullptr) return std::nullopt;
  if (stream->inbox.empty()) {
    stream->readable_armed = true;
    return std::nullopt;
  }
  return stream->inbox.front();
}

bool Connection::stream_input_done(StreamId id) {
  Stream* stream = live_stream(id);
  return stream != nullptr && !stream->recv_open && stream->inbox.empty();
}

Errc Connection::stream_consume(TimeNs now_ns, StreamId id) {
  std::uint32_t slot = 0;
  Stream* stream = live_stream(id, &slot);
  if (stream == nullptr || stream->inbox.empty()) return Errc::not_found;
  consume_front(now_ns, *stream);
  maybe_complete(now_ns, slot);
  return Errc::ok;
}

std::optional<Bytes> Connection::stream_consume_next(TimeNs now_ns, StreamId id) {
  std::uint32_t slot = 0;
  Stream* stream = live_stream(id, &slot);
  if (stream == nullptr || stream->inbox.empty()) return std::nullopt;
  consume_front(now_ns, *stream);
  // A stream with a message waiting cannot complete: only a drained inbox may end it.
  if (!stream->inbox.empty()) return stream->inbox.front();
  maybe_complete(now_ns, slot);
  return std::nullopt;
}

void Connection::consume_front(TimeNs now_ns, Stream& stream) {
  const std::size_t size = stream.inbox.front().size();
  stream.inbox.pop_front();
  ++stream.unreturned_msgs;
  stream.unreturned_bytes += static_cast<std::uint32_t>(size);
  if (stream.inbox.empty()) stream.readable_armed = true;  // as stream_peek finding none
  meter_stream(now_ns, stream);
  return_credit(stream, false);
}

// Sends consumed credit back once half the window is owed, or whenever the inbox runs dry
// (so a sender waiting for room for one large message is never left hanging).
void Connection::return_credit(Stream& stream, bool force) {
  if (!stream.recv_open || (stream.unreturned_msgs == 0 && stream.unreturned_bytes == 0)) return;
  const bool half = 2ull * stream.unreturned_msgs >= stream.window_msgs ||
                    2ull * stream.unreturned_bytes >= stream.window_bytes;
  if (!force && !half && !stream.inbox.empty()) return;
  stream.granted_msgs += stream.unreturned_msgs;
  stream.granted_bytes += stream.unreturned_bytes;
  std::uint32_t credit_msgs = stream.unreturned_msgs;
#if WEFT_CANARIES
  if (context_.config.canary == Canary::credit_off_by_one) ++credit_msgs;
#endif
  // Coalesced with any credit of this stream still waiting (rule 1: never a queue that grows
  // with a peer that sends but does not read).
  lanes_.push_credit(stream.mux, credit_msgs, stream.unreturned_bytes, checksums_);
  mark_transmit();
  stream.unreturned_msgs = 0;
  stream.unreturned_bytes = 0;
}

Errc Connection::stream_close(TimeNs now_ns, StreamId id) {
  std::uint32_t slot = 0;
  Stream* stream = live_stream(id, &slot);
  if (stream == nullptr) return Errc::not_found;
  if (!stream->send_open) return Errc::stream_closed;
  stream->send_open = false;
  send_stream_frame(*stream, Frame{.op = Op::stream_end,
                                   .checksum = checksums_,
                                   .mux = stream->mux,
                                   .seq = stream->sent_msgs});
  maybe_complete(now_ns, slot);
  return Errc::ok;
}

Errc Connection::stream_fail(TimeNs now_ns, StreamId id, Errc code, std::string_view message) {
  std::uint32_t slot = 0;
  Stream* stream = live_stream(id, &slot);
  if (stream == nullptr) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;
  const std::string text(clip_error_text(message));
  const bool tell_by_end = stream->send_open;
  if (tell_by_end) {
    // After the messages already sent, so the peer reads them first.
    stream->send_open = false;
    send_stream_frame(*stream, Frame{.op = Op::stream_end,
                                     .checksum = checksums_,
                                     .mux = stream->mux,
                                     .seq = stream->sent_msgs,
                                     .status = static_cast<std::uint16_t>(status_from_errc(code)),
                                     .payload = as_bytes(text)});
  }
  // Told by a reset (this side's end was already queued): what still waits behind it would
  // reach a peer that ignores a reset stream's frames, so it is dropped.
  finish_stream(now_ns, slot, code, text, !tell_by_end, !tell_by_end);
  return Errc::ok;
}

Errc Connection::stream_cancel(TimeNs now_ns, StreamId id) {
  std::uint32_t slot = 0;
  if (live_stream(id, &slot) == nullptr) return Errc::not_found;
  finish_stream(now_ns, slot, Errc::canceled, "canceled", true, true);
  return Errc::ok;
}

std::optional<StreamCredits> Connection::stream_credits(StreamId id) const {
  if (state_ != PeerState::established || id.generation != generation_) return std::nullopt;
  std::uint32_t slot = 0;
  const Stream* found = find_stream(id.mux, slot);
  if (found == nullptr || found->finished) return std::nullopt;
  const Stream& stream = *found;
  return StreamCredits{stream.credit_msgs,
                       stream.credit_bytes,
                       stream.peer_window_msgs,
                       stream.peer_window_bytes,
                       stream.inbox.size(),
                       stream.inbox.bytes(),
                       stream.granted_msgs - stream.recv_msgs,
                       stream.window_msgs,
                       stream.window_bytes,
                       stream.inbox.memory_bytes()};
}

// ---- sending and lifecycle ------------------------------------------------------------

Pushed Connection::send_stream_frame(Stream& stream, const Frame& frame, bool force_bulk) {
  const Pushed pushed = send(frame, EntryKind::stream, force_bulk || stream.bulk_frames > 0);
  if (pushed == Pushed::committed) {
    stream.open_committed = true;
  } else {
    ++stream.queued_frames;
    if (pushed == Pushed::bulk_lane) ++stream.bulk_frames;
  }
  return pushed;
}

// Called as a stream frame leaves its lane (or a part of a message in parts is about to go):
// true to send it.
bool Connection::stream_frame_left_lane(const LaneEntry& entry) {
  std::uint32_t slot = 0;
  Stream* found = find_stream(entry.mux, slot);
  if (found == nullptr) return false;
  Stream& stream = *found;
  // A part that is not the last leaves the entry in the lane: nothing to count yet.
  if (entry.parts && !entry.final_part && !stream.aborted) return true;
  WEFT_ASSERT(stream.queued_frames > 0);
  --stream.queued_frames;
  if (entry.bulk) --stream.bulk_frames;
  const bool send_it = !stream.aborted;
  if (send_it) stream.open_committed = true;
  erase_stream_if_flushed(slot);
  return send_it;
}

void Connection::maybe_complete(TimeNs now_ns, std::uint32_t slot) {
  Stream& stream = *streams_.find(slot);
  if (stream.finished || stream.recv_open || stream.send_open || !stream.inbox.empty()) return;
  finish_stream(now_ns, slot, stream.end_result, stream.end_message, false, false);
}

// Ends a stream on this side, exactly once: the event, then (if the peer must learn of it)
// a reset. With `abort` its frames still queued are dropped; the record stays until every
// queued frame has left the lanes.
void Connection::finish_stream(TimeNs now_ns, std::uint32_t slot, Errc result, std::string message,
                               bool abort, bool tell_peer) {
  Stream& stream = *streams_.find(slot);
  WEFT_ASSERT(!stream.finished);
  stream.finished = true;
  stream.aborted = stream.aborted || abort;
  stream.send_open = false;
  stream.inbox.clear();
  stream.partial = {};
  stream.assembling = false;
  deadlines_.erase(key_of(slot, kStreamKey));
  const std::uint64_t mux = stream.mux;
  const bool peer_knows = stream.open_committed;
  context_.emit(event::StreamEnded{peer_, StreamId{generation_, mux}, result, message});
  erase_stream_if_flushed(slot);
  if (tell_peer && peer_knows) {
    send_control(now_ns, Frame{.op = Op::stream_reset,
                               .checksum = checksums_,
                               .mux = mux,
                               .status = static_cast<std::uint16_t>(status_from_errc(result)),
                               .payload = as_bytes(clip_error_text(message))});
  }
}

void Connection::erase_stream_if_flushed(std::uint32_t slot) {
  Stream& stream = *streams_.find(slot);
  if (!stream.finished || stream.queued_frames > 0) return;
#if WEFT_CANARIES
  if (context_.config.canary != Canary::stream_budget_leak)
#endif
    stream_window_bytes_ -= stream.window_bytes + stream.open_payload_bytes;
  if (!stream.opener) peer_streams_by_mux_.erase(stream.mux);
  retire_stream(stream);
  streams_.erase(slot);
}

void Connection::retire_stream(const Stream& stream) {
  PeerCounters& counters = context_.metrics.peer(peer_);
  counters.stream_msgs_sent += stream.sent_msgs;
  counters.stream_bytes_sent += stream.sent_bytes;
  counters.stream_msgs_received += stream.recv_msgs;
  counters.stream_bytes_received += stream.recv_bytes;
}

// ---- keepalive and deadline -----------------------------------------------------------

// Once both directions ended, and this side's last frames for the stream left its lanes,
// the peer has finished the stream (or will once it read them) and answers nothing on it:
// what is left is this side's application reading the messages before the end, which
// keepalive must not cut short (PROTOCOL.md §6.2). Only the deadline applies then. While
// frames still wait in the lanes, the pings keep the peer's idle timer fed, unless the peer
// failed the stream: it reads none of them (they are dropped as they leave the lanes).
bool Connection::stream_keepalive_applies(const Stream& stream) {
  return stream.recv_open || stream.send_open || (stream.queued_frames > 0 && !stream.aborted);
}

void Connection::schedule_stream_timer(std::uint32_t slot) {
  const Stream& stream = *streams_.find(slot);
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  TimeNs next = stream.deadline_ns;
  if (!stream_keepalive_applies(stream)) {
    // the deadline alone
  } else if (stream.opener) {
    next = std::min({next, stream.next_ping_ns,
                     stream.last_heard_ns + ns_from_ms(timeouts.stream_silence_timeout_ms)});
  } else {
    next = std::min(next, stream.last_heard_ns + ns_from_ms(timeouts.stream_idle_timeout_ms));
  }
  deadlines_.set(key_of(slot, kStreamKey), next);
}

// The stream's timer fired. Frames update last_heard_ns without touching the heap, so this
// re-checks the real conditions and reschedules when nothing is due yet.
void Connection::stream_timer(TimeNs now_ns, std::uint32_t slot) {
  Stream& stream = *streams_.find(slot);
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  if (now_ns >= stream.deadline_ns) {
    return finish_stream(now_ns, slot, Errc::deadline_exceeded, "stream deadline passed", true,
                         true);
  }
  if (!stream_keepalive_applies(stream)) return schedule_stream_timer(slot);
  const std::int64_t silent_ms =
      stream.opener ? timeouts.stream_silence_timeout_ms : timeouts.stream_idle_timeout_ms;
  if (now_ns - stream.last_heard_ns >= ns_from_ms(silent_ms)) {
    return finish_stream(now_ns, slot, Errc::keepalive_timeout,
                         "nothing heard for " + std::to_string(silent_ms) + " ms", true, true);
  }
  if (stream.opener && now_ns >= stream.next_ping_ns) {
    stream.next_ping_ns = now_ns + ns_from_ms(timeouts.stream_ping_interval_ms);
    if (stream.open_committed) {
      send_control(now_ns, Frame{.op = Op::stream_ping,
                                 .checksum = checksums_,
                                 .mux = stream.mux,
                                 .seq = ++stream.ping_seq});
      if (transport_ == 0) return;
    }
  }
  schedule_stream_timer(slot);
}

}  // namespace weft::detail
