// A simulation driven one command at a time, for model-based tests (RapidCheck stateful
// tests in tests/sim_stateful_test.cpp): the same nodes, network, oracle and trace as
// run_simulation, but no workload and no scheduled faults of its own. The caller starts
// requests and streams, writes and reads stream messages, cancels, partitions and heals,
// crashes and restarts nodes, and advances time; the profile's per-write and per-dial
// faults (latency, jitter, spikes, chunking, bit flips, refused and hanging dials, send
// buffers) still apply. Every command checks safety as it goes: once failed() is true the
// simulation is over and further commands do nothing useful.
//
// Deterministic like run_simulation: the same options and the same commands give the same
// trace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "weft/errors.hpp"
#include "weft/sim/simulator.hpp"
#include "weft/time.hpp"

namespace weft::sim {

// How a request or stream ended, as its opener saw it.
struct SteppedOutcome {
  bool ended = false;    // the opener's node reported its end
  bool dropped = false;  // the opener crashed first: it never ends
  Errc result = Errc::ok;
};

// How an object stream ended and how far its objects got, from both sides.
struct SteppedObjectOutcome {
  std::uint64_t posted = 0;
  std::uint64_t completed = 0;     // ObjectCompleted at the sender (in posting order)
  std::uint64_t completed_ok = 0;  // of those, ok
  std::uint64_t delivered = 0;     // objects that arrived at the receiving application
  std::uint64_t taken = 0;         // objects it read to the end or discarded
  bool ended = false;              // ObjectStreamEnded at the sender
  bool dropped = false;            // the sender crashed first: it never ends
  Errc result = Errc::ok;          // ObjectStreamEnded's
};

// How a bundle ended and how far its objects got (at the sender).
struct SteppedBundleOutcome {
  std::uint64_t posted = 0;
  std::uint64_t completed = 0;     // BundleObjectCompleted
  std::uint64_t completed_ok = 0;  // of those, every replica ok
  std::uint64_t replicas = 0;      // replicas posted (destinations summed over the objects)
  bool ended = false;              // BundleEnded
  bool dropped = false;            // its node crashed first: it never ends
};

class SteppedSimulation {
 public:
  // The handlers every node serves.
  enum class Handler : std::uint8_t {
    echo,    // answers with the request's payload
    error,   // answers with a remote error
    slow,    // echoes after up to 1.5 s
    silent,  // never answers: the deadline or a cancel ends the call
  };

  // Builds options.nodes nodes (at least 2) at time 0; they connect once time advances.
  // options.fault_ns, liveness_ns and requests_per_s are not used.
  explicit SteppedSimulation(const SimOptions& options);
  ~SteppedSimulation();
  SteppedSimulation(const SteppedSimulation&) = delete;
  SteppedSimulation& operator=(const SteppedSimulation&) = delete;

  std::size_t nodes() const;
  TimeNs now() const;
  bool up(std::size_t node) const;  // false between crash() and restart()
  // The first safety or liveness failure, with the simulated time it happened at.
  bool failed() const;
  std::string failure() const;  // "" while none

  // Starts a request from node `from` to node `to` (they differ) with `payload_bytes` of
  // payload and a deadline `timeout_ms` (> 0) from now. Returns the call's serial (0, 1, ...
  // in start order), or nothing when `from` is down or its core refused the call at once
  // (not connected to `to`, queue full).
  std::optional<std::size_t> request(std::size_t from, std::size_t to, Handler handler,
                                     std::size_t payload_bytes, std::int64_t timeout_ms);
  // Opens a stream from `from` to the echo stream handler on `to`: the opener will write
  // `messages` numbered messages (each with stream_write) through a window of `window_msgs`
  // (>= 1) messages, then close; timeout_ms 0 means no deadline. Returns its serial or
  // nothing, as request() does.
  std::optional<std::size_t> open_stream(std::size_t from, std::size_t to, std::uint64_t messages,
                                         std::uint32_t window_msgs, std::int64_t timeout_ms);
  // The opener writes the stream's next message (and closes its side after the last).
  // False when it cannot: no credit, all written, ended, or its node crashed.
  bool stream_write(std::size_t stream);
  // The opener reads one echo, which the oracle checks is the next message it wrote. False
  // when none is waiting.
  bool stream_consume(std::size_t stream);
  // Cancels an open call or stream; false if it had already ended or its opener crashed.
  bool cancel_request(std::size_t call);
  bool cancel_stream(std::size_t stream);

  // ---- object streams (to every node's object endpoint, or to one nobody serves) ----

