#include "workload.hpp"

#include <bit>
#include <cstring>
#include <string>

namespace weft::sim {

WorkloadDriver::WorkloadDriver(const Workload& settings, Rng rng, Network& net, Ledger& ledger,
                               Oracle& oracle, Tracer& tracer)
    : settings_(settings),
      rng_(rng),
      net_(net),
      ledger_(ledger),
      oracle_(oracle),
      tracer_(tracer),
      objects_(rng_.split(), net, ledger.objects, oracle, tracer),
      bundles_(rng_.split(), net, ledger.objects, oracle, tracer) {}

// One draw per payload, then a cheap mix of (draw, position) per 8 bytes, little-endian so
// every host builds the same payload. Payloads are most of the bytes a run moves, and the
// oracle needs them distinct per call and per position, not statistically random.
void WorkloadDriver::fill_random(Rng& rng, std::span<std::uint8_t> out) {
  const std::uint64_t draw = rng.next();
  auto word_at = [draw](std::size_t i) {
    const std::uint64_t word = (draw + i) * 0x9e3779b97f4a7c15ULL;
    return word ^ (word >> 29);
  };
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    std::uint64_t word = word_at(i);
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    std::memcpy(out.data() + i, &word, 8);
  }
  const std::uint64_t last = word_at(i);
  for (std::size_t j = 0; i + j < out.size(); ++j)
    out[i + j] = static_cast<std::uint8_t>(last >> (8 * j));
}

void WorkloadDriver::schedule(TimeNs from) {
  if (settings_.requests_per_s <= 0) return;
  net_.at(from + exponential(rng_, settings_.requests_per_s), [this] {
    if (on_) {
      start();
      schedule(net_.now());
    }
  });
}

void WorkloadDriver::start() {
  const std::size_t n = net_.node_count();
  const std::size_t from = rng_.below(n);
  const auto partners = static_cast<std::size_t>(settings_.partners);
  const std::size_t to = partners > 0 ? partner_of(from, rng_.below(partners), partners, n)
                                      : (from + 1 + rng_.below(n - 1)) % n;
  if (to == from) return;
  if (!net_.node(from)) return;
  if (rng_.unit() < settings_.object_share) {
    // One object start in twelve opens a bundle: its objects go to several nodes at once.
    if (rng_.below(12) == 0) return bundles_.start(from);
    return objects_.start(from, to);
  }
  if (rng_.below(8) == 0) {  // one start in eight is a stream
    return start_stream(from, to);
  }
  const std::uint64_t pick = rng_.below(100);
  const std::uint16_t handler = pick < 50   ? kEcho
                                : pick < 65 ? kError
                                : pick < 85 ? kSlow
                                            : kSilent;
  const std::int64_t timeout_ms = 200 + static_cast<std::int64_t>(rng_.below(4800));
  const std::size_t size =
      rng_.unit() < settings_.large_share ? 40'000 + rng_.below(160'000) : rng_.below(2000);
  const std::optional<std::uint64_t> serial = call(from, to, handler, size, timeout_ms);
  if (!serial) return;
  if (rng_.below(20) == 0) {  // cancel one in twenty, at a random moment
    net_.at(net_.now() +
                static_cast<TimeNs>(rng_.below(static_cast<std::uint64_t>(timeout_ms))) * 1'000'000,
            [this, serial = *serial] { cancel_call(serial); });
  }
}

void WorkloadDriver::start_stream(std::size_t from, std::size_t to) {
  const auto window = static_cast<std::uint32_t>(1 + rng_.below(6));
  // One stream in ten goes to a handler that never reads: only a deadline ends those.
  const bool stuck = rng_.below(10) == 0;
  const std::int64_t timeout_ms =
      stuck || rng_.below(3) == 0 ? 1000 + static_cast<std::int64_t>(rng_.below(9000)) : 0;
  const std::uint64_t messages = 1 + rng_.below(20);
  const std::optional<std::uint64_t> serial = open_stream(
      from, to, stuck ? kStreamStuck : kStreamEcho, messages, window, timeout_ms, false);
  if (serial && rng_.below(10) == 0) {  // cancel one in ten, at a random moment
    net_.at(net_.now() + static_cast<TimeNs>(rng_.below(3000)) * 1'000'000,
            [this, serial = *serial] { cancel_stream(serial); });
  }
}

// ---- callers --------------------------------------------------------------------------

