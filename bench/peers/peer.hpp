// The peers weft-bench measures beside weft and raw TCP: each one a server (run in a child
// process by `weft-bench --serve NAME --pattern P`) and the clients for the patterns it has.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "../harness.hpp"

namespace weft_bench {

// The traffic a server is started for (a peer whose one server serves every pattern may
// ignore it).
enum class Pattern {
  pingpong,  // 64 B echoes, one in flight
  unary,     // 64 B echoes, 64 in flight
  stream,    // one-way 64 B messages; the server counts them
  bulk,      // one-way 1 MiB messages; the server counts the bytes
  objects,   // 1 MiB objects on one object stream, 8 in flight; the server reads each whole
};
std::string_view pattern_name(Pattern pattern);
// The pattern named `name`; false if there is none.
bool parse_pattern(std::string_view name, Pattern& pattern);

struct PeerDriver {
  std::string_view name;    // as --peers and --serve name it, e.g. "nghttp2"
  std::string_view column;  // the table's column, e.g. "nghttp2"
  // The server: listens on 127.0.0.1 (port chosen by the kernel), announces the port on
  // `port_fd` (announce_port), serves until killed. Never returns.
  void (*serve)(Pattern pattern, int port_fd);
  // Keeps `in_flight` 64 B echoes going for `seconds`: round trips/s; every latency into
  // `latencies`.
  double (*unary)(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies);
  // One-way 64 B messages for `seconds`: messages/s the server received. Null: no streams.
  double (*stream)(std::uint16_t port, double seconds);
  // One-way 1 MiB messages for `seconds`: bytes/s the server received. Null: not measured.
  double (*bulk)(std::uint16_t port, double seconds);
  // 1 MiB objects, 8 in flight, for `seconds`: bytes/s of the objects completed. Null: the
  // peer has no objects (every transport but weft).
  double (*objects)(std::uint16_t port, double seconds);
};

// Every peer weft-bench knows, built or not, in the table's column order.
std::span<const std::string_view> known_peers();
// The driver of `name`, or null if it was not built (its package was not found at configure
// time) or is unknown.
const PeerDriver* find_peer(std::string_view name);
// Why `name` is not built, for the message of a skipped run.
std::string_view missing_package(std::string_view name);

// Each peer's driver; defined only in the builds that have its package.
const PeerDriver& libevent_raw_driver();
const PeerDriver& epoll_raw_driver();
const PeerDriver& poll_raw_driver();
const PeerDriver& io_uring_raw_driver();
const PeerDriver& nghttp2_driver();
const PeerDriver& zmq_driver();
const PeerDriver& grpc_driver();
const PeerDriver& weft_io_uring_driver();

}  // namespace weft_bench
