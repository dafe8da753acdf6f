// Internal to weft_io: what the libevent adapter's sources share. The clock and errno
// helpers, the states behind Responder, CallHandle and StreamSession, and EventNode::Impl.
// Impl's member functions live in event_node_loop.cpp (command queue, timer, sockets,
// connect, accept, read and write, shutdown) and event_node_calls.cpp (events from the
// core: peer changes, requests and responders, stream sessions); EventNode's own methods
// and the public handles are in event_node.cpp.
#pragma once

#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>  // explicit_bzero

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "closing_marks.hpp"
#include "metrics_http.hpp"
#include "object_states.hpp"
#include "uring.hpp"
#include "weft/io/event_node.hpp"
#include "weft/io/line_throttle.hpp"
#include "weft/io/tls_transport.hpp"
#include "weft/message_queue.hpp"

namespace weft::io {

// Overwrites `config`'s nonce key with zeros and resets it (the node's own copy is in the
// core, which wipes it when the node goes).
inline void wipe_nonce_key(NodeConfig& config) {
  if (config.nonce_key) explicit_bzero(config.nonce_key->data(), config.nonce_key->size());
  config.nonce_key.reset();
}

inline TimeNs monotonic_now_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<TimeNs>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

inline std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// `host` (a numeric IPv4 address or a name) and `port` as an address; false when it does
// not resolve (event_node.cpp).
bool resolve(const std::string& host, std::uint16_t port, sockaddr_in& out);

inline std::string errno_text(int error) {
  return std::strerror(error);
}

// Frees a libevent event on scope exit.
struct EventDeleter {
  void operator()(::event* ev) const {
    if (ev != nullptr) event_free(ev);
  }
};
using EventPtr = std::unique_ptr<::event, EventDeleter>;

// What a socket has with the kernel under LoopBackend::io_uring (event_node_uring.cpp): its
// buffers stay alive until every operation that names them has completed, also after the
// socket closed (EventNode::Impl::retired_ring_sockets).
struct RingSocket {
  struct FreeDeleter {
    void operator()(void* memory) const { std::free(memory); }
  };
  // Page-aligned; kFirstReceiveBytes at first and until the peer proved who it is (a
  // connection that never gets past its hello costs little, however it fills its
  // receives), read_buffer_bytes once a receive fills it after that (under TLS no more than
  // tls_limits.max_ciphertext_in_bytes, the most a receive is offered), kFirstReceiveBytes again
  // after kShrinkAfterSmallReceives receives in a row of less than that (a connection whose
  // bulk ended gives the memory back; ring_fit_receive_buffer).
  std::unique_ptr<std::uint8_t, FreeDeleter> receive_buffer;
  std::size_t receive_capacity = 0;
  static constexpr std::size_t kFirstReceiveBytes = 16 * 1024;
  static constexpr std::uint32_t kShrinkAfterSmallReceives = 64;
  std::size_t posted_receive_bytes = 0;   // what the last receive posted offered
  std::uint32_t small_receives = 0;       // in a row, while the buffer is the large one
  std::vector<std::uint8_t> send_buffer;  // the output a send operation carries
  std::size_t send_offset = 0;            // of it already sent (a short send goes on from there)
  bool receiving = false;                 // a receive is posted
  bool sending = false;                   // a send is posted
  bool polling_out = false;               // a wait for writability (or the connect) is posted
  // The send while still in the submission queue (queued_at == Ring::submissions()).
  io_uring_sqe* queued_send = nullptr;
  std::uint64_t queued_at = 0;
  bool quiet_pending = false;  // the send posted completes quietly, not yet confirmed
  bool listed = false;         // in ring_sends_posted
  bool authenticated = false;  // its handshake completed (PeerUp): the buffer may grow
  bool in_flight() const { return receiving || sending || polling_out; }
};

// The metrics endpoint's own thread, for a node on an io_uring loop (event_node_metrics.cpp).
class MetricsThread;
struct MetricsThreadDeleter {
  void operator()(MetricsThread* thread) const;
};

// ---- shared states ----------------------------------------------------------------------

// While the loop thread runs callbacks that hold a state shared with the application
// (CallbackScope): that thread's id and its node, so that a call from there finds the node
// without locking the state's weak pointer to it (a locked read-modify-write, and its
// release, per message or answer). Only the loop thread writes it; `node` is read only by
// the thread `thread` names, which is that thread.
struct CallbackNote {
  std::atomic<std::thread::id> thread{};
  EventNode::Impl* node = nullptr;
};

struct Responder::State {
  std::weak_ptr<EventNode::Impl> node;
  PeerId peer = 0;
  InboundId id;
  std::atomic<bool> answered{false};  // any thread: the first answer() sets it
  std::atomic<bool> ended{false};     // written on the loop thread only, read by any
  CallbackNote in_callback;           // an answer from the request's handler finds the node
};

struct CallHandle::State {
  std::weak_ptr<EventNode::Impl> node;
  // Set before the reply callback runs (or when the call could not start): cancel() is
  // then not_found.
  std::atomic<bool> ended{false};
  // Loop thread only.
  std::optional<std::pair<PeerId, RequestId>> call;
};

struct StreamSession::State : std::enable_shared_from_this<StreamSession::State> {
  std::weak_ptr<EventNode::Impl> node;
  PeerId peer = 0;
  std::optional<StreamId> id;  // loop thread: set once the stream exists in the core
  StreamCallbacks callbacks;
  std::atomic<bool> ended{false};
  // Why writes, close() and fail() are refused (stream_closed): close() or fail() was called
  // (kEndCalled), a cancel waits for on_message to return (kCancelWaits). A close() that was
  // not handed to the loop takes back its own mark only, never a cancel's set meanwhile.
  static constexpr unsigned kEndCalled = 1;
  static constexpr unsigned kCancelWaits = 2;
  ClosingMarks closing;
  bool input_end_told = false;    // loop thread: on_input_end ran
  bool flush_after_view = false;  // loop thread: an end waits for on_message to return
  // The thread running on_message now (none outside it): defer() is allowed on that thread
  // only, not on another that calls while on_message runs. Only the loop thread writes it.
  std::atomic<std::thread::id> on_message_thread{};
  std::atomic<bool> deferred{false};    // the message delivered last waits for consume()
  std::atomic<bool> wants_room{false};  // a write hit queue_full: call on_writable when drained
  // A write found the command queue full and the session is in command_waiters: noted
  // once however often its writer retries (the loop clears it as it takes the note).
  std::atomic<bool> waits_for_commands{false};
  CallbackNote in_callback;  // a write from the stream's callbacks finds the node here
  std::atomic<std::size_t> queued{0};
  std::size_t capacity = 0;
  // The peer's whole byte window once the stream is accepted (loop writes, writers read):
  // a larger message can never be sent.
  std::atomic<std::uint64_t> peer_window_bytes{UINT64_MAX};
  // Loop thread only.
  // The messages waiting for credit, oldest first. A borrowed message is copied into
  // `unsent` (small ones into its shared blocks, so a write allocates nothing); large
  // shared bytes are kept as a reference, so the core sends their parts without a copy (a
  // large borrowed message is made shared once, for the same reason).
  struct QueuedMessage {
    SharedBytes shared;
    bool in_unsent = false;  // its bytes are in `unsent` (in the same order)
  };
  std::deque<QueuedMessage> send_queue;
  MessageQueue unsent;
  // The oldest queued message; send_queue must not be empty.
  Payload front_payload() const {
    const QueuedMessage& front = send_queue.front();
    return front.in_unsent ? Payload(unsent.front()) : Payload(front.shared);
  }
  void pop_front() {
    if (send_queue.front().in_unsent) unsent.pop_front();
    send_queue.pop_front();
  }
  void clear_queue() {
    send_queue.clear();
    unsent.clear();
  }
  bool close_requested = false;
  std::optional<std::pair<Errc, std::string>> fail_requested;
  // Queued messages wait for the connection's output to fall below its high-water mark
  // (EventNode::Impl::room_waiters holds this session).
  bool waits_for_room = false;
};

// Notes the loop thread in `note` for its lifetime (nested scopes restore the outer one):
// the node runs those callbacks, so it is alive throughout.
class CallbackScope {
 public:
  CallbackScope(EventNode::Impl& node, CallbackNote& note)
      : note_(note),
        outer_thread_(note.thread.load(std::memory_order_relaxed)),
        outer_node_(note.node) {
    note.node = &node;
    note.thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
  }
  ~CallbackScope() {
    note_.thread.store(outer_thread_, std::memory_order_relaxed);
    note_.node = outer_node_;
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;

 private:
  CallbackNote& note_;
  std::thread::id outer_thread_;
  EventNode::Impl* outer_node_;
};

// The node of a state shared with the application, for a call on it. When this thread runs
// the callbacks `note` notes (CallbackScope), the node that runs them, alive throughout:
// no lock. Else `node` locked into `held`, which keeps it alive for the call; nullptr when
// the node is gone. A thread that only has the id of a loop thread since ended reads the
// id cleared: that thread cleared it before it ended, and an id is reused only after join.
inline EventNode::Impl* node_for_call(const CallbackNote& note,
                                      const std::weak_ptr<EventNode::Impl>& node,
                                      std::shared_ptr<EventNode::Impl>& held) {
  if (note.thread.load(std::memory_order_relaxed) == std::this_thread::get_id()) return note.node;
  held = node.lock();
  return held.get();
}

// ---- the implementation -------------------------------------------------------------------

struct EventNode::Impl : std::enable_shared_from_this<EventNode::Impl> {
  struct Command {
    std::function<void()> run;
    std::function<void()> abandon;  // if it never runs (the node stopped first)
  };
  struct Socket {
    std::unique_ptr<std::pair<Impl*, TransportId>> context;  // the events' argument
    int fd = -1;
    EventPtr read_event;
    EventPtr write_event;
    bool connecting = false;
    bool write_armed = false;
    // With TLS: the session over this socket (made when the dial connected, or at accept).
    std::unique_ptr<TlsTransport> tls;
    // Who is at the other end, for log lines: the peer's name (dialed) or "host:port".
    std::string remote;
    std::unique_ptr<RingSocket> ring;  // LoopBackend::io_uring only
  };
  struct StreamRoute {
    StreamWindow window;
    StreamHandler fn;
  };

