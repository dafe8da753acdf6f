#include "object_workload.hpp"

#include <algorithm>
#include <limits>
#include <vector>

namespace weft::sim {

namespace {

constexpr std::uint64_t kStepBytes = 16 << 10;  // a step of a slow reader
constexpr TimeNs kStepNs = 2'000'000;           // between a slow reader's steps
constexpr std::uint64_t kAll = std::numeric_limits<std::uint64_t>::max();

}  // namespace

ObjectWorkload::ObjectWorkload(Rng rng, Network& net, ObjectBooks& books, Oracle& oracle,
                               Tracer& tracer)
    : rng_(rng), net_(net), books_(books), tracer_(tracer), check_(net, books, oracle, tracer) {}

void ObjectWorkload::configure(NodeConfig& config) {
  config.limits.max_objects_in_flight = kObjectBurst;
}

void ObjectWorkload::node_started(std::size_t index) {
  net_.node(index)->register_object_endpoint(kObjectEndpoint, kObjectWindow);
  const std::size_t n = net_.node_count();
  if (books_.epoch_at_start.empty()) books_.epoch_at_start.assign(n, std::vector<std::uint64_t>(n));
  for (std::size_t other = 0; other < n; ++other) {
    books_.epoch_at_start[index][other] = net_.epoch(other);
    books_.ghost_adopted.erase({index, other});
  }
}

// Mostly small objects, some of a few hundred KiB (past the window), one in a hundred of
// 1-2.5 MiB; every kind, and every way a receiver can take an object.
ObjectPlan ObjectWorkload::draw_plan() {
  ObjectPlan plan;
  const std::uint64_t kind = rng_.below(20);
  plan.kind = kind < 3    ? ObjectKind::header_only
              : kind < 10 ? ObjectKind::in_memory
              : kind < 15 ? ObjectKind::supplied_sized
                          : ObjectKind::supplied_unsized;
  if (plan.kind != ObjectKind::header_only) {
    const std::uint64_t size = rng_.below(100);
    plan.size = size < 8    ? 0
                : size < 80 ? rng_.below(16 << 10)
                : size < 99 ? (16 << 10) + rng_.below(200 << 10)
                            : (1 << 20) + rng_.below(3 << 19);
  }
  const std::uint64_t action = rng_.below(20);
  plan.action = action < 10   ? ReadAction::whole
                : action < 13 ? ReadAction::steps
                : action < 15 ? ReadAction::half_discard
                : action < 16 ? ReadAction::discard
                : action < 18 ? ReadAction::refuse
                              : ReadAction::half_refuse;
  return plan;
}

// ---- senders --------------------------------------------------------------------------

std::optional<std::uint64_t> ObjectWorkload::open(std::size_t from, std::size_t to,
                                                  bool unknown_endpoint, bool manual) {
  Node* node = net_.node(from);
  if (node == nullptr) return std::nullopt;
  const PeerId peer = net_.peer_of(from, to);
  if (peer == kNoPeer) return std::nullopt;  // `from` does not list `to` now (membership)
  const std::uint64_t serial = books_.streams.size();
  const bool lz4 = compressed_stream(serial);
  const OpenedObjectStream opened = node->connection(peer).open_object_stream(
      net_.now(), unknown_endpoint ? kNoSuchEndpoint : kObjectEndpoint,
      ObjectStreamOptions{lz4 ? ObjectCompression::lz4 : ObjectCompression::none});
  if (opened.error != Errc::ok) return std::nullopt;
  TrackedObjectStream& stream = books_.streams.emplace_back();
  stream.from = from;
  stream.to = to;
  stream.serial = serial;
  stream.from_epoch = net_.epoch(from);
  stream.peer = peer;
  stream.id = opened.id;
  stream.unknown_endpoint = unknown_endpoint;
  stream.manual = manual;
  books_.by_sender[{from, stream.from_epoch, peer, opened.id.value}] = serial;
  tracer_.trace({"object stream s", std::to_string(serial), " ", net_.name(from), " -> ",
                 net_.name(to), unknown_endpoint ? " (unknown endpoint)" : "", lz4 ? " lz4" : ""});
  return serial;
}

void ObjectWorkload::start(std::size_t from, std::size_t to) {
  const std::optional<std::uint64_t> serial = open(from, to, rng_.below(25) == 0, false);
  if (!serial) return;
  TrackedObjectStream& stream = books_.streams[*serial];
  // A stream that waits past the idle timeout between objects closes its mux and opens it
  // again for the next; it carries few objects, so the quiet phase sees it end.
  if (rng_.below(6) == 0) stream.gap_ns = static_cast<TimeNs>(4000 + rng_.below(2000)) * 1'000'000;
  const std::uint64_t count =
      stream.gap_ns > 0 ? 2 + rng_.below(2) : 1 + rng_.below(kObjectBurst + 4);
  for (std::uint64_t i = 0; i < count; ++i)
    stream.plans.push_back(draw_plan());
  stream.ends_by_stop = rng_.below(8) == 0;
  if (stream.ends_by_stop) {
    net_.at(net_.now() + static_cast<TimeNs>(rng_.below(4000)) * 1'000'000,
            [this, serial = *serial] { stop(serial); });
  }
  post_planned(stream);
}

TrackedObjectStream* ObjectWorkload::live(std::uint64_t serial) {
  if (serial >= books_.streams.size()) return nullptr;
  TrackedObjectStream& stream = books_.streams[serial];
  if (stream.bundle || stream.dropped || stream.ended || net_.node(stream.from) == nullptr ||
      net_.epoch(stream.from) != stream.from_epoch) {
    return nullptr;
  }
  return &stream;
}

bool ObjectWorkload::post_one(TrackedObjectStream& stream) {
  const std::uint64_t number = stream.posted + 1;
  const ObjectPlan& plan = stream.plans[stream.posted];
  ObjectArgs args = object_args(stream.serial, number, plan);
  PeerConnection connection = net_.node(stream.from)->connection(stream.peer);
  const PostedObject posted = connection.object_post(net_.now(), stream.id, std::move(args));
  if (!check_.posted(stream, posted)) return false;
  tracer_.trace({"object post s", std::to_string(stream.serial), "/o", std::to_string(number), " ",
                 object_kind_name(plan.kind), " ", std::to_string(plan.size), " B"});
  return true;
}

void ObjectWorkload::post_planned(TrackedObjectStream& stream) {
  if (stream.manual || stream.stopped || stream.fin || live(stream.serial) == nullptr) return;
  while (stream.posted < stream.plans.size()) {
    if (stream.gap_ns > 0 && stream.posted > stream.completed) return;  // after the gap
    if (!post_one(stream)) return;  // at the burst limit: more as objects complete
  }
  if (stream.ends_by_stop) return;
  stream.fin = true;
  const Errc fin =
      net_.node(stream.from)->connection(stream.peer).object_stream_fin(net_.now(), stream.id);
  if (fin != Errc::ok) check_.fail("object_stream_fin refused: " + std::string(errc_name(fin)));
}

std::optional<std::uint64_t> ObjectWorkload::open_manual(std::size_t from, std::size_t to,
                                                         bool unknown_endpoint) {
  return open(from, to, unknown_endpoint, true);
}

bool ObjectWorkload::post(std::uint64_t serial, const ObjectPlan& plan) {
  TrackedObjectStream* stream = live(serial);
  if (stream == nullptr || stream->fin || stream->stopped) return false;
  stream->plans.push_back(plan);
  if (post_one(*stream)) return true;
  stream->plans.pop_back();
  return false;
}

bool ObjectWorkload::fin(std::uint64_t serial) {
  TrackedObjectStream* stream = live(serial);
  if (stream == nullptr || stream->fin || stream->stopped) return false;
  stream->fin = true;
  const Errc fin =
      net_.node(stream->from)->connection(stream->peer).object_stream_fin(net_.now(), stream->id);
  if (fin != Errc::ok) check_.fail("object_stream_fin refused: " + std::string(errc_name(fin)));
  return fin == Errc::ok;
}

bool ObjectWorkload::stop(std::uint64_t serial) {
  TrackedObjectStream* stream = live(serial);
  if (stream == nullptr || stream->stopped) return false;
  tracer_.trace({"object stream stop s", std::to_string(serial)});
  stream->stopped = true;  // before the call: the completions it causes are canceled
  const Errc stop =
      net_.node(stream->from)->connection(stream->peer).object_stream_stop(net_.now(), stream->id);
  if (stop != Errc::ok) check_.fail("object_stream_stop refused: " + std::string(errc_name(stop)));
  return stop == Errc::ok;
}

// ---- sender events ----------------------------------------------------------------------

void ObjectWorkload::completed(std::size_t index, const event::ObjectCompleted& done) {
  TrackedObjectStream* stream = check_.completed(index, done);
  if (stream == nullptr || stream->manual) return;
  if (stream->gap_ns == 0) return post_planned(*stream);
  if (stream->post_scheduled || stream->posted >= stream->plans.size()) return;
  stream->post_scheduled = true;
  net_.at(net_.now() + stream->gap_ns, [this, serial = stream->serial] {
    TrackedObjectStream& later = books_.streams[serial];
    later.post_scheduled = false;
    post_planned(later);
  });
}

// The application supplies the data from where the core asks (again from an earlier offset
// after a resume) until the core's buffer is full or the object is whole.
void ObjectWorkload::want_data(std::size_t index, const event::ObjectWantData& want) {
  TrackedObjectStream* stream = check_.sender_of(index, want.peer, want.stream, "ObjectWantData");
  if (stream == nullptr) return;
  if (want.object == 0 || want.object > stream->posted)
    return check_.fail("ObjectWantData for an object never posted");
  const ObjectPlan& plan = stream->plans[want.object - 1];
  if (plan.kind == ObjectKind::header_only || plan.kind == ObjectKind::in_memory ||
      want.offset > plan.size)
    return check_.fail("ObjectWantData for data the core holds or that does not exist: s" +
                       std::to_string(stream->serial) + "/o" + std::to_string(want.object) + " " +
                       object_kind_name(plan.kind) + " of " + std::to_string(plan.size) +
                       " B, from " + std::to_string(want.offset));
  PeerConnection connection = net_.node(index)->connection(want.peer);
  const Errc refused =
      supply_object(stream->serial, want.object, plan.size, want.offset,
                    [&](std::uint64_t offset, std::vector<std::uint8_t> piece, bool last) {
                      return connection.object_supply(net_.now(), want.stream, want.object, offset,
                                                      std::move(piece), last);
                    });
  if (refused != Errc::ok)
    check_.fail("object_supply refused data the core asked for: " +
                std::string(errc_name(refused)));
}

void ObjectWorkload::stream_ended(std::size_t index, const event::ObjectStreamEnded& ended) {
  check_.stream_ended(index, ended);
}

// ---- receivers --------------------------------------------------------------------------

void ObjectWorkload::arrived(std::size_t index, const event::ObjectArrived& arrived) {
  ObjectReading* reading = check_.arrived(index, arrived);
  if (reading == nullptr) return;
  check_.check_window(index, arrived.peer, arrived.stream);
  if (!reading->manual)
    read_object({index, net_.epoch(index), arrived.peer, arrived.stream.value}, kAll);
}

void ObjectWorkload::readable(std::size_t index, const event::ObjectReadable& readable) {
  check_.check_window(index, readable.peer, readable.stream);
  const ObjectReadKey key{index, net_.epoch(index), readable.peer, readable.stream.value};
  const auto found = books_.readings.find(key);
  if (found == books_.readings.end()) return;
  const ObjectReading& reading = found->second;
  if (reading.manual || reading.step_scheduled || reading.discarding) return;
  read_object(key, kAll);
}

void ObjectWorkload::aborted(std::size_t index, const event::ObjectAborted& aborted) {
  check_.aborted(index, aborted);
}

// A sender's abort (bundle_abort) can end the object being read and deliver the next one
// before this application handled its ObjectAborted; the stream's commands then act on the
// next object. So the application acts only while its object is the stream's current one.
bool ObjectWorkload::is_current(const ObjectReadKey& key, const ObjectReading& reading) {
  const std::optional<ObjectStreamStats> stats =
      connection(key).object_stream_stats(net_.now(), ObjectStreamId{std::get<3>(key)});
  return stats && stats->current_object == reading.wire;
}

bool ObjectWorkload::read_object(const ObjectReadKey& key, std::uint64_t budget) {
  const auto found = books_.readings.find(key);
  if (found == books_.readings.end() || found->second.discarding) return false;
  if (!is_current(key, found->second)) return false;
  ObjectReading& reading = found->second;
  const ObjectPlan& plan = check_.plan_of(reading);
  const std::uint64_t half = plan.size / 2;
  const ObjectStreamId id{std::get<3>(key)};
  PeerConnection connection = this->connection(key);
  const bool manual = reading.manual;
  bool progressed = false;
  while (true) {
    const ReadAction action = manual ? ReadAction::whole : plan.action;
    if (action == ReadAction::discard ||
        (action == ReadAction::half_discard && reading.read >= half)) {
      return discard_at(key);
    }
    if (action == ReadAction::refuse ||
        (action == ReadAction::half_refuse && reading.read >= half)) {
      return refuse_at(key);
    }
    const std::optional<ObjectRead> read = connection.object_read(id);
    if (!read || !check_.data_read(reading, *read)) return progressed;
    std::uint64_t take = std::min<std::uint64_t>(read->data.size(), budget);
    if (action == ReadAction::half_discard || action == ReadAction::half_refuse)
      take = std::min(take, half - reading.read);
    if (action == ReadAction::steps) take = std::min(take, kStepBytes);
    const bool finishing = read->end && take == read->data.size();
    if (take == 0 && !finishing) return progressed;
    const Errc consumed = connection.object_consume(net_.now(), id, take);
    if (consumed != Errc::ok) {
      check_.fail("object_consume refused: " + std::string(errc_name(consumed)));
      return progressed;
    }
    reading.read += take;
    budget -= take;
    progressed = true;
    if (finishing) {
      end_reading(key, false);
      return true;
    }
    if (action == ReadAction::steps) {
      schedule_step(key);
      return true;
    }
  }
}

void ObjectWorkload::end_reading(const ObjectReadKey& key, bool refused) {
  const auto found = books_.readings.find(key);
  check_.finished(found->second, refused);
  books_.readings.erase(found);
}

void ObjectWorkload::schedule_step(const ObjectReadKey& key) {
  books_.readings.at(key).step_scheduled = true;
  net_.at(net_.now() + kStepNs, [this, key] {
    const auto found = books_.readings.find(key);  // gone when its node crashed
    if (found == books_.readings.end()) return;
    found->second.step_scheduled = false;
    if (!found->second.manual) read_object(key, kAll);
  });
}

ObjectReading* ObjectWorkload::reading_of(std::uint64_t serial, ObjectReadKey* key) {
  for (auto& [at, reading] : books_.readings) {
    if (reading.serial != serial || reading.discarding) continue;
    *key = at;
    return &reading;
  }
  return nullptr;
}

bool ObjectWorkload::read(std::uint64_t serial, std::size_t max_bytes) {
  ObjectReadKey key;
  if (reading_of(serial, &key) == nullptr) return false;
  return read_object(key, max_bytes);
}

bool ObjectWorkload::discard(std::uint64_t serial) {
  ObjectReadKey key;
  return reading_of(serial, &key) != nullptr && discard_at(key);
}

bool ObjectWorkload::refuse(std::uint64_t serial) {
  ObjectReadKey key;
  return reading_of(serial, &key) != nullptr && refuse_at(key);
}

bool ObjectWorkload::discard_at(const ObjectReadKey& key) {
  ObjectReading& reading = books_.readings.at(key);
  if (!is_current(key, reading)) return false;
  const Errc discarded =
      connection(key).object_discard(net_.now(), ObjectStreamId{std::get<3>(key)});
  // The stream ended here in an event not handled yet (its ObjectAborted follows).
  if (discarded == Errc::not_found) return false;
  if (discarded != Errc::ok) {
    check_.fail("object_discard refused: " + std::string(errc_name(discarded)));
    return false;
  }
  check_.finished(reading, false);
  // It ends when its end arrives: the next object's arrival, or an abort, says so.
  reading.discarding = true;
  return true;
}

bool ObjectWorkload::refuse_at(const ObjectReadKey& key) {
  const ObjectReading& reading = books_.readings.at(key);
  if (!is_current(key, reading)) return false;
  const Errc refused =
      connection(key).object_refuse(net_.now(), ObjectStreamId{std::get<3>(key)}, kRefusal,
                                    refusal_text(reading.serial, reading.number));
  if (refused == Errc::not_found) return false;  // as for discard
  if (refused != Errc::ok) {
    check_.fail("object_refuse refused: " + std::string(errc_name(refused)));
    return false;
  }
  end_reading(key, true);
  return true;
}

void ObjectWorkload::finish_manual() {
  for (TrackedObjectStream& stream : books_.streams) {
    if (!stream.manual) continue;
    stream.manual = false;
    if (!stream.stopped && !stream.fin && live(stream.serial) != nullptr) fin(stream.serial);
  }
  std::vector<ObjectReadKey> manual;
  for (auto& [key, reading] : books_.readings) {
    if (!reading.manual) continue;
    reading.manual = false;
    manual.push_back(key);
  }
  for (const ObjectReadKey& key : manual)
    read_object(key, kAll);
}

}  // namespace weft::sim