std::optional<std::uint64_t> WorkloadDriver::call(std::size_t from, std::size_t to,
                                                  std::uint16_t handler, std::size_t size,
                                                  std::int64_t timeout_ms) {
  Node* node = net_.node(from);
  if (!node) return std::nullopt;
  // The first 8 bytes name the call, so the serving side can check where it came from.
  const std::uint64_t serial = ledger_.call_links.size();
  std::vector<std::uint8_t> payload(8 + size);
  for (std::size_t i = 0; i < 8; ++i)
    payload[i] = static_cast<std::uint8_t>(serial >> (8 * i));
  fill_random(rng_, std::span(payload).subspan(8));
  const PeerId peer = net_.peer_of(from, to);
  if (peer == kNoPeer) return std::nullopt;  // `from` does not list `to` now (membership)
  SharedBytes shared(std::move(payload));
  const TimeNs now = net_.now();
  const weft::Call started =
      node->connection(peer).request(now, RequestArgs{handler, {}, shared, timeout_ms});
  if (started.error != Errc::ok) return std::nullopt;
  ledger_.call_links.push_back(oracle_.up_link(from, to));
  const CallKey key{from, net_.epoch(from), peer, started.id};
  ledger_.call_keys.push_back(key);
  ledger_.call_outcomes.emplace_back();
  ledger_.calls[key] =
      TrackedCall{from, to, handler, std::move(shared), now + ns_from_ms(timeout_ms), serial};
  tracer_.chrome('b', from, "request", "r" + std::to_string(serial));
  return serial;
}

bool WorkloadDriver::cancel_call(std::uint64_t serial) {
  const auto found = ledger_.calls.find(ledger_.call_keys.at(serial));
  if (found == ledger_.calls.end() || found->second.done) return false;
  const auto& [from, epoch, peer, id] = found->first;
  if (!net_.node(from) || net_.epoch(from) != epoch) return false;
  found->second.canceled = true;
  net_.node(from)->connection(peer).cancel(net_.now(), id);
  return true;
}

std::optional<std::uint64_t> WorkloadDriver::open_stream(std::size_t from, std::size_t to,
                                                         std::uint16_t handler,
                                                         std::uint64_t messages,
                                                         std::uint32_t window_msgs,
                                                         std::int64_t timeout_ms, bool manual) {
  Node* node = net_.node(from);
  if (!node) return std::nullopt;
  const PeerId peer = net_.peer_of(from, to);
  if (peer == kNoPeer) return std::nullopt;  // `from` does not list `to` now
  StreamArgs args;
  args.handler = handler;
  args.has_input = true;
  args.window = StreamWindow{window_msgs, kStreamWindowBytes};
  args.timeout_ms = timeout_ms;
  const OpenedStream opened = node->connection(peer).open_stream(net_.now(), args);
  if (opened.error != Errc::ok) return std::nullopt;
  const StreamKey key{from, net_.epoch(from), peer, opened.id.generation, opened.id.mux};
  TrackedStream stream{from, to, messages, ledger_.stream_keys.size(), manual};
  if (timeout_ms > 0) stream.deadline_ns = net_.now() + ns_from_ms(timeout_ms);
  ledger_.stream_keys.push_back(key);
  ledger_.stream_outcomes.emplace_back();
  ledger_.streams[key] = stream;
  if (!manual) write_stream(from, peer, opened.id);
  return stream.serial;
}

bool WorkloadDriver::cancel_stream(std::uint64_t serial) {
  const auto found = ledger_.streams.find(ledger_.stream_keys.at(serial));
  if (found == ledger_.streams.end() || found->second.ended) return false;
  const auto& [from, epoch, peer, generation, mux] = found->first;
  if (!net_.node(from) || net_.epoch(from) != epoch) return false;
  found->second.canceled = true;
  net_.node(from)->connection(peer).stream_cancel(net_.now(), StreamId{generation, mux});
  return true;
}

// The opener's record of stream `serial` while its opener lives and it has not ended.
TrackedStream* WorkloadDriver::open_stream_of(std::uint64_t serial) {
  const auto found = ledger_.streams.find(ledger_.stream_keys.at(serial));
  if (found == ledger_.streams.end() || found->second.ended) return nullptr;
  const std::size_t from = std::get<0>(found->first);
  if (!net_.node(from) || net_.epoch(from) != std::get<1>(found->first)) return nullptr;
  return &found->second;
}

// Runs `step(connection, id, stream)` at the opener of stream `serial` while the opener
// lives and the stream is open (else false).
template <typename Step>
bool WorkloadDriver::with_opener(std::uint64_t serial, Step step) {
  TrackedStream* stream = open_stream_of(serial);
  if (stream == nullptr) return false;
  const auto& [from, epoch, peer, generation, mux] = ledger_.stream_keys[serial];
  PeerConnection connection = net_.node(from)->connection(peer);
  return step(connection, StreamId{generation, mux}, *stream);
}

bool WorkloadDriver::write_manual(std::uint64_t serial) {
  return with_opener(serial,
                     [this](PeerConnection& connection, StreamId id, TrackedStream& stream) {
                       return write_next(connection, id, stream);
                     });
}

bool WorkloadDriver::read_manual(std::uint64_t serial) {
  return with_opener(serial,
                     [this](PeerConnection& connection, StreamId id, TrackedStream& stream) {
                       return read_echo(connection, id, stream);
                     });
}

void WorkloadDriver::finish_manual_streams() {
  for (auto& [key, stream] : ledger_.streams) {
    if (stream.ended || !stream.manual) continue;
    stream.manual = false;
    const auto& [from, epoch, peer, generation, mux] = key;
    if (!net_.node(from) || net_.epoch(from) != epoch) continue;
    write_stream(from, peer, StreamId{generation, mux});
    stream_readable(from, peer, StreamId{generation, mux});
    if (oracle_.failed()) break;
  }
}

