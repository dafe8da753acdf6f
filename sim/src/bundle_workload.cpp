#include "bundle_workload.hpp"

#include <algorithm>

namespace weft::sim {

namespace {

constexpr TimeNs kRetryNs = 100'000'000;   // a refused post with nothing in flight: again
constexpr std::uint64_t kMaxRetries = 50;  // then the bundle gives up its remaining plans

std::string node_list(const Network& net, const std::vector<std::size_t>& nodes) {
  std::string list;
  for (const std::size_t node : nodes)
    list += (list.empty() ? "" : ",") + net.name(node);
  return list;
}

}  // namespace

BundleWorkload::BundleWorkload(Rng rng, Network& net, ObjectBooks& books, Oracle& oracle,
                               Tracer& tracer)
    : rng_(rng), net_(net), books_(books), tracer_(tracer), check_(net, books, oracle, tracer) {}

// Objects of every kind, mostly small (each goes to every destination), a few of a few
// hundred KiB (past a receiver's window).
ObjectPlan BundleWorkload::draw_plan() {
  ObjectPlan plan;
  const std::uint64_t kind = rng_.below(20);
  plan.kind = kind < 4    ? ObjectKind::header_only
              : kind < 10 ? ObjectKind::in_memory
              : kind < 16 ? ObjectKind::supplied_sized
                          : ObjectKind::supplied_unsized;
  if (plan.kind != ObjectKind::header_only) {
    const std::uint64_t size = rng_.below(100);
    plan.size = size < 10   ? 0
                : size < 95 ? rng_.below(12 << 10)
                            : (16 << 10) + rng_.below(300 << 10);
  }
  return plan;
}

// The receiving application's plan for one replica: mostly reads, some discards and refusals.
static ReadAction draw_action(Rng& rng) {
  const std::uint64_t action = rng.below(20);
  return action < 11   ? ReadAction::whole
         : action < 13 ? ReadAction::steps
         : action < 15 ? ReadAction::half_discard
         : action < 16 ? ReadAction::discard
         : action < 18 ? ReadAction::refuse
                       : ReadAction::half_refuse;
}

// ---- opening --------------------------------------------------------------------------

void BundleWorkload::start(std::size_t from) {
  Opening opening;
  opening.from = from;
  opening.broadcast = rng_.below(2) == 0;
  for (std::size_t node = 0; node < net_.node_count(); ++node) {
    if (node != from && !opening.broadcast && rng_.below(2) == 0)
      opening.destinations.push_back(node);
  }
  if (!opening.broadcast && opening.destinations.empty())
    opening.destinations.push_back((from + 1 + rng_.below(net_.node_count() - 1)) %
                                   net_.node_count());
  opening.multiplier = static_cast<std::uint32_t>(1 + rng_.below(4));
  opening.by_key = rng_.below(2) == 0;
  opening.unknown_endpoint = rng_.below(30) == 0;
  const std::optional<std::size_t> number = open(opening);
  if (!number) return;
  TrackedBundle& bundle = books_.bundles.bundles[*number];
  TrackedObjectStream& record = books_.streams[bundle.serial];
  const std::uint64_t count = 1 + rng_.below(6);
  for (std::uint64_t i = 0; i < count; ++i) {
    record.plans.push_back(draw_plan());
    bundle.keys.push_back(bundle.by_key ? rng_.below(3) : 0);
  }
  bundle.ends_by_stop = rng_.below(6) == 0;
  if (bundle.ends_by_stop) {
    net_.at(net_.now() + static_cast<TimeNs>(rng_.below(3000)) * 1'000'000,
            [this, n = *number] { stop(n); });
  }
  if (rng_.below(4) == 0) {
    net_.at(net_.now() + static_cast<TimeNs>(rng_.below(3000)) * 1'000'000,
            [this, n = *number] { change_destinations(n); });
  }
  post_planned(*number);
}

std::optional<std::size_t> BundleWorkload::open(const Opening& opening) {
  Node* node = net_.node(opening.from);
  if (node == nullptr) return std::nullopt;
  BundleConfig config;
  config.endpoint = opening.unknown_endpoint ? kNoSuchEndpoint : kObjectEndpoint;
  config.broadcast = opening.broadcast;
  config.multiplier = opening.multiplier;
  config.order = opening.by_key ? BundleOrder::by_key : BundleOrder::round_robin;
  std::vector<std::size_t> listed;  // the destinations `from` lists now (membership)
  for (const std::size_t to : opening.destinations) {
    const PeerId peer = net_.peer_of(opening.from, to);
    if (peer == kNoPeer || to == opening.from) continue;
    config.destinations.push_back(peer);
    listed.push_back(to);
  }
  if (!opening.broadcast && listed.empty()) return std::nullopt;
  const OpenedBundle opened = node->open_bundle(net_.now(), config);
  if (opened.error != Errc::ok) {
    // Every destination is live and distinct, the endpoint and multiplier valid.
    check_.fail("open_bundle refused: " + std::string(errc_name(opened.error)));
    return std::nullopt;
  }
  const std::uint64_t serial = books_.streams.size();
  TrackedObjectStream& record = books_.streams.emplace_back();
  record.from = opening.from;
  record.to = opening.from;
  record.peer = kNoPeer;  // the oracle's per-peer checks of object streams pass it by
  record.serial = serial;
  record.from_epoch = net_.epoch(opening.from);
  record.bundle = true;
  record.unknown_endpoint = opening.unknown_endpoint;
  const std::size_t number = books_.bundles.bundles.size();
  TrackedBundle& bundle = books_.bundles.bundles.emplace_back();
  bundle.serial = serial;
  bundle.from = opening.from;
  bundle.from_epoch = record.from_epoch;
  bundle.id = opened.id;
  bundle.broadcast = opening.broadcast;
  bundle.by_key = opening.by_key;
  bundle.multiplier = opening.multiplier;
  bundle.unknown_endpoint = opening.unknown_endpoint;
  bundle.manual = opening.manual;
  bundle.wanted = listed;
  books_.bundles.by_serial[serial] = number;
  books_.bundles.by_sender[{opening.from, bundle.from_epoch, opened.id.value}] = number;
  tracer_.trace({"bundle open s", std::to_string(serial), " ", net_.name(opening.from), " ",
                 opening.broadcast ? "broadcast" : "multicast " + node_list(net_, listed), " x",
                 std::to_string(opening.multiplier), opening.by_key ? " by_key" : " round_robin",
                 opening.unknown_endpoint ? " (unknown endpoint)" : ""});
  return number;
}

std::optional<std::size_t> BundleWorkload::open_manual(std::size_t from, bool broadcast,
                                                       const std::vector<std::size_t>& destinations,
                                                       std::uint32_t multiplier, bool by_key) {
  return open(Opening{from, broadcast, destinations, multiplier, by_key, false, true});
}

TrackedBundle* BundleWorkload::live(std::size_t number) {
  if (number >= books_.bundles.bundles.size()) return nullptr;
  TrackedBundle& bundle = books_.bundles.bundles[number];
  if (bundle.dropped || bundle.ended || net_.node(bundle.from) == nullptr ||
      net_.epoch(bundle.from) != bundle.from_epoch) {
    return nullptr;
  }
  return &bundle;
}

// ---- posting --------------------------------------------------------------------------

bool BundleWorkload::post_one(TrackedBundle& bundle, const ObjectPlan& plan, std::uint64_t key) {
  Node* node = net_.node(bundle.from);
  const std::uint64_t number = bundle.objects.size() + 1;
  const std::vector<PeerId> destinations =
      node->bundle_destinations(bundle.id).value_or(std::vector<PeerId>{});
  const PostedBundleObject posted =
      node->bundle_post(net_.now(), bundle.id, object_args(bundle.serial, number, plan), key);
  if (!check_.posted(bundle, posted, destinations, key)) return false;
  const TrackedBundleObject& object = bundle.objects.back();
  for (const std::size_t to : object.nodes) {
    books_.bundles.replicas.at({bundle.serial, number, to}).action =
        static_cast<std::uint8_t>(draw_action(rng_));
  }
  tracer_.trace({"bundle post s", std::to_string(bundle.serial), "/o", std::to_string(number), " ",
                 object_kind_name(plan.kind), " ", std::to_string(plan.size), " B key ",
                 std::to_string(key), " -> ", node_list(net_, object.nodes)});
  return true;
}

void BundleWorkload::post_planned(std::size_t number) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || bundle->manual || bundle->fin || bundle->stopped) return;
  TrackedObjectStream& record = books_.streams[bundle->serial];
  follow_membership(*bundle);
  while (bundle->objects.size() < record.plans.size()) {
    const std::size_t next = bundle->objects.size();
    if (post_one(*bundle, record.plans[next], bundle->keys[next])) continue;
    if (check_.failed()) return;
    const bool idle = bundle->completed == bundle->objects.size();
    if (!idle) return;  // a completion posts more
    // Nothing in flight to wait for: no destination, or a slot's stream could not be
    // opened. Try again a little later, then give up the rest.
    if (bundle->post_scheduled) return;
    if (bundle->retries++ < kMaxRetries) {
      bundle->post_scheduled = true;
      net_.at(net_.now() + kRetryNs, [this, number] {
        books_.bundles.bundles[number].post_scheduled = false;
        post_planned(number);
      });
      return;
    }
    record.plans.resize(bundle->objects.size());
  }
  if (bundle->ends_by_stop) return;
  fin(number);
}

