// Object streams: the types an application uses to send and receive objects (a header and
// data), and the codec of the object header (PROTOCOL.md §6.3.1).
//
// An object stream carries objects in order from this node to one named endpoint on a peer.
// Every object posted gets exactly one completion (event::ObjectCompleted), in posting order;
// success means the receiving application finished the object, not that its bytes left this
// process. The stream outlives connections: after a reconnect to the same peer incarnation it
// resumes where the receiver stopped, and the receiver delivers every object once.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/bytes.hpp"
#include "weft/errors.hpp"

namespace weft {

// The largest object header (the payload of object_begin) any sender may send: an
// object_begin carrying it fits the smallest frame limit (65536) with room for its frame
// header and checksum, and every receiver's window (at least 65536 bytes) holds it
// (PROTOCOL.md §6.3).
inline constexpr std::uint32_t kMaxObjectHeaderBytes = 64 * 1024 - 1024;
// The most custom attributes (key, value pairs) an object header may carry. Each decodes
// to two strings: without a bound, a header of empty ones would take about thirty times
// its own bytes in memory once decoded (event::ObjectArrived holds it until handled).
inline constexpr std::uint32_t kMaxObjectHeaderCustomEntries = 1024;
// The smallest byte window an object endpoint may grant.
inline constexpr std::uint32_t kMinObjectWindowBytes = 64 * 1024;

// An object stream on either side, unique within its node (both directions share the
// numbering). It stays the same across reconnects; on the receiving side a stream the
// sender opens afresh (after an idle close, or after giving up its objects) is a new id.
struct ObjectStreamId {
  std::uint64_t value = 0;
  auto operator<=>(const ObjectStreamId&) const = default;
};

// What an object says about itself (AIStore's object attributes, in weft's schema). Every
// field round-trips unchanged; absent optional fields stay absent.
struct ObjectAttrs {
  std::optional<std::uint64_t> size;           // the object's size as its owner knows it
  std::optional<std::int64_t> access_time_ns;  // nanoseconds since 1970 (may be negative)
  std::string checksum_type;                   // "" when none
  std::string checksum_value;                  // "" when none
  std::optional<std::string> version;          // absent: no version; "" is a version
  // In order, duplicates kept; at most kMaxObjectHeaderCustomEntries.
  std::vector<std::pair<std::string, std::string>> custom;
  bool operator==(const ObjectAttrs&) const = default;
};

struct ObjectHeader {
  std::string name;                  // the object's name (bucket/object, a path...)
  std::vector<std::uint8_t> opaque;  // bytes for the application alone
  ObjectAttrs attrs;
  // Non-zero for control objects the application defines (usually header-only).
  std::uint16_t opcode = 0;
  bool operator==(const ObjectHeader&) const = default;
};

// The header's wire form (PROTOCOL.md §6.3.1): a msgpack array, the payload of
// object_begin. Appends to `out`.
void encode_object_header(const ObjectHeader& header, std::vector<std::uint8_t>& out);
// Decodes a header; nullopt (and `*why`, when not null, set to the reason) when `bytes` is
// not exactly one valid header. Never allocates more than a small multiple of bytes.size().
std::optional<ObjectHeader> decode_object_header(Bytes bytes, std::string* why = nullptr);
// Whether decode_object_header would accept `bytes` (and why not), without allocating.
bool validate_object_header(Bytes bytes, std::string* why = nullptr);

// A running xxh3-64 (seed 0) of an object's data: the checksum weft's tools put in the header
// (ObjectAttrs::checksum_type kType, checksum_value 16 lower-case hex digits) and verify
// on arrival. Not thread-safe.
class DataChecksum {
 public:
  static constexpr std::string_view kType = "xxh3-64";
  DataChecksum();
  ~DataChecksum();
  DataChecksum(const DataChecksum&) = delete;
  DataChecksum& operator=(const DataChecksum&) = delete;
  void update(Bytes bytes);
  // The checksum of everything so far, as 16 lower-case hex digits.
  std::string hex() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// How an object's data is given.
enum class ObjectSize : std::uint8_t {
  header_only,  // no data at all (control objects)
  sized,        // exactly ObjectArgs::size bytes, or the object fails
  unsized,      // chunks, then an explicit last chunk
};

// One object to send.
struct ObjectArgs {
  ObjectHeader header;
  ObjectSize kind = ObjectSize::sized;
  std::uint64_t size = 0;  // sized objects: the exact data size
  // The whole data in memory (sized objects only; its size must equal `size`): the core
  // keeps a reference until the object completes and sends it again after a reconnect.
  // Without it the core asks for data with event::ObjectWantData and the application
  // supplies it with PeerConnection::object_supply, from the offset the event names (again
  // from a later offset after a reconnect).
  std::optional<SharedBytes> data;
  std::uint64_t tag = 0;  // the application's, returned in the object's completion
};

// The result of posting an object: error is ok and `object` numbers it (1, 2, 3... per
// stream, in posting order), or error says why nothing was posted (no event follows).
struct PostedObject {
  Errc error = Errc::ok;
  std::uint64_t object = 0;
};

// Compression of an object stream's data (PROTOCOL.md §6.3, "Compression").
enum class ObjectCompression : std::uint8_t {
  none,
  // Each object_data chunk is compressed on its own as an LZ4 block; a chunk that does not
  // shrink goes as it is. Needs a peer whose endpoint accepts it.
  lz4,
};

// How an object stream is opened (PeerConnection::open_object_stream).
struct ObjectStreamOptions {
  ObjectCompression compression = ObjectCompression::none;
};

struct OpenedObjectStream {
  Errc error = Errc::ok;
  ObjectStreamId id;
};

// How much a receiving endpoint buffers per object stream: the sender may have this many
// objects begun and not finished by the application, and this many header and data bytes
// not yet read.
struct ObjectWindow {
  std::uint32_t objects = 256;
  std::uint32_t bytes = 8u << 20;
};

// The next bytes of the object a receiving application is reading.
struct ObjectRead {
  std::uint64_t object = 0;  // its number on the stream
  std::uint64_t offset = 0;  // of data's first byte within the object
  Bytes data;                // may be empty (at the end, or for objects without data)
  bool end = false;          // nothing follows `data`: consuming it finishes the object
};

// Counters of one object stream on this side (PeerConnection::object_stream_stats).
struct ObjectStreamStats {
  bool sender = false;        // this side posts the objects
  std::string endpoint;       // the receiving endpoint
  std::uint64_t objects = 0;  // posted (sender) or delivered to the application
  std::uint64_t bytes = 0;    // data bytes sent (sender, resends included) or received
  // Payload bytes of the object_data frames behind `bytes`: smaller when chunks went
  // compressed (a compressed chunk counts its 4-byte size and LZ4 block).
  std::uint64_t wire_bytes = 0;
  ObjectCompression compression = ObjectCompression::none;  // as the stream was opened
  std::uint64_t completed_ok = 0;                           // sender: completions with ok
  std::uint64_t completed_error = 0;                        // sender: completions with an error
  std::uint64_t resumes = 0;         // connections on which the stream resumed
  std::uint64_t in_flight = 0;       // posted and not completed / begun and not finished
  std::uint64_t current_object = 0;  // the object being sent or read (0: none)
  std::uint64_t offset = 0;          // data bytes of current_object sent or read so far
  // Receiver: the share of time since the previous call to object_stream_stats that the
  // stream held no object for the application (0..100); sender: with nothing in flight.
  double idle_percent = 0;
};

// Counters of one receiving endpoint over all its streams (Node::object_endpoint_stats).
struct ObjectEndpointStats {
  std::uint64_t streams_opened = 0;
  std::uint64_t objects = 0;  // delivered to the application
  std::uint64_t bytes = 0;    // data bytes received
  std::uint64_t refused = 0;  // objects the application refused, or with a bad header
};

}  // namespace weft
