// Connections on demand (NodeConfig::connect_on_demand, PROTOCOL.md §4.7): a connection comes
// up when there is work for the peer and closes with goaway(idle) when it carried nothing
// for ConnectionTimeouts::idle_close_ms. The side the dial rule makes the acceptor knocks: it
// dials anyway, the peer refuses the hello wrong_dialer and dials back. Requests made while
// the connection is down wait for it; a peer's goaway(idle) says it processed nothing after
// its last answer, so the requests it leaves unanswered go out again on the next connection.
#include <algorithm>
#include <optional>

#include "connection.hpp"
#include "invariant.hpp"

namespace weft::detail {

bool Connection::quiet() const {
  return outbound_.empty() && inbound_.empty() && streams_.empty() && object_sender_.quiet() &&
         object_receiver_.stream_count() == 0;
}

bool Connection::has_demand() const {
  return !outbound_.empty() || object_sender_.has_objects();
}

TimeNs Connection::idle_deadline() const {
  if (!on_demand_ || state_ != PeerState::established || !quiet()) return kNever;
  return last_use_ns_ + ns_from_ms(context_.config.timeouts.idle_close_ms);
}

void Connection::demand(TimeNs now_ns) {
  last_use_ns_ = now_ns;
  if (!on_demand_ || state_ != PeerState::idle || dial_back_by_ns_ != kNever) return;
  // Idle: no transport and no backoff running. (In backoff the dial comes at its end; while
  // a knock waits for the peer's dial, that dial serves this work too.)
  state_ = PeerState::backoff;
  start_dial(now_ns);
}

void Connection::on_knock(TimeNs now_ns) {
  if (!on_demand_ || !dials_) return;
  if (state_ != PeerState::idle && state_ != PeerState::backoff) return;  // a transport is there
  // The peer proved who it is and has work: dial now, whatever the backoff had left.
  state_ = PeerState::backoff;
  start_dial(now_ns);
}

void Connection::after_down_on_demand(TimeNs now_ns) {
  knocking_ = false;
  if (has_demand()) {
    schedule_redial(now_ns);
  } else {
    state_ = PeerState::idle;
    dial_at_ns_ = kNever;
  }
}

void Connection::close_idle(TimeNs now_ns) {
  WEFT_ASSERT(quiet() && lanes_.output_bytes() == 0);
  const std::string text =
      "idle for " + std::to_string(ms_from_ns(now_ns - last_use_ns_)) + " ms (connect on demand)";
  teardown(now_ns, "closed the idle connection: " + text, true,
           goaway_after_output(lanes_, checksums_, Status::idle, text));
}

void Connection::on_peer_idle_close(TimeNs now_ns, const Frame& goaway) {
  // goaway(idle) says the peer had nothing of ours in flight; a response it had begun says
  // otherwise, so nothing it left unanswered can be taken as not processed. A protocol
  // error, but no goaway answers it: the peer reads nothing after its own.
  std::optional<std::uint64_t> answering;
  outbound_.for_each([&](std::uint32_t, const Outbound& call) {
    if (call.assembling && !answering) answering = call.mux;
  });
  if (answering) {
    return fail_protocol(now_ns, "goaway(idle) while answering mux " + std::to_string(*answering),
                         WireError::none, false);
  }
  const std::string reason = "the peer closed the idle connection: " +
                             std::string(clip_error_text(as_chars(goaway.payload)));
  // The peer had nothing of ours in flight when it sent the goaway and reads nothing after
  // it: every request it has not answered, and every stream it has not accepted, never
  // reached its application.
  const std::string not_processed =
      "the peer closed the idle connection before it read this (not processed); " + reason;
  if (!on_demand_) {
    teardown(now_ns, reason, true, {}, Errc::disconnected, false, not_processed);
    object_sender_.restart_unseen();
    return;
  }
  std::vector<std::uint64_t> again;
  outbound_.for_each([&](std::uint32_t, Outbound& call) {
    WEFT_ASSERT(!call.assembling);  // refused above
    call.pending = true;
    call.committed = false;
    pending_bytes_ += call.payload.size();
    again.push_back(call.mux);
  });
  // The order they were made in: a mux id's serial lies above its slot bits.
  std::sort(again.begin(), again.end());
  pending_requests_.clear();
  for (const std::uint64_t mux : again)
    pending_requests_.push_back(mux);
  teardown(now_ns, reason, true, {}, Errc::disconnected, true, not_processed);
  object_sender_.restart_unseen();
  if (state_ == PeerState::backoff) {
    // Nothing failed: come back at once rather than after a backoff.
    start_dial(now_ns);
  }
}

void Connection::knock_answered(TimeNs now_ns) {
  teardown(now_ns, "knock answered: the peer dials", true, {}, Errc::disconnected, true);
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  state_ = PeerState::idle;
  dial_at_ns_ = kNever;
  dial_back_by_ns_ =
      now_ns + ns_from_ms(timeouts.connect_timeout_ms + timeouts.handshake_timeout_ms);
}

void Connection::abandon_waiting(const std::string& reason) {
  if (!on_demand_ || transport_ != 0 || removed()) return;
  fail_all_calls(Errc::disconnected, false, reason);
  knocking_ = false;
  dial_back_by_ns_ = kNever;
  dial_at_ns_ = kNever;
  state_ = PeerState::idle;
}

void Connection::dial_back_missed(TimeNs now_ns) {
  dial_back_by_ns_ = kNever;
  const ConnectionTimeouts& timeouts = context_.config.timeouts;
  fail_all_calls(Errc::disconnected, false,
                 "the peer did not dial back within " +
                     std::to_string(timeouts.connect_timeout_ms + timeouts.handshake_timeout_ms) +
                     " ms of the knock");
  after_down_on_demand(now_ns);  // objects still waiting knock again after the backoff
}

void Connection::send_pending_requests(TimeNs now_ns) {
  // A held request whose deadline passed before on_timer ran ends now, unsent: the acceptor
  // of an on-demand pair establishes from the hello and auth its Acceptor read, not from
  // Connection::on_bytes, so nothing expired it before. (Only pending requests, never sent,
  // are in the heap here: expiring them sends nothing.)
  expire_due(now_ns);
  while (!pending_requests_.empty() && state_ == PeerState::established) {
    const std::uint64_t mux = pending_requests_.front();
    pending_requests_.pop_front();
    if (find_outbound(mux) != nullptr) send_pending_request(now_ns, slot_of(mux));
  }
}

void Connection::send_pending_request(TimeNs now_ns, std::uint32_t slot) {
  Outbound& call = *outbound_.find(slot);
  WEFT_ASSERT(call.pending);
  call.pending = false;
  pending_bytes_ -= call.payload.size();
  // The deadline travels as what is left of it (the timer that ends it runs here too).
  const TimeNs left_ns = std::max<TimeNs>(call.deadline_ns - now_ns, 1);
  const auto deadline_ms = static_cast<std::uint32_t>(
      std::min<TimeNs>((left_ns + 999'999) / 1'000'000, TimeNs{UINT32_MAX}));
  const Frame first{.op = Op::request,
                    .checksum = checksums_,
                    .mux = call.mux,
                    .handler = call.handler,
                    .route = call.route,
                    .deadline_ms = deadline_ms};
  if (send_payload(first, call.payload, EntryKind::request)) outbound_.find(slot)->committed = true;
}

}  // namespace weft::detail