  explicit Impl(EventNodeOptions opts) : options(std::move(opts)) {
    wipe_nonce_key(opts.config);  // moved from: an optional array keeps its bytes
  }

  ~Impl();
  // Frees the loop's events, descriptors, event base and read buffer (the loop thread is
  // not running): the destructor, and a start() refused after they were made.
  void release_loop();
  // start()'s last two steps: the loop's descriptors, events and listener (bound to
  // `listen_address`; `port` set), then the loop thread. Each releases what was made and
  // returns invalid_argument (logged) on failure.
  Errc open_loop_handles(sockaddr_in listen_address);
  bool bind_waiting_while_busy(const sockaddr_in& address);
  Errc start_loop_thread();

  void log(LogLevel level, const std::string& text) const {
    if (options.log) options.log(level, text);
  }
  // A line about one connection, which a stranger can cause at will: through
  // connection_log_throttle (options.connection_log_lines_per_s). Loop thread only.
  void log_connection(LogLevel level, const std::string& text) {
    if (!options.log) return;
    std::uint64_t held_back = 0;
    // A clock read of its own, not turn_now(): this may run outside a turn, which would
    // leave the turn's clock set.
    if (!connection_log_throttle.admit(monotonic_now_ns() / 1'000'000, held_back)) return;
    if (held_back > 0) {
      options.log(LogLevel::warning,
                  std::to_string(held_back) + " lines about single connections not logged (over " +
                      std::to_string(options.connection_log_lines_per_s) + " a second)");
    }
    options.log(level, text);
  }

