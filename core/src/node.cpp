#include "weft/node.hpp"

#include <openssl/crypto.h>

#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include "acceptor.hpp"
#include "bundles.hpp"
#include "connection.hpp"
#include "invariant.hpp"
#include "node_context.hpp"
#include "peer_deadlines.hpp"
#include "weft/metrics.hpp"

namespace weft {
namespace detail {
class NodeCore final : private PeerDirectory {
 public:
  NodeCore(NodeConfig&& config, TimeNs now_ns, std::int64_t wall_ms)
      : context_((check_config(config), std::move(config)), now_ns, wall_ms),
        acceptor_(context_),
        last_now_ns_(now_ns) {
    const auto& peers = context_.config.peers;
    connections_.reserve(peers.size());
    for (PeerId peer = 0; peer < peers.size(); ++peer) {
      connections_.push_back(std::make_unique<Connection>(context_, peer, peers[peer], now_ns,
                                                          context_.config.connect_on_demand));
      deadlines_.add_peer();
      live_by_name_.emplace(peers[peer], peer);  // check_config refused duplicate names
    }
  }

  NodeContext& context() { return context_; }
  const NodeContext& context() const { return context_; }
  // A connection the caller may change: its deadline is asked again.
  Connection& connection(PeerId peer) {
    Connection& connection = *connections_.at(peer);
    deadlines_.mark(peer);
    return connection;
  }
  // Reads only: the peer's deadline is not asked again (queries such as a stream's credits
  // or whether the output is below its mark run per message in a busy adapter).
  const Connection& connection(PeerId peer) const { return *connections_.at(peer); }
  std::size_t peer_count() const { return connections_.size(); }

  // Asserts the driver's clock never runs backwards.
  void advance(TimeNs now_ns) {
    WEFT_ASSERT(now_ns >= last_now_ns_ && "time went backwards");
    WEFT_ASSERT(now_ns <= kMaxTimeNs && "time past kMaxTimeNs");
    last_now_ns_ = std::max(last_now_ns_, now_ns);
    context_.latest_now_ns = last_now_ns_;
    touched();
  }

  // In builds with assertions: the invariants of a connection an input or command touched
  // (weft/invariant.hpp). Nothing at all otherwise.
  static void check(const Connection* connection) {
#if WEFT_INVARIANTS
    if (connection != nullptr) connection->check_invariants();
#else
    static_cast<void>(connection);
#endif
  }
  void check_all() const {
#if WEFT_INVARIANTS
    for (const auto& connection : connections_)
      connection->check_invariants();
    acceptor_.for_each_transport([this](TransportId transport) {
      WEFT_ASSERT(!context_.transport_owner.contains(transport));
    });
    WEFT_ASSERT(acceptor_.consistent());
    WEFT_ASSERT(
        deadlines_.consistent([this](PeerId peer) { return connections_[peer]->next_deadline(); }));
#endif
  }

  void refresh_deadlines() const {
    deadlines_.refresh([this](PeerId peer) { return connections_[peer]->next_deadline(); });
  }

  // Every entry that may change a timer forgets the cached earliest deadline, so a driver
  // polling next_deadline() on many idle nodes pays one scan per change, not per poll.
  void touched() {
    next_deadline_known_ = false;
  }

  TransportId on_accepted(TimeNs now_ns, std::optional<std::uint64_t> source) {
    advance(now_ns);
    const TransportId transport = context_.new_transport();
    ++context_.metrics.transports_accepted;
    acceptor_.add(now_ns, transport, source);
    WEFT_ASSERT(acceptor_.consistent());
    return transport;
  }

  void on_secured(TimeNs now_ns, TransportId transport, TransportSecurity security) {
    advance(now_ns);
    acceptor_.set_security(transport, std::move(security));
  }

  Acceptor& acceptor() {
    return acceptor_;
  }

  Connection* owner(TransportId transport) {
    const auto found = context_.transport_owner.find(transport);
    if (found == context_.transport_owner.end()) return nullptr;
    return &connection(found->second);
  }

  void on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes) {
    advance(now_ns);
    if (acceptor_.owns(transport)) {
      accept(now_ns, acceptor_.on_bytes(now_ns, transport, bytes, *this));
      check(owner(transport));  // the connection that adopted it, if any
    } else if (Connection* connection = owner(transport)) {
      connection->on_bytes(now_ns, transport, bytes);
      check(connection);
    }
  }

