// Frames as one line of text or JSON, and text back to frames.
//
// The text form is what weft-dump prints and what docs/PROTOCOL.md's test vectors use:
//
//   request cksum=0 flags=0x0000 mux=2 seq=0 handler=7 route=0x0000000000000000
//       deadline_ms=60000 len=5 payload=68656c6c6f        (one line)
//
// The op name, then cksum, flags, mux, seq, then the op's fields in schema order, then the
// payload length and the payload in hex. Node names print as they are (the wire allows
// only printable ASCII without spaces), nonces in hex, route and incarnation as 16 hex
// digits, status by name when it has one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "weft/wire.hpp"

namespace weft {

// Payload bytes to show in full; beyond this the text ends with ".." and JSON sets
// "payload_truncated". Pass kWholePayload to show everything.
inline constexpr std::size_t kWholePayload = static_cast<std::size_t>(-1);

// One line of text (no newline) describing `frame`, payload cut after `preview_bytes`.
std::string format_frame(const Frame& frame, std::size_t preview_bytes = kWholePayload);

// One JSON object (no newline) describing `frame`; `offset` is its first byte in the stream
// (key "stream_offset": "offset" is the field of object_data and object_accept).
// 64-bit identifiers (route, incarnation) are strings of 16 hex digits; other numbers are
// JSON numbers.
std::string format_frame_json(const Frame& frame, std::uint64_t offset,
                              std::size_t preview_bytes = kWholePayload);

// Parses the text form (with the whole payload) back into a frame. Keys may come in any
// order and missing ones are zero; an unknown op or key, a malformed value or a cut
// payload gives nullopt and a reason in `*error` (when not null).
std::optional<OwnedFrame> parse_frame_text(std::string_view text, std::string* error = nullptr);

}  // namespace weft
