// A weft node on real sockets: the sans-I/O core driven by an event loop on its own thread
// (libevent, or io_uring: EventNodeOptions::loop_backend), with an API that may be called
// from any thread.
//
// Threads. EventNode owns one event-loop thread. The core runs only there. Every public
// method may be called from any thread, except the registrations (handle, handle_stream,
// handle_objects, on_peer_change): those write the node's tables without a lock, so call
// them before start(), from the thread that then calls start(). Calls are handed to the
// loop through a bounded queue and an eventfd wake-up, and never block (a full queue
// returns Errc::queue_full).
// Calls made on the loop thread itself (from a callback) run at once, without the queue.
// Every callback (reply, request handler, stream and object callbacks, peer events, log)
// runs on the loop thread, except in these cases, where it runs on the thread named:
//  - an open that cannot be handed to the loop (open_stream, open_object_stream,
//    open_bundle: queue_full, shutting_down): its on_end runs at once, on the calling thread;
//  - work the loop never ran (queued while the node had not started, then stop() or the
//    destructor): stop() ends it with shutting_down on its own thread: an open's on_end, a
//    request's done, a send's on_done (ObjectStream::send, Bundle::send);
//  - the log lines of start(), add_peer(), set_tls_context() and serve_metrics() about
//    their own arguments (a bad address, a bad TLS context): on the calling thread; on an
//    io_uring loop, the metrics endpoint's own lines: on its thread (serve_metrics).
// Once started, stop() runs every other end (streams, objects, bundles, calls) on the loop
// thread before it joins it. Keep callbacks short, and hand long work to another thread (a
// Responder and a StreamSession may be used from any thread). Callbacks must not throw:
// nothing catches an exception on the loop thread, so one ends the process (std::terminate).
//
// Callbacks are released. A handle (StreamSession, ObjectStream, ObjectReader, Bundle)
// drops its callbacks once its final on_end returned (each object's on_done once it ran),
// so the application may keep the handle in state those callbacks capture without a
// cycle that is never freed. On the loop thread they are destroyed after the event being
// handled (never while one of them runs); for an end off the loop thread (above), at once.
//
// I/O. On libevent, reads go straight from the socket into one page-aligned buffer per
// node and from there into the core, which decodes whole frames in place. Writes send the
// core's output buffer directly (no copy); a socket that would block gets a write event
// until drained. Sockets are nonblocking with TCP_NODELAY. One timer (a timerfd on
// CLOCK_MONOTONIC, so the loop's wait needs no timeout) is set to the core's
// next_deadline() after every batch of inputs; only moved earlier (one set no later than
// the deadline stays, and fires early at worst, finding nothing due). Besides its
// connections the node holds five descriptors: the listener, libevent's epoll instance, an
// eventfd (wake-ups from other threads), the timerfd and a spare (see accept_pause_ms);
// serve_metrics adds its own listener and one per scrape. On io_uring (LoopBackend), each
// connection has a receive buffer of its own and small output goes through a send buffer
// of its own (see LoopBackend::io_uring); the ring takes the place of the epoll instance,
// and serve_metrics runs its responder on a thread of its own (with an epoll instance and
// an eventfd) that takes each snapshot on the loop thread.
//
// TLS. With EventNodeOptions::tls every connection, dialed and accepted, runs over TLS 1.3
// with mutual certificates (weft/io/tls_transport.hpp; docs/TLS.md): the node is TLS-only,
// and a peer without TLS fails the TLS handshake. Reads then take at most what the TLS
// session has room for, and writes send the session's ciphertext; without TLS the data path
// above is unchanged.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/io/bundles.hpp"
#include "weft/io/objects.hpp"
#include "weft/io/peer_name.hpp"
#include "weft/io/tls.hpp"
#include "weft/metrics.hpp"
#include "weft/node.hpp"

