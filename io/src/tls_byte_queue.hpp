// A FIFO of bytes for the TLS session's four buffers: append at the back, view and consume
// at the front, write straight into spare room at the back (SSL_read's destination).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "weft/bytes.hpp"

namespace weft::io::tls_detail {

// Leaves the bytes a vector grows by uninitialised: prepare() makes room that OpenSSL
// writes at once, and zeroing it first cost as much as the decryption of small records.
template <typename T>
struct UninitialisedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitialisedAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* at) noexcept {
    ::new (static_cast<void*>(at)) U;
  }
  template <typename U, typename... Args>
  void construct(U* at, Args&&... args) {
    ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
  }
};

class ByteQueue {
 public:
  Bytes view() const { return Bytes(bytes_).subspan(head_); }
  std::size_t size() const { return bytes_.size() - head_; }
  bool empty() const { return size() == 0; }

  void append(Bytes more) { bytes_.insert(bytes_.end(), more.begin(), more.end()); }

  // Room for `count` more bytes at the back; commit(n) keeps the first n written there.
  std::uint8_t* prepare(std::size_t count) {
    reserved_from_ = bytes_.size();
    bytes_.resize(reserved_from_ + count);
    return bytes_.data() + reserved_from_;
  }
  void commit(std::size_t count) {
    assert(reserved_from_ + count <= bytes_.size());
    bytes_.resize(reserved_from_ + count);
  }

  void consume(std::size_t count) {
    assert(count <= size());
    head_ += count;
    if (head_ == bytes_.size()) {
      head_ = 0;
      bytes_.clear();
      // A drained session keeps no larger buffer than this (a node may hold many
      // connections); one this size is kept, since a busy session drains its ciphertext
      // on every send: freeing and regrowing it there cost a quarter of TLS bulk's speed
      // (1 MiB requests 0.51 -> 0.68 GB/s when kept from 32 KiB to 128 KiB).
      if (bytes_.capacity() > kKeptCapacityBytes) bytes_ = decltype(bytes_)();
    } else if (head_ >= kCompactFromBytes && head_ >= size()) {
      // Moves at most as much as was consumed since the last move: linear overall.
      bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  static constexpr std::size_t kKeptCapacityBytes = 128 * 1024;
  static constexpr std::size_t kCompactFromBytes = 16 * 1024;
  std::vector<std::uint8_t, UninitialisedAllocator<std::uint8_t>> bytes_;
  std::size_t head_ = 0;
  std::size_t reserved_from_ = 0;
};

}  // namespace weft::io::tls_detail
