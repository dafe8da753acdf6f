// Drives a SteppedSimulation with choices taken from a fuzz input: requests, streams,
// writes, consumes, cancels, object streams (open, post objects of every kind and size,
// read, discard, refuse, fin, stop), bundles (open broadcast or multicast with 1..4 streams
// per destination, round-robin or by key; post, fin, stop, add or remove a destination),
// raw bytes injected into a connection, connection
// resets, partitions, heals, crashes, restarts and time. The simulator's oracle checks every step;
// after the input a heal-and-drain checks liveness. A failure is returned to the target, which
// closes the simulation (flushing its trace) and then aborts through fail_on (a crash for
// libFuzzer, whose minimiser then shrinks the input).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "choices.hpp"
#include "weft/sim/stepped.hpp"

namespace weft::fuzz {

// What a target lets the input do.
struct DriverShape {
  std::size_t max_steps = 64;
  TimeNs max_small_advance_ns = 50'000'000;      // a time step moves the clock a little
  TimeNs max_large_advance_ns = 45'000'000'000;  // or far (keepalive, deadlines)
  bool inject = false;                           // raw bytes into a live connection
};

// Prints a failure the driver returned and aborts; nothing when there is none.
inline void fail_on(const std::optional<std::string>& failure) {
  if (!failure) return;
  std::fprintf(stderr, "%s\n", failure->c_str());
  std::abort();
}

// One run: the choices in `in` applied to `simulation` in turn, the oracle checked after each.
class Driver {
 public:
  Driver(sim::SteppedSimulation& simulation, Choices& in, const DriverShape& shape)
      : simulation_(simulation), in_(in), shape_(shape), nodes_(simulation.nodes()) {}