void BundleWorkload::follow_membership(TrackedBundle& bundle) {
  if (bundle.broadcast) return;  // the core follows the node's peers itself
  Node* node = net_.node(bundle.from);
  const std::vector<PeerId> now =
      node->bundle_destinations(bundle.id).value_or(std::vector<PeerId>{});
  for (const std::size_t to : bundle.wanted) {
    const PeerId peer = net_.peer_of(bundle.from, to);
    if (peer == kNoPeer || std::find(now.begin(), now.end(), peer) != now.end()) continue;
    if (node->bundle_add_destination(net_.now(), bundle.id, peer) != Errc::ok) {
      return check_.fail("bundle_add_destination refused a listed peer");
    }
    tracer_.trace({"bundle add s", std::to_string(bundle.serial), " ", net_.name(to)});
  }
}

void BundleWorkload::change_destinations(std::size_t number) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || bundle->fin || bundle->stopped) return;
  const std::size_t to = (bundle->from + 1 + rng_.below(net_.node_count() - 1)) % net_.node_count();
  const PeerId peer = net_.peer_of(bundle->from, to);
  if (peer == kNoPeer) return;
  const std::vector<PeerId> now = net_.node(bundle->from)->bundle_destinations(bundle->id).value();
  if (std::find(now.begin(), now.end(), peer) != now.end()) {
    remove_destination(number, to);
  } else {
    add_destination(number, to);
  }
}

