#include "network.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>

#include "weft/wire.hpp"

namespace weft::sim {

TimeNs exponential(Rng& rng, double per_s) {
  return static_cast<TimeNs>(-std::log(1.0 - rng.unit()) / per_s * static_cast<double>(kSecond)) +
         1;
}

Network::Network(const NetworkOptions& options, Rng fault_rng, NetworkHost& host)
    : options_(options), host_(host), fault_rng_(fault_rng) {}

// ---- nodes ----------------------------------------------------------------------------

std::size_t Network::add_node(std::string name) {
  Slot& slot = slots_.emplace_back();
  slot.name = std::move(name);
  const std::size_t n = slots_.size();
  index_by_name_.emplace(slot.name, n - 1);  // the first of a name, as index_of says
  for (auto& row : blocked_until_)
    row.push_back(0);
  blocked_until_.emplace_back(n, 0);
  paused_until_.push_back(0);
  waiting_input_.emplace_back();
  if (tls()) make_tls_context(n - 1);
  // A peer name that named nobody may name this node now.
  for (std::size_t i = 0; i + 1 < n; ++i) {
    if (slots_[i].node) resolve_peers(i);
  }
  return n - 1;
}

Node& Network::start(std::size_t index, NodeConfig config) {
  Slot& slot = slots_[index];
  slot.node = std::make_unique<Node>(std::move(config), now_, wall_ms(index));
  resolve_peers(index);
  return *slot.node;
}

// From the node's own peer list, which Node::add_peer can grow while it runs (ids are never
// reused; a removed peer keeps its id, and the live one of a name is the last).
void Network::resolve_peers(std::size_t index) {
  Slot& slot = slots_[index];
  Node& node = *slot.node;
  slot.peer_nodes.assign(node.peer_count(), kNoNode);
  slot.peer_ids.assign(slots_.size(), kNoPeer);
  for (PeerId peer = 0; peer < node.peer_count(); ++peer) {
    PeerConnection connection = node.connection(peer);
    const std::size_t other = index_of(connection.name());
    slot.peer_nodes[peer] = other;
    if (other != kNoNode && connection.state() != PeerState::removed) slot.peer_ids[other] = peer;
  }
}

std::size_t Network::index_of(std::string_view name) const {
  // A map, not a scan: every node resolves all its peers' names (a million at 1000 nodes).
  const auto found = index_by_name_.find(name);
  return found == index_by_name_.end() ? kNoNode : found->second;
}

void Network::crash(std::size_t index) {
  Slot& slot = slots_[index];
  if (!slot.node) return;
  // Links of the dead incarnation: the peer learns at once (reset) or later (half-open).
  for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
    Link& link = links_[link_at];
    for (int side = 0; side < 2; ++side) {
      if (link.node[side] != index || link.epoch[side] != slot.epoch || !link.open[side]) continue;
      side_closed(link_at, side);
      peer_learns_of_reset(link_at, 1 - side);
    }
  }
  slot.node.reset();
  slot.abandoned_dials.clear();
  waiting_input_[index].clear();
  ++slot.epoch;
}

bool Network::reading(std::size_t index) const {
  return slots_[index].node && now_ >= paused_until_[index] &&
         slots_[index].node->accepting_input();
}

// ---- time -----------------------------------------------------------------------------

bool Network::run_until(TimeNs end, const std::function<bool()>& done) {
  while (!halted_) {
    pump();
    if (halted_) break;
    if (done && done()) return true;
    TimeNs next = queue_.next_time();
    for (const Slot& slot : slots_) {
      if (slot.node) next = std::min(next, slot.node->next_deadline());
    }
    if (next > end) break;
    spins_ = next <= now_ ? spins_ + 1 : 0;
    if (spins_ > 100'000) {
      report_stuck_timer();
      break;
    }
    now_ = std::max(now_, next);
    step();
  }
  return false;
}

void Network::step() {
  std::uint64_t steps = 0;
  while (!halted_) {
    std::optional<std::function<void()>> action = queue_.pop_due(now_);
    if (!action) break;
    (*action)();
    if (++steps > options_.max_steps_per_instant)
      return host_.on_stuck("livelock: no progress in time");
  }
  for (Slot& slot : slots_) {
    if (slot.node && slot.node->next_deadline() <= now_) slot.node->on_timer(now_);
  }
}

