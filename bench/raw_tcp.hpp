// Raw TCP, the baseline of every scenario: blocking sockets, one send and one recv at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"

namespace weft_bench {

// `weft-bench --serve raw_tcp`: accepts connections one after another; the first byte of
// each picks echo ('e'), count-and-discard ('d': answers the byte count, 8 bytes, when the
// client shuts its side down), the ideal mux of raw_pings_under_bulk ('m') or weft's frames
// echoed by weft's codec alone ('w', wire_floor.hpp). Never returns.
[[noreturn]] void serve_raw_tcp(int port_fd);

// Messages of `message_bytes` echoed, `in_flight` at once (batched per send()), for
// `seconds`: messages/s and the latency of each into `latencies`.
double raw_unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies,
                 std::size_t message_bytes = kSmall);
// Bytes written in `chunk`-sized writes for `seconds`, as counted by the server: bytes/s.
double raw_bulk(std::uint16_t port, std::size_t chunk, double seconds);

// The floor of unary_p99_under_bulk for any transport on one TCP connection: the ideal mux.
// The client keeps one 64 B ping in flight and, `with_bulk`, streams bulk frames of `chunk`
// bytes without pause, each ping sent at the very next frame boundary (nothing of the
// transport's own: no queue, no checksum, no copy); the server skips bulk frames and echoes
// each ping at once. Without bulk the same client measures its own idle latency. Both
// sockets get weft's tuning for `queue_kib` (TCP_NOTSENT_LOWAT, SO_RCVBUF, as EventNode
// sets them), so only the scheduling differs. The pings' latencies into `pings`; the bulk's
// bytes/s (what the client wrote).
double raw_pings_under_bulk(std::uint16_t port, std::size_t chunk, std::size_t queue_kib,
                            bool with_bulk, double seconds, Latencies& pings);
// The same ideal mux's client with bulk only, no ping: the bulk bytes/s one nonblocking
// connection reaches with weft's chunk and socket tuning for `queue_kib` and nothing of a
// transport's own (the ceiling of weft's bulk rows under that tuning, where raw_bulk shows
// blocking writes with the kernel's default socket buffers).
double raw_mux_bulk(std::uint16_t port, std::size_t chunk, std::size_t queue_kib, double seconds);

}  // namespace weft_bench
