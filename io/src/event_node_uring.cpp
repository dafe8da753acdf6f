// EventNode::Impl on an io_uring (LoopBackend::io_uring): the loop posts operations and
// waits for their completions in one io_uring_enter a turn. Each connection keeps a receive
// posted; a turn's small output goes as a send operation, submitted with the next receive
// by that same call. An epoll loop makes three calls a turn for the same work (wait, recv,
// send). Everything above the sockets (the core, TLS, handles) is the libevent loop's code.
//
// Buffers an operation names live until its completion is reaped, also when the socket
// closed first: closing cancels the posted operations and parks the buffers in
// retired_ring_sockets until the last completion comes.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

#include "event_node_impl.hpp"

namespace weft::io {
namespace {

// An operation's user_data: the transport and the kind; for the loop's own operations,
// kOwnBit and the generation they were posted in (ring_recover_dropped posts them again in
// the next, and a completion of an older one is passed over).
enum Kind : std::uint64_t {
  kReceive = 0,
  kSend = 1,
  kPollOut = 2,  // writable again, or the connect finished
  kWake = 3,     // the eventfd of posted commands
  kTimer = 4,    // the timerfd of the core's deadlines
  kListen = 5,   // a connection waits on the listener
  kAcceptResume = 6,
  kCancel = 7,  // a cancellation's own completion (nothing to do)
  // The cancellation of a closed socket's receive, send or poll_out (ring_retire): each
  // kind's own, so its result can tell an operation whose completion was dropped.
  kCancelReceive = 8,
  kCancelSend = 9,
  kCancelPollOut = 10,
};
constexpr unsigned kKindBits = 4;
// cancel_of and canceled_kind map the three kinds a socket posts onto their cancellations.
static_assert(kReceive == 0 && kSend == 1 && kPollOut == 2 &&
              kCancelPollOut - kCancelReceive == kPollOut && kCancelPollOut < (1U << kKindBits));
constexpr std::uint64_t kOwnBit = std::uint64_t{1} << 62;

std::uint64_t tag(TransportId transport, Kind kind) {
  return transport << kKindBits | kind;
}
std::uint64_t own_tag(std::uint64_t generation, Kind kind) {
  return kOwnBit | generation << kKindBits | kind;
}
Kind kind_of(std::uint64_t user_data) {
  return static_cast<Kind>(user_data & ((1U << kKindBits) - 1));
}
// What EventNodeOptions::uring_completion_fault is told a completion is.
std::string_view operation_name(std::uint64_t user_data) {
  if ((user_data & kOwnBit) == 0) {
    switch (kind_of(user_data & ~Ring::kQuietBit)) {
      case kReceive:
        return "receive";
      case kSend:
        return (user_data & Ring::kQuietBit) != 0 ? "quiet_send" : "send";
      case kPollOut:
        return "poll_out";
      case kCancelReceive:
      case kCancelSend:
      case kCancelPollOut:
        return "cancel";
      default:
        return "unknown";
    }
  }
  switch (kind_of(user_data)) {
    case kWake:
      return "wake";
    case kTimer:
      return "timer";
    case kListen:
      return "listen";
    case kAcceptResume:
      return "accept_resume";
    case kCancel:
      return "cancel";
    default:
      return "unknown";
  }
}
// Whether a socket's operation of `kind` (kReceive, kSend or kPollOut) is posted.
bool& posted(RingSocket& state, Kind kind) {
  return kind == kReceive ? state.receiving : kind == kSend ? state.sending : state.polling_out;
}
// The kind of a socket's cancellation of an operation of `kind`, and back.
Kind cancel_of(Kind kind) {
  return static_cast<Kind>(kCancelReceive + kind);
}
bool is_socket_cancel(Kind kind) {
  return kind >= kCancelReceive && kind <= kCancelPollOut;
}
Kind canceled_kind(Kind cancel) {
  return static_cast<Kind>(cancel - kCancelReceive);
}

// Entries of the submission queue: a connection posts two at a time at most (a receive and
// a send), and a full queue is submitted early. The completion queue holds every operation
// that can be posted at once without overflowing into the kernel's backlog for long.
constexpr unsigned kSubmissionEntries = 256;
constexpr unsigned kCompletionEntries = 4096;

}  // namespace

std::optional<std::string> loop_backend_unavailable(LoopBackend backend) {
  if (backend == LoopBackend::libevent) return std::nullopt;
  // On a thread of its own: the kernel finishes tearing a ring down later, and may then
  // interrupt a blocking call of the thread that made it (EINTR), which must not be the
  // caller's.
  int made = 0;
  try {
    std::thread([&made] {
      Ring probe;
      made = probe.open(4, 8);
    }).join();
  } catch (const std::system_error& error) {
    return std::string("io_uring: no thread to probe it: ") + error.what();
  }
  if (made < 0) {
    return "io_uring: " + errno_text(-made) +
           (made == -EPERM ? " (kernel.io_uring_disabled, or a seccomp policy)" : "") +
           (made == -EINVAL ? " (IORING_SETUP_DEFER_TASKRUN needs Linux 6.1)" : "");
  }
  return std::nullopt;
}

int EventNode::Impl::open_ring() {
  auto made = std::make_unique<Ring>();
  if (const int error = made->open(kSubmissionEntries, kCompletionEntries); error < 0) {
    return error;
  }
  made->set_wait_fault(options.uring_wait_fault);
  if (options.uring_completion_fault) {
    made->set_drop_fault([&fault = options.uring_completion_fault](std::uint64_t user_data) {
      return fault(operation_name(user_data));
    });
  }
  ring = std::move(made);
  return 0;
}

void EventNode::Impl::run_ring() {
  ring_poll_own(wake_fd, kWake);
  ring_poll_own(timer_fd, kTimer);
  ring_poll_listener();
  ring_drops_seen = ring->dropped();
  while (!stopping) {
    // Quiet sends left from a turn whose submission failed: this one submits them and does
    // not sleep, since their sockets' output may wait for their confirmation.
    const unsigned wait_for = ring_quiet.empty() ? 1 : 0;
    ring_quiet_sends();
    const std::uint64_t dropped_before = ring->dropped();
    const int waited = ring->submit_and_wait(wait_for);
    // Whether the kernel took every entry, the quiet sends with them (a failed
    // io_uring_enter may leave them queued); the reap queues new ones. Until it did, the
    // closed sockets' descriptors stay open: a queued entry still names them.
    const bool submitted = ring->queued() == 0;
    if (submitted) ring_close_submitted();
    ring_wait_outcome(waited);
    const auto completed = [this](std::uint64_t user_data, int result) {
      ring_completed(user_data, result);
    };
    if (submitted && !ring_quiet.empty()) {
      // A quiet send completed within the submission: if it failed, its completion is in
      // the queue now, unless the queue overflowed (then completions are handled first,
      // and the kernel's held ones moved in, until every one is in sight; a socket closing
      // among them does not send its last bytes), or the kernel dropped one (then nothing
      // is known of any: their connections end).
      while (ring->overflowed()) {
        ring->reap(completed);
        if (ring->flush() < 0) break;
      }
      ring_confirm_quiet_sends(dropped_before);
    }
    ring->reap(completed);
    if (ring_socket_writable) {
      // A full socket has room again. The wait may have ended on that alone, with an
      // answer that came in meanwhile still to be completed (the kernel runs only as many
      // completions as the wait asked for): complete what is ready and read it first.
      ring_socket_writable = false;
      ring->flush();
      ring->reap(completed);
    }
    if (ring->dropped() != ring_drops_seen) ring_recover_dropped();
    // Writes after the turn's reads, as the libevent loop does: what the input made goes
    // out ahead of the bulk the writes carry.
    std::vector<TransportId> writable;
    writable.swap(ring_writable);
    for (const TransportId transport : writable)
      write_out(transport);
    if (!writable.empty()) after_input();
  }
  ring_drain();
}

void EventNode::Impl::ring_wait_outcome(int waited) {
  // EBADR: the kernel dropped completions since the last wait (it says so once, Linux 6.1
  // on); the turn's look at Ring::dropped() recovers from that (ring_recover_dropped).
  if (waited == 0 || waited == -EINTR || waited == -EBADR) {
    if (ring_failed_waits > 0) {
      log(LogLevel::warning, "io_uring_enter works again, after " +
                                 std::to_string(ring_failed_waits) + " failed waits");
    }
    ring_failed_waits = 0;
    return;
  }
  // Not expected from a ring this loop made: the kernel short of memory (EAGAIN, ENOMEM),
  // or completions not reaped fast enough (EBUSY). The turn goes on, reaping what completed,
  // so nothing is lost. A failure that persists is logged once, and pauses each turn rather
  // than spin the core; its end is logged with the count.
  if (ring_failed_waits++ == 0) {
    log(LogLevel::error,
        "io_uring_enter: " + errno_text(-waited) + "; the loop retries every 1 ms until it works");
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void EventNode::Impl::ring_quiet_sends() {
  // A send posted this turn completes within the submission (ring_post_send), and its
  // completion alone would end the wait at once: a second call would then wait for the
  // next input (a request's answer, the next request), one system call more a turn. So a
  // send with nothing waiting behind it in the core completes quietly: only a failure has a
  // completion (a full socket that refused it, or cut it short: MSG_WAITALL makes that a
  // failure too), which ends the wait so the loop posts the rest; its success is known once
  // the wait submitted it (ring_confirm_quiet_sends). A send with more output behind it
  // keeps its completion, which ends the wait and lets the next bytes go. One already
  // submitted (a full submission queue went early) keeps it too.
  for (const TransportId transport : ring_sends_posted) {
    const auto found = sockets.find(transport);
    if (found == sockets.end() || !found->second.ring) continue;
    RingSocket& state = *found->second.ring;
    state.listed = false;
    if (!state.sending || state.queued_send == nullptr || state.queued_at != ring->submissions() ||
        !node->pending_output(transport).empty()) {
      continue;
    }
    ring->complete_quietly(state.queued_send);
    state.quiet_pending = true;
    ring_quiet.push_back(transport);
  }
  ring_sends_posted.clear();
}

void EventNode::Impl::ring_confirm_quiet_sends(std::uint64_t dropped_before) {
  // Confirmed before the completions are handled, so that a socket closing among them
  // knows its last send went whole (ring_send_final).
  std::vector<TransportId> failed;
  ring->peek_quiet_failures(
      [&failed](std::uint64_t user_data) { failed.push_back(user_data >> kKindBits); });
  // Read after the peek, which saw every completion there is (the drop fault too).
  const bool completions_dropped = ring->dropped() != dropped_before;
  std::vector<TransportId> quiet;
  quiet.swap(ring_quiet);
  bool ended = false;
  for (const TransportId transport : quiet) {
    // A failure is handled in its turn by ring_sent.
    if (std::find(failed.begin(), failed.end(), transport) != failed.end()) continue;
    // Still quiet, so no failure ended it: it sent everything. (Overflowed completions
    // handled before may have ended it.)
    if (const auto found = sockets.find(transport); found != sockets.end() && found->second.ring) {
      const RingSocket& state = *found->second.ring;
      if (!state.quiet_pending) continue;
      if (completions_dropped) {
        transport_failed(transport, "io_uring: the kernel dropped completions");
        ended = true;
      } else {
        ring_sent(transport, static_cast<int>(state.send_buffer.size() - state.send_offset), true);
      }
      continue;
    }
    const auto retired = retired_ring_sockets.find(transport);
    if (retired == retired_ring_sockets.end() || !retired->second->quiet_pending) continue;
    retired->second->quiet_pending = false;
    retired->second->sending = false;
    if (!retired->second->in_flight()) retired_ring_sockets.erase(retired);
  }
  if (ended) after_input();
}

void EventNode::Impl::ring_recover_dropped() {
  // The kernel dropped completions: it had no room for them even in its overflow list (an
  // allocation failed while the completion queue was full). Their operations are over, but
  // which ones is not known, and a connection whose receive or send never completes would
  // stall for good, a lost wake-up poll would leave commands (stop() among them) unread.
  // So every connection with an operation posted ends (the core redials or is redialed,
  // as after any failure), and the loop's own waits are canceled and posted again: their
  // descriptors are still ready if what was dropped was their completion, so nothing they
  // signal is lost.
  const std::uint64_t dropped = ring->dropped() - ring_drops_seen;
  ring_drops_seen = ring->dropped();
  io_counters.uring_completions_dropped += dropped;
  std::vector<TransportId> stalled;
  for (const auto& [transport, socket] : sockets) {
    if (socket.ring && socket.ring->in_flight()) stalled.push_back(transport);
  }
  log(LogLevel::error, "io_uring: the kernel dropped " + std::to_string(dropped) +
                           " completions (its completion queue was full and it had no memory "
                           "for more); " +
                           std::to_string(stalled.size()) +
                           " connections with an operation posted end, and the loop's own "
                           "waits are posted again");
  // A closed socket waits for its operations' completions, which may be among those
  // dropped: each still marked posted is canceled again, and a cancellation that finds
  // nothing (ENOENT) frees it (ring_retired_done). First: those the loop below closes are
  // canceled once, as they close.
  for (const auto& [transport, parked] : retired_ring_sockets)
    ring_cancel_posted(transport, *parked);
  const std::string reason = "io_uring: the kernel dropped completions";
  for (const TransportId transport : stalled) {
    const auto found = sockets.find(transport);
    if (found == sockets.end()) continue;
    if (!found->second.connecting) {
      transport_failed(transport, reason);
      continue;
    }
    // A dial under way (its connect completes as a poll_out) fails as a dial, as libevent
    // reports a connect that fails: a connect failure, not a connection gone down.
    close_socket(transport);
    node->on_connect_failed(fresh_now(), transport, reason);
  }
  const std::uint64_t previous = ring_own_generation++;
  for (const Kind kind : {kWake, kTimer, kListen, kAcceptResume}) {
    io_uring_sqe* cancel = ring->next(own_tag(ring_own_generation, kCancel));
    io_uring_prep_cancel64(cancel, own_tag(previous, kind), IORING_ASYNC_CANCEL_ALL);
  }
  if (!stopping) {
    ring_poll_own(wake_fd, kWake);
    ring_poll_own(timer_fd, kTimer);
    if (ring_accept_paused) {
      ring_pause_accepting();
    } else {
      ring_poll_listener();
    }
  }
  after_input();
}

void EventNode::Impl::ring_close_submitted() {
  if (ring_closing.empty()) return;
  // The submission just made took every entry naming these descriptors (SUBMIT_ALL); the
  // kernel holds its own reference to the socket of any still posted.
  std::vector<int> closing;
  closing.swap(ring_closing);
  for (const int fd : closing)
    ::close(fd);
}

void EventNode::Impl::ring_drain() {
  for (auto& [transport, socket] : sockets) {  // none after shutdown; any left park here
    if (socket.ring) ring_retire(transport, socket);
  }
  io_uring_sqe* cancel = ring->next(own_tag(ring_own_generation, kCancel));
  io_uring_prep_cancel64(cancel, 0, IORING_ASYNC_CANCEL_ANY);
  ring->submit();
  if (ring->queued() == 0) ring_close_submitted();
  // Every operation is a receive, a send or a wait: each ends as soon as it is canceled.
  // Once the kernel dropped a completion, in_flight() counts operations that ended
  // unseen: the drain stops when nothing completes for kDrainQuietMs.
  // A wait that fails for a while (the kernel short of memory, EAGAIN or ENOMEM; completions
  // not reaped fast enough, EBUSY) or is interrupted (EINTR, EBADR) is retried 1 ms apart
  // (as the loop retries failures) until such waits have gone on for as long with nothing
  // completed: closing the ring with operations in flight would free the buffers they name
  // while the kernel may still be writing into them. A wait that works starts it again.
  constexpr unsigned kDrainQuietMs = 1000;
  constexpr auto kDrainPatience = std::chrono::milliseconds(kDrainQuietMs);
  unsigned failed_waits = 0;  // temporary failures since the last wait that worked
  unsigned idle_waits = 0;    // waits failed or interrupted, nothing completed, in a row
  std::chrono::steady_clock::time_point idle_since;  // the first of those
  while (ring->in_flight() > 0) {
    const bool counted_whole = ring->dropped() == 0;
    const int waited =
        counted_whole ? ring->submit_and_wait(1) : ring->submit_and_wait_ms(1, kDrainQuietMs);
    const bool temporary = waited == -EAGAIN || waited == -ENOMEM || waited == -EBUSY;
    const bool interrupted = waited == -EINTR || waited == -EBADR;
    if (waited < 0 && !temporary && !interrupted && waited != -ETIME) break;
    bool reaped = false;
    ring->reap([this, &reaped](std::uint64_t user_data, int result) {
      reaped = true;
      ring_retired_done(user_data & ~Ring::kQuietBit, result);
    });
    if (temporary) {
      ++failed_waits;
    } else if (failed_waits > 0 && waited >= 0) {
      log(LogLevel::warning, "io_uring_enter works again while the ring drains, after " +
                                 std::to_string(failed_waits) + " failed waits");
      failed_waits = 0;
    }
    if (waited == -ETIME && !reaped) {
      log(LogLevel::warning, "io_uring: " + std::to_string(ring->in_flight()) +
                                 " operations never completed (their completions were "
                                 "dropped); the ring closes without them");
      break;
    }
    if (waited >= 0 || reaped) {
      idle_waits = 0;
      continue;
    }
    if (idle_waits++ == 0) idle_since = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - idle_since >= kDrainPatience) {
      log(LogLevel::error, "io_uring: nothing completed for " + std::to_string(kDrainQuietMs) +
                               " ms while the ring drained (" + std::to_string(idle_waits) +
                               " waits in a row failed or were interrupted, the last with " +
                               errno_text(-waited) + "); it closes with " +
                               std::to_string(ring->in_flight()) + " operations in flight");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ring.reset();            // on the thread that made it
  ring_close_submitted();  // any left: no ring names them now
}

void EventNode::Impl::ring_completed(std::uint64_t tagged, int result) {
  const bool quiet = (tagged & Ring::kQuietBit) != 0;
  const std::uint64_t user_data = tagged & ~Ring::kQuietBit;
  const TransportId transport = user_data >> kKindBits;
  const Kind kind = kind_of(user_data);
  if ((user_data & kOwnBit) != 0) {
    // One posted before the last recovery from dropped completions: canceled then, and
    // its successor is posted.
    if (((user_data & ~kOwnBit) >> kKindBits) != ring_own_generation) return;
    switch (kind) {
      case kWake: {
        std::uint64_t count = 0;  // read to clear the eventfd's readiness
        [[maybe_unused]] const ssize_t got = ::read(wake_fd, &count, sizeof count);
        woken();
        if (!stopping) ring_poll_own(wake_fd, kWake);
        return;
      }
      case kTimer: {
        std::uint64_t expirations = 0;
        const ssize_t got = ::read(timer_fd, &expirations, sizeof expirations);
        if (stopping) return;
        ring_poll_own(timer_fd, kTimer);
        if (got > 0) timer_fired();  // else it fired early and was set again meanwhile
        return;
      }
      case kListen:
        if (ring_accept_paused || stopping) return;
        accept_waiting();
        if (!ring_accept_paused) ring_poll_listener();
        return;
      case kAcceptResume:
        ring_accept_paused = false;
        if (!stopping) ring_poll_listener();
        return;
      default:
        return;  // kCancel
    }
  }
  const auto found = sockets.find(transport);
  if (found == sockets.end() || !found->second.ring || is_socket_cancel(kind)) {
    return ring_retired_done(user_data, result);
  }
  if (kind == kReceive) return ring_received(transport, result);
  if (kind == kSend) {
    if (quiet) ++io_counters.uring_quiet_sends_failed;  // only a failure has a completion
    return ring_sent(transport, result, quiet);
  }
  return ring_writable_now(transport, result);
}

void EventNode::Impl::ring_retired_done(std::uint64_t user_data, int result) {
  // The socket closed: its operation ended (canceled, or done first); its buffers are freed
  // once none is posted.
  Kind kind = kind_of(user_data);
  if (is_socket_cancel(kind)) {
    // Nothing to cancel (ENOENT): the operation had ended. Had its completion come, it
    // would have come before this one (completions are posted in order, overflowed ones
    // too) and cleared its mark; a mark still set is an operation whose completion the
    // kernel dropped, which would otherwise park the socket and its buffers until stop().
    // (0: canceled, its own completion comes; EALREADY: running, it completes on its own.)
    if (result != -ENOENT) return;
    kind = canceled_kind(kind);
  }
  const auto retired = retired_ring_sockets.find(user_data >> kKindBits);
  if (retired == retired_ring_sockets.end()) return;
  RingSocket& parked = *retired->second;
  posted(parked, kind) = false;
  if (!parked.in_flight()) retired_ring_sockets.erase(retired);
}

// ---- sockets ----

void EventNode::Impl::ring_add_socket(TransportId transport, Socket& socket) {
  socket.ring = std::make_unique<RingSocket>();
  ring_size_receive_buffer(*socket.ring,
                           std::min(RingSocket::kFirstReceiveBytes, options.read_buffer_bytes));
  if (socket.connecting) {
    socket.write_armed = true;
    return ring_poll_out(transport, socket);
  }
  ring_receive(transport, socket);
}

void EventNode::Impl::ring_size_receive_buffer(RingSocket& state, std::size_t bytes) {
  const std::size_t rounded = (bytes + 4095) / 4096 * 4096;  // aligned_alloc wants a multiple
  auto* memory = static_cast<std::uint8_t*>(std::aligned_alloc(4096, rounded));
  if (memory == nullptr) {
    if (state.receive_buffer) return;  // the one it has still serves
    throw std::bad_alloc();
  }
  state.receive_buffer.reset(memory);
  state.receive_capacity = rounded;
}

void EventNode::Impl::ring_fit_receive_buffer(RingSocket& state, bool tls, std::size_t received,
                                              bool filled) {
  // No receive is posted now: the buffer may be replaced. Under TLS no receive is ever
  // offered more than the session takes, so the buffer grows no larger.
  const std::size_t largest =
      tls ? std::min(options.read_buffer_bytes, options.tls_limits.max_ciphertext_in_bytes)
          : options.read_buffer_bytes;
  // Before the handshake completed, a stranger's receives never grow it.
  if (filled && state.authenticated && state.receive_capacity < largest) {
    state.small_receives = 0;
    return ring_size_receive_buffer(state, largest);
  }
  // A receive offered less than the buffer (a TLS session's room) says nothing of the
  // traffic: only receives offered the whole buffer count.
  if (state.posted_receive_bytes < state.receive_capacity) return;
  if (state.receive_capacity <= RingSocket::kFirstReceiveBytes ||
      received >= RingSocket::kFirstReceiveBytes) {
    state.small_receives = 0;
    return;
  }
  if (++state.small_receives < RingSocket::kShrinkAfterSmallReceives) return;
  state.small_receives = 0;
  ring_size_receive_buffer(state, RingSocket::kFirstReceiveBytes);
}

std::size_t EventNode::Impl::ring_receive_buffer_bytes() const {
  std::size_t total = 0;
  for (const auto& [transport, socket] : sockets) {
    if (socket.ring) total += socket.ring->receive_capacity;
  }
  for (const auto& [transport, parked] : retired_ring_sockets)
    total += parked->receive_capacity;
  return total;
}

void EventNode::Impl::ring_send_final(Socket& socket, Bytes final_bytes) {
  RingSocket& state = *socket.ring;
  if (state.sending) {
    // Submitted: the kernel has done it, but how much it sent is not known yet, so nothing
    // may follow it (the peer sees the connection end, never bytes out of order).
    if (state.queued_send == nullptr || state.queued_at != ring->submissions()) return;
    // Still queued: it becomes a NOP (whose completion still frees the buffers), and its
    // bytes go now, in order, ahead of the last ones.
    io_uring_prep_nop(state.queued_send);
    state.queued_send = nullptr;
  }
  const std::size_t left = state.send_buffer.size() - state.send_offset;
  if (left > 0) {
    const ssize_t sent = ::send(socket.fd, state.send_buffer.data() + state.send_offset, left,
                                MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 || static_cast<std::size_t>(sent) < left) return;  // the rest cannot follow
  }
  send_best_effort(socket.fd, final_bytes);
}

void EventNode::Impl::ring_cancel_posted(TransportId transport, RingSocket& state) {
  for (const Kind kind : {kReceive, kSend, kPollOut}) {
    if (!posted(state, kind)) continue;
    io_uring_sqe* cancel = ring->next(tag(transport, cancel_of(kind)));
    io_uring_prep_cancel64(cancel, tag(transport, kind), 0);
  }
}

void EventNode::Impl::ring_retire(TransportId transport, Socket& socket) {
  RingSocket& state = *socket.ring;
  ring_cancel_posted(transport, state);
  if (state.in_flight()) retired_ring_sockets.emplace(transport, std::move(socket.ring));
  socket.ring.reset();
}

void EventNode::Impl::ring_receive(TransportId transport, Socket& socket) {
  RingSocket& state = *socket.ring;
  if (state.receiving) return;
  // Under TLS, no more than the session has room for (the kernel keeps the rest); before
  // the session is made (it starts once the connection is up), no more than a new one
  // takes. Nothing while the core holds all the input it takes: after_input posts it again.
  std::size_t room = state.receive_capacity;
  if (socket.tls) {
    room = std::min(room, socket.tls->room());
  } else if (tls_context) {
    room = std::min(room, options.tls_limits.max_ciphertext_in_bytes);
  }
  if (room == 0 || !node->accepting_input()) {
    ring_receive_waiters.push_back(transport);
    return;
  }
  io_uring_sqe* receive = ring->next(tag(transport, kReceive));
  io_uring_prep_recv(receive, socket.fd, state.receive_buffer.get(), room, 0);
  state.receiving = true;
  state.posted_receive_bytes = room;
}

void EventNode::Impl::ring_resume_receives() {
  std::vector<TransportId> waiting;
  waiting.swap(ring_receive_waiters);
  for (const TransportId transport : waiting) {
    const auto found = sockets.find(transport);
    if (found != sockets.end() && found->second.ring && !found->second.connecting) {
      ring_receive(transport, found->second);
    }
  }
}

void EventNode::Impl::ring_received(TransportId transport, int result) {
  Socket& socket = sockets.at(transport);
  socket.ring->receiving = false;
  const bool tls = socket.tls != nullptr;
  if (result > 0) {
    const Bytes bytes(socket.ring->receive_buffer.get(), static_cast<std::size_t>(result));
    const bool filled = static_cast<std::size_t>(result) == socket.ring->receive_capacity;
    if (!tls) {
      node->on_bytes(fresh_now(), transport, bytes);
    } else if (!receive_tls(transport, bytes)) {
      return after_input();  // the socket is gone (its TLS failed)
    }
    after_input();
    const auto still = sockets.find(transport);
    if (still == sockets.end() || !still->second.ring) return;
    ring_fit_receive_buffer(*still->second.ring, tls || tls_context != nullptr,
                            static_cast<std::size_t>(result), filled);
    return ring_receive(transport, still->second);
  }
  if (result == -EAGAIN || result == -EINTR) return ring_receive(transport, socket);
  if (result == 0 && tls) {
    tls_closed(transport);
  } else if (result == 0) {
    transport_failed(transport, "peer closed the connection");
  } else {
    transport_failed(transport, "read: " + errno_text(-result));
  }
  after_input();
}

bool EventNode::Impl::ring_send_copy(TransportId transport, Socket& socket) {
  RingSocket& state = *socket.ring;
  if (state.sending || socket.write_armed) return true;  // its completion writes the rest
  std::array<Bytes, 16> pieces;
  const std::size_t count = node->pending_output_pieces(transport, pieces);
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i)
    total += pieces[i].size();
  if (total == 0) return true;
  if (total > options.uring_send_copy_bytes) return false;
  state.send_buffer.resize(total);
  std::size_t at = 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::memcpy(state.send_buffer.data() + at, pieces[i].data(), pieces[i].size());
    at += pieces[i].size();
  }
  // The bytes are the socket's now, as if written: the core's output is free for the next.
  node->consume_output(transport, total);
  state.send_offset = 0;
  ring_post_send(transport, socket);
  return true;
}

void EventNode::Impl::ring_post_send(TransportId transport, Socket& socket) {
  RingSocket& state = *socket.ring;
  // Never waiting (MSG_DONTWAIT): the send completes within the submission, whatever room
  // the socket has, so its success is known once submitted (ring_quiet_sends). A full socket
  // answers EAGAIN, and the rest goes once it is writable. MSG_WAITALL makes a send the
  // socket cuts short fail as well (its result is still what it sent), so a quiet send that
  // did not send everything always has a completion.
  const std::size_t size = state.send_buffer.size() - state.send_offset;
  io_uring_sqe* send = ring->next(tag(transport, kSend));
  io_uring_prep_send(send, socket.fd, state.send_buffer.data() + state.send_offset, size,
                     MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
  state.queued_send = send;
  state.queued_at = ring->submissions();
  state.sending = true;
  if (!state.listed) ring_sends_posted.push_back(transport);
  state.listed = true;
}

void EventNode::Impl::ring_sent(TransportId transport, int result, bool quiet) {
  Socket& socket = sockets.at(transport);
  RingSocket& state = *socket.ring;
  if (!state.sending || quiet != state.quiet_pending) {
    // A quiet send's failure that was not in sight when its success was confirmed (not
    // expected): what went out is not known, so the connection cannot go on (the core
    // resumes on the next).
    transport_failed(transport, "io_uring: a send failed after it was taken as sent");
    return after_input();
  }
  state.quiet_pending = false;
  state.sending = false;
  state.queued_send = nullptr;
  if (result == -EAGAIN || result == -EINTR) result = 0;
  if (result < 0) {
    transport_failed(transport, "write: " + errno_text(-result));
    return after_input();
  }
  state.send_offset += static_cast<std::size_t>(result);
  if (state.send_offset < state.send_buffer.size()) {
    ++io_counters.uring_sends_cut;
    // The socket is full: the rest, in order, once it is writable (ring_writable_now).
    socket.write_armed = true;
    return ring_poll_out(transport, socket);
  }
  state.send_buffer.clear();
  state.send_offset = 0;
  ring_writable.push_back(transport);  // the core's output that waited behind it
}

void EventNode::Impl::ring_poll_out(TransportId transport, Socket& socket) {
  if (socket.ring->polling_out) return;
  io_uring_sqe* poll = ring->next(tag(transport, kPollOut));
  io_uring_prep_poll_add(poll, socket.fd, POLLOUT);
  socket.ring->polling_out = true;
}

void EventNode::Impl::ring_writable_now(TransportId transport, int result) {
  Socket& socket = sockets.at(transport);
  socket.ring->polling_out = false;
  if (socket.connecting) {
    finish_connect(transport);  // reads SO_ERROR, whatever the poll said
    return after_input();
  }
  if (!socket.write_armed) return;  // nothing waits for it any more
  if (result < 0 && result != -ECANCELED) {
    transport_failed(transport, "write: " + errno_text(-result));
    return after_input();
  }
  socket.write_armed = false;  // write_out arms it again if the socket is still full
  ring_socket_writable = true;
  if (socket.ring->send_offset < socket.ring->send_buffer.size()) {
    return ring_post_send(transport, socket);  // the rest of a send the full socket cut short
  }
  ring_writable.push_back(transport);
}

// ---- the loop's own ----

void EventNode::Impl::ring_poll_own(int fd, std::uint64_t kind) {
  // A poll, then a read of its own: a timerfd is read asynchronously by io_uring only since
  // Linux 6.10 (before, the ring's read fails at once with EAGAIN).
  io_uring_sqe* poll = ring->next(own_tag(ring_own_generation, static_cast<Kind>(kind)));
  io_uring_prep_poll_add(poll, fd, POLLIN);
}

void EventNode::Impl::ring_poll_listener() {
  io_uring_sqe* poll = ring->next(own_tag(ring_own_generation, kListen));
  io_uring_prep_poll_add(poll, listen_fd, POLLIN);
}

void EventNode::Impl::ring_pause_accepting() {
  ring_accept_paused = true;
  ring_accept_pause.tv_sec = options.accept_pause_ms / 1000;
  ring_accept_pause.tv_nsec = options.accept_pause_ms % 1000 * 1'000'000;
  io_uring_sqe* timeout = ring->next(own_tag(ring_own_generation, kAcceptResume));
  io_uring_prep_timeout(timeout, &ring_accept_pause, 0, 0);
}

}  // namespace weft::io
