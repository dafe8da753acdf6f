// The weft wire format: frames, their schema, limits, the encoder and the incremental
// decoder. docs/PROTOCOL.md is the normative description; this header mirrors it.
//
// Nothing here allocates per frame on the hot path, reads a clock or keeps global state.
// None of these types is thread-safe; each belongs to one connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/bytes.hpp"

namespace weft {

// The protocol version this implementation speaks (PROTOCOL.md §4.2). Version 2 was
// version 1 plus LZ4-compressed object streams (§6.3); version 3 is version 2 with the
// challenge-response handshake, which puts no secret on the wire. Earlier versions sent a
// token in clear, so a node refuses them: it speaks kProtocolVersionMin..kProtocolVersion.
inline constexpr std::uint16_t kProtocolVersion = 3;
inline constexpr std::uint16_t kProtocolVersionMin = 3;

// Every frame starts with this byte.
inline constexpr std::uint8_t kFrameMagic = 0x77;
// Bytes before the msgpack header: magic, frame flags, header length, body length.
inline constexpr std::size_t kPrefixBytes = 8;
// Bytes of the trailing xxh3-64 checksum when the frame carries one.
inline constexpr std::size_t kChecksumBytes = 8;
// Frame-flag bit (prefix byte 1): the frame ends with an xxh3-64 checksum.
inline constexpr std::uint8_t kFrameFlagChecksum = 0x01;

// A frame's operation. The numeric values are the wire values.
enum class Op : std::uint8_t {
  hello = 1,
  welcome = 2,
  reject = 3,
  ping = 4,
  pong = 5,
  goaway = 6,
  challenge = 7,
  auth = 8,
  request = 16,
  response = 17,
  cancel = 18,
  continuation = 19,
  stream_open = 32,
  stream_accept = 33,
  stream_reject = 34,
  stream_msg = 35,
  stream_credit = 36,
  stream_end = 37,
  stream_reset = 38,
  stream_ping = 39,
  stream_pong = 40,
  object_open = 48,
  object_accept = 49,
  object_reject = 50,
  object_begin = 51,
  object_data = 52,
  object_end = 53,
  object_ack = 54,
  object_credit = 55,
  object_close = 56,
};

// Per-op flag bits (header element 1). Bits not listed for an op must be zero.
namespace flag {
// request, response, continuation: the payload continues in the next continuation frame
// of the same mux. stream_msg: the message continues in the next stream_msg of the stream,
// which carries the same message number.
inline constexpr std::uint16_t kMore = 0x0001;
// hello, challenge: the sender asks that every later frame on the connection carry a checksum.
inline constexpr std::uint16_t kChecksums = 0x0001;
// stream_open: the frame carries an initial payload (which may be empty).
inline constexpr std::uint16_t kHasPayload = 0x0001;
// stream_open: the opener will send messages on the stream (it has an input stream).
inline constexpr std::uint16_t kHasInput = 0x0002;
// object_begin: the object's size is not known yet; `size` must be 0.
inline constexpr std::uint16_t kSizeUnknown = 0x0001;
// object_begin: the object has no data and this frame also ends it (no object_data or
// object_end follows); `size` must be 0 and size_unknown clear.
inline constexpr std::uint16_t kEnds = 0x0002;
// object_ack: status 0 for every object from the next one due up to `seq`.
inline constexpr std::uint16_t kThrough = 0x0001;
// object_open: the opener resumes an object stream the receiver may hold state for.
inline constexpr std::uint16_t kResume = 0x0001;
// object_accept: the receiver already holds the object_begin of object `seq`.
inline constexpr std::uint16_t kBegun = 0x0001;
// object_open (protocol version 2): the stream's object_data frames may be LZ4-compressed.
inline constexpr std::uint16_t kLz4Stream = 0x0002;
// object_data (protocol version 2): the payload is a 4-byte big-endian data size and an LZ4
// block that decodes to exactly that many data bytes.
inline constexpr std::uint16_t kLz4 = 0x0001;
}  // namespace flag

// Status codes carried by reject, goaway, response, stream_reject, stream_end,
// stream_reset, object_reject, object_end, object_ack and object_close. Receivers must accept any
// value and treat an unknown non-zero one as a remote error.
enum class Status : std::uint16_t {
  ok = 0,
  remote_error = 1,        // the handler failed; the payload is its message
  unknown_handler = 2,     // no handler registered for (handler, route)
  too_large = 3,           // a payload exceeded the receiver's limit
  busy = 4,                // the receiver's queue for this kind of work is full
  deadline_exceeded = 5,   // the serving side gave up at the deadline
  canceled = 6,            // the opener canceled
  protocol_error = 7,      // the peer broke the protocol; the payload says how
  shutting_down = 8,       // the sender is closing down
  bad_payload = 9,         // a typed handler could not decode the payload
  keepalive_timeout = 10,  // a stream's keepalive pings stopped
  object_state_lost = 11,  // object_reject: no state for the object stream to resume
  unsupported = 12,        // object_reject: the endpoint does not take compressed streams
  idle = 13,               // goaway: the sender closes an idle connection (PROTOCOL.md §4.7)
  open_timeout = 14,       // object_close: no answer to object_open in time (PROTOCOL.md §6.3)
  version_mismatch = 32,   // handshake: no common protocol version
  unknown_node = 33,       // handshake: the sender's name is not a known peer
  auth_failed = 34,        // handshake: a proof (or the certificate's name) did not verify
  clock_skew = 35,         // handshake: wall clocks differ by more than allowed
  wrong_dialer = 36,       // handshake: the dial rule says the other side dials
  wrong_target = 37,       // handshake: peer_name is not the receiver's name
  handshake_timeout = 38,  // handshake: not finished in time
  stale_hello = 39,        // handshake: an earlier dial than a connection already accepted
};

// Op-specific header fields, in the order in which schemas list them.
enum class Field : std::uint8_t {
  version_min,
  version_max,
  version,
  name,
  peer_name,
  incarnation,
  wall_ms,
  max_frame_bytes,
  nonce,
  handler,
  route,
  deadline_ms,
  status,
  credit_msgs,
  credit_bytes,
  size,
  offset,
  stream_key,
};

// What one op carries: its op-specific fields (after op, flags, mux, seq) and rules.
struct OpSchema {
  Op op;
  std::string_view name{};
  std::span<const Field> fields;
  std::uint16_t allowed_flags;
  bool connection_level;  // mux must be 0 (otherwise mux must be non-zero)
  bool uses_seq;          // otherwise seq must be 0
  bool payload_allowed;   // otherwise the payload must be empty
};

// The schema of `op`, or nullptr when `op` is not a known op value.
const OpSchema* find_schema(std::uint64_t op);
// The schema of a known op.
const OpSchema& schema_of(Op op);
// Every op's schema, in wire-value order.
std::span<const OpSchema> all_schemas();
// The op's name as PROTOCOL.md spells it ("stream_open"), or "" for an unknown value.
std::string_view op_name(std::uint64_t op);
// The op named `name`, if any.
std::optional<Op> op_from_name(std::string_view name);
// The field's name as PROTOCOL.md spells it.
std::string_view field_name(Field field);
// Whether `name` is a valid node name (PROTOCOL.md §3.2): 1..255 bytes, each 0x21..0x7e.
bool valid_node_name(std::string_view name);
// The status's name ("unknown_handler"), or "" for a value without a name.
std::string_view status_name(std::uint16_t status);

// A decoded or to-be-encoded frame. Views (`name`, `peer_name`, `nonce`, `payload`) point
// into memory owned elsewhere: the decoder's input or buffer, or the caller's storage for
// encoding. Fields the op does not carry are zero / empty.
struct Frame {
  Op op = Op::ping;
  bool checksum = false;  // the frame carries (or, to encode, gets) a checksum
  std::uint16_t flags = 0;
  std::uint64_t mux = 0;
  std::uint64_t seq = 0;
  std::uint16_t version_min = 0;
  std::uint16_t version_max = 0;
  std::uint16_t version = 0;
  std::string_view name{};
  std::string_view peer_name{};
  std::uint64_t incarnation = 0;
  std::uint64_t wall_ms = 0;
  std::uint32_t max_frame_bytes = 0;
  Bytes nonce{};
  std::uint16_t handler = 0;
  std::uint64_t route = 0;
  std::uint32_t deadline_ms = 0;
  std::uint16_t status = 0;
  std::uint32_t credit_msgs = 0;
  std::uint32_t credit_bytes = 0;
  std::uint64_t size = 0;
  std::uint64_t offset = 0;
  std::uint64_t stream_key = 0;
  Bytes payload{};
};

// Content equality: views compare by the bytes they show.
bool operator==(const Frame& lhs, const Frame& rhs);

// Limits a decoder enforces and an encoder's frames must respect. Every length is
// checked against these before anything is allocated.
struct WireLimits {
  // Largest frame body (header + payload + checksum, after the 8-byte prefix).
  std::uint32_t max_frame_bytes = 8 * 1024 * 1024;
  // Largest msgpack header. The wire field is 16 bits, so at most 65535.
  std::uint16_t max_header_bytes = 1024;
  // Longest node name, in bytes (1..255).
  std::uint16_t max_name_bytes = 255;
  // Longest `nonce` field a hello or challenge may carry, in bytes (at most 512). Version 3
  // nonces are exactly kNonceBytes; the decoder takes longer ones so that an older node's
  // hello (whose element was a token) decodes and is refused for its version (PROTOCOL.md
  // §4.2).
  std::uint16_t max_nonce_bytes = 256;
};

// The smallest max_frame_bytes a hello or challenge may announce; every implementation
// accepts frames at least this large.
inline constexpr std::uint32_t kMinMaxFrameBytes = 64 * 1024;
// The largest nonce field any implementation must decode (WireLimits::max_nonce_bytes cap).
inline constexpr std::uint16_t kNonceBytesCap = 512;
// The length of a version-3 handshake nonce (hello and challenge).
inline constexpr std::size_t kNonceBytes = 32;
// The longest proof (the payload of challenge and auth) a node accepts.
inline constexpr std::size_t kMaxProofBytes = 512;

// Why a frame or a byte stream was rejected.
enum class WireError : std::uint8_t {
  none = 0,
  bad_magic,              // prefix byte 0 is not 0x77
  unknown_frame_flags,    // prefix byte 1 has bits other than the checksum bit
  zero_length,            // body length 0 or header length 0
  frame_too_large,        // body length over max_frame_bytes
  header_too_large,       // header length over max_header_bytes
  header_exceeds_body,    // header (+ checksum) longer than the body
  checksum_missing,       // the decoder requires checksums and the frame has none
  checksum_mismatch,      // the xxh3-64 of the frame differs from its last 8 bytes
  header_truncated,       // a msgpack item runs past the header's end
  header_trailing_bytes,  // bytes left in the header after the array
  header_not_array,       // the header is not a msgpack array
  field_count,            // the array has too few or too many elements for its op
  wrong_type,             // an element has the wrong msgpack type
  integer_out_of_range,   // an integer does not fit its field
  unknown_op,             // op value not in the schema table
  unknown_flags,          // flag bits the op does not define
  invalid_field,          // a value the schema forbids (see the message)
  payload_not_allowed,    // a payload on an op that carries none
  truncated,              // the stream ended inside a frame
};

// The name PROTOCOL.md gives `error` ("checksum_mismatch").
std::string_view wire_error_name(WireError error);

// A decoding failure: its kind, where in the byte stream it was found (0 = the stream's
// first byte), and a human-readable explanation.
struct DecodeError {
  WireError code = WireError::none;
  std::uint64_t offset = 0;
  std::string message;
};

// xxh3-64 (seed 0) of `bytes`: the frame checksum.
std::uint64_t checksum64(Bytes bytes);
// The same checksum over `head` followed by `payload` (as if they were contiguous), for a
// frame whose payload is written from where it lies (encode_frame_head).
std::uint64_t checksum64(Bytes head, Bytes payload);
// The wire identifier of a subroute: xxh3-64 (seed 0) of its bytes; 0 for the empty route,
// which means "no subroute".
std::uint64_t route_id(std::string_view route);

// What validate_frame found wrong with a frame.
struct FrameFault {
  WireError code = WireError::none;
  // The header element at fault: 0 op, 1 flags, 2 mux, 3 seq, 4 + i the op's i-th field;
  // -1 for the payload.
  int element = -1;
  std::string detail;
};

// Checks `frame` against the schema of its op and `limits`: everything the decoder checks
// once the msgpack types are right (flags, mux and seq rules, field values, payload).
// Returns a fault with code WireError::none when the frame is valid.
FrameFault validate_frame(const Frame& frame, const WireLimits& limits);

// The exact number of bytes `encode_frame` appends for `frame`.
std::size_t encoded_size(const Frame& frame);

// Appends `frame` to `out` (checksummed when frame.checksum is set) and returns the
// number of bytes appended. Precondition: validate_frame(frame, {}) would accept the frame
// under limits the receiver uses; checked by assert in debug builds. Never fails otherwise.
std::size_t encode_frame(ByteBuffer& out, const Frame& frame);

// Appends what encode_frame would append before `frame`'s payload: its prefix (counting
// the payload and the checksum that follow) and header, and returns the bytes appended. The
// caller then writes frame.payload from where it lies and, when frame.checksum is set, the
// checksum trailer: checksum64(head, frame.payload) as a big-endian u64, where head is
// what this call appended. Same precondition as encode_frame.
std::size_t encode_frame_head(ByteBuffer& out, const Frame& frame);

// Options of a FrameDecoder.
struct DecoderOptions {
  WireLimits limits;
  // Reject frames without a checksum (set once both sides agreed on checksums).
  bool require_checksum = false;
  // Verify checksums that frames carry. Only fuzzing turns this off.
  bool verify_checksum = true;
};

// The outcome of one FrameDecoder::next call.
enum class DecodeStatus : std::uint8_t {
  frame,      // `frame` holds a complete frame
  need_more,  // all input was consumed; a frame is incomplete
  error,      // the stream is broken; see FrameDecoder::error()
};

struct DecodeStep {
  DecodeStatus status = DecodeStatus::need_more;
  // Bytes of the input this call consumed. With `frame`, the rest of the input is
  // untouched and should be passed to the next call.
  std::size_t consumed = 0;
  Frame frame;
  // With `frame`: every byte of it, prefix to checksum, valid as long as the frame's views
  // (the handshake's proofs cover the exact header bytes, PROTOCOL.md §4.2).
  Bytes frame_bytes{};
};

// The msgpack header of a whole, valid frame: bytes [8, 8 + header_length).
Bytes frame_header_bytes(Bytes frame_bytes);

// An incremental decoder of one direction of a connection.
//
// Feed it the stream in pieces of any size. A frame that lies wholly inside the input is
// decoded in place: its views point into the input, no allocation, no copy. A frame split
// across inputs is gathered in the decoder's own buffer (sized by the frame's validated
// length, never more than 8 + max_frame_bytes), and its views point there. Either way the
// views stay valid until the next call to `next` (and, for in-place frames, as long as the
// input does).
//
// After an error the decoder stays failed: every later `next` returns the same error and
// consumes nothing. The caller closes the connection with error().
class FrameDecoder {
 public:
  explicit FrameDecoder(DecoderOptions options = {});