namespace weft::io {

enum class LogLevel : std::uint8_t { debug, info, warning, error };
// Receives the adapter's log lines: on the loop thread, except those of start(), add_peer(),
// set_tls_context() and serve_metrics() about their arguments (on the calling thread) and
// the metrics endpoint's own on an io_uring loop (on its thread: serve_metrics), so it must
// be safe to call from any thread. Default: none.
using LogSink = std::function<void(LogLevel, std::string_view)>;

// Where a peer listens.
struct PeerAddress {
  std::string name;
  // A numeric IPv4 address or a host name (resolved once, at start). A malformed literal
  // ("300.1.2.3", an IPv6 address) or "" makes start() fail without a name lookup.
  std::string host;
  std::uint16_t port = 0;
};

// Whether `host` names an IPv4 address the adapter accepts for PeerAddress::host (and the
// listen and metrics hosts), by the rule add_peer and start() apply: a host of digits and
// dots must be a dotted quad as inet_pton reads it ("127.1", "010.0.0.1" and "2130706433"
// are refused without asking anyone); any other host is a name, which must resolve to an
// IPv4 address (getaddrinfo: it may ask a name server, and blocks as long as that takes).
// "" never does.
bool host_resolves(const std::string& host);
// The same lookup, giving the dotted quad `host` resolves to (the address add_peer and
// start() would use), or nullopt where host_resolves is false. A caller that must not block
// on a name server twice hands that text on as PeerAddress::host: add_peer and start() read
// it without a lookup.
std::optional<std::string> resolved_address(const std::string& host);

// EventNode::serve_metrics: where and how the HTTP responder listens. Every limit is named.
struct MetricsHttpOptions {
  std::string host = "127.0.0.1";  // a numeric IPv4 address or a host name
  std::uint16_t port = 0;          // 0 picks a free port (MetricsEndpoint::port)
  // A request's head (request line and headers) longer than this is answered 431.
  std::size_t max_request_bytes = 8 * 1024;
  // Connections open at once. One more is answered 503 at once (without reading its request)
  // and closed; weft_io_metrics_refused_connections_total counts it.
  std::size_t max_connections = 16;
  // What a scraper sends after its request's head (a body, a second request) is read and
  // dropped up to this many bytes; one byte more closes the connection at once, which may cost
  // the answer's tail if the scraper has not read it yet. Without it, a client that keeps
  // sending after its answer keeps the thread the endpoint runs on (the node's loop thread,
  // on libevent) reading for up to request_timeout_ms.
  std::size_t max_drain_bytes = 64 * 1024;
  // The listening socket's backlog: connections the kernel completes before the endpoint
  // accepts them (at least 1).
  int listen_backlog = 16;
  // A connection that sends nothing (or reads nothing of its answer) this long is closed.
  std::int64_t idle_timeout_ms = 5'000;
  // A connection still open this long after it was accepted is closed, however it trickles
  // (a byte now and then would otherwise hold it for hours). At least idle_timeout_ms.
  std::int64_t request_timeout_ms = 10'000;
  // Out of descriptors (or kernel memory) to accept a scrape, the responder stops accepting
  // this long, then tries again (at least 1; weft_io_metrics_accept_pauses_total counts it,
  // with a warning in the log). The scrape waits in the listen queue meanwhile: a retry at
  // once would find the listener readable again and spin the thread it runs on.
  std::int64_t accept_pause_ms = 100;
  // Connections accepted in one wake-up at most (at least 1); the rest wait in the listen
  // queue for the next (the listener stays readable), so a flood of connections cannot keep
  // the thread the endpoint runs on (the node's loop thread, on libevent) from its other
  // work for long. Wake-ups that used it all: io_metrics_accept_budget_reached.
  std::size_t accepts_per_wake = 16;
  // Scrapes rendered at most once in this interval: a scrape that comes sooner after the last
  // render waits for the interval's end, and every scrape waiting then shares one render. Each
  // render is a snapshot taken on the node's loop thread, so without this anyone who can reach
  // the port could keep the loop busy. Scrapes are never answered from a cache (a rate taken
  // from two scrapes is true). 0: no limit.
  std::int64_t min_render_interval_ms = 100;
  MetricsOptions metrics;  // what each scrape lists
};

// What serve_metrics did: error is ok and `port` is where it listens, or why it does not.
struct MetricsEndpoint {
  Errc error = Errc::ok;
  std::uint16_t port = 0;
};

// How the kernel schedules the loop thread (EventNodeOptions::loop_scheduling).
enum class LoopScheduling : std::uint8_t {
  // The thread that calls start() decides: the loop thread takes its policy and priority.
  inherit,
  // SCHED_BATCH (Linux): the loop thread's wake-ups do not preempt the thread running on its
  // core; it runs when that thread blocks or its slice ends. For nodes that share cores with
  // their peers or other busy processes: a node moving bulk is not cut off in the middle of
  // a write by every wake-up of the process it feeds, so both take longer turns and fewer
  // switches, and a small request waits fewer of them (bench/README.md measures it). A
  // node alone on its core gains nothing. No privilege is needed, unless the thread calling
  // start() runs under SCHED_IDLE (leaving it takes CAP_SYS_NICE or an RLIMIT_NICE that
  // allows the thread's nice value) or a seccomp or LSM policy forbids the call.
  batch,
};

// How the loop thread waits for and does its I/O (EventNodeOptions::loop_backend).
enum class LoopBackend : std::uint8_t {
  // libevent over epoll: the loop waits for readiness, then reads and writes each socket
  // with system calls of its own (three a turn for one connection).
  libevent,
  // io_uring (Linux 6.1 or later: IORING_SETUP_DEFER_TASKRUN; liburing): each connection
  // keeps one receive posted to the kernel, and the small output of a turn goes as a send
  // operation; one io_uring_enter a turn submits both and waits (bench/README.md measures
  // the difference). Every connection holds a receive buffer of its own and a send buffer
  // of up to uring_send_copy_bytes. The receive buffer is 16 KiB at first, and stays so
  // until the handshake completed, so a connection that never gets past its hello costs
  // little however much it sends; read_buffer_bytes once a receive fills it after that
  // (under TLS, at most tls_limits.max_ciphertext_in_bytes, the most a receive is offered);
  // 16 KiB again after 64 receives in a row of less than that, so only connections that
  // carry bulk keep the large one (metric weft_io_uring_receive_buffer_bytes). A kernel without
  // io_uring, or with it
  // disabled (kernel.io_uring_disabled, a seccomp policy), makes start() fail with
  // invalid_argument and a log line; loop_backend_unavailable() asks beforehand.
  io_uring,
};

// The backend an environment variable names: "libevent" or "io_uring"; nullopt for any
// other text. EventNode::start reads WEFT_LOOP_BACKEND through it (EventNodeOptions).
std::optional<LoopBackend> parse_loop_backend(std::string_view text);
// The name parse_loop_backend takes ("libevent", "io_uring"); metrics label the loop with it.
std::string_view loop_backend_name(LoopBackend backend);
// Why `backend` cannot run in this process (io_uring: the kernel refuses to make a ring,
// as under a seccomp policy or kernel.io_uring_disabled), or nullopt when it can. Makes and
// frees a small ring to find out; any thread.
std::optional<std::string> loop_backend_unavailable(LoopBackend backend);

// The largest EventNodeOptions::read_buffer_bytes start() takes.
inline constexpr std::size_t kMaxReadBufferBytes = std::size_t{1} << 30;

struct EventNodeOptions {
  // The core's settings: name, peers, authenticator, limits, timeouts. Leave config.seed
  // unset: start() draws it from the OS, so every process has its own incarnation and
  // backoff jitter. Set it only to replay a test. config.nonce_key, when unset, is drawn
  // from the OS too (always: handshake nonces must be unpredictable).
  NodeConfig config;
  // Where to listen; port 0 picks a free port (see EventNode::port()).
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  // Addresses of the peers this node dials (the dial rule picks which; list all peers).
  // EventNode::add_peer adds to this address book while the node runs.
  std::vector<PeerAddress> addresses;
  // The local address connections to peers are made from (an IPv4 address or host name,
  // resolved at start; a bad one makes start() fail with invalid_argument; "", the
  // default, lets the kernel choose: on loopback that is 127.0.0.1 whatever the listen
  // address). Set it to listen_host when a firewall rule or a capture must tell this node's
  // connections apart by address, as the fault harness does with several nodes on 127/8.
  std::string source_host;
  // Commands waiting for the loop thread before calls fail with queue_full.
  std::size_t command_queue_capacity = 1 << 16;
  // The receive buffer (page-aligned, reused for every read): 1 byte to
  // kMaxReadBufferBytes (1 GiB), rounded up to a whole page; start() refuses any other.
  std::size_t read_buffer_bytes = 256 * 1024;
  // Unsent bytes a socket may hold in the kernel (TCP_NOTSENT_LOWAT; 0 leaves the kernel's
  // default). Keeping this small keeps bulk data from queueing in the kernel ahead of small
  // frames: the core's lanes, not the socket buffer, decide what goes next.
  std::size_t socket_unsent_bytes = 32 * 1024;
  // The kernel's receive buffer of each socket (SO_RCVBUF; 0, the default, leaves it to
  // autotuning). A small one bounds how much a fast sender can park in front of this node's
  // reader (small frames wait behind it), but it also caps the TCP window, so only set it
  // for short round trips. Values below 64 KiB are raised to 64 KiB: a receive buffer
  // smaller than a segment (loopback's MSS is about 64 KiB) trips TCP's silly-window
  // avoidance and stalls the connection for seconds at a time.
  std::size_t socket_receive_bytes = 0;
  static constexpr std::size_t kMinSocketReceiveBytes = 64 * 1024;  // the floor above
  // When the process runs out of file descriptors (EMFILE, ENFILE) or the kernel of buffers,
  // accepting stops for this long (the listen queue is shed first, through a spare
  // descriptor), instead of spinning on a listener that stays readable.
  std::int64_t accept_pause_ms = 100;
  // Connections accepted in one wake-up of the listener at most (at least 1): the rest wait
  // in the listen queue for the loop's next turn (the listener stays readable), so a flood
  // of connections holds the loop from its established connections' input for no more than
  // this many accepts at a time (a retry after a connection aborted in the queue counts as
  // one). Wake-ups that used it all are counted in the metric io_accept_budget_reached.
  std::size_t accepts_per_wake = 16;
  // Log lines about single connections, which anyone who can connect causes at will (a
  // failed handshake, a transport closing): at most this many per second. The rest are
  // counted, and the next line let through is preceded by one saying how many were not
  // logged. PeerChange callbacks and the metrics (weft_handshake_failures_total,
  // weft_io_tls_failures_total) still see every one. 0: every line.
  std::size_t connection_log_lines_per_s = 10;
  // How long start() waits for its listen address while another socket holds it
  // (EADDRINUSE), trying again every 10 ms. A node restarted at once after its previous
  // process died can find the port still held for a moment: the kernel closes the files of
  // a dead process's io_uring after the process is gone (a few ms here, more under load).
  // 0 fails at once; a port still held when the wait ends fails start() as before.
  std::int64_t listen_busy_wait_ms = 2'000;
  // Messages a stream session may hold while the peer's window is full.
  std::size_t stream_send_queue_messages = 4096;
  // TLS for every connection (docs/TLS.md): this node's CA bundle, certificate and key, as
  // TlsContext::load or create made them. The certificate must carry config.name as a
  // subjectAltName DNS entry, or every peer refuses this node (start() logs an error). A
  // deterministic context (for simulations) makes start() fail with invalid_argument. Dialed
  // connections check that the peer's certificate carries the name dialed; the core checks the name
  // in every hello against the peer's certificate and binds its handshake to the TLS session.
  // Certificates are verified at the wall clock's time. Null (the default): plain TCP.
  // EventNode::set_tls_context replaces the context for new connections.
  std::shared_ptr<const TlsContext> tls;
  // The limits of each connection's TLS session (weft/io/tls.hpp). Reads take at most
  // max_ciphertext_in_bytes at a time. Limits that tls_limits_problem refuses make start()
  // fail with invalid_argument.
  TlsLimits tls_limits;
  // The loop thread's scheduling policy, set as the thread starts; a policy the kernel
  // refuses makes start() fail with invalid_argument (and a log line saying why).
  LoopScheduling loop_scheduling = LoopScheduling::inherit;
  // The loop the node runs on. The environment variable WEFT_LOOP_BACKEND, when set and not
  // empty, overrides it at start(): "libevent" or "io_uring" (an operator's switch, and how
  // the test suite runs every adapter test over both loops); any other value makes start()
  // fail with invalid_argument. EventNode::loop_backend() says which one runs.
  LoopBackend loop_backend = LoopBackend::libevent;
  // With LoopBackend::io_uring: a turn's output up to this size (requests, answers, credits)
  // is copied into the connection's send buffer and goes as one send operation, submitted
  // with the next receive; larger output (bulk, large payloads, streams that keep the
  // output full) is written from the core's buffers by a gathering write, without a copy.
  // Output waits in the core while a send is in flight, so the core's high-water marks
  // still hold; the send buffer is the only output held outside the core (at most this
  // much a connection). TLS connections write their ciphertext in place, never this way.
  std::size_t uring_send_copy_bytes = 16 * 1024;
  // A seam for tests of the io_uring loop's error paths; leave it null (the default) in
  // real use. When set, the loop thread calls it before each turn's io_uring_enter (the
  // one that submits what the turn queued and waits for completions, or only submits when
  // a turn must not sleep): a negative errno it returns becomes that call's result and the
  // call is not made (nothing queued is submitted, as when the kernel refuses the call); 0
  // lets the call go. Not asked for the early submission of a full submission queue. Also
  // asked by the waits that drain the ring when the node stops, which retry a failure 1 ms
  // apart as the loop does (for at most 1 s). What it captures must stay valid until stop()
  // returns. Ignored on libevent.
  std::function<int()> uring_wait_fault;
  // A seam for tests of how the io_uring loop survives completions the kernel drops (it
  // drops one when its completion queue is full and it cannot allocate room in its
  // overflow list); leave it null (the default) in real use. When set, the loop thread
  // calls it once for each completion it reaps, also while the node stops, with the kind
  // of operation completed: "receive", "send", "quiet_send" (the failure of a send whose
  // success has no completion: the socket cut it short), "poll_out" (a socket's
  // writability or its connect), "wake" (commands from other threads), "timer" (the core's
  // deadlines), "listen" (a connection to accept), "accept_resume" or "cancel". True drops it, as
  // the kernel would: the loop then ends every connection with an operation posted (the reason
  // "io_uring: the kernel dropped completions"; the core reconnects as after any failure) and posts
  // its own waits again, counted in the metric io_uring_completions_dropped. What it captures must
  // stay valid until stop() returns. Ignored on libevent.
  std::function<bool(std::string_view operation)> uring_completion_fault;
  LogSink log;
};

// The outcome of a request: ok with the response, or an error (with the peer's message for
// remote errors).
struct Reply {
  Errc error = Errc::ok;
  std::vector<std::uint8_t> payload;
};
// Runs once per call (loop thread). To keep the payload past the call, move it out of the
// Reply: one still in it when the callback returns goes back to the node, whose memory a
// later request's or reply's payload may reuse (NodeConfig::payload_pool_bytes). So no
// pointer or view into it (data(), Bytes, a borrowed Payload) may outlive the call.
using ReplyCallback = std::function<void(Reply&&)>;

// Cancels one request from any thread: its reply callback then runs with Errc::canceled
// (unless the reply came first), and the serving side sees the cancellation.
class CallHandle {
 public:
  struct State;
  CallHandle() = default;
  explicit CallHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // not_found when the call already ended (or never started); queue_full when the command
  // queue is full (nothing canceled: try again); shutting_down when the node is stopping or
  // gone (the call ends anyway, with disconnected or shutting_down).
  Errc cancel();

