// Properties of streams under random interleavings of writes, reads, consumes, closes,
// cancels, disconnects and clock jumps: messages arrive in order with no gap or duplicate,
// credits stay within their windows, and every stream ends exactly once on each side.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "cluster.hpp"

namespace weft {
namespace {

using testing::Cluster;

constexpr std::size_t kCaller = 0;
constexpr std::size_t kServer = 1;
constexpr std::uint16_t kStream = 10;

// One stream as the test sees it: its id on each side and what went each way.
struct Tracked {
  StreamId caller_id;
  std::optional<StreamId> server_id;
  // [0]: caller -> server, [1]: server -> caller.
  std::uint64_t sent[2] = {0, 0};
  std::uint64_t received[2] = {0, 0};
};

std::string message_for(std::size_t direction, std::uint64_t n, std::size_t padding) {
  return std::to_string(direction) + ":" + std::to_string(n) + ":" + std::string(padding, '.');
}

// Credits on one side of one stream never go negative (unsigned) or past the windows.
void check_credits(PeerConnection side, StreamId id) {
  const std::optional<StreamCredits> credits = side.stream_credits(id);
  if (!credits) return;
  if (credits->peer_window_msgs > 0 || credits->peer_window_bytes > 0) {
    RC_ASSERT(credits->send_msgs <= credits->peer_window_msgs);
    RC_ASSERT(credits->send_bytes <= credits->peer_window_bytes);
  }
  RC_ASSERT(credits->unread_msgs + credits->granted_unused_msgs <= credits->window_msgs);
  RC_ASSERT(credits->unread_bytes <= credits->window_bytes);
}

class StreamModel {
 public:
  StreamModel(Cluster& cluster) : cluster_(cluster) {}

  void open() {
    StreamArgs args;
    args.handler = kStream;
    args.has_input = *rc::gen::arbitrary<bool>();
    args.window = StreamWindow{*rc::gen::inRange<std::uint32_t>(1, 6),
                               *rc::gen::inRange<std::uint32_t>(64, 2048)};
    const OpenedStream opened = side(kCaller).open_stream(cluster_.now(), args);
    if (opened.error != Errc::ok) {
      RC_ASSERT(opened.error == Errc::disconnected);
      return;
    }
    streams_.push_back(Tracked{opened.id, std::nullopt, {0, 0}, {0, 0}});
  }

  void write(Tracked& stream, std::size_t from) {
    const std::optional<StreamId> id = id_on(stream, from);
    if (!id) return;
    const std::uint64_t n = stream.sent[from] + 1;
    const std::string message = message_for(from, n, *rc::gen::inRange<std::size_t>(0, 60));
    const Errc result = side(from).stream_write(cluster_.now(), *id, as_bytes(message));
    RC_ASSERT(result == Errc::ok || result == Errc::no_credit || result == Errc::stream_closed ||
              result == Errc::not_found);
    if (result == Errc::ok) stream.sent[from] = n;
  }

  void read(Tracked& stream, std::size_t at) {
    const std::optional<StreamId> id = id_on(stream, at);
    if (!id) return;
    const std::size_t from = 1 - at;
    for (int budget = *rc::gen::inRange(1, 5); budget > 0; --budget) {
      const std::optional<Bytes> message = side(at).stream_peek(*id);
      if (!message) break;
      // In order, no gap, no duplicate: the next number from the other side.
      const std::string text(as_chars(*message));
      const std::uint64_t n = stream.received[from] + 1;
      RC_ASSERT(text.starts_with(std::to_string(from) + ":" + std::to_string(n) + ":"));
      RC_ASSERT(n <= stream.sent[from]);
      stream.received[from] = n;
      RC_ASSERT(side(at).stream_consume(cluster_.now(), *id) == Errc::ok);
    }
  }

  void random_step() {
    if (streams_.empty() || *rc::gen::inRange(0, 8) == 0) return open();
    learn_server_ids();
    Tracked& stream = streams_[*rc::gen::inRange<std::size_t>(0, streams_.size())];
    const std::size_t at = *rc::gen::inRange<std::size_t>(0, 2);
    switch (*rc::gen::inRange(0, 12)) {
      case 0:
      case 1:
      case 2:
      case 3:
        write(stream, at);
        break;
      case 4:
      case 5:
      case 6:
        read(stream, at);
        break;
      case 7:
        if (auto id = id_on(stream, at)) side(at).stream_close(cluster_.now(), *id);
        break;
      case 8:
        if (auto id = id_on(stream, at)) {
          if (at == kCaller) {
            side(at).stream_cancel(cluster_.now(), *id);
          } else {
            side(at).stream_fail(cluster_.now(), *id, Errc::remote_error, "handler failed");
          }
        }
        break;
      case 9:
        if (*rc::gen::inRange(0, 4) == 0) cluster_.net().break_links(kCaller, kServer);
        break;
      default:
        cluster_.net().run_for(*rc::gen::inRange<TimeNs>(0, ns_from_ms(20)));
        break;
    }
    for (Tracked& each : streams_) {
      check_credits(side(kCaller), each.caller_id);
      if (each.server_id) check_credits(side(kServer), *each.server_id);
    }
  }

