#include "acceptor.hpp"

#include <algorithm>
#include <iterator>
#include <tuple>
#include <utility>

#include "invariant.hpp"
#include "message_text.hpp"

namespace weft::detail {
void Acceptor::add(TimeNs now_ns, TransportId transport, std::optional<std::uint64_t> source) {
  // Rule 8: what strangers can make this node hold is bounded. An older one makes room
  // (ids grow, so map order is age): refusing the newest instead let anyone who kept the
  // places filled, reopening each as it timed out, keep every peer that lost its
  // connection from coming back. A source's own cap comes first: one address that reopens
  // faster than the handshakes of others finish then churns its own places, never theirs.
  const NodeConfig& config = context_.config;
  if (source) make_room_in_source(*source);
  if (pending_.size() >= config.max_transports_awaiting_hello) make_room_in_all(source);
  DecoderOptions options;
  options.limits.max_frame_bytes = kMinMaxFrameBytes;  // hello and auth are small
  Pending& pending = pending_[transport];
  pending.source = source;
  if (source) ++per_source_[*source];
  pending.decoder = FrameDecoder(options);
  pending.deadline_ns = now_ns + ns_from_ms(config.timeouts.hello_timeout_ms);
}

void Acceptor::make_room_in_source(std::uint64_t source) {
  const std::size_t cap = context_.config.max_transports_awaiting_hello_per_source;
  const auto count = per_source_.find(source);
  if (count == per_source_.end() || count->second < cap) return;
  auto oldest = pending_.end();
  int oldest_shown = 0;
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.source != source) continue;
    const int shown_here = shown(it->second);
    if (oldest == pending_.end() || shown_here < oldest_shown) {
      oldest = it;
      oldest_shown = shown_here;
    }
  }
  make_room(oldest,
            "closed for a newer connection from its source: " + std::to_string(cap) +
                " from it were in their handshake (max_transports_awaiting_hello_per_source)",
            kOldestOfSourceClosedReason);
}

void Acceptor::make_room_in_all(std::optional<std::uint64_t> source) {
  // Worst first: a transport without a verified certificate (only the cluster's members hold
  // one); of those, one whose source holds the most places, the new transport counted (on a
  // tie the newcomer's source gives way, not an older peer's); then the one that showed
  // least; then the oldest. Places come before a hello because a hello costs a flood
  // nothing: a flood from more sources than the cap of one can fill, sending its hellos at
  // once, would otherwise close every peer whose hello is still a round trip away.
  const auto badness = [&](const Pending& pending) {
    const int shown_here = shown(pending);
    const std::size_t places = from_source(pending) + (source && pending.source == source ? 1 : 0);
    return std::make_tuple(shown_here < kShownVerified, places, -shown_here);
  };
  auto chosen = pending_.begin();
  auto chosen_badness = badness(chosen->second);
  for (auto it = std::next(pending_.begin()); it != pending_.end(); ++it) {
    const auto badness_here = badness(it->second);
    if (badness_here > chosen_badness) {  // strictly: the oldest wins a tie
      chosen = it;
      chosen_badness = badness_here;
    }
  }
  make_room(chosen,
            "closed for a newer connection: " +
                std::to_string(context_.config.max_transports_awaiting_hello) +
                " were in their handshake (max_transports_awaiting_hello)",
            kOldestClosedReason);
}

std::size_t Acceptor::from_source(const Pending& pending) const {
  return pending.source ? per_source_.at(*pending.source) : 1;
}

void Acceptor::make_room(PendingMap::iterator chosen, std::string message, const char* reason) {
  WEFT_ASSERT(chosen != pending_.end());
  const bool hello_seen = chosen->second.peer.has_value();
  context_.emit(
      event::HandshakeFailed{hello_seen ? std::string(chosen->second.hello.view().name) : "",
                             Status::busy, true, std::move(message)});
  context_.emit(event::CloseTransport{chosen->first, reason, {}});
  forget(chosen);
}

void Acceptor::on_transport_down(TransportId transport) {
  if (const auto found = pending_.find(transport); found != pending_.end()) forget(found);
}

