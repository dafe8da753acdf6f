// Identifiers shared by the node's events and commands.
#pragma once

#include <cstdint>

namespace weft {

// Index of a peer in NodeConfig::peers, then of those Node::add_peer added (never reused).
using PeerId = std::uint32_t;
// A transport (one socket) as the node knows it; never reused by a node.
using TransportId = std::uint64_t;

}  // namespace weft
