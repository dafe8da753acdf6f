// The counters behind Node::metrics that no other part of the core keeps: outcomes of
// calls, streams and objects per peer (counted as their events are emitted), faults per
// peer, and handshake refusals. Internal to core/.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "weft/events.hpp"
#include "weft/metrics.hpp"

namespace weft::detail {

struct NodeContext;
class Connection;

inline std::size_t errc_index(Errc code) {
  return static_cast<std::size_t>(code) < kErrcCount ? static_cast<std::size_t>(code) : 0;
}

class MetricsCounters {
 public:
  // The counters of `peer`, made on first use: a peer that never did anything costs one
  // pointer (a thousand idle peers stay cheap).
  PeerCounters& peer(PeerId peer) {
    if (peer >= peers_.size()) peers_.resize(peer + 1);
    if (!peers_[peer]) peers_[peer] = std::make_unique<PeerCounters>();
    return *peers_[peer];
  }
  // The counters of `peer`, or nullptr when it never counted anything.
  const PeerCounters* find(PeerId peer) const {
    return peer < peers_.size() ? peers_[peer].get() : nullptr;
  }

  // NodeContext::emit calls count() for every event: the overloads below count what
  // operators want; every other event costs nothing.
  template <typename E>
  void count(const E&) {}
  void count(const event::RequestDone& done) {
    ++peer(done.peer).requests_completed[errc_index(done.result)];
  }
  void count(const event::RequestReceived& received) { ++peer(received.peer).requests_received; }
  void count(const event::RequestCanceled& canceled) {
    ++peer(canceled.peer).requests_canceled[errc_index(canceled.reason)];
  }
  void count(const event::StreamOpened& opened) { ++peer(opened.peer).streams_accepted; }
  void count(const event::StreamEnded& ended) {
    ++peer(ended.peer).streams_ended[errc_index(ended.result)];
  }
  void count(const event::ObjectCompleted& completed) {
    ++peer(completed.peer).objects_completed[errc_index(completed.result)];
  }
  void count(const event::ObjectArrived& arrived) { ++peer(arrived.peer).objects_arrived; }
  void count(const event::ObjectAborted& aborted) {
    ++peer(aborted.peer).objects_aborted[errc_index(aborted.result)];
  }
  void count(const event::PeerDown& down) { ++peer(down.peer).disconnects; }
  void count(const event::HandshakeFailed& failed) {
    const auto status = static_cast<std::uint16_t>(failed.status);
    const bool named = !status_name(status).empty();
    ++handshake_failures[{named ? status : kUnnamedHandshakeStatus, failed.rejected_by_us}];
  }

  // Failed handshakes by (status, rejected_by_us); a map, so snapshots list them in order.
  std::map<std::pair<std::uint16_t, bool>, std::uint64_t> handshake_failures;
  std::uint64_t transports_accepted = 0;

 private:
  std::vector<std::unique_ptr<PeerCounters>> peers_;  // by PeerId
};

// Node::metrics: `connections` are the node's, by PeerId (metrics_collect.cpp).
MetricsSnapshot collect_metrics(const NodeContext& context,
                                std::span<const Connection* const> connections, TimeNs now_ns,
                                const MetricsOptions& options);

}  // namespace weft::detail
