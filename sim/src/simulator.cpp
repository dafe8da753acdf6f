#include "weft/sim/simulator.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <span>

#include "weft/invariant.hpp"
#include "weft/node.hpp"
#include "weft/random.hpp"
#include "weft/sim/action_queue.hpp"
#include "weft/sim/stepped.hpp"
#include "weft/wire.hpp"

namespace weft::sim {
namespace {

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kError = 2;
constexpr std::uint16_t kSlow = 3;
constexpr std::uint16_t kStreamEcho = 5;   // a stream handler that echoes every message
constexpr std::uint16_t kSilent = 4;       // never answers: the deadline or a cancel ends it
constexpr std::uint16_t kStreamStuck = 6;  // a stream handler that never reads its input
// Every stream window's bytes: room for the longest test message (stream_message) with others.
constexpr std::uint32_t kStreamWindowBytes = 256 << 10;
constexpr TimeNs kSecond = 1'000'000'000;
constexpr std::int64_t kWallOriginMs = 1'767'225'600'000;  // any fixed instant will do
// disturbed_until_ of a pair no fault has touched: long enough ago for any check.
constexpr TimeNs kNeverDisturbed = -1'000'000 * kSecond;
// A stepped partition lasts until heal(): far enough to never come, near enough that adding
// a grace period cannot overflow.
constexpr TimeNs kUntilHealed = kNever / 2;
// The epoch of a ghost link's dialing side: no node ever has it, so nothing reaches it.
constexpr std::uint64_t kGhostEpoch = UINT64_MAX;

// What the oracle knows of a request it saw started.
struct TrackedCall {
  std::size_t from;
  std::size_t to;
  std::uint16_t handler;
  SharedBytes payload;  // shared with the node's send lanes: no copy per call
  TimeNs deadline_ns;
  std::uint64_t serial = 0;  // also the payload's first 8 bytes
  bool canceled = false;     // the workload canceled it
  bool done = false;
};

// A stream the oracle watches, from its opener's side.
struct TrackedStream {
  std::size_t from;
  std::size_t to;
  std::uint64_t messages;  // the opener writes this many, then closes
  std::uint64_t serial = 0;
  // Stepped runs: the opener writes and reads only when told (stream_write, stream_consume).
  bool manual = false;
  std::uint64_t written = 0;
  std::uint64_t echoes = 0;  // echoes read, each checked in order
  TimeNs deadline_ns = kNever;
  bool canceled = false;
  bool ended = false;
};

// How a call or stream ended, by serial, as its opener saw it.
struct Outcome {
  bool ended = false;
  bool dropped = false;  // its opener crashed first
  Errc result = Errc::ok;
};

// The serving side of a stream: echoes waiting for credit.
struct ServedStream {
  std::deque<std::vector<std::uint8_t>> pending;
  bool stuck = false;  // kStreamStuck: never reads, so the opener's deadline must end it
  bool ended = false;
};

// A hello a dialer sent: who to whom, its epoch and attempt, and its bytes.
struct SentHello {
  std::size_t from;
  std::size_t to;
  std::uint64_t epoch;
  std::uint64_t seq;
  std::vector<std::uint8_t> bytes;
};

// The last hello a node adopted from a peer: the peer's epoch and attempt.
struct Adopted {
  bool known = false;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
};

struct Failure {
  SimResult::Kind kind;
  std::string message;
};

Canary canary_from_name(const std::string& name);

class World {
 public:
  // A stepped world schedules no workload and no faults of its own: see SteppedSimulation.
  World(const SimOptions& options, bool stepped)
      : options_(options),
        rates_(effective_rates(options)),
        workload_(effective_workload(options)),
        rng_(options.seed),
        workload_rng_(rng_.split()),
        fault_rng_(rng_.split()) {
    if (!options.trace_path.empty()) trace_file_.open(options.trace_path);
    if (!options.chrome_trace_path.empty())
      open_chrome_trace(options.chrome_trace_path, options.nodes);
    canary_ = canary_from_name(options.canary);
    stepped_ = stepped;
    for (int i = 0; i < options.nodes; ++i)
      names_.push_back("n" + std::to_string(i));
    blocked_until_.assign(names_.size(), std::vector<TimeNs>(names_.size(), 0));
    disturbed_until_.assign(names_.size(), std::vector<TimeNs>(names_.size(), kNeverDisturbed));
    up_link_.assign(names_.size(), std::vector<std::size_t>(names_.size(), kNoLink));
    paused_until_.assign(names_.size(), 0);
    adopted_.assign(names_.size(), std::vector<Adopted>(names_.size()));
    waiting_input_.resize(names_.size());
    for (std::size_t i = 0; i < names_.size(); ++i) {
      slots_.push_back(Slot{});
      const auto skew = rates_.max_skew_ms == 0
                            ? 0
                            : static_cast<std::int64_t>(fault_rng_.below(
                                  static_cast<std::uint64_t>(2 * rates_.max_skew_ms + 1))) -
                                  rates_.max_skew_ms;
      slots_[i].skew_ms = skew;
      start_node(i);
    }
  }

  World(const World&) = delete;
  World& operator=(const World&) = delete;
  ~World() {
    if (chrome_file_.is_open()) chrome_file_ << "\n]\n";
    if (!options_.capture_dir.empty()) write_captures();
  }

  SimResult run() {
    guarded([this] {
      const TimeNs fault_end = options_.fault_ns;
      schedule_workload(0);
      schedule_faults();
      at(fault_end, [this] { end_fault_phase(); });
      run_until(fault_end + options_.liveness_ns);
      if (!failure_) check_liveness();
    });
    return result();
  }

  // Runs `body`; an invariant a node broke (weft/invariant.hpp: only builds with assertions
  // check them) ends the run with the outcome "assertion". The node that threw is not
  // used again in a meaningful way: the run has failed.
  template <typename Body>
  auto guarded(Body body) -> decltype(body()) {
    try {
      return body();
    } catch (const InvariantViolation& violation) {
      fail(SimResult::Kind::assertion, violation.what());
      return decltype(body())();
    }
  }

  // ---- stepped runs: the commands of SteppedSimulation ----

  std::size_t node_count() const { return slots_.size(); }
  TimeNs now() const { return now_; }
  bool up(std::size_t index) const { return slots_.at(index).node != nullptr; }
  const std::optional<Failure>& failure() const { return failure_; }
  const Outcome& call_outcome(std::uint64_t serial) const { return call_outcomes_.at(serial); }
  const Outcome& stream_outcome(std::uint64_t serial) const { return stream_outcomes_.at(serial); }
  std::size_t calls_started() const { return call_outcomes_.size(); }
  std::size_t streams_opened() const { return stream_outcomes_.size(); }

  // Every stepped command runs, then the world handles what it caused.
  template <typename Command>
  auto then_pump(Command command) {
    const auto result = command();
    pump();
    return result;
  }

  std::optional<std::uint64_t> stepped_call(std::size_t from, std::size_t to, std::uint16_t handler,
                                            std::size_t size, std::int64_t timeout_ms) {
    return then_pump([&] { return call(from, to, handler, size, timeout_ms); });
  }

  std::optional<std::uint64_t> stepped_stream(std::size_t from, std::size_t to,
                                              std::uint64_t messages, std::uint32_t window_msgs,
                                              std::int64_t timeout_ms) {
    return then_pump([&] {
      return open_stream(from, to, kStreamEcho, messages, window_msgs, timeout_ms, true);
    });
  }

  // The opener of stream `serial` writes its next message (closing after the last); false
  // when it cannot (no credit, ended, crashed, all written).
  bool stream_write(std::uint64_t serial) {
    return with_opener(serial,
                       [this](PeerConnection& connection, StreamId id, TrackedStream& stream) {
                         return write_next(connection, id, stream);
                       });
  }

  // The opener of stream `serial` reads and checks one echo; false when none is waiting.
  bool stream_consume(std::uint64_t serial) {
    return with_opener(serial,
                       [this](PeerConnection& connection, StreamId id, TrackedStream& stream) {
                         return read_echo(connection, id, stream);
                       });
  }

  // Runs `step(connection, id, stream)` at the opener of stream `serial` while the opener
  // lives and the stream is open (else false), as a stepped command.
  template <typename Step>
  bool with_opener(std::uint64_t serial, Step step) {
    return then_pump([&] {
      TrackedStream* stream = open_stream_of(serial);
      if (stream == nullptr) return false;
      const auto& [from, epoch, peer, generation, mux] = stream_keys_[serial];
      PeerConnection connection = slots_[from].node->connection(peer);
      return step(connection, StreamId{generation, mux}, *stream);
    });
  }

  bool stepped_cancel_call(std::uint64_t serial) {
    return then_pump([&] { return cancel_call(serial); });
  }
  bool stepped_cancel_stream(std::uint64_t serial) {
    return then_pump([&] { return cancel_stream(serial); });
  }

  // Cuts the nodes with side[i] true off from the others (only their sending, if one way)
  // until heal().
  void stepped_partition(const std::vector<bool>& side, bool one_way) {
    cut(side, one_way, kUntilHealed);
    ++faults_;
    trace({"fault partition until healed", (one_way ? " one-way" : "")});
    pump();
  }

  // Ends every partition: bytes they held go on, in order.
  void heal() {
    lift_partitions();
    trace({"heal"});
    pump();
  }

  void stepped_crash(std::size_t index) {
    crash(index);
    pump();
  }

  void restart(std::size_t index) {
    if (!slots_.at(index).node) start_node(index);
    pump();
  }

  void inject(std::size_t from, std::size_t to, Bytes bytes) {
    const std::size_t link_at = up_link_.at(from).at(to);
    if (link_at == kNoLink || bytes.empty()) return;
    Link& link = links_[link_at];
    const int side = side_of(link, from);
    if (!link.open[side] || !link.open[1 - side]) return;
    ++link.corruptions;  // a protocol error on this link is expected now
    trace({"inject ", std::to_string(bytes.size()), " bytes ", names_[from], " -> ", names_[to]});
    send_across(link_at, side, bytes);
    pump();
  }

  // Runs the world for `duration_ns` of simulated time.
  void advance(TimeNs duration_ns) {
    const TimeNs end = now_ + duration_ns;
    run_until(end);
    if (!failure_) now_ = std::max(now_, end);
  }

  // Faults end (partitions heal, crashed nodes restart), every stream finishes on its own,
  // the world runs `quiet_ns` more, and liveness is checked.
  SimResult heal_and_drain(TimeNs quiet_ns, TimeNs settled_ns) {
    end_fault_phase();
    for (auto& [key, stream] : streams_) {
      if (stream.ended || !stream.manual) continue;
      stream.manual = false;
      const auto& [from, epoch, peer, generation, mux] = key;
      if (!slots_[from].node || slots_[from].epoch != epoch) continue;
      write_stream(from, peer, StreamId{generation, mux});
      stream_readable(from, peer, StreamId{generation, mux});
      if (failure_) break;
    }
    const TimeNs end = now_ + quiet_ns;
    if (settled_ns >= quiet_ns) {
      advance(quiet_ns);
    } else {
      while (now_ < end && !failure_ && liveness_problem()) {
        advance(std::min(kSecond, end - now_));
      }
      if (!failure_ && now_ < end) advance(std::min(settled_ns, end - now_));
    }
    if (!failure_) check_liveness();
    return result();
  }

 private:
  // The opener's record of stream `serial` while its opener lives and it has not ended.
  TrackedStream* open_stream_of(std::uint64_t serial) {
    const auto found = streams_.find(stream_keys_.at(serial));
    if (found == streams_.end() || found->second.ended) return nullptr;
    const std::size_t from = std::get<0>(found->first);
    if (!slots_[from].node || slots_[from].epoch != std::get<1>(found->first)) return nullptr;
    return &found->second;
  }

