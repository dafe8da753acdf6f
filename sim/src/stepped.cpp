// SteppedSimulation (stepped.hpp): the world of world.hpp driven one command at a time.
// Every command runs guarded (a broken invariant is the outcome "assertion"), and then the
// world handles what it caused.
#include "weft/sim/stepped.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include "world.hpp"

namespace weft::sim {

namespace {

std::uint16_t handler_id(SteppedSimulation::Handler handler) {
  switch (handler) {
    case SteppedSimulation::Handler::echo:
      return kEcho;
    case SteppedSimulation::Handler::error:
      return kError;
    case SteppedSimulation::Handler::slow:
      return kSlow;
    case SteppedSimulation::Handler::silent:
      return kSilent;
  }
  return kSilent;
}

SteppedOutcome outcome_of(const Outcome& outcome) {
  return SteppedOutcome{outcome.ended, outcome.dropped, outcome.result};
}

}  // namespace

struct SteppedSimulation::State {
  explicit State(const SimOptions& options) : world(options, true) {}

  // Runs `command`, then lets every node act on what it caused.
  template <typename Command>
  auto pumped(Command command) {
    return world.guarded([&] {
      if constexpr (std::is_void_v<decltype(command())>) {
        command();
        world.net().pump();
      } else {
        const auto result = command();
        world.net().pump();
        return result;
      }
    });
  }

  World world;
};

SteppedSimulation::SteppedSimulation(const SimOptions& options)
    : state_(std::make_unique<State>(options)) {}
SteppedSimulation::~SteppedSimulation() = default;

std::size_t SteppedSimulation::nodes() const {
  return state_->world.net().node_count();
}
TimeNs SteppedSimulation::now() const {
  return state_->world.net().now();
}
bool SteppedSimulation::up(std::size_t node) const {
  if (node >= nodes()) throw std::out_of_range("no such node");
  return state_->world.net().node(node) != nullptr;
}
bool SteppedSimulation::failed() const {
  return state_->world.oracle().failed();
}
std::string SteppedSimulation::failure() const {
  const auto& failure = state_->world.oracle().failure();
  return failure ? std::string(result_kind_name(failure->kind)) + ": " + failure->message : "";
}

std::optional<std::size_t> SteppedSimulation::request(std::size_t from, std::size_t to,
                                                      Handler handler, std::size_t payload_bytes,
                                                      std::int64_t timeout_ms) {
  return state_->pumped([&] {
    return state_->world.workload().call(from, to, handler_id(handler), payload_bytes, timeout_ms);
  });
}
std::optional<std::size_t> SteppedSimulation::open_stream(std::size_t from, std::size_t to,
                                                          std::uint64_t messages,
                                                          std::uint32_t window_msgs,
                                                          std::int64_t timeout_ms) {
  return state_->pumped([&] {
    return state_->world.workload().open_stream(from, to, kStreamEcho, messages, window_msgs,
                                                timeout_ms, true);
  });
}
bool SteppedSimulation::stream_write(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().write_manual(stream); });
}
bool SteppedSimulation::stream_consume(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().read_manual(stream); });
}
bool SteppedSimulation::cancel_request(std::size_t call) {
  return state_->pumped([&] { return state_->world.workload().cancel_call(call); });
}
bool SteppedSimulation::cancel_stream(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().cancel_stream(stream); });
}

