// The deadlines of a connection's requests and streams: (deadline, key) pairs that can be
// scheduled, moved or removed by key, and read earliest first. Keys are small integers
// chosen by the owner. Ties break by the order of scheduling, so expiry is deterministic.
//
// Most deadlines are scheduled in order: a request's is the turn's clock plus one timeout
// shared by most calls, so each new one is at or after the latest. Those join a run (a
// list in deadline order, O(1) to append and to remove from anywhere). A deadline earlier
// than the run's last goes to a binary min-heap (O(log n)). The earliest is the run's head
// or the heap's top. Nothing is deleted lazily: a key that ends early leaves nothing behind.
//
// Memory: 4 bytes per key up to the largest key scheduled (as the heap alone needed), and
// one 40-byte node per deadline scheduled at once, at the most; clear() gives it all back.
#pragma once

#include <cstdint>
#include <tuple>
#include <vector>

#include "invariant.hpp"
#include "weft/time.hpp"

namespace weft::detail {

class DeadlineQueue {
 public:
  // Schedules `key` at `deadline_ns`, replacing its earlier deadline if it has one (it then
  // ties as if scheduled now).
  void set(std::uint32_t key, TimeNs deadline_ns) {
    if (key >= node_of_key_.size()) node_of_key_.resize(key + 1, kAbsent);
    erase(key);
    const std::uint32_t node = take_node();
    nodes_[node] = Node{.deadline_ns = deadline_ns, .order = next_order_++, .key = key};
    node_of_key_[key] = node;
    if (run_tail_ == kAbsent || nodes_[run_tail_].deadline_ns <= deadline_ns) {
      append_to_run(node);
    } else {
      heap_push(node);
    }
    ++size_;
  }

  // Removes `key` if it is scheduled.
  void erase(std::uint32_t key) {
    if (key >= node_of_key_.size() || node_of_key_[key] == kAbsent) return;
    const std::uint32_t node = node_of_key_[key];
    if (nodes_[node].in_heap) {
      heap_remove(nodes_[node].heap_index);
    } else {
      unlink_from_run(node);
    }
    node_of_key_[key] = kAbsent;
    nodes_[node].next = free_nodes_;
    free_nodes_ = node;
    --size_;
  }

  bool empty() const { return size_ == 0; }
  bool contains(std::uint32_t key) const {
    return key < node_of_key_.size() && node_of_key_[key] != kAbsent;
  }
  std::size_t size() const { return size_; }
  // The earliest deadline, kNever when empty.
  TimeNs top_deadline() const { return empty() ? kNever : nodes_[top_node()].deadline_ns; }
  // The key of the earliest deadline (the first scheduled among equal ones).
  std::uint32_t top_key() const { return nodes_[top_node()].key; }
  // Unschedules every key and gives the memory back (a connection's teardown).
  void clear() { *this = DeadlineQueue(); }

  // The run is in order and linked both ways, the heap order holds, every key's node is
  // where it says, and the free nodes are the rest.
  void check_invariants() const {
    std::size_t in_run = 0;
    std::uint32_t previous = kAbsent;
    for (std::uint32_t node = run_head_; node != kAbsent; node = nodes_[node].next) {
      WEFT_ASSERT(!nodes_[node].in_heap && nodes_[node].previous == previous);
      WEFT_ASSERT(previous == kAbsent || before(previous, node));
      previous = node;
      ++in_run;
    }
    WEFT_ASSERT(previous == run_tail_);
    for (std::size_t at = 0; at < heap_.size(); ++at) {
      const Node& node = nodes_[heap_[at]];
      WEFT_ASSERT(node.in_heap && node.heap_index == at);
      WEFT_ASSERT(at == 0 || !before(heap_[at], heap_[(at - 1) / 2]));
    }
    std::size_t scheduled = 0;
    for (std::uint32_t key = 0; key < node_of_key_.size(); ++key) {
      if (node_of_key_[key] == kAbsent) continue;
      WEFT_ASSERT(nodes_[node_of_key_[key]].key == key);
      ++scheduled;
    }
    std::size_t free_count = 0;
    for (std::uint32_t node = free_nodes_; node != kAbsent; node = nodes_[node].next)
      ++free_count;
    WEFT_ASSERT(scheduled == size_ && in_run + heap_.size() == size_);
    WEFT_ASSERT(size_ + free_count == nodes_.size());
  }