  // What an object's data is: none, given whole when posted, or supplied on request
  // (sized or unsized).
  enum class ObjectKind : std::uint8_t { header_only, in_memory, supplied_sized, supplied_unsized };
  // Opens an object stream from `from` to `to`; its serial, or nothing when `from` is down
  // or its core refused. Its objects are posted, and read by the receiving application,
  // only when told.
  std::optional<std::size_t> open_object_stream(std::size_t from, std::size_t to,
                                                bool unknown_endpoint = false);
  // Posts one more object of `size` data bytes (0 for header-only); false when the sender
  // is gone, the stream was finished or stopped, or the core refused (the burst limit).
  bool object_post(std::size_t stream, ObjectKind kind, std::size_t size);
  // The receiving application reads up to `max_bytes` of the stream's object it is reading
  // (finishing it at its end), discards it, or refuses it; false when there is none.
  bool object_read(std::size_t stream, std::size_t max_bytes);
  bool object_discard(std::size_t stream);
  bool object_refuse(std::size_t stream);
  // The sender finishes (fin) or stops the stream; false when it cannot.
  bool object_fin(std::size_t stream);
  bool object_stop(std::size_t stream);
  SteppedObjectOutcome object_outcome(std::size_t stream) const;
  std::size_t object_streams_opened() const;

  // ---- bundles (one object to the object endpoint of several nodes) ----

  // Opens a bundle on `from` to every peer it lists (broadcast: later ones too) or to
  // `destinations` (nodes `from` lists), with `multiplier` (1..4) streams per destination,
  // round-robin or by key. Returns its number (0, 1, ... in opening order), or nothing when
  // `from` is down, lists none of `destinations`, or its core refused. Its objects are
  // posted, and it is finished or stopped, only when told; each replica's receiving
  // application reads, discards or refuses it as drawn for it, on its own.
  std::optional<std::size_t> open_bundle(std::size_t from, bool broadcast,
                                         const std::vector<std::size_t>& destinations,
                                         std::uint32_t multiplier, bool by_key);
  // Posts one object (`key` orders it in a by-key bundle); false when the bundle is gone,
  // finished or stopped, or the core refused (a destination full, no destination).
  bool bundle_post(std::size_t bundle, ObjectKind kind, std::size_t size, std::uint64_t key);
  bool bundle_fin(std::size_t bundle);
  bool bundle_stop(std::size_t bundle);
  // Adds or removes destination `node`; false when the bundle is gone or the core refused.
  bool bundle_add_destination(std::size_t bundle, std::size_t node);
  bool bundle_remove_destination(std::size_t bundle, std::size_t node);
  SteppedBundleOutcome bundle_outcome(std::size_t bundle) const;
  std::size_t bundles_opened() const;

  // Resets the connection between `a` and `b` (both ends learn at once); nothing if none.
  void reset(std::size_t a, std::size_t b);
  // Cuts the nodes with side[i] true off from the rest, both ways or (one_way) only what
  // they send, until heal(). Bytes already in flight are held too, never lost.
  void partition(const std::vector<bool>& side, bool one_way);
  // Ends every partition; the bytes they held go on, in order.
  void heal();
  // Kills a node: all its state is lost, its peers learn at once or only later; its calls
  // and streams are dropped (outcome().dropped). Nothing if it is down already.
  void crash(std::size_t node);
  // Starts a crashed node again as a new incarnation. Nothing if it is up.
  void restart(std::size_t node);
  // Membership: node `a` removes node `b` from its peers (Node::remove_peer: everything
  // with `b` ends at once with peer_removed, which the oracle checks), or adds it back
  // (Node::add_peer: a new relationship under a new PeerId). Nothing when `a` does not list
  // `b` already (remove) or does (add); a node that is down changes the list its next
  // start uses. heal_and_drain adds every pair back first.
  void remove_peer(std::size_t a, std::size_t b);
  void add_peer(std::size_t a, std::size_t b);
  // Whether node `a` lists node `b` now.
  bool listed(std::size_t a, std::size_t b) const;
  // Runs the world for `duration_ns` (>= 0) of simulated time.
  void advance(TimeNs duration_ns);
  // Puts `bytes` on the wire of the current connection from `from` to `to`, after what
  // `from` already wrote, as a hostile or broken peer would (nothing if there is none).
  // The receiver must treat them like any bytes from the peer: a protocol error closes
  // that connection (the oracle expects it on such a link), nothing may crash or leak.
  void inject(std::size_t from, std::size_t to, std::span<const std::uint8_t> bytes);

  // What the opener saw of call or stream `serial` so far.
  SteppedOutcome request_outcome(std::size_t call) const;
  SteppedOutcome stream_outcome(std::size_t stream) const;
  std::size_t requests_started() const;
  std::size_t streams_opened() const;

  // The final check: partitions heal, crashed nodes restart, every stream's opener writes
  // and reads the rest on its own, every object stream and bundle finishes and every receiver reads
  // all, the world runs `quiet_ns` more; then every call and stream must have ended, every pair be
  // connected and every mux table be empty. Returns the run's result (pass, or the first failure).
  //
  // With `settled_ns` below `quiet_ns`, the run may stop early: once all of that holds and
  // no bytes are on their way between nodes (looked at every simulated second), the world runs
  // `settled_ns` more, still checked by the oracle, and the final check follows. Fuzz targets use
  // it: most of a run's cost would otherwise be keepalives in a cluster with nothing left to do.
  SimResult heal_and_drain(TimeNs quiet_ns, TimeNs settled_ns = kNever);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace weft::sim