// A node whose deadline stays at or before now after on_timer: the core's timers never
// advance, so the simulation cannot either.
void Network::report_stuck_timer() {
  for (const Slot& slot : slots_) {
    if (!slot.node || slot.node->next_deadline() > now_) continue;
    std::string states;
    for (PeerId p = 0; p < slot.node->peer_count(); ++p) {
      states += " " + std::string(peer_state_name(slot.node->connection(p).state()));
    }
    return host_.on_stuck("timer of " + slot.name + " stuck at " +
                          std::to_string(slot.node->next_deadline()) + "; peers:" + states);
  }
  host_.on_stuck("time does not advance: " + std::to_string(queue_.size()) + " actions, next at " +
                 std::to_string(queue_.empty() ? -1 : queue_.next_time()));
}

void Network::pump() {
  for (bool moved = true; moved && !halted_;) {
    moved = false;
    for (std::size_t index = 0; index < slots_.size(); ++index) {
      // Most nodes are idle at most steps: skip them before pump_node's heavy frame.
      if (slots_[index].node && slots_[index].node->has_output()) {
        moved = pump_node(index) || moved;
      }
      if (!waiting_input_[index].empty() && reading(index)) {
        moved = true;
        feed_waiting(index);
      }
    }
  }
}

Network::ScratchPeers::ScratchPeers(std::vector<std::vector<PeerId>>& pool_in) : pool(pool_in) {
  if (!pool.empty()) {
    list = std::move(pool.back());
    pool.pop_back();
  }
}

Network::ScratchPeers::~ScratchPeers() {
  list.clear();
  pool.push_back(std::move(list));
}