  void on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason) {
    advance(now_ns);
    if (acceptor_.owns(transport)) {
      acceptor_.on_transport_down(transport);
      return;
    }
    if (Connection* connection = owner(transport)) {
      connection->on_transport_down(now_ns, transport, reason);
      check(connection);
    }
  }

  void on_timer(TimeNs now_ns) {
    advance(now_ns);
    acceptor_.on_timer(now_ns);
    // Only the connections whose deadline came (calling on_timer early is harmless, and
    // late is not possible: every deadline is known), in id order.
    refresh_deadlines();
    for (const PeerId peer : deadlines_.due(now_ns))
      connection(peer).on_timer(now_ns);
    check_all();
  }

  TimeNs next_deadline() const {
    if (next_deadline_known_) return next_deadline_ns_;
    TimeNs next = acceptor_.next_deadline();
    refresh_deadlines();
    next = std::min(next, deadlines_.earliest());
    next_deadline_ns_ = next;
    next_deadline_known_ = true;
    return next;
  }

  bool has_output() const {
    return !context_.events.empty() || !context_.transmit_queue.empty();
  }

  std::optional<TransportId> poll_transmit() {
    if (!context_.transmit_queue.empty()) touched();
    while (!context_.transmit_queue.empty()) {
      const TransportId transport = context_.transmit_queue.front();
      context_.transmit_queue.pop_front();
      if (acceptor_.take_transmit(transport)) return transport;
      Connection* connection = owner(transport);
      if (connection != nullptr && connection->take_transmit(transport)) return transport;
    }
    return std::nullopt;
  }

  // The live (not removed) peer called `name`; there is at most one. An index, not a scan:
  // EventNode asks on every request, and a node may have a thousand peers.
  // The peer found last is tried first: a client sends most requests to the peer of its last
  // one, and the index's string comparisons were a twentieth of such a request's cost. It
  // needs no invalidation: at most one live peer has a name, so a live peer of that name is
  // the answer.
  std::optional<PeerId> find_peer(std::string_view name) const {
    if (last_found_ < connections_.size() && !connections_[last_found_]->removed() &&
        connections_[last_found_]->name() == name) {
      return last_found_;
    }
    const auto found = live_by_name_.find(name);
    if (found == live_by_name_.end()) return std::nullopt;
    WEFT_ASSERT(!connections_[found->second]->removed() &&
                connections_[found->second]->name() == name);
    last_found_ = found->second;
    return found->second;
  }

  AddedPeer add_peer(TimeNs now_ns, std::string_view name, bool on_demand) {
    advance(now_ns);
    if (!peer_name_refusal(context_.config.name, name, find_peer(name).has_value()).empty())
      return {0, Errc::invalid_argument};
    const PeerId peer = connections_.size();
    connections_.push_back(
        std::make_unique<Connection>(context_, peer, std::string(name), now_ns, on_demand));
    for (PeerId earlier = peer; earlier-- > 0;) {  // the last relationship with that name
      if (connections_[earlier]->name() != name) continue;
      connections_[peer]->follow(*connections_[earlier]);
      break;
    }
    deadlines_.add_peer();
    live_by_name_.emplace(std::string(name), peer);
    return {peer, Errc::ok};
  }

  void abandon_waiting(TimeNs now_ns, const std::string& reason) {
    advance(now_ns);
    for (PeerId peer = 0; peer < connections_.size(); ++peer) {
      connection(peer).abandon_waiting(reason);
      check(connections_[peer].get());
    }
  }

  // Node::set_authenticator: every connection checks its peer's proof again.
  std::size_t recheck_peer_proofs(TimeNs now_ns) {
    advance(now_ns);
    std::size_t closed = 0;
    for (PeerId peer = 0; peer < connections_.size(); ++peer) {
      if (connection(peer).recheck_peer_proof(now_ns)) ++closed;
      check(connections_[peer].get());
    }
    return closed;
  }

  Errc remove_peer(TimeNs now_ns, PeerId peer) {
    advance(now_ns);
    if (peer >= connections_.size() || connections_[peer]->removed()) return Errc::unknown_peer;
    connection(peer).remove(now_ns);
    live_by_name_.erase(connections_[peer]->name());
    acceptor_.on_peer_removed(peer);
    check(connections_[peer].get());
    return Errc::ok;
  }

 private:
  // PeerDirectory, for the acceptor.
  std::optional<PeerId> find(std::string_view name) const override {
    return find_peer(name);
  }
  bool on_demand(PeerId peer) const override {
    return connections_.at(peer)->on_demand();
  }
  bool is_stale(PeerId peer, const Frame& hello) const override {
    return connections_.at(peer)->is_stale_hello(hello);
  }

