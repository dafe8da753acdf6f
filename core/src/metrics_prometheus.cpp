// format_prometheus: a MetricsSnapshot in the Prometheus text exposition format 0.0.4.
// Each family is built whole (its samples in snapshot order) and written with its HELP and
// TYPE lines only when it has samples, so a family is never split and never empty.

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/metrics.hpp"

namespace weft {
namespace {

using Label = std::pair<std::string_view, std::string_view>;

void append_help_text(std::string& out, std::string_view help) {
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char text[64];
    const auto [end, error] = std::to_chars(text, text + sizeof text, value);
    out.append(text, error == std::errc{} ? end : text);
  }
}

// One metric family: its samples are gathered first, then written after its HELP and TYPE.
class Family {
 public:
  Family(std::string name, std::string_view type, std::string_view help)
      : name_(std::move(name)), type_(type), help_(help) {}

  void add(std::span<const Label> labels, std::uint64_t value) {
    begin_sample(labels);
    samples_ += std::to_string(value);
    samples_ += '\n';
  }
  void add(std::initializer_list<Label> labels, std::uint64_t value) {
    add(std::span(labels.begin(), labels.size()), value);
  }
  void add_double(std::span<const Label> labels, double value) {
    begin_sample(labels);
    append_number(samples_, value);
    samples_ += '\n';
  }
  void add_double(std::initializer_list<Label> labels, double value) {
    add_double(std::span(labels.begin(), labels.size()), value);
  }

  void write(std::string& out) const {
    if (samples_.empty()) return;
    out += "# HELP ";
    out += name_;
    out += ' ';
    append_help_text(out, help_);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += type_;
    out += '\n';
    out += samples_;
  }

 private:
  void begin_sample(std::span<const Label> labels) {
    samples_ += name_;
    if (labels.empty()) {
      samples_ += ' ';
      return;
    }
    char separator = '{';
    for (const auto& [key, value] : labels) {
      samples_ += separator;
      samples_ += key;
      samples_ += "=\"";
      samples_ += prometheus_escape_label(value);
      samples_ += '"';
      separator = ',';
    }
    samples_ += "} ";
  }