// Hands a node's events to the host and writes its output; true if there was any. The host
// learns which connections this touched.
bool Network::pump_node(std::size_t index) {
  bool moved = false;
  if (!slots_[index].node) return false;
  // The application may have added peers (Node::add_peer) since the list was resolved.
  if (slots_[index].node->peer_count() != slots_[index].peer_nodes.size()) resolve_peers(index);
  ScratchPeers scratch(spare_peer_lists_);
  std::vector<PeerId>& touched = scratch.list;
  while (std::optional<Event> event = slots_[index].node->poll_event()) {
    moved = true;
    std::visit(
        [&touched](const auto& e) {
          if constexpr (requires { e.peer; }) touched.push_back(static_cast<PeerId>(e.peer));
        },
        *event);
    host_.on_event(index, std::move(*event));
    if (!slots_[index].node) return true;
  }
  while (std::optional<TransportId> transport = slots_[index].node->poll_transmit()) {
    moved = true;
    int side = 0;
    if (const Link* link = link_of(index, *transport, &side)) {
      const PeerId peer = peer_of(index, link->node[1 - side]);
      if (peer != kNoPeer) touched.push_back(peer);
    }
    drain(index, *transport);
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  host_.on_pumped(index, touched);
  return moved;
}

// ---- links ----------------------------------------------------------------------------

std::size_t Network::link_at_of(std::size_t index, TransportId transport) const {
  const auto found = link_index_.find({index, slots_[index].epoch, transport});
  return found == link_index_.end() ? kNoLink : found->second;
}

const Link* Network::link_of(std::size_t index, TransportId transport, int* side) const {
  const std::size_t link_at = link_at_of(index, transport);
  if (link_at == kNoLink) return nullptr;
  const Link& link = links_[link_at];
  *side = side_of(link, index);
  return &link;
}

std::vector<std::size_t> Network::open_links() const {
  std::vector<std::size_t> open;
  for (std::size_t i = 0; i < links_.size(); ++i) {
    if (links_[i].open[0] && links_[i].open[1]) open.push_back(i);
  }
  return open;
}

// Schedules the next `piece_bytes` of what `from_side` put on the wire to arrive.
void Network::deliver_later(std::size_t link_at, int from_side, std::size_t piece_bytes) {
  Link& link = links_[link_at];
  const std::size_t from = link.node[from_side];
  const std::size_t to = link.node[1 - from_side];
  const FaultRates& rates = options_.rates;
  TimeNs arrival = now_ + rates.latency_ns;
  if (rates.jitter_ns > 0)
    arrival += static_cast<TimeNs>(link.rng.below(static_cast<std::uint64_t>(rates.jitter_ns)));
  // A spike is far shorter than keepalive's patience, so it does not count as a disturbance.
  if (faults_on_ && rates.spike_chance > 0 && link.rng.unit() < rates.spike_chance)
    arrival += rates.spike_ns;
  // Never before an earlier piece: pieces arrive in the order they were sent, so the
  // delivery actions of one direction run in FIFO order. A block until heal() has no end
  // to wait for: arrive() parks the piece and lift_blocks() sends it on.
  const TimeNs blocked = blocked_until_[from][to];
  arrival = std::max({arrival, link.last_arrival[from_side], link.held_until[from_side],
                      blocked >= kUntilHealed ? 0 : blocked});
  link.last_arrival[from_side] = arrival;
  link.pieces[from_side].push_back(piece_bytes);
  schedule_arrival(arrival, link_at, from_side);
}

void Network::schedule_arrival(TimeNs when, std::size_t link_at, int from_side) {
  // Two words of capture: std::function keeps it without a heap allocation.
  at(when, [this, direction = 2 * link_at + static_cast<std::size_t>(from_side)] {
    arrive(direction / 2, static_cast<int>(direction % 2));
  });
}

// The oldest piece `from_side` sent reaches the other side (lost if that side closed).
void Network::arrive(std::size_t link_at, int from_side) {
  Link& link = links_[link_at];
  const TimeNs blocked = blocked_until_[link.node[from_side]][link.node[1 - from_side]];
  if (blocked > now_ && link.open[1 - from_side]) {
    // A block that began after the write holds the bytes too.
    if (blocked >= kUntilHealed) {
      ++link.parked[from_side];
    } else {
      schedule_arrival(blocked, link_at, from_side);
    }
    return;
  }
  const std::size_t piece_bytes = link.pieces[from_side].front();
  link.pieces[from_side].pop_front();
  const int to_side = 1 - from_side;
  if (link.open[to_side]) {
    const Bytes piece = link.in_transit[from_side].view().first(piece_bytes);
    link.arrived[to_side].insert(link.arrived[to_side].end(), piece.begin(), piece.end());
  }
  link.in_transit[from_side].consume(piece_bytes);
  if (link.open[to_side]) return feed(link_at, to_side);
  link.in_transit[from_side].release_if_empty(0);  // a dead link keeps no memory
}

// Hands the bytes that arrived at `side` of a link to its node if it is reading (else
// they wait), frees that much of the writer's send buffer, and lets the writer go on.
void Network::feed(std::size_t link_at, int side) {
  Link& link = links_[link_at];
  const std::size_t receiver = link.node[side];
  if (!link.open[side] || !slots_[receiver].node || slots_[receiver].epoch != link.epoch[side]) {
    link.arrived[side].clear();
    return;
  }
  if (link.arrived[side].empty()) return;
  if (!reading(receiver)) {
    waiting_input_[receiver].insert(link_at);
    return;
  }
  // Swapped, not moved, out of `arrived`: both vectors keep their memory for the next
  // delivery. The node takes the bytes within on_bytes (the core calls nothing back), so
  // `feeding` is empty again before anything else can reach this link.
  std::vector<std::uint8_t>& bytes = link.feeding[side];
  bytes.swap(link.arrived[side]);
  link.in_flight[1 - side] -= std::min(link.in_flight[1 - side], bytes.size());
  input_link_ = link_at;
  if (link.tls[side]) {
    receive_tls(link_at, side, bytes);
  } else {
    slots_[receiver].node->on_bytes(now_, link.transport[side], bytes);
  }
  bytes.clear();
  pump_node(receiver);  // events caused by these bytes are known to come from this link
  input_link_ = kNoLink;
  const Link& after = links_[link_at];
  const std::size_t writer = after.node[1 - side];
  // Like Linux, a blocked writer wakes only once a third of its send buffer is free: waking
  // it per piece would make it write ever smaller pieces.
  const bool writable = after.in_flight[1 - side] <= options_.rates.send_buffer_bytes / 3 * 2;
  if (after.wants_write[1 - side] && writable && after.open[1 - side] && slots_[writer].node &&
      slots_[writer].epoch == after.epoch[1 - side]) {
    drain(writer, after.transport[1 - side]);
  }
}

// Feeds every link whose bytes waited for `index` to read again.
void Network::feed_waiting(std::size_t index) {
  const std::set<std::size_t> waiting = std::move(waiting_input_[index]);
  waiting_input_[index].clear();
  for (std::size_t link_at : waiting)
    feed(link_at, side_of(links_[link_at], index));
}

// Flips a bit as the rate says, then cuts the bytes into deliveries as chunking says.
void Network::send(std::size_t link_at, int from_side, Bytes bytes) {
  if (bytes.empty()) return;
  const FaultRates& rates = options_.rates;
  Rng& rng = links_[link_at].rng;
  std::uint8_t* const sent = links_[link_at].in_transit[from_side].extend(bytes.size());
  std::memcpy(sent, bytes.data(), bytes.size());
  if (faults_on_ && rates.bitflip_per_mib > 0 &&
      rng.unit() < rates.bitflip_per_mib * static_cast<double>(bytes.size()) / (1 << 20)) {
    const std::uint64_t bit = rng.below(bytes.size() * 8);
    sent[bit / 8] = static_cast<std::uint8_t>(sent[bit / 8] ^ (1u << (bit % 8)));
    ++links_[link_at].corruptions;
    ++faults_;
    host_.on_bitflip(link_at, from_side);
  }
  std::size_t at_byte = 0;
  while (at_byte < bytes.size()) {
    std::size_t piece = bytes.size() - at_byte;
    if (rates.chunking >= 1) piece = std::min(piece, 1 + rng.below(options_.max_piece_bytes));
    if (rates.chunking >= 2 && rng.unit() < 0.1) piece = 1;
    deliver_later(link_at, from_side, piece);
    at_byte += piece;
  }
}

namespace {

// The bytes `node` has to write on `transport` now, over the pieces of its output (it holds
// about its high-water mark: a few pieces).
std::size_t output_size(Node& node, TransportId transport) {
  std::array<Bytes, 64> pieces;
  const std::size_t count = node.pending_output_pieces(transport, pieces);
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i)
    total += pieces[i].size();
  return total;
}

}  // namespace