bool BundleWorkload::post(std::size_t number, const ObjectPlan& plan, std::uint64_t key) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || bundle->fin || bundle->stopped) return false;
  TrackedObjectStream& record = books_.streams[bundle->serial];
  record.plans.push_back(plan);
  bundle->keys.push_back(key);
  if (post_one(*bundle, plan, key)) return true;
  record.plans.pop_back();
  bundle->keys.pop_back();
  return false;
}

// ---- ending and destinations ------------------------------------------------------------

bool BundleWorkload::fin(std::size_t number) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || bundle->fin || bundle->stopped) return false;
  tracer_.trace({"bundle fin s", std::to_string(bundle->serial)});
  bundle->fin = true;
  const Errc fin = net_.node(bundle->from)->bundle_fin(net_.now(), bundle->id);
  if (fin != Errc::ok) check_.fail("bundle_fin refused: " + std::string(errc_name(fin)));
  return fin == Errc::ok;
}

bool BundleWorkload::stop(std::size_t number) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || bundle->stopped) return false;
  tracer_.trace({"bundle stop s", std::to_string(bundle->serial)});
  bundle->stopped = true;  // before the call: the completions it causes are canceled
  books_.streams[bundle->serial].stopped = true;
  const Errc stop = net_.node(bundle->from)->bundle_stop(net_.now(), bundle->id);
  if (stop != Errc::ok) check_.fail("bundle_stop refused: " + std::string(errc_name(stop)));
  return stop == Errc::ok;
}