Acceptor::PendingMap::iterator Acceptor::forget(PendingMap::iterator pending) {
  if (const std::optional<std::uint64_t> source = pending->second.source) {
    const auto count = per_source_.find(*source);
    WEFT_ASSERT(count != per_source_.end() && count->second > 0);
    if (--count->second == 0) per_source_.erase(count);
  }
  return pending_.erase(pending);
}

bool Acceptor::consistent() const {
  std::map<std::uint64_t, std::size_t> counted;
  for (const auto& [transport, pending] : pending_) {
    if (pending.source) ++counted[*pending.source];
  }
  const std::size_t per_source_cap = context_.config.max_transports_awaiting_hello_per_source;
  return counted == per_source_ &&
         pending_.size() <= context_.config.max_transports_awaiting_hello &&
         std::ranges::all_of(counted,
                             [&](const auto& count) { return count.second <= per_source_cap; });
}

int Acceptor::shown(const Pending& pending) {
  if (!pending.security.peer_names.empty()) return kShownVerified;
  return pending.peer.has_value() ? 1 : 0;
}

void Acceptor::set_security(TransportId transport, TransportSecurity security) {
  const auto found = pending_.find(transport);
  // Only before the handshake: what a transport proved cannot change under a hello.
  if (found != pending_.end() && !found->second.peer) found->second.security = std::move(security);
}

Acceptor::Outcome Acceptor::on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes,
                                     const PeerDirectory& peers) {
  const auto it = pending_.find(transport);
  if (it == pending_.end()) return {};
  while (true) {
    Pending& pending = it->second;
    const DecodeStep step = pending.decoder.next(bytes);
    if (step.status == DecodeStatus::need_more) return {};
    if (step.status == DecodeStatus::error) {
      const DecodeError& error = pending.decoder.error();
      refuse(it, pending.peer ? std::string(pending.hello.view().name) : "", Status::protocol_error,
             "error at byte " + std::to_string(error.offset) + ": " +
                 std::string(wire_error_name(error.code)) + ": " + error.message);
      return {};
    }
    bytes = bytes.subspan(step.consumed);
    if (pending.peer) return on_auth(now_ns, it, step, bytes, peers);
    if (!on_hello(now_ns, pending, step, peers, it)) return {};
  }
}

bool Acceptor::on_hello(TimeNs now_ns, Pending& pending, const DecodeStep& step,
                        const PeerDirectory& peers, PendingMap::iterator it) {
  const Frame& hello = step.frame;
  if (hello.op != Op::hello) {
    refuse(it, "", Status::protocol_error,
           "expected hello, got " + std::string(op_name(static_cast<std::uint64_t>(hello.op))));
    return false;
  }
  std::string message;
  std::optional<PeerId> peer;
  Status status = check_hello(now_ns, hello, pending, peers, peer, message);
  if (status == Status::wrong_dialer && peers.on_demand(*peer)) {
    // A knock (PROTOCOL.md §4.7): refused only once the knocker proved who it is, so that
    // nobody else can make this node dial.
    pending.knock = true;
    status = Status::ok;
  }
  if (status != Status::ok) {
    refuse(it, std::string(hello.name), status, std::move(message));
    return false;
  }
  pending.peer = peer;
  pending.hello.assign(hello);
  const Bytes header = frame_header_bytes(step.frame_bytes);
  pending.hello_header.assign(header.begin(), header.end());
  pending.version = std::min(context_.config.version_max, hello.version_max);
  // send_challenge may refuse the transport, which erases `it`: its key is read before.
  const TransportId transport = it->first;
  send_challenge(now_ns, transport, pending);
  return pending_.contains(transport);
}