  // ---- commands ----

  // `behind_queue`: queued even on the loop thread, to run after the commands waiting now.
  Errc post(Command command, bool behind_queue = false);
  // A view on_message or on_data is reading: the stream's or reader's state (`owner`) and
  // its peer. Commands that may free it wait until it is returned (post_freeing_views).
  struct LentView {
    PeerId peer = 0;
    const void* owner = nullptr;
  };
  // For a command that may free a view lent to a callback: one that ends stream or reader
  // `owner` of `peer`, or, with owner null, every stream and object of `peer` (remove_peer),
  // or, with peer kAnyPeer too, of any peer (set_authenticator).
  // While such a view is lent (from inside that callback, or one nested in it), the command
  // waits until it is returned, so the view stays valid for the whole callback; else it is
  // posted as any command.
  Errc post_freeing_views(Command command, PeerId peer, const void* owner);
  static constexpr PeerId kAnyPeer = std::numeric_limits<PeerId>::max();
  // Whether a view post_freeing_views would wait for is lent now (loop thread).
  bool view_lent(PeerId peer, const void* owner) const;
  // Around each on_message and on_data call (loop thread): the view is lent until the call
  // returns; then every command that waited for it alone runs, in the order asked.
  void lend_view(PeerId peer, const void* owner) { lent_views.push_back({peer, owner}); }
  void view_returned(const void* owner);

  bool on_loop_thread() const { return std::this_thread::get_id() == loop_id; }

  // ---- the loop's clock ----

  // The time of this loop turn, read once: the bookkeeping of every message and answer of
  // the turn (stream meters, consumes, answers) shares it, since a clock read costs about
  // 25 ns in a VM, a tenth of a 64 B message's whole budget. Never earlier than any time
  // handed to the core before (fresh_now moves it forward). Loop thread only.
  TimeNs turn_now() {
    if (turn_now_ns == 0) turn_now_ns = monotonic_now_ns();
    return turn_now_ns;
  }
  // A fresh read, where the time matters more than the cost (a deadline starts from it,
  // bytes arrived); the rest of the turn then uses it.
  TimeNs fresh_now() {
    turn_now_ns = monotonic_now_ns();
    return turn_now_ns;
  }

