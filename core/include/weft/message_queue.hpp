// MessageQueue: a FIFO of byte messages without an allocation per message. Small messages
// are copied into shared blocks (64 KiB, or smaller for a queue made for a small window; a
// block is reused once every message in it was popped); a large one keeps a buffer of its
// own. The core keeps each stream's unconsumed messages in one, and EventNode a stream
// session's unsent ones.
//
// A message never moves while it waits: the view front() gives stays valid until that
// message is popped or the queue cleared or destroyed, whatever is pushed meanwhile.
// Memory: the bytes waiting, plus at most one partly used block and one spare block.
// Not thread-safe (one owner, like any value).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "weft/bytes.hpp"
#include "weft/invariant.hpp"

namespace weft {

class MessageQueue {
 public:
  // Messages up to this size are copied into a block; larger ones get a buffer each.
  static constexpr std::size_t kBlockBytes = 64 * 1024;
  static constexpr std::size_t kInlineMaxBytes = 4 * 1024;
  // The smallest block a queue made for a window uses.
  static constexpr std::size_t kMinBlockBytes = 1024;

  MessageQueue() = default;
  // A queue whose messages never add up to more than `window_bytes` at once (a stream's
  // inbox): its blocks are the window rounded up to a power of two, between kMinBlockBytes
  // and kBlockBytes, so a small window does not hold a 64 KiB block; messages up to
  // min(kInlineMaxBytes, that size) are copied into them.
  static MessageQueue for_window(std::uint64_t window_bytes) {
    MessageQueue queue;
    const std::uint64_t wanted = std::bit_ceil(std::max<std::uint64_t>(window_bytes, 1));
    queue.block_bytes_ =
        static_cast<std::size_t>(std::clamp<std::uint64_t>(wanted, kMinBlockBytes, kBlockBytes));
    queue.inline_max_bytes_ = std::min(kInlineMaxBytes, queue.block_bytes_);
    return queue;
  }
  // The size of this queue's blocks, and of the largest message copied into one.
  std::size_t block_bytes() const { return block_bytes_; }
  std::size_t inline_max_bytes() const { return inline_max_bytes_; }

  // How many messages wait, and their bytes.
  bool empty() const { return count_ == 0; }
  std::size_t size() const { return count_; }
  std::uint64_t bytes() const { return bytes_; }

  // Appends a copy of `message` (into a block when small, else into a buffer of its own).
  void push_copy(Bytes message) {
    if (message.size() > inline_max_bytes_) {
      push_owned(std::vector<std::uint8_t>(message.begin(), message.end()));
      return;
    }
    Block& block = room_for(message.size());
    std::uint8_t* at = block.data.get() + block.used;
    if (!message.empty()) std::memcpy(at, message.data(), message.size());
    block.used += message.size();
    ++block.live;
    append(Entry{at, message.size(), {}, true});
  }

  // Appends `message`, keeping its buffer (no copy).
  void push_owned(std::vector<std::uint8_t>&& message) {
    const std::uint8_t* data = message.data();
    const std::size_t size = message.size();
    owned_capacity_bytes_ += message.capacity();
    append(Entry{data, size, std::move(message), false});
  }

  // The oldest message. Precondition: not empty (InvariantViolation in builds with
  // assertions).
  Bytes front() const {
    expect(count_ > 0, "front of an empty MessageQueue");
    const Entry& entry = entries_[head_];
    return Bytes(entry.data, entry.size);
  }

  // Removes the oldest message; its view dies. Precondition: not empty.
  void pop_front() {
    expect(count_ > 0, "pop_front of an empty MessageQueue");
    Entry& entry = entries_[head_];
    bytes_ -= entry.size;
    owned_capacity_bytes_ -= entry.owned.capacity();
    if (entry.in_block) release_front_block_message();
    entry = Entry{};
    head_ = (head_ + 1) & (entries_.size() - 1);
    --count_;
  }

  // Drops every message (every view dies) and frees the blocks.
  void clear() {
    entries_.clear();
    blocks_.clear();
    spare_.reset();
    head_ = 0;
    count_ = 0;
    bytes_ = 0;
    owned_capacity_bytes_ = 0;
  }

  // The blocks held for small messages (spare included): at most the waiting small
  // messages' bytes over block_bytes(), plus two.
  std::size_t block_count() const { return blocks_.size() + (spare_ ? 1 : 0); }
  // The memory the queue holds for its messages: its blocks (spare included) and the
  // buffers of the messages kept in their own.
  std::uint64_t memory_bytes() const {
    return block_count() * block_bytes_ + owned_capacity_bytes_;
  }

  // Calls f(size) for each message, oldest first.
  template <typename F>
  void for_each_size(F f) const {
    for (std::size_t i = 0; i < count_; ++i)
      f(entries_[(head_ + i) & (entries_.size() - 1)].size);
  }

 private:
  struct Entry {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    std::vector<std::uint8_t> owned;  // a large message's own buffer
    bool in_block = false;
  };
  struct Block {
    std::unique_ptr<std::uint8_t[]> data;
    std::size_t used = 0;
    std::size_t live = 0;  // messages in it not yet popped
  };

  void append(Entry&& entry) {
    if (count_ == entries_.size()) grow_entries();
    bytes_ += entry.size;
    entries_[(head_ + count_) & (entries_.size() - 1)] = std::move(entry);
    ++count_;
  }

  void grow_entries() {
    std::vector<Entry> bigger(entries_.empty() ? 16 : 2 * entries_.size());
    for (std::size_t i = 0; i < count_; ++i)
      bigger[i] = std::move(entries_[(head_ + i) & (entries_.size() - 1)]);
    entries_ = std::move(bigger);
    head_ = 0;
  }

  // The newest block with room for `size` more bytes (a new or the spare one if needed).
  Block& room_for(std::size_t size) {
    if (blocks_.empty() || blocks_.back().used + size > block_bytes_) {
      Block block;
      if (spare_) {
        block.data = std::move(spare_);
      } else {
        block.data = std::make_unique_for_overwrite<std::uint8_t[]>(block_bytes_);
      }
      blocks_.push_back(std::move(block));
    }
    return blocks_.back();
  }

  // Messages are popped in the order they were pushed, so a message in a block lives in the
  // oldest block that still holds any.
  void release_front_block_message() {
    expect(!blocks_.empty() && blocks_.front().live > 0, "MessageQueue block count");
    Block& oldest = blocks_.front();
    if (--oldest.live > 0) return;
    if (blocks_.size() == 1) {
      oldest.used = 0;  // the only block: fill it again from the start
      return;
    }
    spare_ = std::move(oldest.data);
    blocks_.erase(blocks_.begin());
  }

  static void expect([[maybe_unused]] bool holds, [[maybe_unused]] const char* what) {
#ifndef NDEBUG
    if (!holds) throw InvariantViolation(what);
#endif
  }

  std::vector<Entry> entries_;  // a ring, a power of two in size
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t owned_capacity_bytes_ = 0;  // of the messages in buffers of their own
  std::size_t block_bytes_ = kBlockBytes;
  std::size_t inline_max_bytes_ = kInlineMaxBytes;
  std::vector<Block> blocks_;  // oldest first; few (the window's bytes over a block's)
  std::unique_ptr<std::uint8_t[]> spare_;
};

}  // namespace weft
