// Node::metrics: copies the counters of the connections, their streams and object streams,
// the endpoints and the node's own counters into a MetricsSnapshot. Reads only: taking a
// snapshot changes nothing in the node (an idle share read here starts no new period).

#include <algorithm>

#include "connection.hpp"
#include "invariant.hpp"
#include "metrics_counters.hpp"
#include "object_receiver.hpp"
#include "object_sender.hpp"

namespace weft {

std::uint64_t PeerMetrics::requests_sent() const {
  std::uint64_t ended = 0;
  for (const std::uint64_t count : counters.requests_completed)
    ended += count;
  return ended + stats.outbound_in_flight;
}

namespace detail {
namespace {

// The share (0..100) of `age_ns` not busy.
double idle_percent(TimeNs busy_ns, TimeNs age_ns) {
  if (age_ns <= 0) return busy_ns > 0 ? 0.0 : 100.0;
  return 100.0 * static_cast<double>(age_ns - std::min(busy_ns, age_ns)) /
         static_cast<double>(age_ns);
}

ObjectStreamMetrics object_stream_metrics(PeerId peer, const ObjectStreamStats& counters,
                                          const IdleMeter& idle, TimeNs now_ns) {
  ObjectStreamMetrics metrics;
  metrics.peer = peer;
  metrics.stats = counters;
  metrics.busy_ns = idle.lifetime_busy_ns(now_ns);
  metrics.age_ns = idle.age_ns(now_ns);
  metrics.stats.idle_percent = idle_percent(metrics.busy_ns, metrics.age_ns);
  return metrics;
}

// Whether another object stream may be listed; if not, it is counted as omitted.
bool room_for_object_stream(MetricsSnapshot& snapshot, std::size_t limit) {
  if (snapshot.object_streams.size() < limit) return true;
  ++snapshot.object_streams_omitted;
  return false;
}

}  // namespace

void Connection::collect_metrics(TimeNs now_ns, const MetricsOptions& options,
                                 MetricsSnapshot& snapshot) const {
  const std::size_t first = snapshot.streams.size();
  PeerCounters& totals = snapshot.peers.back().counters;  // this peer's (collect_metrics)
  WEFT_ASSERT(snapshot.peers.back().id == peer_);
  streams_.for_each([&](std::uint32_t, const Stream& stream) {
    totals.stream_msgs_sent += stream.sent_msgs;  // the retired streams' are in already
    totals.stream_bytes_sent += stream.sent_bytes;
    totals.stream_msgs_received += stream.recv_msgs;
    totals.stream_bytes_received += stream.recv_bytes;
    if (stream.finished) return;  // only flushing its last frames: no longer live
    if (snapshot.streams.size() >= options.max_streams) {
      ++snapshot.streams_omitted;
      return;
    }
    StreamMetrics metrics;
    metrics.peer = peer_;
    metrics.id = StreamId{generation_, stream.mux};
    metrics.opener = stream.opener;
    metrics.msgs_sent = stream.sent_msgs;
    metrics.bytes_sent = stream.sent_bytes;
    metrics.msgs_received = stream.recv_msgs;
    metrics.bytes_received = stream.recv_bytes;
    metrics.unread_msgs = stream.inbox.size();
    metrics.unread_bytes = stream.inbox.bytes();
    metrics.send_credit_msgs = stream.accepted ? stream.credit_msgs : 0;
    metrics.send_credit_bytes = stream.accepted ? stream.credit_bytes : 0;
    metrics.send_open = stream.send_open;
    metrics.recv_open = stream.recv_open;
    metrics.busy_ns = stream.idle.lifetime_busy_ns(now_ns);
    metrics.age_ns = stream.idle.age_ns(now_ns);
    metrics.idle_percent = idle_percent(metrics.busy_ns, metrics.age_ns);
    snapshot.streams.push_back(metrics);
  });
  // Slots are reused, so slot order is not id order.
  std::sort(snapshot.streams.begin() + static_cast<std::ptrdiff_t>(first), snapshot.streams.end(),
            [](const StreamMetrics& a, const StreamMetrics& b) { return a.id < b.id; });
  object_sender_.collect_metrics(now_ns, options.max_object_streams, snapshot);
  object_receiver_.collect_metrics(now_ns, options.max_object_streams, snapshot);
}

void ObjectSender::collect_metrics(TimeNs now_ns, std::size_t limit,
                                   MetricsSnapshot& snapshot) const {
  for (const auto& [value, stream] : streams_) {  // a map: by id
    if (!room_for_object_stream(snapshot, limit)) continue;
    ObjectStreamMetrics metrics =
        object_stream_metrics(peer_, stream.counters, stream.idle, now_ns);
    metrics.id = stream.id;
    if (stream.cursor < stream.objects.size()) {
      metrics.stats.current_object = stream.objects[stream.cursor].number;
      metrics.stats.offset = stream.objects[stream.cursor].sent;
    }
    snapshot.object_streams.push_back(std::move(metrics));
  }
}

void ObjectReceiver::collect_metrics(TimeNs now_ns, std::size_t limit,
                                     MetricsSnapshot& snapshot) const {
  for (const auto& [value, key] : ids_) {  // a map: by id
    const Record& record = records_.at(key);
    if (!room_for_object_stream(snapshot, limit)) continue;
    ObjectStreamMetrics metrics =
        object_stream_metrics(peer_, record.counters, record.idle, now_ns);
    metrics.id = record.id;
    metrics.stats.in_flight = unfinished(record);
    metrics.stats.offset = 0;  // of the object being read, if any (as stats() gives it)
    for (const Object& object : record.objects) {
      if (object.result) continue;
      metrics.stats.current_object = object.number;
      metrics.stats.offset = object.consumed;
      break;
    }
    snapshot.object_streams.push_back(std::move(metrics));
  }
}

MetricsSnapshot collect_metrics(const NodeContext& context,
                                std::span<const Connection* const> connections, TimeNs now_ns,
                                const MetricsOptions& options) {
  MetricsSnapshot snapshot;
  snapshot.node = context.config.name;
  snapshot.incarnation = context.incarnation;
  // A snapshot may be asked for with an older `now` than the latest input: durations
  // never come out negative.
  now_ns = std::max(now_ns, context.latest_now_ns);
  snapshot.taken_ns = now_ns;
  for (PeerId peer = 0; peer < connections.size(); ++peer) {
    const Connection& connection = *connections[peer];
    if (connection.removed()) continue;
    PeerMetrics metrics;
    metrics.id = peer;
    metrics.name = connection.name();
    metrics.dials = connection.dials();
    metrics.on_demand = connection.on_demand();
    metrics.stats = connection.stats();
    if (const PeerCounters* counters = context.metrics.find(peer)) metrics.counters = *counters;
    snapshot.peers.push_back(std::move(metrics));
    connection.collect_metrics(now_ns, options, snapshot);
  }
  for (const auto& [name, endpoint] : context.object_endpoints)
    snapshot.endpoints.push_back({name, endpoint.stats});
  for (const auto& [key, count] : context.metrics.handshake_failures)
    snapshot.handshake_failures.push_back({static_cast<Status>(key.first), key.second, count});
  snapshot.transports_accepted = context.metrics.transports_accepted;
  return snapshot;
}

}  // namespace detail
}  // namespace weft