  void run_commands();

  // ---- the loop's work after any input ----

  // Handles the core's events and output until none is left, then drops the released
  // callbacks: no callback of any handle runs at that point.
  void after_input();
  // Tells the core the wall clock again when kWallClockSyncNs passed since it last did.
  void sync_wall_clock();
  static constexpr TimeNs kWallClockSyncNs = 100'000'000;  // a jump is seen within 100 ms
  // Destroys the callbacks of handles that ended (released), including any that
  // destroying them releases in turn (loop thread, with no callback on the stack).
  void drop_released();

  void arm_timer();

  // ---- sockets ----

  void add_socket(TransportId transport, int fd, bool connecting);

  void close_socket(TransportId transport, Bytes final_bytes = {});

  // The socket failed or closed: tell the core, which ends everything on it exactly once.
  void transport_failed(TransportId transport, const std::string& reason);

  // Event callbacks copy what they need first: handling the event may close the socket,
  // which frees the context they were given.
  static void on_readable(evutil_socket_t, short, void* arg);

  // A writable socket is written after every readable one of the same wake-up has been read
  // (on_write_turn), so that what the input makes (a reply's next request, a credit) goes
  // out ahead of the bulk this turn writes, not one turn later behind it.
  static void on_writable(evutil_socket_t, short, void* arg);
  static void on_write_turn(evutil_socket_t, short, void* arg);

  void read_from(TransportId transport);

  void write_out(TransportId transport);
  // Arms the socket's write event (the kernel's buffer is full) or disarms it (drained).
  void want_write(TransportId transport, Socket& socket, bool wanted);

  void dial(PeerId peer, TransportId transport);

  void finish_connect(TransportId transport);
  // The dial's socket connected: the core hears it now, or with TLS once the TLS
  // handshake that starts here is done.
  void connected(TransportId transport);

  // ---- TLS (event_node_tls.cpp) ----

  // Checks a context for this node (start(), set_tls_context): false (logged) for a
  // deterministic one; a certificate without the node's name is logged as an error.
  bool check_tls_context(const TlsContext& context) const;
  // A TLS session for `socket`: a client that checks the peer's name for a dial, a server
  // for an accepted socket; verified at the wall clock's time.
  void start_tls(TransportId transport, Socket& socket, TlsRole role);
  // Bytes read from a TLS socket: into its session, then its ciphertext out. False when
  // the socket is gone (TLS failed, or the write did).
  bool receive_tls(TransportId transport, Bytes bytes);
  void write_tls(TransportId transport, Socket& socket);
  // The socket's TLS session failed: its alert goes out, the socket closes, the core hears
  // the TLS error, and a failed handshake is reported as a PeerChange.
  void fail_tls(TransportId transport);
  // The peer closed a TLS socket (EOF): the core hears it, a handshake cut short is
  // reported as a failed one.
  void tls_closed(TransportId transport);
  // At stop: the TLS session's close_notify (after any ciphertext still waiting) goes out
  // in one nonblocking send, so that the peer sees a clean close and not a truncated one.
  // Best effort and bounded: what the socket buffer does not take is dropped, and stop()
  // never waits for a peer that does not read.
  void send_close_notify(TransportId transport);
  // Writes what fits of `bytes` into the socket's buffer without waiting (the last bytes
  // before a close), dropping the rest.
  static void send_best_effort(int fd, Bytes bytes);
  // Logs a TLS failure, and reports it as handshake_failed when it came before any weft byte.
  void report_tls_failure(const std::string& remote, const TlsTransport& tls);

  static void on_accept(evutil_socket_t, short, void* arg);
  // Accepts every connection waiting on the listener (either loop).
  void accept_waiting();
  // Accepting stopped on EMFILE/ENFILE/ENOBUFS/ENOMEM: re-arms the listener.
  static void on_accept_resume(evutil_socket_t, short, void* arg);
  // The process is out of descriptors (or kernel memory): sheds the connections waiting in
  // the listen queue through the spare descriptor, and stops accepting for a while, so the
  // loop does not spin on a listener that stays readable.
  void pause_accepting(int error);

