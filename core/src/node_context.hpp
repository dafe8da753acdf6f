// State a node shares with its connections: config, randomness, the event queue, the
// transport registry and the handler registry. Internal to core/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fifo_queue.hpp"
#include "handshake.hpp"
#include "metrics_counters.hpp"
#include "payload_pool.hpp"
#include "weft/config.hpp"
#include "weft/events.hpp"
#include "weft/node.hpp"
#include "weft/object.hpp"
#include "weft/random.hpp"
#include "weft/time.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

// Throws std::invalid_argument ("weft::Node: <why>") for a config no node can run with: a
// bad name or peer list (peer_name_refusal), no authenticator or seed, a limit or timeout
// out of its range (node_config.cpp).
void check_config(const NodeConfig& config);

// The (handler, route id) pairs a node serves. Few entries: a sorted vector.
class HandlerRegistry {
 public:
  void add(std::uint16_t handler, std::uint64_t route) {
    const auto key = std::make_pair(handler, route);
    const auto at = std::lower_bound(entries_.begin(), entries_.end(), key);
    if (at == entries_.end() || *at != key) entries_.insert(at, key);
  }
  bool contains(std::uint16_t handler, std::uint64_t route) const {
    return std::binary_search(entries_.begin(), entries_.end(), std::make_pair(handler, route));
  }

 private:
  std::vector<std::pair<std::uint16_t, std::uint64_t>> entries_;
};

// The stream handlers a node serves, with the window each grants.
class StreamHandlerRegistry {
 public:
  void add(std::uint16_t handler, std::uint64_t route, StreamWindow window) {
    entries_[{handler, route}] = window;
  }
  const StreamWindow* find(std::uint16_t handler, std::uint64_t route) const {
    const auto found = entries_.find({handler, route});
    return found == entries_.end() ? nullptr : &found->second;
  }

 private:
  std::map<std::pair<std::uint16_t, std::uint64_t>, StreamWindow> entries_;
};

// An object endpoint this node serves: the window it grants each stream, and its counters.
struct ObjectEndpoint {
  ObjectWindow window;
  ObjectCompression accepts = ObjectCompression::lz4;  // none: compressed streams refused
  ObjectEndpointStats stats;
};

// Bits for a nonce key when the config gives none: from a generator of their own, so that
// drawing them leaves the node's generator (incarnation, jitter) as it was.
inline std::array<std::uint64_t, 4> nonce_seed_bits(std::uint64_t seed) {
  Rng rng(seed ^ 0x6e6f6e63652d6b65);  // "nonce-ke"
  return {rng.next(), rng.next(), rng.next(), rng.next()};
}

// The incarnation for `seed`: one way (an HMAC keyed by bits drawn from the seed), since
// every hello and challenge carries it. It was the generator's first output, from which the
// seed follows by inverting xoshiro256** and splitmix64: one handshake read then gave away
// the nonce key derived from the seed, and so every nonce.
inline std::uint64_t incarnation_of(std::uint64_t seed) {
  constexpr std::uint64_t kIncarnationLabel = 0x696e'6361'726e'6174ULL;  // "incarnat": far
                                                                         // above the mux labels
  return NonceSource(key_of_bits(nonce_seed_bits(seed))).secret_word(kIncarnationLabel) | 1;
}

// The node's generator (backoff jitter and the like): seeded with `seed`, one output on. Its
// first output was the incarnation once; skipping it keeps the draws that follow as they
// were, and so the simulator's runs of a seed (the seeds its tests and docs name).
inline Rng generator_of(std::uint64_t seed) {
  Rng rng(seed);
  rng.next();
  return rng;
}

struct NodeContext {
  // Takes `node_config`'s nonce key (NonceSource keeps the only copy; the config's is
  // overwritten and reset, so `config.nonce_key` is unset) and the rest of it.
  NodeContext(NodeConfig&& node_config, TimeNs now_ns, std::int64_t wall_ms)
      : nonces(take_nonce_source(node_config, nonce_seed_bits(node_config.seed.value()))),
        config(std::move(node_config)),
        rng(generator_of(config.seed.value())),
        incarnation(incarnation_of(config.seed.value())),
        auth(config.auth),
        wall_offset_ms(wall_ms - ms_from_ns(now_ns)) {}

  std::int64_t wall_ms(TimeNs now_ns) const { return ms_from_ns(now_ns) + wall_offset_ms; }

  // A hello or challenge with the fields both carry filled in (checksum flag as
  // wants_checksums says for `transport`, name, incarnation, wall clock, frame limit,
  // `nonce`); the caller adds the rest. The frame's nonce view points into `nonce`.
  Frame handshake_frame(Op op, TimeNs now_ns, const Nonce& nonce,
                        const TransportSecurity& transport) const;
  TransportId new_transport() { return next_transport++; }
  // Queues an event, built in its slot from `event` (one of Event's alternatives): an Event
  // is about 300 bytes, so each move saved counts at millions of events a second.
  template <typename E>
  void emit(E&& event) {
    metrics.count(event);
    events.emplace_back(std::forward<E>(event));
  }

  NonceSource nonces;  // before config: it takes the config's nonce key first
  const NodeConfig config;
  Rng rng;
  const std::uint64_t incarnation;  // non-zero: 0 means "not known yet" in PeerStats
  // The authenticator of handshakes from now on: config.auth until Node::set_authenticator.
  std::shared_ptr<const Authenticator> auth;
  std::int64_t wall_offset_ms;
  FifoQueue<Event> events;
  // Memory of payload vectors handed back (Node::recycle_payload), for events' payloads.
  PayloadPool payloads{config.payload_pool_bytes};
  std::deque<TransportId> transmit_queue;
  // Which peer owns each live transport (dialing or connected). Lookups only: its
  // iteration order never reaches output.
  std::unordered_map<TransportId, PeerId> transport_owner;
  TransportId next_transport = 1;
  HandlerRegistry handlers;
  StreamHandlerRegistry stream_handlers;
  std::map<std::string, ObjectEndpoint, std::less<>> object_endpoints;
  std::uint64_t next_object_stream = 1;  // ObjectStreamId values, both directions
  // The latest `now` of any input or command, for work that output progress triggers
  // (consume_output carries no time).
  TimeNs latest_now_ns = 0;
  MetricsCounters metrics;  // Node::metrics' own counters
};

}  // namespace weft::detail
