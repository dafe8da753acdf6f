#include "oracle.hpp"

#include <algorithm>

#include "object_oracle.hpp"

namespace weft::sim {

namespace {

// disturbed_until of a pair no fault has touched: long enough ago for any check.
constexpr TimeNs kNeverDisturbed = -1'000'000 * kSecond;

// How long after a disturbance of a pair's traffic keepalive may still drop their link:
// the silence it needs, one more ping interval, and room for delays.
TimeNs keepalive_grace_ns() {
  const ConnectionTimeouts timeouts;
  return ns_from_ms(timeouts.ping_interval_ms) * (timeouts.dead_after_pings + 1) + 5 * kSecond;
}

// The call serial in a request payload's first 8 bytes (little-endian).
std::uint64_t serial_of(const std::vector<std::uint8_t>& payload) {
  std::uint64_t serial = 0;
  for (std::size_t i = 8; i-- > 0;)
    serial = serial << 8 | payload[i];
  return serial;
}

// Whether a call (or a stream) may end with `result` whatever its handler did: the
// connection went, the deadline passed, the peer was busy; a stream also by keepalive.
bool ends_anyway(Errc result, bool stream) {
  return result == Errc::disconnected || result == Errc::deadline_exceeded ||
         result == Errc::busy || (stream && result == Errc::keepalive_timeout);
}

}  // namespace

Oracle::Oracle(Network& net, Ledger& ledger, Tracer& tracer, std::size_t nodes)
    : net_(net),
      ledger_(ledger),
      tracer_(tracer),
      disturbed_until_(nodes, std::vector<TimeNs>(nodes, kNeverDisturbed)),
      up_link_(nodes, std::vector<std::size_t>(nodes, kNoLink)),
      up_at_(nodes, std::vector<TimeNs>(nodes, kNeverDisturbed)),
      down_at_(nodes, std::vector<TimeNs>(nodes, kNeverDisturbed)),
      reshaped_at_(nodes, std::vector<TimeNs>(nodes, kNeverDisturbed)),
      adopted_(nodes, std::vector<Adopted>(nodes)),
      listed_(nodes, std::vector<bool>(nodes, true)),
      ever_unlisted_(nodes, std::vector<bool>(nodes, false)) {}

void Oracle::fail(SimResult::Kind kind, const std::string& message) {
  if (failure_) return;
  failure_ = Failure{kind, "at " + std::to_string(net_.now()) + " ns: " + message};
  net_.halt();
}

// ---- what it knows of the network ----------------------------------------------------

void Oracle::disturb(std::size_t a, std::size_t b, TimeNs until) {
  disturbed_until_[a][b] = std::max(disturbed_until_[a][b], until);
  disturbed_until_[b][a] = disturbed_until_[a][b];
}

void Oracle::calm() {
  for (auto& row : disturbed_until_) {
    for (TimeNs& until : row)
      until = std::min(until, net_.now());
  }
}

void Oracle::peer_up(std::size_t index, std::size_t other) {
  // A handshake completes on reading its last frame: the input link is the link.
  const std::size_t link_at = net_.input_link();
  up_link_[index][other] = link_at;
  // A reconnect: the first connection of a pair follows no loss.
  if (down_at_[index][other] != kNeverDisturbed) up_at_[index][other] = net_.now();
  if (link_at == kNoLink) return;
  const Link& link = net_.link(link_at);
  if (link.ghost) ledger_.objects.ghost_adopted.insert({index, other});
  if (link.hello_known && net_.side_of(link, index) == 1) check_adopted_hello(index, other, link);
}

void Oracle::node_crashed(std::size_t index, TimeNs back_by) {
  std::fill(adopted_[index].begin(), adopted_[index].end(), Adopted{});  // memory is lost
  for (std::size_t other = 0; other < up_link_.size(); ++other) {
    up_link_[index][other] = kNoLink;
    reshaped_at_[index][other] = net_.now();
    reshaped_at_[other][index] = net_.now();
    if (other != index) disturb(index, other, back_by);
  }
}

// ---- membership ----------------------------------------------------------------------

void Oracle::set_listed(std::size_t a, std::size_t b, bool listed) {
  listed_[a][b] = listed;
  reshaped_at_[a][b] = net_.now();
  reshaped_at_[b][a] = net_.now();
  if (!listed) {
    ever_unlisted_[a][b] = true;
    up_link_[a][b] = kNoLink;
  }
  // A relationship begins: its core remembers no hello of b's.
  if (listed) adopted_[a][b] = Adopted{};
}

void Oracle::removing(std::size_t index, PeerId peer) {
  removals_.emplace_back(index, net_.epoch(index), peer);
}

bool Oracle::removed(std::size_t index, PeerId peer) const {
  return net_.node(index)->connection(peer).state() == PeerState::removed;
}

// Node::remove_peer ends everything with the peer before it returns: once the node's events
// were handed out, neither its core nor the application's books hold anything with it.
void Oracle::check_removals(std::size_t index) {
  for (auto it = removals_.begin(); it != removals_.end() && !failed();) {
    // Plain copies: lambdas cannot capture structured bindings before C++20's fix (clang 14).
    const std::size_t node = std::get<0>(*it);
    const std::uint64_t epoch = std::get<1>(*it);
    const PeerId peer = std::get<2>(*it);
    if (node != index) {
      ++it;
      continue;
    }
    it = removals_.erase(it);
    if (net_.epoch(index) != epoch || !net_.node(index)) continue;  // it crashed meanwhile
    const std::string what = name(index) + "'s removal of " + name(net_.node_of(index, peer));
    const PeerStats stats = net_.node(index)->connection(peer).stats();
    if (stats.state != PeerState::removed || stats.outbound_in_flight != 0 ||
        stats.inbound_in_flight != 0 || stats.streams_open != 0 || stats.object_streams_out != 0 ||
        stats.object_streams_in != 0) {
      return fail(SimResult::Kind::safety, what + " left calls, streams or object streams open");
    }
    const auto with_peer = [&](const auto& key) {
      return std::get<0>(key) == index && std::get<1>(key) == epoch && std::get<2>(key) == peer;
    };
    for (const auto& [key, call] : ledger_.calls) {
      if (with_peer(key) && !call.done)
        return fail(SimResult::Kind::safety,
                    what + " never ended call " + std::to_string(call.serial));
    }
    for (const auto& [key, stream] : ledger_.streams) {
      if (with_peer(key) && !stream.ended)
        return fail(SimResult::Kind::safety, what + " never ended a stream it opened");
    }
    for (const auto& [key, served] : ledger_.served) {
      if (with_peer(key) && !served.ended)
        return fail(SimResult::Kind::safety, what + " never ended a stream it served");
    }
    for (const TrackedObjectStream& stream : ledger_.objects.streams) {
      if (stream.from == index && stream.from_epoch == epoch && stream.peer == peer &&
          !stream.ended)
        return fail(SimResult::Kind::safety,
                    what + " never ended object stream s" + std::to_string(stream.serial));
    }
    // A discarded object was finished by its application already; its record only waits
    // for the end that would have come on the wire.
    for (const auto& [key, reading] : ledger_.objects.readings) {
      if (with_peer(key) && !reading.discarding)
        return fail(SimResult::Kind::safety, what + " never ended an object being read");
    }
  }
}

// A node adopted the hello that opened `link` from `other`: never a wrong-way one, never
// one older than a hello it adopted before from the same incarnation.
void Oracle::check_adopted_hello(std::size_t index, std::size_t other, const Link& link) {
  Adopted& adopted = adopted_[index][other];
  if (link.wrong_way)
    return fail(SimResult::Kind::safety, name(index) + " adopted a connection from " + name(other) +
                                             ", which must not dial it");
  if (link.ghost && adopted.known && adopted.epoch == link.hello_epoch &&
      link.hello_seq <= adopted.seq) {
    return fail(SimResult::Kind::safety,
                name(index) + " adopted a stale hello (attempt " + std::to_string(link.hello_seq) +
                    ") of " + name(other) + " after its attempt " + std::to_string(adopted.seq));
  }
  adopted = Adopted{true, link.hello_epoch, link.hello_seq};
}

// ---- safety, per event ---------------------------------------------------------------

// Every queue of a node's connection to `peer` stays within its limit (checked whenever
// the node did something).
void Oracle::check_queue_limits(std::size_t index, PeerId peer) {
  Node& node = *net_.node(index);
  const ConnectionLimits& limits = node.config().limits;
  // The output buffer is filled only below the high-water mark, one frame at a time (a
  // request part, or an object's data chunk).
  const std::size_t output_limit = limits.output_high_water_bytes +
                                   std::max(limits.chunk_bytes, limits.object_chunk_bytes) + 4096;
  // Requests respect max_queued_bytes (one of up to max_message_bytes goes into empty
  // lanes); answers to the requests being served may add one payload each.
  const std::size_t data_limit = std::max(limits.max_queued_bytes, limits.max_message_bytes + 64) +
                                 limits.max_inbound_requests * (limits.max_message_bytes + 64);
  const PeerStats stats = node.connection(peer).stats();
  const char* broken = stats.outbound_in_flight > limits.max_outbound_requests   ? "outbound"
                       : stats.inbound_in_flight > limits.max_inbound_requests   ? "inbound"
                       : stats.streams_open > limits.max_streams                 ? "streams"
                       : stats.queued_control_frames > limits.max_control_frames ? "control frames"
                       : stats.queued_data_bytes > data_limit                    ? "queued data"
                       : stats.output_bytes > output_limit                       ? "output buffer"
                                                                                 : nullptr;
  if (broken == nullptr) return;
  fail(SimResult::Kind::safety, name(index) + "'s " + broken + " queue to " +
                                    name(net_.node_of(index, peer)) + " is over its limit");
}

// Keepalive drops a link whose peer stopped answering: it sent nothing ("peer silent ...")
// or only part of a frame ("no whole frame from the peer ...", Connection::on_timer).
// Between two correct nodes on a link no fault has touched for a while, the peer always
// answers: a drop there means one of them stopped reading or writing for good (a deadlock,
// or a writer stopped in the middle of a frame).
void Oracle::check_keepalive_drop(std::size_t index, PeerId peer, const std::string& reason) {
  const bool silent = reason.rfind("peer silent", 0) == 0;
  const bool part_of_a_frame = reason.rfind("no whole frame from the peer", 0) == 0;
  if (!silent && !part_of_a_frame) return;
  const std::size_t other = net_.node_of(index, peer);
  const std::size_t link_at = up_link_[index][other];
  if (link_at == kNoLink) return;
  const Link& link = net_.link(link_at);
  // The peer's end is gone: silence is right.
  if (!link.open[1 - net_.side_of(link, index)]) return;
  // A flipped bit in a frame's length makes the decoder wait for bytes that never come.
  if (part_of_a_frame && link.corruptions > 0) return;
  if (net_.now() < disturbed_until_[index][other] + keepalive_grace_ns()) return;
  fail(SimResult::Kind::liveness, name(index) + " dropped its healthy link to " + name(other) +
                                      " (" + reason + "): a reader or writer stopped for good");
}

// A call may end disconnected when its connection went: the link it was sent on is closed
// at the caller (a node closes its side before it fails the link's calls), it was made with
// no link up, or a fault touched the pair lately. Connections on demand also end calls so
// when a knock or an idle close goes wrong (connection_on_demand.cpp): not checked there.
bool Oracle::disconnect_explained(std::size_t index, const TrackedCall& call) const {
  if (net_.node(index)->config().connect_on_demand) return true;
  const std::size_t link_at =
      call.serial < ledger_.call_links.size() ? ledger_.call_links[call.serial] : kNoLink;
  if (link_at == kNoLink) return true;
  const Link& link = net_.link(link_at);
  if (!link.open[net_.side_of(link, index)]) return true;
  return net_.now() < disturbed_until_[index][call.to] + keepalive_grace_ns();
}

bool Oracle::connection_loss_explained(std::size_t index, std::size_t other, TimeNs fault_window_ns,
                                       std::optional<TimeNs> reconnect_window_ns) const {
  if (net_.node(index)->config().connect_on_demand) return true;
  const std::size_t link_at = up_link_[index][other];
  if (link_at == kNoLink || !net_.link(link_at).open[net_.side_of(net_.link(link_at), index)])
    return true;
  const TimeNs now = net_.now();
  const TimeNs faults_since = now - fault_window_ns - keepalive_grace_ns();
  if (down_at_[index][other] >= faults_since || disturbed_until_[index][other] >= faults_since ||
      reshaped_at_[index][other] >= faults_since)
    return true;
  // An open or resume on a fresh connection is answered within a few round trips, spikes
  // included, unless a fault held the pair (checked above).
  constexpr TimeNs kAnswerSlackNs = 5 * kSecond;
  return reconnect_window_ns && up_at_[index][other] >= now - *reconnect_window_ns - kAnswerSlackNs;
}

// Two correct nodes never send each other malformed frames: a protocol error needs a bit
// flip on that link (or, for a peer that stopped reading, a recent disturbance).
void Oracle::check_protocol_error(std::size_t index, const event::CloseTransport& close) {
  if (close.reason.rfind("protocol error", 0) != 0) return;
  int side = 0;
  const Link* link = net_.link_of(index, close.transport, &side);
  if (link == nullptr || link->corruptions > 0) return;
  const std::size_t other = link->node[1 - side];
  if (close.reason.find("does not read") != std::string::npos &&
      net_.now() < disturbed_until_[index][other] + keepalive_grace_ns())
    return;
  fail(SimResult::Kind::safety,
       name(index) + " found a protocol error on a clean link: " + close.reason);
}

// Only a ghost's hello may be refused for what the setup rules out, and a node that does not
// list the dialer (membership) refuses it as unknown_node: the refusing side is checked
// against what it lists now, the refused side against whether the refuser ever stopped
// listing it.
void Oracle::check_handshake_failure(std::size_t index, const event::HandshakeFailed& failed) {
  const std::size_t link_at = net_.input_link();
  const bool ghost = link_at != kNoLink && net_.link(link_at).ghost;
  const std::size_t other = net_.index_of(failed.peer_name);
  if (!ghost && failed.status == Status::unknown_node && other != kNoNode) {
    const bool right =
        failed.rejected_by_us ? !listed_[index][other] : ever_unlisted_[other][index];
    if (right) return;
  }
  // Nor clock_skew: the simulator skews wall clocks by at most 120 s a node (FaultRates::
  // max_skew_ms), under the 300 s ConnectionTimeouts::max_clock_skew_ms allows.
  if (!ghost &&
      (failed.status == Status::auth_failed || failed.status == Status::unknown_node ||
       failed.status == Status::wrong_dialer || failed.status == Status::version_mismatch ||
       failed.status == Status::clock_skew || failed.status == Status::wrong_target)) {
    fail(SimResult::Kind::safety, "handshake refused for no reason: " + failed.message);
  }
}

// A request reaches the serving application at most once, and on the connection it was sent
// on: one delivered on a later connection is a frame of an old generation. (On demand a
// request legitimately goes out on a later connection: made while the connection was down,
// or sent again after the peer's goaway(idle) showed it unread; PROTOCOL.md §4.7.)
void Oracle::check_request_link(std::size_t index, const event::RequestReceived& request) {
  if (removed(index, request.peer))
    return fail(SimResult::Kind::safety, "a request from a removed peer reached " + name(index));
  const std::size_t input_link = net_.input_link();
  if (request.payload.size() < 8 || input_link == kNoLink) return;
  const std::uint64_t serial = serial_of(request.payload);
  if (serial < ledger_.call_links.size()) {
    if (received_.size() <= serial) received_.resize(serial + 1, false);
    if (received_[serial]) {
      return fail(SimResult::Kind::safety,
                  "call " + std::to_string(serial) + " reached " + name(index) + " twice");
    }
    received_[serial] = true;
  }
  if (net_.node(index)->config().connect_on_demand) return;
  if (serial >= ledger_.call_links.size() || ledger_.call_links[serial] == input_link) return;
  fail(SimResult::Kind::safety, "call " + std::to_string(serial) + " reached " + name(index) +
                                    " on link " + std::to_string(input_link) + ", sent on link " +
                                    std::to_string(ledger_.call_links[serial]) +
                                    ": a frame of an old generation");
}

void Oracle::request_done(std::size_t index, const event::RequestDone& done) {
  const auto found = ledger_.calls.find({index, net_.epoch(index), done.peer, done.id});
  if (found == ledger_.calls.end())
    return fail(SimResult::Kind::safety, "RequestDone for a call never started");
  TrackedCall& call = found->second;
  if (call.done) return fail(SimResult::Kind::safety, "a call ended twice");
  call.done = true;
  ledger_.call_outcomes[call.serial] = Outcome{true, false, done.result};
  const SharedBytes sent = std::move(call.payload);  // an ended call holds no memory
  tracer_.chrome('e', index, "request", "r" + std::to_string(call.serial));
  tracer_.trace({"done ", name(index), " ", errc_name(done.result)});
  const TimeNs now = net_.now();
  if (now > call.deadline_ns + 1'000'000) {
    return fail(SimResult::Kind::safety, "a call ended " + std::to_string(now - call.deadline_ns) +
                                             " ns after its deadline");
  }
  // remove_peer ends every call with the peer at once, with peer_removed.
  if (removed(index, done.peer) && done.result != Errc::peer_removed) {
    return fail(SimResult::Kind::safety,
                "a call to a removed peer ended with " + std::string(errc_name(done.result)));
  }
  switch (done.result) {
    case Errc::ok:
      if (call.handler != kEcho && call.handler != kSlow)
        return fail(SimResult::Kind::safety, "ok from a handler that never succeeds");
      if (!std::ranges::equal(done.payload, sent.view()))
        return fail(SimResult::Kind::safety, "a response carried other bytes than the handler's");
      ++ledger_.completed_ok;
      return;
    case Errc::remote_error:
      if (call.handler != kError)
        return fail(SimResult::Kind::safety, "remote_error from a handler that never fails");
      if (std::string(done.payload.begin(), done.payload.end()) !=
          "err" + std::to_string(sent.size())) {
        return fail(SimResult::Kind::safety, "a remote error carried another message");
      }
      return;
    case Errc::canceled:
      if (!call.canceled) return fail(SimResult::Kind::safety, "canceled without a cancel");
      return;
    case Errc::peer_removed:
      if (!removed(index, done.peer))
        return fail(SimResult::Kind::safety, "a call ended peer_removed, its peer not removed");
      return;
    case Errc::disconnected:
      if (!disconnect_explained(index, call)) {
        return fail(SimResult::Kind::safety,
                    "call " + std::to_string(call.serial) + " from " + name(index) + " to " +
                        name(call.to) + " ended disconnected on a live link no fault touched");
      }
      return;
    default:
      if (!ends_anyway(done.result, false))
        fail(SimResult::Kind::safety, "unexpected result " + std::string(errc_name(done.result)));
  }
}

// A stream reached its handler: the serving side's record begins.
void Oracle::stream_opened(std::size_t index, const event::StreamOpened& opened) {
  tracer_.trace({"stream opened at ", name(index)});
  const StreamKey key{index, net_.epoch(index), opened.peer, opened.id.generation, opened.id.mux};
  if (removed(index, opened.peer))
    return fail(SimResult::Kind::safety, "a stream from a removed peer reached " + name(index));
  if (ledger_.served.contains(key)) return fail(SimResult::Kind::safety, "a stream opened twice");
  ledger_.served[key] = ServedStream{.pending = {}, .stuck = opened.handler == kStreamStuck};
}

// Neither side of a stream may ever hold more than the window it granted or was granted.
void Oracle::check_credits(std::size_t index, PeerId peer, StreamId id) {
  const std::optional<StreamCredits> credits =
      net_.node(index)->connection(peer).stream_credits(id);
  if (!credits) return;
  if (credits->unread_msgs > credits->window_msgs ||
      credits->unread_bytes > credits->window_bytes) {
    return fail(SimResult::Kind::safety,
                "a stream inbox at " + name(index) + " holds more than the window it granted");
  }
  if (credits->send_msgs > credits->peer_window_msgs ||
      credits->send_bytes > credits->peer_window_bytes) {
    fail(SimResult::Kind::safety,
         "a stream at " + name(index) + " may send more than its peer's window");
  }
}

bool Oracle::echo_read(TrackedStream& stream, std::uint64_t mux, Bytes message) {
  const std::vector<std::uint8_t> expected = stream_message(mux, stream.echoes + 1);
  if (!bytes_equal(message, expected)) {
    fail(SimResult::Kind::safety, "a stream echo out of order or corrupted");
    return false;
  }
  if (++stream.echoes > stream.written) {
    fail(SimResult::Kind::safety, "an echo of a message never written");
    return false;
  }
  return true;
}

void Oracle::stream_ended(std::size_t index, const event::StreamEnded& ended) {
  tracer_.trace({"stream ended at ", name(index), " ", errc_name(ended.result)});
  const StreamKey key{index, net_.epoch(index), ended.peer, ended.id.generation, ended.id.mux};
  if (const auto opener = ledger_.streams.find(key); opener != ledger_.streams.end()) {
    TrackedStream& stream = opener->second;
    if (stream.ended) return fail(SimResult::Kind::safety, "a stream ended twice for its opener");
    stream.ended = true;
    ledger_.stream_outcomes[stream.serial] = Outcome{true, false, ended.result};
    if (stream.deadline_ns != kNever && net_.now() > stream.deadline_ns + 1'000'000) {
      return fail(SimResult::Kind::safety, "a stream ended after its deadline");
    }
    if ((ended.result == Errc::peer_removed) != removed(index, ended.peer)) {
      return fail(
          SimResult::Kind::safety,
          "a stream ended " + std::string(errc_name(ended.result)) +
              (removed(index, ended.peer) ? ", its peer removed" : ", its peer not removed"));
    }
    switch (ended.result) {
      case Errc::ok:
        if (stream.echoes != stream.messages)
          return fail(SimResult::Kind::safety, "a stream ended ok without every echo");
        return;
      case Errc::canceled:
        if (!stream.canceled)
          return fail(SimResult::Kind::safety, "a stream canceled without a cancel");
        return;
      case Errc::peer_removed:
        return;  // checked above
      default:
        if (!ends_anyway(ended.result, true))
          fail(SimResult::Kind::safety,
               "a stream ended with " + std::string(errc_name(ended.result)));
        return;
    }
  }
  const auto served = ledger_.served.find(key);
  if (served == ledger_.served.end())
    return fail(SimResult::Kind::safety, "StreamEnded for a stream never opened");
  if (served->second.ended)
    return fail(SimResult::Kind::safety, "a stream ended twice for its handler");
  served->second.ended = true;
}

// ---- liveness ------------------------------------------------------------------------

void Oracle::check_liveness() {
  if (std::optional<std::string> problem = liveness_problem())
    fail(SimResult::Kind::liveness, std::move(*problem));
}

std::optional<std::string> Oracle::liveness_problem() const {
  for (const auto& [key, stream] : ledger_.streams) {
    if (!stream.ended) return "a stream from " + name(stream.from) + " never ended";
  }
  for (const auto& [key, served] : ledger_.served) {
    if (!served.ended) return "a served stream never ended";
  }
  for (const auto& [key, call] : ledger_.calls) {
    if (!call.done) {
      return "a call from " + name(call.from) + " to " + name(call.to) + " never ended";
    }
  }
  if (std::optional<std::string> objects = object_liveness_problem(net_, ledger_.objects))
    return objects;
  for (std::size_t i = 0; i < net_.node_count(); ++i) {
    if (!net_.node(i)) return name(i) + " is down";
    Node& node = *net_.node(i);
    const bool on_demand = node.config().connect_on_demand;
    for (PeerId p = 0; p < node.peer_count(); ++p) {
      const PeerStats stats = node.connection(p).stats();
      if (stats.state == PeerState::removed) continue;  // check_removals saw it empty
      const std::string& peer = name(net_.node_of(i, p));
      // On demand every connection has closed idle by now; otherwise every pair is up.
      if (on_demand && stats.state != PeerState::idle) {
        return name(i) + " still holds its connection to " + peer + " (" +
               std::string(peer_state_name(stats.state)) + ") after the quiet phase";
      }
      if (!on_demand && stats.state != PeerState::established)
        return name(i) + " never reconnected to " + peer;
      if (stats.outbound_in_flight != 0 || stats.inbound_in_flight != 0 ||
          stats.streams_open != 0) {
        return name(i) + " still has calls open with " + peer;
      }
    }
  }
  return leaked_connection();
}

// When all is quiet every pair holds exactly one connection, the one it is up on, and
// no transport is open at one end only.
std::optional<std::string> Oracle::leaked_connection() const {
  const std::size_t n = net_.node_count();
  std::vector<std::vector<int>> open_links(n, std::vector<int>(n, 0));
  for (std::size_t link_at = 0; link_at < net_.link_count(); ++link_at) {
    const Link& link = net_.link(link_at);
    // Named only when reported: the settled drain asks this every simulated second.
    const auto pair = [&] { return name(link.node[0]) + "-" + name(link.node[1]); };
    if (link.open[0] != link.open[1] && !(link.ghost && !link.open[1]))
      return "a connection " + pair() + " is open at one end only";
    if (!link.open[0] || !link.open[1]) continue;
    if (up_link_[link.node[0]][link.node[1]] != link_at ||
        up_link_[link.node[1]][link.node[0]] != link_at)
      return "a connection " + pair() + " is open but unused";
    ++open_links[std::min(link.node[0], link.node[1])][std::max(link.node[0], link.node[1])];
  }
  for (std::size_t a = 0; a < n; ++a) {
    const bool on_demand = net_.node(a)->config().connect_on_demand;
    for (std::size_t b = a + 1; b < n; ++b) {
      if (open_links[a][b] != (on_demand ? 0 : 1)) {
        return name(a) + "-" + name(b) + " holds " + std::to_string(open_links[a][b]) +
               " connections";
      }
    }
  }
  return std::nullopt;
}

}  // namespace weft::sim
