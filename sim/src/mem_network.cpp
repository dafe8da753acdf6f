// MemNetwork: the tests' driver of the simulator's network model (network.hpp).
#include "weft/sim/mem_network.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "network.hpp"

namespace weft::sim {

namespace {

NetworkOptions network_options(const MemNetworkOptions& options) {
  NetworkOptions network;
  network.rates.latency_ns = options.latency_ns;
  network.rates.chunking = options.max_piece_bytes > 0 ? 1 : 0;
  network.max_piece_bytes = options.max_piece_bytes;
  network.rates.send_buffer_bytes = options.send_buffer_bytes;
  network.capture = options.keep_wire_log;  // wire_log
  network.max_steps_per_instant = options.max_steps_per_instant;
  network.tls_seed = options.tls_seed;
  return network;
}

}  // namespace

struct MemNetwork::Impl final : NetworkHost {
  Impl(MemNetwork& outer_in, const MemNetworkOptions& options)
      : outer(outer_in), net(network_options(options), Rng(options.seed), *this) {}

  // Dial and CloseTransport are the network's; every other event goes to the application.
  void on_event(std::size_t index, Event&& event) override {
    if (auto* dial = std::get_if<event::Dial>(&event))
      return net.dial(index, dial->peer, dial->transport);
    if (auto* close = std::get_if<event::CloseTransport>(&event))
      return net.close_transport(index, std::move(*close));
    if (apps[index].handler) return apps[index].handler(outer, index, std::move(event));
    apps[index].events.push_back(std::move(event));
  }

  void on_stuck(const std::string& what) override {
    std::fprintf(stderr, "MemNetwork at t=%lld ns: %s\n", static_cast<long long>(net.now()),
                 what.c_str());
    std::abort();
  }

  struct App {
    AppHandler handler;
    std::deque<Event> events;
  };
  MemNetwork& outer;
  Network net;
  std::vector<App> apps;
};

MemNetwork::MemNetwork(MemNetworkOptions options) : impl_(std::make_unique<Impl>(*this, options)) {}
MemNetwork::~MemNetwork() = default;

// Node `index` of this network, or std::out_of_range.
void MemNetwork::check(NodeIndex index) const {
  if (index >= node_count()) throw std::out_of_range("no such node");
}

NodeIndex MemNetwork::add_node(NodeConfig config) {
  Network& net = impl_->net;
  if (net.index_of(config.name) != kNoNode) throw std::invalid_argument("duplicate node name");
  const NodeIndex index = net.add_node(config.name);
  impl_->apps.emplace_back();
  net.start(index, std::move(config));
  return index;
}

Node& MemNetwork::node(NodeIndex index) {
  check(index);
  return *impl_->net.node(index);
}

std::size_t MemNetwork::node_count() const {
  return impl_->net.node_count();
}

NodeIndex MemNetwork::index_of(std::string_view name) const {
  const std::size_t index = impl_->net.index_of(name);
  if (index == kNoNode) throw std::invalid_argument("no node named " + std::string(name));
  return index;
}

TimeNs MemNetwork::now() const {
  return impl_->net.now();
}

std::int64_t MemNetwork::wall_ms() const {
  return kWallOriginMs + ms_from_ns(now());
}

void MemNetwork::at(TimeNs at_ns, std::function<void()> run) {
  impl_->net.at(at_ns, std::move(run));
}

const std::vector<TimeNs>& MemNetwork::dial_log(NodeIndex index) const {
  check(index);
  return impl_->net.dial_log(index);
}

void MemNetwork::set_app(NodeIndex index, AppHandler handler) {
  impl_->apps.at(index).handler = std::move(handler);
}

std::deque<Event>& MemNetwork::app_events(NodeIndex index) {
  return impl_->apps.at(index).events;
}

void MemNetwork::run_until(TimeNs until_ns) {
  run_until([] { return false; }, until_ns);
}

bool MemNetwork::run_until(const std::function<bool()>& done, TimeNs limit_ns) {
  if (impl_->net.run_until(limit_ns, done)) return true;
  impl_->net.jump_to(limit_ns);
  return false;
}

void MemNetwork::set_stalled(NodeIndex from, NodeIndex to, bool stalled) {
  impl_->net.set_write_blocked(from, to, stalled);
}

void MemNetwork::break_links(NodeIndex a, NodeIndex b) {
  Network& net = impl_->net;
  for (std::size_t link_at = 0; link_at < net.link_count(); ++link_at) {
    const Link& link = net.link(link_at);
    if (std::min(link.node[0], link.node[1]) != std::min(a, b) ||
        std::max(link.node[0], link.node[1]) != std::max(a, b))
      continue;
    for (int side = 0; side < 2; ++side)
      net.transport_down(link_at, side, "connection reset");
  }
}

void MemNetwork::restart_node(NodeIndex index, NodeConfig config) {
  check(index);
  Network& net = impl_->net;
  if (config.name != net.name(index)) {
    throw std::invalid_argument("restart_node: a restarted node keeps its name");
  }
  // Its transports die with the process: each peer sees a reset at once (no half-open
  // here), and nothing more reaches the old process or comes from it.
  net.crash(index);
  impl_->apps[index].events.clear();
  net.start(index, std::move(config));
}

void MemNetwork::set_reachable(NodeIndex a, NodeIndex b, bool reachable) {
  impl_->net.set_unreachable(a, b, !reachable);
}

void MemNetwork::set_muted(NodeIndex index, bool muted) {
  check(index);
  impl_->net.set_muted(index, muted);
}

const std::vector<std::uint8_t>& MemNetwork::wire_log(NodeIndex from, NodeIndex to) const {
  return impl_->net.written(from, to);
}

std::size_t MemNetwork::links_opened(NodeIndex a, NodeIndex b) const {
  return impl_->net.links_between(a, b);
}

}  // namespace weft::sim
