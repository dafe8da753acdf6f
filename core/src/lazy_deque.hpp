// A std::deque that allocates nothing until its first element and releases its memory when
// cleared. libstdc++'s deque allocates a map and a 512-byte node when constructed, empty or
// not: a node with a thousand peers, most of them idle (NodeConfig::connect_on_demand), paid
// several of those per peer for queues that stay empty. Only the operations the core uses.
// Internal to core/.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace weft::detail {

template <typename T>
class LazyDeque {
 public:
  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;

  bool empty() const { return !items_ || items_->empty(); }
  std::size_t size() const { return items_ ? items_->size() : 0; }

  T& front() { return items_->front(); }
  const T& front() const { return items_->front(); }
  T& operator[](std::size_t index) { return (*items_)[index]; }
  const T& operator[](std::size_t index) const { return (*items_)[index]; }
  T& back() { return items_->back(); }
  const T& back() const { return items_->back(); }

  void push_back(T item) { ensure().push_back(std::move(item)); }
  void pop_front() { items_->pop_front(); }
  // Empties it and gives its memory back.
  void clear() { items_.reset(); }

  // An empty queue iterates as an empty range (value-initialized iterators compare equal).
  iterator begin() { return items_ ? items_->begin() : iterator{}; }
  iterator end() { return items_ ? items_->end() : iterator{}; }
  const_iterator begin() const { return items_ ? items_->cbegin() : const_iterator{}; }
  const_iterator end() const { return items_ ? items_->cend() : const_iterator{}; }
  // `at` must be an element's iterator (so the queue is not empty).
  iterator erase(iterator at) { return items_->erase(at); }

 private:
  std::deque<T>& ensure() {
    if (!items_) items_ = std::make_unique<std::deque<T>>();
    return *items_;
  }

  std::unique_ptr<std::deque<T>> items_;
};

}  // namespace weft::detail