std::optional<std::size_t> SteppedSimulation::open_object_stream(std::size_t from, std::size_t to,
                                                                 bool unknown_endpoint) {
  return state_->pumped(
      [&] { return state_->world.workload().objects().open_manual(from, to, unknown_endpoint); });
}
bool SteppedSimulation::object_post(std::size_t stream, ObjectKind kind, std::size_t size) {
  ObjectPlan plan;
  plan.kind = static_cast<sim::ObjectKind>(kind);
  plan.size = kind == ObjectKind::header_only ? 0 : size;
  return state_->pumped([&] { return state_->world.workload().objects().post(stream, plan); });
}
bool SteppedSimulation::object_read(std::size_t stream, std::size_t max_bytes) {
  return state_->pumped([&] { return state_->world.workload().objects().read(stream, max_bytes); });
}
bool SteppedSimulation::object_discard(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().objects().discard(stream); });
}
bool SteppedSimulation::object_refuse(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().objects().refuse(stream); });
}
bool SteppedSimulation::object_fin(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().objects().fin(stream); });
}
bool SteppedSimulation::object_stop(std::size_t stream) {
  return state_->pumped([&] { return state_->world.workload().objects().stop(stream); });
}
SteppedObjectOutcome SteppedSimulation::object_outcome(std::size_t stream) const {
  const TrackedObjectStream& tracked = state_->world.ledger().objects.streams.at(stream);
  SteppedObjectOutcome outcome{.posted = tracked.posted,
                               .completed = tracked.completed,
                               .completed_ok = tracked.completed_ok,
                               .ended = tracked.ended,
                               .dropped = tracked.dropped,
                               .result = tracked.result};
  for (const ObjectFate& fate : tracked.fates) {
    outcome.delivered += fate.arrived ? 1 : 0;
    outcome.taken += fate.taken ? 1 : 0;
  }
  return outcome;
}
std::size_t SteppedSimulation::object_streams_opened() const {
  return state_->world.ledger().objects.streams.size();
}

std::optional<std::size_t> SteppedSimulation::open_bundle(
    std::size_t from, bool broadcast, const std::vector<std::size_t>& destinations,
    std::uint32_t multiplier, bool by_key) {
  if (from >= nodes() || multiplier == 0 || multiplier > 4)
    throw std::out_of_range("open_bundle: bad node or multiplier");
  return state_->pumped([&] {
    return state_->world.workload().bundles().open_manual(from, broadcast, destinations, multiplier,
                                                          by_key);
  });
}
bool SteppedSimulation::bundle_post(std::size_t bundle, ObjectKind kind, std::size_t size,
                                    std::uint64_t key) {
  ObjectPlan plan;
  plan.kind = static_cast<sim::ObjectKind>(kind);
  plan.size = kind == ObjectKind::header_only ? 0 : size;
  return state_->pumped([&] { return state_->world.workload().bundles().post(bundle, plan, key); });
}
bool SteppedSimulation::bundle_fin(std::size_t bundle) {
  return state_->pumped([&] { return state_->world.workload().bundles().fin(bundle); });
}
bool SteppedSimulation::bundle_stop(std::size_t bundle) {
  return state_->pumped([&] { return state_->world.workload().bundles().stop(bundle); });
}
bool SteppedSimulation::bundle_add_destination(std::size_t bundle, std::size_t node) {
  return state_->pumped(
      [&] { return state_->world.workload().bundles().add_destination(bundle, node); });
}
bool SteppedSimulation::bundle_remove_destination(std::size_t bundle, std::size_t node) {
  return state_->pumped(
      [&] { return state_->world.workload().bundles().remove_destination(bundle, node); });
}
SteppedBundleOutcome SteppedSimulation::bundle_outcome(std::size_t bundle) const {
  const TrackedBundle& tracked = state_->world.ledger().objects.bundles.bundles.at(bundle);
  SteppedBundleOutcome outcome{.posted = tracked.objects.size(),
                               .completed = tracked.completed,
                               .completed_ok = tracked.completed_ok,
                               .ended = tracked.ended,
                               .dropped = tracked.dropped};
  for (const TrackedBundleObject& object : tracked.objects)
    outcome.replicas += object.peers.size();
  return outcome;
}
std::size_t SteppedSimulation::bundles_opened() const {
  return state_->world.ledger().objects.bundles.bundles.size();
}

void SteppedSimulation::reset(std::size_t a, std::size_t b) {
  World& world = state_->world;
  if (a >= nodes() || b >= nodes()) throw std::out_of_range("reset: no such node");
  state_->pumped([&] {
    const std::size_t link_at = world.oracle().up_link(a, b);
    if (link_at == kNoLink) return;
    Network& net = world.net();
    const Link& link = net.link(link_at);
    if (!link.open[0] || !link.open[1]) return;
    net.count_fault();
    world.tracer().trace({"fault reset ", net.name(a), " ", net.name(b)});
    net.reset(link_at, net.side_of(link, a));
  });
}

