// Properties of the connection state machine under random sequences of requests, cancels,
// answers, disconnects and clock advances on two nodes wired in memory.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>

#include "cluster.hpp"

namespace weft {
namespace {

using testing::Cluster;

struct Issued {
  std::size_t from;
  RequestId id;
  TimeNs deadline_ns;
};

// One random step of the workload.
void random_step(Cluster& cluster, std::vector<Issued>& issued, std::set<InboundId>& answered) {
  const std::size_t side = *rc::gen::inRange<std::size_t>(0, 2);
  const std::size_t other = 1 - side;
  switch (*rc::gen::inRange(0, 7)) {
    case 0:
    case 1:
    case 2: {
      const std::uint16_t handler =
          *rc::gen::element(testing::kEchoHandler, testing::kHoldHandler, testing::kErrorHandler,
                            testing::kDelayHandler, std::uint16_t{99});
      const std::int64_t timeout_ms = *rc::gen::inRange<std::int64_t>(1, 3000);
      const std::string payload(*rc::gen::inRange<std::size_t>(0, 3000), 'q');
      const Call call = cluster.request(side, other, handler, payload, timeout_ms);
      if (call.error == Errc::ok) {
        issued.push_back({side, call.id, cluster.now() + ns_from_ms(timeout_ms)});
      } else {
        RC_ASSERT(call.error == Errc::disconnected);
      }
      break;
    }
    case 3:
      if (!issued.empty()) {
        const Issued& pick = issued[*rc::gen::inRange<std::size_t>(0, issued.size())];
        const Errc result = cluster.to(pick.from, 1 - pick.from).cancel(cluster.now(), pick.id);
        RC_ASSERT(result == Errc::ok || result == Errc::not_found);
      }
      break;
    case 4: {
      auto& held = cluster.recorder(side).held;
      if (!held.empty()) {
        const std::size_t at = *rc::gen::inRange<std::size_t>(0, held.size());
        const event::RequestReceived request = held[at];
        held.erase(held.begin() + static_cast<long>(at));
        PeerConnection peer = cluster.node(side).connection(request.peer);
        const Errc result = *rc::gen::arbitrary<bool>()
                                ? peer.respond(cluster.now(), request.id, as_bytes("late answer"))
                                : peer.respond_error(cluster.now(), request.id, Errc::busy, "no");
        RC_ASSERT(result == Errc::ok || result == Errc::not_found);
        if (result == Errc::ok) RC_ASSERT(answered.insert(request.id).second);
      }
      break;
    }
    case 5:
      cluster.net().break_links(0, 1);
      break;
    default:
      cluster.net().run_for(ns_from_ms(*rc::gen::inRange<std::int64_t>(0, 2000)));
      break;
  }
}

RC_GTEST_PROP(NodeProperties, EveryRequestEndsExactlyOnceAndNeverAfterItsDeadline, ()) {
  sim::MemNetworkOptions options;
  options.seed = *rc::gen::arbitrary<std::uint64_t>();
  options.latency_ns = *rc::gen::inRange<TimeNs>(1'000, ns_from_ms(5));
  options.max_piece_bytes =
      *rc::gen::element(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{1500});
  Cluster cluster({"alpha", "bravo"}, options);
  cluster.recorder(0).delay_ns = ns_from_ms(*rc::gen::inRange(0, 500));
  cluster.recorder(1).delay_ns = ns_from_ms(*rc::gen::inRange(0, 500));
  RC_ASSERT(cluster.run_until_connected(ns_from_ms(10'000)));

  std::vector<Issued> issued;
  std::set<InboundId> answered;
  const int steps = *rc::gen::inRange(1, 80);
  for (int i = 0; i < steps; ++i)
    random_step(cluster, issued, answered);

  // Quiet phase: long enough for every deadline to pass and the pair to reconnect.
  cluster.net().run_for(ns_from_ms(10'000));

  for (const Issued& call : issued) {
    const auto& done = cluster.recorder(call.from).done;
    std::size_t count = 0;
    for (const auto& stamped : done) {
      if (stamped.event.id != call.id) continue;
      ++count;
      RC_ASSERT(stamped.at_ns <= call.deadline_ns);
    }
    RC_ASSERT(count == 1u);
  }
  // Every RequestDone belongs to a call that was started.
  for (std::size_t side : {0u, 1u}) {
    std::size_t started = 0;
    for (const Issued& call : issued)
      started += call.from == side ? 1 : 0;
    RC_ASSERT(cluster.recorder(side).done.size() == started);
  }
  // On the serving side every request ended once: answered, or canceled with a reason.
  for (std::size_t side : {0u, 1u}) {
    std::map<InboundId, int> endings;
    std::map<InboundId, std::uint16_t> handler_of;
    for (const auto& received : cluster.recorder(side).received) {
      endings[received.event.id] = 0;
      handler_of[received.event.id] = received.event.handler;
    }
    for (const auto& canceled : cluster.recorder(side).canceled) {
      RC_ASSERT(endings.contains(canceled.event.id));
      ++endings[canceled.event.id];
    }
    for (auto& entry : endings) {
      if (answered.contains(entry.first)) ++entry.second;
    }
    for (const auto& entry : endings) {
      // Held requests end only by the test's answer or a cancel: exactly one of them. The
      // test application answers the others itself, so at most a cancel can be seen.
      if (handler_of[entry.first] == testing::kHoldHandler) {
        RC_ASSERT(entry.second == 1);
      } else {
        RC_ASSERT(entry.second <= 1);
      }
    }
  }
  RC_ASSERT(cluster.all_mux_tables_empty());
}

}  // namespace
}  // namespace weft