  // Heals, then reads everything and closes every half until all streams ended.
  void wind_down() {
    for (int round = 0; round < 200; ++round) {
      cluster_.net().run_for(ns_from_ms(5));
      learn_server_ids();
      for (Tracked& stream : streams_) {
        for (std::size_t at : {kCaller, kServer}) {
          const std::optional<StreamId> id = id_on(stream, at);
          if (!id) continue;
          while (side(at).stream_peek(*id))
            read(stream, at);
          side(at).stream_close(cluster_.now(), *id);
        }
      }
    }
  }

  void check_endings() {
    learn_server_ids();
    for (const Tracked& stream : streams_) {
      RC_ASSERT(cluster_.recorder(kCaller).ended_count(stream.caller_id) == 1u);
      if (stream.server_id) {
        RC_ASSERT(cluster_.recorder(kServer).ended_count(*stream.server_id) == 1u);
      }
      // A stream both sides ended normally delivered everything, both ways.
      const auto* caller_end = cluster_.recorder(kCaller).ended(stream.caller_id);
      const auto* server_end =
          stream.server_id ? cluster_.recorder(kServer).ended(*stream.server_id) : nullptr;
      if (caller_end && server_end && caller_end->result == Errc::ok &&
          server_end->result == Errc::ok) {
        RC_ASSERT(stream.received[0] == stream.sent[0]);
        RC_ASSERT(stream.received[1] == stream.sent[1]);
      }
    }
    // The server saw no stream the caller did not open.
    RC_ASSERT(cluster_.recorder(kServer).streams_opened.size() <= streams_.size());
    RC_ASSERT(cluster_.all_mux_tables_empty());
  }

 private:
  PeerConnection side(std::size_t index) { return cluster_.to(index, 1 - index); }

  std::optional<StreamId> id_on(const Tracked& stream, std::size_t at) const {
    return at == kCaller ? std::optional<StreamId>(stream.caller_id) : stream.server_id;
  }

  // Pairs the server's StreamOpened events with the caller's streams by mux id alone. Not
  // by generation: each side counts the connections it saw established, and a break during
  // a handshake can leave one side a count ahead of the other for good (caller 3, server 2).
  // The caller's mux ids never repeat while it runs (their serial counts on across
  // reconnects), and streams are never resumed, so one mux is one stream on both sides.
  void learn_server_ids() {
    for (const auto& opened : cluster_.recorder(kServer).streams_opened) {
      for (Tracked& stream : streams_) {
        if (!stream.server_id && stream.caller_id.mux == opened.event.id.mux) {
          stream.server_id = opened.event.id;
        }
      }
    }
  }

  Cluster& cluster_;
  std::vector<Tracked> streams_;
};

RC_GTEST_PROP(StreamProperties, OrderedDeliveryCreditsInRangeAndOneEndingPerSide, ()) {
  sim::MemNetworkOptions options;
  options.seed = *rc::gen::arbitrary<std::uint64_t>();
  options.max_piece_bytes = *rc::gen::element(std::size_t{0}, std::size_t{3}, std::size_t{200});
  options.latency_ns = *rc::gen::inRange<TimeNs>(1'000, ns_from_ms(2));
  const auto high_water = *rc::gen::element(std::size_t{64}, std::size_t{256 * 1024});
  Cluster cluster({"caller", "server"}, options, [high_water](NodeConfig& config) {
    config.limits.output_high_water_bytes = high_water;
    config.limits.small_frame_bytes = 40;  // exercise the bulk lane with small messages
  });
  cluster.node(kServer).register_stream_handler(
      kStream, {},
      StreamWindow{*rc::gen::inRange<std::uint32_t>(1, 6),
                   *rc::gen::inRange<std::uint32_t>(64, 2048)});
  RC_ASSERT(cluster.run_until_connected(ns_from_ms(10'000)));
  StreamModel model(cluster);
  const int steps = *rc::gen::inRange(1, 150);
  for (int i = 0; i < steps; ++i)
    model.random_step();
  model.wind_down();
  model.check_endings();
}

}  // namespace
}  // namespace weft
