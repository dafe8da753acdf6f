// The simulators' one network model: nodes (the real core) in one thread under a virtual
// clock, joined by links that are byte pipes with the link-level faults of FaultRates.
// run_simulation's world, the stepped world (stepped.hpp) and the tests' MemNetwork
// (mem_network.hpp) all run on it.
//
// - Time: one ActionQueue ordered by (time, order of scheduling); the clock jumps to the
//   next action or the earliest node deadline, and nodes get on_timer when theirs comes.
// - Nodes: a slot per node name, holding at most one process (incarnation) at a time;
//   crash() ends it, start() begins the next one. A node's wall clock is a fixed origin plus
//   the virtual clock plus its skew.
// - Links: every transport pair is a link with a FIFO per direction. A write arrives after
//   the latency plus jitter (sometimes a spike), never before the bytes written before it,
//   cut into pieces as `chunking` says, perhaps with a bit flipped. A direction holds at most
//   send_buffer_bytes between the write and the reader taking them; a blocked writer wakes
//   when a third of the buffer is free. Bytes that reach a node that is not reading (a
//   paused reader, or accepting_input() false) wait on the link.
// - Faults the network applies by itself (while faults_on()): refused and hanging dials,
//   spikes, bit flips. Those that others schedule: resets (one side learns late when
//   half_open_chance says so), clogs, partitions (blocks per direction), paused readers,
//   crashes, clock skew, ghost connections. The tests' MemNetwork adds stalled writers,
//   muted nodes and unreachable pairs.
// - TLS (NetworkOptions::tls_seed): every link runs over TLS through the layer the real
//   drivers use (weft/io/tls_transport.hpp), under the same chunking and faults; a bit
//   flipped in a record fails its TLS session, which closes the link (network_tls.cpp).
//
// Every random draw comes from the fault generator given at construction, split again for
// every link as it is made, so what happens on one link does not shift another's draws.
// The network plays the driver of every node: its host (NetworkHost) gets every event and
// hands Dial and CloseTransport back to dial() and close_transport().
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "weft/io/tls_certs.hpp"
#include "weft/io/tls_transport.hpp"
#include "weft/node.hpp"
#include "weft/random.hpp"
#include "weft/sim/action_queue.hpp"
#include "weft/sim/simulator.hpp"