  // Decodes at most one frame from the front of `input`. Loop, advancing the input by
  // `consumed`, until the status is need_more or error.
  DecodeStep next(Bytes input);

  // Declares the end of the stream: returns WireError::truncated (with the offset of the
  // incomplete frame's first byte) if a frame was partly received, the sticky error if the
  // decoder failed, and WireError::none otherwise.
  DecodeError finish() const;

  // The error that stopped the decoder (code none while it has not failed).
  const DecodeError& error() const { return error_; }
  bool failed() const { return error_.code != WireError::none; }
  // Bytes consumed from the stream so far, including a partly received frame.
  std::uint64_t stream_offset() const {
    return frame_offset_ + (release_gathered_ ? 0 : gathered_.size());
  }
  // Starts a new stream (a new connection) with `options`: forgets the error, the offset
  // and any partly received frame, but keeps the gathering buffer's memory, so a decoder
  // reused across connections does not allocate again for frames it has seen the like of.
  void reset(const DecoderOptions& options);
  // Changes the options, for example to require checksums after the handshake.
  void set_options(const DecoderOptions& options) { options_ = options; }
  const DecoderOptions& options() const { return options_; }

 private:
  // The short way for nearly every frame: one lying whole in `input` whose prefix checks
  // out, whose header is all unsigned integers and which is valid. Fills `step` and returns
  // true; declines anything else (false) having changed nothing but step.frame, and
  // next_general then decodes it, or names its fault, the long way.
  bool decode_whole(Bytes input, DecodeStep& step);
  // Every frame, and every fault, the long way.
  DecodeStep next_general(Bytes input);
  DecodeStep next_in_place(Bytes input);
  DecodeStep next_gathered(Bytes input);
  DecodeStep fail(WireError code, std::uint64_t offset, std::string_view message);
  void set_error(WireError code, std::uint64_t offset, std::string_view message);
  DecodeStep decode_complete(Bytes frame_bytes, std::size_t consumed);