  // The adapter's own counters (loop thread only), for EventNode::metrics
  // (event_node_metrics.cpp).
  struct IoCounters {
    std::uint64_t accept_pauses = 0;          // pause_accepting: out of descriptors or memory
    std::uint64_t accepts_shed = 0;           // connections closed unread while pausing
    std::uint64_t accept_budget_reached = 0;  // accept_waiting stopped at accepts_per_wake
    std::uint64_t dials = 0;  // Dial events acted on (failures: the core's connect_failures)
    // Ring sends the socket cut short or refused (the rest waited for room).
    std::uint64_t uring_sends_cut = 0;
    // Quiet sends (ring_quiet_sends) whose failure completion came.
    std::uint64_t uring_quiet_sends_failed = 0;
    // Completions the kernel dropped (ring_recover_dropped).
    std::uint64_t uring_completions_dropped = 0;
    // TLS failures by code (tls_errc_name), and whether in the handshake or later.
    std::map<std::pair<std::string, bool>, std::uint64_t> tls_failures;
  };
  IoCounters io_counters;
  LineThrottle connection_log_throttle;       // log_connection's; set by start()
  std::unique_ptr<MetricsHttp> metrics_http;  // EventNode::serve_metrics, once called
  // The same on an io_uring loop: the responder on a thread of its own.
  std::unique_ptr<MetricsThread, MetricsThreadDeleter> metrics_thread;
  // The adapter's counters as MetricsSnapshot::driver entries.
  void add_io_metrics(MetricsSnapshot& snapshot);

  static void on_timer(evutil_socket_t, short, void* arg);
  // The timerfd fired (either loop): the core's deadlines that are due.
  void timer_fired();

  static void on_wake(evutil_socket_t, short, void* arg);
  // The wake-up's commands, then (unless stopping) the work they made.
  void woken();

  // ---- LoopBackend::io_uring (event_node_uring.cpp) ----

  // Makes the ring on the loop thread (its only user): 0 or a negative errno.
  int open_ring();
  // The loop: waits in one io_uring_enter a turn, until stop.
  void run_ring();
  // Logs and paces a turn's failed wait (a negative errno; 0 or -EINTR: it waited).
  void ring_wait_outcome(int waited);
  // Hands one completion to its socket or to the loop's own reads.
  // (`tagged` may carry Ring::kQuietBit.)
  void ring_completed(std::uint64_t tagged, int result);
  // An operation of a socket that closed completed, or the cancellation of one (`result`
  // ENOENT: the operation's completion was dropped): its buffers go once none is posted.
  void ring_retired_done(std::uint64_t user_data, int result);
  void ring_add_socket(TransportId transport, Socket& socket);
  // (Re)allocates the socket's receive buffer (no receive may be posted on it).
  void ring_size_receive_buffer(RingSocket& state, std::size_t bytes);
  // After a receive of `received` bytes (`filled`: it filled the buffer), grows or shrinks
  // the buffer for the next (RingSocket::receive_buffer).
  void ring_fit_receive_buffer(RingSocket& state, bool tls, std::size_t received, bool filled);
  // What the receive buffers of every socket hold, closed ones still parked included.
  std::size_t ring_receive_buffer_bytes() const;
  // Cancels the socket's posted operations; its buffers wait in retired_ring_sockets for
  // their completions.
  void ring_retire(TransportId transport, Socket& socket);
  // Posts a cancellation of each operation `state` marks posted, tagged with its kind.
  void ring_cancel_posted(TransportId transport, RingSocket& state);
  // Posts the socket's receive (once the core and its TLS session can take bytes).
  void ring_receive(TransportId transport, Socket& socket);
  void ring_received(TransportId transport, int result);
  // The first part of write_out on a ring: copies a small output into a send operation.
  // False when the output is larger than uring_send_copy_bytes: written in place instead.
  bool ring_send_copy(TransportId transport, Socket& socket);
  // Posts a send of the socket's send buffer from send_offset.
  void ring_post_send(TransportId transport, Socket& socket);
  // `quiet`: the completion of a send that complete_quietly made quiet (its failure, or
  // ring_confirm_quiet_sends's success).
  void ring_sent(TransportId transport, int result, bool quiet = false);
  void ring_poll_out(TransportId transport, Socket& socket);
  void ring_writable_now(TransportId transport, int result);
  // Waits for `fd` (the eventfd or the timerfd) to be readable; the completion reads it.
  void ring_poll_own(int fd, std::uint64_t kind);
  // close_socket on a ring: what a send operation holds, then `final_bytes`, best effort
  // and in order (nothing after bytes whose fate is unknown).
  void ring_send_final(Socket& socket, Bytes final_bytes);
  void ring_poll_listener();
  void ring_pause_accepting();
  // Before the wait: the sends posted since the last one that have no output behind them
  // complete quietly (no completion unless they fail); clears ring_sends_posted.
  void ring_quiet_sends();
  // After a wait that submitted them, before its completions are handled: each quiet send
  // with no failure in the completion queue sent everything (unless completions were
  // dropped since Ring::dropped() read `dropped_before`: then nothing is known, and their
  // transports fail).
  void ring_confirm_quiet_sends(std::uint64_t dropped_before);
  // Closes the descriptors of sockets closed before the submission just made.
  void ring_close_submitted();
  // After the kernel dropped completions: ends the connections with an operation posted
  // and posts the loop's own waits again (in the next generation).
  void ring_recover_dropped();
  // Cancels everything still posted and reaps it: no operation names a buffer after this.
  void ring_drain();
  // Sockets whose receive waits for the core or the TLS session to take bytes again.
  void ring_resume_receives();

