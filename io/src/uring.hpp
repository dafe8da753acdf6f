// Internal to weft_io: an io_uring instance for LoopBackend::io_uring (liburing). One
// thread makes it and is the only one to use it: the ring asks the kernel for a single
// issuer whose completions run only while it waits (IORING_SETUP_SINGLE_ISSUER and
// DEFER_TASKRUN, Linux 6.1; an older kernel refuses the ring with EINVAL, and the node
// does not start: what the loop relies on, such as cancelling every operation at once,
// came in the releases before).
#pragma once

#include <liburing.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <utility>

namespace weft::io {

class Ring {
 public:
  Ring() = default;
  ~Ring() {
    if (open_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // Makes the ring: 0, or the kernel's error as a negative errno (ENOSYS: no io_uring;
  // EPERM: forbidden by kernel.io_uring_disabled or a seccomp policy).
  int open(unsigned entries, unsigned completion_entries) {
    io_uring_params params{};
    // SUBMIT_ALL: an entry that fails to start does not leave the ones after it queued (a
    // submission takes every queued entry; close_socket relies on it).
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = completion_entries;
    const int made = io_uring_queue_init_params(entries, &ring_, &params);
    open_ = made == 0;
    return made;
  }

  // A submission entry tagged `user_data`, counted in flight until its completion is reaped.
  // A full submission queue is submitted first to make room (free_entry).
  io_uring_sqe* next(std::uint64_t user_data) {
    io_uring_sqe* entry = free_entry();
    io_uring_sqe_set_data64(entry, user_data);
    ++in_flight_;
    return entry;
  }

  // Submits what is queued and waits for at least `count` completions: 0 or a negative errno
  // (EINTR: a signal; the caller just goes round again).
  int submit_and_wait(unsigned count) {
    ++submissions_;
    if (wait_fault_) {
      if (const int injected = wait_fault_(); injected < 0) return injected;
    }
    const int result = io_uring_submit_and_wait(&ring_, count);
    return result < 0 ? result : 0;
  }
  // Makes submit_and_wait ask `fault` first (EventNodeOptions::uring_wait_fault): a
  // negative errno it returns is the call's result, and the call is not made.
  void set_wait_fault(std::function<int()> fault) { wait_fault_ = std::move(fault); }
  // Hands the queued entries to the kernel now, without waiting: how many it took, or a
  // negative errno (then it took none).
  int submit() {
    ++submissions_;
    return io_uring_submit(&ring_);
  }
  // Counts the submissions: an entry queued when this read N is still queued (not yet seen
  // by the kernel) while it reads N.
  std::uint64_t submissions() const { return submissions_; }
  // Marks the user_data of complete_quietly's entries in the completions reap hands on
  // (callers' tags leave it clear).
  static constexpr std::uint64_t kQuietBit = std::uint64_t{1} << 63;

  // Completions the kernel dropped, having no room for them even in its overflow list (a
  // failed allocation), and those the drop fault took: a count that only grows. A dropped
  // completion's operation is over, but nothing says which one it was; in_flight() still
  // counts it.
  std::uint64_t dropped() const { return *ring_.cq.koverflow + injected_drops_; }

  // Makes reap and peek_quiet_failures ask `fault` once about each completion, by its
  // user_data: one it answers true for is dropped, as the kernel drops one (never handed
  // on, never counted out of in_flight(), counted in dropped()). A test seam
  // (EventNodeOptions::uring_completion_fault); null by default.
  void set_drop_fault(std::function<bool(std::uint64_t)> fault) { drop_fault_ = std::move(fault); }

  // Makes `entry`, still queued, complete silently when it succeeds (IOSQE_CQE_SKIP_SUCCESS)
  // and stop counting it in flight: only its failure has a completion, which reap hands on
  // without counting it. For an entry that completes within its submission (a send with
  // MSG_DONTWAIT), the caller knows it succeeded once it was submitted (queued() == 0) and
  // no failure came.
  void complete_quietly(io_uring_sqe* entry) {
    entry->flags |= IOSQE_CQE_SKIP_SUCCESS;
    entry->user_data |= kQuietBit;
    --in_flight_;
  }

  // Entries queued and not yet taken by the kernel.
  unsigned queued() { return io_uring_sq_ready(&ring_); }

  // Whether the completion queue overflowed: the kernel holds completions it had no room
  // for, which flush() moves in as reap makes room.
  bool overflowed() const { return io_uring_cq_has_overflow(&ring_); }

  // Hands fn(user_data) each completion ready now of an entry that complete_quietly made
  // quiet (a failure), without taking any off the ring.
  template <typename Fn>
  void peek_quiet_failures(Fn&& fn) {
    screen();
    unsigned head = 0;
    io_uring_cqe* completion = nullptr;
    io_uring_for_each_cqe(&ring_, head, completion) {
      const std::uint64_t user_data = io_uring_cqe_get_data64(completion);
      if (user_data != kScreenedOut && (user_data & kQuietBit) != 0) fn(user_data & ~kQuietBit);
    }
  }

  // Hands each completion ready now to fn(user_data, result), in the order the kernel posted
  // them (user_data with kQuietBit for a quiet entry's failure). They are taken off the ring before
  // fn runs, so fn may queue new entries.
  template <typename Fn>
  void reap(Fn&& fn) {
    while (true) {
      std::array<io_uring_cqe*, 64> ready{};
      const unsigned count = io_uring_peek_batch_cqe(&ring_, ready.data(), ready.size());
      if (count == 0) return;
      screen();  // after the peek, which may have moved overflowed completions in
      std::array<std::pair<std::uint64_t, int>, 64> taken{};
      unsigned kept = 0;
      for (unsigned i = 0; i < count; ++i) {
        const std::uint64_t user_data = io_uring_cqe_get_data64(ready[i]);
        if (user_data == kScreenedOut) continue;
        taken[kept++] = {user_data, ready[i]->res};
        if ((user_data & kQuietBit) == 0) --in_flight_;
      }
      io_uring_cq_advance(&ring_, count);
      for (unsigned i = 0; i < kept; ++i)
        fn(taken[i].first, taken[i].second);
    }
  }

  // Like submit_and_wait, but gives up after `timeout_ms` with -ETIME.
  int submit_and_wait_ms(unsigned count, unsigned timeout_ms) {
    ++submissions_;
    __kernel_timespec timeout{};
    timeout.tv_sec = timeout_ms / 1000;
    timeout.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1'000'000;
    io_uring_cqe* first = nullptr;
    const int result = io_uring_submit_and_wait_timeout(&ring_, &first, count, &timeout, nullptr);
    return result < 0 ? result : 0;
  }

  // Runs the completions the kernel has ready to run, without waiting: 0 or a negative
  // errno.
  int flush() {
    const int result = io_uring_get_events(&ring_);
    return result < 0 ? result : 0;
  }

  // Operations submitted (or queued) whose completion was not reaped yet.
  std::uint64_t in_flight() const { return in_flight_; }

 private:
  // A user_data no operation has (the loop's tags never have all four kind bits set): a
  // completion the drop fault took, left in the queue for reap to pass over.
  static constexpr std::uint64_t kScreenedOut = ~std::uint64_t{0};

  // Asks the drop fault about the completions not yet asked about, once each, and marks the
  // ones it drops (the completion queue is the process's memory as well as the kernel's).
  void screen() {
    if (!drop_fault_) return;
    const unsigned tail = io_uring_smp_load_acquire(ring_.cq.ktail);
    unsigned at = *ring_.cq.khead;
    if (static_cast<int>(screened_to_ - at) > 0) at = screened_to_;  // wraps like the ring
    for (; at != tail; ++at) {
      io_uring_cqe& completion = ring_.cq.cqes[at & *ring_.cq.kring_mask];
      if (drop_fault_(completion.user_data)) {
        completion.user_data = kScreenedOut;
        ++injected_drops_;
      }
    }
    screened_to_ = tail;
  }

  // A free submission entry, submitting the queued ones first if none is free. The kernel
  // takes every queued entry in one call (SUBMIT_ALL) unless the call itself fails: short of
  // memory (EAGAIN, ENOMEM) it is tried again after a pause, which blocks this loop as the
  // kernel does; any other error means the ring is misused (EEXIST: another thread
  // submitted to this single issuer's ring), a broken invariant that ends the process
  // rather than spin or lose the entry.
  io_uring_sqe* free_entry() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    while (entry == nullptr) {
      if (const int taken = submit(); taken < 0 && taken != -EINTR) {
        if (taken != -EAGAIN && taken != -ENOMEM) {
          std::fprintf(stderr, "weft: io_uring_enter refused a submission: %s\n",
                       std::strerror(-taken));
          std::abort();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      entry = io_uring_get_sqe(&ring_);
    }
    return entry;
  }

  io_uring ring_{};
  bool open_ = false;
  std::uint64_t in_flight_ = 0;
  std::uint64_t submissions_ = 0;
  std::function<int()> wait_fault_;
  std::function<bool(std::uint64_t)> drop_fault_;
  std::uint64_t injected_drops_ = 0;
  unsigned screened_to_ = 0;  // completions before this index were asked about
};

}  // namespace weft::io
