// The oracle: checks every event of a run against the workload's books (ledger.hpp) and
// what it knows of the network, and keeps the run's verdict.
//
// Safety, on every event: a call ends exactly once, with exactly the handler's bytes or
// message, never after its deadline; streams deliver every echo in order and end once per
// side; no side holds or may send more than a window; no request arrives over another
// connection than it was sent on (a frame of an old generation); no node adopts a wrong-way
// or stale hello; protocol errors only where bytes were corrupted; queues within their
// limits. Membership: peer_removed only from a removed peer, and a removal ends everything
// with that peer at once; nothing arrives from a removed peer; a hello is refused as
// unknown_node only by a node that does not list its sender. Liveness, after the quiet phase:
// everything ended, every pair up on exactly one connection with empty tables, and no keepalive
// drop of a link no fault disturbed lately.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ledger.hpp"
#include "network.hpp"
#include "trace.hpp"
#include "weft/sim/simulator.hpp"

namespace weft::sim {

struct Failure {
  SimResult::Kind kind;
  std::string message;  // "at <time> ns: what"
};

class Oracle {
 public:
  Oracle(Network& net, Ledger& ledger, Tracer& tracer, std::size_t nodes);

  // The first failure is the run's verdict; the network halts.
  void fail(SimResult::Kind kind, const std::string& message);
  const std::optional<Failure>& failure() const { return failure_; }
  bool failed() const { return failure_.has_value(); }

  // ---- what it knows of the network ----

  // A fault held the traffic between a and b (both ways) until `until`: keepalive may
  // drop their link until a while after.
  void disturb(std::size_t a, std::size_t b, TimeNs until);
  // Faults end: no disturbance lasts past now.
  void calm();
  // The link node a's connection to node b came up on (kNoLink: none since its start).
  std::size_t up_link(std::size_t a, std::size_t b) const { return up_link_[a][b]; }
  // PeerUp at node `index` from node `other`: the handshake completed on the link whose
  // bytes it is reading, whose hello it adopted.
  void peer_up(std::size_t index, std::size_t other);
  // PeerDown at node `index` for node `other`: its connection went, for whatever reason (a
  // reset, a refused redial and the like are not disturbances, yet end work by timeout).
  void peer_down(std::size_t index, std::size_t other) { down_at_[index][other] = net_.now(); }
  // Node `index` crashed; it may be back, and its peers disturbed, until `back_by`.
  void node_crashed(std::size_t index, TimeNs back_by);
  // Whether node a lists node b as its peer (all do, unless membership faults changed it).
  bool listed(std::size_t a, std::size_t b) const { return listed_[a][b]; }
  void set_listed(std::size_t a, std::size_t b, bool listed);
  // Node `index` is about to remove `peer` (Node::remove_peer): once its events are handed
  // out (check_removals), nothing with that peer may be left, and peer_removed is the only
  // way its calls, streams and objects may end.
  void removing(std::size_t index, PeerId peer);
  // After node `index`'s events were handed out: every removal it made has ended everything.
  void check_removals(std::size_t index);
  // Whether node `index`'s `peer` is one it removed.
  bool removed(std::size_t index, PeerId peer) const;

  // ---- safety, per event ----