 private:
  std::shared_ptr<State> state_;
};

// Answers one incoming request, exactly once, from any thread. Answers after the request
// ended (canceled by the caller, deadline, disconnect) are dropped. Copyable; all copies
// share one state.
class Responder {
 public:
  struct State;
  Responder() = default;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Sends the response; false if this request was already answered or ended, and false
  // too, with nothing sent, when the answer could not be handed to the loop (the command
  // queue full, or the node stopping): then canceled() is still false and a later respond()
  // may succeed. Copies a borrowed payload only when called off the loop thread.
  bool respond(Payload payload);
  // Sends an error (code and message) instead; false, with nothing sent, for Errc::ok (an
  // error needs an error code), otherwise as respond().
  bool fail(Errc code, std::string_view message);
  // True once the caller canceled or the request otherwise ended without an answer. A
  // handler that takes time should poll this and stop early.
  bool canceled() const;

 private:
  std::shared_ptr<State> state_;
};

struct IncomingRequest {
  PeerName peer;  // shared with the node's other requests from it: no copy of the bytes
  std::uint16_t handler = 0;
  std::uint64_t route = 0;
  std::vector<std::uint8_t> payload;
  TimeNs deadline_ns = kNever;  // on the loop's monotonic clock
  Responder responder;
};
// Serves a request (loop thread). It may answer at once or move the responder elsewhere.
// To keep the payload past the call, move it out of the request: one still in it when the
// handler returns goes back to the node, whose memory a later request's or reply's payload
// may reuse (NodeConfig::payload_pool_bytes). So no pointer or view into it (data(), Bytes,
// a borrowed Payload handed to a Responder later or to another thread) may outlive the
// call; respond with it during the call (a borrowed payload is copied then) or move it.
using RequestHandler = std::function<void(IncomingRequest&&)>;

// One open stream, on either side. Thread-safe; all copies share one state.
class StreamSession {
 public:
  struct State;
  StreamSession() = default;
  explicit StreamSession(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Queues a message; it is sent as the peer's window and the connection's output allow
  // (a queued message goes into the core only while the connection's output is below
  // limits.output_high_water_bytes, so it is encoded straight into the output; a session
  // writing faster than the socket drains waits here, not in the core's lanes). Borrowed bytes are
  // copied before write returns. Shared ones (a SharedBytes, a moved-in vector) over 16 KiB are
  // kept by reference until sent, so a large message costs no copy here; smaller ones are copied
  // like borrowed ones. queue_full, with nothing taken, when stream_send_queue_messages are
  // already waiting, or (from another thread) when the node's command queue is full: either
  // way on_writable follows once there is room (unless the stream ends first), so a writer
  // may wait for it; stream_closed / not_found when the stream ended or this side closed it;
  // too_large when the message exceeds the peer's whole byte window (known once the peer accepted);
  // shutting_down when the node is stopping or gone (no on_writable: on_end has run or follows).
  // A queued message the core still refuses (too_large: before the window was known, or over
  // max_message_bytes) ends the stream with that error on both sides: nothing is ever
  // dropped quietly. From a callback on the loop thread a write needs no command: with
  // nothing queued before it, credit to spare and room in the output it goes straight into the core
  // (a borrowed message is copied once, into the output), else into the queue; from other threads
  // it is handed to the loop. Each thread's writes keep their order.
  Errc write(Payload message);
  // A write that never queues, for a producer on the loop thread (in a callback, or in a
  // function run_on_loop runs) that writes as fast as the stream allows: ok when the
  // message went into the core now (nothing queued before it, credit to spare, the
  // connection's output below its high-water mark; borrowed bytes copied once, into the
  // output), else no_credit, with the message not taken, and on_writable follows once it
  // may go (unless the stream ends first). A queued message costs write() a second copy,
  // into the session's queue and out again: a producer pulled by on_writable skips it.
  // Errors: invalid_argument off the loop thread (nothing is taken, no on_writable);
  // shutting_down when the node stopped; and as write: not_found, stream_closed,
  // too_large (the peer's window, known once accepted, or max_message_bytes).
  Errc try_write(Payload message);
  // Ends this side's half after the queued messages. not_found when the stream ended;
  // stream_closed after close() or fail(); queue_full (the command queue) leaves the session
  // as it was: try again; shutting_down when the node is stopping or gone.
  Errc close();
  // Ends the stream with an error the peer reads after the queued messages; invalid_argument
  // for Errc::ok; queue_full leaves the session as it was, as for close().
  Errc fail(Errc code, std::string_view message);
  // Cancels the stream on both sides now; queued messages are dropped; on_end(canceled)
  // follows. not_found when the stream ended; queue_full when the command queue is full
  // (nothing canceled: try again); shutting_down when the node is stopping or gone (its
  // stop() ends the stream). fail() and cancel() from inside this stream's on_message (or a
  // callback nested in it) take effect once on_message returned, so the message it reads
  // stays valid until then; meanwhile write(), close() and fail() are stream_closed.
  Errc cancel();
  // From any thread: true once the stream has ended (and for an empty handle). It turns true
  // as the end begins, before on_end runs on the loop thread: to act after on_end, act in it.
  bool ended() const;

  // Back-pressure for a handler that cannot take a message now (a relay whose output is
  // full, a slow consumer). Called from on_message (loop thread): the message is kept, not
  // consumed when on_message returns; no further message is delivered and no credit goes
  // back to the sender until consume(). invalid_argument outside on_message, and from any
  // thread but the one running on_message (even while it runs); not_found when the stream
  // ended.
  Errc defer();
  // From any thread: consumes the message defer() kept (its credit returns to the sender)
  // and resumes delivery with the next one. Called in on_message after defer() (the handler
  // finished the message at once), it undoes the defer(): the message is consumed when
  // on_message returns, and the next is delivered after it, not inside it. not_found when
  // no message is deferred or the stream ended; queue_full when it could not be handed to
  // the loop (try again); shutting_down when the node is stopping or gone.
  Errc consume();

 private:
  std::shared_ptr<State> state_;
};

// What the application does with a stream's traffic (loop thread). on_message gets each
// message in order; the message is consumed (its credit returned) when it returns.
// on_input_end runs once when the peer's half ended normally and every message was
// delivered (a handler typically finishes and closes then). on_end is called exactly once.
struct StreamCallbacks {
  std::function<void(StreamSession&, Bytes)> on_message;
  std::function<void(StreamSession&)> on_input_end;
  // Runs when the session's send queue has drained after a write returned queue_full (its
  // send queue full, or the node's command queue: then once the loop took the commands
  // waiting), or when a message may go after try_write returned no_credit: a writer that
  // produces as fast as it can writes again from here. May run once more than needed.
  std::function<void(StreamSession&)> on_writable;
  std::function<void(StreamSession&, Errc, std::string_view)> on_end;
};

struct IncomingStream {
  std::string peer;
  std::uint16_t handler = 0;
  std::uint64_t route = 0;
  bool has_payload = false;
  std::vector<std::uint8_t> payload;
  bool has_input = false;
};
// Serves a stream (loop thread): returns the callbacks for its traffic; the session can be
// kept and used from any thread.
using StreamHandler = std::function<StreamCallbacks(const IncomingStream&, StreamSession)>;

// A change of a peer's connection (loop thread). handshake_failed covers the TLS handshake
// too: a peer whose certificate this node refused, a peer that refused this node's (its
// alert), a peer without TLS; the detail then starts with "TLS <code>: " (tls_errc_name:
// "TLS expired: ...", "TLS name_mismatch: ...", "TLS peer_alert: ..."), and for an accepted
// connection, where no name was claimed yet, `peer` is the remote address "host:port".
struct PeerChange {
  enum class Kind : std::uint8_t { up, down, handshake_failed };
  Kind kind;
  std::string peer;
  std::string detail;  // the reason, or "generation N, incarnation X[, restarted]"
  // For up: the peer's incarnation, and whether it differs from the one seen before (the
  // peer's process restarted and holds nothing from before).
  std::uint64_t incarnation = 0;
  bool peer_restarted = false;
};

struct PeerStatus {
  std::string name;
  PeerStats stats;
};

class EventNode {
 public:
  explicit EventNode(EventNodeOptions options);
  // Stops the node (see stop()).
  ~EventNode();
  EventNode(const EventNode&) = delete;
  EventNode& operator=(const EventNode&) = delete;

