// Requests both ways: serving the peer's requests and assembling their parts, the calls this
// side makes (ids, deadlines, completion), and answers.
#include <algorithm>

#include "connection.hpp"
#include "invariant.hpp"

namespace weft::detail {
namespace {

// `payload` as something the core may keep: shared bytes by reference, borrowed ones copied.
Payload owned_payload(const Payload& payload) {
  return Payload(payload.keep_from(0).first);
}

}  // namespace

// ---- incoming requests and responses --------------------------------------------------

bool Connection::serve_request(TimeNs now_ns, const Frame& frame) {
  if (ours(frame.mux)) {
    fail_protocol(now_ns, "request on mux " + std::to_string(frame.mux) + " of the wrong side");
    return false;
  }
  // Requests and streams share the id space (PROTOCOL.md §4.4).
  if (inbound_by_mux_.contains(frame.mux) || peer_streams_by_mux_.contains(frame.mux) ||
      object_receiver_.mux_taken(frame.mux)) {
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
  // What this node holds for the peer's requests, before and after they are answered: a
  // peer that does not read its answers gets no new work done (rule 8 of the design).
  const std::uint64_t request_bytes = more ? frame.seq : frame.payload.size();
  if (inbound_request_bytes_ + lanes_.response_bytes() + request_bytes >
      context_.config.limits.max_inbound_request_bytes) {
    return answer(Status::busy, "requests and answers held for this peer at the limit");
  }
  Inbound call;
  call.mux = frame.mux;
  call.delivered = false;
  call.handler = frame.handler;
  call.route = frame.route;
  call.total_bytes = more ? frame.seq : 0;
  call.request_bytes = request_bytes;
  inbound_request_bytes_ += request_bytes;
  call.partial = context_.payloads.first_part_of(frame.payload, request_bytes);
  const std::uint32_t slot = inbound_.insert(std::move(call));
  inbound_by_mux_.insert(frame.mux, slot);
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
  const std::uint32_t* found = inbound_by_mux_.find(frame.mux);
  if (found == nullptr) return true;  // refused or ended: the rest is ignored
  const std::uint32_t slot = *found;
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
  if (call->assembling) {
    return fail_protocol(now_ns, "second response on mux " + std::to_string(frame.mux));
  }
  if ((frame.flags & flag::kMore) == 0) {
    // A payload sent whole is bounded by the same limit as one sent in parts.
    if (frame.payload.size() > context_.config.limits.max_message_bytes) {
      complete(slot_of(frame.mux), Errc::too_large,
               context_.payloads.copy_of(as_bytes("response larger than this node accepts")));
      return;
    }
    complete(slot_of(frame.mux), errc_from_status(frame.status),
             context_.payloads.copy_of(frame.payload));
    return;
  }
  // seq announces the whole payload's size: end at once a call whose answer could not be held.
  if (const std::optional<Refusal> refusal = assembly_refusal(frame.seq)) {
    complete(slot_of(frame.mux), errc_from_status(static_cast<std::uint16_t>(refusal->status)),
             context_.payloads.copy_of(as_bytes(refusal->reason)));
    return send_control(now_ns, frame_of(Op::cancel, frame.mux));
  }
  call->assembling = true;
  call->status = frame.status;
  call->total_bytes = frame.seq;
  call->partial = context_.payloads.first_part_of(frame.payload, frame.seq);
  assembly_bytes_ += frame.seq;
}

// A part of a response: append it; complete the call at its last part.
void Connection::continue_response(TimeNs now_ns, const Frame& frame) {
  Outbound* call = find_outbound(frame.mux);
  if (call == nullptr) return;
  if (!call->assembling) {
    return fail_protocol(now_ns, "continuation " + std::to_string(frame.seq) +
                                     " before the response on mux " + std::to_string(frame.mux));
  }
  if (!append_part(now_ns, frame, call->next_part, call->partial, call->total_bytes)) return;
  if ((frame.flags & flag::kMore) == 0) {
    complete(slot_of(frame.mux), errc_from_status(call->status), std::move(call->partial));
  }
}

void Connection::cancel_inbound(const Frame& frame) {
  if (!inbound_by_mux_.contains(frame.mux)) {
    // Answered already: the parts of its response still waiting would only be ignored.
    lanes_.drop_response_parts(frame.mux);
    return;
  }
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

Connection::Outbound* Connection::find_outbound(std::uint64_t mux) {
  Outbound* call = outbound_.find(slot_of(mux));
  return call != nullptr && call->mux == mux ? call : nullptr;
}

void Connection::complete(std::uint32_t slot, Errc result, std::vector<std::uint8_t> payload) {
  Outbound* call = outbound_.find(slot);
  WEFT_ASSERT(call != nullptr);
  assembly_bytes_ -= call->total_bytes;
  if (call->pending) {
    pending_bytes_ -= call->payload.size();
    pending_requests_.erase(
        std::find(pending_requests_.begin(), pending_requests_.end(), call->mux));
  }
#if WEFT_CANARIES
  // Canary: every seventh call answered ok ends with disconnected on a live connection.
  if (context_.config.canary == Canary::disconnected_on_live_connection && result == Errc::ok &&
      (call->mux >> (kSlotBits + 1)) % 7 == 3) {
    result = Errc::disconnected;
    payload.clear();
  }
#endif
  context_.emit(event::RequestDone{peer_, call->mux, result, std::move(payload)});
  deadlines_.erase(key_of(slot, kOutboundKey));
  outbound_.erase(slot);
}

bool Connection::drop_inbound(std::uint64_t mux) {
  const std::uint32_t* found = inbound_by_mux_.find(mux);
  WEFT_ASSERT(found != nullptr);
  return drop_inbound_at(*found, mux);
}

bool Connection::drop_inbound_at(std::uint32_t slot, std::uint64_t mux) {
  const Inbound& call = *inbound_.find(slot);
  WEFT_ASSERT(call.mux == mux);
  const bool delivered = call.delivered;
  if (!delivered) assembly_bytes_ -= call.total_bytes;
  inbound_request_bytes_ -= call.request_bytes;
  deadlines_.erase(key_of(slot, kInboundKey));
  inbound_.erase(slot);
  inbound_by_mux_.erase(mux);
  return delivered;
}

void Connection::expire(TimeNs now_ns, std::uint32_t key) {
  const std::uint32_t slot = key / 4;
  switch (key % 4) {
    case kOutboundKey: {
      const Outbound& call = *outbound_.find(slot);
      const bool committed = call.committed;
      const std::uint64_t mux = call.mux;
      complete(slot, Errc::deadline_exceeded, {});
      // Tell the serving side, so it can stop; a frame still in a lane is simply dropped.
      if (committed) send_control(now_ns, frame_of(Op::cancel, mux));
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
  const bool up = state_ == PeerState::established;
  if (!up && !on_demand_) return {Errc::disconnected, 0};
  if (outbound_.size() >= limits.max_outbound_requests) return {Errc::queue_full, 0};
  const std::int64_t timeout_ms =
      args.timeout_ms > 0 ? args.timeout_ms : context_.config.timeouts.default_request_timeout_ms;
  if (args.payload.size() > limits.max_message_bytes) return {Errc::too_large, 0};
  if (!up) return hold_request(now_ns, args, timeout_ms);
  // Into empty lanes any payload goes (up to max_message_bytes, which may be the larger):
  // otherwise a payload between the two limits could never be sent at all.
  if (lanes_.data_bytes() > 0 &&
      lanes_.data_bytes() + args.payload.size() > limits.max_queued_bytes) {
    return {Errc::queue_full, 0};
  }
  const std::uint32_t slot = outbound_.insert(Outbound{});
  const std::uint64_t mux = make_mux(slot);
  Outbound& call = *outbound_.find(slot);
  call.mux = mux;
  call.deadline_ns = now_ns + ns_from_ms(timeout_ms);
  deadlines_.set(key_of(slot, kOutboundKey), call.deadline_ns);
  Payload kept;  // on demand: the call's own copy, which the lanes then share
  if (on_demand_) {
    // Kept to go out again if the peer's goaway(idle) crosses it (PROTOCOL.md §4.7).
    call.handler = args.handler;
    call.route = route_id(args.route);
    call.payload = owned_payload(args.payload);
    kept = call.payload;
  }
  if (send_payload(Frame{.op = Op::request,
                         .checksum = checksums_,
                         .mux = mux,
                         .handler = args.handler,
                         .route = route_id(args.route),
                         .deadline_ms = static_cast<std::uint32_t>(timeout_ms)},
                   on_demand_ ? kept : args.payload, EntryKind::request)) {
    outbound_.find(slot)->committed = true;
  }
  return {Errc::ok, mux};
}

// On demand, while the connection is down: the request waits for it (its deadline runs),
// and the connection comes up.
Call Connection::hold_request(TimeNs now_ns, const RequestArgs& args, std::int64_t timeout_ms) {
  if (pending_bytes_ > 0 &&
      pending_bytes_ + args.payload.size() > context_.config.limits.max_queued_bytes) {
    return {Errc::queue_full, 0};
  }
  const std::uint32_t slot = outbound_.insert(Outbound{});
  const std::uint64_t mux = make_mux(slot);
  Outbound& call = *outbound_.find(slot);
  call.mux = mux;
  call.pending = true;
  call.handler = args.handler;
  call.route = route_id(args.route);
  call.deadline_ns = now_ns + ns_from_ms(timeout_ms);
  call.payload = owned_payload(args.payload);
  deadlines_.set(key_of(slot, kOutboundKey), call.deadline_ns);
  pending_bytes_ += args.payload.size();
  pending_requests_.push_back(mux);
  demand(now_ns);
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

std::optional<std::uint32_t> Connection::answerable(InboundId id) const {
  if (state_ != PeerState::established || id.generation != generation_) return std::nullopt;
  const std::uint32_t* found = inbound_by_mux_.find(id.mux);
  if (found == nullptr || !inbound_.find(*found)->delivered) return std::nullopt;
  return *found;
}

std::optional<std::uint32_t> Connection::answerable_at(TimeNs now_ns, InboundId id) {
  const std::optional<std::uint32_t> slot = answerable(id);
  if (!slot || inbound_.find(*slot)->deadline_ns > now_ns) return slot;
  expire(now_ns, key_of(*slot, kInboundKey));  // on_timer has not run yet: as it would have
  return std::nullopt;
}

// Rule 1: an answer never waits for output, and rule 8: responses the peer does not read
// never grow past max_queued_response_bytes. One that would is replaced by a busy answer
// in the control lane (which closes the connection when it overflows).
bool Connection::refuse_response(TimeNs now_ns, InboundId id, std::uint32_t slot,
                                 std::size_t payload_bytes) {
  if (lanes_.response_bytes() + payload_bytes <= context_.config.limits.max_queued_response_bytes) {
    return false;
  }
  drop_inbound_at(slot, id.mux);
  answer_with_status(now_ns, Op::response, id.mux, Status::busy,
                     "answers queued for this peer at the limit: it does not read them");
  return true;
}

Errc Connection::respond(TimeNs now_ns, InboundId id, const Payload& payload) {
  const std::optional<std::uint32_t> slot = answerable_at(now_ns, id);
  if (!slot) return Errc::not_found;
  if (payload.size() > context_.config.limits.max_message_bytes) {
    respond_error(now_ns, id, Errc::too_large, "response larger than this node sends");
    return Errc::too_large;
  }
  if (refuse_response(now_ns, id, *slot, payload.size())) return Errc::queue_full;
  drop_inbound_at(*slot, id.mux);
  send_payload(frame_of(Op::response, id.mux), payload, EntryKind::response);
  return Errc::ok;
}

Errc Connection::respond_error(TimeNs now_ns, InboundId id, Errc code, std::string_view message) {
  const std::optional<std::uint32_t> slot = answerable_at(now_ns, id);
  if (!slot) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;
  Frame frame = frame_of(Op::response, id.mux);
  frame.status = static_cast<std::uint16_t>(status_from_errc(code));
  frame.payload = as_bytes(clip_error_text(message));
  if (refuse_response(now_ns, id, *slot, frame.payload.size())) return Errc::queue_full;
  drop_inbound_at(*slot, id.mux);
  WEFT_ASSERT(encoded_size(frame) <= frame.payload.size() + kResponseFrameOverheadBytes);
  send(frame, EntryKind::response);
  return Errc::ok;
}

}  // namespace weft::detail
