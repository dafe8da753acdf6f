#include "node_context.hpp"

#include <algorithm>

namespace weft::detail {

Frame NodeContext::handshake_frame(Op op, TimeNs now_ns, const std::string& token) const {
  return Frame{.op = op,
               .checksum = true,
               .flags = config.checksums ? flag::kChecksums : std::uint16_t{0},
               .name = config.name,
               .incarnation = incarnation,
               .wall_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, wall_ms(now_ns))),
               .max_frame_bytes = config.limits.max_frame_bytes,
               .token = as_bytes(token)};
}

Status NodeContext::check_credentials(TimeNs now_ns, std::string_view peer_name,
                                      const Frame& handshake, std::string& message) const {
  if (!config.auth->verify(peer_name, handshake.token)) {
    message = "token of " + std::string(peer_name) + " does not verify";
    return Status::bad_token;
  }
  // The peer's clock is any u64 the wire can carry: compare as unsigned distances, which
  // cannot overflow (a signed difference did for values at and past 2^63).
  const auto ours = static_cast<std::uint64_t>(std::max<std::int64_t>(0, wall_ms(now_ns)));
  const std::uint64_t theirs = handshake.wall_ms;
  const std::uint64_t distance_ms = theirs > ours ? theirs - ours : ours - theirs;
  if (distance_ms > static_cast<std::uint64_t>(config.timeouts.max_clock_skew_ms)) {
    message = "wall clocks differ by " + std::to_string(distance_ms) + " ms (the peer's is " +
              (theirs > ours ? "ahead)" : "behind)");
    return Status::clock_skew;
  }
  return Status::ok;
}

}  // namespace weft::detail