namespace weft::sim {

constexpr TimeNs kSecond = 1'000'000'000;
// Every node's wall clock starts here (any fixed instant will do), plus its skew.
constexpr std::int64_t kWallOriginMs = 1'767'225'600'000;
// A block that lasts until lift_blocks(): far enough to never come, near enough that adding
// a grace period cannot overflow.
constexpr TimeNs kUntilHealed = kNever / 2;
constexpr std::size_t kNoLink = SIZE_MAX;
constexpr std::size_t kNoNode = SIZE_MAX;
// What peer_of answers for a node the asking node does not list (now).
constexpr PeerId kNoPeer = static_cast<PeerId>(-1);

// How long until the next event of a Poisson process of `per_s` events a second (>= 1 ns).
TimeNs exponential(Rng& rng, double per_s);

// What the network tells the world that drives it.
class NetworkHost {
 public:
  virtual ~NetworkHost() = default;
  // An event of node `index`. Dial and CloseTransport too: the host hands them on to
  // Network::dial and Network::close_transport (after tracing or checking them).
  virtual void on_event(std::size_t index, Event&& event) = 0;
  // Node `index` handled its events and wrote its output; its connections to `peers`
  // (sorted, each once) were touched.
  virtual void on_pumped(std::size_t /*index*/, std::span<const PeerId> /*peers*/) {}
  // A transport opened (a dial answered, or a ghost arrived), or is closed at both ends.
  virtual void on_transport_opened(std::size_t /*link*/) {}
  virtual void on_transport_closed(std::size_t /*link*/) {}
  // A bit flipped in bytes that side `from_side` of `link` put on the wire.
  virtual void on_bitflip(std::size_t /*link*/, int /*from_side*/) {}
  // Side `side` of `link`'s TLS session failed (`what`: "TLS <code>: ..."): the side
  // closed the link, and its node heard why.
  virtual void on_tls_failed(std::size_t /*link*/, int /*side*/, const std::string& /*what*/) {}
  // The world cannot go on: a livelock (no progress within one instant) or a node timer
  // that never advances. The network stops the step; the host halts it or aborts.
  virtual void on_stuck(const std::string& what) = 0;
};

struct NetworkOptions {
  // The link-level faults of these rates apply: latency, jitter, spikes, chunking, refused
  // and hanging dials, half-open resets, bit flips, send buffers. The others are the fault
  // injector's to schedule.
  FaultRates rates;
  std::size_t max_piece_bytes = 1500;                // with chunking: pieces of 1..this many bytes
  bool capture = false;                              // keep what every side of every link wrote
  std::uint64_t max_steps_per_instant = 10'000'000;  // more is a livelock
  // Every link over TLS when set: one CA and a certificate per node for its name, all made
  // from this seed (the same bytes every run); each side of each link a deterministic TLS
  // session seeded by the link (same seed, same bytes on the wire, however chunked),
  // verifying at its node's wall clock. What `capture` keeps is the plaintext.
  std::optional<std::uint64_t> tls_seed = std::nullopt;
};

// A hello a dialer sent: who to whom, its epoch and attempt, and its bytes.
struct SentHello {
  std::size_t from;
  std::size_t to;
  std::uint64_t epoch;
  std::uint64_t seq;
  std::vector<std::uint8_t> bytes;
};

// A transport between two nodes; side 0 dialed (or, for a ghost, claims to have).
struct Link {
  std::size_t node[2] = {0, 0};
  std::uint64_t epoch[2] = {0, 0};
  TransportId transport[2] = {0, 0};
  bool open[2] = {true, true};
  TimeNs last_arrival[2] = {0, 0};
  TimeNs held_until[2] = {0, 0};  // a clog holds what side s sends until then
  // Per side s: bytes s wrote that s's peer has not taken yet (bounded by the send
  // buffer), whether s has output waiting for that room, and the bytes that arrived at
  // s but s has not taken (its reader paused or its input off).
  std::size_t in_flight[2] = {0, 0};
  bool wants_write[2] = {false, false};
  std::vector<std::uint8_t> arrived[2];
  std::vector<std::uint8_t> feeding[2];  // feed()'s buffer, handed to the node
  std::vector<std::uint8_t> written[2];  // what each side wrote, with NetworkOptions::capture
  // Per side s: what s put on the wire that has not arrived yet, and how it is cut into
  // deliveries (oldest first).
  ByteBuffer in_transit[2];
  std::deque<std::size_t> pieces[2];
  std::size_t parked[2] = {0, 0};         // deliveries held by a block until lift_blocks()
  bool close_parked[2] = {false, false};  // side s's close notice, held the same way
  // The hello that opened the link (side 0 dialed): its sender's epoch and attempt (seq).
  bool hello_known = false;
  std::uint64_t hello_epoch = 0;
  std::uint64_t hello_seq = 0;
  // A ghost: nobody dialed it; side 0 is a replayed or wrong-way hello and nothing else.
  bool ghost = false;
  bool wrong_way = false;         // the ghost's hello is from the side that must not dial
  std::uint64_t corruptions = 0;  // bits flipped or bytes injected on this link, either way
  // The link's own generator (split from the fault stream when the link is made): what
  // happens on one link does not shift the random draws of any other.
  Rng rng{0};
  // Per side, with NetworkOptions::tls_seed: its TLS session while that side is open (a
  // dialer's from the moment its dial is answered).
  std::unique_ptr<io::TlsTransport> tls[2];
};

class Network {
 public:
  Network(const NetworkOptions& options, Rng fault_rng, NetworkHost& host);
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- nodes ----