  // ---- before start() (not thread-safe: from the thread that calls start()) ----
  // Serves requests for (handler, route). Call before start(); start() fails with
  // invalid_argument (and an error line in the log naming the handler) for handler 0 or a
  // route longer than config.limits.max_route_bytes. Registering (handler, route) again
  // replaces its function.
  void handle(std::uint16_t handler, std::string_view route, RequestHandler fn);
  // Serves streams for (handler, route), granting each opener `window` for its messages.
  // Call before start(); start() fails with invalid_argument (and a log line) for handler
  // 0, a route longer than config.limits.max_route_bytes, or a window of 0 messages or 0
  // bytes.
  void handle_stream(std::uint16_t handler, std::string_view route, StreamWindow window,
                     StreamHandler fn);
  // Receives every PeerChange (loop thread). Call before start(); one function: a second
  // call replaces the first.
  void on_peer_change(std::function<void(const PeerChange&)> fn);
  // Receives object streams at `endpoint` (1..255 printable ASCII bytes), granting each
  // `window` (at least 1 object and 65536 bytes); `fn` makes the sink of each object. Call
  // before start(); start() fails with invalid_argument for a bad name or window.
  void handle_objects(std::string_view endpoint, ObjectWindow window, ObjectHandler fn);

  // Binds the listener, resolves peer addresses and starts the loop thread. Returns ok, or
  // invalid_argument when nothing was started (the log says why): accept_pause_ms below 1,
  // read_buffer_bytes out of its range, listen_busy_wait_ms below 0, tls_limits or a TLS context or
  // NodeConfig the node refuses, a bad request or stream handler (handle, handle_stream), a bad
  // object endpoint or window, a bad peer, source or listen address, a listener that cannot bind
  // (an address in use is tried again for up to listen_busy_wait_ms, so start() may block that
  // long), no descriptor left for the loop's own, a loop_scheduling the kernel refuses, a
  // WEFT_LOOP_BACKEND that names no backend, or an io_uring loop the kernel cannot make. A refused
  // start() holds no descriptor and no port, and may be called again. shutting_down once stop() was
  // called (a stopped node never starts). Work queued before start() runs in the loop's first turn.
  Errc start();
  // Stops the loop: closes every transport (every call and stream still open ends exactly
  // once, with disconnected; object streams, bundles and objects being read with
  // shutting_down), on the loop thread, then joins the thread. A TLS connection gets a
  // close_notify first, so its peer sees a clean close: one nonblocking send of what fits
  // the socket buffer, never waiting for a peer that does not read. Commands the loop never ran
  // (queued while the node had not started) end with shutting_down here, on the calling
  // thread: their on_end, done or on_done runs on it. Idempotent (a stop() that finds
  // another thread's under way returns once that one is done); later calls fail with
  // shutting_down. Not from a callback: the loop thread cannot join itself.
  void stop();
  // The port the listener is bound to since a successful start(); 0 before one.
  std::uint16_t port() const;
  // The loop this node runs on since a successful start() (options.loop_backend, or what
  // WEFT_LOOP_BACKEND named); options.loop_backend before one.
  LoopBackend loop_backend() const;

