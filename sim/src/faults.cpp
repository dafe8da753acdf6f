#include "faults.hpp"

#include <array>
#include <string>
#include <utility>

#include "weft/wire.hpp"

namespace weft::sim {

namespace {
// A moment drawn from now to `max_ns` after it.
TimeNs until_at_most(Rng& rng, TimeNs now, TimeNs max_ns) {
  return now + static_cast<TimeNs>(rng.below(static_cast<std::uint64_t>(max_ns) + 1));
}
}  // namespace

FaultInjector::FaultInjector(const FaultRates& rates, Network& net, Oracle& oracle, Tracer& tracer)
    : rates_(rates), net_(net), oracle_(oracle), tracer_(tracer), rng_(net.fault_rng()) {}

std::int64_t FaultInjector::draw_skew() {
  if (rates_.max_skew_ms == 0) return 0;
  return static_cast<std::int64_t>(
             rng_.below(static_cast<std::uint64_t>(2 * rates_.max_skew_ms + 1))) -
         rates_.max_skew_ms;
}

void FaultInjector::schedule(std::function<void(std::size_t)> crash) {
  crash_ = std::move(crash);
  const std::size_t n = net_.node_count();
  const double links = static_cast<double>(n * (n - 1) / 2);
  repeat(rates_.reset_per_s * links, [this] { reset_random_link(); });
  repeat(rates_.clog_per_s * links, [this] { clog_random_link(); });
  repeat(rates_.partition_per_s, [this] { partition(); });
  repeat(rates_.crash_per_s * static_cast<double>(n), [this, n] { crash_(rng_.below(n)); });
  if (rates_.max_skew_ms > 0) repeat(0.1 * static_cast<double>(n), [this] { jump_clock(); });
  repeat(rates_.pause_per_s * static_cast<double>(n), [this, n] { pause_reader(rng_.below(n)); });
  repeat(rates_.ghost_per_s * static_cast<double>(n), [this] { inject_ghost(); });
}

void FaultInjector::repeat(double per_s, std::function<void()> fault) {
  if (per_s <= 0) return;
  net_.at(net_.now() + exponential(rng_, per_s), [this, per_s, fault] {
    if (!net_.faults_on()) return;
    fault();
    repeat(per_s, fault);
  });
}

void FaultInjector::reset_random_link() {
  const std::vector<std::size_t> open = net_.open_links();
  if (open.empty()) return;
  const std::size_t link_at = open[rng_.below(open.size())];
  const Link& link = net_.link(link_at);
  net_.count_fault();
  tracer_.trace({"fault reset ", net_.name(link.node[0]), " ", net_.name(link.node[1])});
  tracer_.chrome('i', link.node[0], "reset");
  tracer_.chrome_link('i', link.node[0], link.node[1], "reset");
  net_.reset(link_at, static_cast<int>(rng_.below(2)));
}

void FaultInjector::clog_random_link() {
  const std::vector<std::size_t> open = net_.open_links();
  if (open.empty()) return;
  const std::size_t link_at = open[rng_.below(open.size())];
  const Link& link = net_.link(link_at);
  const int side = static_cast<int>(rng_.below(2));
  const TimeNs until = until_at_most(rng_, net_.now(), rates_.clog_ns);
  net_.clog(link_at, side, until);
  oracle_.disturb(link.node[0], link.node[1], until);
  net_.count_fault();
  tracer_.trace({"fault clog ", net_.name(link.node[side])});
  tracer_.chrome('i', link.node[side], "clog");
  tracer_.chrome_link('i', link.node[0], link.node[1], "clog");
}

// Isolates one node, or splits the cluster in random halves; one way or both.
void FaultInjector::partition() {
  const std::size_t n = net_.node_count();
  std::vector<bool> side(n, false);
  if (rng_.below(2) == 0) {
    side[rng_.below(n)] = true;
  } else {
    for (std::size_t i = 0; i < n; ++i)
      side[i] = rng_.below(2) == 1;
  }
  const bool one_way = rng_.unit() < rates_.one_way_chance;
  cut(side, one_way, until_at_most(rng_, net_.now(), rates_.partition_ns));
  net_.count_fault();
  tracer_.trace({"fault partition", (one_way ? " one-way" : "")});
  tracer_.chrome('i', tracer_.cluster_track(), one_way ? "partition one-way" : "partition");
}

void FaultInjector::cut(const std::vector<bool>& side, bool one_way, TimeNs until) {
  const std::size_t n = net_.node_count();
  for (std::size_t a = 0; a < n; ++a) {
    for (std::size_t b = 0; b < n; ++b) {
      if (side.at(a) == side.at(b)) continue;
      if (side[a] || !one_way) net_.block(a, b, until);
      oracle_.disturb(a, b, until);
    }
  }
}

void FaultInjector::lift_partitions() {
  net_.lift_blocks();
  oracle_.calm();
}

void FaultInjector::heal() {
  net_.clear_clogs();
  lift_partitions();  // clogs too: no disturbance lasts past this instant
  net_.end_pauses();
}

void FaultInjector::jump_clock() {
  const std::size_t index = rng_.below(net_.node_count());
  net_.set_skew(index, draw_skew());
  if (Node* node = net_.node(index)) node->set_wall_clock(net_.now(), net_.wall_ms(index));
  net_.count_fault();
  tracer_.trace({"fault clock jump ", net_.name(index)});
  tracer_.chrome('i', index, "clock jump");
}

// The node's reader stops for a while: bytes for it pile up in the send buffers.
void FaultInjector::pause_reader(std::size_t index) {
  const TimeNs until = net_.pause(index, until_at_most(rng_, net_.now(), rates_.pause_ns));
  for (std::size_t other = 0; other < net_.node_count(); ++other) {
    if (other != index) oracle_.disturb(index, other, until);
  }
  net_.count_fault();
  tracer_.trace({"fault pause ", net_.name(index)});
  tracer_.chrome('i', index, "reader paused");
}

// ---- ghosts: connections nobody dialed ----

// A hello from the node that, by the dial rule, must not dial its peer: as if both dialed.
std::optional<std::vector<std::uint8_t>> FaultInjector::wrong_way_hello(std::size_t& from,
                                                                        std::size_t& to) {
  const std::size_t n = net_.node_count();
  from = rng_.below(n);
  to = (from + 1 + rng_.below(n - 1)) % n;
  if (dial_rule_dials(net_.name(from), net_.name(to))) std::swap(from, to);
  const Node* node = net_.node(from);
  if (!node) return std::nullopt;
  std::array<std::uint8_t, kNonceBytes> nonce{};
  for (std::uint8_t& byte : nonce)
    byte = static_cast<std::uint8_t>(rng_.next());
  ByteBuffer bytes;
  encode_frame(bytes, Frame{.op = Op::hello,
                            .checksum = true,
                            .seq = 1,
                            .version_min = kProtocolVersionMin,
                            .version_max = kProtocolVersion,
                            .name = net_.name(from),
                            .peer_name = net_.name(to),
                            .incarnation = node->incarnation(),
                            .wall_ms = static_cast<std::uint64_t>(net_.wall_ms(from)),
                            .max_frame_bytes = 1 << 20,
                            .nonce = nonce});
  return std::vector<std::uint8_t>(bytes.view().begin(), bytes.view().end());
}

// A new connection arrives at a node with a stale or wrong-way hello and nothing behind it.
void FaultInjector::inject_ghost() {
  std::size_t from = 0;
  std::size_t to = 0;
  std::vector<std::uint8_t> hello;
  std::uint64_t hello_epoch = 0;
  std::uint64_t hello_seq = 0;
  bool wrong_way = false;
  const std::deque<SentHello>& sent_hellos = net_.sent_hellos();
  if (!sent_hellos.empty() && rng_.below(2) == 0) {
    const SentHello& sent = sent_hellos[rng_.below(sent_hellos.size())];
    from = sent.from;
    to = sent.to;
    hello_epoch = sent.epoch;
    hello_seq = sent.seq;
    hello = sent.bytes;
  } else {
    std::optional<std::vector<std::uint8_t>> made = wrong_way_hello(from, to);
    if (!made) return;
    wrong_way = true;
    hello_epoch = net_.epoch(from);
    hello = std::move(*made);
  }
  if (!net_.node(to)) return;
  const std::size_t link_at = net_.open_ghost(from, to, hello, hello_epoch, hello_seq, wrong_way);
  net_.count_fault();
  tracer_.trace({"fault ghost ", (wrong_way ? "wrong-way " : "stale "), net_.name(from), " -> ",
                 net_.name(to)});
  const char* what = wrong_way ? "ghost wrong-way hello" : "ghost stale hello";
  tracer_.chrome('i', to, what);
  tracer_.chrome_link('i', net_.link(link_at).node[0], net_.link(link_at).node[1], what);
}

}  // namespace weft::sim