// Writes what the send buffer has room for; the rest waits until the reader takes some.
void Network::drain(std::size_t index, TransportId transport) {
  const std::size_t link_at = link_at_of(index, transport);
  Link* link = link_at == kNoLink ? nullptr : &links_[link_at];
  const int side = link == nullptr ? 0 : side_of(*link, index);
  Node& node = *slots_[index].node;
  // A TLS side may have ciphertext of its own to write (its handshake) with no output.
  const bool tls_side = link != nullptr && link->tls[side] != nullptr;
  const Bytes output = node.pending_output(transport);
  if (output.empty() && !tls_side) return;
  if (link == nullptr || !link->open[side]) {
    node.consume_output(transport, output_size(node, transport));  // into a dead socket
    return;
  }
  if (!write_blocked_.empty() && write_blocked_.contains({index, link->node[1 - side]})) {
    link->wants_write[side] = true;  // set_write_blocked(..., false) writes it
    return;
  }
  if (tls_side) return drain_tls(index, transport, *link, side);
  if (slots_[index].muted) {
    node.consume_output(transport, output_size(node, transport));  // on the floor
    return;
  }
  // The output comes in pieces (a large payload is one of its own): write them in order
  // while the send buffer has room.
  const std::size_t buffer = options_.rates.send_buffer_bytes;
  for (Bytes piece = output; !piece.empty(); piece = node.pending_output(transport)) {
    std::size_t room = piece.size();
    if (buffer > 0) room = buffer - std::min(buffer, link->in_flight[side]);
    if (side == 0 && !link->hello_known) capture_hello(*link, piece);
    const std::size_t count = std::min(room, piece.size());
    link->wants_write[side] = count < piece.size();
    if (count == 0) return;
    link->in_flight[side] += count;
    capture(*link, side, piece.first(count));
    send(link_at, side, piece.first(count));
    node.consume_output(transport, count);
    if (link->wants_write[side]) return;
  }
}