  // What a pending transport's handshake came to: a connection adopts it, or a knock is
  // answered by a dial.
  void accept(TimeNs now_ns, Acceptor::Outcome outcome) {
    if (outcome.knock) {
      connection(outcome.knock->peer).on_knock(now_ns);
      check(connections_[outcome.knock->peer].get());
    }
    if (outcome.adoption) connection(outcome.adoption->peer).adopt(now_ns, *outcome.adoption);
  }

  NodeContext context_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::map<std::string, PeerId, std::less<>> live_by_name_;         // the peers not removed
  mutable PeerId last_found_ = std::numeric_limits<PeerId>::max();  // by find_peer
  Acceptor acceptor_;  // accepted transports whose dialer has not proved itself yet
  TimeNs last_now_ns_;
  mutable TimeNs next_deadline_ns_ = kNever;  // valid while next_deadline_known_
  mutable PeerDeadlines deadlines_;           // each connection's, asked again when marked
  mutable bool next_deadline_known_ = false;
};

// Runs a command on `peer`'s connection at `now_ns`, then checks its invariants. A command
// is use of the connection (its idle period starts again, NodeConfig::connect_on_demand).
template <typename F>
auto command(NodeCore& core, PeerId peer, TimeNs now_ns, F&& body) {
  core.advance(now_ns);
  Connection& connection = core.connection(peer);
  connection.used(now_ns);
  auto result = body(connection);
  NodeCore::check(&connection);
  return result;
}

}  // namespace detail

bool dial_rule_dials(std::string_view self, std::string_view peer) {
  if (self == peer) return false;
  const std::string_view lo = std::min(self, peer);
  const std::string_view hi = std::max(self, peer);
  std::string joined;
  joined.reserve(lo.size() + 1 + hi.size());
  joined.append(lo).push_back('\0');
  joined.append(hi);
  const bool lo_dials = (checksum64(as_bytes(joined)) & 1) == 0;
  return (self == lo) == lo_dials;
}

std::string_view peer_state_name(PeerState state) {
  switch (state) {
    case PeerState::idle:
      return "idle";
    case PeerState::backoff:
      return "backoff";
    case PeerState::dialing:
      return "dialing";
    case PeerState::handshaking:
      return "handshaking";
    case PeerState::established:
      return "established";
    case PeerState::removed:
      return "removed";
  }
  return "unknown";
}

// ---- Node -----------------------------------------------------------------------------

namespace {
TimeNs checked_start(TimeNs now_ns) {
  if (now_ns > kMaxTimeNs) throw std::invalid_argument("weft::Node: start time past kMaxTimeNs");
  return now_ns;
}
}  // namespace

Node::Node(NodeConfig config, TimeNs now_ns, std::int64_t wall_ms) try
    : core_(std::make_unique<detail::NodeCore>(std::move(config), checked_start(now_ns), wall_ms)),
      bundles_(std::make_unique<detail::Bundles>(*this)) {
} catch (...) {
  // Refused: the nonce key, if it was not taken yet, is overwritten all the same (rethrown).
  if (config.nonce_key) OPENSSL_cleanse(config.nonce_key->data(), config.nonce_key->size());
}
Node::~Node() = default;

TransportId Node::on_accepted(TimeNs now_ns, std::optional<std::uint64_t> source) {
  return core_->on_accepted(now_ns, source);
}

void Node::on_secured(TimeNs now_ns, TransportId transport, TransportSecurity security) {
  core_->on_secured(now_ns, transport, std::move(security));
}

void Node::on_connected(TimeNs now_ns, TransportId transport, TransportSecurity security) {
  core_->advance(now_ns);
  if (detail::Connection* connection = core_->owner(transport)) {
    connection->on_connected(now_ns, transport, std::move(security));
    detail::NodeCore::check(connection);
  }
}

void Node::on_connect_failed(TimeNs now_ns, TransportId transport, std::string_view reason) {
  core_->advance(now_ns);
  if (detail::Connection* connection = core_->owner(transport)) {
    connection->on_connect_failed(now_ns, transport, reason);
    detail::NodeCore::check(connection);
  }
}

void Node::on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes) {
  core_->on_bytes(now_ns, transport, bytes);
}

void Node::on_transport_down(TimeNs now_ns, TransportId transport, std::string_view reason) {
  core_->on_transport_down(now_ns, transport, reason);
}