  void run_until(TimeNs end) {
    while (!failure_) {
      pump();
      if (failure_) break;
      TimeNs next = queue_.next_time();
      for (const Slot& slot : slots_) {
        if (slot.node) next = std::min(next, slot.node->next_deadline());
      }
      if (next > end) break;
      spins_ = next <= now_ ? spins_ + 1 : 0;
      if (spins_ > 100'000) {
        report_stuck_timer();
        break;
      }
      now_ = std::max(now_, next);
      step();
    }
  }

  SimResult result() const {
    SimResult result;
    if (failure_) {
      result.kind = failure_->kind;
      result.message = failure_->message;
    }
    result.events = events_;
    result.trace_hash = trace_hash_;
    result.sim_ns = now_;
    result.requests = call_links_.size();  // every call started, crashed callers too
    result.completed_ok = completed_ok_;
    result.faults = faults_;
    result.rates = rates_;
    result.workload = workload_;
    return result;
  }

  struct Slot {
    std::unique_ptr<Node> node;  // null while crashed
    std::uint64_t epoch = 0;     // restarts so far
    std::int64_t skew_ms = 0;
    std::set<TransportId> abandoned_dials;
  };
  struct Link {
    std::size_t node[2] = {0, 0};
    std::uint64_t epoch[2] = {0, 0};
    TransportId transport[2] = {0, 0};
    bool open[2] = {true, true};
    TimeNs last_arrival[2] = {0, 0};
    TimeNs held_until[2] = {0, 0};
    // Per side s: bytes s wrote that s's peer has not taken yet (bounded by the send
    // buffer), whether s has output waiting for that room, and the bytes that arrived at
    // s but s has not taken (its reader paused or its input off).
    std::size_t in_flight[2] = {0, 0};
    bool wants_write[2] = {false, false};
    std::vector<std::uint8_t> arrived[2];
    std::vector<std::uint8_t> feeding[2];  // feed()'s buffer, handed to the node
    std::vector<std::uint8_t> written[2];  // what each side wrote, with options.capture_dir
    // Per side s: what s put on the wire that has not arrived yet, and how it is cut into
    // deliveries (oldest first).
    ByteBuffer in_transit[2];
    std::deque<std::size_t> pieces[2];
    std::size_t parked[2] = {0, 0};  // deliveries held by a partition until heal()
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
  };
  static constexpr std::size_t kNoLink = SIZE_MAX;

  using LinkKey = std::tuple<std::size_t, std::uint64_t, TransportId>;
  // (node, its epoch, peer, request id): ids are unique per connection, one per peer.
  using CallKey = std::tuple<std::size_t, std::uint64_t, PeerId, RequestId>;

  // ---- time and trace ----

  void at(TimeNs when, std::function<void()> run) { queue_.at(when, std::move(run)); }

  // Records an event whose text is `parts` joined: the hash chains the previous hash (8
  // bytes, little-endian), the time and the text. The text is assembled in a buffer that
  // keeps its memory, so tracing allocates nothing once warm.
  void trace(std::initializer_list<std::string_view> parts) {
    ++events_;
    std::string& keyed = trace_scratch_;
    keyed.clear();
    for (int i = 0; i < 8; ++i)
      keyed.push_back(static_cast<char>(trace_hash_ >> (8 * i)));
    keyed.append(std::to_string(now_)).push_back(' ');
    const std::size_t text_at = keyed.size();
    for (std::string_view part : parts)
      keyed.append(part);
    trace_hash_ = checksum64(as_bytes(keyed));
    if (trace_file_) {
      trace_file_ << "{\"t_ns\":" << now_ << ",\"event\":\""
                  << std::string_view(keyed).substr(text_at) << "\"}\n";
    }
  }

  // ---- Chrome trace-event output ----

  // Two processes: "nodes" (pid 1: a track per node and one for the cluster) and "links"
  // (pid 2: a track per pair of nodes, with its transports and the faults that hit them).
  void open_chrome_trace(const std::string& path, int nodes) {
    chrome_file_.open(path);
    chrome_file_ << R"([{"name":"process_name","ph":"M","pid":1,"args":{"name":"nodes"}},)"
                 << "\n"
                 << R"({"name":"process_name","ph":"M","pid":2,"args":{"name":"links"}})";
    for (int i = 0; i <= nodes; ++i) {
      const std::string name = i < nodes ? "n" + std::to_string(i) : "cluster";
      chrome_file_ << ",\n"
                   << R"({"name":"thread_name","ph":"M","pid":1,"tid":)" << i
                   << R"(,"args":{"name":")" << name << R"("}})";
    }
    for (int a = 0; a < nodes; ++a) {
      for (int b = a + 1; b < nodes; ++b) {
        chrome_file_ << ",\n"
                     << R"({"name":"thread_name","ph":"M","pid":2,"tid":)"
                     << pair_track(static_cast<std::size_t>(a), static_cast<std::size_t>(b),
                                   static_cast<std::size_t>(nodes))
                     << R"(,"args":{"name":"n)" << a << "-n" << b << R"("}})";
      }
    }
  }

  // The links track of the pair {a, b} among `nodes` nodes: 0, 1, ... in (a, b) order.
  static std::size_t pair_track(std::size_t a, std::size_t b, std::size_t nodes) {
    if (a > b) std::swap(a, b);
    return a * nodes - a * (a + 1) / 2 + (b - a - 1);
  }

  // One event: phase i (instant), b / e (an async span, matched by `id`); `track` is a node
  // index or the cluster track (the number of nodes).
  void chrome(char phase, std::size_t track, const std::string& name, const std::string& id = {}) {
    chrome_event(1, phase, track, name, id);
  }

  // The same on the track of the pair of nodes a link joins.
  void chrome_link(char phase, const Link& link, const std::string& name,
                   const std::string& id = {}) {
    chrome_event(2, phase, pair_track(link.node[0], link.node[1], slots_.size()), name, id);
  }

  void chrome_event(int pid, char phase, std::size_t track, const std::string& name,
                    const std::string& id) {
    if (!chrome_file_.is_open()) return;
    char ts[32];
    std::snprintf(ts, sizeof ts, "%.3f", static_cast<double>(now_) / 1000.0);
    chrome_file_ << ",\n{\"name\":\"" << name << "\",\"ph\":\"" << phase << "\",\"ts\":" << ts
                 << ",\"pid\":" << pid << ",\"tid\":" << track;
    if (phase == 'i') chrome_file_ << ",\"s\":\"t\"";
    if (!id.empty()) chrome_file_ << ",\"cat\":\"" << name << "\",\"id\":\"" << id << "\"";
    chrome_file_ << "}";
  }

  // A transport is a span on its pair's track, from the dial (or ghost) to its last close.
  void transport_opened(std::size_t link_at) {
    chrome_link('b', links_[link_at], "transport", "t" + std::to_string(link_at));
  }
  void side_closed(std::size_t link_at, int side) {
    Link& link = links_[link_at];
    if (!link.open[side]) return;
    link.open[side] = false;
    if (!link.open[1 - side]) chrome_link('e', link, "transport", "t" + std::to_string(link_at));
  }

  std::size_t cluster_track() const { return slots_.size(); }

  void fail(SimResult::Kind kind, const std::string& message) {
    if (failure_) return;
    failure_ = Failure{kind, "at " + std::to_string(now_) + " ns: " + message};
  }

  void step() {
    std::uint64_t steps = 0;
    while (!failure_) {
      std::optional<std::function<void()>> action = queue_.pop_due(now_);
      if (!action) break;
      (*action)();
      if (++steps > 10'000'000)
        return fail(SimResult::Kind::liveness, "livelock: no progress in time");
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].node && slots_[i].node->next_deadline() <= now_) slots_[i].node->on_timer(now_);
    }
  }