bool BundleWorkload::add_destination(std::size_t number, std::size_t node) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || node >= net_.node_count()) return false;
  const PeerId peer = net_.peer_of(bundle->from, node);
  if (peer == kNoPeer) return false;
  const Errc added = net_.node(bundle->from)->bundle_add_destination(net_.now(), bundle->id, peer);
  if (added == Errc::ok) {
    tracer_.trace({"bundle add s", std::to_string(bundle->serial), " ", net_.name(node)});
    if (std::find(bundle->wanted.begin(), bundle->wanted.end(), node) == bundle->wanted.end())
      bundle->wanted.push_back(node);
    return true;
  }
  const bool finished = bundle->fin || bundle->stopped;
  if (added != Errc::invalid_argument && !(finished && added == Errc::stream_closed))
    check_.fail("bundle_add_destination refused: " + std::string(errc_name(added)));
  return false;
}

bool BundleWorkload::remove_destination(std::size_t number, std::size_t node) {
  TrackedBundle* bundle = live(number);
  if (bundle == nullptr || node >= net_.node_count()) return false;
  const PeerId peer = net_.peer_of(bundle->from, node);
  if (peer == kNoPeer) return false;
  // Recorded before the call: the replicas it ends complete destination_removed.
  bundle->removals.emplace_back(peer, bundle->objects.size());
  const Errc removed =
      net_.node(bundle->from)->bundle_remove_destination(net_.now(), bundle->id, peer);
  if (removed != Errc::ok) {
    bundle->removals.pop_back();
    if (removed != Errc::not_found)
      check_.fail("bundle_remove_destination refused: " + std::string(errc_name(removed)));
    return false;
  }
  tracer_.trace({"bundle remove s", std::to_string(bundle->serial), " ", net_.name(node)});
  std::erase(bundle->wanted, node);
  return true;
}

void BundleWorkload::finish_manual() {
  for (std::size_t number = 0; number < books_.bundles.bundles.size(); ++number) {
    TrackedBundle& bundle = books_.bundles.bundles[number];
    if (!bundle.manual) continue;
    bundle.manual = false;
    if (!bundle.fin && !bundle.stopped && live(number) != nullptr) fin(number);
  }
}

// ---- events ---------------------------------------------------------------------------

void BundleWorkload::completed(std::size_t index, const event::BundleObjectCompleted& done) {
  TrackedBundle* bundle = check_.completed(index, done);
  if (bundle == nullptr || bundle->manual) return;
  post_planned(books_.bundles.by_serial.at(bundle->serial));
}

// The data of a replica, from where its stream asks; one first ask in ten finds the data
// unreadable for that replica and aborts it.
void BundleWorkload::want_data(std::size_t index, const event::BundleWantData& want) {
  if (!check_.want_data(index, want)) return;
  TrackedBundle& bundle = *books_.bundles.sender(index, net_.epoch(index), want.bundle);
  Node* node = net_.node(index);
  const std::uint64_t serial = bundle.serial;
  if (want.offset == 0 && rng_.below(10) == 0) {
    const Errc aborted = node->bundle_abort(net_.now(), want.bundle, want.object, want.peer,
                                            kReplicaAbort, replica_abort_text(serial, want.object));
    if (aborted == Errc::ok) {
      tracer_.trace({"bundle abort s", std::to_string(serial), "/o", std::to_string(want.object),
                     " to ", net_.name(net_.node_of(index, want.peer))});
      bundle.objects[want.object - 1].aborted.push_back(want.peer);
      return;
    }
    if (aborted != Errc::not_found)
      return check_.fail("bundle_abort refused: " + std::string(errc_name(aborted)));
  }
  const ObjectPlan& plan = books_.streams[serial].plans[want.object - 1];
  const Errc refused =
      supply_object(serial, want.object, plan.size, want.offset,
                    [&](std::uint64_t offset, std::vector<std::uint8_t> piece, bool last) {
                      return node->bundle_supply(net_.now(), want.bundle, want.object, want.peer,
                                                 offset, std::move(piece), last);
                    });
  if (refused != Errc::ok)
    check_.fail("bundle_supply refused data the core asked for: " +
                std::string(errc_name(refused)));
}

}  // namespace weft::sim