void Node::on_timer(TimeNs now_ns) {
  core_->on_timer(now_ns);
}

void Node::set_wall_clock(TimeNs now_ns, std::int64_t wall_ms) {
  core_->context().wall_offset_ms = wall_ms - ms_from_ns(now_ns);
}

std::size_t Node::set_authenticator(TimeNs now_ns, std::shared_ptr<const Authenticator> auth) {
  if (!auth) throw std::invalid_argument("an authenticator is required");
  core_->context().auth = std::move(auth);
  return core_->recheck_peer_proofs(now_ns);
}

bool Node::has_output() const {
  return core_->has_output() || bundles_->has_events();
}

std::optional<Event> Node::poll_event() {
  auto& events = core_->context().events;
  // The common case returns the queue's event in place (no move of a ~300-byte Event).
  if (!bundles_->active()) return events.take_front();
  for (;;) {
    if (bundles_->has_events()) return bundles_->take_event();
    std::optional<Event> event = events.take_front();
    // The events of a bundle's streams become the bundle's own (weft/bundle.hpp).
    if (!event || !bundles_->owns(*event)) return event;
    bundles_->on_stream_event(std::move(*event));
    bundles_->check_invariants();
  }
}

std::optional<TransportId> Node::poll_transmit() {
  return core_->poll_transmit();
}

Bytes Node::pending_output(TransportId transport) {
  core_->touched();
  if (core_->acceptor().owns(transport)) return core_->acceptor().pending_output(transport);
  detail::Connection* connection = core_->owner(transport);
  if (connection == nullptr) return Bytes{};
  connection->flush_deferred();
  return connection->pending_output(transport);
}

std::size_t Node::pending_output_pieces(TransportId transport, std::span<Bytes> pieces) {
  if (pieces.empty()) return 0;
  core_->touched();
  if (core_->acceptor().owns(transport)) {
    pieces[0] = core_->acceptor().pending_output(transport);
    return pieces[0].empty() ? 0 : 1;
  }
  detail::Connection* connection = core_->owner(transport);
  if (connection == nullptr) return 0;
  connection->flush_deferred();
  return connection->pending_output_pieces(transport, pieces);
}

void Node::consume_output(TransportId transport, std::size_t count) {
  core_->touched();
  if (core_->acceptor().owns(transport)) {
    core_->acceptor().consume_output(transport, count);
  } else if (detail::Connection* connection = core_->owner(transport)) {
    connection->consume_output(transport, count);
    detail::NodeCore::check(connection);
  }
}

TimeNs Node::next_deadline() const {
  return core_->next_deadline();
}

void Node::recycle_payload(std::vector<std::uint8_t>&& payload) {
  core_->context().payloads.give(std::move(payload));
}

std::size_t Node::recycled_payload_bytes() const {
  return core_->context().payloads.held_bytes();
}

bool Node::accepting_input() const {
#if WEFT_CANARIES
  // Canary: the reader waits for outbound space (the bug rule 1 of the design forbids).
  if (config().canary == Canary::reader_waits_for_output) {
    for (PeerId peer = 0; peer < peer_count(); ++peer) {
      if (core_->connection(peer).stats().output_bytes >= config().limits.output_high_water_bytes)
        return false;
    }
  }
#endif
  return core_->context().events.size() < core_->context().config.max_pending_events;
}

Errc Node::register_handler(std::uint16_t handler, std::string_view route) {
  if (handler == 0 || route.size() > core_->context().config.limits.max_route_bytes) {
    return Errc::invalid_argument;
  }
  core_->context().handlers.add(handler, route_id(route));
  return Errc::ok;
}

Errc Node::register_stream_handler(std::uint16_t handler, std::string_view route,
                                   StreamWindow window) {
  if (handler == 0 || route.size() > core_->context().config.limits.max_route_bytes ||
      window.msgs == 0 || window.bytes == 0) {
    return Errc::invalid_argument;
  }
  core_->context().stream_handlers.add(handler, route_id(route), window);
  return Errc::ok;
}

Errc Node::register_object_endpoint(std::string_view endpoint, ObjectWindow window,
                                    ObjectCompression accepts) {
  const bool valid_name = valid_node_name(endpoint);
  if (!valid_name || window.objects == 0 || window.bytes < kMinObjectWindowBytes) {
    return Errc::invalid_argument;
  }
  auto& endpoints = core_->context().object_endpoints;
  const auto found = endpoints.find(endpoint);
  if (found != endpoints.end()) {
    found->second.window = window;
    found->second.accepts = accepts;
  } else {
    endpoints.emplace(std::string(endpoint), detail::ObjectEndpoint{window, accepts, {}});
  }
  return Errc::ok;
}

