#include "weft/bytes.hpp"

#include <algorithm>
#include <cstring>

#include "invariant.hpp"

namespace weft {

bool bytes_equal(Bytes lhs, Bytes rhs) {
  return lhs.size() == rhs.size() &&
         (lhs.empty() || std::memcmp(lhs.data(), rhs.data(), lhs.size()) == 0);
}

std::string to_hex(Bytes bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string text(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    text[2 * i] = kDigits[bytes[i] >> 4];
    text[2 * i + 1] = kDigits[bytes[i] & 0x0f];
  }
  return text;
}

SharedBytes::SharedBytes(std::vector<std::uint8_t>&& bytes)
    : bytes_(std::make_shared<const std::vector<std::uint8_t>>(std::move(bytes))) {}

SharedBytes SharedBytes::copy_of(Bytes bytes) {
  return SharedBytes(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
}

Bytes SharedBytes::view() const {
  return bytes_ ? Bytes(*bytes_) : Bytes{};
}

std::pair<SharedBytes, std::size_t> Payload::keep_from(std::size_t offset) const {
  WEFT_ASSERT(offset <= view_.size());
  if (!shared_.empty() || view_.empty()) return {shared_, offset};
  return {SharedBytes::copy_of(view_.subspan(offset)), 0};
}

ByteBuffer::ByteBuffer(ByteBuffer&& other) noexcept
    : data_(std::move(other.data_)),
      begin_(other.begin_),
      end_(other.end_),
      capacity_(other.capacity_) {
  other.begin_ = other.end_ = other.capacity_ = 0;
}

ByteBuffer& ByteBuffer::operator=(ByteBuffer&& other) noexcept {
  if (this != &other) {
    data_ = std::move(other.data_);
    begin_ = other.begin_;
    end_ = other.end_;
    capacity_ = other.capacity_;
    other.begin_ = other.end_ = other.capacity_ = 0;
  }
  return *this;
}

void ByteBuffer::append(Bytes bytes) {
  if (bytes.empty()) return;
  std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
}

void ByteBuffer::shrink_back(std::size_t count) {
  WEFT_ASSERT(count <= size());
  end_ -= count;
  if (begin_ == end_) begin_ = end_ = 0;
}

void ByteBuffer::consume(std::size_t count) {
  WEFT_ASSERT(count <= size());
  begin_ += count;
  if (begin_ == end_) begin_ = end_ = 0;
}

void ByteBuffer::reserve(std::size_t count) {
  if (capacity_ - begin_ < count) make_room(count - size());
}

void ByteBuffer::release_if_empty(std::size_t keep_bytes) {
  if (empty() && capacity_ > keep_bytes) {
    data_.reset();
    capacity_ = 0;
  }
}

// Ensures `count` bytes fit after `end_`: slides the readable bytes to the front when
// that is enough and cheap (the space reclaimed is at least what moves, so sliding costs
// O(1) a byte over time), otherwise moves them into storage at least twice as large.
void ByteBuffer::make_room(std::size_t count) {
  const std::size_t live = size();
  if (begin_ >= live && capacity_ - live >= count) {
    std::memmove(data_.get(), data_.get() + begin_, live);
  } else {
    const std::size_t new_capacity = std::max({capacity_ * 2, live + count, std::size_t{256}});
    auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(new_capacity);
    if (live > 0) std::memcpy(grown.get(), data_.get() + begin_, live);
    data_ = std::move(grown);
    capacity_ = new_capacity;
  }
  begin_ = 0;
  end_ = live;
}

}  // namespace weft