  // ---- from any thread ----
  // Sends a request; `done` runs once on the loop thread (or, with shutting_down, on the
  // thread calling stop() when the loop never ran the request). Returns queue_full or
  // shutting_down without calling `done` when the call could not be handed to the loop.
  // With `handle` given, it is set to a handle that can cancel the call. A borrowed
  // payload is copied once when called from another thread or with `handle` given (the
  // call then goes as a command, even on the loop thread); from a callback on the loop
  // thread without `handle`, never. A shared one (SharedBytes, or a vector moved in) is
  // never copied. `timeout_ms` (0: the config's default_request_timeout_ms) counts from the
  // loop's clock of the turn that starts the call: from a callback, the time that turn's
  // input arrived (microseconds before).
  Errc request(std::string_view peer, std::uint16_t handler, Payload payload,
               std::int64_t timeout_ms, ReplyCallback done, std::string_view route = {},
               CallHandle* handle = nullptr);
  // The same, as a future.
  std::future<Reply> request(std::string_view peer, std::uint16_t handler, Payload payload,
                             std::int64_t timeout_ms = 0, std::string_view route = {});

  // Opens a stream to (handler, route) on `peer`. The session is usable at once (writes
  // queue until the peer accepts); `callbacks.on_end` reports failures to open as well:
  // queue_full and shutting_down at once on the calling thread, shutting_down on the thread
  // calling stop() when the loop never ran the open; on the loop thread, unknown_peer (no
  // live peer of that name) and the core's refusals (PeerConnection::open_stream):
  // disconnected when the peer is not connected now (a stream does not wait for the
  // connection; with connect_on_demand the open brings it up: open again after PeerChange
  // up), queue_full (limits.max_streams streams open to the peer, or the window would pass
  // limits.max_stream_receive_bytes), too_large (the initial payload), invalid_argument
  // (handler 0, a route over limits.max_route_bytes, a timeout out of range, a window of 0
  // messages or 0 bytes). Then the peer's refusal or the stream's end, as usual.
  StreamSession open_stream(std::string_view peer, std::uint16_t handler, std::string_view route,
                            const std::vector<std::uint8_t>* payload, bool has_input,
                            StreamWindow window, std::int64_t timeout_ms,
                            StreamCallbacks callbacks);

