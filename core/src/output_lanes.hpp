// The outgoing side of one transport: an output buffer the driver drains, and three lanes
// of encoded frames waiting for room in it.
//
// While the output buffer holds less than the high-water mark, every lane is empty and a
// new frame is encoded straight into the buffer (one copy, no queueing). Above it, frames
// wait: control frames (pong, cancel, error answers) in the control lane, which always
// drains first and coalesces pongs; data frames in the small or the bulk lane by size, so a
// large payload cannot hold up many small ones. Everything belongs to one generation (one
// transport); reset() drops all of it when the transport changes, and commit asserts that
// no frame of another generation is ever moved to the output.
//
// A large payload is not encoded all at once: its later parts wait in the bulk lane as one
// entry holding a reference to the payload, and each part is encoded straight into the
// output buffer when there is room for it. That keeps the work of queueing a large payload
// constant (a small request queued after it never waits for a megabyte to be encoded) and
// copies each payload byte once, not twice. A part of at least
// output_reference_min_bytes is not copied at all: the output refers to it where it lies
// (its header and checksum are encoded around the reference), and the driver writes it
// from there (Node::pending_output_pieces, one writev).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>

#include "lazy_deque.hpp"
#include "output_queue.hpp"
#include "weft/bytes.hpp"
#include "weft/config.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

enum class EntryKind : std::uint8_t {
  control,   // always sent
  request,   // sent only if the request is still live when committed
  response,  // always sent
  stream,    // a stream's open, message or end: sent only if the stream was not aborted
};

struct LaneEntry {
  std::uint64_t generation = 0;
  std::uint64_t mux = 0;
  std::uint32_t bytes = 0;
  EntryKind kind = EntryKind::control;
  bool bulk = false;   // waits in the bulk lane
  bool parts = false;  // the later parts of a payload (front of `parts_`), not encoded yet
  // For a parts entry at the front, set just before commit asks is_live: whether the part
  // about to go is its last (if is_live says no, every part goes at once, which is last too).
  bool final_part = true;
  // A stream's frame in the bulk lane: how many small-lane entries must have left before it
  // may go (0: none), because a frame of the same stream queued before it waits there.
  std::uint64_t after_small = 0;
};

// The parts of a payload after its first, encoded one by one: as continuation frames
// numbered from 1 (a request's or response's payload), or as stream_msg frames that all carry
// the message's number (a stream message).
struct PendingParts {
  SharedBytes payload;
  std::size_t offset = 0;  // first byte not sent yet
  std::size_t part_bytes = 0;
  std::uint64_t next_seq = 1;            // continuation parts: the next part number
  std::optional<std::uint64_t> message;  // stream message parts: the message number
  bool checksum = false;
  std::size_t remaining() const { return payload.size() - offset; }
};

// Where push() put a frame.
enum class Pushed : std::uint8_t { committed, small_lane, bulk_lane };

class OutputLanes {
 public:
  explicit OutputLanes(const ConnectionLimits& limits) : limits_(limits) {}

  // Drops every byte and frame and starts generation `generation`.
  void reset(std::uint64_t generation);
  // After reset: gives back every buffer's storage (a peer without a transport holds none).
  void release_memory();
#if WEFT_CANARIES
  // Canary old_generation_frames: keeps the whole frames waiting in the data lanes (reset
  // drops everything else), for send_stale() to put on the next connection.
  void keep_stale_frames();
  void send_stale();
#endif
  std::uint64_t generation() const {
    return generation_;
  }

