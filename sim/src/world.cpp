#include "world.hpp"

#include <algorithm>
#include <memory>

namespace weft::sim {

World::Generators World::generators(std::uint64_t seed) {
  // One generator from the seed, split into the workload's stream and the faults'.
  Rng root(seed);
  Rng workload = root.split();
  Rng fault = root.split();
  return Generators{workload, fault};
}

NetworkOptions World::network_options(const SimOptions& options, const FaultRates& rates) {
  NetworkOptions network;
  network.rates = rates;
  network.capture = !options.capture_dir.empty();
  if (options.tls) network.tls_seed = options.seed;
  return network;
}

World::World(const SimOptions& options, bool stepped)
    : World(options, stepped, generators(options.seed)) {}

World::World(const SimOptions& options, bool stepped, Generators generators)
    : options_(options),
      rates_(effective_rates(options)),
      canary_(canary_from_name(options.canary)),
      stepped_(stepped),
      net_(network_options(options, rates_), generators.fault, *this),
      tracer_(net_.clock(), static_cast<std::size_t>(options.nodes), options.trace_path,
              options.chrome_trace_path),
      oracle_(net_, ledger_, tracer_, static_cast<std::size_t>(options.nodes)),
      workload_(effective_workload(options), generators.workload, net_, ledger_, oracle_, tracer_),
      faults_(rates_, net_, oracle_, tracer_),
      membership_(rates_, add_nodes(net_, options.nodes), oracle_, tracer_) {
  for (std::size_t i = 0; i < net_.node_count(); ++i) {
    net_.set_skew(i, faults_.draw_skew());
    if (!membership_.waiting_to_join(i)) start_node(i);
  }
}

Network& World::add_nodes(Network& net, int nodes) {
  for (int i = 0; i < nodes; ++i)
    net.add_node("n" + std::to_string(i));
  return net;
}

World::~World() {
  write_outputs();
}

std::string World::write_outputs() {
  if (outputs_written_) return "";
  outputs_written_ = true;
  std::string error = options_.capture_dir.empty() ? "" : net_.write_captures(options_.capture_dir);
  const std::string traces = tracer_.finish();
  if (!traces.empty()) error += (error.empty() ? "" : "; ") + traces;
  return error;
}

SimResult World::run() {
  guarded([this] {
    const TimeNs fault_end = options_.fault_ns;
    workload_.schedule(0);
    faults_.schedule([this](std::size_t index) { crash(index); });
    membership_.schedule(fault_end, [this](std::size_t index) { start_node(index); });
    net_.at(fault_end, [this] { end_fault_phase(); });
    if (options_.sample_connections) sample_connections();
    net_.run_until(fault_end + options_.liveness_ns);
    if (!oracle_.failed()) oracle_.check_liveness();
  });
  return result();
}

SimResult World::result() const {
  SimResult result;
  if (const std::optional<Failure>& failure = oracle_.failure()) {
    result.kind = failure->kind;
    result.message = failure->message;
  }
  result.events = tracer_.events();
  result.trace_hash = tracer_.hash();
  result.sim_ns = net_.now();
  result.requests = ledger_.call_links.size();  // every call started, crashed callers too
  result.completed_ok = ledger_.completed_ok;
  result.faults = net_.faults();
  for (const TrackedObjectStream& stream : ledger_.objects.streams) {
    result.objects += stream.posted;
    result.objects_ok += stream.completed_ok;
  }
  result.rates = rates_;
  result.workload = workload_.settings();
  result.open_transports = open_transports_;
  result.most_open_at_a_node = most_open_at_a_node_;
  return result;
}

// ---- nodes ----------------------------------------------------------------------------

NodeConfig World::config_for(std::size_t index) const {
  NodeConfig config;
  config.name = net_.name(index);
  for (std::size_t j = 0; j < net_.node_count(); ++j) {
    if (j != index && oracle_.listed(index, j)) config.peers.push_back(net_.name(j));
  }
  config.auth = std::make_shared<SharedKeyAuth>("simulated-cluster-key");
  config.seed = options_.seed * 1'000'003 + index * 1009 + net_.epoch(index);
  // Limits small enough that a busy run reaches them, so the oracle sees them hold.
  ConnectionLimits& limits = config.limits;
  limits.max_message_bytes = 1 << 20;
  limits.max_outbound_requests = 512;
  limits.max_inbound_requests = 64;
  limits.max_streams = 48;
  limits.max_queued_bytes = 4 << 20;
  limits.max_control_frames = 4096;
  ObjectWorkload::configure(config);
  config.connect_on_demand = options_.on_demand;
  config.timeouts.idle_close_ms = options_.idle_close_ms;
  config.canary = canary_;
  return config;
}

void World::start_node(std::size_t index) {
  Node& node = net_.start(index, config_for(index));
  for (std::uint16_t handler : {kEcho, kError, kSlow, kSilent})
    node.register_handler(handler);
  node.register_stream_handler(kStreamEcho, {}, StreamWindow{4, kStreamWindowBytes});
  node.register_stream_handler(kStreamStuck, {}, StreamWindow{2, kStreamWindowBytes});
  workload_.objects().node_started(index);
  trace({"node ", net_.name(index), " start epoch ", std::to_string(net_.epoch(index))});
}

// Counts the transports the nodes hold, now and every simulated second after (no trace: a
// run's trace is the same with or without the sampling).
void World::sample_connections() {
  std::uint64_t total = 0;
  std::uint64_t most = 0;
  for (std::size_t i = 0; i < net_.node_count(); ++i) {
    const Node* node = net_.node(i);
    const std::uint64_t open = node != nullptr ? node->open_connections() : 0;
    total += open;
    most = std::max(most, open);
  }
  open_transports_.push_back(total);
  most_open_at_a_node_.push_back(most);
  net_.at(net_.now() + 1'000'000'000, [this] { sample_connections(); });
}

void World::crash(std::size_t index) {
  if (!net_.node(index)) return;
  net_.count_fault();
  trace({"fault crash ", net_.name(index)});
  tracer_.chrome('i', index, "crash");
  // What this incarnation opened or served dies with it; the oracle stops expecting it.
  ledger_.forget(index, net_.epoch(index));
  net_.crash(index);
  oracle_.node_crashed(index, net_.now() + rates_.restart_ns);
  if (stepped_) return;  // restart() brings it back
  net_.at(net_.now() + rates_.restart_ns, [this, index] {
    if (!net_.node(index)) start_node(index);
  });
}

void World::end_fault_phase() {
  trace({"faults end"});
  tracer_.chrome('i', tracer_.cluster_track(), "faults end");
  net_.set_faults_on(false);
  workload_.stop();
  faults_.heal();
  membership_.heal();
  for (std::size_t i = 0; i < net_.node_count(); ++i) {
    if (!net_.node(i)) start_node(i);
  }
}

// ---- the network's host: every node event goes where it concerns ---------------------

void World::on_event(std::size_t index, Event&& event) {
  const std::string& name = net_.name(index);
  if (auto* e = std::get_if<event::Dial>(&event)) {
    trace({"dial ", name, " -> ", net_.name(net_.node_of(index, e->peer))});
    return net_.dial(index, e->peer, e->transport);
  }
  if (auto* e = std::get_if<event::CloseTransport>(&event)) {
    trace({"close ", name, " ", e->reason});
    oracle_.check_protocol_error(index, *e);
    return net_.close_transport(index, std::move(*e));
  }
  if (auto* e = std::get_if<event::PeerUp>(&event)) {
    oracle_.peer_up(index, net_.node_of(index, e->peer));
    tracer_.chrome('b', index, "connection", connection_span(index, e->peer, e->generation));
    return trace({"up ", name, " ", net_.name(net_.node_of(index, e->peer))});
  }
  if (auto* e = std::get_if<event::PeerDown>(&event)) {
    trace({"down ", name, " ", net_.name(net_.node_of(index, e->peer))});
    tracer_.chrome('e', index, "connection", connection_span(index, e->peer, e->generation));
    oracle_.peer_down(index, net_.node_of(index, e->peer));
    return oracle_.check_keepalive_drop(index, e->peer, e->reason);
  }
  if (auto* e = std::get_if<event::HandshakeFailed>(&event)) {
    trace({"handshake failed ", name, " ", e->message});
    return oracle_.check_handshake_failure(index, *e);
  }
  if (auto* e = std::get_if<event::RequestReceived>(&event))
    return workload_.serve(index, std::move(*e));
  if (auto* e = std::get_if<event::StreamOpened>(&event)) return oracle_.stream_opened(index, *e);
  if (auto* e = std::get_if<event::StreamReadable>(&event))
    return workload_.stream_readable(index, e->peer, e->id);
  if (auto* e = std::get_if<event::StreamWritable>(&event))
    return workload_.stream_writable(index, e->peer, e->id);
  if (auto* e = std::get_if<event::StreamEnded>(&event)) return oracle_.stream_ended(index, *e);
  if (auto* e = std::get_if<event::RequestDone>(&event)) return oracle_.request_done(index, *e);
  if (std::holds_alternative<event::RequestCanceled>(event))
    return trace({"request canceled at ", name});
  ObjectWorkload& objects = workload_.objects();
  if (auto* e = std::get_if<event::ObjectCompleted>(&event)) return objects.completed(index, *e);
  if (auto* e = std::get_if<event::ObjectWantData>(&event)) return objects.want_data(index, *e);
  if (auto* e = std::get_if<event::ObjectStreamEnded>(&event))
    return objects.stream_ended(index, *e);
  if (auto* e = std::get_if<event::ObjectArrived>(&event)) return objects.arrived(index, *e);
  if (auto* e = std::get_if<event::ObjectReadable>(&event)) return objects.readable(index, *e);
  if (auto* e = std::get_if<event::ObjectAborted>(&event)) return objects.aborted(index, *e);
  BundleWorkload& bundles = workload_.bundles();
  if (auto* e = std::get_if<event::BundleWantData>(&event)) return bundles.want_data(index, *e);
  if (auto* e = std::get_if<event::BundleObjectCompleted>(&event))
    return bundles.completed(index, *e);
  if (auto* e = std::get_if<event::BundleEnded>(&event)) return bundles.ended(index, *e);
}

// The connections a node's step touched are checked against their limits.
void World::on_pumped(std::size_t index, std::span<const PeerId> peers) {
  oracle_.check_removals(index);
  for (PeerId peer : peers) {
    if (!net_.node(index) || oracle_.failed()) break;
    oracle_.check_queue_limits(index, peer);
  }
}

// A transport is a span on its pair's track, from the dial (or ghost) to its last close.
void World::on_transport_opened(std::size_t link) {
  const Link& opened = net_.link(link);
  tracer_.chrome_link('b', opened.node[0], opened.node[1], "transport", "t" + std::to_string(link));
}

void World::on_transport_closed(std::size_t link) {
  const Link& closed = net_.link(link);
  tracer_.chrome_link('e', closed.node[0], closed.node[1], "transport", "t" + std::to_string(link));
}

void World::on_bitflip(std::size_t link, int from_side) {
  const Link& flipped = net_.link(link);
  trace({"fault bitflip link ", std::to_string(link)});
  tracer_.chrome('i', flipped.node[from_side], "bitflip");
  tracer_.chrome_link('i', flipped.node[0], flipped.node[1], "bitflip");
}

// Only a fault fails a TLS session: a bit flipped on the link, or a ghost's plain hello.
void World::on_tls_failed(std::size_t link, int side, const std::string& what) {
  const Link& failed = net_.link(link);
  trace({"tls failed ", net_.name(failed.node[side]), " link ", std::to_string(link), ": ", what});
  tracer_.chrome_link('i', failed.node[0], failed.node[1], "TLS failed");
  if (failed.corruptions == 0 && !failed.ghost) {
    oracle_.fail(SimResult::Kind::safety, "a TLS session failed without a fault on its link: " +
                                              net_.name(failed.node[side]) + ": " + what);
  }
}

void World::on_stuck(const std::string& what) {
  oracle_.fail(SimResult::Kind::liveness, what);
}

std::string World::connection_span(std::size_t index, PeerId peer, std::uint64_t generation) const {
  return net_.name(index) + "-" + net_.name(net_.node_of(index, peer)) + "-e" +
         std::to_string(net_.epoch(index)) + "-g" + std::to_string(generation);
}

void World::advance(TimeNs duration_ns) {
  const TimeNs end = net_.now() + duration_ns;
  net_.run_until(end);
  if (!oracle_.failed()) net_.jump_to(end);
}

}  // namespace weft::sim