  void check_queue_limits(std::size_t index, PeerId peer);
  void check_keepalive_drop(std::size_t index, PeerId peer, const std::string& reason);
  // Whether `call` of node `index` may end disconnected (request_done).
  bool disconnect_explained(std::size_t index, const TrackedCall& call) const;
  // Whether node `index` may now end work with node `other` for the connection's sake
  // (disconnected, object_state_lost): its connection to `other` is down at `index`; or,
  // within `fault_window_ns` and keepalive's grace before now, that connection went down,
  // a fault touched the pair, either node crashed or either changed whom it lists; or,
  // with `reconnect_window_ns`, the connection came back (a reconnect after a loss) within
  // that window and a few seconds before now. Connections on demand come and go by
  // themselves: always.
  bool connection_loss_explained(std::size_t index, std::size_t other, TimeNs fault_window_ns,
                                 std::optional<TimeNs> reconnect_window_ns) const;
  // Whether the sender's object (or replica) to `receiver` may complete with `result`
  // (disconnected or object_state_lost) now. Its give-up comes object_resume_timeout_ms
  // after the connection went, the object was posted with none, or an open went unanswered;
  // so the connection was down, or a fault came, within that wait: a reconnect just before
  // the give-up may come too late for its open's answer, and object_state_lost answers the
  // resume on a fresh connection. `earlier_ns`: how long before now the object may have
  // ended (a bundle object completes when its last replica ends, each replica's own end
  // up to that long before).
  bool object_loss_explained(std::size_t sender, std::size_t receiver,
                             TimeNs earlier_ns = 0) const {
    return connection_loss_explained(sender, receiver, resume_wait_ns(sender) + earlier_ns,
                                     earlier_ns);
  }
  // How long node `index` keeps an object stream while its connection is away
  // (ConnectionTimeouts::object_resume_timeout_ms).
  TimeNs resume_wait_ns(std::size_t index) const {
    return ns_from_ms(net_.node(index)->config().timeouts.object_resume_timeout_ms);
  }
  void check_protocol_error(std::size_t index, const event::CloseTransport& close);
  void check_handshake_failure(std::size_t index, const event::HandshakeFailed& failed);
  void check_request_link(std::size_t index, const event::RequestReceived& request);
  void request_done(std::size_t index, const event::RequestDone& done);
  void stream_opened(std::size_t index, const event::StreamOpened& opened);
  void check_credits(std::size_t index, PeerId peer, StreamId id);
  // The opener of `stream` (mux `mux`) read `message`: it must be the next it wrote. Counts
  // it; false (and the run failed) if it is not.
  bool echo_read(TrackedStream& stream, std::uint64_t mux, Bytes message);
  void stream_ended(std::size_t index, const event::StreamEnded& ended);

  // ---- liveness ----

  // After the quiet phase: fails the run unless the cluster settled.
  void check_liveness();
  // What keeps the cluster from being settled (every call and stream ended, every pair up
  // on exactly one connection with empty tables); nullopt when it is.
  std::optional<std::string> liveness_problem() const;

 private:
  std::optional<std::string> leaked_connection() const;
  void check_adopted_hello(std::size_t index, std::size_t other, const Link& link);
  const std::string& name(std::size_t index) const { return net_.name(index); }

  // The last hello a node adopted from a peer: the peer's epoch and attempt.
  struct Adopted {
    bool known = false;
    std::uint64_t epoch = 0;
    std::uint64_t seq = 0;
  };

  Network& net_;
  Ledger& ledger_;
  Tracer& tracer_;
  std::optional<Failure> failure_;
  // [a][b] (both ways): until when a fault (partition, clog, pause, crash, spike) held the
  // pair's traffic; keepalive may legitimately drop their link until a while after it.
  std::vector<std::vector<TimeNs>> disturbed_until_;
  // [node][other node]: the link the node's connection to the other came up on, and when
  // it came up.
  std::vector<std::vector<std::size_t>> up_link_;
  std::vector<std::vector<TimeNs>> up_at_;
  // [node][other node]: when the node's connection to the other last went down.
  std::vector<std::vector<TimeNs>> down_at_;
  // [a][b] (both ways): when a or b last crashed, or either changed whom it lists.
  std::vector<std::vector<TimeNs>> reshaped_at_;
  // [acceptor][dialer]: the last hello the acceptor adopted (what its core remembers).
  std::vector<std::vector<Adopted>> adopted_;
  // [a][b]: a lists b; and whether a ever stopped listing b (its refusals of b are right).
  std::vector<std::vector<bool>> listed_;
  std::vector<std::vector<bool>> ever_unlisted_;
  // Removals whose events were not handed out yet: (node, its epoch, peer).
  std::vector<std::tuple<std::size_t, std::uint64_t, PeerId>> removals_;
  // By call serial: the request reached the serving application.
  std::vector<bool> received_;
};

}  // namespace weft::sim
