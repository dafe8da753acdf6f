// The wire's own floor for 64 in flight: raw TCP's blocking echo, with every message a weft
// frame (a request one way, its response the other, checksums on) encoded, checksummed,
// decoded and verified by weft's codec on both sides, and nothing else of weft: no calls
// tracked, no deadlines, no events, no loop. No implementation of the protocol that checks
// what it reads can do less per request with this codec; weft's request path is this plus
// its per-call state and its API.
#pragma once

#include <cstdint>
#include <vector>

#include "harness.hpp"

namespace weft_bench {

// The sizes of the frames of a 64 B echo as a weft connection sends them a million calls into
// its life (mux ids grow with each call), checksums on: a request to kEcho with the
// default deadline, and its response.
std::size_t request_frame_bytes(std::size_t payload_bytes);
std::size_t response_frame_bytes(std::size_t payload_bytes);

// The server's side (raw TCP's mode 'w'): decodes the requests that arrived, with checksums
// required, and sends one response frame per request carrying its payload back, all the
// responses of one recv in one send. Returns when the peer closes or sends a bad frame.
void serve_weft_frames(int fd, std::vector<char>& buffer);

// The client's side: `in_flight` request frames of `payload_bytes` to kEcho, mux ids
// and deadlines as a weft connection makes them, a new one as each response arrives, for
// `seconds`. Requests/s, and each one's latency into `latencies` (timed as raw_unary times
// its messages). 0 if the server hangs up early or sends anything but the response to the
// next request, in order, with a payload of the request's size.
double raw_weft_frames(std::uint16_t port, std::size_t in_flight, std::size_t payload_bytes,
                       double seconds, Latencies& latencies);

}  // namespace weft_bench
