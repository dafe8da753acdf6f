#include "output_queue.hpp"

#include <algorithm>

#include "invariant.hpp"

namespace weft::detail {

void OutputQueue::append_reference(const SharedBytes& owner, Bytes slice) {
  WEFT_ASSERT(!slice.empty());
  references_.push_back({owned_consumed_ + owned_.size(), owner, slice});
  referenced_bytes_ += slice.size();
}

Bytes OutputQueue::front() const {
  const std::size_t run = owned_run();
  if (run > 0) return owned_.view().first(run);
  return references_.empty() ? Bytes{} : references_.front().slice;
}

std::size_t OutputQueue::gather(std::span<Bytes> pieces) const {
  std::size_t filled = 0;
  std::size_t owned_at = 0;  // into owned_.view()
  const Bytes owned = owned_.view();
  for (const Reference& reference : references_) {
    const auto before = static_cast<std::size_t>(reference.at_owned - owned_consumed_);
    if (before > owned_at) {
      if (filled == pieces.size()) return filled;
      pieces[filled++] = owned.subspan(owned_at, before - owned_at);
      owned_at = before;
    }
    if (filled == pieces.size()) return filled;
    pieces[filled++] = reference.slice;
  }
  if (owned_at < owned.size() && filled < pieces.size()) pieces[filled++] = owned.subspan(owned_at);
  return filled;
}

void OutputQueue::consume(std::size_t count) {
  WEFT_ASSERT(count <= size());
  while (count > 0) {
    const std::size_t run = owned_run();
    if (run > 0) {
      const std::size_t taken = std::min(run, count);
      owned_.consume(taken);
      owned_consumed_ += taken;
      count -= taken;
      continue;
    }
    Reference& reference = references_.front();
    const std::size_t taken = std::min(reference.slice.size(), count);
    reference.slice = reference.slice.subspan(taken);
    referenced_bytes_ -= taken;
    count -= taken;
    if (reference.slice.empty()) references_.pop_front();  // lets go of the payload
  }
}

void OutputQueue::copy_to(ByteBuffer& out) const {
  // Every piece: at most one owned run before each reference, and one after the last.
  std::vector<Bytes> pieces(references_.size() * 2 + 1);
  const std::size_t count = gather(pieces);
  for (std::size_t i = 0; i < count; ++i)
    out.append(pieces[i]);
}

void OutputQueue::clear() {
  owned_.clear();
  owned_consumed_ = 0;
  references_.clear();
  referenced_bytes_ = 0;
}

void OutputQueue::release_if_empty(std::size_t keep_bytes) {
  owned_.release_if_empty(keep_bytes);
}

void OutputQueue::check_invariants() const {
  std::size_t referenced = 0;
  std::uint64_t at = owned_consumed_;
  for (const Reference& reference : references_) {
    WEFT_ASSERT(!reference.slice.empty());
    WEFT_ASSERT(reference.at_owned >= at);
    at = reference.at_owned;
    referenced += reference.slice.size();
  }
  WEFT_ASSERT(at <= owned_consumed_ + owned_.size());
  WEFT_ASSERT(referenced == referenced_bytes_);
}

}  // namespace weft::detail