  // Opens an object stream to `endpoint` on `peer` (weft/io/objects.hpp). Usable at once:
  // objects wait for the peer (object_resume_timeout_ms) when it is down. Failures to open
  // come through callbacks.on_end, which runs exactly once: queue_full and shutting_down at
  // once on the calling thread, shutting_down on the thread calling stop() when the loop
  // never ran the open, unknown_peer (and the core's refusals) on the loop thread.
  // `options` as PeerConnection::open_object_stream takes them (lz4: a peer that cannot take
  // compression ends the stream with unsupported, through on_end, after each object's
  // completion).
  ObjectStream open_object_stream(std::string_view peer, std::string_view endpoint,
                                  ObjectStreamCallbacks callbacks,
                                  ObjectStreamOptions options = {});

  // Opens a bundle (weft/io/bundles.hpp) to every peer (options.broadcast, following peers
  // the node adds and removes) or to the named ones. Usable at once; failures to open
  // come through callbacks.on_end, which runs exactly once: queue_full and shutting_down at
  // once on the calling thread, shutting_down on the thread calling stop() when the loop
  // never ran the open, invalid_argument and unknown_peer on the loop thread.
  Bundle open_bundle(BundleOptions options, BundleCallbacks callbacks);

  // Runs `fn` on the loop thread (at once when called from it). queue_full or
  // shutting_down when it could not be handed over. A function queued before start() runs
  // in the loop's first turn; if the node is stopped without ever starting, it never runs
  // and is destroyed by stop() on its thread (a function that must learn of that can own
  // something whose destructor tells it).
  Errc run_on_loop(std::function<void()> fn);

