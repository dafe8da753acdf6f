// One snapshot of every counter a node keeps, and its Prometheus text form.
//
// Node::metrics(now_ns) copies the counters of the core into a MetricsSnapshot: per peer
// (PeerStats plus the outcomes of its calls, streams and objects, and its faults), per
// live stream and object stream, per object endpoint and open bundle, and the handshakes
// refused. The core reads no clock: `now_ns` is the caller's, and serves only for
// durations (idle shares). A driver may add its own counters (MetricsSnapshot::driver) before
// formatting; weft::io::EventNode::metrics() adds the adapter's.
//
// format_prometheus() turns a snapshot into the Prometheus text exposition format 0.0.4
// (docs/METRICS.md lists every family). It is a pure function: the same snapshot gives the
// same bytes. Everything in a snapshot comes in a fixed order (peers by id, streams by peer
// then id, endpoints by name, bundles by id, refusals by status), never a hash table's.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "weft/errors.hpp"
#include "weft/events.hpp"
#include "weft/ids.hpp"
#include "weft/node.hpp"
#include "weft/object.hpp"
#include "weft/time.hpp"
#include "weft/wire.hpp"

namespace weft {

// How many Errc values there are: ErrcCounts has one entry per code, indexed by its value.
inline constexpr std::size_t kErrcCount = static_cast<std::size_t>(Errc::unsupported) + 1;
// How many WireError values there are (WireError::none included).
inline constexpr std::size_t kWireErrorCount = static_cast<std::size_t>(WireError::truncated) + 1;

// A count per outcome: entry i counts outcomes of Errc value i.
using ErrcCounts = std::array<std::uint64_t, kErrcCount>;

// Cumulative counters of one peer relationship that PeerStats does not hold. They start at
// zero when the peer is configured or added, and never go down.
struct PeerCounters {
  ErrcCounts requests_completed{};  // this node's requests ended (event::RequestDone), by result
  std::uint64_t requests_received = 0;  // the peer's requests delivered (event::RequestReceived)
  ErrcCounts requests_canceled{};       // the peer's requests ended unanswered, by reason
  std::uint64_t streams_accepted = 0;   // streams the peer opened here (event::StreamOpened)
  ErrcCounts streams_ended{};           // streams either way (event::StreamEnded), by result
  // Stream messages written (stream_write returned ok) and received (a message in parts
  // counts at its first part, its bytes as they arrive), over every stream with the peer.
  std::uint64_t stream_msgs_sent = 0;
  std::uint64_t stream_bytes_sent = 0;
  std::uint64_t stream_msgs_received = 0;
  std::uint64_t stream_bytes_received = 0;
  ErrcCounts objects_completed{};        // objects posted to the peer, ended (ObjectCompleted)
  std::uint64_t objects_arrived = 0;     // the peer's objects delivered (event::ObjectArrived)
  ErrcCounts objects_aborted{};          // the peer's objects that ended while read, by reason
  std::uint64_t connect_failures = 0;    // dials that failed or timed out
  std::uint64_t keepalive_timeouts = 0;  // connections closed because the peer fell silent
  // Connections (or dialer handshakes) closed because the peer's handshake proof no longer
  // verified with a replaced authenticator (Node::set_authenticator: a revoked key).
  std::uint64_t proofs_revoked = 0;
  std::uint64_t disconnects = 0;  // established connections that ended (event::PeerDown)
  // Connections closed for a protocol error, by the decoder's WireError; entry
  // WireError::none counts errors found after decoding (a frame the protocol's rules forbid
  // where it came: wrong side, unknown mux, credit overrun, ...).
  std::array<std::uint64_t, kWireErrorCount> protocol_errors{};
};

// One peer: PeerStats, the counters above, and what it is.
struct PeerMetrics {
  PeerId id = 0;
  std::string name;
  bool dials = false;      // this node dials it (PROTOCOL.md §4.1)
  bool on_demand = false;  // connected on demand (NodeConfig::connect_on_demand)
  PeerStats stats;
  PeerCounters counters;
  // Requests this node sent the peer in total: those ended plus those in flight.
  std::uint64_t requests_sent() const;
};

// One live stream (either side), as this side sees it.
struct StreamMetrics {
  PeerId peer = 0;
  StreamId id;
  bool opener = false;  // this side opened it
  std::uint64_t msgs_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t msgs_received = 0;  // messages begun (a message in parts counts at its first)
  std::uint64_t bytes_received = 0;
  std::uint64_t unread_msgs = 0;  // received, not yet consumed by the application
  std::uint64_t unread_bytes = 0;
  std::uint64_t send_credit_msgs = 0;  // messages this side may still send now
  std::uint64_t send_credit_bytes = 0;
  bool send_open = false;  // this side's half has not ended
  bool recv_open = false;  // the peer's half has not ended
  // How long, in total, messages were in flight (sent and not yet credited back, or received
  // and not yet consumed), the stream's age, and the share of its life with none (0..100).
  TimeNs busy_ns = 0;
  TimeNs age_ns = 0;
  double idle_percent = 0;
};

// One object stream held here (either direction).
struct ObjectStreamMetrics {
  PeerId peer = 0;
  ObjectStreamId id;
  // PeerConnection::object_stream_stats' fields, except idle_percent: here the share of the
  // stream's whole life (not since the last call) it was idle, and reading it resets nothing.
  ObjectStreamStats stats;
  TimeNs busy_ns = 0;  // how long, in total, objects were in flight (sender) or held (receiver)
  TimeNs age_ns = 0;   // since the stream was opened (sender) or first seen (receiver)
};

// One object endpoint this node serves.
struct EndpointMetrics {
  std::string name;
  ObjectEndpointStats stats;
};

// One open bundle (weft/bundle.hpp).
struct BundleMetrics {
  BundleId id;
  std::string endpoint;
  BundleStats stats;
};

// Handshakes that failed with one status on one side, since the node started.
// Failed handshakes whose status has no name (a peer's reject or goaway may carry any
// u16) are all counted under this status, so that a peer cannot add series without bound.
// weft_handshake_failures_total labels them status="other".
inline constexpr std::uint16_t kUnnamedHandshakeStatus = 0xffff;

struct HandshakeFailures {
  Status status = Status::ok;   // or kUnnamedHandshakeStatus
  bool rejected_by_us = false;  // as event::HandshakeFailed
  std::uint64_t count = 0;
};

// A counter or gauge a driver adds (not the core's): the family `weft_<name>` (counters get
// `_total` appended), and one sample with these labels. format_prometheus says what it does
// with names that break the rules below.
struct DriverMetric {
  std::string name;  // [a-z0-9_]+, without the weft_ prefix or the _total suffix
  std::string help;  // one line
  bool counter = true;
  std::vector<std::pair<std::string, std::string>> labels;  // label names are [a-z_]+
  double value = 0;
};

// How much a snapshot lists. Streams past a limit are counted, not listed.
struct MetricsOptions {
  std::size_t max_streams = 1000;         // live streams, over all peers
  std::size_t max_object_streams = 1000;  // object streams, over all peers
};

struct MetricsSnapshot {
  std::string node;  // this node's name
  std::uint64_t incarnation = 0;
  TimeNs taken_ns = 0;                              // the now_ns given
  std::vector<PeerMetrics> peers;                   // the live peers (not removed), by id
  std::vector<StreamMetrics> streams;               // by peer, then id
  std::size_t streams_omitted = 0;                  // live streams past MetricsOptions::max_streams
  std::vector<ObjectStreamMetrics> object_streams;  // by peer, sending ones first, then id
  std::size_t object_streams_omitted = 0;
  std::vector<EndpointMetrics> endpoints;             // by name
  std::vector<BundleMetrics> bundles;                 // the open ones, by id
  std::vector<HandshakeFailures> handshake_failures;  // by status, then side
  std::uint64_t transports_accepted = 0;              // Node::on_accepted calls
  std::vector<DriverMetric> driver;  // in the order added; formatted grouped by name
};

// The Prometheus text exposition format 0.0.4 of `snapshot` (served with Content-Type
// `text/plain; version=0.0.4`): each family once, as `# HELP`, `# TYPE` and its samples
// together; names `weft_...`, counters ending `_total`; label values escaped (backslash,
// double quote, newline), the peer's name in label `peer`. Families without samples are
// left out, apart from the node's own. Driver metrics follow the core's, one family per
// exposition name (the first of a name gives its help and type); characters a metric or
// label name may not hold become `_` (and a label name starting with a digit, or empty,
// gets a leading `_`). A driver sample that would break the format is not written but
// counted in the gauge `weft_metrics_refused{name, reason}` (docs/METRICS.md): its family's
// name is one the core wrote in this text (name_taken), its family is the other kind
// (kind_differs), two of its label names clean to one (labels_collide), or its family holds its
// label set already (series_twice). Deterministic: equal snapshots give equal text.
std::string format_prometheus(const MetricsSnapshot& snapshot);

// A label value with `\`, `"` and newline escaped as the exposition format wants them.
std::string prometheus_escape_label(std::string_view value);

}  // namespace weft