  std::string name_;
  std::string_view type_;
  std::string help_;
  std::string samples_;
};

constexpr std::string_view kCounter = "counter";
constexpr std::string_view kGauge = "gauge";

// The name of peer `id` (snapshot.peers is ordered by id); "" if it is not listed.
std::string_view peer_name(const MetricsSnapshot& snapshot, PeerId id) {
  const auto found =
      std::lower_bound(snapshot.peers.begin(), snapshot.peers.end(), id,
                       [](const PeerMetrics& peer, PeerId wanted) { return peer.id < wanted; });
  return found != snapshot.peers.end() && found->id == id ? std::string_view(found->name)
                                                          : std::string_view();
}

double seconds(TimeNs ns) {
  return static_cast<double>(ns) / 1e9;
}

// A per-peer family with one sample per peer.
template <typename Get>
void peer_family(std::string& out, const MetricsSnapshot& snapshot, std::string_view name,
                 std::string_view type, std::string_view help, Get get) {
  Family family(std::string(name), type, help);
  for (const PeerMetrics& peer : snapshot.peers)
    family.add({{"peer", peer.name}}, get(peer));
  family.write(out);
}

// A per-peer family with one sample per direction.
template <typename Out, typename In>
void peer_directions(std::string& out, const MetricsSnapshot& snapshot, std::string_view name,
                     std::string_view type, std::string_view help, Out get_out, In get_in) {
  Family family(std::string(name), type, help);
  for (const PeerMetrics& peer : snapshot.peers) {
    family.add({{"peer", peer.name}, {"direction", "out"}}, get_out(peer));
    family.add({{"peer", peer.name}, {"direction", "in"}}, get_in(peer));
  }
  family.write(out);
}

// Whether a family by outcome lists `ok` while it is still 0 (for ends, of which ok is the
// usual one) or only the codes that occurred (for failures, where ok cannot occur).
enum class Ok : bool { listed, not_listed };

// A per-peer counter family by outcome code.
template <typename Get>
void peer_outcomes(std::string& out, const MetricsSnapshot& snapshot, std::string_view name,
                   std::string_view label, Ok ok, std::string_view help, Get get) {
  Family family(std::string(name), kCounter, help);
  for (const PeerMetrics& peer : snapshot.peers) {
    const ErrcCounts& counts = get(peer);
    for (std::size_t code = 0; code < counts.size(); ++code) {
      if (counts[code] == 0 && (code != 0 || ok == Ok::not_listed)) continue;
      family.add({{"peer", peer.name}, {label, errc_name(static_cast<Errc>(code))}}, counts[code]);
    }
  }
  family.write(out);
}

void write_node(std::string& out, const MetricsSnapshot& snapshot) {
  Family info("weft_node_info", kGauge, "This node: its name and incarnation (always 1).");
  const std::string incarnation = std::to_string(snapshot.incarnation);
  info.add({{"node", snapshot.node}, {"incarnation", incarnation}}, 1);
  info.write(out);
  Family accepted("weft_transports_accepted_total", kCounter,
                  "Incoming transports handed to the node (before their handshake).");
  accepted.add({}, snapshot.transports_accepted);
  accepted.write(out);
  Family refused("weft_handshake_failures_total", kCounter,
                 "Failed handshakes by status; side says who refused (us or peer).");
  for (const HandshakeFailures& failures : snapshot.handshake_failures) {
    // The node counts statuses without a name under kUnnamedHandshakeStatus ("other"); a
    // snapshot made elsewhere with another such status keeps its number, so that two of them
    // never share one series.
    const auto status = static_cast<std::uint16_t>(failures.status);
    const std::string_view name = status_name(status);
    const std::string label = status == kUnnamedHandshakeStatus ? "other"
                              : name.empty()                    ? std::to_string(status)
                                                                : std::string(name);
    refused.add({{"status", label}, {"side", failures.rejected_by_us ? "us" : "peer"}},
                failures.count);
  }
  refused.write(out);
}

void write_peer_state(std::string& out, const MetricsSnapshot& snapshot) {
  Family state("weft_peer_state", kGauge, "1 for the connection's current state, else 0.");
  constexpr PeerState kStates[] = {PeerState::idle, PeerState::backoff, PeerState::dialing,
                                   PeerState::handshaking, PeerState::established};
  for (const PeerMetrics& peer : snapshot.peers) {
    for (const PeerState each : kStates)
      state.add({{"peer", peer.name}, {"state", peer_state_name(each)}}, peer.stats.state == each);
  }
  state.write(out);
  peer_family(out, snapshot, "weft_peer_connections_total", kCounter,
              "Connections established with the peer.",
              [](const PeerMetrics& p) { return p.stats.connections; });
  peer_family(out, snapshot, "weft_peer_reconnects_total", kCounter,
              "Connections established after the first.",
              [](const PeerMetrics& p) { return p.stats.reconnects; });
  peer_family(out, snapshot, "weft_peer_disconnects_total", kCounter,
              "Established connections that ended.",
              [](const PeerMetrics& p) { return p.counters.disconnects; });
  peer_family(out, snapshot, "weft_peer_connect_failures_total", kCounter,
              "Dials that failed or timed out.",
              [](const PeerMetrics& p) { return p.counters.connect_failures; });
  peer_family(out, snapshot, "weft_peer_keepalive_timeouts_total", kCounter,
              "Connections closed because the peer fell silent.",
              [](const PeerMetrics& p) { return p.counters.keepalive_timeouts; });
  peer_family(out, snapshot, "weft_peer_proofs_revoked_total", kCounter,
              "Connections closed because the peer's handshake proof no longer verified with "
              "a replaced authenticator.",
              [](const PeerMetrics& p) { return p.counters.proofs_revoked; });
  peer_family(out, snapshot, "weft_peer_protocol_version", kGauge,
              "Protocol version of the last connection (0 before the first).",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.version}; });
  Family rtt("weft_peer_rtt_seconds", kGauge, "Last measured round trip (0 before the first).");
  for (const PeerMetrics& peer : snapshot.peers)
    rtt.add_double({{"peer", peer.name}}, seconds(peer.stats.rtt_ns));
  rtt.write(out);
}