// PROTOCOL.md §4.2: the acceptor's checks of a hello, in the order the document lists them.
Status Acceptor::check_hello(TimeNs now_ns, const Frame& hello, const Pending& pending,
                             const PeerDirectory& peers, std::optional<PeerId>& peer,
                             std::string& message) const {
  const NodeConfig& config = context_.config;
  if (std::max(hello.version_min, config.version_min) >
      std::min(hello.version_max, config.version_max)) {
    message = "no common protocol version: " + config.name + " speaks " +
              std::to_string(config.version_min) + ".." + std::to_string(config.version_max) +
              ", the hello offers " + std::to_string(hello.version_min) + ".." +
              std::to_string(hello.version_max);
    return Status::version_mismatch;
  }
  peer = peers.find(hello.name);
  if (!peer) {
    message = "unknown node " + std::string(hello.name);
    return Status::unknown_node;
  }
  if (hello.peer_name != config.name) {
    message = "this is " + config.name + ", not " + std::string(hello.peer_name);
    return Status::wrong_target;
  }
  if (const Status status = check_nonce(hello, message); status != Status::ok) return status;
  if (const Status status = check_transport_name(hello.name, pending.security, message);
      status != Status::ok) {
    return status;
  }
  if (const Status status = check_clock(config, context_.wall_ms(now_ns), hello.wall_ms, message);
      status != Status::ok) {
    return status;
  }
  if (!dial_rule_dials(hello.name, config.name)) {
    message = config.name + " dials " + std::string(hello.name) + ", not the other way";
    return Status::wrong_dialer;
  }
  if (peers.is_stale(*peer, hello)) {
    message = "hello of attempt " + std::to_string(hello.seq) + " is older than the connection " +
              config.name + " accepted";
    return Status::stale_hello;
  }
  return Status::ok;
}

void Acceptor::send_challenge(TimeNs now_ns, TransportId transport, Pending& pending) {
  const Nonce nonce = context_.nonces.next();
  Frame challenge = context_.handshake_frame(Op::challenge, now_ns, nonce, pending.security);
  challenge.version = pending.version;
  pending.own_checksums = (challenge.flags & flag::kChecksums) != 0;
  // The proof covers the challenge's header, so the frame is encoded once without it; the
  // header does not depend on the payload, which only the prefix's length counts.
  pending.challenge = encode_handshake(challenge);
  const auto proof = make_proof(*context_.auth, ProofRole::acceptor, pending.hello_header,
                                pending.challenge.header(), pending.security);
  if (!proof) {
    refuse(pending_.find(transport), std::string(pending.hello.view().name), Status::auth_failed,
           "this node could not make its proof");
    return;
  }
  challenge.payload = *proof;
  const std::size_t before = pending.output.size();
  pending.challenge_sent_bytes = encode_frame(pending.output, challenge);
  WEFT_ASSERT(std::ranges::equal(frame_header_bytes(pending.output.view().subspan(before)),
                                 pending.challenge.header()));
  if (!pending.transmit_marked) {
    pending.transmit_marked = true;
    context_.transmit_queue.push_back(transport);
  }
}

Acceptor::Outcome Acceptor::on_auth(TimeNs, PendingMap::iterator it, const DecodeStep& step,
                                    Bytes rest, const PeerDirectory& peers) {
  Pending& pending = it->second;
  const Frame hello = pending.hello.view();
  const std::string peer_name(hello.name);
  if (step.frame.op == Op::goaway) {
    // The dialer refused the challenge (its proof, clock, version): its reasons, reported as
    // the peer's; nothing is sent back.
    context_.emit(
        event::HandshakeFailed{peer_name, static_cast<Status>(step.frame.status), false,
                               std::string(clip_error_text(as_chars(step.frame.payload)))});
    context_.emit(event::CloseTransport{
        it->first,
        "handshake refused by the peer: " + std::string(status_name(step.frame.status)),
        {}});
    forget(it);
    return {};
  }
  if (step.frame.op != Op::auth) {
    refuse(it, peer_name, Status::protocol_error,
           "expected auth, got " + std::string(op_name(static_cast<std::uint64_t>(step.frame.op))));
    return {};
  }
  if (!pending.output.empty()) {
    // Nobody can answer a challenge it has not read: the proof cannot be for this one.
    refuse(it, peer_name, Status::protocol_error, "auth before the challenge was sent");
    return {};
  }
  std::string message;
  if (check_proof(*context_.auth, peer_name, ProofRole::dialer, pending.hello_header,
                  pending.challenge.header(), step.frame.payload, pending.security,
                  message) != Status::ok) {
    refuse(it, peer_name, Status::auth_failed, std::move(message));
    return {};
  }
  const PeerId peer = *pending.peer;
  if (peers.find(peer_name) != peer) {
    // The application removed the peer while its dialer answered the challenge: the name is
    // unknown now (or names a new relationship, which this hello was not checked against).
    refuse(it, peer_name, Status::unknown_node, "unknown node " + peer_name);
    return {};
  }
  if (pending.knock) {
    refuse(it, "", Status::wrong_dialer,
           context_.config.name + " dials " + peer_name + ", not the other way; dialing back",
           false);
    Outcome outcome;
    outcome.knock = Knock{peer};
    return outcome;
  }
  if (peers.is_stale(peer, hello)) {  // another hello of the peer was adopted meanwhile
    refuse(it, peer_name, Status::stale_hello,
           "hello of attempt " + std::to_string(hello.seq) + " is older than the connection " +
               context_.config.name + " accepted");
    return {};
  }
  Adoption adoption{.peer = peer,
                    .transport = it->first,
                    .hello = std::move(pending.hello),
                    .version = pending.version,
                    .own_checksums = pending.own_checksums,
                    .security = std::move(pending.security),
                    .proof = keep_proof(ProofRole::dialer, pending.hello_header,
                                        pending.challenge.header(), step.frame.payload),
                    .handshake_bytes = static_cast<std::size_t>(pending.decoder.stream_offset()),
                    .challenge_bytes = pending.challenge_sent_bytes,
                    .rest = rest};
  forget(it);
  Outcome outcome;
  outcome.adoption = std::move(adoption);
  return outcome;
}