  // A slot for the node called `name` (unique), with no process yet.
  std::size_t add_node(std::string name);
  // Starts a process in slot `index` (its config names the slot's node), as a new
  // incarnation if one ran there before.
  Node& start(std::size_t index, NodeConfig config);
  // The process in slot `index` dies: its transports close, each peer learns at once
  // (reset) or, as half_open_chance says, only later; dials in flight land nowhere, bytes
  // waiting for it are dropped, and the slot's epoch moves on.
  void crash(std::size_t index);
  Node* node(std::size_t index) const { return slots_[index].node.get(); }  // null: down
  std::uint64_t epoch(std::size_t index) const { return slots_[index].epoch; }
  const std::string& name(std::size_t index) const { return slots_[index].name; }
  std::size_t node_count() const { return slots_.size(); }
  // The slot of the node called `name`, or kNoNode.
  std::size_t index_of(std::string_view name) const;
  // The node that node `index`'s peer `peer` names (kNoNode if none), and the reverse
  // (`other` must be one of its peers).
  std::size_t node_of(std::size_t index, PeerId peer) const {
    return slots_[index].peer_nodes[peer];
  }
  // Node `index` added or removed a peer (Node::add_peer / remove_peer): peer_of follows.
  void refresh_peers(std::size_t index) { resolve_peers(index); }
  PeerId peer_of(std::size_t index, std::size_t other) const {
    return slots_[index].peer_ids[other];
  }
  std::int64_t wall_ms(std::size_t index) const {
    return kWallOriginMs + ms_from_ns(now_) + slots_[index].skew_ms;
  }
  // Node `index`'s wall clock runs `skew_ms` off from now on (its next process starts so).
  void set_skew(std::size_t index, std::int64_t skew_ms) { slots_[index].skew_ms = skew_ms; }
  // Whether node `index` takes input now (up, not paused, accepting_input()).
  bool reading(std::size_t index) const;

  // ---- time ----

  TimeNs now() const { return now_; }
  const TimeNs& clock() const { return now_; }
  void at(TimeNs when, std::function<void()> run) { queue_.at(when, std::move(run)); }
  // Runs the world until the next action or deadline lies beyond `end`, `done()` holds
  // (looked at whenever every node has acted; then true) or the network halts. The clock
  // stays at the last instant anything happened: see jump_to.
  bool run_until(TimeNs end, const std::function<bool()>& done = {});
  // Moves the clock to `end` if it is earlier.
  void jump_to(TimeNs end) { now_ = std::max(now_, end); }
  // Lets every node act on its events and write its output until nothing moves.
  void pump();
  // Nothing more runs (the host found a failure).
  void halt() { halted_ = true; }
  bool halted() const { return halted_; }

  // ---- links ----

  std::size_t link_count() const { return links_.size(); }
  const Link& link(std::size_t at) const { return links_[at]; }
  Link& link(std::size_t at) { return links_[at]; }
  // The link whose bytes a node is reading now (events come from it), or kNoLink.
  std::size_t input_link() const { return input_link_; }
  // The link of node `index`'s transport (kNoLink if none), and which side `index` is.
  std::size_t link_at_of(std::size_t index, TransportId transport) const;
  const Link* link_of(std::size_t index, TransportId transport, int* side) const;
  int side_of(const Link& link, std::size_t index) const {
    return link.node[0] == index && link.epoch[0] == slots_[index].epoch ? 0 : 1;
  }
  // Links open at both ends, in order.
  std::vector<std::size_t> open_links() const;

  // What the host does with a node's Dial and CloseTransport events.
  void dial(std::size_t from, PeerId peer, TransportId transport);
  void close_transport(std::size_t index, event::CloseTransport&& close);
  // Puts `bytes` on the wire from side `from_side` of a link, after what it wrote before.
  void send(std::size_t link_at, int from_side, Bytes bytes);
  // Resets a link: side `first` learns at once, the other at once or (half-open) later.
  void reset(std::size_t link_at, int first);
  // Side `side` of a link learns it is gone (`why`), unless it knew already.
  void transport_down(std::size_t link_at, int side, const char* why);