  // A node whose deadline stays at or before now after on_timer: the core's timers never
  // advance, so the simulation cannot either.
  void report_stuck_timer() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].node || slots_[i].node->next_deadline() > now_) continue;
      std::string states;
      for (PeerId p = 0; p < slots_[i].node->peer_count(); ++p) {
        states += " " + std::string(peer_state_name(slots_[i].node->connection(p).state()));
      }
      return fail(SimResult::Kind::liveness, "timer of " + names_[i] + " stuck at " +
                                                 std::to_string(slots_[i].node->next_deadline()) +
                                                 "; peers:" + states);
    }
    fail(SimResult::Kind::liveness, "time does not advance: " + std::to_string(queue_.size()) +
                                        " actions, next at " +
                                        std::to_string(queue_.empty() ? -1 : queue_.next_time()));
  }

  // ---- nodes ----

  NodeConfig config_for(std::size_t index) const {
    NodeConfig config;
    config.name = names_[index];
    for (std::size_t j = 0; j < names_.size(); ++j) {
      if (j != index) config.peers.push_back(names_[j]);
    }
    config.auth = std::make_shared<StaticTokenAuth>("sim");
    config.seed = options_.seed * 1'000'003 + index * 1009 + slots_[index].epoch;
    // Limits small enough that a busy run reaches them, so the oracle sees them hold.
    ConnectionLimits& limits = config.limits;
    limits.max_message_bytes = 1 << 20;
    limits.max_outbound_requests = 512;
    limits.max_inbound_requests = 64;
    limits.max_streams = 48;
    limits.max_queued_bytes = 4 << 20;
    limits.max_control_frames = 4096;
    config.canary = canary_;
    return config;
  }

  // Every queue of a node stays within its limit (checked whenever the node did something).
  // Every queue of a node's connection to `peer` stays within its limit.
  void check_queue_limits(std::size_t index, PeerId peer) {
    Node& node = *slots_[index].node;
    const ConnectionLimits& limits = node.config().limits;
    // The output buffer is filled only below the high-water mark, one frame at a time.
    const std::size_t output_limit = limits.output_high_water_bytes + limits.chunk_bytes + 4096;
    // Requests respect max_queued_bytes (one of up to max_message_bytes goes into empty
    // lanes); answers to the requests being served may add one payload each.
    const std::size_t data_limit =
        std::max(limits.max_queued_bytes, limits.max_message_bytes + 64) +
        limits.max_inbound_requests * (limits.max_message_bytes + 64);
    const PeerStats stats = node.connection(peer).stats();
    const char* broken = stats.outbound_in_flight > limits.max_outbound_requests ? "outbound"
                         : stats.inbound_in_flight > limits.max_inbound_requests ? "inbound"
                         : stats.streams_open > limits.max_streams               ? "streams"
                         : stats.queued_control_frames > limits.max_control_frames
                             ? "control frames"
                         : stats.queued_data_bytes > data_limit ? "queued data"
                         : stats.output_bytes > output_limit    ? "output buffer"
                                                                : nullptr;
    if (broken == nullptr) return;
    fail(SimResult::Kind::safety, names_[index] + "'s " + broken + " queue to " +
                                      node.config().peers[peer] + " is over its limit");
  }

  // The peer an event concerns, if it names one.
  static std::optional<PeerId> peer_of(const Event& event) {
    return std::visit(
        [](const auto& e) -> std::optional<PeerId> {
          if constexpr (requires { e.peer; }) {
            return static_cast<PeerId>(e.peer);
          } else {
            return std::nullopt;
          }
        },
        event);
  }

  void start_node(std::size_t index) {
    Slot& slot = slots_[index];
    slot.node = std::make_unique<Node>(config_for(index), now_,
                                       kWallOriginMs + ms_from_ns(now_) + slot.skew_ms);
    for (std::uint16_t handler : {kEcho, kError, kSlow, kSilent})
      slot.node->register_handler(handler);
    slot.node->register_stream_handler(kStreamEcho, {}, StreamWindow{4, kStreamWindowBytes});
    slot.node->register_stream_handler(kStreamStuck, {}, StreamWindow{2, kStreamWindowBytes});
    trace({"node ", names_[index], " start epoch ", std::to_string(slot.epoch)});
  }

  void crash(std::size_t index) {
    Slot& slot = slots_[index];
    if (!slot.node) return;
    ++faults_;
    trace({"fault crash ", names_[index]});
    chrome('i', index, "crash");
    // Links of the dead incarnation: the peer learns at once (reset) or later (half-open).
    for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
      Link& link = links_[link_at];
      for (int side = 0; side < 2; ++side) {
        if (link.node[side] != index || link.epoch[side] != slot.epoch || !link.open[side])
          continue;
        side_closed(link_at, side);
        peer_learns_of_reset(link_at, 1 - side);
      }
    }
    // Streams this incarnation opened or served die with it too.
    for (auto it = streams_.begin(); it != streams_.end();) {
      const bool dies = std::get<0>(it->first) == index && std::get<1>(it->first) == slot.epoch;
      if (dies && !it->second.ended) stream_outcomes_[it->second.serial].dropped = true;
      it = dies ? streams_.erase(it) : ++it;
    }
    for (auto it = served_.begin(); it != served_.end();) {
      it = std::get<0>(it->first) == index && std::get<1>(it->first) == slot.epoch
               ? served_.erase(it)
               : ++it;
    }
    // Calls this incarnation started die with it; the oracle stops expecting them.
    for (auto it = calls_.begin(); it != calls_.end();) {
      const bool dies = std::get<0>(it->first) == index && std::get<1>(it->first) == slot.epoch;
      if (dies && !it->second.done) call_outcomes_[it->second.serial].dropped = true;
      it = dies ? calls_.erase(it) : ++it;
    }
    slot.node.reset();
    slot.abandoned_dials.clear();
    std::fill(adopted_[index].begin(), adopted_[index].end(), Adopted{});  // memory is lost
    waiting_input_[index].clear();
    for (std::size_t other = 0; other < slots_.size(); ++other) {
      up_link_[index][other] = kNoLink;
      if (other != index) disturb(index, other, now_ + rates_.restart_ns);
    }
    ++slot.epoch;
    if (stepped_) return;  // restart() brings it back
    at(now_ + rates_.restart_ns, [this, index] {
      if (!slots_[index].node) start_node(index);
    });
  }

  // ---- links ----

  Link* link_of(std::size_t node, TransportId transport, int* side) {
    const std::size_t link_at = link_at_of(node, transport);
    if (link_at == kNoLink) return nullptr;
    Link& link = links_[link_at];
    *side = side_of(link, node);
    return &link;
  }
  std::size_t link_at_of(std::size_t node, TransportId transport) const {
    const auto found = link_index_.find({node, slots_[node].epoch, transport});
    return found == link_index_.end() ? kNoLink : found->second;
  }

  // Schedules the next `piece_bytes` of what `from_side` put on the wire to arrive.
  void deliver_later(std::size_t link_at, int from_side, std::size_t piece_bytes) {
    Link& link = links_[link_at];
    const std::size_t from = link.node[from_side];
    const std::size_t to = link.node[1 - from_side];
    TimeNs arrival = now_ + rates_.latency_ns;
    if (rates_.jitter_ns > 0)
      arrival += static_cast<TimeNs>(link.rng.below(static_cast<std::uint64_t>(rates_.jitter_ns)));
    // A spike is far shorter than keepalive's patience, so it does not count as a disturbance.
    if (faults_on_ && rates_.spike_chance > 0 && link.rng.unit() < rates_.spike_chance)
      arrival += rates_.spike_ns;
    // Never before an earlier piece: pieces arrive in the order they were sent, so the
    // delivery actions of one direction run in FIFO order.
    arrival = std::max({arrival, link.last_arrival[from_side], link.held_until[from_side],
                        std::min(blocked_until_[from][to], kUntilHealed - 1)});
    link.last_arrival[from_side] = arrival;
    link.pieces[from_side].push_back(piece_bytes);
    schedule_arrival(arrival, link_at, from_side);
  }

  void schedule_arrival(TimeNs when, std::size_t link_at, int from_side) {
    // Two words of capture: std::function keeps it without a heap allocation.
    at(when, [this, direction = 2 * link_at + static_cast<std::size_t>(from_side)] {
      arrive(direction / 2, static_cast<int>(direction % 2));
    });
  }

  // The oldest piece `from_side` sent reaches the other side (lost if that side closed).
  void arrive(std::size_t link_at, int from_side) {
    Link& link = links_[link_at];
    const TimeNs blocked = blocked_until_[link.node[from_side]][link.node[1 - from_side]];
    if (blocked > now_ && link.open[1 - from_side]) {
      // A partition that began after the write holds the bytes too.
      if (blocked >= kUntilHealed) {
        ++link.parked[from_side];
      } else {
        schedule_arrival(blocked, link_at, from_side);
      }
      return;
    }
    const std::size_t piece_bytes = link.pieces[from_side].front();
    link.pieces[from_side].pop_front();
    const int to_side = 1 - from_side;
    if (link.open[to_side]) {
      const Bytes piece = link.in_transit[from_side].view().first(piece_bytes);
      link.arrived[to_side].insert(link.arrived[to_side].end(), piece.begin(), piece.end());
    }
    link.in_transit[from_side].consume(piece_bytes);
    if (link.open[to_side]) return feed(link_at, to_side);
    link.in_transit[from_side].release_if_empty(0);  // a dead link keeps no memory
  }

  bool reading(std::size_t index) const {
    return slots_[index].node && now_ >= paused_until_[index] &&
           slots_[index].node->accepting_input();
  }

  // Hands the bytes that arrived at `side` of a link to its node if it is reading (else
  // they wait), frees that much of the writer's send buffer, and lets the writer go on.
  void feed(std::size_t link_at, int side) {
    Link& link = links_[link_at];
    const std::size_t receiver = link.node[side];
    if (!link.open[side] || !slots_[receiver].node || slots_[receiver].epoch != link.epoch[side]) {
      link.arrived[side].clear();
      return;
    }
    if (link.arrived[side].empty()) return;
    if (!reading(receiver)) {
      waiting_input_[receiver].insert(link_at);
      return;
    }
    // Swapped, not moved, out of `arrived`: both vectors keep their memory for the next
    // delivery. The node takes the bytes within on_bytes (the core calls nothing back), so
    // `feeding` is empty again before anything else can reach this link.
    std::vector<std::uint8_t>& bytes = link.feeding[side];
    bytes.swap(link.arrived[side]);
    link.in_flight[1 - side] -= std::min(link.in_flight[1 - side], bytes.size());
    input_link_ = link_at;
    slots_[receiver].node->on_bytes(now_, link.transport[side], bytes);
    bytes.clear();
    pump_node(receiver);  // events caused by these bytes are known to come from this link
    input_link_ = kNoLink;
    const Link& after = links_[link_at];
    const std::size_t writer = after.node[1 - side];
    // Like Linux, a blocked writer wakes only once a third of its send buffer is free: waking
    // it per piece would make it write ever smaller pieces.
    const bool writable = after.in_flight[1 - side] <= rates_.send_buffer_bytes / 3 * 2;
    if (after.wants_write[1 - side] && writable && after.open[1 - side] && slots_[writer].node &&
        slots_[writer].epoch == after.epoch[1 - side]) {
      drain(writer, after.transport[1 - side]);
    }
  }

  // Feeds every link whose bytes waited for `index` to read again.
  void feed_waiting(std::size_t index) {
    const std::set<std::size_t> waiting = std::move(waiting_input_[index]);
    waiting_input_[index].clear();
    for (std::size_t link_at : waiting)
      feed(link_at, side_of(links_[link_at], index));
  }

  void disturb(std::size_t a, std::size_t b, TimeNs until) {
    disturbed_until_[a][b] = std::max(disturbed_until_[a][b], until);
    disturbed_until_[b][a] = disturbed_until_[a][b];
  }

  // Puts `bytes` on the wire from `from_side`: flips a bit as the profile's rate says, then
  // cuts them into deliveries as its chunking says.
  void send_across(std::size_t link_at, int from_side, Bytes bytes) {
    if (bytes.empty()) return;
    Rng& rng = links_[link_at].rng;
    std::uint8_t* const sent = links_[link_at].in_transit[from_side].extend(bytes.size());
    std::memcpy(sent, bytes.data(), bytes.size());
    if (faults_on_ && rates_.bitflip_per_mib > 0 &&
        rng.unit() < rates_.bitflip_per_mib * static_cast<double>(bytes.size()) / (1 << 20)) {
      const std::uint64_t bit = rng.below(bytes.size() * 8);
      sent[bit / 8] = static_cast<std::uint8_t>(sent[bit / 8] ^ (1u << (bit % 8)));
      ++links_[link_at].corruptions;
      ++faults_;
      trace({"fault bitflip link ", std::to_string(link_at)});
      chrome('i', links_[link_at].node[from_side], "bitflip");
      chrome_link('i', links_[link_at], "bitflip");
    }
    std::size_t at_byte = 0;
    while (at_byte < bytes.size()) {
      std::size_t piece = bytes.size() - at_byte;
      if (rates_.chunking >= 1) piece = std::min(piece, 1 + rng.below(1500));
      if (rates_.chunking >= 2 && rng.unit() < 0.1) piece = 1;
      deliver_later(link_at, from_side, piece);
      at_byte += piece;
    }
  }

  // Writes what the send buffer has room for; the rest waits until the reader takes some.
  void drain(std::size_t index, TransportId transport) {
    const std::size_t link_at = link_at_of(index, transport);
    Link* link = link_at == kNoLink ? nullptr : &links_[link_at];
    const int side = link == nullptr ? 0 : side_of(*link, index);
    Node& node = *slots_[index].node;
    const Bytes output = node.pending_output(transport);
    if (output.empty()) return;
    if (link == nullptr || !link->open[side]) {
      node.consume_output(transport, output.size());  // written into a dead socket
      return;
    }
    std::size_t room = output.size();
    if (rates_.send_buffer_bytes > 0) {
      room = rates_.send_buffer_bytes - std::min(rates_.send_buffer_bytes, link->in_flight[side]);
    }
    if (side == 0 && !link->hello_known) capture_hello(*link, output);
    const std::size_t count = std::min(room, output.size());
    link->wants_write[side] = count < output.size();
    if (count == 0) return;
    link->in_flight[side] += count;
    capture(*link, side, output.first(count));
    send_across(link_at, side, output.first(count));
    node.consume_output(transport, count);
  }

  void dial(std::size_t from, PeerId peer, TransportId transport) {
    const std::size_t to = peer < from ? peer : peer + 1;  // peers list all others in order
    // After the fault phase every dial goes through (links have healed).
    const double roll = faults_on_ ? fault_rng_.unit() : 1.0;
    const bool blocked = blocked_until_[from][to] > now_ || blocked_until_[to][from] > now_;
    trace({"dial ", names_[from], " -> ", names_[to]});
    if (blocked || roll < rates_.hang_chance) {
      ++faults_;
      return;  // no answer: the dialer's connect timeout ends it
    }
    const std::uint64_t from_epoch = slots_[from].epoch;
    at(now_ + rates_.latency_ns, [this, from, to, transport, from_epoch,
                                  refused = roll < rates_.hang_chance + rates_.refuse_chance] {
      Slot& dialer = slots_[from];
      if (!dialer.node || dialer.epoch != from_epoch) return;
      if (dialer.abandoned_dials.erase(transport) > 0) return;
      if (refused || !slots_[to].node) {
        if (refused) ++faults_;
        dialer.node->on_connect_failed(now_, transport, "connection refused");
        return;
      }
      const TransportId accepted = slots_[to].node->on_accepted(now_);
      Link& link = links_.emplace_back();  // in place: moving a Link allocates (its deques)
      link.node[0] = from;
      link.node[1] = to;
      link.epoch[0] = from_epoch;
      link.epoch[1] = slots_[to].epoch;
      link.transport[0] = transport;
      link.transport[1] = accepted;
      link.rng = fault_rng_.split();
      transport_opened(links_.size() - 1);
      link_index_[{from, from_epoch, transport}] = links_.size() - 1;
      link_index_[{to, slots_[to].epoch, accepted}] = links_.size() - 1;
      dialer.node->on_connected(now_, transport);
    });
  }

  void close_transport(std::size_t index, event::CloseTransport&& close) {
    const std::size_t link_at = link_at_of(index, close.transport);
    if (link_at == kNoLink) {
      slots_[index].abandoned_dials.insert(close.transport);
      return;
    }
    Link* link = &links_[link_at];
    const int side = side_of(*link, index);
    if (!link->open[side]) return;
    side_closed(link_at, side);
    capture(*link, side, close.final_bytes);
    if (!close.final_bytes.empty()) send_across(link_at, side, close.final_bytes);
    // The peer sees the close after the bytes before it.
    const TimeNs when = std::max(now_ + rates_.latency_ns, link->last_arrival[side]);
    at(when, [this, link_at, side] { transport_down(link_at, 1 - side, "peer closed"); });
  }

  // ---- captured sessions (SimOptions::capture_dir) ----

  void capture(Link& link, int side, Bytes bytes) {
    if (options_.capture_dir.empty()) return;
    link.written[side].insert(link.written[side].end(), bytes.begin(), bytes.end());
  }

  void write_captures() const {
    for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
      const Link& link = links_[link_at];
      for (int side = 0; side < 2; ++side) {
        if (link.written[side].empty()) continue;
        const std::string path = options_.capture_dir + "/" + std::to_string(link_at) + "-" +
                                 names_[link.node[side]] + "-to-" + names_[link.node[1 - side]] +
                                 ".wire";
        std::ofstream file(path, std::ios::binary);
        file.write(reinterpret_cast<const char*>(link.written[side].data()),
                   static_cast<std::streamsize>(link.written[side].size()));
      }
    }
  }

  void transport_down(std::size_t link_at, int side, const char* why) {
    Link& link = links_[link_at];
    if (!link.open[side]) return;
    side_closed(link_at, side);
    Slot& slot = slots_[link.node[side]];
    if (slot.node && slot.epoch == link.epoch[side])
      slot.node->on_transport_down(now_, link.transport[side], why);
  }

  void peer_learns_of_reset(std::size_t link_at, int side) {
    if (fault_rng_.unit() < rates_.half_open_chance) {
      // Half-open: learns only much later (its keepalive will likely notice first).
      at(now_ + kSecond * static_cast<TimeNs>(1 + fault_rng_.below(40)),
         [this, link_at, side] { transport_down(link_at, side, "reset (late)"); });
    } else {
      transport_down(link_at, side, "connection reset");
    }
  }

  // ---- the application on every node ----

  void pump() {
    for (bool moved = true; moved && !failure_;) {
      moved = false;
      for (std::size_t index = 0; index < slots_.size(); ++index) {
        // Most nodes are idle at most steps: skip them before pump_node's heavy frame.
        if (slots_[index].node && slots_[index].node->has_output()) {
          moved = pump_node(index) || moved;
        }
        if (!waiting_input_[index].empty() && reading(index)) {
          moved = true;
          feed_waiting(index);
        }
      }
    }
  }

  // Handles a node's events and writes its output; true if there was any. The connections
  // this touched are checked against their limits.
  bool pump_node(std::size_t index) {
    bool moved = false;
    if (!slots_[index].node) return false;
    ScratchPeers scratch(spare_peer_lists_);
    std::vector<PeerId>& touched = scratch.list;
    while (std::optional<Event> event = slots_[index].node->poll_event()) {
      moved = true;
      if (const std::optional<PeerId> peer = peer_of(*event)) touched.push_back(*peer);
      handle(index, std::move(*event));
      if (!slots_[index].node) return true;
    }
    while (std::optional<TransportId> transport = slots_[index].node->poll_transmit()) {
      moved = true;
      int side = 0;
      if (const Link* link = link_of(index, *transport, &side))
        touched.push_back(peer_index(index, link->node[1 - side]));
      drain(index, *transport);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    for (PeerId peer : touched) {
      if (!slots_[index].node || failure_) break;
      check_queue_limits(index, peer);
    }
    return moved;
  }

  // A peer list borrowed from a pool for the length of a pump_node call and given back
  // cleared, so that the lists keep their memory (pump_node nests: several may be out).
  struct ScratchPeers {
    explicit ScratchPeers(std::vector<std::vector<PeerId>>& pool_in) : pool(pool_in) {
      if (!pool.empty()) {
        list = std::move(pool.back());
        pool.pop_back();
      }
    }
    ~ScratchPeers() {
      list.clear();
      pool.push_back(std::move(list));
    }
    ScratchPeers(const ScratchPeers&) = delete;
    ScratchPeers& operator=(const ScratchPeers&) = delete;
    std::vector<std::vector<PeerId>>& pool;
    std::vector<PeerId> list;
  };

  static PeerId peer_index(std::size_t index, std::size_t other) {
    return static_cast<PeerId>(other < index ? other : other - 1);  // see node_of
  }

  void handle(std::size_t index, Event&& event) {
    Node& node = *slots_[index].node;
    if (auto* e = std::get_if<event::Dial>(&event)) return dial(index, e->peer, e->transport);
    if (auto* e = std::get_if<event::CloseTransport>(&event)) {
      trace({"close ", names_[index], " ", e->reason});
      check_protocol_error(index, *e);
      return close_transport(index, std::move(*e));
    }
    if (auto* e = std::get_if<event::PeerUp>(&event)) {
      // A handshake completes on reading its last frame: input_link_ is the link.
      up_link_[index][node_of(index, e->peer)] = input_link_;
      if (input_link_ != kNoLink && links_[input_link_].hello_known &&
          side_of(links_[input_link_], index) == 1) {
        check_adopted_hello(index, node_of(index, e->peer), links_[input_link_]);
      }
      chrome('b', index, "connection", connection_span(index, e->peer, e->generation));
      return trace({"up ", names_[index], " ", node.config().peers[e->peer]});
    }
    if (auto* e = std::get_if<event::PeerDown>(&event)) {
      trace({"down ", names_[index], " ", node.config().peers[e->peer]});
      chrome('e', index, "connection", connection_span(index, e->peer, e->generation));
      return check_keepalive_drop(index, e->peer, e->reason);
    }
    if (auto* e = std::get_if<event::HandshakeFailed>(&event)) {
      trace({"handshake failed ", names_[index], " ", e->message});
      const bool ghost = input_link_ != kNoLink && links_[input_link_].ghost;
      if (!ghost && (e->status == Status::bad_token || e->status == Status::unknown_node ||
                     e->status == Status::wrong_dialer || e->status == Status::version_mismatch)) {
        fail(SimResult::Kind::safety, "handshake refused for no reason: " + e->message);
      }
      return;
    }
    if (auto* e = std::get_if<event::RequestReceived>(&event)) return serve(index, std::move(*e));
    if (auto* e = std::get_if<event::StreamOpened>(&event)) return stream_opened(index, *e);
    if (auto* e = std::get_if<event::StreamReadable>(&event))
      return stream_readable(index, e->peer, e->id);
    if (auto* e = std::get_if<event::StreamWritable>(&event))
      return stream_writable(index, e->peer, e->id);
    if (auto* e = std::get_if<event::StreamEnded>(&event)) return stream_ended(index, *e);
    if (auto* e = std::get_if<event::RequestDone>(&event)) return check_done(index, *e);
    if (std::holds_alternative<event::RequestCanceled>(event))
      return trace({"request canceled at ", names_[index]});
  }

  std::string connection_span(std::size_t index, PeerId peer, std::uint64_t generation) const {
    return names_[index] + "-" + names_[node_of(index, peer)] + "-e" +
           std::to_string(slots_[index].epoch) + "-g" + std::to_string(generation);
  }

  static std::size_t node_of(std::size_t index, PeerId peer) {
    return peer < index ? peer : peer + 1;  // peers list all other nodes in order
  }

  // Which side of `link` node `index` (its current incarnation) is.
  int side_of(const Link& link, std::size_t index) const {
    return link.node[0] == index && link.epoch[0] == slots_[index].epoch ? 0 : 1;
  }

  // How long after a disturbance of a pair's traffic keepalive may still drop their link:
  // the silence it needs, one more ping interval, and room for delays.
  static TimeNs keepalive_grace_ns() {
    const ConnectionTimeouts timeouts;
    return ns_from_ms(timeouts.ping_interval_ms) * (timeouts.dead_after_pings + 1) + 5 * kSecond;
  }

  // Keepalive drops a link whose peer stopped answering. Between two correct nodes on a link
  // no fault has touched for a while, the peer always answers: a drop there means one of
  // them stopped reading or writing for good (a deadlock).
  void check_keepalive_drop(std::size_t index, PeerId peer, const std::string& reason) {
    if (reason.find("silent") == std::string::npos) return;
    const std::size_t other = node_of(index, peer);
    const std::size_t link_at = up_link_[index][other];
    if (link_at == kNoLink) return;
    const Link& link = links_[link_at];
    if (!link.open[1 - side_of(link, index)]) return;  // the peer's end is gone: silence is right
    if (now_ < disturbed_until_[index][other] + keepalive_grace_ns()) return;
    fail(SimResult::Kind::liveness, names_[index] + " dropped its healthy link to " +
                                        names_[other] + " (" + reason +
                                        "): a reader or writer stopped for good");
  }

  // Two correct nodes never send each other malformed frames: a protocol error needs a bit
  // flip on that link (or, for a peer that stopped reading, a recent disturbance).
  void check_protocol_error(std::size_t index, const event::CloseTransport& close) {
    if (close.reason.rfind("protocol error", 0) != 0) return;
    int side = 0;
    const Link* link = link_of(index, close.transport, &side);
    if (link == nullptr || link->corruptions > 0) return;
    const std::size_t other = link->node[1 - side];
    if (close.reason.find("does not read") != std::string::npos &&
        now_ < disturbed_until_[index][other] + keepalive_grace_ns())
      return;
    fail(SimResult::Kind::safety,
         names_[index] + " found a protocol error on a clean link: " + close.reason);
  }

  // The call serial in a request payload's first 8 bytes (little-endian).
  static std::uint64_t serial_of(const std::vector<std::uint8_t>& payload) {
    std::uint64_t serial = 0;
    for (std::size_t i = 8; i-- > 0;)
      serial = serial << 8 | payload[i];
    return serial;
  }

  // A request must arrive on the connection it was sent on: one delivered on a later
  // connection is a frame of an old generation.
  void check_request_link(std::size_t index, const event::RequestReceived& request) {
    if (request.payload.size() < 8 || input_link_ == kNoLink) return;
    const std::uint64_t serial = serial_of(request.payload);
    if (serial >= call_links_.size() || call_links_[serial] == input_link_) return;
    fail(SimResult::Kind::safety, "call " + std::to_string(serial) + " reached " + names_[index] +
                                      " on link " + std::to_string(input_link_) +
                                      ", sent on link " + std::to_string(call_links_[serial]) +
                                      ": a frame of an old generation");
  }

  void serve(std::size_t index, event::RequestReceived&& request) {
    trace({"serve ", names_[index], " handler ", std::to_string(request.handler)});
    check_request_link(index, request);
    PeerConnection peer = slots_[index].node->connection(request.peer);
    switch (request.handler) {
      case kEcho:
        peer.respond(now_, request.id, std::move(request.payload));
        return;
      case kError:
        peer.respond_error(now_, request.id, Errc::remote_error,
                           "err" + std::to_string(request.payload.size()));
        return;
      case kSlow: {
        const std::uint64_t epoch = slots_[index].epoch;
        const TimeNs delay = static_cast<TimeNs>(workload_rng_.below(1500)) * 1'000'000;
        at(now_ + delay, [this, index, epoch, request = std::move(request)] {
          Slot& slot = slots_[index];
          if (!slot.node || slot.epoch != epoch) return;
          slot.node->connection(request.peer).respond(now_, request.id, request.payload);
        });
        return;
      }
      default:
        return;  // kSilent: the caller's deadline or cancel ends it
    }
  }

  void check_done(std::size_t index, const event::RequestDone& done) {
    const auto found = calls_.find({index, slots_[index].epoch, done.peer, done.id});
    if (found == calls_.end())
      return fail(SimResult::Kind::safety, "RequestDone for a call never started");
    TrackedCall& call = found->second;
    if (call.done) return fail(SimResult::Kind::safety, "a call ended twice");
    call.done = true;
    call_outcomes_[call.serial] = Outcome{true, false, done.result};
    const SharedBytes sent = std::move(call.payload);  // an ended call holds no memory
    chrome('e', index, "request", "r" + std::to_string(call.serial));
    trace({"done ", names_[index], " ", errc_name(done.result)});
    if (now_ > call.deadline_ns + 1'000'000) {
      return fail(
          SimResult::Kind::safety,
          "a call ended " + std::to_string(now_ - call.deadline_ns) + " ns after its deadline");
    }
    switch (done.result) {
      case Errc::ok:
        if (call.handler != kEcho && call.handler != kSlow)
          return fail(SimResult::Kind::safety, "ok from a handler that never succeeds");
        if (!std::ranges::equal(done.payload, sent.view()))
          return fail(SimResult::Kind::safety, "a response carried other bytes than the handler's");
        ++completed_ok_;
        return;
      case Errc::remote_error:
        if (call.handler != kError)
          return fail(SimResult::Kind::safety, "remote_error from a handler that never fails");
        if (std::string(done.payload.begin(), done.payload.end()) !=
            "err" + std::to_string(sent.size())) {
          return fail(SimResult::Kind::safety, "a remote error carried another message");
        }
        return;
      case Errc::canceled:
        if (!call.canceled) return fail(SimResult::Kind::safety, "canceled without a cancel");
        return;
      case Errc::disconnected:
      case Errc::deadline_exceeded:
      case Errc::busy:
        return;
      default:
        return fail(SimResult::Kind::safety,
                    "unexpected result " + std::string(errc_name(done.result)));
    }
  }

  // ---- streams ----

  // (node, epoch, peer, connection generation, mux): a restarted peer reuses mux numbers.
  using StreamKey = std::tuple<std::size_t, std::uint64_t, PeerId, std::uint64_t, std::uint64_t>;

  // Message `n` of stream `mux`: short, except one in sixteen that is longer than a part
  // (33..41 KiB with the default 32 KiB parts, so it travels in two parts that other frames
  // pass).
  static std::vector<std::uint8_t> stream_message(std::uint64_t mux, std::uint64_t n) {
    std::string text = std::to_string(mux) + ":" + std::to_string(n);
    if ((mux + n) % 16 == 0) {
      const std::size_t size = (33 << 10) + (mux * 7919 + n * 104729) % (8 << 10);
      text.resize(size, static_cast<char>('a' + n % 26));
    }
    return {text.begin(), text.end()};
  }

  void start_stream(std::size_t from, std::size_t to) {
    const auto window = static_cast<std::uint32_t>(1 + workload_rng_.below(6));
    // One stream in ten goes to a handler that never reads: only a deadline ends those.
    const bool stuck = workload_rng_.below(10) == 0;
    const std::int64_t timeout_ms =
        stuck || workload_rng_.below(3) == 0
            ? 1000 + static_cast<std::int64_t>(workload_rng_.below(9000))
            : 0;
    const std::uint64_t messages = 1 + workload_rng_.below(20);
    const std::optional<std::uint64_t> serial = open_stream(
        from, to, stuck ? kStreamStuck : kStreamEcho, messages, window, timeout_ms, false);
    if (serial && workload_rng_.below(10) == 0) {  // cancel one in ten, at a random moment
      at(now_ + static_cast<TimeNs>(workload_rng_.below(3000)) * 1'000'000,
         [this, serial = *serial] { cancel_stream(serial); });
    }
  }

  // Opens a stream of `messages` numbered messages to the echo handler; its serial, or
  // nothing when the opener is down or the core refused it. A manual stream writes and
  // reads only when told to.
  std::optional<std::uint64_t> open_stream(std::size_t from, std::size_t to, std::uint16_t handler,
                                           std::uint64_t messages, std::uint32_t window_msgs,
                                           std::int64_t timeout_ms, bool manual) {
    if (!slots_[from].node) return std::nullopt;
    const PeerId peer = static_cast<PeerId>(to < from ? to : to - 1);
    StreamArgs args;
    args.handler = handler;
    args.has_input = true;
    args.window = StreamWindow{window_msgs, kStreamWindowBytes};
    args.timeout_ms = timeout_ms;
    const OpenedStream opened = slots_[from].node->connection(peer).open_stream(now_, args);
    if (opened.error != Errc::ok) return std::nullopt;
    const StreamKey key{from, slots_[from].epoch, peer, opened.id.generation, opened.id.mux};
    TrackedStream stream{from, to, messages, stream_keys_.size(), manual};
    if (timeout_ms > 0) stream.deadline_ns = now_ + ns_from_ms(timeout_ms);
    stream_keys_.push_back(key);
    stream_outcomes_.emplace_back();
    streams_[key] = stream;
    if (!manual) write_stream(from, peer, opened.id);
    return stream.serial;
  }

  // Cancels stream `serial` if its opener still has it open.
  bool cancel_stream(std::uint64_t serial) {
    const auto found = streams_.find(stream_keys_.at(serial));
    if (found == streams_.end() || found->second.ended) return false;
    const auto& [from, epoch, peer, generation, mux] = found->first;
    if (!slots_[from].node || slots_[from].epoch != epoch) return false;
    found->second.canceled = true;
    slots_[from].node->connection(peer).stream_cancel(now_, StreamId{generation, mux});
    return true;
  }

  // The opener writes its next messages as credit allows, then closes.
  void write_stream(std::size_t from, PeerId peer, StreamId id) {
    const auto found = streams_.find({from, slots_[from].epoch, peer, id.generation, id.mux});
    if (found == streams_.end() || found->second.ended) return;
    TrackedStream& stream = found->second;
    if (stream.manual) return;
    PeerConnection connection = slots_[from].node->connection(peer);
    while (write_next(connection, id, stream)) {  // until no_credit: StreamWritable resumes
    }
  }

  // The opener writes its next message, closing its side after the last; false when it
  // cannot (no credit, or all written).
  bool write_next(PeerConnection& connection, StreamId id, TrackedStream& stream) {
    if (stream.written >= stream.messages) return false;
    if (connection.stream_write(now_, id, stream_message(id.mux, stream.written + 1)) != Errc::ok)
      return false;
    if (++stream.written == stream.messages) connection.stream_close(now_, id);
    return true;
  }

  void stream_opened(std::size_t index, const event::StreamOpened& opened) {
    trace({"stream opened at ", names_[index]});
    const StreamKey key{index, slots_[index].epoch, opened.peer, opened.id.generation,
                        opened.id.mux};
    if (served_.contains(key)) return fail(SimResult::Kind::safety, "a stream opened twice");
    served_[key] = ServedStream{.pending = {}, .stuck = opened.handler == kStreamStuck};
  }

  // Neither side of a stream may ever hold more than the window it granted or was granted.
  void check_credits(std::size_t index, PeerId peer, StreamId id) {
    const std::optional<StreamCredits> credits =
        slots_[index].node->connection(peer).stream_credits(id);
    if (!credits) return;
    if (credits->unread_msgs > credits->window_msgs ||
        credits->unread_bytes > credits->window_bytes) {
      return fail(SimResult::Kind::safety,
                  "a stream inbox at " + names_[index] + " holds more than the window it granted");
    }
    if (credits->send_msgs > credits->peer_window_msgs ||
        credits->send_bytes > credits->peer_window_bytes) {
      fail(SimResult::Kind::safety,
           "a stream at " + names_[index] + " may send more than its peer's window");
    }
  }

  void stream_readable(std::size_t index, PeerId peer, StreamId id) {
    check_credits(index, peer, id);
    PeerConnection connection = slots_[index].node->connection(peer);
    const StreamKey key{index, slots_[index].epoch, peer, id.generation, id.mux};
    if (const auto opener = streams_.find(key); opener != streams_.end()) {
      // The opener reads echoes: each must be the next message it wrote.
      TrackedStream& stream = opener->second;
      while (!stream.manual && read_echo(connection, id, stream)) {
      }
      return;
    }
    const auto served = served_.find(key);
    if (served == served_.end())
      return fail(SimResult::Kind::safety, "readable on a stream nobody knows");
    if (served->second.stuck) return;  // it never reads: the window fills and stays full
    while (std::optional<Bytes> message = connection.stream_peek(id)) {
      served->second.pending.emplace_back(message->begin(), message->end());
      connection.stream_consume(now_, id);
    }
    flush_echoes(index, peer, id);
  }

  // Reads the next echo waiting at the opener and checks it is the next message written;
  // false when none is waiting (or it was wrong: then the run has failed).
  bool read_echo(PeerConnection& connection, StreamId id, TrackedStream& stream) {
    const std::optional<Bytes> message = connection.stream_peek(id);
    if (!message) return false;
    const std::vector<std::uint8_t> expected = stream_message(id.mux, stream.echoes + 1);
    if (!bytes_equal(*message, expected)) {
      fail(SimResult::Kind::safety, "a stream echo out of order or corrupted");
      return false;
    }
    if (++stream.echoes > stream.written) {
      fail(SimResult::Kind::safety, "an echo of a message never written");
      return false;
    }
    connection.stream_consume(now_, id);
    return true;
  }

  // The serving side writes its pending echoes as credit allows; closes once input is done.
  void flush_echoes(std::size_t index, PeerId peer, StreamId id) {
    const auto served = served_.find({index, slots_[index].epoch, peer, id.generation, id.mux});
    if (served == served_.end() || served->second.ended) return;
    PeerConnection connection = slots_[index].node->connection(peer);
    auto& pending = served->second.pending;
    while (!pending.empty() && connection.stream_write(now_, id, pending.front()) == Errc::ok)
      pending.pop_front();
    if (pending.empty() && connection.stream_input_done(id)) connection.stream_close(now_, id);
  }

  void stream_writable(std::size_t index, PeerId peer, StreamId id) {
    check_credits(index, peer, id);
    if (streams_.contains({index, slots_[index].epoch, peer, id.generation, id.mux}))
      return write_stream(index, peer, id);
    flush_echoes(index, peer, id);
  }

  void stream_ended(std::size_t index, const event::StreamEnded& ended) {
    trace({"stream ended at ", names_[index], " ", errc_name(ended.result)});
    const StreamKey key{index, slots_[index].epoch, ended.peer, ended.id.generation, ended.id.mux};
    if (const auto opener = streams_.find(key); opener != streams_.end()) {
      TrackedStream& stream = opener->second;
      if (stream.ended) return fail(SimResult::Kind::safety, "a stream ended twice for its opener");
      stream.ended = true;
      stream_outcomes_[stream.serial] = Outcome{true, false, ended.result};
      if (stream.deadline_ns != kNever && now_ > stream.deadline_ns + 1'000'000) {
        return fail(SimResult::Kind::safety, "a stream ended after its deadline");
      }
      switch (ended.result) {
        case Errc::ok:
          if (stream.echoes != stream.messages)
            return fail(SimResult::Kind::safety, "a stream ended ok without every echo");
          return;
        case Errc::canceled:
          if (!stream.canceled)
            return fail(SimResult::Kind::safety, "a stream canceled without a cancel");
          return;
        case Errc::disconnected:
        case Errc::deadline_exceeded:
        case Errc::keepalive_timeout:
        case Errc::busy:
          return;
        default:
          return fail(SimResult::Kind::safety,
                      "a stream ended with " + std::string(errc_name(ended.result)));
      }
    }
    const auto served = served_.find(key);
    if (served == served_.end())
      return fail(SimResult::Kind::safety, "StreamEnded for a stream never opened");
    if (served->second.ended)
      return fail(SimResult::Kind::safety, "a stream ended twice for its handler");
    served->second.ended = true;
  }

  // ---- workload ----

  // One draw per payload, then a cheap mix of (draw, position) per 8 bytes, little-endian so
  // every host builds the same payload. Payloads are most of the bytes a run moves, and the
  // oracle needs them distinct per call and per position, not statistically random.
  static void fill_random(Rng& rng, std::span<std::uint8_t> out) {
    const std::uint64_t draw = rng.next();
    auto word_at = [draw](std::size_t i) {
      const std::uint64_t word = (draw + i) * 0x9e3779b97f4a7c15ULL;
      return word ^ (word >> 29);
    };
    std::size_t i = 0;
    for (; i + 8 <= out.size(); i += 8) {
      std::uint64_t word = word_at(i);
      if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
      std::memcpy(out.data() + i, &word, 8);
    }
    const std::uint64_t last = word_at(i);
    for (std::size_t j = 0; i + j < out.size(); ++j)
      out[i + j] = static_cast<std::uint8_t>(last >> (8 * j));
  }

  TimeNs exponential(Rng& rng, double per_s) {
    return static_cast<TimeNs>(-std::log(1.0 - rng.unit()) / per_s * static_cast<double>(kSecond)) +
           1;
  }

  void schedule_workload(TimeNs from) {
    if (workload_.requests_per_s <= 0) return;
    at(from + exponential(workload_rng_, workload_.requests_per_s), [this] {
      if (workload_on_) {
        start_request();
        schedule_workload(now_);
      }
    });
  }

  void start_request() {
    const std::size_t n = slots_.size();
    const std::size_t from = workload_rng_.below(n);
    const std::size_t to = (from + 1 + workload_rng_.below(n - 1)) % n;
    if (!slots_[from].node) return;
    if (workload_rng_.below(8) == 0) {  // one start in eight is a stream
      return start_stream(from, to);
    }
    const std::uint64_t pick = workload_rng_.below(100);
    const std::uint16_t handler = pick < 50   ? kEcho
                                  : pick < 65 ? kError
                                  : pick < 85 ? kSlow
                                              : kSilent;
    const std::int64_t timeout_ms = 200 + static_cast<std::int64_t>(workload_rng_.below(4800));
    const std::size_t size = workload_rng_.unit() < workload_.large_share
                                 ? 40'000 + workload_rng_.below(160'000)
                                 : workload_rng_.below(2000);
    const std::optional<std::uint64_t> serial = call(from, to, handler, size, timeout_ms);
    if (!serial) return;
    if (workload_rng_.below(20) == 0) {  // cancel one in twenty, at a random moment
      at(now_ + static_cast<TimeNs>(workload_rng_.below(static_cast<std::uint64_t>(timeout_ms))) *
                    1'000'000,
         [this, serial = *serial] { cancel_call(serial); });
    }
  }

  // Starts a call; its serial, or nothing when the caller is down or the core refused it.
  std::optional<std::uint64_t> call(std::size_t from, std::size_t to, std::uint16_t handler,
                                    std::size_t size, std::int64_t timeout_ms) {
    if (!slots_[from].node) return std::nullopt;
    // The first 8 bytes name the call, so the serving side can check where it came from.
    const std::uint64_t serial = call_links_.size();
    std::vector<std::uint8_t> payload(8 + size);
    for (std::size_t i = 0; i < 8; ++i)
      payload[i] = static_cast<std::uint8_t>(serial >> (8 * i));
    fill_random(workload_rng_, std::span(payload).subspan(8));  // see serial_of
    const PeerId peer = static_cast<PeerId>(to < from ? to : to - 1);
    SharedBytes shared(std::move(payload));
    const weft::Call started = slots_[from].node->connection(peer).request(
        now_, RequestArgs{handler, {}, shared, timeout_ms});
    if (started.error != Errc::ok) return std::nullopt;
    call_links_.push_back(up_link_[from][to]);
    const CallKey key{from, slots_[from].epoch, peer, started.id};
    call_keys_.push_back(key);
    call_outcomes_.emplace_back();
    calls_[key] =
        TrackedCall{from, to, handler, std::move(shared), now_ + ns_from_ms(timeout_ms), serial};
    chrome('b', from, "request", "r" + std::to_string(serial));
    return serial;
  }

  // Cancels call `serial` if it is still open; false if it had ended or its caller crashed.
  bool cancel_call(std::uint64_t serial) {
    const auto found = calls_.find(call_keys_.at(serial));
    if (found == calls_.end() || found->second.done) return false;
    const auto& [from, epoch, peer, id] = found->first;
    if (!slots_[from].node || slots_[from].epoch != epoch) return false;
    found->second.canceled = true;
    slots_[from].node->connection(peer).cancel(now_, id);
    return true;
  }

  // ---- faults ----

  void schedule_faults() {
    const double links = static_cast<double>(slots_.size() * (slots_.size() - 1) / 2);
    repeat(rates_.reset_per_s * links, [this] { reset_random_link(); });
    repeat(rates_.clog_per_s * links, [this] { clog_random_link(); });
    repeat(rates_.partition_per_s, [this] { partition(); });
    repeat(rates_.crash_per_s * static_cast<double>(slots_.size()),
           [this] { crash(fault_rng_.below(slots_.size())); });
    if (rates_.max_skew_ms > 0)
      repeat(0.1 * static_cast<double>(slots_.size()), [this] { jump_clock(); });
    repeat(rates_.pause_per_s * static_cast<double>(slots_.size()),
           [this] { pause_reader(fault_rng_.below(slots_.size())); });
    repeat(rates_.ghost_per_s * static_cast<double>(slots_.size()), [this] { inject_ghost(); });
  }

  // ---- ghosts: connections nobody dialed ----

  // Keeps the hello a dialer writes first on a link, to replay it later as a ghost.
  void capture_hello(Link& link, Bytes output) {
    FrameDecoder decoder;
    const DecodeStep step = decoder.next(output);
    if (step.status != DecodeStatus::frame || step.frame.op != Op::hello) return;
    link.hello_known = true;
    link.hello_epoch = link.epoch[0];
    link.hello_seq = step.frame.seq;
    sent_hellos_.push_back(SentHello{link.node[0],
                                     link.node[1],
                                     link.epoch[0],
                                     step.frame.seq,
                                     {output.begin(), output.begin() + step.consumed}});
    if (sent_hellos_.size() > 32) sent_hellos_.pop_front();
  }

  // A hello from the node that, by the dial rule, must not dial its peer: as if both dialed.
  std::optional<std::vector<std::uint8_t>> wrong_way_hello(std::size_t& from, std::size_t& to) {
    from = fault_rng_.below(slots_.size());
    to = (from + 1 + fault_rng_.below(slots_.size() - 1)) % slots_.size();
    if (dial_rule_dials(names_[from], names_[to])) std::swap(from, to);
    if (!slots_[from].node) return std::nullopt;
    ByteBuffer bytes;
    encode_frame(bytes, Frame{.op = Op::hello,
                              .checksum = true,
                              .seq = 1,
                              .version_min = 1,
                              .version_max = 1,
                              .name = names_[from],
                              .peer_name = names_[to],
                              .incarnation = slots_[from].node->incarnation(),
                              .wall_ms = static_cast<std::uint64_t>(
                                  kWallOriginMs + ms_from_ns(now_) + slots_[from].skew_ms),
                              .max_frame_bytes = 1 << 20,
                              .token = as_bytes("sim")});
    return std::vector<std::uint8_t>(bytes.view().begin(), bytes.view().end());
  }

  // A new connection arrives at a node with a stale or wrong-way hello and nothing behind it.
  void inject_ghost() {
    Link ghost;
    ghost.ghost = true;
    ghost.hello_known = true;
    std::size_t from = 0;
    std::size_t to = 0;
    std::vector<std::uint8_t> hello;
    if (!sent_hellos_.empty() && fault_rng_.below(2) == 0) {
      const SentHello& sent = sent_hellos_[fault_rng_.below(sent_hellos_.size())];
      from = sent.from;
      to = sent.to;
      ghost.hello_epoch = sent.epoch;
      ghost.hello_seq = sent.seq;
      hello = sent.bytes;
    } else {
      std::optional<std::vector<std::uint8_t>> wrong_way = wrong_way_hello(from, to);
      if (!wrong_way) return;
      ghost.wrong_way = true;
      ghost.hello_epoch = slots_[from].epoch;
      hello = std::move(*wrong_way);
    }
    if (!slots_[to].node) return;
    ghost.node[0] = from;
    ghost.node[1] = to;
    ghost.epoch[0] = kGhostEpoch;  // nothing is ever delivered to the ghost's side
    ghost.epoch[1] = slots_[to].epoch;
    ghost.transport[1] = slots_[to].node->on_accepted(now_);
    ghost.rng = fault_rng_.split();
    links_.push_back(std::move(ghost));
    const std::size_t link_at = links_.size() - 1;
    link_index_[{to, slots_[to].epoch, links_[link_at].transport[1]}] = link_at;
    send_across(link_at, 0, hello);
    transport_opened(link_at);
    side_closed(link_at, 0);  // it says nothing more: silence from it is right
    ++faults_;
    trace({"fault ghost ", (links_[link_at].wrong_way ? "wrong-way " : "stale "), names_[from],
           " -> ", names_[to]});
    const char* what = links_[link_at].wrong_way ? "ghost wrong-way hello" : "ghost stale hello";
    chrome('i', to, what);
    chrome_link('i', links_[link_at], what);
  }

  // A node adopted the hello that opened `link` from `other`: never a wrong-way one, never
  // one older than a hello it adopted before from the same incarnation.
  void check_adopted_hello(std::size_t index, std::size_t other, const Link& link) {
    Adopted& adopted = adopted_[index][other];
    if (link.wrong_way)
      return fail(SimResult::Kind::safety, names_[index] + " adopted a connection from " +
                                               names_[other] + ", which must not dial it");
    if (link.ghost && adopted.known && adopted.epoch == link.hello_epoch &&
        link.hello_seq <= adopted.seq) {
      return fail(SimResult::Kind::safety, names_[index] + " adopted a stale hello (attempt " +
                                               std::to_string(link.hello_seq) + ") of " +
                                               names_[other] + " after its attempt " +
                                               std::to_string(adopted.seq));
    }
    adopted = Adopted{true, link.hello_epoch, link.hello_seq};
  }

  // The node's reader stops for a while: bytes for it pile up in the send buffers.
  void pause_reader(std::size_t index) {
    const TimeNs until =
        now_ +
        static_cast<TimeNs>(fault_rng_.below(static_cast<std::uint64_t>(rates_.pause_ns) + 1));
    paused_until_[index] = std::max(paused_until_[index], until);
    for (std::size_t other = 0; other < slots_.size(); ++other) {
      if (other != index) disturb(index, other, paused_until_[index]);
    }
    at(paused_until_[index], [this, index] { feed_waiting(index); });
    ++faults_;
    trace({"fault pause ", names_[index]});
    chrome('i', index, "reader paused");
  }

  void repeat(double per_s, std::function<void()> fault) {
    if (per_s <= 0) return;
    at(now_ + exponential(fault_rng_, per_s), [this, per_s, fault] {
      if (!faults_on_) return;
      fault();
      repeat(per_s, fault);
    });
  }

  std::vector<std::size_t> open_links() const {
    std::vector<std::size_t> open;
    for (std::size_t i = 0; i < links_.size(); ++i) {
      if (links_[i].open[0] && links_[i].open[1]) open.push_back(i);
    }
    return open;
  }

  void reset_random_link() {
    const std::vector<std::size_t> open = open_links();
    if (open.empty()) return;
    const std::size_t link_at = open[fault_rng_.below(open.size())];
    Link& link = links_[link_at];
    ++faults_;
    trace({"fault reset ", names_[link.node[0]], " ", names_[link.node[1]]});
    chrome('i', link.node[0], "reset");
    chrome_link('i', link, "reset");
    const int first = static_cast<int>(fault_rng_.below(2));
    transport_down(link_at, first, "connection reset");
    peer_learns_of_reset(link_at, 1 - first);
  }

  void clog_random_link() {
    const std::vector<std::size_t> open = open_links();
    if (open.empty()) return;
    Link& link = links_[open[fault_rng_.below(open.size())]];
    const int side = static_cast<int>(fault_rng_.below(2));
    link.held_until[side] =
        now_ +
        static_cast<TimeNs>(fault_rng_.below(static_cast<std::uint64_t>(rates_.clog_ns) + 1));
    disturb(link.node[0], link.node[1], link.held_until[side]);
    ++faults_;
    trace({"fault clog ", names_[link.node[side]]});
    chrome('i', link.node[side], "clog");
    chrome_link('i', link, "clog");
  }

  // Isolates one node, or splits the cluster in random halves; one way or both.
  void partition() {
    const std::size_t n = slots_.size();
    std::vector<bool> side(n, false);
    if (fault_rng_.below(2) == 0) {
      side[fault_rng_.below(n)] = true;
    } else {
      for (std::size_t i = 0; i < n; ++i)
        side[i] = fault_rng_.below(2) == 1;
    }
    const bool one_way = fault_rng_.unit() < rates_.one_way_chance;
    const TimeNs until =
        now_ +
        static_cast<TimeNs>(fault_rng_.below(static_cast<std::uint64_t>(rates_.partition_ns) + 1));
    cut(side, one_way, until);
    ++faults_;
    trace({"fault partition", (one_way ? " one-way" : "")});
    chrome('i', cluster_track(), one_way ? "partition one-way" : "partition");
  }

  // Holds what the nodes with side[i] true send to the others (and, unless one way, what
  // the others send them) until `until`.
  void cut(const std::vector<bool>& side, bool one_way, TimeNs until) {
    for (std::size_t a = 0; a < slots_.size(); ++a) {
      for (std::size_t b = 0; b < slots_.size(); ++b) {
        if (side.at(a) == side.at(b)) continue;
        if (side[a] || !one_way) blocked_until_[a][b] = std::max(blocked_until_[a][b], until);
        disturb(a, b, until);
      }
    }
  }

  // Every partition ends now: no disturbance lasts past this instant, and the deliveries a
  // stepped partition parked go on, in order.
  void lift_partitions() {
    for (auto& row : blocked_until_)
      std::fill(row.begin(), row.end(), 0);
    for (auto& row : disturbed_until_) {
      for (TimeNs& until : row)
        until = std::min(until, now_);
    }
    for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
      for (int side = 0; side < 2; ++side) {
        for (; links_[link_at].parked[side] > 0; --links_[link_at].parked[side])
          schedule_arrival(now_ + rates_.latency_ns, link_at, side);
      }
    }
  }

  void jump_clock() {
    const std::size_t index = fault_rng_.below(slots_.size());
    Slot& slot = slots_[index];
    slot.skew_ms = static_cast<std::int64_t>(
                       fault_rng_.below(static_cast<std::uint64_t>(2 * rates_.max_skew_ms + 1))) -
                   rates_.max_skew_ms;
    if (slot.node) slot.node->set_wall_clock(now_, kWallOriginMs + ms_from_ns(now_) + slot.skew_ms);
    ++faults_;
    trace({"fault clock jump ", names_[index]});
    chrome('i', index, "clock jump");
  }

  void end_fault_phase() {
    trace({"faults end"});
    chrome('i', cluster_track(), "faults end");
    faults_on_ = false;
    workload_on_ = false;
    for (Link& link : links_)
      link.held_until[0] = link.held_until[1] = 0;
    lift_partitions();  // clogs too: no disturbance lasts past this instant
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      paused_until_[i] = std::min(paused_until_[i], now_);
      feed_waiting(i);
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].node) start_node(i);
    }
  }

  // After the quiet phase: every pair connected, every call ended, every table empty.
  void check_liveness() {
    if (std::optional<std::string> problem = liveness_problem())
      fail(SimResult::Kind::liveness, std::move(*problem));
  }

  // What keeps the cluster from being settled (every call and stream ended, every pair up
  // on exactly one connection with empty tables); nullopt when it is.
  std::optional<std::string> liveness_problem() {
    for (const auto& [key, stream] : streams_) {
      if (!stream.ended) return "a stream from " + names_[stream.from] + " never ended";
    }
    for (const auto& [key, served] : served_) {
      if (!served.ended) return "a served stream never ended";
    }
    for (const auto& [key, call] : calls_) {
      if (!call.done) {
        return "a call from " + names_[call.from] + " to " + names_[call.to] + " never ended";
      }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (!slots_[i].node) return names_[i] + " is down";
      Node& node = *slots_[i].node;
      for (PeerId p = 0; p < node.peer_count(); ++p) {
        const PeerStats stats = node.connection(p).stats();
        if (stats.state != PeerState::established) {
          return names_[i] + " never reconnected to " + node.config().peers[p];
        }
        if (stats.outbound_in_flight != 0 || stats.inbound_in_flight != 0 ||
            stats.streams_open != 0) {
          return names_[i] + " still has calls open with " + node.config().peers[p];
        }
      }
    }
    return leaked_connection();
  }

  // When all is quiet every pair holds exactly one connection, the one it is up on, and
  // no transport is open at one end only.
  std::optional<std::string> leaked_connection() const {
    std::vector<std::vector<int>> open_links(slots_.size(), std::vector<int>(slots_.size(), 0));
    for (std::size_t link_at = 0; link_at < links_.size(); ++link_at) {
      const Link& link = links_[link_at];
      // Named only when reported: the settled drain asks this every simulated second.
      const auto pair = [&] { return names_[link.node[0]] + "-" + names_[link.node[1]]; };
      if (link.open[0] != link.open[1] && !(link.ghost && !link.open[1]))
        return "a connection " + pair() + " is open at one end only";
      if (!link.open[0] || !link.open[1]) continue;
      if (up_link_[link.node[0]][link.node[1]] != link_at ||
          up_link_[link.node[1]][link.node[0]] != link_at)
        return "a connection " + pair() + " is open but unused";
      ++open_links[std::min(link.node[0], link.node[1])][std::max(link.node[0], link.node[1])];
    }
    for (std::size_t a = 0; a < slots_.size(); ++a) {
      for (std::size_t b = a + 1; b < slots_.size(); ++b) {
        if (open_links[a][b] != 1) {
          return names_[a] + "-" + names_[b] + " holds " + std::to_string(open_links[a][b]) +
                 " connections";
        }
      }
    }
    return std::nullopt;
  }

  const SimOptions options_;
  const FaultRates rates_;
  const Workload workload_;
  Rng rng_;
  Rng workload_rng_;
  Rng fault_rng_;
  std::vector<std::string> names_;
  std::vector<Slot> slots_;
  std::deque<Link> links_;  // a deque: growing it moves no Link, and references stay valid
  std::map<LinkKey, std::size_t> link_index_;
  std::vector<std::vector<TimeNs>> blocked_until_;  // [from][to]: bytes held until then
  // [a][b] (both ways): until when a fault (partition, clog, pause, crash, spike) held the
  // pair's traffic; keepalive may legitimately drop their link until a while after it.
  std::vector<std::vector<TimeNs>> disturbed_until_;
  // [node][other node]: the link the node's connection to the other came up on.
  std::vector<std::vector<std::size_t>> up_link_;
  std::vector<TimeNs> paused_until_;  // per node: its reader stops until then
  // [acceptor][dialer]: the last hello the acceptor adopted (what its core remembers).
  std::vector<std::vector<Adopted>> adopted_;
  std::deque<SentHello> sent_hellos_;  // the latest hellos dialers sent, for ghosts to replay
  std::vector<std::set<std::size_t>> waiting_input_;  // per node: links with bytes it has not taken
  std::size_t input_link_ = kNoLink;                  // the link whose bytes a node is reading now
  std::vector<std::size_t> call_links_;               // per call serial: the link it was sent on
  std::vector<CallKey> call_keys_;                    // per call serial
  std::vector<Outcome> call_outcomes_;                // per call serial
  std::vector<StreamKey> stream_keys_;                // per stream serial
  std::vector<Outcome> stream_outcomes_;              // per stream serial
  bool stepped_ = false;  // driven by SteppedSimulation: no random workload or faults
  Canary canary_ = Canary::none;
  std::map<CallKey, TrackedCall> calls_;
  std::map<StreamKey, TrackedStream> streams_;
  std::map<StreamKey, ServedStream> served_;
  ActionQueue queue_;
  TimeNs now_ = 0;
  bool faults_on_ = true;
  bool workload_on_ = true;
  std::optional<Failure> failure_;
  std::uint64_t events_ = 0;
  std::uint64_t spins_ = 0;  // loop turns without the clock moving
  std::uint64_t trace_hash_ = 0;
  std::string trace_scratch_;                          // trace()'s buffer
  std::vector<std::vector<PeerId>> spare_peer_lists_;  // for ScratchPeers
  std::uint64_t completed_ok_ = 0;
  std::uint64_t faults_ = 0;
  std::ofstream trace_file_;
  std::ofstream chrome_file_;
};

