// The marks that close a handle to its writers: one bit per kind of call that sets one
// (StreamSession's close/fail and waiting cancel, an object stream's or bundle's fin and
// stop). Each call that could not hand its command to the loop takes back its own bit only,
// so it never reopens a handle that another call closed meanwhile on another thread.
#pragma once

#include <atomic>
#include <utility>

#include "weft/errors.hpp"

namespace weft::io {

class ClosingMarks {
 public:
  // Any mark set: writes are refused (stream_closed).
  bool any() const { return bits_.load() != 0; }

  // An end that may be called once (fin, close, fail): sets `mark` only when no mark is set
  // (else stream_closed, and `post` does not run), then runs `post`; when `post` did not hand
  // the command over (its result not ok), the mark is taken back and the call may be retried.
  template <typename Post>
  Errc end_once(unsigned mark, Post&& post) {
    unsigned open = 0;
    if (!bits_.compare_exchange_strong(open, mark)) return Errc::stream_closed;
    const Errc posted = std::forward<Post>(post)();
    if (posted != Errc::ok) bits_.fetch_and(~mark);
    return posted;
  }

  // A close that wins over the others (stop): sets `mark` whatever is set, then runs `post`;
  // when `post` did not hand the command over, the mark is taken back unless an earlier call
  // had set it.
  template <typename Post>
  Errc close_now(unsigned mark, Post&& post) {
    const bool set_before = (bits_.fetch_or(mark) & mark) != 0;
    const Errc posted = std::forward<Post>(post)();
    if (posted != Errc::ok && !set_before) bits_.fetch_and(~mark);
    return posted;
  }

  // Sets `mark` for good (a cancel waiting for on_message to return).
  void set(unsigned mark) { bits_.fetch_or(mark); }

 private:
  std::atomic<unsigned> bits_{0};
};

}  // namespace weft::io