// A new link from (from, its epoch) to the current process of `to`, which accepts it.
std::size_t Network::new_link(std::size_t from, std::uint64_t from_epoch, std::size_t to) {
  // Each simulated node is a host of its own: its slot is the transport's source.
  const TransportId accepted = slots_[to].node->on_accepted(now_, from);
  Link& link = links_.emplace_back();  // in place: moving a Link allocates (its deques)
  link.node[0] = from;
  link.node[1] = to;
  link.epoch[0] = from_epoch;
  link.epoch[1] = slots_[to].epoch;
  link.transport[1] = accepted;
  link.rng = fault_rng_.split();
  link_index_[{to, slots_[to].epoch, accepted}] = links_.size() - 1;
  if (tls()) link.tls[1] = make_tls(to, accepted, links_.size() - 1, 1, {});
  return links_.size() - 1;
}

void Network::dial(std::size_t from, PeerId peer, TransportId transport) {
  if (peer >= slots_[from].peer_nodes.size()) resolve_peers(from);  // a peer added since
  const std::size_t to = node_of(from, peer);
  slots_[from].dials.push_back(now_);
  // After the fault phase every dial goes through (links have healed).
  const double roll = faults_on_ ? fault_rng_.unit() : 1.0;
  const bool blocked =
      to != kNoNode && (blocked_until_[from][to] > now_ || blocked_until_[to][from] > now_);
  const FaultRates& rates = options_.rates;
  if (blocked || roll < rates.hang_chance) {
    ++faults_;
    return;  // no answer: the dialer's connect timeout ends it
  }
  const std::uint64_t from_epoch = slots_[from].epoch;
  at(now_ + rates.latency_ns, [this, from, to, transport, from_epoch,
                               refused = roll < rates.hang_chance + rates.refuse_chance] {
    Slot& dialer = slots_[from];
    if (!dialer.node || dialer.epoch != from_epoch) return;
    if (dialer.abandoned_dials.erase(transport) > 0) return;
    if (to == kNoNode) return dialer.node->on_connect_failed(now_, transport, "no such host");
    if (refused || !slots_[to].node || unreachable(from, to)) {
      if (refused) ++faults_;
      dialer.node->on_connect_failed(now_, transport, "connection refused");
      return;
    }
    const std::size_t link_at = new_link(from, from_epoch, to);
    links_[link_at].transport[0] = transport;
    host_.on_transport_opened(link_at);
    link_index_[{from, from_epoch, transport}] = link_at;
    if (!tls()) return dialer.node->on_connected(now_, transport);
    // Under TLS the dialer hears on_connected once the TLS handshake is done.
    links_[link_at].tls[0] = make_tls(from, transport, link_at, 0, slots_[to].name);
    drain(from, transport);  // the client's first flight
  });
}

void Network::close_transport(std::size_t index, event::CloseTransport&& close) {
  const std::size_t link_at = link_at_of(index, close.transport);
  if (link_at == kNoLink) {
    slots_[index].abandoned_dials.insert(close.transport);  // its connect is still in flight
    return;
  }
  Link* link = &links_[link_at];
  const int side = side_of(*link, index);
  if (!link->open[side]) return;
  Bytes final_bytes = close.final_bytes;
  if (link->tls[side]) {  // the node's last bytes, encrypted, then close_notify
    link->tls[side]->close(final_bytes);
    capture(*link, side, close.final_bytes);
    final_bytes = link->tls[side]->ciphertext();
  } else if (!slots_[index].muted) {
    capture(*link, side, final_bytes);
  }
  if (!slots_[index].muted && !final_bytes.empty()) send(link_at, side, final_bytes);
  close_side(link_at, side);
}