  // ---- faults the world schedules ----

  Rng& fault_rng() { return fault_rng_; }
  const FaultRates& rates() const { return options_.rates; }
  // While faults are on, dials may hang or be refused and writes spike or flip bits.
  bool faults_on() const { return faults_on_; }
  void set_faults_on(bool on) { faults_on_ = on; }
  // Faults injected so far (the network's own and those the world counts here).
  void count_fault() { ++faults_; }
  std::uint64_t faults() const { return faults_; }

  // What node `from` sends node `to` is held until `until` (bytes in flight too).
  void block(std::size_t from, std::size_t to, TimeNs until);
  // Every block ends now; the deliveries held until then go on, in order.
  void lift_blocks();
  // Side `side` of a link holds what it sends until `until`, order kept.
  void clog(std::size_t link_at, int side, TimeNs until);
  void clear_clogs();
  // Node `index` reads nothing until `until` (a later pause wins); returns when it reads
  // again.
  TimeNs pause(std::size_t index, TimeNs until);
  // Every paused reader reads again now.
  void end_pauses();
  // The latest hellos dialers sent (at most 32), for ghosts to replay.
  const std::deque<SentHello>& sent_hellos() const { return sent_hellos_; }
  // A connection nobody dialed arrives at node `to`, carrying `hello` as if from `from`
  // (hello_epoch, hello_seq: what the hello says of its sender), and says nothing more.
  // Returns its link.
  std::size_t open_ghost(std::size_t from, std::size_t to, Bytes hello, std::uint64_t hello_epoch,
                         std::uint64_t hello_seq, bool wrong_way);

  // ---- the tests' faults and probes (MemNetwork) ----

  // While blocked, what node `from` writes to node `to` stays in its output.
  void set_write_blocked(std::size_t from, std::size_t to, bool blocked);
  // While muted, node `index`'s output is dropped on the floor.
  void set_muted(std::size_t index, bool muted);
  // While unreachable, dials between a and b are refused.
  void set_unreachable(std::size_t a, std::size_t b, bool unreachable);
  // When node `index` dialed, in order.
  const std::vector<TimeNs>& dial_log(std::size_t index) const { return slots_[index].dials; }
  // With capture: what `from` wrote on the latest transport between `from` and `to`.
  const std::vector<std::uint8_t>& written(std::size_t from, std::size_t to) const;
  // Transports opened between a and b so far.
  std::size_t links_between(std::size_t a, std::size_t b) const;
  // With capture: a file per link and direction, "<link>-<writer>-to-<reader>.wire".
  // What could not be written ("" when every file was).
  std::string write_captures(const std::string& dir) const;

 private:
  struct Slot {
    std::string name;
    std::unique_ptr<Node> node;  // null while crashed
    std::uint64_t epoch = 0;     // restarts so far
    std::int64_t skew_ms = 0;
    std::set<TransportId> abandoned_dials;
    std::vector<std::size_t> peer_nodes;  // per PeerId of its node: the node it names
    std::vector<PeerId> peer_ids;         // per node: its PeerId here
    std::vector<TimeNs> dials;
    bool muted = false;
  };
  // A peer list borrowed from a pool for the length of a pump_node call and given back
  // cleared, so that the lists keep their memory (pump_node nests: several may be out).
  struct ScratchPeers {
    explicit ScratchPeers(std::vector<std::vector<PeerId>>& pool_in);
    ~ScratchPeers();
    ScratchPeers(const ScratchPeers&) = delete;
    ScratchPeers& operator=(const ScratchPeers&) = delete;
    std::vector<std::vector<PeerId>>& pool;
    std::vector<PeerId> list;
  };
  using LinkKey = std::tuple<std::size_t, std::uint64_t, TransportId>;

