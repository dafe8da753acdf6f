// Node's bundle commands (weft/node.hpp): each runs on the node's Bundles, then checks its
// bookkeeping.
#include "bundles.hpp"
#include "weft/node.hpp"

namespace weft {

// Runs a bundle command, then (in builds with invariant checks) the bundles' invariants.
template <typename F>
static auto bundle_command(detail::Bundles& bundles, F&& body) {
  auto result = body(bundles);
  bundles.check_invariants();
  return result;
}

OpenedBundle Node::open_bundle(TimeNs now_ns, const BundleConfig& config) {
  static_cast<void>(now_ns);  // nothing is timed until the first object
  return bundle_command(*bundles_, [&](detail::Bundles& bundles) { return bundles.open(config); });
}

PostedBundleObject Node::bundle_post(TimeNs now_ns, BundleId id, ObjectArgs args,
                                     std::uint64_t key) {
  return bundle_command(*bundles_, [&](detail::Bundles& bundles) {
    return bundles.post(now_ns, id, std::move(args), key);
  });
}

Errc Node::bundle_supply(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer,
                         std::uint64_t offset, const Payload& data, bool last) {
  return bundle_command(*bundles_, [&](detail::Bundles& bundles) {
    return bundles.supply(now_ns, id, object, peer, offset, data, last);
  });
}

Errc Node::bundle_abort(TimeNs now_ns, BundleId id, std::uint64_t object, PeerId peer, Errc code,
                        std::string_view message) {
  return bundle_command(*bundles_, [&](detail::Bundles& bundles) {
    return bundles.abort_replica(now_ns, id, object, peer, code, message);
  });
}

Errc Node::bundle_add_destination(TimeNs now_ns, BundleId id, PeerId peer) {
  static_cast<void>(now_ns);  // the destination's streams open with its first object
  return bundle_command(
      *bundles_, [&](detail::Bundles& bundles) { return bundles.add_destination(id, peer); });
}

Errc Node::bundle_remove_destination(TimeNs now_ns, BundleId id, PeerId peer) {
  return bundle_command(*bundles_, [&](detail::Bundles& bundles) {
    return bundles.remove_destination(now_ns, id, peer);
  });
}

Errc Node::bundle_fin(TimeNs now_ns, BundleId id) {
  return bundle_command(*bundles_,
                        [&](detail::Bundles& bundles) { return bundles.fin(now_ns, id); });
}

Errc Node::bundle_stop(TimeNs now_ns, BundleId id, Errc code, std::string_view message) {
  return bundle_command(
      *bundles_, [&](detail::Bundles& bundles) { return bundles.stop(now_ns, id, code, message); });
}

std::optional<BundleStats> Node::bundle_stats(BundleId id) const {
  return bundles_->stats(id);
}

std::optional<std::vector<PeerId>> Node::bundle_destinations(BundleId id) const {
  return bundles_->destinations(id);
}

}  // namespace weft
