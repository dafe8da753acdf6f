// Raw TCP, the baseline of every scenario: blocking sockets, one send and one recv at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness.hpp"

namespace weft_bench {

// `weft-bench --serve raw_tcp`: accepts connections one after another; the first byte of
// each picks echo ('e') or count-and-discard ('d': answers the byte count, 8 bytes, when the
// client shuts its side down). Never returns.
[[noreturn]] void serve_raw_tcp(int port_fd);

// 64 B messages echoed, `in_flight` at once (batched per send()), for `seconds`: messages/s
// and the latency of each into `latencies`.
double raw_unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies);
// Bytes written in `chunk`-sized writes for `seconds`, as counted by the server: bytes/s.
double raw_bulk(std::uint16_t port, std::size_t chunk, double seconds);

}  // namespace weft_bench
