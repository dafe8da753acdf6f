// The workload's books: the handlers every simulated node serves, and every call and stream
// the workload started, how far it got and how it ended. The workload writes them as it
// goes; the oracle checks every event against them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "object_books.hpp"
#include "weft/bytes.hpp"
#include "weft/errors.hpp"
#include "weft/events.hpp"
#include "weft/time.hpp"

namespace weft::sim {

// The request handlers every node registers.
constexpr std::uint16_t kEcho = 1;    // answers with the request's payload
constexpr std::uint16_t kError = 2;   // answers remote_error "err<payload size>"
constexpr std::uint16_t kSlow = 3;    // echoes after up to 1.5 s
constexpr std::uint16_t kSilent = 4;  // never answers: the deadline or a cancel ends it
// The stream handlers.
constexpr std::uint16_t kStreamEcho = 5;   // echoes every message, closes when input is done
constexpr std::uint16_t kStreamStuck = 6;  // never reads its input
// Every stream window's bytes: room for the longest test message (stream_message) with others.
constexpr std::uint32_t kStreamWindowBytes = 256 << 10;

// Message `n` of stream `mux`: short, except one in sixteen that is longer than a part
// (33..41 KiB with the default 32 KiB parts, so it travels in two parts that other frames
// pass).
inline std::vector<std::uint8_t> stream_message(std::uint64_t mux, std::uint64_t n) {
  std::string text = std::to_string(mux) + ":" + std::to_string(n);
  if ((mux + n) % 16 == 0) {
    const std::size_t size = (33 << 10) + (mux * 7919 + n * 104729) % (8 << 10);
    text.resize(size, static_cast<char>('a' + n % 26));
  }
  return {text.begin(), text.end()};
}

// A request the workload started.
struct TrackedCall {
  std::size_t from;
  std::size_t to;
  std::uint16_t handler;
  SharedBytes payload;  // shared with the node's send lanes: no copy per call
  TimeNs deadline_ns;
  std::uint64_t serial = 0;  // also the payload's first 8 bytes
  bool canceled = false;     // the workload canceled it
  bool done = false;
};

// A stream the workload opened, from its opener's side.
struct TrackedStream {
  std::size_t from;
  std::size_t to;
  std::uint64_t messages;  // the opener writes this many, then closes
  std::uint64_t serial = 0;
  // Stepped runs: the opener writes and reads only when told (stream_write, stream_consume).
  bool manual = false;
  std::uint64_t written = 0;
  std::uint64_t echoes = 0;  // echoes read, each checked in order
  TimeNs deadline_ns = kNever;
  bool canceled = false;
  bool ended = false;
};

// The serving side of a stream: echoes waiting for credit.
struct ServedStream {
  std::deque<std::vector<std::uint8_t>> pending;
  bool stuck = false;  // kStreamStuck: never reads, so the opener's deadline must end it
  bool ended = false;
};

// How a call or stream ended, by serial, as its opener saw it.
struct Outcome {
  bool ended = false;
  bool dropped = false;  // its opener crashed first
  Errc result = Errc::ok;
};

// (node, its epoch, peer, request id): ids are unique per connection, one per peer.
using CallKey = std::tuple<std::size_t, std::uint64_t, PeerId, RequestId>;
// (node, epoch, peer, connection generation, mux): a restarted peer reuses mux numbers.
using StreamKey = std::tuple<std::size_t, std::uint64_t, PeerId, std::uint64_t, std::uint64_t>;

struct Ledger {
  std::vector<std::size_t> call_links;   // per call serial: the link it was sent on
  std::vector<CallKey> call_keys;        // per call serial
  std::vector<Outcome> call_outcomes;    // per call serial
  std::vector<StreamKey> stream_keys;    // per stream serial
  std::vector<Outcome> stream_outcomes;  // per stream serial
  std::map<CallKey, TrackedCall> calls;
  std::map<StreamKey, TrackedStream> streams;
  std::map<StreamKey, ServedStream> served;
  std::uint64_t completed_ok = 0;
  ObjectBooks objects;

  // Incarnation `epoch` of node `index` died: the calls, streams and object streams it
  // opened are dropped (those still open never end), and those it served are gone.
  void forget(std::size_t index, std::uint64_t epoch) {
    const auto of_it = [index, epoch](const auto& key) {
      return std::get<0>(key) == index && std::get<1>(key) == epoch;
    };
    for (auto it = streams.begin(); it != streams.end();) {
      const bool dies = of_it(it->first);
      if (dies && !it->second.ended) stream_outcomes[it->second.serial].dropped = true;
      it = dies ? streams.erase(it) : ++it;
    }
    for (auto it = served.begin(); it != served.end();)
      it = of_it(it->first) ? served.erase(it) : ++it;
    for (auto it = calls.begin(); it != calls.end();) {
      const bool dies = of_it(it->first);
      if (dies && !it->second.done) call_outcomes[it->second.serial].dropped = true;
      it = dies ? calls.erase(it) : ++it;
    }
    objects.forget(index, epoch);
  }
};

}  // namespace weft::sim