  DecoderOptions options_;
  DecodeError error_;
  std::uint64_t frame_offset_ = 0;      // stream offset of the frame being decoded
  std::size_t frame_total_ = 0;         // its total size once the prefix is known, else 0
  std::vector<std::uint8_t> gathered_;  // bytes of a frame split across inputs
  bool release_gathered_ = false;       // the last frame came from gathered_
};

// A frame together with the bytes its views show, for holding frames beyond the life of
// a decoder's input (tests, tools, queues). Copying is deep.
class OwnedFrame {
 public:
  OwnedFrame() = default;
  explicit OwnedFrame(const Frame& frame) { assign(frame); }
  OwnedFrame(const OwnedFrame& other) { assign(other.view()); }
  OwnedFrame& operator=(const OwnedFrame& other) {
    if (this != &other) assign(other.view());
    return *this;
  }
  OwnedFrame(OwnedFrame&&) = default;
  OwnedFrame& operator=(OwnedFrame&&) = default;
  ~OwnedFrame() = default;

  // Replaces the content with a deep copy of `frame`.
  void assign(const Frame& frame);
  // The frame, its views pointing into this object (valid until it changes or dies).
  Frame view() const;
  // Scalar fields may be changed freely through here; views set here are ignored by view().
  Frame& scalars() { return scalars_; }
  void set_name(std::string_view name) { name_ = name; }
  void set_peer_name(std::string_view name) { peer_name_ = name; }
  void set_nonce(Bytes nonce) { nonce_.assign(nonce.begin(), nonce.end()); }
  void set_payload(Bytes payload) { payload_.assign(payload.begin(), payload.end()); }

 private:
  Frame scalars_;
  std::string name_;
  std::string peer_name_;
  std::vector<std::uint8_t> nonce_;
  std::vector<std::uint8_t> payload_;
};

// Decodes the frame at the start of `frame_bytes` (bytes after it are ignored); on failure
// returns nullopt and fills `*error` (when not null), a truncated frame included. Offsets
// are relative to `frame_bytes`. The frame's views point into `frame_bytes`. A convenience
// over FrameDecoder for tests and tools.
std::optional<Frame> decode_one(Bytes frame_bytes, const DecoderOptions& options,
                                DecodeError* error = nullptr);

}  // namespace weft