void Acceptor::refuse(PendingMap::iterator it, std::string peer_name, Status status,
                      std::string message, bool report) {
  // A text built from what the dialer sent (every name its certificate holds) can be long:
  // clipped as every error text a node sends (PROTOCOL.md §9.2).
  message.resize(clip_error_text(message).size());
  ByteBuffer& bytes = it->second.output;  // what was not written yet goes first
  encode_frame(bytes, Frame{.op = Op::reject,
                            .checksum = true,
                            .status = static_cast<std::uint16_t>(status),
                            .payload = as_bytes(message)});
  if (report) context_.emit(event::HandshakeFailed{std::move(peer_name), status, true, message});
  context_.emit(event::CloseTransport{
      it->first, "handshake refused: " + message, {bytes.view().begin(), bytes.view().end()}});
  forget(it);
}

void Acceptor::on_peer_removed(PeerId peer) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const auto next = std::next(it);
    if (it->second.peer == peer) {
      std::string name(it->second.hello.view().name);
      refuse(it, name, Status::unknown_node,
             "unknown node " + name + " (removed while its handshake ran)");
    }
    it = next;
  }
}

void Acceptor::on_timer(TimeNs now_ns) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_ns > now_ns) {
      ++it;
      continue;
    }
    const bool hello_seen = it->second.peer.has_value();
    context_.emit(
        event::HandshakeFailed{hello_seen ? std::string(it->second.hello.view().name) : "",
                               Status::handshake_timeout, true,
                               hello_seen ? "no auth answered the challenge in time"
                                          : "no hello on an accepted transport in time"});
    context_.emit(event::CloseTransport{it->first, "handshake timeout", {}});
    it = forget(it);
  }
}

TimeNs Acceptor::next_deadline() const {
  TimeNs next = kNever;
  for (const auto& [transport, pending] : pending_)
    next = std::min(next, pending.deadline_ns);
  return next;
}

Bytes Acceptor::pending_output(TransportId transport) const {
  const auto found = pending_.find(transport);
  return found == pending_.end() ? Bytes{} : found->second.output.view();
}

void Acceptor::consume_output(TransportId transport, std::size_t count) {
  const auto found = pending_.find(transport);
  if (found == pending_.end()) return;
  found->second.output.consume(std::min(count, found->second.output.size()));
}

bool Acceptor::take_transmit(TransportId transport) {
  const auto found = pending_.find(transport);
  if (found == pending_.end() || !found->second.transmit_marked) return false;
  found->second.transmit_marked = false;
  return !found->second.output.empty();
}

}  // namespace weft::detail
