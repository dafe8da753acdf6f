// Byte views and the growable byte buffer the codec writes into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft {

// A read-only view of bytes owned by someone else.
using Bytes = std::span<const std::uint8_t>;

// Views the characters of `text` as bytes; the view lives as long as `text`'s storage.
inline Bytes as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Views bytes as characters; the view lives as long as the bytes.
inline std::string_view as_chars(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Immutable bytes with shared ownership. The core keeps a reference to them instead of a
// copy, so one buffer can go out on many calls or to many peers, and a large payload costs
// no copy when it is handed over. Cheap to copy; safe to share between threads (the bytes
// never change after construction).
class SharedBytes {
 public:
  SharedBytes() = default;
  // Takes ownership of `bytes` (no copy of the bytes themselves).
  explicit SharedBytes(std::vector<std::uint8_t>&& bytes);
  // A copy of `bytes`.
  static SharedBytes copy_of(Bytes bytes);

  // The bytes; valid while any copy of this object lives.
  Bytes view() const;
  std::size_t size() const { return bytes_ ? bytes_->size() : 0; }
  bool empty() const { return size() == 0; }

 private:
  std::shared_ptr<const std::vector<std::uint8_t>> bytes_;
};

// A payload handed to the core: either borrowed (a view that need only stay valid during
// the call; the core copies whatever it must keep) or shared (the core keeps a reference).
// Borrowing suits small payloads; share a large one, or move a vector in, to save a copy.
class Payload {
 public:
  Payload() = default;
  Payload(Bytes borrowed) : view_(borrowed) {}  // NOLINT: implicit on purpose
  Payload(const std::vector<std::uint8_t>& borrowed) : view_(borrowed) {}  // NOLINT
  // Takes ownership of `owned`.
  Payload(std::vector<std::uint8_t>&& owned)  // NOLINT
      : Payload(SharedBytes(std::move(owned))) {}
  Payload(SharedBytes shared) : view_(shared.view()), shared_(std::move(shared)) {}  // NOLINT

  Bytes view() const { return view_; }
  std::size_t size() const { return view_.size(); }
  bool empty() const { return view_.empty(); }
  // The bytes from `offset` on, as something that outlives the call: the shared buffer
  // itself when shared (a reference, no copy), else a copy. Returns the buffer and where
  // the bytes from `offset` start in it.
  std::pair<SharedBytes, std::size_t> keep_from(std::size_t offset) const;

 private:
  Bytes view_;
  SharedBytes shared_;
};

// True when both views hold the same bytes (content, not identity).
bool bytes_equal(Bytes lhs, Bytes rhs);

// Lower-case hex of `bytes`, two digits a byte, no separators.
std::string to_hex(Bytes bytes);

// A byte buffer with a read cursor at the front and an append point at the back.
//
// Appending never zero-fills; consuming from the front is O(1) and the space is
// reclaimed when the buffer empties or when growth would otherwise be needed. It is a
// resource type: movable, not copyable. Not thread-safe.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&&) noexcept;
  ByteBuffer& operator=(ByteBuffer&&) noexcept;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ~ByteBuffer() = default;

  // Number of readable bytes (appended and not yet consumed).
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  // Bytes the buffer can hold without allocating, counting from the read cursor.
  std::size_t capacity() const { return capacity_ - begin_; }

  // The readable bytes. Valid until the next call that appends, extends or reserves.
  Bytes view() const { return {data_.get() + begin_, size()}; }

  // Appends a copy of `bytes`.
  void append(Bytes bytes);
  // Appends `count` uninitialised bytes and returns where they start; the caller
  // must write all of them (or give back the unused tail with `shrink_back`). Inline: the
  // encoder extends once per frame.
  std::uint8_t* extend(std::size_t count) {
    if (capacity_ - end_ < count) make_room(count);
    std::uint8_t* start = data_.get() + end_;
    end_ += count;
    return start;
  }
  // Removes the last `count` bytes; `count` must not exceed `size()`.
  void shrink_back(std::size_t count);
  // Drops `count` bytes from the front; `count` must not exceed `size()`.
  void consume(std::size_t count);
  // Empties the buffer and keeps its storage.
  void clear() { begin_ = end_ = 0; }
  // Makes room for at least `count` readable bytes without further allocation.
  void reserve(std::size_t count);
  // Frees the storage when the buffer is empty and holds more than `keep_bytes`.
  void release_if_empty(std::size_t keep_bytes);

 private:
  void make_room(std::size_t count);

  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace weft