  // Encodes `frame` (which belongs to the current generation) straight into the output
  // buffer, or into a lane when the buffer is above the mark. Data frames go to the bulk
  // lane when larger than small_frame_bytes or when `force_bulk` (a stream with frames in
  // the bulk lane keeps its later frames behind them).
  Pushed push(const Frame& frame, EntryKind kind, bool force_bulk = false);
  // Queues the parts of `payload` from `offset` on as frames of `mux` (see PendingParts),
  // each `part_bytes` long but the last, behind everything in the bulk lane. The frame that
  // carried the payload's first part must have been pushed just before, with force_bulk.
  // While the buffer is below the mark, parts go out at once. Returns whether parts are
  // still waiting (an entry of the bulk lane that commit's is_live will be asked about).
  bool push_parts(std::uint64_t mux, EntryKind kind, PendingParts parts);
  // Drops the parts of the response on `mux` not sent yet (the caller canceled: it would
  // ignore them). Its first part, already encoded, still goes. Returns the bytes dropped.
  std::size_t drop_response_parts(std::uint64_t mux);
  // Queues a pong for ping `seq`; a pong still waiting is replaced (one is enough).
  void push_pong(std::uint64_t seq, bool checksum);
  // Queues a stream_credit of (msgs, bytes) for stream `mux`. Credit for a stream that
  // already has some waiting is added to it (credits add up), so at most one credit frame
  // per stream ever waits: the lane cannot grow with a peer that sends but does not read.
  // Waiting credits go out after the control lane (which holds the stream's accept) and
  // before the data lanes.
  // `op` is stream_credit or object_credit (an object stream's credit counts objects).
  void push_credit(std::uint64_t mux, std::uint32_t msgs, std::uint32_t bytes, bool checksum,
                   Op op = Op::stream_credit);

  // Moves waiting frames into the output buffer while it is below the high-water mark:
  // the pong and the control lane first, then the small and bulk lanes. `is_live(entry)`
  // decides for request and stream entries whether they still go out (false: dropped),
  // and may record that they left the lane either way.
  template <typename IsLive>
  void commit(IsLive&& is_live);

  // Encodes `frame`, whose payload lies inside `owner`, like push(); when it goes straight
  // to the output and its payload is at least output_reference_min_bytes, the output refers
  // to the payload instead of copying it.
  Pushed push_shared(const Frame& frame, const SharedBytes& owner, EntryKind kind);

  // The bytes the driver should write next (the first contiguous piece of the output).
  // Valid until the next push, commit or consume.
  Bytes output() const {
    return output_.front();
  }
  // The first pieces of the output, in order (OutputQueue::gather).
  std::size_t output_pieces(std::span<Bytes> pieces) const {
    return output_.gather(pieces);
  }
  // Every byte of the output, copied (for a transport's final bytes).
  void copy_output(ByteBuffer& out) const {
    output_.copy_to(out);
  }
  // The driver wrote the first `count` bytes of output(); refills it from the lanes.
  template <typename IsLive>
  void consume(std::size_t count, IsLive&& is_live) {
    output_.consume(count);
    commit(is_live);
  }

  std::size_t output_bytes() const {
    return output_.size();
  }
  // Frames moved into the output buffer since construction (all generations).
  std::uint64_t frames_committed() const {
    return frames_committed_;
  }
  std::size_t control_frames() const {
    return control_.entries.size() + (pong_seq_ ? 1 : 0) + credits_.size();
  }
  std::size_t data_bytes() const {
    return small_.buffer.size() + bulk_.buffer.size() + parts_bytes_;
  }
  // The part of data_bytes() that belongs to responses (whole frames and parts not sent yet).
  std::size_t response_bytes() const {
    return response_bytes_;
  }
  bool below_high_water() const {
    return output_.size() < limits_.output_high_water_bytes;
  }
  // Each lane's buffer holds exactly its entries' bytes, all of this generation; parts and
  // their byte count agree, and so do the response entries and response_bytes(); below the
  // high-water mark every lane is empty.
  void check_invariants() const;

 private:
  struct Lane {
    ByteBuffer buffer;
    LazyDeque<LaneEntry> entries;
    bool empty() const { return entries.empty(); }
  };