 private:
  static constexpr std::uint32_t kAbsent = UINT32_MAX;
  struct Node {
    TimeNs deadline_ns = kNever;
    std::uint64_t order = 0;  // when it was scheduled: breaks ties
    std::uint32_t key = 0;
    std::uint32_t previous = kAbsent;  // in the run
    std::uint32_t next = kAbsent;      // in the run, or the next free node
    std::uint32_t heap_index = 0;      // in the heap
    bool in_heap = false;
  };

  // Whether node `a` is due before node `b`.
  bool before(std::uint32_t a, std::uint32_t b) const {
    return std::tie(nodes_[a].deadline_ns, nodes_[a].order) <
           std::tie(nodes_[b].deadline_ns, nodes_[b].order);
  }
  std::uint32_t top_node() const {
    WEFT_ASSERT(!empty());
    if (heap_.empty()) return run_head_;
    if (run_head_ == kAbsent) return heap_.front();
    return before(heap_.front(), run_head_) ? heap_.front() : run_head_;
  }
  std::uint32_t take_node() {
    if (free_nodes_ == kAbsent) {
      nodes_.emplace_back();
      return static_cast<std::uint32_t>(nodes_.size() - 1);
    }
    const std::uint32_t node = free_nodes_;
    free_nodes_ = nodes_[node].next;
    return node;
  }

  void append_to_run(std::uint32_t node) {
    nodes_[node].previous = run_tail_;
    nodes_[node].next = kAbsent;
    if (run_tail_ == kAbsent) {
      run_head_ = node;
    } else {
      nodes_[run_tail_].next = node;
    }
    run_tail_ = node;
  }
  void unlink_from_run(std::uint32_t node) {
    const Node& unlinked = nodes_[node];
    if (unlinked.previous == kAbsent) {
      run_head_ = unlinked.next;
    } else {
      nodes_[unlinked.previous].next = unlinked.next;
    }
    if (unlinked.next == kAbsent) {
      run_tail_ = unlinked.previous;
    } else {
      nodes_[unlinked.next].previous = unlinked.previous;
    }
  }

  void heap_push(std::uint32_t node) {
    nodes_[node].in_heap = true;
    heap_.push_back(node);
    sift_up(heap_.size() - 1);
  }
  void heap_remove(std::size_t at) {
    const std::uint32_t last = heap_.back();
    heap_.pop_back();
    if (at == heap_.size()) return;
    place(at, last);
    sift_down(sift_up(at));
  }
  void place(std::size_t at, std::uint32_t node) {
    heap_[at] = node;
    nodes_[node].heap_index = static_cast<std::uint32_t>(at);
  }
  std::size_t sift_up(std::size_t at) {
    const std::uint32_t node = heap_[at];
    while (at > 0) {
      const std::size_t parent = (at - 1) / 2;
      if (!before(node, heap_[parent])) break;
      place(at, heap_[parent]);
      at = parent;
    }
    place(at, node);
    return at;
  }
  void sift_down(std::size_t at) {
    const std::uint32_t node = heap_[at];
    while (true) {
      std::size_t child = 2 * at + 1;
      if (child >= heap_.size()) break;
      if (child + 1 < heap_.size() && before(heap_[child + 1], heap_[child])) ++child;
      if (!before(heap_[child], node)) break;
      place(at, heap_[child]);
      at = child;
    }
    place(at, node);
  }

  std::vector<std::uint32_t> node_of_key_;  // by key: its node, kAbsent if not scheduled
  std::vector<Node> nodes_;                 // scheduled deadlines, and free nodes
  std::vector<std::uint32_t> heap_;         // nodes scheduled out of order, earliest first
  std::uint32_t free_nodes_ = kAbsent;      // linked through Node::next
  std::uint32_t run_head_ = kAbsent;
  std::uint32_t run_tail_ = kAbsent;
  std::size_t size_ = 0;
  std::uint64_t next_order_ = 0;
};

}  // namespace weft::detail
