// The workload: the applications on every node. As callers, requests and streams between
// random pairs at a Poisson rate (one start in eight a stream), some canceled at a random
// moment, and object streams (object_workload.hpp) and bundles (bundle_workload.hpp) for a
// share of the starts; as servers,
// the handlers of ledger.hpp. Stepped runs start calls and streams
// themselves and may drive a stream's opener by hand. Everything started goes into the
// ledger; what the oracle must see (each echo, the credits) goes through it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "bundle_workload.hpp"
#include "ledger.hpp"
#include "network.hpp"
#include "object_workload.hpp"
#include "oracle.hpp"
#include "trace.hpp"
#include "weft/random.hpp"
#include "weft/sim/simulator.hpp"

namespace weft::sim {

class WorkloadDriver {
 public:
  WorkloadDriver(const Workload& settings, Rng rng, Network& net, Ledger& ledger, Oracle& oracle,
                 Tracer& tracer);

  const Workload& settings() const { return settings_; }
  ObjectWorkload& objects() { return objects_; }
  BundleWorkload& bundles() { return bundles_; }
  // Starts calls and streams at the workload's rate from `from` on, until stop().
  void schedule(TimeNs from);
  void stop() { on_ = false; }

  // ---- callers ----

  // Starts a call of `size` payload bytes (after the 8 that name it); its serial, or
  // nothing when the caller is down or the core refused it.
  std::optional<std::uint64_t> call(std::size_t from, std::size_t to, std::uint16_t handler,
                                    std::size_t size, std::int64_t timeout_ms);
  // Cancels call `serial` if it is still open; false if it had ended or its caller crashed.
  bool cancel_call(std::uint64_t serial);
  // Opens a stream of `messages` numbered messages to `handler`; its serial, or nothing
  // when the opener is down or the core refused it. A manual stream writes and reads only
  // when told to (write_manual, read_manual).
  std::optional<std::uint64_t> open_stream(std::size_t from, std::size_t to, std::uint16_t handler,
                                           std::uint64_t messages, std::uint32_t window_msgs,
                                           std::int64_t timeout_ms, bool manual);
  // Cancels stream `serial` if its opener still has it open.
  bool cancel_stream(std::uint64_t serial);
  // The opener of stream `serial` writes its next message (closing after the last); false
  // when it cannot (no credit, ended, crashed, all written).
  bool write_manual(std::uint64_t serial);
  // The opener of stream `serial` reads and checks one echo; false when none is waiting.
  bool read_manual(std::uint64_t serial);
  // Every manual stream whose opener lives goes on by itself: writes the rest, reads the
  // echoes.
  void finish_manual_streams();

  // ---- events, on either side ----

  void serve(std::size_t index, event::RequestReceived&& request);
  void stream_readable(std::size_t index, PeerId peer, StreamId id);
  void stream_writable(std::size_t index, PeerId peer, StreamId id);

 private:
  void start();
  void start_stream(std::size_t from, std::size_t to);
  void write_stream(std::size_t from, PeerId peer, StreamId id);
  bool write_next(PeerConnection& connection, StreamId id, TrackedStream& stream);
  bool read_echo(PeerConnection& connection, StreamId id, TrackedStream& stream);
  void flush_echoes(std::size_t index, PeerId peer, StreamId id);
  TrackedStream* open_stream_of(std::uint64_t serial);
  template <typename Step>
  bool with_opener(std::uint64_t serial, Step step);
  static void fill_random(Rng& rng, std::span<std::uint8_t> out);

  const Workload settings_;
  Rng rng_;
  Network& net_;
  Ledger& ledger_;
  Oracle& oracle_;
  Tracer& tracer_;
  ObjectWorkload objects_;
  BundleWorkload bundles_;
  bool on_ = true;
};

}  // namespace weft::sim
