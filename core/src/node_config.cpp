// The checks of a NodeConfig that Node's constructor makes, and the rule for a peer's name
// that the constructor, Node::add_peer and EventNode::add_peer share.
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "node_context.hpp"
#include "weft/config.hpp"

namespace weft {

std::string_view peer_name_refusal(std::string_view own_name, std::string_view peer,
                                   bool listed_already) {
  if (!valid_node_name(peer)) return "is not a node name (1..255 printable ASCII bytes, no spaces)";
  if (peer == own_name) return "is this node's own name";
  if (listed_already) return "is listed already";
  return {};
}

namespace detail {

void check_config(const NodeConfig& config) {
  auto fail = [](const std::string& why) { throw std::invalid_argument("weft::Node: " + why); };
  if (!valid_node_name(config.name))
    fail("node name must be 1..255 printable ASCII bytes, no spaces");
  std::set<std::string_view> seen;
  for (const std::string& peer : config.peers) {
    const std::string_view refusal = peer_name_refusal(config.name, peer, seen.contains(peer));
    if (!refusal.empty()) fail("peer '" + peer + "' " + std::string(refusal));
    seen.insert(peer);
  }
  if (!config.auth) fail("an authenticator is required");
  if (!config.seed) fail("a seed is required (a real process draws it from the OS)");
  const ConnectionLimits& limits = config.limits;
  if (limits.max_frame_bytes < kMinMaxFrameBytes) fail("max_frame_bytes must be at least 65536");
  if (limits.max_outbound_requests == 0 || limits.max_outbound_requests > (1u << 20)) {
    fail("max_outbound_requests must be in 1..1048576");
  }
  // The deadline queue keys a request or stream by 4 * slot + kind in 32 bits.
  if (limits.max_inbound_requests == 0 || limits.max_inbound_requests > (1u << 20)) {
    fail("max_inbound_requests must be in 1..1048576");
  }
  if (limits.max_streams > (1u << 20)) fail("max_streams must be at most 1048576");
  if (limits.output_high_water_bytes == 0) fail("output_high_water_bytes must be at least 1");
  // Otherwise a largest answer could never be queued, or a largest request never accepted.
  if (limits.max_queued_response_bytes < limits.max_message_bytes) {
    fail("max_queued_response_bytes must be at least max_message_bytes");
  }
  if (limits.max_inbound_request_bytes < limits.max_message_bytes) {
    fail("max_inbound_request_bytes must be at least max_message_bytes");
  }
  const ConnectionTimeouts& timeouts = config.timeouts;
  if (config.max_transports_awaiting_hello == 0) {
    fail("max_transports_awaiting_hello must be at least 1");
  }
  if (config.max_transports_awaiting_hello_per_source == 0) {
    fail("max_transports_awaiting_hello_per_source must be at least 1");
  }
  if (timeouts.handshake_timeout_ms <= 0 || timeouts.hello_timeout_ms <= 0 ||
      timeouts.connect_timeout_ms <= 0 || timeouts.ping_interval_ms <= 0 ||
      timeouts.dead_after_pings <= 0 || timeouts.default_request_timeout_ms <= 0 ||
      timeouts.backoff_initial_ms <= 0 || timeouts.backoff_max_ms < timeouts.backoff_initial_ms ||
      timeouts.max_clock_skew_ms < 0 || timeouts.stream_ping_interval_ms <= 0 ||
      timeouts.stream_silence_timeout_ms <= 0 || timeouts.stream_idle_timeout_ms <= 0 ||
      // Written so that NaN fails too.
      !(timeouts.backoff_jitter_fraction >= 0 && timeouts.backoff_jitter_fraction < 1)) {
    fail("a timeout is out of range");
  }
  // It travels as a request's deadline_ms, a u32 (like RequestArgs::timeout_ms).
  if (timeouts.default_request_timeout_ms > UINT32_MAX) {
    fail("default_request_timeout_ms must be at most 2^32 - 1");
  }
  // Nanoseconds overflow past about 2^63 / 10^6 ms, and the keepalive multiplies: a huge
  // ping interval made "silent for N ms" wrap around, and connections flapped. 2^32 - 1 ms
  // (49 days) is past any sensible timeout; 1000 pings keep the product far from overflow.
  for (const std::int64_t timeout_ms :
       {timeouts.handshake_timeout_ms, timeouts.hello_timeout_ms, timeouts.connect_timeout_ms,
        timeouts.ping_interval_ms, timeouts.backoff_initial_ms, timeouts.backoff_max_ms,
        timeouts.max_clock_skew_ms, timeouts.stream_ping_interval_ms,
        timeouts.stream_silence_timeout_ms, timeouts.stream_idle_timeout_ms,
        timeouts.object_idle_timeout_ms, timeouts.object_resume_timeout_ms,
        timeouts.idle_close_ms}) {
    if (timeout_ms > kMaxTimeoutMs) fail("a timeout is over 2^32 - 1 ms");
  }
  if (timeouts.dead_after_pings > 1000) fail("dead_after_pings must be at most 1000");
  if (config.version_min < kProtocolVersionMin || config.version_min > config.version_max) {
    fail("bad protocol version range (versions before " + std::to_string(kProtocolVersionMin) +
         " sent the secret in clear and are not spoken)");
  }
  if (limits.max_object_streams == 0 || limits.max_objects_in_flight == 0 ||
      limits.object_results_kept == 0 || limits.object_chunk_bytes == 0 ||
      limits.object_supply_buffer_bytes == 0) {
    fail("an object-stream limit is 0");
  }
  // PROTOCOL.md §6.3: every receiver's window holds a header of this size.
  if (limits.max_object_header_bytes > kMaxObjectHeaderBytes) {
    fail("max_object_header_bytes must be at most 64512");
  }
  if (config.max_bundles == 0 || config.max_bundle_multiplier == 0) {
    fail("a bundle limit is 0");
  }
  if (timeouts.object_idle_timeout_ms <= 0 || timeouts.object_resume_timeout_ms <= 0) {
    fail("an object-stream timeout is out of range");
  }
  if (timeouts.idle_close_ms <= 0) fail("idle_close_ms must be at least 1");
}

}  // namespace detail
}  // namespace weft