struct CanaryName {
  Canary canary;
  const char* name;
};
constexpr CanaryName kCanaries[] = {
    {Canary::reader_waits_for_output, "reader_waits_for_output"},
    {Canary::credit_off_by_one, "credit_off_by_one"},
    {Canary::old_generation_frames, "old_generation_frames"},
    {Canary::stream_budget_leak, "stream_budget_leak"},
};

}  // namespace

namespace {
// Unknown names (weft-sim checks them against canary_names() first) plant nothing.
Canary canary_from_name(const std::string& name) {
  for (const CanaryName& canary : kCanaries) {
    if (name == canary.name) return canary.canary;
  }
  return Canary::none;
}
}  // namespace

std::vector<std::string> canary_names() {
#if WEFT_CANARIES
  std::vector<std::string> names;
  for (const CanaryName& canary : kCanaries) {
    // Only the invariant checks see this one: a build without them cannot catch it.
    if (canary.canary == Canary::stream_budget_leak && !invariant_checks_enabled()) continue;
    names.emplace_back(canary.name);
  }
  return names;
#else
  return {};
#endif
}

const char* profile_name(Profile profile) {
  switch (profile) {
    case Profile::clean:
      return "clean";
    case Profile::lossy:
      return "lossy";
    case Profile::partition:
      return "partition";
    case Profile::crashy:
      return "crashy";
    case Profile::chaos:
      return "chaos";
    case Profile::swarm:
      return "swarm";
  }
  return "?";
}