void Network::close_side(std::size_t link_at, int side) {
  side_closed(link_at, side);
  // The peer sees the close after the bytes before it.
  const Link& link = links_[link_at];
  const TimeNs when = std::max(now_ + options_.rates.latency_ns, link.last_arrival[side]);
  schedule_close_notice(when, link_at, side);
}

void Network::schedule_close_notice(TimeNs when, std::size_t link_at, int side) {
  at(when, [this, link_at, side] {
    Link& link = links_[link_at];
    // A block until heal() holds the close too, behind the bytes it parked.
    if (link.open[1 - side] &&
        blocked_until_[link.node[side]][link.node[1 - side]] >= kUntilHealed) {
      link.close_parked[side] = true;
      return;
    }
    transport_down(link_at, 1 - side, "peer closed");
  });
}

// A transport is open until both of its ends closed.
void Network::side_closed(std::size_t link_at, int side) {
  Link& link = links_[link_at];
  if (!link.open[side]) return;
  link.open[side] = false;
  link.tls[side].reset();  // a closed side keeps no session
  if (!link.open[1 - side]) host_.on_transport_closed(link_at);
}

void Network::transport_down(std::size_t link_at, int side, const char* why) {
  Link& link = links_[link_at];
  if (!link.open[side]) return;
  const std::unique_ptr<io::TlsTransport> tls = std::move(link.tls[side]);
  side_closed(link_at, side);
  Slot& slot = slots_[link.node[side]];
  if (!slot.node || slot.epoch != link.epoch[side]) return;
  // Under TLS, a dialer whose TLS handshake had not ended hears of a failed connect.
  if (tls) return tls->report_down(*slot.node, now_, why);
  slot.node->on_transport_down(now_, link.transport[side], why);
}

void Network::reset(std::size_t link_at, int first) {
  transport_down(link_at, first, "connection reset");
  peer_learns_of_reset(link_at, 1 - first);
}

void Network::peer_learns_of_reset(std::size_t link_at, int side) {
  if (fault_rng_.unit() < options_.rates.half_open_chance) {
    // Half-open: learns only much later (its keepalive will likely notice first).
    at(now_ + kSecond * static_cast<TimeNs>(1 + fault_rng_.below(40)),
       [this, link_at, side] { transport_down(link_at, side, "reset (late)"); });
  } else {
    transport_down(link_at, side, "connection reset");
  }
}

// ---- faults the world schedules -------------------------------------------------------

void Network::block(std::size_t from, std::size_t to, TimeNs until) {
  blocked_until_[from][to] = std::max(blocked_until_[from][to], until);
}

void Network::lift_blocks() {
  for (auto& row : blocked_until_)
    std::fill(row.begin(), row.end(), 0);
  // What the blocks held goes on, in order (every arrival takes the oldest piece), and the
  // link's close notice after it.
  const TimeNs when = now_ + options_.rates.latency_ns;
  for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
    Link& link = links_[link_at];
    for (int side = 0; side < 2; ++side) {
      if (link.parked[side] > 0 || link.close_parked[side])
        link.last_arrival[side] = std::max(link.last_arrival[side], when);
      for (; link.parked[side] > 0; --link.parked[side])
        schedule_arrival(when, link_at, side);
      if (link.close_parked[side]) {
        link.close_parked[side] = false;
        schedule_close_notice(when, link_at, side);
      }
    }
  }
}

void Network::clog(std::size_t link_at, int side, TimeNs until) {
  links_[link_at].held_until[side] = until;
}

void Network::clear_clogs() {
  for (Link& link : links_)
    link.held_until[0] = link.held_until[1] = 0;
}

TimeNs Network::pause(std::size_t index, TimeNs until) {
  paused_until_[index] = std::max(paused_until_[index], until);
  at(paused_until_[index], [this, index] { feed_waiting(index); });
  return paused_until_[index];
}

void Network::end_pauses() {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    paused_until_[i] = std::min(paused_until_[i], now_);
    feed_waiting(i);
  }
}

