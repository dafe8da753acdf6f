// Drives a SteppedSimulation with choices taken from a fuzz input: requests, streams,
// writes, consumes, cancels, raw bytes injected into a connection, partitions, heals,
// crashes, restarts and time. The simulator's oracle checks every step; after the input a
// heal-and-drain checks liveness. A failure prints what failed and aborts (a crash for
// libFuzzer, whose minimiser then shrinks the input).
#pragma once

#include <cstdio>
#include <cstdlib>
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

inline void fail_if(const sim::SteppedSimulation& sim) {
  if (!sim.failed()) return;
  std::fprintf(stderr, "oracle: %s\n", sim.failure().c_str());
  std::abort();
}

inline void drive(sim::SteppedSimulation& simulation, Choices& in, const DriverShape& shape) {
  using Handler = sim::SteppedSimulation::Handler;
  const std::size_t nodes = simulation.nodes();
  std::vector<std::size_t> calls;
  std::vector<std::size_t> streams;
  auto node = [&] { return static_cast<std::size_t>(in.below(nodes)); };
  auto other = [&](std::size_t from) {
    return static_cast<std::size_t>((from + 1 + in.below(nodes - 1)) % nodes);
  };
  simulation.advance(2'000'000'000);  // connected before the first choice
  for (std::size_t step = 0; step < shape.max_steps && !in.empty(); ++step) {
    switch (in.below(13)) {
      case 0:
      case 1: {
        const std::size_t from = node();
        const std::size_t to = other(from);
        const auto handler = static_cast<Handler>(in.below(4));
        const std::size_t bytes = in.below(4) != 0 ? in.below(3000) : in.below(70'000);
        const auto timeout_ms = static_cast<std::int64_t>(in.in_range(1, 6000));
        if (const auto call = simulation.request(from, to, handler, bytes, timeout_ms))
          calls.push_back(*call);
        break;
      }
      case 2: {
        const std::size_t from = node();
        const std::size_t to = other(from);
        const std::uint64_t messages = in.in_range(1, 12);
        const auto window = static_cast<std::uint32_t>(in.in_range(1, 5));
        const auto timeout_ms = in.flip() ? 0 : static_cast<std::int64_t>(in.in_range(1, 20'000));
        if (const auto stream = simulation.open_stream(from, to, messages, window, timeout_ms))
          streams.push_back(*stream);
        break;
      }
      case 3:
        if (!streams.empty()) simulation.stream_write(streams[in.below(streams.size())]);
        break;
      case 4:
        if (!streams.empty()) simulation.stream_consume(streams[in.below(streams.size())]);
        break;
      case 5:
        if (!calls.empty()) simulation.cancel_request(calls[in.below(calls.size())]);
        break;
      case 6:
        if (!streams.empty()) simulation.cancel_stream(streams[in.below(streams.size())]);
        break;
      case 7: {
        std::vector<bool> side(nodes);
        for (std::size_t i = 0; i < nodes; ++i)
          side[i] = in.flip();
        simulation.partition(side, in.flip());
        break;
      }
      case 8:
        simulation.heal();
        break;
      case 9: {
        const std::size_t target = node();
        if (simulation.up(target)) {
          simulation.crash(target);
        } else {
          simulation.restart(target);
        }
        break;
      }
      case 10:
        if (shape.inject) {
          const std::size_t from = node();
          simulation.inject(from, other(from), in.bytes(64));
          break;
        }
        [[fallthrough]];
      case 11:
        simulation.advance(
            static_cast<TimeNs>(in.below(shape.max_small_advance_ns / 1'000'000 + 1)) * 1'000'000);
        break;
      default:
        simulation.advance(
            static_cast<TimeNs>(in.below(shape.max_large_advance_ns / 1'000'000 + 1)) * 1'000'000);
        break;
    }
    fail_if(simulation);
  }
  const sim::SimResult result = simulation.heal_and_drain(60'000'000'000);
  if (result.kind == sim::SimResult::Kind::pass) return;
  std::fprintf(stderr, "%s: %s\n", sim::result_kind_name(result.kind), result.message.c_str());
  std::abort();
}

}  // namespace weft::fuzz