  // What failed, or nothing when the run passed.
  std::optional<std::string> run() {
    simulation_.advance(2'000'000'000);  // connected before the first choice
    for (std::size_t step = 0; step < shape_.max_steps && !in_.empty(); ++step) {
      this->step(in_.below(21));
      if (simulation_.failed()) return "oracle: " + simulation_.failure();
    }
    // Up to a minute for everything to end and reconnect; once settled (with no bytes on
    // their way), 35 s more before the final check: past a keepalive's 20 s dead interval,
    // and past the 30 s a receiver keeps the state of a stream whose stop was lost with its
    // connection.
    const sim::SimResult result = simulation_.heal_and_drain(60'000'000'000, 35'000'000'000);
    if (result.kind == sim::SimResult::Kind::pass) return std::nullopt;
    return std::string(sim::result_kind_name(result.kind)) + ": " + result.message;
  }

 private:
  void step(std::uint64_t choice) {
    switch (choice) {
      case 0:
      case 1:
        return request();
      case 2:
        return open_stream();
      case 3:
        if (!streams_.empty()) simulation_.stream_write(pick(streams_));
        return;
      case 4:
        if (!streams_.empty()) simulation_.stream_consume(pick(streams_));
        return;
      case 5:
        if (!calls_.empty()) simulation_.cancel_request(pick(calls_));
        return;
      case 6:
        if (!streams_.empty()) simulation_.cancel_stream(pick(streams_));
        return;
      case 7:
        return partition();
      case 8:
        return simulation_.heal();
      case 9:
        return crash_or_restart();
      case 10:
        if (shape_.inject) return inject();
        return advance_up_to(shape_.max_small_advance_ns);
      case 11:
        return advance_up_to(shape_.max_small_advance_ns);
      case 12:
        return open_object_stream();
      case 13:
        return post_object();
      case 14:
        if (!objects_.empty())
          simulation_.object_read(pick(objects_), in_.flip() ? SIZE_MAX : in_.below(100'000));
        return;
      case 15:
        if (objects_.empty()) return;
        if (in_.flip()) {
          simulation_.object_discard(pick(objects_));
        } else {
          simulation_.object_refuse(pick(objects_));
        }
        return;
      case 16:
        if (objects_.empty()) return;
        if (in_.below(4) != 0) {
          simulation_.object_fin(pick(objects_));
        } else {
          simulation_.object_stop(pick(objects_));
        }
        return;
      case 17: {
        const std::size_t from = node();
        return simulation_.reset(from, other(from));
      }
      case 18:
        return open_bundle();
      case 19:
        return on_bundle();
      default:
        return advance_up_to(shape_.max_large_advance_ns);
    }
  }

  std::size_t node() { return static_cast<std::size_t>(in_.below(nodes_)); }
  std::size_t other(std::size_t from) {
    return static_cast<std::size_t>((from + 1 + in_.below(nodes_ - 1)) % nodes_);
  }
  std::size_t pick(const std::vector<std::size_t>& serials) {
    return serials[in_.below(serials.size())];
  }

  void request() {
    const std::size_t from = node();
    const std::size_t to = other(from);
    const auto handler = static_cast<sim::SteppedSimulation::Handler>(in_.below(4));
    const std::size_t bytes = in_.below(4) != 0 ? in_.below(3000) : in_.below(40'000);
    const auto timeout_ms = static_cast<std::int64_t>(in_.in_range(1, 6000));
    if (const auto call = simulation_.request(from, to, handler, bytes, timeout_ms))
      calls_.push_back(*call);
  }

  void open_stream() {
    const std::size_t from = node();
    const std::size_t to = other(from);
    const std::uint64_t messages = in_.in_range(1, 12);
    const auto window = static_cast<std::uint32_t>(in_.in_range(1, 5));
    const auto timeout_ms = in_.flip() ? 0 : static_cast<std::int64_t>(in_.in_range(1, 20'000));
    if (const auto stream = simulation_.open_stream(from, to, messages, window, timeout_ms))
      streams_.push_back(*stream);
  }

  void open_object_stream() {
    const std::size_t from = node();
    const std::size_t to = other(from);
    if (const auto stream = simulation_.open_object_stream(from, to, in_.below(8) == 0))
      objects_.push_back(*stream);
  }

  // Objects of every kind; sizes within a chunk, past it, and past the receiver's window.
  void post_object() {
    if (objects_.empty()) return;
    const std::size_t stream = pick(objects_);
    const auto kind = static_cast<sim::SteppedSimulation::ObjectKind>(in_.below(4));
    constexpr std::size_t kSizes[] = {2'000, 70'000, 300'000};
    const std::size_t size = in_.below(4) == 0 ? 0 : in_.below(kSizes[in_.below(3)]);
    simulation_.object_post(stream, kind, size);
  }

  void open_bundle() {
    const std::size_t from = node();
    const bool broadcast = in_.flip();
    std::vector<std::size_t> destinations;
    for (std::size_t to = 0; to < nodes_; ++to) {
      if (to != from && !broadcast && in_.flip()) destinations.push_back(to);
    }
    const auto multiplier = static_cast<std::uint32_t>(in_.in_range(1, 4));
    if (const auto bundle =
            simulation_.open_bundle(from, broadcast, destinations, multiplier, in_.flip()))
      bundles_.push_back(*bundle);
  }

  // A post (any kind, sizes as for object streams, three keys), a fin, a stop, or a
  // destination added or removed.
  void on_bundle() {
    if (bundles_.empty()) return;
    const std::size_t bundle = pick(bundles_);
    switch (in_.below(6)) {
      case 0:
      case 1: {
        const auto kind = static_cast<sim::SteppedSimulation::ObjectKind>(in_.below(4));
        constexpr std::size_t kSizes[] = {2'000, 70'000, 300'000};
        const std::size_t size = in_.below(4) == 0 ? 0 : in_.below(kSizes[in_.below(3)]);
        simulation_.bundle_post(bundle, kind, size, in_.below(3));
        return;
      }
      case 2:
        simulation_.bundle_fin(bundle);
        return;
      case 3:
        simulation_.bundle_stop(bundle);
        return;
      case 4:
        simulation_.bundle_add_destination(bundle, node());
        return;
      default:
        simulation_.bundle_remove_destination(bundle, node());
        return;
    }
  }

  void partition() {
    std::vector<bool> side(nodes_);
    for (std::size_t i = 0; i < nodes_; ++i)
      side[i] = in_.flip();
    simulation_.partition(side, in_.flip());
  }

  void crash_or_restart() {
    const std::size_t target = node();
    if (simulation_.up(target)) {
      simulation_.crash(target);
    } else {
      simulation_.restart(target);
    }
  }

  void inject() {
    const std::size_t from = node();
    simulation_.inject(from, other(from), in_.bytes(64));
  }

  // Moves the clock by whole milliseconds, up to `max_ns`.
  void advance_up_to(TimeNs max_ns) {
    simulation_.advance(static_cast<TimeNs>(in_.below(max_ns / 1'000'000 + 1)) * 1'000'000);
  }

  sim::SteppedSimulation& simulation_;
  Choices& in_;
  const DriverShape shape_;
  const std::size_t nodes_;
  std::vector<std::size_t> calls_;
  std::vector<std::size_t> streams_;
  std::vector<std::size_t> objects_;
  std::vector<std::size_t> bundles_;
};

inline std::optional<std::string> drive(sim::SteppedSimulation& simulation, Choices& in,
                                        const DriverShape& shape) {
  return Driver(simulation, in, shape).run();
}

// A replay can write a run's trace, to see why an input fails: the path in WEFT_FUZZ_TRACE.
inline void trace_from_environment(sim::SimOptions& options) {
  if (const char* path = std::getenv("WEFT_FUZZ_TRACE")) options.trace_path = path;
}

}  // namespace weft::fuzz
