// The memory of payload vectors the application handed back (Node::recycle_payload), kept
// for the payloads of later RequestReceived and RequestDone events: each request served and
// each response received cost a vector, and at a million requests a second their malloc and
// free were 8 % of the core's instructions. Internal to core/.
//
// Bounded whatever the application hands back: at most budget / kBytesPerVector vectors,
// and their capacity plus the list that holds them at most the budget. A vector is reused
// only for a payload it fits closely (capacity at most twice the size plus kSlackBytes), so
// the memory behind a payload stays what the connection's limits charge it, give or take
// that slack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "weft/bytes.hpp"

namespace weft::detail {

class PayloadPool {
 public:
  // The pool keeps at most one vector per this many bytes of its budget.
  static constexpr std::size_t kBytesPerVector = 256;
  // A kept vector serves a payload of `size` bytes when its capacity is at least `size` and
  // at most 2 * size + kSlackBytes.
  static constexpr std::size_t kSlackBytes = 64;

  explicit PayloadPool(std::size_t budget_bytes)
      : budget_bytes_(budget_bytes), max_vectors_(budget_bytes / kBytesPerVector) {}

  // Keeps `payload`'s memory when it fits in the budget, else frees it. Its bytes are not
  // read again: a vector taken later is cleared first.
  void give(std::vector<std::uint8_t>&& payload) {
    if (payload.capacity() == 0 || spare_.size() == max_vectors_) return;
    if (spare_.capacity() == 0) spare_.reserve(max_vectors_);  // the list, once, in full
    if (payload.capacity() > budget_bytes_ - held_bytes()) return;
    held_capacity_ += payload.capacity();
    spare_.push_back(std::move(payload));
  }

  // A vector holding a copy of `bytes`, in kept memory when a kept vector fits it.
  std::vector<std::uint8_t> copy_of(Bytes bytes) {
    std::vector<std::uint8_t> payload = take(bytes.size());
    payload.assign(bytes.begin(), bytes.end());
    return payload;
  }

  // A vector for a payload of `total_bytes` that arrives in parts: room for all of it
  // reserved, `first_part` copied in.
  std::vector<std::uint8_t> first_part_of(Bytes first_part, std::size_t total_bytes) {
    std::vector<std::uint8_t> payload = take(total_bytes);
    payload.reserve(total_bytes);
    payload.assign(first_part.begin(), first_part.end());
    return payload;
  }

  // An empty vector for a payload of `size` bytes: the last one kept when it fits that size
  // closely, otherwise a new one.
  std::vector<std::uint8_t> take(std::size_t size) {
    if (spare_.empty()) return {};
    const std::size_t capacity = spare_.back().capacity();
    if (capacity < size || capacity - size > size + kSlackBytes) return {};
    std::vector<std::uint8_t> payload = std::move(spare_.back());
    spare_.pop_back();
    held_capacity_ -= capacity;
    payload.clear();
    return payload;
  }

  // The memory held now, at most the budget: the kept vectors' capacity and their list.
  std::size_t held_bytes() const {
    return held_capacity_ + spare_.capacity() * sizeof(std::vector<std::uint8_t>);
  }

 private:
  std::size_t budget_bytes_;
  std::size_t max_vectors_;
  std::size_t held_capacity_ = 0;
  std::vector<std::vector<std::uint8_t>> spare_;
};

}  // namespace weft::detail
