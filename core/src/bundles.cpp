#include "bundles.hpp"

#include <algorithm>
#include <utility>

#include "invariant.hpp"
#include "weft/node.hpp"

namespace weft::detail {
namespace {

// A key's slot: splitmix64's finalizer spreads nearby keys (1, 2, 3...) over the slots.
std::uint64_t mix_key(std::uint64_t key) {
  key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
  key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
  return key ^ (key >> 31);
}

bool valid_endpoint(std::string_view endpoint) {
  return !endpoint.empty() && endpoint.size() <= 255 &&
         std::all_of(endpoint.begin(), endpoint.end(),
                     [](char c) { return c >= 0x21 && c <= 0x7e; });
}

template <typename E>
const E* as(const Event& event) {
  return std::get_if<E>(&event);
}

}  // namespace

// ---- lookups --------------------------------------------------------------------------

Bundles::Bundle* Bundles::find(BundleId id) {
  const auto found = bundles_.find(id.value);
  return found == bundles_.end() ? nullptr : &found->second;
}

const Bundles::Bundle* Bundles::find(BundleId id) const {
  const auto found = bundles_.find(id.value);
  return found == bundles_.end() ? nullptr : &found->second;
}

bool Bundles::peer_live(PeerId peer) const {
  return peer < node_.peer_count() && node_.connection(peer).state() != PeerState::removed;
}

Bundles::Replica* Bundles::find_replica(BundleId id, std::uint64_t object, PeerId peer) {
  Bundle* bundle = find(id);
  if (bundle == nullptr) return nullptr;
  const auto pending = bundle->pending.find(object);
  if (pending == bundle->pending.end()) return nullptr;
  for (Replica& replica : pending->second.replicas) {
    if (replica.peer == peer) return replica.result ? nullptr : &replica;
  }
  return nullptr;
}

// ---- commands -------------------------------------------------------------------------

OpenedBundle Bundles::open(const BundleConfig& config) {
  const NodeConfig& node_config = node_.config();
  if (!valid_endpoint(config.endpoint) || config.multiplier == 0 ||
      config.multiplier > node_config.max_bundle_multiplier ||
      (config.broadcast && !config.destinations.empty())) {
    return {Errc::invalid_argument, {}};
  }
  std::vector<PeerId> peers = config.destinations;
  if (config.broadcast) {
    for (PeerId peer = 0; peer < node_.peer_count(); ++peer) {
      if (peer_live(peer)) peers.push_back(peer);
    }
  }
  std::sort(peers.begin(), peers.end());
  if (std::adjacent_find(peers.begin(), peers.end()) != peers.end()) {
    return {Errc::invalid_argument, {}};
  }
  if (!std::all_of(peers.begin(), peers.end(), [this](PeerId peer) { return peer_live(peer); })) {
    return {Errc::unknown_peer, {}};
  }
  if (bundles_.size() >= node_config.max_bundles) return {Errc::queue_full, {}};
  const BundleId id{next_bundle_++};
  Bundle& bundle = bundles_[id.value];
  bundle.id = id;
  bundle.config = config;
  bundle.config.destinations.clear();  // the live set is `destinations`
  for (PeerId peer : peers) {
    bundle.destinations[peer].slots.resize(config.multiplier);
  }
  return {Errc::ok, id};
}

std::size_t Bundles::slot_for(const Bundle& bundle, std::uint64_t key) const {
  const std::uint64_t multiplier = bundle.config.multiplier;
  if (bundle.config.order == BundleOrder::by_key) return mix_key(key) % multiplier;
  return bundle.next_slot % multiplier;
}

Errc Bundles::ensure_stream(TimeNs now_ns, Bundle& bundle, PeerId peer, std::size_t slot) {
  ObjectStreamId& stream = bundle.destinations.at(peer).slots.at(slot);
  PeerConnection connection = node_.connection(peer);
  // A stream can end before the bundle sees its end event (the peer had no such endpoint,
  // or the node stopped it): its slot then takes a new stream. Every object of the old one
  // has completed by then, so the slot's order holds.
  if (stream.value != 0 && connection.object_post_fits(stream, 0) != Errc::not_found) {
    return Errc::ok;
  }
  const OpenedObjectStream opened = connection.open_object_stream(now_ns, bundle.config.endpoint);
  if (opened.error != Errc::ok) return opened.error;
  stream = opened.id;
  stream_owners_.emplace(stream.value, StreamOwner{bundle.id, peer, {}});
  ++bundle.streams;
  return Errc::ok;
}

Errc Bundles::check_room(TimeNs now_ns, Bundle& bundle, std::size_t slot, const ObjectArgs& args) {
  const std::uint64_t data_bytes = args.data ? args.data->size() : 0;
  for (auto& [peer, destination] : bundle.destinations) {
    if (const Errc opened = ensure_stream(now_ns, bundle, peer, slot); opened != Errc::ok) {
      return opened;
    }
    const Errc room = node_.connection(peer).object_post_fits(destination.slots[slot], data_bytes);
    if (room != Errc::ok) return room;
  }
  return Errc::ok;
}

PostedBundleObject Bundles::post(TimeNs now_ns, BundleId id, ObjectArgs args, std::uint64_t key) {
  Bundle* bundle = find(id);
  if (bundle == nullptr) return {Errc::not_found, 0, 0};
  if (bundle->fin || bundle->stopped) return {Errc::stream_closed, 0, 0};
  if (bundle->destinations.empty()) return {Errc::unknown_peer, 0, 0};
  const std::size_t slot = slot_for(*bundle, key);
  // All or nothing: a destination without room refuses the whole object, so the
  // application's back-pressure is the slowest destination's, never a partial post.
  if (const Errc room = check_room(now_ns, *bundle, slot, args); room != Errc::ok) {
    return {room, 0, 0};
  }
  const std::uint64_t number = bundle->posted + 1;
  PendingObject pending;
  pending.tag = args.tag;
  std::size_t left = bundle->destinations.size();
  for (auto& [peer, destination] : bundle->destinations) {
    const ObjectStreamId stream = destination.slots[slot];
    // Copies share in-memory data (SharedBytes is a reference); the last takes the args.
    PostedObject posted =
        node_.connection(peer).object_post(now_ns, stream, --left == 0 ? std::move(args) : args);
    if (posted.error != Errc::ok) {
      // Only the arguments themselves can be refused after check_room, and they are the
      // same for every replica: the first refuses, before anything was posted.
      WEFT_ASSERT(pending.replicas.empty());
      return {posted.error, 0, 0};
    }
    stream_owners_.at(stream.value).posted.emplace_back(posted.object, number);
    pending.replicas.push_back(Replica{peer, stream, posted.object, std::nullopt});
  }
  pending.unfinished = pending.replicas.size();
  const std::size_t replicas = pending.replicas.size();
  bundle->pending.emplace(number, std::move(pending));
  bundle->posted = number;
  ++bundle->next_slot;
  ++bundle->counters.objects;
  return {Errc::ok, number, replicas};
}

Errc Bundles::supply(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer,
                     std::uint64_t offset, const Payload& data, bool last) {
  const Replica* replica = find_replica(id, object, peer);
  if (replica == nullptr) return Errc::not_found;
  return node_.connection(peer).object_supply(now_ns, replica->stream, replica->stream_object,
                                              offset, data, last);
}

Errc Bundles::abort_replica(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer,
                            Errc code, std::string_view message) {
  if (code == Errc::ok) return Errc::invalid_argument;
  const Replica* replica = find_replica(id, object, peer);
  if (replica == nullptr) return Errc::not_found;
  return node_.connection(peer).object_abort(now_ns, replica->stream, replica->stream_object, code,
                                             message);
}

Errc Bundles::add_destination(BundleId id, PeerId peer) {
  Bundle* bundle = find(id);
  if (bundle == nullptr) return Errc::not_found;
  if (bundle->fin || bundle->stopped) return Errc::stream_closed;
  if (!peer_live(peer)) return Errc::unknown_peer;
  if (bundle->destinations.contains(peer)) return Errc::invalid_argument;
  bundle->destinations[peer].slots.resize(bundle->config.multiplier);
  return Errc::ok;
}

// Stops the destination's streams (their objects complete with `code`) and forgets it.
void Bundles::end_destination(TimeNs now_ns, Bundle& bundle, PeerId peer, Errc code,
                              std::string_view message) {
  const auto found = bundle.destinations.find(peer);
  if (found == bundle.destinations.end()) return;
  for (const ObjectStreamId stream : found->second.slots) {
    if (stream.value != 0) node_.connection(peer).object_stream_stop(now_ns, stream, code, message);
  }
  bundle.destinations.erase(found);
}

Errc Bundles::remove_destination(TimeNs now_ns, BundleId id, PeerId peer) {
  Bundle* bundle = find(id);
  if (bundle == nullptr || !bundle->destinations.contains(peer)) return Errc::not_found;
  end_destination(now_ns, *bundle, peer, Errc::destination_removed,
                  "destination removed from the bundle");
  return Errc::ok;
}

Errc Bundles::fin(TimeNs now_ns, BundleId id) {
  Bundle* bundle = find(id);
  if (bundle == nullptr) return Errc::not_found;
  if (bundle->fin || bundle->stopped) return Errc::stream_closed;
  bundle->fin = true;
  for (const auto& [peer, destination] : bundle->destinations) {
    for (const ObjectStreamId stream : destination.slots) {
      if (stream.value != 0) node_.connection(peer).object_stream_fin(now_ns, stream);
    }
  }
  end_if_done(*bundle);
  return Errc::ok;
}

Errc Bundles::stop(TimeNs now_ns, BundleId id, Errc code, std::string_view message) {
  if (code == Errc::ok) return Errc::invalid_argument;
  Bundle* bundle = find(id);
  if (bundle == nullptr) return Errc::not_found;
  if (bundle->stopped) return Errc::stream_closed;
  bundle->stopped.emplace(code, std::string(message));
  while (!bundle->destinations.empty()) {
    end_destination(now_ns, *bundle, bundle->destinations.begin()->first, code, message);
  }
  end_if_done(*bundle);
  return Errc::ok;
}

std::optional<BundleStats> Bundles::stats(BundleId id) const {
  const Bundle* bundle = find(id);
  if (bundle == nullptr) return std::nullopt;
  BundleStats stats = bundle->counters;
  stats.destinations = bundle->destinations.size();
  stats.streams = bundle->streams;
  stats.in_flight = bundle->pending.size();
  return stats;
}

std::optional<std::vector<PeerId>> Bundles::destinations(BundleId id) const {
  const Bundle* bundle = find(id);
  if (bundle == nullptr) return std::nullopt;
  std::vector<PeerId> peers;
  for (const auto& [peer, destination] : bundle->destinations)
    peers.push_back(peer);
  return peers;
}

// ---- membership -----------------------------------------------------------------------

void Bundles::on_peer_added(PeerId peer) {
  for (auto& [id, bundle] : bundles_) {
    if (bundle.config.broadcast && !bundle.fin && !bundle.stopped) {
      bundle.destinations[peer].slots.resize(bundle.config.multiplier);
    }
  }
}

void Bundles::on_peer_removed(PeerId peer) {
  for (auto& [id, bundle] : bundles_)
    bundle.destinations.erase(peer);
}

// ---- events ---------------------------------------------------------------------------

bool Bundles::owns_stream_event(const Event& event) const {
  ObjectStreamId stream;
  if (const auto* completed = as<event::ObjectCompleted>(event)) {
    stream = completed->stream;
  } else if (const auto* want = as<event::ObjectWantData>(event)) {
    stream = want->stream;
  } else if (const auto* ended = as<event::ObjectStreamEnded>(event)) {
    stream = ended->stream;
  } else {
    return false;
  }
  return stream_owners_.contains(stream.value);
}

void Bundles::on_stream_event(Event&& event) {
  if (auto* completed = std::get_if<event::ObjectCompleted>(&event)) {
    on_completed(std::move(*completed));
  } else if (const auto* want = as<event::ObjectWantData>(event)) {
    on_want_data(*want);
  } else if (const auto* ended = as<event::ObjectStreamEnded>(event)) {
    on_stream_ended(*ended);
  }
}

void Bundles::on_completed(event::ObjectCompleted&& completed) {
  StreamOwner& owner = stream_owners_.at(completed.stream.value);
  // A stream completes its objects in posting order (events.hpp).
  WEFT_ASSERT(!owner.posted.empty() && owner.posted.front().first == completed.object);
  const std::uint64_t number = owner.posted.front().second;
  owner.posted.pop_front();
  Bundle& bundle = bundles_.at(owner.bundle.value);
  PendingObject& pending = bundle.pending.at(number);
  const auto replica =
      std::find_if(pending.replicas.begin(), pending.replicas.end(), [&](const Replica& r) {
        return r.stream == completed.stream && r.stream_object == completed.object;
      });
  WEFT_ASSERT(replica != pending.replicas.end() && !replica->result);
  ++(completed.result == Errc::ok ? bundle.counters.replicas_ok : bundle.counters.replicas_failed);
  replica->result.emplace(
      ReplicaResult{owner.peer, completed.result, std::move(completed.message)});
  if (--pending.unfinished > 0) return;
  event::BundleObjectCompleted done{bundle.id, number, pending.tag, {}};
  done.replicas.reserve(pending.replicas.size());
  for (Replica& finished : pending.replicas)
    done.replicas.push_back(std::move(*finished.result));
#if WEFT_CANARIES
  // Canary: every replica reports what the last one did.
  if (node_.config().canary == Canary::bundle_last_result_only) {
    for (ReplicaResult& result : done.replicas) {
      result.result = done.replicas.back().result;
      result.message = done.replicas.back().message;
    }
  }
#endif
  ++(done.all_ok() ? bundle.counters.completed_ok : bundle.counters.completed_error);
  bundle.pending.erase(number);
  events_.emplace_back(std::move(done));
  end_if_done(bundle);
}

void Bundles::on_want_data(const event::ObjectWantData& want) {
  const StreamOwner& owner = stream_owners_.at(want.stream.value);
  const auto posted = std::find_if(owner.posted.begin(), owner.posted.end(),
                                   [&](const auto& entry) { return entry.first == want.object; });
  // An object that completed before its request was handled asks for nothing more.
  if (posted == owner.posted.end()) return;
  events_.emplace_back(
      event::BundleWantData{owner.bundle, posted->second, owner.peer, want.offset});
}

void Bundles::on_stream_ended(const event::ObjectStreamEnded& ended) {
  const auto found = stream_owners_.find(ended.stream.value);
  const StreamOwner owner = std::move(found->second);
  stream_owners_.erase(found);
  // A stream completes every object before it ends (events.hpp).
  WEFT_ASSERT(owner.posted.empty());
  Bundle& bundle = bundles_.at(owner.bundle.value);
  --bundle.streams;
  const auto destination = bundle.destinations.find(owner.peer);
  if (destination != bundle.destinations.end()) {
    for (ObjectStreamId& slot : destination->second.slots) {
      if (slot == ended.stream) slot = ObjectStreamId{};  // the next object opens another
    }
  }
  end_if_done(bundle);
}

void Bundles::end_if_done(Bundle& bundle) {
  if (!(bundle.fin || bundle.stopped) || bundle.streams > 0 || !bundle.pending.empty()) return;
  event::BundleEnded ended{bundle.id, Errc::ok, {}};
  if (bundle.stopped) {
    ended.result = bundle.stopped->first;
    ended.message = bundle.stopped->second;
  }
  events_.emplace_back(std::move(ended));
  bundles_.erase(bundle.id.value);
}

// ---- invariants -----------------------------------------------------------------------

void Bundles::check_invariants() const {
#if WEFT_INVARIANTS
  std::map<std::uint64_t, std::size_t> streams_of;
  std::size_t replicas_waiting = 0;
  for (const auto& [stream, owner] : stream_owners_) {
    WEFT_ASSERT(bundles_.contains(owner.bundle.value));
    ++streams_of[owner.bundle.value];
    replicas_waiting += owner.posted.size();
  }
  std::size_t unfinished = 0;
  for (const auto& [id, bundle] : bundles_) {
    WEFT_ASSERT(bundle.streams == streams_of[id]);
    for (const auto& [number, pending] : bundle.pending) {
      WEFT_ASSERT(number <= bundle.posted && pending.unfinished > 0);
      const auto open = std::count_if(pending.replicas.begin(), pending.replicas.end(),
                                      [](const Replica& replica) { return !replica.result; });
      WEFT_ASSERT(static_cast<std::size_t>(open) == pending.unfinished);
      unfinished += pending.unfinished;
    }
    for (const auto& [peer, destination] : bundle.destinations) {
      WEFT_ASSERT(destination.slots.size() == bundle.config.multiplier);
      for (const ObjectStreamId stream : destination.slots) {
        WEFT_ASSERT(stream.value == 0 || stream_owners_.contains(stream.value));
      }
    }
  }
  // Two sides of one fact: the replicas the streams owe are those the objects wait for.
  WEFT_ASSERT(unfinished == replicas_waiting);
#endif
}

}  // namespace weft::detail