// The opener writes its next messages as credit allows, then closes.
void WorkloadDriver::write_stream(std::size_t from, PeerId peer, StreamId id) {
  const auto found = ledger_.streams.find({from, net_.epoch(from), peer, id.generation, id.mux});
  if (found == ledger_.streams.end() || found->second.ended) return;
  TrackedStream& stream = found->second;
  if (stream.manual) return;
  PeerConnection connection = net_.node(from)->connection(peer);
  while (write_next(connection, id, stream)) {  // until no_credit: StreamWritable resumes
  }
}

// The opener writes its next message, closing its side after the last; false when it
// cannot (no credit, or all written).
bool WorkloadDriver::write_next(PeerConnection& connection, StreamId id, TrackedStream& stream) {
  if (stream.written >= stream.messages) return false;
  const TimeNs now = net_.now();
  if (connection.stream_write(now, id, stream_message(id.mux, stream.written + 1)) != Errc::ok)
    return false;
  if (++stream.written == stream.messages) connection.stream_close(now, id);
  return true;
}

// Reads the next echo waiting at the opener, which the oracle checks is the next message
// written; false when none is waiting (or it was wrong: then the run has failed).
bool WorkloadDriver::read_echo(PeerConnection& connection, StreamId id, TrackedStream& stream) {
  const std::optional<Bytes> message = connection.stream_peek(id);
  if (!message) return false;
  if (!oracle_.echo_read(stream, id.mux, *message)) return false;
  connection.stream_consume(net_.now(), id);
  return true;
}

// ---- events ---------------------------------------------------------------------------

void WorkloadDriver::serve(std::size_t index, event::RequestReceived&& request) {
  tracer_.trace({"serve ", net_.name(index), " handler ", std::to_string(request.handler)});
  oracle_.check_request_link(index, request);
  PeerConnection peer = net_.node(index)->connection(request.peer);
  const TimeNs now = net_.now();
  switch (request.handler) {
    case kEcho:
      peer.respond(now, request.id, std::move(request.payload));
      return;
    case kError:
      peer.respond_error(now, request.id, Errc::remote_error,
                         "err" + std::to_string(request.payload.size()));
      return;
    case kSlow: {
      const std::uint64_t epoch = net_.epoch(index);
      const TimeNs delay = static_cast<TimeNs>(rng_.below(1500)) * 1'000'000;
      net_.at(now + delay, [this, index, epoch, request = std::move(request)] {
        Node* node = net_.node(index);
        if (!node || net_.epoch(index) != epoch) return;
        node->connection(request.peer).respond(net_.now(), request.id, request.payload);
      });
      return;
    }
    default:
      return;  // kSilent: the caller's deadline or cancel ends it
  }
}

void WorkloadDriver::stream_readable(std::size_t index, PeerId peer, StreamId id) {
  oracle_.check_credits(index, peer, id);
  PeerConnection connection = net_.node(index)->connection(peer);
  const StreamKey key{index, net_.epoch(index), peer, id.generation, id.mux};
  if (const auto opener = ledger_.streams.find(key); opener != ledger_.streams.end()) {
    // The opener reads echoes: each must be the next message it wrote.
    TrackedStream& stream = opener->second;
    while (!stream.manual && read_echo(connection, id, stream)) {
    }
    return;
  }
  const auto served = ledger_.served.find(key);
  if (served == ledger_.served.end())
    return oracle_.fail(SimResult::Kind::safety, "readable on a stream nobody knows");
  if (served->second.stuck) return;  // it never reads: the window fills and stays full
  // Drained with stream_consume_next (the openers above use peek and consume one by one).
  for (std::optional<Bytes> message = connection.stream_peek(id); message;
       message = connection.stream_consume_next(net_.now(), id)) {
    served->second.pending.emplace_back(message->begin(), message->end());
  }
  flush_echoes(index, peer, id);
}

// The serving side writes its pending echoes as credit allows; closes once input is done.
void WorkloadDriver::flush_echoes(std::size_t index, PeerId peer, StreamId id) {
  const auto served = ledger_.served.find({index, net_.epoch(index), peer, id.generation, id.mux});
  if (served == ledger_.served.end() || served->second.ended) return;
  PeerConnection connection = net_.node(index)->connection(peer);
  auto& pending = served->second.pending;
  const TimeNs now = net_.now();
  while (!pending.empty() && connection.stream_write(now, id, pending.front()) == Errc::ok)
    pending.pop_front();
  if (pending.empty() && connection.stream_input_done(id)) connection.stream_close(now, id);
}

void WorkloadDriver::stream_writable(std::size_t index, PeerId peer, StreamId id) {
  oracle_.check_credits(index, peer, id);
  if (ledger_.streams.contains({index, net_.epoch(index), peer, id.generation, id.mux}))
    return write_stream(index, peer, id);
  flush_echoes(index, peer, id);
}

}  // namespace weft::sim