  // ---- events from the core ----

  void dispatch(Event&& event);

  std::string peer_name(PeerId peer) const { return node->connection(peer).name(); }
  // The name of `peer` shared (IncomingRequest::peer): made on the first request from it.
  const PeerName& shared_peer_name(PeerId peer);
  PeerConnection connection(PeerId peer) const { return node->connection(peer); }

  void handle(event::Dial&& e);
  void handle(event::CloseTransport&& e);
  void handle(event::PeerUp&& e);
  void handle(event::PeerDown&& e);
  void handle(event::HandshakeFailed&& e);
  void notify(const PeerChange& change);

  void handle(event::RequestReceived&& e);
  // A responder's state for the request `id` of `peer`: the spare one if there is one.
  std::shared_ptr<Responder::State> responder_state(PeerId peer, InboundId id);
  void handle(event::RequestCanceled&& e);
  void handle(event::RequestDone&& e);

  void handle(event::StreamOpened&& e);
  void handle(event::StreamReadable&& e);
  void handle(event::StreamWritable&& e);
  void handle(event::StreamEnded&& e);
  // Object streams (event_node_objects.cpp).
  void handle(event::ObjectCompleted&& e);
  void handle(event::ObjectWantData&& e);
  void handle(event::ObjectStreamEnded&& e);
  void handle(event::ObjectArrived&& e);
  void handle(event::ObjectReadable&& e);
  void handle(event::ObjectAborted&& e);
  // Posts `object` on `state`'s stream (loop thread); a refusal completes it at once.
  void send_object(const std::shared_ptr<ObjectStream::State>& state, OutgoingObject&& object);
  // The core's arguments for an object with `header` whose data comes from `source`.
  static ObjectArgs object_args(ObjectHeader&& header, const ObjectSource::State& source);
  // Supplies data of a file or producer object from `offset` until the core's buffer is full.
  void supply_object(ObjectStream::State& state, std::uint64_t object, std::uint64_t offset);
  // Reads `source` from `offset` and hands the pieces to `supply` (offset, bytes, last)
  // until it refuses one (no_credit: the core asks again) or the data ends; a read that
  // fails goes to `fail` (code, why).
  using SupplyFn = std::function<Errc(std::uint64_t, SharedBytes, bool)>;
  using FailFn = std::function<void(Errc, const std::string&)>;
  static void supply_from(const ObjectSource::State& source, std::uint64_t offset,
                          const SupplyFn& supply, const FailFn& fail);
  // Bundles (event_node_bundles.cpp).
  void handle(event::BundleWantData&& e);
  void handle(event::BundleObjectCompleted&& e);
  void handle(event::BundleEnded&& e);
  // Posts `object` on `state`'s bundle (loop thread); a refusal completes it at once.
  void send_bundle_object(const std::shared_ptr<Bundle::State>& state,
                          OutgoingBundleObject&& object);
  // Ends a bundle's handle exactly once.
  static void end_bundle(Bundle::State& state, Errc result, std::string_view message);
  // Ends an object stream's handle exactly once.
  static void end_object_stream(ObjectStream::State& state, Errc result, std::string_view message);
  // Hands the object's data to its sink until nothing waits or the sink defers.
  void deliver_object(const std::shared_ptr<ObjectReader::State>& state);
  // Ends a reader exactly once: forgets it and runs on_end.
  void end_reader(const std::shared_ptr<ObjectReader::State>& state, Errc result,
                  std::string_view message);
  // At shutdown: every object stream, bundle and object being read ends with shutting_down.
  void end_objects();

  // Ends a session exactly once: its queue is dropped and on_end runs.
  static void end_session(const std::shared_ptr<StreamSession::State>& state, Errc result,
                          std::string_view message);

