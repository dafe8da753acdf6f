// The invariants of one connection, checked after every input and command that touched it
// in builds with assertions (see weft/invariant.hpp). Each states a fact the rest of the
// code relies on without re-checking it; several are the same fact kept in two places
// (a count and the collection it counts, a table and its index), checked against each other.
#include "connection.hpp"
#include "invariant.hpp"

namespace weft::detail {

void Connection::check_invariants() const {
#if WEFT_INVARIANTS
  const ConnectionLimits& limits = context_.config.limits;
  // The transport and the state agree; a live transport is registered to this peer.
  object_sender_.check_invariants();
  object_receiver_.check_invariants();
  const bool has_transport = transport_ != 0;
  WEFT_ASSERT(has_transport == (state_ != PeerState::idle && state_ != PeerState::backoff &&
                                state_ != PeerState::removed));
  // An established connection holds its peer's proof (a replaced authenticator checks it
  // again: Node::set_authenticator); a peer without a transport holds none.
  WEFT_ASSERT(state_ != PeerState::established || peer_proof_.has_value());
  WEFT_ASSERT(has_transport || !peer_proof_.has_value());
  // A removed peer holds nothing and waits for nothing.
  WEFT_ASSERT(state_ != PeerState::removed ||
              (object_sender_.stream_count() == 0 && object_receiver_.stream_count() == 0 &&
               dial_at_ns_ == kNever && link_deadline_ns_ == kNever));
  if (has_transport) {
    const auto owner = context_.transport_owner.find(transport_);
    WEFT_ASSERT(owner != context_.transport_owner.end() && owner->second == peer_);
  }
  WEFT_ASSERT(!transmit_marked_ || has_transport);
  // Only a dialer dials, but for an on-demand knock (PROTOCOL.md §4.7).
  WEFT_ASSERT(dials_ || on_demand_ || state_ != PeerState::backoff);
  WEFT_ASSERT(dials_ || on_demand_ || state_ != PeerState::dialing);
  WEFT_ASSERT(!knocking_ || (!dials_ && on_demand_));
  WEFT_ASSERT(dial_back_by_ns_ == kNever || (state_ == PeerState::idle && !dials_));
  WEFT_ASSERT(state_ != PeerState::backoff || dial_at_ns_ != kNever);
  WEFT_ASSERT((state_ != PeerState::dialing && state_ != PeerState::handshaking) ||
              link_deadline_ns_ != kNever);
  WEFT_ASSERT(state_ != PeerState::established ||
              (next_ping_ns_ != kNever && generation_ > 0 && link_deadline_ns_ == kNever));
  WEFT_ASSERT(lanes_.generation() == generation_);
  lanes_.check_invariants();
  deadlines_.check_invariants();

  // Rule 2: nothing outlives its generation. Calls and streams exist only while established.
  // On demand, requests wait for the connection (pending, with their deadlines).
  if (state_ != PeerState::established) {
    WEFT_ASSERT(outbound_.empty() || on_demand_);
    WEFT_ASSERT(inbound_.empty() && streams_.empty());
    WEFT_ASSERT(inbound_by_mux_.empty() && peer_streams_by_mux_.empty());
    WEFT_ASSERT(assembly_bytes_ == 0 && stream_window_bytes_ == 0);
    WEFT_ASSERT(deadlines_.empty() || !outbound_.empty());
    WEFT_ASSERT(inbound_request_bytes_ == 0);
  }
  // Every request waiting for the connection is listed once, in pending_requests_.
  std::uint64_t pending_bytes = 0;
  std::size_t pending = 0;
  outbound_.for_each([&](std::uint32_t, const Outbound& call) {
    WEFT_ASSERT(state_ == PeerState::established || call.pending);
    WEFT_ASSERT(!call.pending || (!call.committed && on_demand_));
    pending_bytes += call.pending ? call.payload.size() : 0;
    pending += call.pending ? 1 : 0;
  });
  WEFT_ASSERT(pending_bytes == pending_bytes_ && pending == pending_requests_.size());
  if (!has_transport) WEFT_ASSERT(lanes_.output_bytes() == 0 && lanes_.control_frames() == 0);

  // Requests this side sent: our parity, found by their slot, each with its deadline.
  std::uint64_t assembling_bytes = 0;
  std::size_t timed = 0;
  WEFT_ASSERT(outbound_.size() <= limits.max_outbound_requests);
  outbound_.for_each([&](std::uint32_t slot, const Outbound& call) {
    WEFT_ASSERT(ours(call.mux) && slot_of(call.mux) == slot);
    WEFT_ASSERT(deadlines_.contains(key_of(slot, kOutboundKey)));
    WEFT_ASSERT(call.assembling || (call.total_bytes == 0 && call.partial.empty()));
    WEFT_ASSERT(call.partial.size() <= call.total_bytes || !call.assembling);
    assembling_bytes += call.total_bytes;
    ++timed;
  });
  // Requests the peer sent: its parity, indexed by mux both ways.
  WEFT_ASSERT(inbound_.size() <= limits.max_inbound_requests);
  WEFT_ASSERT(inbound_by_mux_.size() == inbound_.size());
  std::uint64_t request_bytes = 0;
  inbound_.for_each([&](std::uint32_t slot, const Inbound& call) {
    WEFT_ASSERT(!ours(call.mux));
    const std::uint32_t* indexed = inbound_by_mux_.find(call.mux);
    WEFT_ASSERT(indexed != nullptr && *indexed == slot);
    WEFT_ASSERT(!call.delivered || (call.total_bytes == 0 && call.partial.empty()));
    // The decoder holds a first part to at most the size it announces (PROTOCOL.md §6.1).
    WEFT_ASSERT(call.delivered || call.partial.size() <= call.total_bytes);
    WEFT_ASSERT((call.deadline_ns != kNever) == deadlines_.contains(key_of(slot, kInboundKey)));
    assembling_bytes += call.total_bytes;
    // One arriving in parts counts the size it announced, as the assembly budget does.
    WEFT_ASSERT(call.delivered || call.request_bytes == call.total_bytes);
    request_bytes += call.request_bytes;
    timed += call.deadline_ns != kNever ? 1 : 0;
  });
  // Rule 8: what the peer's requests make this node hold is counted exactly and bounded.
  // Requests are admitted only while they and the queued answers fit the inbound budget;
  // an answer is queued only while the answers fit theirs (its header may pass it).
  WEFT_ASSERT(request_bytes == inbound_request_bytes_);
  WEFT_ASSERT(inbound_request_bytes_ <= limits.max_inbound_request_bytes);
  WEFT_ASSERT(lanes_.response_bytes() <=
              limits.max_queued_response_bytes + kResponseFrameOverheadBytes);
  // The assembly budget counts exactly the payloads being assembled, within its limit.
  WEFT_ASSERT(assembling_bytes == assembly_bytes_);
  WEFT_ASSERT(assembly_bytes_ <= limits.max_assembly_bytes);

  // Streams: parity, index, window budget, credit conservation.
  WEFT_ASSERT(streams_.size() <= limits.max_streams);
  std::uint64_t window_bytes = 0;
  std::size_t served = 0;
  streams_.for_each([&](std::uint32_t slot, const Stream& stream) {
    check_stream(slot, stream);
    window_bytes += stream.window_bytes + stream.open_payload_bytes;
    WEFT_ASSERT(stream.opener ? stream.open_payload_bytes == 0 : true);
    served += stream.opener ? 0 : 1;
    timed += deadlines_.contains(key_of(slot, kStreamKey)) ? 1 : 0;
  });
  WEFT_ASSERT(window_bytes == stream_window_bytes_);
  WEFT_ASSERT(stream_window_bytes_ <= limits.max_stream_receive_bytes);
  WEFT_ASSERT(served == peer_streams_by_mux_.size());
  // Every timer belongs to a live call or stream: nothing leaks in the heap.
  WEFT_ASSERT(timed == deadlines_.size());
#endif
}

void Connection::check_stream([[maybe_unused]] std::uint32_t slot,
                              [[maybe_unused]] const Stream& stream) const {
#if WEFT_INVARIANTS
  WEFT_ASSERT(stream.opener == ours(stream.mux));
  if (stream.opener) {
    WEFT_ASSERT(slot_of(stream.mux) == slot);
  } else {
    const std::uint32_t* indexed = peer_streams_by_mux_.find(stream.mux);
    WEFT_ASSERT(indexed != nullptr && *indexed == slot);
  }
  WEFT_ASSERT(stream.bulk_frames <= stream.queued_frames);
  if (stream.finished) {
    // A finished stream is kept only while its last frames are still queued, without a timer.
    WEFT_ASSERT(stream.queued_frames > 0 && !stream.send_open && stream.inbox.empty() &&
                !stream.assembling && stream.partial.empty());
    WEFT_ASSERT(!deadlines_.contains(key_of(slot, kStreamKey)));
    return;
  }
  WEFT_ASSERT(deadlines_.contains(key_of(slot, kStreamKey)));
  // What the peer may still send, what waits in the inbox and what was consumed but not yet
  // returned always add up to the window this side granted (credit is conserved).
  std::uint64_t inbox_bytes = 0;
  stream.inbox.for_each_size([&](std::size_t size) { inbox_bytes += size; });
  WEFT_ASSERT(inbox_bytes == stream.inbox.bytes());
  WEFT_ASSERT(stream.recv_msgs <= stream.granted_msgs && stream.recv_bytes <= stream.granted_bytes);
  // A message arriving in parts has its credit spent and is not in the inbox yet.
  WEFT_ASSERT(stream.assembling || stream.partial.empty());
  WEFT_ASSERT(stream.inbox.size() + (stream.assembling ? 1 : 0) + stream.unreturned_msgs +
                  (stream.granted_msgs - stream.recv_msgs) ==
              stream.window_msgs);
  WEFT_ASSERT(stream.inbox.bytes() + stream.partial.size() + stream.unreturned_bytes +
                  (stream.granted_bytes - stream.recv_bytes) ==
              stream.window_bytes);
  // This side never holds more credit than the peer's window (credit comes back only for
  // consumed messages), and never sent more than it was given.
  if (stream.accepted) {
    WEFT_ASSERT(stream.credit_msgs <= stream.peer_window_msgs);
    WEFT_ASSERT(stream.credit_bytes <= stream.peer_window_bytes);
  } else {
    WEFT_ASSERT(stream.opener && stream.sent_msgs == 0);
  }
#endif
}

}  // namespace weft::detail