  Lane& lane_for(EntryKind kind, std::size_t bytes, bool force_bulk);
  // Moves the front entry of `lane` to the output (or drops it when `send` is false).
  void move_front(Lane& lane, bool send);
  // Encodes the next part of the bulk lane's front entry into the output (or drops all
  // its parts when `send` is false).
  void send_next_part(bool send);
  // The bulk lane's front waits for a frame of its stream still in the small lane.
  bool bulk_front_waits_for_small() const {
    return bulk_.entries.front().after_small > small_popped_;
  }
  // For a stream frame about to join the bulk lane: the value of small_popped_ once the last
  // small-lane frame of stream `mux` has left (0 when it has none).
  std::uint64_t small_frames_of(std::uint64_t mux) const;
  bool lanes_empty() const {
    return !pong_seq_ && control_.empty() && credits_.empty() && small_.empty() && bulk_.empty();
  }
  // Encodes every waiting credit into the output (while below the mark), in mux order.
  void commit_credits();
  // Encodes `frame` into the output, its payload (inside `owner`) by reference when it is
  // at least output_reference_min_bytes long, else copied.
  void commit_shared(const Frame& frame, const SharedBytes& owner);

  const ConnectionLimits& limits_;
  std::uint64_t generation_ = 0;
  OutputQueue output_;
  Lane control_;
  Lane small_;
  Lane bulk_;
  LazyDeque<PendingParts> parts_;   // one per `parts` entry of the bulk lane, in order
  std::size_t parts_bytes_ = 0;     // payload bytes in parts_ not sent yet
  std::size_t response_bytes_ = 0;  // bytes of response entries (frames and parts) waiting
  std::optional<std::uint64_t> pong_seq_;
  bool pong_checksum_ = false;
  struct PendingCredit {
    Op op = Op::stream_credit;
    std::uint32_t msgs = 0;
    std::uint32_t bytes = 0;
    bool checksum = false;
  };
  // Credits waiting, one per stream (ordered by mux, so the order is deterministic).
  std::map<std::uint64_t, PendingCredit> credits_;
  std::size_t small_burst_bytes_ = 0;  // small-lane bytes sent since the last bulk frame
  // Small-lane entries that have left it (sent or dropped), all generations: with the lane's
  // size, the position each waiting entry will leave at (LaneEntry::after_small).
  std::uint64_t small_popped_ = 0;
  std::uint64_t frames_committed_ = 0;
#if WEFT_CANARIES
  ByteBuffer stale_;
#endif
};

template <typename IsLive>
void OutputLanes::commit(IsLive&& is_live) {
  if (pong_seq_ && below_high_water()) {
    encode_frame(output_.owned(),
                 Frame{.op = Op::pong, .checksum = pong_checksum_, .seq = *pong_seq_});
    pong_seq_.reset();
    ++frames_committed_;
  }
  while (below_high_water() && !control_.empty())
    move_front(control_, true);
  commit_credits();
  while (below_high_water() && !(small_.empty() && bulk_.empty())) {
    // A stream's frames leave in order: a bulk frame of a stream waits for the frames of the
    // same stream queued before it in the small lane, however long the burst has run.
    const bool take_small =
        !small_.empty() && (bulk_.empty() || small_burst_bytes_ < limits_.small_lane_burst_bytes ||
                            bulk_front_waits_for_small());
    Lane& lane = take_small ? small_ : bulk_;
    LaneEntry& entry = lane.entries.front();
    if (entry.parts) entry.final_part = parts_.front().remaining() <= parts_.front().part_bytes;
    const bool checked = entry.kind == EntryKind::request || entry.kind == EntryKind::stream;
    const bool send = !checked || is_live(entry);
    small_burst_bytes_ = take_small ? small_burst_bytes_ + (send ? entry.bytes : 0) : 0;
    if (entry.parts) {
      send_next_part(send);
    } else {
      move_front(lane, send);
    }
  }
}

}  // namespace weft::detail
