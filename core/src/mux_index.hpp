// The index from a peer's mux ids to the slots of what they name (its requests, its
// streams): an open-addressing table, so that a request costs no node allocation.
//
// The peer picks the keys, so the hash is keyed with a secret salt (from the node's nonce
// key): without it a peer could send ids that all land in one run of the table and make every
// lookup walk it. Iteration order never reaches output: the table has no iteration.
#pragma once

#include <cstdint>
#include <vector>

#include "invariant.hpp"

namespace weft::detail {

class MuxIndex {
 public:
  explicit MuxIndex(std::uint64_t salt = 0) : salt_(salt) {}

  bool contains(std::uint64_t mux) const { return find(mux) != nullptr; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The slot stored for `mux`, or nullptr. Valid until the next insert or erase.
  const std::uint32_t* find(std::uint64_t mux) const {
    if (size_ == 0) return nullptr;
    for (std::size_t at = home(mux);; at = (at + 1) & mask_) {
      const Entry& entry = entries_[at];
      if (!entry.used) return nullptr;
      if (entry.mux == mux) return &entry.slot;
    }
  }

  // Stores `slot` for `mux`, which must not be present.
  void insert(std::uint64_t mux, std::uint32_t slot) {
    WEFT_ASSERT(!contains(mux));
    if (2 * (size_ + 1) > entries_.size()) grow();
    std::size_t at = home(mux);
    while (entries_[at].used)
      at = (at + 1) & mask_;
    entries_[at] = {mux, slot, true};
    ++size_;
  }

  // Removes `mux` if present; returns whether it was.
  bool erase(std::uint64_t mux) {
    if (size_ == 0) return false;
    std::size_t at = home(mux);
    while (entries_[at].mux != mux || !entries_[at].used) {
      if (!entries_[at].used) return false;
      at = (at + 1) & mask_;
    }
    // Backward shift: move up each later entry of the run whose home does not lie strictly
    // between the hole and it, so that no lookup meets a hole before its key (no tombstones).
    std::size_t hole = at;
    for (std::size_t next = (hole + 1) & mask_; entries_[next].used; next = (next + 1) & mask_) {
      const std::size_t wanted = home(entries_[next].mux);
      const bool stays =
          hole <= next ? (hole < wanted && wanted <= next) : (hole < wanted || wanted <= next);
      if (stays) continue;
      entries_[hole] = entries_[next];
      hole = next;
    }
    entries_[hole].used = false;
    --size_;
    return true;
  }

  // Empties the index; keeps its memory up to a modest size for the next connection.
  void clear() {
    if (entries_.size() > kKeepEntries) {
      entries_.clear();
      entries_.shrink_to_fit();
      mask_ = 0;
    } else {
      for (Entry& entry : entries_)
        entry.used = false;
    }
    size_ = 0;
  }

 private:
  struct Entry {
    std::uint64_t mux = 0;
    std::uint32_t slot = 0;
    bool used = false;
  };
  static constexpr std::size_t kFirstEntries = 64;
  static constexpr std::size_t kKeepEntries = 4096;

  // splitmix64's finaliser over the salted id: every bit of the id moves every bit of the hash.
  std::size_t home(std::uint64_t mux) const {
    std::uint64_t z = mux ^ salt_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return static_cast<std::size_t>(z) & mask_;
  }

  void grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(old.empty() ? kFirstEntries : 2 * old.size(), Entry{});
    mask_ = entries_.size() - 1;
    size_ = 0;
    for (const Entry& entry : old) {
      if (entry.used) insert(entry.mux, entry.slot);
    }
  }

  std::uint64_t salt_;
  std::vector<Entry> entries_;  // a power of two in size, at most half used
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace weft::detail