std::optional<ObjectEndpointStats> Node::object_endpoint_stats(std::string_view endpoint) const {
  const auto& endpoints = core_->context().object_endpoints;
  const auto found = endpoints.find(endpoint);
  if (found == endpoints.end()) return std::nullopt;
  return found->second.stats;
}

std::optional<PeerId> Node::find_peer(std::string_view name) const {
  return core_->find_peer(name);
}
std::size_t Node::peer_count() const {
  return core_->peer_count();
}

std::size_t Node::open_connections() const {
  // Every transport of a connection (dialing, handshaking or up) is registered to its peer.
  return core_->context().transport_owner.size();
}

AddedPeer Node::add_peer(TimeNs now_ns, std::string_view name,
                         std::optional<bool> connect_on_demand) {
  const AddedPeer added = core_->add_peer(
      now_ns, name, connect_on_demand.value_or(core_->context().config.connect_on_demand));
  if (added.error == Errc::ok) bundles_->on_peer_added(added.peer);
  return added;
}

void Node::abandon_waiting(TimeNs now_ns, std::string_view reason) {
  core_->abandon_waiting(now_ns, std::string(reason));
}

Errc Node::remove_peer(TimeNs now_ns, PeerId peer) {
  const Errc removed = core_->remove_peer(now_ns, peer);
  if (removed == Errc::ok) bundles_->on_peer_removed(peer);
  return removed;
}
const std::string& Node::name() const {
  return core_->context().config.name;
}
std::uint64_t Node::incarnation() const {
  return core_->context().incarnation;
}
MetricsSnapshot Node::metrics(TimeNs now_ns) const {
  return metrics(now_ns, MetricsOptions{});
}

MetricsSnapshot Node::metrics(TimeNs now_ns, const MetricsOptions& options) const {
  const detail::NodeCore& core = *core_;
  std::vector<const detail::Connection*> connections;
  connections.reserve(core.peer_count());
  for (PeerId peer = 0; peer < core.peer_count(); ++peer)
    connections.push_back(&core.connection(peer));
  MetricsSnapshot snapshot = detail::collect_metrics(core.context(), connections, now_ns, options);
  for (auto& [id, endpoint] : bundles_->open_bundles())
    snapshot.bundles.push_back({id, std::move(endpoint), *bundles_->stats(id)});
  return snapshot;
}

const NodeConfig& Node::config() const {
  return core_->context().config;
}

// ---- PeerConnection -------------------------------------------------------------------

Call PeerConnection::request(TimeNs now_ns, const RequestArgs& args) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    if (connection.removed()) return Call{Errc::unknown_peer, 0};
    return connection.request(now_ns, args);
  });
}

Errc PeerConnection::cancel(TimeNs now_ns, RequestId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.cancel(now_ns, id);
  });
}

Errc PeerConnection::respond(TimeNs now_ns, InboundId id, Payload payload) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.respond(now_ns, id, payload);
  });
}

Errc PeerConnection::respond_error(TimeNs now_ns, InboundId id, Errc code,
                                   std::string_view message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.respond_error(now_ns, id, code, message);
  });
}

OpenedStream PeerConnection::open_stream(TimeNs now_ns, const StreamArgs& args) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    if (connection.removed()) return OpenedStream{Errc::unknown_peer, {}};
    const OpenedStream opened = connection.open_stream(now_ns, args);
    // On demand a stream does not wait for the connection, but brings it up.
    if (opened.error == Errc::disconnected) connection.demand(now_ns);
    return opened;
  });
}

Errc PeerConnection::stream_write(TimeNs now_ns, StreamId id, const Payload& message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_write(now_ns, id, message);
  });
}

std::optional<Bytes> PeerConnection::stream_peek(StreamId id) {
  return node_->core_->connection(peer_).stream_peek(id);
}

bool PeerConnection::stream_input_done(StreamId id) {
  return node_->core_->connection(peer_).stream_input_done(id);
}

Errc PeerConnection::stream_consume(TimeNs now_ns, StreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_consume(now_ns, id);
  });
}

std::optional<Bytes> PeerConnection::stream_consume_next(TimeNs now_ns, StreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_consume_next(now_ns, id);
  });
}