void write_peer_traffic(std::string& out, const MetricsSnapshot& snapshot) {
  peer_directions(
      out, snapshot, "weft_peer_bytes_total", kCounter,
      "Bytes written to (out) and read from (in) the peer's transports.",
      [](const PeerMetrics& p) { return p.stats.bytes_sent; },
      [](const PeerMetrics& p) { return p.stats.bytes_received; });
  peer_directions(
      out, snapshot, "weft_peer_frames_total", kCounter, "Frames sent (out) and received (in).",
      [](const PeerMetrics& p) { return p.stats.frames_sent; },
      [](const PeerMetrics& p) { return p.stats.frames_received; });
  peer_family(out, snapshot, "weft_peer_output_bytes", kGauge,
              "Bytes committed to the output, not yet written.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.output_bytes}; });
  peer_family(out, snapshot, "weft_peer_queued_data_bytes", kGauge,
              "Request, response and stream bytes waiting in the lanes.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.queued_data_bytes}; });
  peer_family(out, snapshot, "weft_peer_queued_control_frames", kGauge,
              "Frames waiting in the control lane.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.queued_control_frames}; });
  peer_family(out, snapshot, "weft_peer_queued_response_bytes", kGauge,
              "Responses to the peer waiting in the lanes.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.queued_response_bytes}; });
  peer_family(out, snapshot, "weft_peer_inbound_request_bytes", kGauge,
              "Payload bytes of the peer's requests accepted and not yet answered.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.inbound_request_bytes}; });
  Family protocol("weft_protocol_errors_total", kCounter,
                  "Connections closed for a protocol error, by the decoder's error name "
                  "(rule: a frame the protocol forbids where it came).");
  for (const PeerMetrics& peer : snapshot.peers) {
    const auto& errors = peer.counters.protocol_errors;
    for (std::size_t code = 0; code < errors.size(); ++code) {
      if (errors[code] == 0) continue;
      const std::string_view name =
          code == 0 ? std::string_view("rule") : wire_error_name(static_cast<WireError>(code));
      protocol.add({{"peer", peer.name}, {"error", name}}, errors[code]);
    }
  }
  protocol.write(out);
}

void write_peer_calls(std::string& out, const MetricsSnapshot& snapshot) {
  peer_family(out, snapshot, "weft_requests_sent_total", kCounter,
              "Requests this node sent the peer (ended or in flight).",
              [](const PeerMetrics& p) { return p.requests_sent(); });
  peer_outcomes(
      out, snapshot, "weft_requests_completed_total", "result", Ok::listed,
      "Requests this node sent that ended, by result.",
      [](const PeerMetrics& p) -> const ErrcCounts& { return p.counters.requests_completed; });
  peer_family(out, snapshot, "weft_requests_received_total", kCounter,
              "The peer's requests delivered to a handler here.",
              [](const PeerMetrics& p) { return p.counters.requests_received; });
  peer_outcomes(
      out, snapshot, "weft_requests_canceled_total", "reason", Ok::not_listed,
      "The peer's requests that ended here unanswered, by reason.",
      [](const PeerMetrics& p) -> const ErrcCounts& { return p.counters.requests_canceled; });
  peer_directions(
      out, snapshot, "weft_requests_in_flight", kGauge,
      "Requests sent and not ended (out), the peer's requests not answered (in).",
      [](const PeerMetrics& p) { return std::uint64_t{p.stats.outbound_in_flight}; },
      [](const PeerMetrics& p) { return std::uint64_t{p.stats.inbound_in_flight}; });
  peer_family(out, snapshot, "weft_peer_streams_open", kGauge,
              "Streams with the peer, either way, including ones flushing their end.",
              [](const PeerMetrics& p) { return std::uint64_t{p.stats.streams_open}; });
  peer_family(out, snapshot, "weft_streams_accepted_total", kCounter,
              "Streams the peer opened here.",
              [](const PeerMetrics& p) { return p.counters.streams_accepted; });
  peer_outcomes(out, snapshot, "weft_streams_ended_total", "result", Ok::listed,
                "Streams with the peer (either side) that ended, by result.",
                [](const PeerMetrics& p) -> const ErrcCounts& { return p.counters.streams_ended; });
  peer_directions(
      out, snapshot, "weft_peer_stream_messages_total", kCounter,
      "Stream messages written (out) and received (in), all streams.",
      [](const PeerMetrics& p) { return p.counters.stream_msgs_sent; },
      [](const PeerMetrics& p) { return p.counters.stream_msgs_received; });
  peer_directions(
      out, snapshot, "weft_peer_stream_bytes_total", kCounter,
      "Stream message bytes written (out) and received (in), all streams.",
      [](const PeerMetrics& p) { return p.counters.stream_bytes_sent; },
      [](const PeerMetrics& p) { return p.counters.stream_bytes_received; });
  peer_directions(
      out, snapshot, "weft_peer_object_streams", kGauge,
      "Object streams this node opened to the peer (out), the peer's held here (in).",
      [](const PeerMetrics& p) { return std::uint64_t{p.stats.object_streams_out}; },
      [](const PeerMetrics& p) { return std::uint64_t{p.stats.object_streams_in}; });
  peer_outcomes(
      out, snapshot, "weft_objects_completed_total", "result", Ok::listed,
      "Objects posted to the peer that completed, by result.",
      [](const PeerMetrics& p) -> const ErrcCounts& { return p.counters.objects_completed; });
  peer_family(out, snapshot, "weft_objects_arrived_total", kCounter,
              "The peer's objects delivered to the application here.",
              [](const PeerMetrics& p) { return p.counters.objects_arrived; });
  peer_outcomes(
      out, snapshot, "weft_objects_aborted_total", "reason", Ok::not_listed,
      "The peer's objects that ended while being read, by reason.",
      [](const PeerMetrics& p) -> const ErrcCounts& { return p.counters.objects_aborted; });
}

void write_streams(std::string& out, const MetricsSnapshot& snapshot) {
  Family msgs("weft_stream_messages_total", kCounter, "Messages of a live stream, each way.");
  Family bytes("weft_stream_bytes_total", kCounter, "Message bytes of a live stream, each way.");
  Family unread("weft_stream_unread_messages", kGauge,
                "Messages received and not yet consumed by the application.");
  Family unread_bytes("weft_stream_unread_bytes", kGauge,
                      "Bytes received and not yet consumed by the application.");
  Family credit("weft_stream_send_credit_messages", kGauge,
                "Messages this side may still send now.");
  Family credit_bytes("weft_stream_send_credit_bytes", kGauge,
                      "Bytes this side may still send now.");
  Family idle("weft_stream_idle_percent", kGauge,
              "Share of the stream's life with no message in flight either way, 0..100.");
  Family busy("weft_stream_busy_seconds_total", kCounter,
              "Time the stream had messages in flight (sent and not credited back, or unread).");
  for (const StreamMetrics& stream : snapshot.streams) {
    const std::string_view name = peer_name(snapshot, stream.peer);
    const std::string id =
        std::to_string(stream.id.generation) + "." + std::to_string(stream.id.mux);
    const std::string_view role = stream.opener ? "opener" : "handler";
    msgs.add({{"peer", name}, {"stream", id}, {"role", role}, {"direction", "out"}},
             stream.msgs_sent);
    msgs.add({{"peer", name}, {"stream", id}, {"role", role}, {"direction", "in"}},
             stream.msgs_received);
    bytes.add({{"peer", name}, {"stream", id}, {"role", role}, {"direction", "out"}},
              stream.bytes_sent);
    bytes.add({{"peer", name}, {"stream", id}, {"role", role}, {"direction", "in"}},
              stream.bytes_received);
    unread.add({{"peer", name}, {"stream", id}, {"role", role}}, stream.unread_msgs);
    unread_bytes.add({{"peer", name}, {"stream", id}, {"role", role}}, stream.unread_bytes);
    credit.add({{"peer", name}, {"stream", id}, {"role", role}}, stream.send_credit_msgs);
    credit_bytes.add({{"peer", name}, {"stream", id}, {"role", role}}, stream.send_credit_bytes);
    idle.add_double({{"peer", name}, {"stream", id}, {"role", role}}, stream.idle_percent);
    busy.add_double({{"peer", name}, {"stream", id}, {"role", role}}, seconds(stream.busy_ns));
  }
  for (const Family* family :
       {&msgs, &bytes, &unread, &unread_bytes, &credit, &credit_bytes, &idle, &busy})
    family->write(out);
}

void write_object_streams(std::string& out, const MetricsSnapshot& snapshot) {
  Family objects("weft_object_stream_objects_total", kCounter,
                 "Objects posted (out) or delivered to the application (in).");
  Family bytes("weft_object_stream_bytes_total", kCounter,
               "Data bytes sent (out, resends included) or received (in).");
  Family wire("weft_object_stream_wire_bytes_total", kCounter,
              "Payload bytes of the object_data frames (smaller when compressed).");
  Family completions("weft_object_stream_completions_total", kCounter,
                     "Objects of a sending stream completed, ok or with an error.");
  Family resumes("weft_object_stream_resumes_total", kCounter,
                 "Connections on which the stream resumed.");
  Family in_flight("weft_object_stream_in_flight", kGauge,
                   "Objects posted and not completed (out), begun and not finished (in).");
  Family current("weft_object_stream_current_object", kGauge,
                 "The object being sent or read (0: none).");
  Family offset("weft_object_stream_offset_bytes", kGauge,
                "Data bytes of the current object sent or read so far.");
  Family idle("weft_object_stream_idle_percent", kGauge,
              "Share of the stream's life with nothing in flight (out) or held (in), 0..100.");
  Family busy("weft_object_stream_busy_seconds_total", kCounter,
              "Time the stream had objects in flight (out) or held (in).");
  for (const ObjectStreamMetrics& stream : snapshot.object_streams) {
    const std::string_view name = peer_name(snapshot, stream.peer);
    const std::string id = std::to_string(stream.id.value);
    const std::string_view direction = stream.stats.sender ? "out" : "in";
    const std::string_view endpoint = stream.stats.endpoint;
    const std::array<Label, 4> labels{
        {{"peer", name}, {"stream", id}, {"direction", direction}, {"endpoint", endpoint}}};
    objects.add(labels, stream.stats.objects);
    bytes.add(labels, stream.stats.bytes);
    wire.add(labels, stream.stats.wire_bytes);
    if (stream.stats.sender) {
      completions.add({{"peer", name}, {"stream", id}, {"endpoint", endpoint}, {"result", "ok"}},
                      stream.stats.completed_ok);
      completions.add({{"peer", name}, {"stream", id}, {"endpoint", endpoint}, {"result", "error"}},
                      stream.stats.completed_error);
    }
    resumes.add(labels, stream.stats.resumes);
    in_flight.add(labels, stream.stats.in_flight);
    current.add(labels, stream.stats.current_object);
    offset.add(labels, stream.stats.offset);
    idle.add_double(labels, stream.stats.idle_percent);
    busy.add_double(labels, seconds(stream.busy_ns));
  }
  for (const Family* family : {&objects, &bytes, &wire, &completions, &resumes, &in_flight,
                               &current, &offset, &idle, &busy})
    family->write(out);
}

void write_endpoints(std::string& out, const MetricsSnapshot& snapshot) {
  Family opened("weft_endpoint_streams_opened_total", kCounter,
                "Object streams opened to the endpoint.");
  Family objects("weft_endpoint_objects_total", kCounter,
                 "Objects the endpoint delivered to the application.");
  Family bytes("weft_endpoint_bytes_total", kCounter, "Data bytes the endpoint received.");
  Family refused("weft_endpoint_refused_total", kCounter,
                 "Objects refused by the application, or with a bad header.");
  for (const EndpointMetrics& endpoint : snapshot.endpoints) {
    opened.add({{"endpoint", endpoint.name}}, endpoint.stats.streams_opened);
    objects.add({{"endpoint", endpoint.name}}, endpoint.stats.objects);
    bytes.add({{"endpoint", endpoint.name}}, endpoint.stats.bytes);
    refused.add({{"endpoint", endpoint.name}}, endpoint.stats.refused);
  }
  for (const Family* family : {&opened, &objects, &bytes, &refused})
    family->write(out);
  Family omitted("weft_metrics_omitted", kGauge,
                 "Live streams past the snapshot's limits, counted and not listed.");
  omitted.add({{"kind", "stream"}}, snapshot.streams_omitted);
  omitted.add({{"kind", "object_stream"}}, snapshot.object_streams_omitted);
  omitted.write(out);
}

void write_bundles(std::string& out, const MetricsSnapshot& snapshot) {
  Family objects("weft_bundle_objects_total", kCounter, "Objects posted to the bundle.");
  Family completions("weft_bundle_completions_total", kCounter,
                     "Bundle objects completed: ok (every replica ok) or error (one failed).");
  Family replicas("weft_bundle_replicas_total", kCounter, "Replicas ended, ok or failed.");
  Family in_flight("weft_bundle_in_flight", kGauge, "Bundle objects posted and not completed.");
  Family destinations("weft_bundle_destinations", kGauge, "The bundle's current destinations.");
  Family streams("weft_bundle_streams", kGauge, "Object streams the bundle holds.");
  for (const BundleMetrics& bundle : snapshot.bundles) {
    const std::string id = std::to_string(bundle.id.value);
    const BundleStats& stats = bundle.stats;
    objects.add({{"bundle", id}, {"endpoint", bundle.endpoint}}, stats.objects);
    completions.add({{"bundle", id}, {"endpoint", bundle.endpoint}, {"result", "ok"}},
                    stats.completed_ok);
    completions.add({{"bundle", id}, {"endpoint", bundle.endpoint}, {"result", "error"}},
                    stats.completed_error);
    replicas.add({{"bundle", id}, {"endpoint", bundle.endpoint}, {"result", "ok"}},
                 stats.replicas_ok);
    replicas.add({{"bundle", id}, {"endpoint", bundle.endpoint}, {"result", "failed"}},
                 stats.replicas_failed);
    in_flight.add({{"bundle", id}, {"endpoint", bundle.endpoint}}, stats.in_flight);
    destinations.add({{"bundle", id}, {"endpoint", bundle.endpoint}}, stats.destinations);
    streams.add({{"bundle", id}, {"endpoint", bundle.endpoint}}, stats.streams);
  }
  for (const Family* family :
       {&objects, &completions, &replicas, &in_flight, &destinations, &streams})
    family->write(out);
}

// `name` with every character a metric name may not hold replaced by '_'.
std::string metric_name(std::string_view name) {
  std::string out;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == ':';
    out += ok ? c : '_';
  }
  return out;
}

// A label name as the format allows it, [a-zA-Z_][a-zA-Z0-9_]*: '_' for each other
// character, and a '_' before a leading digit (or as the whole of an empty name).
std::string label_name(std::string_view name) {
  std::string out = metric_name(name);
  std::replace(out.begin(), out.end(), ':', '_');  // the one character a metric name adds
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(0, 1, '_');
  return out;
}

// The names of the families already in `text` (each has one TYPE line; a help text cannot
// start a line, since its newlines are escaped).
std::set<std::string, std::less<>> family_names(std::string_view text) {
  constexpr std::string_view kType = "# TYPE ";
  std::set<std::string, std::less<>> names;
  for (std::size_t at = text.find(kType); at != std::string_view::npos; at = text.find(kType, at)) {
    at += kType.size();
    if (at == kType.size() || text[at - kType.size() - 1] == '\n')
      names.emplace(text.substr(at, text.find(' ', at) - at));
  }
  return names;
}

constexpr std::string_view kRefusedFamily = "weft_metrics_refused";

// One family of the driver's: the kind of its first sample, and the series it holds.
struct DriverFamily {
  Family family;
  bool counter = true;
  std::set<std::vector<std::pair<std::string, std::string>>> series;  // label sets, sorted
};

// The driver's metrics, one family per exposition name (names that clean to one share it),
// in the order each first appears. A sample that would break the format is counted in
// weft_metrics_refused{name, reason} instead: name_taken (a family of the core's, or that
// one, has the name), kind_differs (a gauge named as a counter of the same family: "x_total"
// beside "x"), labels_collide (two label names that clean to one), series_twice (the same
// label set again in a family).
void write_driver(std::string& out, const std::vector<DriverMetric>& metrics) {
  const std::set<std::string, std::less<>> taken = family_names(out);
  std::vector<DriverFamily> families;
  std::map<std::string, std::size_t, std::less<>> by_name;
  std::map<std::pair<std::string, std::string_view>, std::uint64_t> refused;
  for (const DriverMetric& metric : metrics) {
    const auto refuse = [&](std::string_view reason) { ++refused[{metric.name, reason}]; };
    std::string name = "weft_" + metric_name(metric.name);
    if (metric.counter) name += "_total";
    if (taken.contains(name) || name == kRefusedFamily) {
      refuse("name_taken");
      continue;
    }
    std::vector<std::pair<std::string, std::string>> labels;
    for (const auto& [key, value] : metric.labels)
      labels.emplace_back(label_name(key), value);
    std::vector<std::pair<std::string, std::string>> sorted = labels;
    std::sort(sorted.begin(), sorted.end());
    const auto same_key = [](const auto& a, const auto& b) { return a.first == b.first; };
    if (std::adjacent_find(sorted.begin(), sorted.end(), same_key) != sorted.end()) {
      refuse("labels_collide");
      continue;
    }
    const auto [found, fresh] = by_name.try_emplace(name, families.size());
    if (fresh) {
      families.push_back(DriverFamily{
          Family(name, metric.counter ? kCounter : kGauge, metric.help), metric.counter, {}});
    }
    DriverFamily& family = families[found->second];
    if (family.counter != metric.counter) {
      refuse("kind_differs");
      continue;
    }
    if (!family.series.insert(std::move(sorted)).second) {
      refuse("series_twice");
      continue;
    }
    std::vector<Label> views(labels.begin(), labels.end());
    family.family.add_double(views, metric.value);
  }
  for (const DriverFamily& family : families)
    family.family.write(out);
  Family refusals(std::string(kRefusedFamily), kGauge,
                  "Samples of the driver's metrics not written, since they would break the "
                  "format, by the name the driver gave and why.");
  for (const auto& [key, count] : refused)
    refusals.add({{"name", key.first}, {"reason", key.second}}, count);
  refusals.write(out);
}

}  // namespace

std::string format_prometheus(const MetricsSnapshot& snapshot) {
  std::string out;
  write_node(out, snapshot);
  write_peer_state(out, snapshot);
  write_peer_traffic(out, snapshot);
  write_peer_calls(out, snapshot);
  write_streams(out, snapshot);
  write_object_streams(out, snapshot);
  write_endpoints(out, snapshot);
  write_bundles(out, snapshot);
  write_driver(out, snapshot.driver);
  return out;
}

std::string prometheus_escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace weft