bool profile_from_name(const std::string& name, Profile& profile) {
  for (Profile p : {Profile::clean, Profile::lossy, Profile::partition, Profile::crashy,
                    Profile::chaos, Profile::swarm}) {
    if (name == profile_name(p)) {
      profile = p;
      return true;
    }
  }
  return false;
}

const char* result_kind_name(SimResult::Kind kind) {
  switch (kind) {
    case SimResult::Kind::pass:
      return "pass";
    case SimResult::Kind::assertion:
      return "assertion";
    case SimResult::Kind::liveness:
      return "liveness";
    case SimResult::Kind::safety:
      return "safety";
  }
  return "?";
}

FaultRates profile_rates(Profile profile, std::uint64_t seed) {
  FaultRates rates;
  switch (profile) {
    case Profile::clean:
      break;
    case Profile::lossy:
      rates.jitter_ns = 2'000'000;
      rates.spike_chance = 0.01;
      rates.spike_ns = 200'000'000;
      rates.chunking = 2;
      rates.reset_per_s = 0.01;
      rates.half_open_chance = 0.3;
      rates.refuse_chance = 0.1;
      rates.hang_chance = 0.05;
      rates.clog_per_s = 0.02;
      rates.clog_ns = 3 * kSecond;
      rates.bitflip_per_mib = 0.5;
      rates.send_buffer_bytes = 64 * 1024;
      rates.ghost_per_s = 0.02;
      break;
    case Profile::partition:
      rates.chunking = 1;
      rates.partition_per_s = 0.5;
      rates.partition_ns = 15 * kSecond;
      rates.one_way_chance = 0.3;
      break;
    case Profile::crashy:
      rates.chunking = 1;
      rates.crash_per_s = 0.02;
      rates.restart_ns = 3 * kSecond;
      rates.half_open_chance = 0.5;
      rates.max_skew_ms = 120'000;
      rates.ghost_per_s = 0.02;
      break;
    case Profile::chaos:
      rates = profile_rates(Profile::lossy, seed);
      rates.partition_per_s = 0.1;
      rates.partition_ns = 10 * kSecond;
      rates.one_way_chance = 0.3;
      rates.crash_per_s = 0.01;
      rates.restart_ns = 3 * kSecond;
      rates.max_skew_ms = 120'000;
      rates.pause_per_s = 0.02;
      rates.pause_ns = 3 * kSecond;
      break;
    case Profile::swarm: {
      // Each seed draws its own mix: every fault kind is off with probability 1/2, else at a
      // rate anywhere from a tenth to ten times the chaos rate.
      Rng rng(seed ^ 0x5377a4dULL);
      const FaultRates chaos = profile_rates(Profile::chaos, seed);
      auto pick = [&rng](double rate) {
        return rng.below(2) == 0 ? 0.0 : rate * std::pow(10.0, 2 * rng.unit() - 1);
      };
      rates = chaos;
      rates.chunking = static_cast<int>(rng.below(3));
      rates.jitter_ns = static_cast<TimeNs>(pick(static_cast<double>(chaos.jitter_ns)));
      rates.spike_chance = std::min(0.5, pick(chaos.spike_chance));
      rates.reset_per_s = pick(chaos.reset_per_s);
      rates.half_open_chance = std::min(1.0, pick(chaos.half_open_chance));
      rates.refuse_chance = std::min(0.5, pick(chaos.refuse_chance));
      rates.hang_chance = std::min(0.5, pick(chaos.hang_chance));
      rates.clog_per_s = pick(chaos.clog_per_s);
      rates.partition_per_s = pick(chaos.partition_per_s);
      rates.crash_per_s = pick(chaos.crash_per_s);
      rates.bitflip_per_mib = pick(chaos.bitflip_per_mib);
      rates.max_skew_ms = rng.below(2) == 0 ? 0 : chaos.max_skew_ms;
      constexpr std::size_t kSendBuffers[] = {0, 16 * 1024, 64 * 1024, 256 * 1024};
      rates.send_buffer_bytes = kSendBuffers[rng.below(4)];
      rates.pause_per_s = pick(chaos.pause_per_s);
      rates.ghost_per_s = pick(chaos.ghost_per_s);
      break;
    }
  }
  return rates;
}

