// The memory of payload vectors the application handed back (Node::recycle_payload), kept
// for the payloads of later events: a request served and a response received each cost a
// vector, and at a million requests a second their malloc and free were 8 % of the core's
// instructions. Bounded by NodeConfig::payload_pool_bytes of capacity. Internal to core/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "weft/bytes.hpp"

namespace weft::detail {

class PayloadPool {
 public:
  explicit PayloadPool(std::size_t budget_bytes) : budget_bytes_(budget_bytes) {}

  // Keeps `payload`'s memory when it fits in the budget, else frees it. Its bytes are not
  // read again: a vector taken later is cleared first.
  void give(std::vector<std::uint8_t>&& payload) {
    const std::size_t cost = charge(payload);
    if (payload.capacity() == 0 || cost > budget_bytes_ - held_bytes_) return;
    held_bytes_ += cost;
    spare_.push_back(std::move(payload));
  }

  // A vector holding a copy of `bytes`, in kept memory when there is some.
  std::vector<std::uint8_t> copy_of(Bytes bytes) {
    std::vector<std::uint8_t> payload = take();
    payload.assign(bytes.begin(), bytes.end());
    return payload;
  }

  // An empty vector, with kept memory when there is some.
  std::vector<std::uint8_t> take() {
    if (spare_.empty()) return {};
    std::vector<std::uint8_t> payload = std::move(spare_.back());
    spare_.pop_back();
    held_bytes_ -= charge(payload);
    payload.clear();
    return payload;
  }

  // The memory kept now, at most the budget: each vector's capacity and its place in the
  // pool's own list (so that many tiny vectors cannot grow the list past the budget).
  std::size_t held_bytes() const { return held_bytes_; }

 private:
  static std::size_t charge(const std::vector<std::uint8_t>& payload) {
    return payload.capacity() + sizeof(payload);
  }

  std::size_t budget_bytes_;
  std::size_t held_bytes_ = 0;
  std::vector<std::vector<std::uint8_t>> spare_;
};

}  // namespace weft::detail
