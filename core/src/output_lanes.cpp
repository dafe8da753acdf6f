#include "output_lanes.hpp"

#include "invariant.hpp"
#include "msgpack_lite.hpp"

namespace weft::detail {

void OutputLanes::reset(std::uint64_t generation) {
  generation_ = generation;
  output_.clear();
  for (Lane* lane : {&control_, &small_, &bulk_}) {
    lane->buffer.clear();
    lane->entries.clear();
  }
  parts_.clear();
  parts_bytes_ = 0;
  response_bytes_ = 0;
  pong_seq_.reset();
  credits_.clear();
  small_burst_bytes_ = 0;
  // A large frame may have grown these; do not keep megabytes per idle peer.
  output_.release_if_empty(1 << 20);
  bulk_.buffer.release_if_empty(1 << 20);
}

void OutputLanes::release_memory() {
  output_.release_if_empty(0);
  for (ByteBuffer* buffer : {&control_.buffer, &small_.buffer, &bulk_.buffer})
    buffer->release_if_empty(0);
}

OutputLanes::Lane& OutputLanes::lane_for(EntryKind kind, std::size_t bytes, bool force_bulk) {
  if (kind == EntryKind::control) return control_;
  return bytes <= limits_.small_frame_bytes && !force_bulk ? small_ : bulk_;
}

Pushed OutputLanes::push(const Frame& frame, EntryKind kind, bool force_bulk) {
  if (below_high_water()) {
    // Below the mark every lane is empty (commit drained them), so writing directly keeps
    // the same order a lane would.
    WEFT_ASSERT(lanes_empty());
    encode_frame(output_.owned(), frame);
    ++frames_committed_;
    return Pushed::committed;
  }
  const std::size_t bytes = encoded_size(frame);
  Lane& lane = lane_for(kind, bytes, force_bulk);
  encode_frame(lane.buffer, frame);
  const bool bulk = &lane == &bulk_;
  lane.entries.push_back({generation_, frame.mux, static_cast<std::uint32_t>(bytes), kind, bulk});
  // Rare (a large frame while the output is full): only then is the small lane searched.
  if (bulk && kind == EntryKind::stream)
    lane.entries.back().after_small = small_frames_of(frame.mux);
  if (kind == EntryKind::response) response_bytes_ += bytes;
  return bulk ? Pushed::bulk_lane : Pushed::small_lane;
}

Pushed OutputLanes::push_shared(const Frame& frame, const SharedBytes& owner, EntryKind kind) {
  if (!below_high_water()) return push(frame, kind);
  WEFT_ASSERT(lanes_empty());
  commit_shared(frame, owner);
  return Pushed::committed;
}

void OutputLanes::commit_shared(const Frame& frame, const SharedBytes& owner) {
  WEFT_ASSERT(frame.payload.empty() ||
              (frame.payload.data() >= owner.view().data() &&
               frame.payload.data() + frame.payload.size() <= owner.view().data() + owner.size()));
  ++frames_committed_;
  if (frame.payload.size() < limits_.output_reference_min_bytes || frame.payload.empty()) {
    encode_frame(output_.owned(), frame);
    return;
  }
  ByteBuffer& owned = output_.owned();
  const std::size_t head_at = owned.size();
  encode_frame_head(owned, frame);
  // The head's view is taken before anything else is appended (which may move it).
  const std::uint64_t checksum =
      frame.checksum ? checksum64(owned.view().subspan(head_at), frame.payload) : 0;
  output_.append_reference(owner, frame.payload);
  if (frame.checksum) mp::store_be64(owned.extend(kChecksumBytes), checksum);
}

std::uint64_t OutputLanes::small_frames_of(std::uint64_t mux) const {
  for (std::size_t i = small_.entries.size(); i-- > 0;) {
    const LaneEntry& entry = small_.entries[i];
    if (entry.kind == EntryKind::stream && entry.mux == mux) return small_popped_ + i + 1;
  }
  return 0;
}

bool OutputLanes::push_parts(std::uint64_t mux, EntryKind kind, PendingParts parts) {
  WEFT_ASSERT(parts.part_bytes > 0 && parts.offset < parts.payload.size());
  WEFT_ASSERT(kind != EntryKind::control);
  WEFT_ASSERT(parts.message.has_value() == (kind == EntryKind::stream));
  parts_bytes_ += parts.remaining();
  if (kind == EntryKind::response) response_bytes_ += parts.remaining();
  parts_.push_back(std::move(parts));
  bulk_.entries.push_back({generation_, mux, 0, kind, true, true});
  // Below the mark the lanes were empty before this entry: it is live, send what fits.
  commit([](const LaneEntry&) { return true; });
  return !bulk_.entries.empty() && bulk_.entries.back().parts && bulk_.entries.back().mux == mux;
}

void OutputLanes::push_pong(std::uint64_t seq, bool checksum) {
  if (below_high_water()) {
    WEFT_ASSERT(lanes_empty());
    encode_frame(output_.owned(), Frame{.op = Op::pong, .checksum = checksum, .seq = seq});
    ++frames_committed_;
    return;
  }
  pong_seq_ = seq;
  pong_checksum_ = checksum;
}

void OutputLanes::push_credit(std::uint64_t mux, std::uint32_t msgs, std::uint32_t bytes,
                              bool checksum, Op op) {
  if (below_high_water()) {
    WEFT_ASSERT(lanes_empty());
    encode_frame(output_.owned(), Frame{.op = op,
                                        .checksum = checksum,
                                        .mux = mux,
                                        .credit_msgs = msgs,
                                        .credit_bytes = bytes});
    ++frames_committed_;
    return;
  }
  PendingCredit& pending = credits_[mux];
  pending.op = op;
  // A stream's credit never adds up past its window (a u32): only consumed messages return.
  WEFT_ASSERT(pending.msgs <= UINT32_MAX - msgs && pending.bytes <= UINT32_MAX - bytes);
  pending.msgs += msgs;
  pending.bytes += bytes;
  pending.checksum = checksum;
}

void OutputLanes::commit_credits() {
  while (below_high_water() && !credits_.empty()) {
    const auto [mux, credit] = *credits_.begin();
    credits_.erase(credits_.begin());
    encode_frame(output_.owned(), Frame{.op = credit.op,
                                        .checksum = credit.checksum,
                                        .mux = mux,
                                        .credit_msgs = credit.msgs,
                                        .credit_bytes = credit.bytes});
    ++frames_committed_;
  }
}

void OutputLanes::move_front(Lane& lane, bool send) {
  const LaneEntry entry = lane.entries.front();
  // Rule 2 of the design: a frame of a dead generation never reaches a later transport.
  WEFT_ASSERT(entry.generation == generation_);
  lane.entries.pop_front();
  if (&lane == &small_) ++small_popped_;
  if (entry.kind == EntryKind::response) response_bytes_ -= entry.bytes;
  if (send) {
    output_.owned().append(lane.buffer.view().first(entry.bytes));
    ++frames_committed_;
  }
  lane.buffer.consume(entry.bytes);
}

std::size_t OutputLanes::drop_response_parts(std::uint64_t mux) {
  auto parts = parts_.begin();
  for (auto entry = bulk_.entries.begin(); entry != bulk_.entries.end(); ++entry) {
    if (!entry->parts) continue;
    if (entry->kind == EntryKind::response && entry->mux == mux) {
      // A parts entry holds no bytes of the lane's buffer: removing it moves nothing else.
      const std::size_t dropped = parts->remaining();
      parts_bytes_ -= dropped;
      response_bytes_ -= dropped;
      parts_.erase(parts);
      bulk_.entries.erase(entry);
      return dropped;
    }
    ++parts;
  }
  return 0;
}

void OutputLanes::send_next_part(bool send) {
  const LaneEntry& entry = bulk_.entries.front();
  WEFT_ASSERT(entry.parts && entry.generation == generation_ && !parts_.empty());
  PendingParts& parts = parts_.front();
  const std::size_t size = send ? std::min(parts.part_bytes, parts.remaining()) : parts.remaining();
  if (send) {
    const bool last = size == parts.remaining();
    commit_shared(Frame{.op = parts.message ? Op::stream_msg : Op::continuation,
                        .checksum = parts.checksum,
                        .flags = last ? std::uint16_t{0} : flag::kMore,
                        .mux = entry.mux,
                        .seq = parts.message ? *parts.message : parts.next_seq++,
                        .payload = parts.payload.view().subspan(parts.offset, size)},
                  parts.payload);
  }
  parts.offset += size;
  parts_bytes_ -= size;
  if (entry.kind == EntryKind::response) response_bytes_ -= size;
  if (parts.remaining() == 0) {
    parts_.pop_front();
    bulk_.entries.pop_front();
  }
}

void OutputLanes::check_invariants() const {
  output_.check_invariants();
  std::size_t response_bytes = 0;
  for (const Lane* lane : {&control_, &small_, &bulk_}) {
    std::size_t bytes = 0;
    for (const LaneEntry& entry : lane->entries) {
      WEFT_ASSERT(entry.generation == generation_);
      WEFT_ASSERT((entry.kind == EntryKind::control) == (lane == &control_));
      WEFT_ASSERT(entry.bulk == (lane == &bulk_));
      WEFT_ASSERT(!entry.parts || (entry.bulk && entry.bytes == 0));
      bytes += entry.bytes;
      if (entry.kind == EntryKind::response) response_bytes += entry.bytes;
    }
    WEFT_ASSERT(bytes == lane->buffer.size());
  }
  std::size_t parts_entries = 0;
  std::size_t remaining = 0;
  auto parts = parts_.begin();
  for (const LaneEntry& entry : bulk_.entries) {
    if (!entry.parts) continue;
    ++parts_entries;
    if (parts == parts_.end()) break;  // fails the count check below
    WEFT_ASSERT(parts->remaining() > 0 && parts->part_bytes > 0);
    remaining += parts->remaining();
    if (entry.kind == EntryKind::response) response_bytes += parts->remaining();
    ++parts;
  }
  WEFT_ASSERT(parts_entries == parts_.size());
  // A bulk frame waiting for the small lane waits for a frame of its own stream still there.
  for (const LaneEntry& entry : bulk_.entries) {
    if (entry.after_small <= small_popped_) continue;
    WEFT_ASSERT(entry.kind == EntryKind::stream);
    WEFT_ASSERT(entry.after_small - small_popped_ <= small_.entries.size());
    const LaneEntry& last = small_.entries[entry.after_small - small_popped_ - 1];
    WEFT_ASSERT(last.kind == EntryKind::stream && last.mux == entry.mux);
  }
  WEFT_ASSERT(remaining == parts_bytes_);
  // response_bytes() counts exactly the response frames and parts waiting.
  WEFT_ASSERT(response_bytes == response_bytes_);
  WEFT_ASSERT(!below_high_water() || lanes_empty());
}

#if WEFT_CANARIES
void OutputLanes::keep_stale_frames() {
  for (Lane* lane : {&small_, &bulk_}) {
    std::size_t at = 0;
    for (const LaneEntry& entry : lane->entries) {
      if (entry.parts) continue;  // not encoded yet
      stale_.append(lane->buffer.view().subspan(at, entry.bytes));
      at += entry.bytes;
    }
  }
}

void OutputLanes::send_stale() {
  output_.owned().append(stale_.view());
  stale_.clear();
}
#endif

}  // namespace weft::detail