void SteppedSimulation::partition(const std::vector<bool>& side, bool one_way) {
  World& world = state_->world;
  state_->pumped([&] {
    world.faults().cut(side, one_way, kUntilHealed);
    world.net().count_fault();
    world.tracer().trace({"fault partition until healed", (one_way ? " one-way" : "")});
  });
}
void SteppedSimulation::heal() {
  World& world = state_->world;
  state_->pumped([&] {
    world.faults().lift_partitions();
    world.tracer().trace({"heal"});
  });
}
void SteppedSimulation::crash(std::size_t node) {
  state_->pumped([&] { state_->world.crash(node); });
}
void SteppedSimulation::restart(std::size_t node) {
  state_->pumped([&] {
    if (!up(node)) state_->world.start_node(node);
  });
}
void SteppedSimulation::remove_peer(std::size_t a, std::size_t b) {
  if (a >= nodes() || b >= nodes() || a == b) throw std::out_of_range("remove_peer: bad nodes");
  state_->pumped([&] { state_->world.membership().remove(a, b); });
}
void SteppedSimulation::add_peer(std::size_t a, std::size_t b) {
  if (a >= nodes() || b >= nodes() || a == b) throw std::out_of_range("add_peer: bad nodes");
  state_->pumped([&] { state_->world.membership().add(a, b); });
}
bool SteppedSimulation::listed(std::size_t a, std::size_t b) const {
  return state_->world.oracle().listed(a, b);
}
void SteppedSimulation::advance(TimeNs duration_ns) {
  state_->world.guarded([&] { state_->world.advance(duration_ns); });
}

void SteppedSimulation::inject(std::size_t from, std::size_t to,
                               std::span<const std::uint8_t> bytes) {
  World& world = state_->world;
  if (from >= nodes() || to >= nodes()) throw std::out_of_range("inject: no such node");
  state_->world.guarded([&] {
    const std::size_t link_at = world.oracle().up_link(from, to);
    if (link_at == kNoLink || bytes.empty()) return;
    Network& net = world.net();
    Link& link = net.link(link_at);
    const int side = net.side_of(link, from);
    if (!link.open[side] || !link.open[1 - side]) return;
    ++link.corruptions;  // a protocol error on this link is expected now
    world.tracer().trace(
        {"inject ", std::to_string(bytes.size()), " bytes ", net.name(from), " -> ", net.name(to)});
    net.send(link_at, side, bytes);
    net.pump();
  });
}

SteppedOutcome SteppedSimulation::request_outcome(std::size_t call) const {
  return outcome_of(state_->world.ledger().call_outcomes.at(call));
}
SteppedOutcome SteppedSimulation::stream_outcome(std::size_t stream) const {
  return outcome_of(state_->world.ledger().stream_outcomes.at(stream));
}
std::size_t SteppedSimulation::requests_started() const {
  return state_->world.ledger().call_outcomes.size();
}
std::size_t SteppedSimulation::streams_opened() const {
  return state_->world.ledger().stream_outcomes.size();
}

namespace {

// Whether any open link still carries bytes its reader has not taken: until they land, the
// cluster's state can change (an open arriving makes a receiver hold a stream whose stop
// was lost), so a liveness check that passes now says nothing yet.
bool bytes_on_the_way(const Network& net) {
  for (std::size_t at = 0; at < net.link_count(); ++at) {
    const Link& link = net.link(at);
    for (int side = 0; side < 2; ++side) {
      if (!link.open[1 - side]) continue;
      if (!link.in_transit[side].empty() || !link.arrived[1 - side].empty()) return true;
    }
  }
  return false;
}

}  // namespace

SimResult SteppedSimulation::heal_and_drain(TimeNs quiet_ns, TimeNs settled_ns) {
  World& world = state_->world;
  const Oracle& oracle = world.oracle();
  world.guarded([&] {
    world.end_fault_phase();
    world.workload().finish_manual_streams();
    world.workload().objects().finish_manual();
    world.workload().bundles().finish_manual();
    const TimeNs end = now() + quiet_ns;
    if (settled_ns >= quiet_ns) {
      world.advance(quiet_ns);
    } else {
      while (now() < end && !oracle.failed() &&
             (oracle.liveness_problem() || bytes_on_the_way(world.net())))
        world.advance(std::min(kSecond, end - now()));
      if (!oracle.failed() && now() < end) world.advance(std::min(settled_ns, end - now()));
    }
    if (!oracle.failed()) world.check_liveness();
  });
  // The verdict, also when a node broke an invariant while draining.
  return world.result();
}

}  // namespace weft::sim