  // Writes a session's queued messages as far as credit and the connection's output allow
  // (each goes into the core only while its output is below the high-water mark, so it is
  // encoded straight into the output, not into a lane first), then its close or fail.
  void flush_stream(StreamSession::State& state);
  // Whether ending `state` must wait for its on_message to return (its view is lent): then
  // flush_stream runs again once it returned.
  bool fail_waits_for_view(StreamSession::State& state);
  // Remembers that `state`'s queued messages wait for room in the connection's output.
  void wait_for_room(StreamSession::State& state);
  // Flushes the sessions waiting for room whose connection's output has fallen below the
  // mark; true when it flushed any (more output may follow).
  bool flush_room_waiters();
  // Any thread: `state`'s write was refused because the command queue is full, and its
  // writer is promised on_writable (StreamSession::write). Notes the session (under mutex)
  // and wakes the loop, which flushes it once it took the commands waiting then.
  void wait_for_commands(StreamSession::State& state);
  // Loop thread, after a wake-up's commands ran: flushes the sessions wait_for_commands
  // noted, each calling its on_writable once nothing of its own waits any more.
  void flush_command_waiters();
  static void learn_peer_window(PeerConnection connection, StreamSession::State& state);
  // Hands the stream's waiting messages to on_message, consuming each when it returns,
  // until the inbox is empty or the handler defers one; then reports the input's end.
  void deliver_messages(const std::shared_ptr<StreamSession::State>& state);

  // Starts a request (loop thread): `done` runs once, at once when it cannot start. Returns
  // the started call.
  std::optional<std::pair<PeerId, RequestId>> start_request(
      std::string_view peer, std::uint16_t handler, std::string_view route, const Payload& payload,
      std::int64_t timeout_ms, ReplyCallback done);

  // Sends the answer to `state`'s request (loop thread): a response when `code` is ok, else
  // an error with `bytes` as its message. Nothing if the request ended meanwhile.
  void send_answer(Responder::State& state, Errc code, const Payload& bytes);

  // Closes every transport so the core ends every call and stream once, then lets the loop
  // stop. Runs on the loop thread as the last command.
  void shutdown();

  StreamArgs stream_args(std::uint16_t handler, const std::string& route,
                         const std::optional<std::vector<std::uint8_t>>& payload, bool has_input,
                         StreamWindow window, std::int64_t timeout_ms) const;

  std::vector<PeerStatus> snapshot() const;