// Keeps the hello a dialer writes first on a link, to replay it later as a ghost.
void Network::capture_hello(Link& link, Bytes output) {
  FrameDecoder decoder;
  const DecodeStep step = decoder.next(output);
  if (step.status != DecodeStatus::frame || step.frame.op != Op::hello) return;
  link.hello_known = true;
  link.hello_epoch = link.epoch[0];
  link.hello_seq = step.frame.seq;
  sent_hellos_.push_back(SentHello{link.node[0],
                                   link.node[1],
                                   link.epoch[0],
                                   step.frame.seq,
                                   {output.begin(), output.begin() + step.consumed}});
  if (sent_hellos_.size() > 32) sent_hellos_.pop_front();
}

std::size_t Network::open_ghost(std::size_t from, std::size_t to, Bytes hello,
                                std::uint64_t hello_epoch, std::uint64_t hello_seq,
                                bool wrong_way) {
  // The epoch of the dialing side no node ever has, so nothing reaches it.
  const std::size_t link_at = new_link(from, UINT64_MAX, to);
  Link& ghost = links_[link_at];
  ghost.ghost = true;
  ghost.hello_known = true;
  ghost.hello_epoch = hello_epoch;
  ghost.hello_seq = hello_seq;
  ghost.wrong_way = wrong_way;
  send(link_at, 0, hello);
  host_.on_transport_opened(link_at);
  side_closed(link_at, 0);  // it says nothing more: silence from it is right
  return link_at;
}

// ---- the tests' faults and probes -----------------------------------------------------

void Network::set_write_blocked(std::size_t from, std::size_t to, bool blocked) {
  if (blocked) {
    write_blocked_.insert({from, to});
    return;
  }
  write_blocked_.erase({from, to});
  // What waited goes out now.
  for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
    const Link& link = links_[link_at];
    const int side = side_of(link, from);
    if (link.node[side] != from || link.epoch[side] != slots_[from].epoch) continue;
    if (link.node[1 - side] == to && link.open[side] && slots_[from].node)
      drain(from, link.transport[side]);
  }
}

void Network::set_muted(std::size_t index, bool muted) {
  slots_[index].muted = muted;
}

void Network::set_unreachable(std::size_t a, std::size_t b, bool unreachable) {
  const std::pair<std::size_t, std::size_t> pair{std::min(a, b), std::max(a, b)};
  if (unreachable) {
    unreachable_.insert(pair);
  } else {
    unreachable_.erase(pair);
  }
}

bool Network::unreachable(std::size_t a, std::size_t b) const {
  return !unreachable_.empty() && unreachable_.contains({std::min(a, b), std::max(a, b)});
}

const std::vector<std::uint8_t>& Network::written(std::size_t from, std::size_t to) const {
  static const std::vector<std::uint8_t> kNothing;
  for (std::size_t link_at = links_.size(); link_at-- > 0;) {
    const Link& link = links_[link_at];
    if (link.ghost) continue;
    if (link.node[0] == from && link.node[1] == to) return link.written[0];
    if (link.node[1] == from && link.node[0] == to) return link.written[1];
  }
  return kNothing;
}

std::size_t Network::links_between(std::size_t a, std::size_t b) const {
  return static_cast<std::size_t>(std::count_if(links_.begin(), links_.end(), [&](const Link& l) {
    return !l.ghost && std::min(l.node[0], l.node[1]) == std::min(a, b) &&
           std::max(l.node[0], l.node[1]) == std::max(a, b);
  }));
}

void Network::capture(Link& link, int side, Bytes bytes) {
  if (!options_.capture) return;
  link.written[side].insert(link.written[side].end(), bytes.begin(), bytes.end());
}

std::string Network::write_captures(const std::string& dir) const {
  std::string error;
  for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
    const Link& link = links_[link_at];
    for (int side = 0; side < 2; ++side) {
      if (link.written[side].empty()) continue;
      const std::string path = dir + "/" + std::to_string(link_at) + "-" +
                               slots_[link.node[side]].name + "-to-" +
                               slots_[link.node[1 - side]].name + ".wire";
      std::ofstream file(path, std::ios::binary);
      file.write(reinterpret_cast<const char*>(link.written[side].data()),
                 static_cast<std::streamsize>(link.written[side].size()));
      file.close();
      if (!file && error.empty()) error = "cannot write " + path;
    }
  }
  return error;
}

}  // namespace weft::sim
