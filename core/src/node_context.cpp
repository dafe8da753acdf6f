#include "node_context.hpp"

#include <algorithm>

namespace weft::detail {

Frame NodeContext::handshake_frame(Op op, TimeNs now_ns, const Nonce& nonce,
                                   const TransportSecurity& transport) const {
  return Frame{.op = op,
               .checksum = true,
               .flags = wants_checksums(config, transport) ? flag::kChecksums : std::uint16_t{0},
               .name = config.name,
               .incarnation = incarnation,
               .wall_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, wall_ms(now_ns))),
               .max_frame_bytes = config.limits.max_frame_bytes,
               .nonce = Bytes(nonce)};
}

}  // namespace weft::detail
