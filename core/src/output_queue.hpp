// What one transport has to write, in order: bytes the core encoded (frame headers, small
// frames, checksum trailers) and, between them, large payload slices it refers to where
// they lie (a SharedBytes the application handed over), so a large payload is not copied
// into the output. The driver takes it as contiguous pieces: front() for one, gather() for
// several (one writev), and consume() what it wrote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lazy_deque.hpp"
#include "weft/bytes.hpp"

namespace weft::detail {

class OutputQueue {
 public:
  // Where frames are encoded: bytes appended here come after everything queued before.
  ByteBuffer& owned() { return owned_; }
  // Queues `slice`, which lies inside `owner` (kept alive here until written), after
  // everything queued before. `slice` must not be empty.
  void append_reference(const SharedBytes& owner, Bytes slice);

  // Bytes waiting, owned and referenced.
  std::size_t size() const { return owned_.size() + referenced_bytes_; }
  bool empty() const { return size() == 0; }
  // The first contiguous piece (empty when nothing waits). Valid until the next change.
  Bytes front() const;
  // Fills `pieces` with the first pieces in order; returns how many (all of them, or
  // pieces.size()). Valid until the next change.
  std::size_t gather(std::span<Bytes> pieces) const;
  // Drops the first `count` bytes (at most size()), across pieces.
  void consume(std::size_t count);
  // Appends a copy of every waiting byte to `out`.
  void copy_to(ByteBuffer& out) const;

  void clear();
  // Frees the owned storage when nothing waits and it holds more than `keep_bytes`.
  void release_if_empty(std::size_t keep_bytes);
  // Every reference is non-empty, sits at or after the owned bytes already written, in
  // order, and referenced_bytes_ is their sum.
  void check_invariants() const;

 private:
  struct Reference {
    std::uint64_t at_owned = 0;  // owned bytes (counted since clear) that go before it
    SharedBytes owner;
    Bytes slice;
  };
  // The owned bytes that go before the first reference (all of them when none waits).
  std::size_t owned_run() const {
    return references_.empty()
               ? owned_.size()
               : static_cast<std::size_t>(references_.front().at_owned - owned_consumed_);
  }

  ByteBuffer owned_;
  std::uint64_t owned_consumed_ = 0;  // owned bytes consumed since clear
  LazyDeque<Reference> references_;
  std::size_t referenced_bytes_ = 0;  // bytes of references_ not written yet
};

}  // namespace weft::detail