  // A snapshot of every peer's state (waits for the loop; from the loop thread itself it
  // runs inline). Peers removed at run time are listed too, in PeerState::removed.
  std::vector<PeerStatus> peers();

  // Every counter of the core (Node::metrics, weft/metrics.hpp) and of this adapter
  // (MetricsSnapshot::driver, families weft_io_*: sockets accepted, accept pauses, dials
  // and dial failures, TLS failures by code, open sockets, commands queued; docs/METRICS.md),
  // taken on the loop thread: waits for it, like peers() (inline from the loop thread).
  // An empty snapshot before start(), after stop(), or when the loop could not be asked
  // (queue_full); format it with weft::format_prometheus.
  MetricsSnapshot metrics(const MetricsOptions& options = {});

  // Serves metrics() in the Prometheus text format over HTTP/1.x on a listening socket of
  // its own (options.host:port), on the loop thread: GET (or HEAD) /metrics is answered
  // 200 with Content-Type `text/plain; version=0.0.4`, another path 404, another method
  // 405, a malformed request line 400, a head over options.max_request_bytes 431, and 503
  // when the loop cannot take the scrape now (on io_uring the snapshot is a command: its
  // queue full, or the node stopping), and to a connection over options.max_connections
  // at once; one request per connection (Connection: close), what the client sends after
  // the head (a body) read and dropped until it closes (up to options.max_drain_bytes). A
  // scrape within options.min_render_interval_ms of the last render waits for the
  // interval's end. stop() closes the endpoint and every connection to it. Waits for the
  // loop like peers(). Errors: invalid_argument (a host that does not resolve, a port that
  // cannot be bound, options.accept_pause_ms, max_request_bytes, max_connections,
  // idle_timeout_ms or listen_backlog below 1, min_render_interval_ms below 0 or not below
  // the longer of request_timeout_ms and idle_timeout_ms, or a second call), shutting_down
  // (before start() or after stop()), queue_full.
  MetricsEndpoint serve_metrics(const MetricsHttpOptions& options = {});