  void resolve_peers(std::size_t index);
  void step();
  void report_stuck_timer();
  bool pump_node(std::size_t index);
  void deliver_later(std::size_t link_at, int from_side, std::size_t piece_bytes);
  void schedule_arrival(TimeNs when, std::size_t link_at, int from_side);
  void arrive(std::size_t link_at, int from_side);
  void feed(std::size_t link_at, int side);
  void feed_waiting(std::size_t index);
  void drain(std::size_t index, TransportId transport);
  void side_closed(std::size_t link_at, int side);
  void peer_learns_of_reset(std::size_t link_at, int side);
  void capture(Link& link, int side, Bytes bytes);
  void capture_hello(Link& link, Bytes output);
  // Side `side` closed `link` after writing what it had; the other side learns after those
  // bytes arrive.
  void close_side(std::size_t link_at, int side);
  // At `when` the other side of `link_at` hears that `side` closed (unless a block until
  // heal() holds it: then lift_blocks() sends it on).
  void schedule_close_notice(TimeNs when, std::size_t link_at, int side);
  // ---- TLS (network_tls.cpp) ----
  bool tls() const { return options_.tls_seed.has_value(); }
  // Node `index`'s certificate and context (add_node).
  void make_tls_context(std::size_t index);
  // A TLS session for side `side` of `link_at`, node `index`'s transport `transport`: the
  // dialer's a client checking `peer_name`, the acceptor's a server.
  std::unique_ptr<io::TlsTransport> make_tls(std::size_t index, TransportId transport,
                                             std::size_t link_at, int side,
                                             const std::string& peer_name);
  // Bytes that arrived at side `side` go through its TLS session to its node; a failure
  // closes the side, else what TLS answers goes out.
  void receive_tls(std::size_t link_at, int side, Bytes bytes);
  // Node `index`'s output on `link` through its TLS session onto the wire, within the send
  // buffer.
  void drain_tls(std::size_t index, TransportId transport, Link& link, int side);
  // Side `side`'s TLS session failed: its alert goes out, the side closes, its node hears.
  void fail_tls(std::size_t link_at, int side);
  std::size_t new_link(std::size_t from, std::uint64_t from_epoch, std::size_t to);
  bool unreachable(std::size_t a, std::size_t b) const;

  const NetworkOptions options_;
  NetworkHost& host_;
  Rng fault_rng_;
  ActionQueue queue_;
  TimeNs now_ = 0;
  bool halted_ = false;
  bool faults_on_ = true;
  std::uint64_t faults_ = 0;
  std::uint64_t spins_ = 0;  // loop turns without the clock moving
  std::vector<Slot> slots_;
  std::deque<Link> links_;  // a deque: growing it moves no Link, and references stay valid
  std::map<LinkKey, std::size_t> link_index_;
  std::map<std::string, std::size_t, std::less<>> index_by_name_;  // index_of
  std::vector<std::vector<TimeNs>> blocked_until_;    // [from][to]: bytes held until then
  std::vector<TimeNs> paused_until_;                  // per node: its reader stops until then
  std::vector<std::set<std::size_t>> waiting_input_;  // per node: links with bytes it has not taken
  std::size_t input_link_ = kNoLink;
  std::deque<SentHello> sent_hellos_;
  std::vector<std::vector<PeerId>> spare_peer_lists_;            // for ScratchPeers
  std::set<std::pair<std::size_t, std::size_t>> write_blocked_;  // (from, to)
  std::set<std::pair<std::size_t, std::size_t>> unreachable_;    // (lower, higher)
  // With NetworkOptions::tls_seed: the CA, and each node's context (by slot).
  io::CertifiedKey tls_ca_;
  std::vector<std::shared_ptr<const io::TlsContext>> tls_contexts_;
};

}  // namespace weft::sim