namespace {

// A fault kind: its name, how to switch it off, and whether it is on.
struct FaultKind {
  const char* name;
  void (*off)(FaultRates&);
  bool (*on)(const FaultRates&);
};

const FaultKind kFaultKinds[] = {
    {"jitter", [](FaultRates& r) { r.jitter_ns = 0; },
     [](const FaultRates& r) { return r.jitter_ns > 0; }},
    {"spike", [](FaultRates& r) { r.spike_chance = 0; },
     [](const FaultRates& r) { return r.spike_chance > 0; }},
    {"chunking", [](FaultRates& r) { r.chunking = 0; },
     [](const FaultRates& r) { return r.chunking > 0; }},
    {"reset", [](FaultRates& r) { r.reset_per_s = 0; },
     [](const FaultRates& r) { return r.reset_per_s > 0; }},
    {"half_open", [](FaultRates& r) { r.half_open_chance = 0; },
     [](const FaultRates& r) { return r.half_open_chance > 0; }},
    {"refuse", [](FaultRates& r) { r.refuse_chance = 0; },
     [](const FaultRates& r) { return r.refuse_chance > 0; }},
    {"hang", [](FaultRates& r) { r.hang_chance = 0; },
     [](const FaultRates& r) { return r.hang_chance > 0; }},
    {"clog", [](FaultRates& r) { r.clog_per_s = 0; },
     [](const FaultRates& r) { return r.clog_per_s > 0; }},
    {"partition", [](FaultRates& r) { r.partition_per_s = 0; },
     [](const FaultRates& r) { return r.partition_per_s > 0; }},
    {"crash", [](FaultRates& r) { r.crash_per_s = 0; },
     [](const FaultRates& r) { return r.crash_per_s > 0; }},
    {"bitflip", [](FaultRates& r) { r.bitflip_per_mib = 0; },
     [](const FaultRates& r) { return r.bitflip_per_mib > 0; }},
    {"skew", [](FaultRates& r) { r.max_skew_ms = 0; },
     [](const FaultRates& r) { return r.max_skew_ms > 0; }},
    {"send_buffer", [](FaultRates& r) { r.send_buffer_bytes = 0; },
     [](const FaultRates& r) { return r.send_buffer_bytes > 0; }},
    {"pause", [](FaultRates& r) { r.pause_per_s = 0; },
     [](const FaultRates& r) { return r.pause_per_s > 0; }},
    {"ghost", [](FaultRates& r) { r.ghost_per_s = 0; },
     [](const FaultRates& r) { return r.ghost_per_s > 0; }},
};

const FaultKind* find_fault_kind(const std::string& name) {
  for (const FaultKind& kind : kFaultKinds) {
    if (name == kind.name) return &kind;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> fault_kind_names() {
  std::vector<std::string> names;
  for (const FaultKind& kind : kFaultKinds)
    names.emplace_back(kind.name);
  return names;
}

bool switch_fault_off(FaultRates& rates, const std::string& name) {
  const FaultKind* kind = find_fault_kind(name);
  if (kind != nullptr) kind->off(rates);
  return kind != nullptr;
}

bool fault_is_on(const FaultRates& rates, const std::string& name) {
  const FaultKind* kind = find_fault_kind(name);
  return kind != nullptr && kind->on(rates);
}

FaultRates effective_rates(const SimOptions& options) {
  FaultRates rates = profile_rates(options.profile, options.seed);
  for (const std::string& name : options.faults_off)
    switch_fault_off(rates, name);
  return rates;
}

Workload profile_workload(Profile profile, std::uint64_t seed) {
  Workload workload;
  if (profile != Profile::swarm) return workload;
  Rng rng(seed ^ 0x3f0a1d5ULL);  // apart from the fault draws, so those stay as they were
  workload.requests_per_s = std::round(20.0 * std::pow(20.0, rng.unit()));
  constexpr double kLargeShares[] = {0.0, 0.01, 0.1};
  workload.large_share = kLargeShares[rng.below(3)];
  return workload;
}

Workload effective_workload(const SimOptions& options) {
  Workload workload = profile_workload(options.profile, options.seed);
  if (options.requests_per_s > 0) workload.requests_per_s = options.requests_per_s;
  return workload;
}

SimResult run_simulation(const SimOptions& options) {
  return World(options, false).run();
}

}  // namespace weft::sim

namespace weft::sim {

struct SteppedSimulation::State {
  explicit State(const SimOptions& options) : world(options, true) {}
  World world;
};

namespace {
std::uint16_t handler_id(SteppedSimulation::Handler handler) {
  switch (handler) {
    case SteppedSimulation::Handler::echo:
      return kEcho;
    case SteppedSimulation::Handler::error:
      return kError;
    case SteppedSimulation::Handler::slow:
      return kSlow;
    case SteppedSimulation::Handler::silent:
      return kSilent;
  }
  return kSilent;
}

SteppedOutcome outcome_of(const Outcome& outcome) {
  return SteppedOutcome{outcome.ended, outcome.dropped, outcome.result};
}
}  // namespace

SteppedSimulation::SteppedSimulation(const SimOptions& options)
    : state_(std::make_unique<State>(options)) {}
SteppedSimulation::~SteppedSimulation() = default;

std::size_t SteppedSimulation::nodes() const {
  return state_->world.node_count();
}
TimeNs SteppedSimulation::now() const {
  return state_->world.now();
}
bool SteppedSimulation::up(std::size_t node) const {
  return state_->world.up(node);
}
bool SteppedSimulation::failed() const {
  return state_->world.failure().has_value();
}
std::string SteppedSimulation::failure() const {
  const auto& failure = state_->world.failure();
  return failure ? std::string(result_kind_name(failure->kind)) + ": " + failure->message : "";
}

std::optional<std::size_t> SteppedSimulation::request(std::size_t from, std::size_t to,
                                                      Handler handler, std::size_t payload_bytes,
                                                      std::int64_t timeout_ms) {
  return state_->world.guarded([&] {
    return state_->world.stepped_call(from, to, handler_id(handler), payload_bytes, timeout_ms);
  });
}
std::optional<std::size_t> SteppedSimulation::open_stream(std::size_t from, std::size_t to,
                                                          std::uint64_t messages,
                                                          std::uint32_t window_msgs,
                                                          std::int64_t timeout_ms) {
  return state_->world.guarded(
      [&] { return state_->world.stepped_stream(from, to, messages, window_msgs, timeout_ms); });
}
bool SteppedSimulation::stream_write(std::size_t stream) {
  return state_->world.guarded([&] { return state_->world.stream_write(stream); });
}
bool SteppedSimulation::stream_consume(std::size_t stream) {
  return state_->world.guarded([&] { return state_->world.stream_consume(stream); });
}
bool SteppedSimulation::cancel_request(std::size_t call) {
  return state_->world.guarded([&] { return state_->world.stepped_cancel_call(call); });
}
bool SteppedSimulation::cancel_stream(std::size_t stream) {
  return state_->world.guarded([&] { return state_->world.stepped_cancel_stream(stream); });
}
void SteppedSimulation::partition(const std::vector<bool>& side, bool one_way) {
  state_->world.guarded([&] { return state_->world.stepped_partition(side, one_way); });
}
void SteppedSimulation::heal() {
  state_->world.guarded([&] { return state_->world.heal(); });
}
void SteppedSimulation::crash(std::size_t node) {
  state_->world.guarded([&] { return state_->world.stepped_crash(node); });
}
void SteppedSimulation::restart(std::size_t node) {
  state_->world.guarded([&] { return state_->world.restart(node); });
}
void SteppedSimulation::advance(TimeNs duration_ns) {
  state_->world.guarded([&] { return state_->world.advance(duration_ns); });
}
void SteppedSimulation::inject(std::size_t from, std::size_t to,
                               std::span<const std::uint8_t> bytes) {
  state_->world.guarded([&] { return state_->world.inject(from, to, bytes); });
}
SteppedOutcome SteppedSimulation::request_outcome(std::size_t call) const {
  return outcome_of(state_->world.call_outcome(call));
}
SteppedOutcome SteppedSimulation::stream_outcome(std::size_t stream) const {
  return outcome_of(state_->world.stream_outcome(stream));
}
std::size_t SteppedSimulation::requests_started() const {
  return state_->world.calls_started();
}
std::size_t SteppedSimulation::streams_opened() const {
  return state_->world.streams_opened();
}
SimResult SteppedSimulation::heal_and_drain(TimeNs quiet_ns, TimeNs settled_ns) {
  return state_->world.guarded([&] { return state_->world.heal_and_drain(quiet_ns, settled_ns); });
}

}  // namespace weft::sim
