#include "node_context.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace weft::detail {

NodeContext::~NodeContext() {
  // Writing the const member is allowed here: an object under destruction is no longer
  // const ([class.dtor]).
  if (config.nonce_key) {
    OPENSSL_cleanse(const_cast<std::uint8_t*>(config.nonce_key->data()),
                    config.nonce_key->size());
  }
}

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