  // ---- state ----
  LoopBackend backend = LoopBackend::libevent;  // the one start() chose
  std::unique_ptr<Ring> ring;                   // LoopBackend::io_uring, loop thread only
  std::map<TransportId, std::unique_ptr<RingSocket>> retired_ring_sockets;
  std::vector<TransportId> ring_receive_waiters;  // see ring_resume_receives
  std::vector<TransportId>
      ring_writable;  // ready to write once the completions in hand are handled
  std::vector<TransportId> ring_sends_posted;  // sends posted since the last wait (run_ring)
  // Sockets whose send completes quietly, until its submission is confirmed.
  std::vector<TransportId> ring_quiet;
  bool ring_accept_paused = false;
  std::uint64_t ring_drops_seen = 0;      // Ring::dropped() when last looked at
  std::uint64_t ring_own_generation = 0;  // of the loop's own operations (own_tag)
  std::uint64_t ring_failed_waits = 0;  // failed io_uring_enter waits in a row (ring_wait_outcome)
  bool ring_socket_writable = false;    // a wait for writability completed (run_ring)
  std::vector<int> ring_closing;        // closed sockets' descriptors, until the next submission
  __kernel_timespec ring_accept_pause{};
  std::vector<std::pair<std::uint16_t, std::string>> handler_routes;
  std::vector<std::tuple<std::uint16_t, std::string, StreamWindow>> stream_handler_routes;
  EventNodeOptions options;
  std::unique_ptr<Node> node;
  event_base* base = nullptr;
  int wake_fd = -1;
  int listen_fd = -1;
  std::uint16_t port = 0;
  EventPtr wake_event;
  // The core's deadlines fire through a timerfd (CLOCK_MONOTONIC, set to an absolute time),
  // not a libevent timer: with no libevent timer pending, the loop's epoll_wait sleeps
  // without a timeout, which spares the kernel a high-resolution timer per wait (a few per
  // cent of a 64 B round trip here).
  int timer_fd = -1;
  EventPtr timer;  // reads timer_fd
  // When `timer_fd` is set to fire (kNever: not set). Never later than the core's next
  // deadline: arm_timer moves it only earlier, and a fire that finds nothing due re-arms.
  TimeNs timer_armed_ns = kNever;
  EventPtr listen_event;
  EventPtr accept_resume;  // timer: accepting is paused until it fires
  // Made active by on_writable: runs once the wake-up's other callbacks (the reads) have.
  EventPtr write_turn;
  std::vector<TransportId> writable_sockets;  // for write_turn, in the order they were ready
  int spare_fd = -1;                          // held open to be given up when descriptors run out
  void* read_buffer = nullptr;
  std::vector<std::optional<sockaddr_in>> peer_addresses;
  // Each peer's name as request handlers get it, by PeerId (ids are never reused): one
  // shared string per peer rather than a copy per request. Emptied when the peer is removed.
  std::vector<PeerName> shared_peer_names;
  std::optional<sockaddr_in> source_address;  // options.source_host, port 0
  // The TLS context new connections use (loop thread; null without TLS).
  std::shared_ptr<const TlsContext> tls_context;
  std::map<TransportId, Socket> sockets;
  std::map<std::pair<std::uint16_t, std::uint64_t>, RequestHandler> handlers;
  std::map<std::pair<std::uint16_t, std::uint64_t>, StreamRoute> stream_routes;
  // Lookups by id only (io/ need not be deterministic): hash maps.
  struct CallKeyHash {
    std::size_t operator()(const std::pair<PeerId, RequestId>& key) const {
      return std::hash<std::uint64_t>{}(key.second * 0x9e3779b97f4a7c15ULL + key.first);
    }
    std::size_t operator()(const std::pair<PeerId, InboundId>& key) const {
      return std::hash<std::uint64_t>{}(
          (key.second.mux ^ (key.second.generation << 40)) * 0x9e3779b97f4a7c15ULL + key.first);
    }
  };
  using PendingReplies =
      std::unordered_map<std::pair<PeerId, RequestId>, ReplyCallback, CallKeyHash>;
  PendingReplies pending;
  // Nodes of `pending` whose calls ended, kept for the next calls: a request then allocates
  // no node of its own (at most kSparePendingNodes, the largest burst worth keeping).
  static constexpr std::size_t kSparePendingNodes = 256;
  std::vector<PendingReplies::node_type> spare_pending_nodes;
  // A responder's state whose request ended and that nothing else holds, for the next
  // request: the common request is answered within its handler, so one is enough.
  std::shared_ptr<Responder::State> spare_responder;
  // See turn_now(); 0 between turns: after_input ends a turn, and the callbacks that do not
  // end with it (a wake-up's commands, a metrics scrape) start or end their own.
  TimeNs turn_now_ns = 0;
  TimeNs wall_synced_ns = 0;  // when sync_wall_clock last told the core (0: never)
  std::unordered_map<std::pair<PeerId, InboundId>, std::shared_ptr<Responder::State>, CallKeyHash>
      responders;
  std::map<std::pair<PeerId, StreamId>, std::shared_ptr<StreamSession::State>> streams;
  // Sessions whose queued messages wait for room in their connection's output, oldest first.
  std::vector<std::weak_ptr<StreamSession::State>> room_waiters;
  // The waiters flush_room_waiters is going through (swapped with room_waiters, so that
  // those it sends back to wait land in the other list); both keep their memory.
  std::vector<std::weak_ptr<StreamSession::State>> room_waiters_flushing;
  struct ObjectRoute {
    ObjectWindow window;
    ObjectHandler fn;
  };
  std::map<std::string, ObjectRoute, std::less<>> object_routes;
  std::map<std::pair<PeerId, ObjectStreamId>, std::shared_ptr<ObjectStream::State>> object_streams;
  std::map<std::uint64_t, std::shared_ptr<Bundle::State>> bundles;  // by BundleId
  // The object being read on each stream of a peer.
  std::map<std::pair<PeerId, ObjectStreamId>, std::shared_ptr<ObjectReader::State>> object_readers;
  std::function<void(const PeerChange&)> peer_change;
  // The callbacks of handles whose final on_end returned (release_callbacks), kept until
  // none of them can be running.
  std::vector<std::shared_ptr<void>> released;
  // The ends of object streams and bundles whose open stop() abandoned: run after every
  // abandoned command, so that their objects complete first. stop()'s thread only.
  std::vector<std::function<void()>> ends_after_abandons;
  // The views lent now (nested calls, innermost last), and the commands that wait for one
  // to be returned (post_freeing_views). Loop thread only.
  struct AfterView {
    Command command;
    PeerId peer = 0;
    const void* owner = nullptr;  // null: any view of `peer`
  };
  std::vector<LentView> lent_views;
  std::vector<AfterView> after_views;
  std::thread thread;
  std::atomic<std::thread::id> loop_id;
  std::mutex mutex;
  std::deque<Command> commands;
  // Under mutex: the sessions wait_for_commands noted since the loop last flushed them.
  std::vector<std::weak_ptr<StreamSession::State>> command_waiters;
  bool closed = false;
  // Under mutex: the first stop() has joined the loop and ended what never ran; a later
  // stop() from another thread waits on `stopped` for it.
  bool stop_done = false;
  std::condition_variable stopped;
  bool started = false;
  bool stopping = false;
};

}  // namespace weft::io