  // ---- membership at run time (from any thread) ----
  // Both wait for the loop thread to apply the change (like peers(); from the loop thread
  // itself they run inline) and return its result. Before start() they edit the options
  // instead: the peer list and the address book start() will use.
  //
  // Adds peer `address.name`, listening at address.host:port, to the running node: a new
  // relationship (Node::add_peer) under a new id, also for a name removed before. Its
  // connection follows the dial rule: this node dials it, or waits for its hello (which the
  // other node sends once it lists this node too). The address is resolved on the calling
  // thread, before the loop is asked. invalid_argument (nothing added, an error line in the
  // log) for a name that is not a node name (1..255 bytes 0x21..0x7e), this node's own
  // name, the name of a live peer (before start(): one in the peer list), or an address
  // that does not resolve; queue_full or shutting_down when the loop could not be asked
  // (shutting_down also before start() once stop() was called).
  Errc add_peer(const PeerAddress& address);
  // Removes the live peer `name` (Node::remove_peer): its connection closes after a
  // goaway(shutting_down), sent as the socket takes it at once (none when the socket is
  // full, or on io_uring while a send of the connection is still with the kernel: the peer
  // then sees the connection close, and ends its work with it as disconnected). From inside
  // an on_message or on_data of this peer's (or a callback nested in one), the removal takes
  // effect once that callback returned, so the data it reads stays valid: until then the
  // peer is still there (calls made to it meanwhile end with peer_removed). Every call to it
  // ends once with Errc::peer_removed (reply callbacks; Responder::canceled() turns true for its
  // requests being served), every stream with it ends with peer_removed (on_end), and every object
  // stream to it completes its objects and ends with peer_removed, an object being read from it
  // ends with peer_removed; PeerChange down follows when it was up. Afterwards calls to the name
  // fail with unknown_peer and its connections are refused, until add_peer takes it again.
  // unknown_peer when no live peer has that name; queue_full or shutting_down as above.
  Errc remove_peer(std::string_view name);

  // ---- keys at run time (from any thread) ----
  // Replaces the authenticator (Node::set_authenticator): every proof made or checked from
  // now on uses `auth` (new keys, a rotated key ring), also in handshakes under way, and
  // each connection whose peer's handshake proof no longer verifies with it (a revoked
  // key) is closed with goaway(auth_failed); the others stay as they are. Waits for the
  // loop thread to apply it, like add_peer: inline on the loop thread, but from inside an
  // on_message or on_data callback only once that callback returned (closing frees the
  // view it reads), and ok then means it will apply. Before start() it replaces
  // options.config.auth.
  // invalid_argument (nothing changed) for a null one; queue_full or shutting_down when
  // the loop could not be asked.
  Errc set_authenticator(std::shared_ptr<const Authenticator> auth);

  // ---- TLS (from any thread) ----
  // Makes connections opened from now on use `context` (a reloaded certificate, key or CA
  // bundle); connections already open keep the context they started with. Waits for the
  // loop thread as add_peer does (before start(), it replaces options.tls). invalid_argument
  // (nothing changes) for a null or deterministic context, or a node made without TLS (a
  // node is TLS-only or plain for its whole run); a certificate without this node's name is
  // taken, and logged as an error. queue_full or shutting_down when the loop could not be
  // asked.
  Errc set_tls_context(std::shared_ptr<const TlsContext> context);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace weft::io
