// The connection's side of the handshake (PROTOCOL.md §4.2): the dialer's hello, its answer
// to the challenge and the welcome that establishes it; the acceptor's adoption of a
// transport whose dialer proved itself (the checks before that are in acceptor.cpp).
#include "connection.hpp"
#include "invariant.hpp"

namespace weft::detail {

void Connection::on_connected(TimeNs now_ns, TransportId transport, TransportSecurity security) {
  if (transport != transport_ || state_ != PeerState::dialing) return;  // stale report
  begin_link(now_ns, transport);
  state_ = PeerState::handshaking;
  link_deadline_ns_ = now_ns + ns_from_ms(context_.config.timeouts.handshake_timeout_ms);
  security_ = std::move(security);
  const NodeConfig& config = context_.config;
  const Nonce nonce = context_.nonces.next();
  Frame hello = context_.handshake_frame(Op::hello, now_ns, nonce, security_);
  // This process's dial attempt: lets the acceptor spot stale ones. It keeps increasing
  // across a removal and re-adding of the peer (see follow), which the acceptor cannot tell
  // from a reconnect.
  hello.seq = hello_seq_base_ + generation_;
  hello.version_min = config.version_min;
  hello.version_max = config.version_max;
  hello.peer_name = name_;
  const EncodedFrame encoded = encode_handshake(hello);
  const Bytes header = encoded.header();
  hello_header_.assign(header.begin(), header.end());
  send(hello, EntryKind::control);
}

void Connection::adopt(TimeNs now_ns, Adoption& adoption) {
  const Frame hello = adoption.hello.view();
  WEFT_ASSERT(!dials_ && !is_stale_hello(hello));
  if (transport_ != 0 && knocking_) {
    // The peer dialed while our knock was on its way: what waits for the connection stays.
    teardown(now_ns, "the peer dialed while this side knocked", true, {}, Errc::disconnected, true);
  } else if (transport_ != 0) {
    teardown(now_ns, "replaced by a newer connection from the peer", true, {});
  }
  dial_back_by_ns_ = kNever;
  accepted_incarnation_ = hello.incarnation;
  accepted_attempt_ = hello.seq;
  begin_link(now_ns, adoption.transport);
  security_ = std::move(adoption.security);
  peer_proof_ = std::move(adoption.proof);
  decoder_start_offset_ = adoption.handshake_bytes;
  counters_.frames_received += 2;  // hello and auth
  counters_.bytes_received += adoption.handshake_bytes;
  counters_.bytes_sent += adoption.challenge_bytes;  // the acceptor wrote it, not the lanes
  ++challenges_sent_;
  send(Frame{.op = Op::welcome, .checksum = true}, EntryKind::control);
  become_established(now_ns, hello, adoption.version, adoption.own_checksums);
  if (!adoption.rest.empty()) on_bytes(now_ns, adoption.transport, adoption.rest);
}

bool Connection::recheck_peer_proof(TimeNs now_ns) {
  // Kept from the current link only: begin_link and teardown drop it (an invariant).
  if (!peer_proof_) return false;
  std::string message;
  if (check_proof(*context_.auth, name_, *peer_proof_, security_, message) == Status::ok) {
    return false;
  }
  message = "authenticator replaced: " + message;
  ++context_.metrics.peer(peer_).proofs_revoked;
  if (state_ != PeerState::established) {  // the dialer, its welcome not read yet
    reject_handshake(now_ns, Status::auth_failed, std::move(message));
    return true;
  }
  teardown(now_ns, "credentials no longer verify: " + message, true,
           goaway_after_output(lanes_, checksums_, Status::auth_failed, message));
  return true;
}

// PROTOCOL.md §4.2: a hello from the same process as the last one accepted, for an attempt
// no later than that one's, was sent before it (a delayed or replayed dial): adopting it
// would replace a newer connection with a dead one.
bool Connection::is_stale_hello(const Frame& hello) const {
  return hello.seq != 0 && hello.incarnation == accepted_incarnation_ &&
         hello.seq <= accepted_attempt_;
}

void Connection::reject_handshake(TimeNs now_ns, Status status, std::string message) {
  context_.emit(event::HandshakeFailed{name_, status, true, message});
  teardown(now_ns, "handshake refused: " + message, true,
           goaway_after_output(lanes_, true, status, message));
}

// The dialer's handshake: a challenge (answered with an auth), then a welcome; a reject (or a
// goaway) at either point is the acceptor's refusal.
bool Connection::dispatch_handshake(TimeNs now_ns, const Frame& frame, Bytes frame_bytes) {
  if (frame.op == Op::reject && knocking_ &&
      frame.status == static_cast<std::uint16_t>(Status::wrong_dialer)) {
    knock_answered(now_ns);  // the refusal a knock asks for (PROTOCOL.md §4.7)
    return false;
  }
  // A goaway in place of the challenge or the welcome (an acceptor going away) is a refusal
  // too, and no frame answers a goaway (PROTOCOL.md §4.2, §4.6).
  if (frame.op == Op::reject || frame.op == Op::goaway) {
    context_.emit(event::HandshakeFailed{name_, static_cast<Status>(frame.status), false,
                                         std::string(clip_error_text(as_chars(frame.payload)))});
    teardown(now_ns,
             std::string(frame.op == Op::reject ? "handshake rejected by peer: "
                                                : "peer going away during the handshake: ") +
                 std::string(status_name(frame.status)),
             true, {});
    return false;
  }
  if (!challenge_) {
    if (frame.op == Op::challenge) return answer_challenge(now_ns, frame, frame_bytes);
    fail_protocol(now_ns, "expected challenge or reject, got " +
                              std::string(op_name(static_cast<std::uint64_t>(frame.op))));
    return false;
  }
  if (frame.op != Op::welcome) {
    fail_protocol(now_ns, "expected welcome or reject, got " +
                              std::string(op_name(static_cast<std::uint64_t>(frame.op))));
    return false;
  }
  if (knocking_) {
    fail_protocol(now_ns, "welcome to a hello the dial rule forbids (a knock)");
    return false;
  }
  const Frame challenge = challenge_->view();
  become_established(now_ns, challenge, challenge.version,
                     wants_checksums(context_.config, security_));
  return true;
}

bool Connection::answer_challenge(TimeNs now_ns, const Frame& challenge, Bytes frame_bytes) {
  std::string message;
  const Status status = check_challenge(now_ns, challenge, frame_bytes, message);
  if (status != Status::ok) {
    reject_handshake(now_ns, status, std::move(message));
    return false;
  }
  const Bytes challenge_header = frame_header_bytes(frame_bytes);
  const auto proof =
      make_proof(*context_.auth, ProofRole::dialer, hello_header_, challenge_header, security_);
  if (!proof) {
    reject_handshake(now_ns, Status::auth_failed, "this node could not make its proof");
    return false;
  }
  challenge_.emplace(challenge);
  peer_proof_ = keep_proof(ProofRole::acceptor, hello_header_, challenge_header, challenge.payload);
  send(Frame{.op = Op::auth, .checksum = true, .payload = *proof}, EntryKind::control);
  return true;
}

// PROTOCOL.md §4.2: the dialer's checks of a challenge, in the order the document lists.
Status Connection::check_challenge(TimeNs now_ns, const Frame& challenge, Bytes frame_bytes,
                                   std::string& message) const {
  const NodeConfig& config = context_.config;
  if (challenge.version < config.version_min || challenge.version > config.version_max) {
    message = "peer chose version " + std::to_string(challenge.version) + ", outside our range";
    return Status::version_mismatch;
  }
  if (challenge.name != name_) {
    message = "dialed " + name_ + " but reached " + std::string(challenge.name);
    return Status::wrong_target;
  }
  if (const Status status = check_nonce(challenge, message); status != Status::ok) return status;
  if (const Status status = check_transport_name(name_, security_, message); status != Status::ok) {
    return status;
  }
  if (const Status status =
          check_clock(config, context_.wall_ms(now_ns), challenge.wall_ms, message);
      status != Status::ok) {
    return status;
  }
  return check_proof(*context_.auth, name_, ProofRole::acceptor, hello_header_,
                     frame_header_bytes(frame_bytes), challenge.payload, security_, message);
}

}  // namespace weft::detail