Errc PeerConnection::stream_close(TimeNs now_ns, StreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_close(now_ns, id);
  });
}

Errc PeerConnection::stream_fail(TimeNs now_ns, StreamId id, Errc code, std::string_view message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_fail(now_ns, id, code, message);
  });
}

Errc PeerConnection::stream_cancel(TimeNs now_ns, StreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.stream_cancel(now_ns, id);
  });
}

std::optional<StreamCredits> PeerConnection::stream_credits(StreamId id) const {
  return std::as_const(*node_->core_).connection(peer_).stream_credits(id);
}

bool PeerConnection::output_below_high_water() const {
  return std::as_const(*node_->core_).connection(peer_).output_below_high_water();
}

// ---- object streams -------------------------------------------------------------------

OpenedObjectStream PeerConnection::open_object_stream(TimeNs now_ns, std::string_view endpoint,
                                                      ObjectStreamOptions options) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    if (connection.removed()) return OpenedObjectStream{Errc::unknown_peer, {}};
    return connection.object_sender().open(now_ns, endpoint, options);
  });
}

PostedObject PeerConnection::object_post(TimeNs now_ns, ObjectStreamId id, ObjectArgs args) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    const PostedObject posted = connection.object_sender().post(now_ns, id, std::move(args));
    if (posted.error == Errc::ok) connection.demand(now_ns);  // on demand: bring it up
    return posted;
  });
}

Errc PeerConnection::object_post_fits(ObjectStreamId id, std::uint64_t data_bytes) const {
  return node_->core_->connection(peer_).object_sender().post_fits(id, data_bytes);
}

Errc PeerConnection::object_supply(TimeNs now_ns, ObjectStreamId id, std::uint64_t object,
                                   std::uint64_t offset, const Payload& data, bool last) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_sender().supply(now_ns, id, object, offset, data, last);
  });
}

Errc PeerConnection::object_abort(TimeNs now_ns, ObjectStreamId id, std::uint64_t object, Errc code,
                                  std::string_view message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_sender().abort_object(now_ns, id, object, code, message);
  });
}

Errc PeerConnection::object_stream_fin(TimeNs now_ns, ObjectStreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_sender().fin(now_ns, id);
  });
}

Errc PeerConnection::object_stream_stop(TimeNs now_ns, ObjectStreamId id, Errc code,
                                        std::string_view message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_sender().stop(now_ns, id, code, message);
  });
}

std::optional<ObjectRead> PeerConnection::object_read(ObjectStreamId id) {
  return node_->core_->connection(peer_).object_receiver().read(id);
}

std::uint64_t PeerConnection::object_being_read(ObjectStreamId id) {
  return node_->core_->connection(peer_).object_receiver().being_read(id);
}

Errc PeerConnection::object_consume(TimeNs now_ns, ObjectStreamId id, std::size_t bytes) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_receiver().consume(now_ns, id, bytes);
  });
}

Errc PeerConnection::object_discard(TimeNs now_ns, ObjectStreamId id) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_receiver().discard(now_ns, id);
  });
}

Errc PeerConnection::object_refuse(TimeNs now_ns, ObjectStreamId id, Errc code,
                                   std::string_view message) {
  return detail::command(*node_->core_, peer_, now_ns, [&](detail::Connection& connection) {
    return connection.object_receiver().refuse(now_ns, id, code, message);
  });
}

std::optional<ObjectStreamStats> PeerConnection::object_stream_stats(TimeNs now_ns,
                                                                     ObjectStreamId id) {
  // Not a use of the connection (no detail::command): monitoring must not keep it open.
  node_->core_->advance(now_ns);
  detail::Connection& connection = node_->core_->connection(peer_);
  if (connection.object_sender().owns(id)) return connection.object_sender().stats(now_ns, id);
  return connection.object_receiver().stats(now_ns, id);
}

PeerStats PeerConnection::stats() const {
  return std::as_const(*node_->core_).connection(peer_).stats();
}
PeerState PeerConnection::state() const {
  return std::as_const(*node_->core_).connection(peer_).state();
}
const std::string& PeerConnection::name() const {
  return std::as_const(*node_->core_).connection(peer_).name();
}
bool PeerConnection::on_demand() const {
  return std::as_const(*node_->core_).connection(peer_).on_demand();
}
bool PeerConnection::dials() const {
  return std::as_const(*node_->core_).connection(peer_).dials();
}

}  // namespace weft
