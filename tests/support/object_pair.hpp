// Two nodes on the simulator's in-memory network (weft/sim/mem_network.hpp), for object-
// stream tests: node 0 ("a") sends, node 1 ("b") serves endpoint "store". The test drives
// time, cuts the connection, restarts a node and chooses how bytes are split on their way;
// every event (but the network's own Dial and CloseTransport) is recorded and, when set,
// handed to the test's application. Deterministic: the same options give the same run.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "weft/node.hpp"
#include "weft/sim/mem_network.hpp"

namespace weft::testing {

struct PairOptions {
  std::uint64_t seed = 1;
  // Bytes are delivered in pieces of 1..max_piece_bytes (0: whole).
  std::size_t max_piece_bytes = 0;
  ObjectWindow window;                      // of endpoint "store" on node 1
  std::function<void(NodeConfig&)> adjust;  // applied to both configs
};

class ObjectPair {
 public:
  explicit ObjectPair(PairOptions options = {});

  Node& node(std::size_t index) { return net_.node(index); }
  PeerConnection to(std::size_t from) { return node(from).connection(0); }
  TimeNs now() const { return net_.now(); }
  // All events node `index` emitted since it started, in order.
  const std::vector<Event>& events(std::size_t index) const { return events_.at(index); }
  // Called with every event (after recording), for the test's application.
  std::function<void(std::size_t node, const Event& event)> on_event;

  // Runs the network for `duration_ns` (the clock ends exactly there), or until `until`
  // turns true, if given.
  void run(TimeNs duration_ns, const std::function<bool()>& until = {});
  bool connected();
  bool run_until_connected(TimeNs limit_ns = 10'000'000'000);
  // Both transports go down at once (a reset).
  void disconnect();
  // Node `index` restarts: a new process under the same name (new incarnation).
  void restart(std::size_t index);
  // Stops delivering bytes (they wait in the writer's output) until resumed.
  void set_paused(bool paused);
  // The same for one direction only: bytes node `from` writes wait until resumed.
  void set_stalled(std::size_t from, bool stalled) { net_.set_stalled(from, 1 - from, stalled); }
  // While set, every dial fails (the peer's address does not answer).
  void set_unreachable(bool unreachable) { net_.set_reachable(0, 1, !unreachable); }

  // Receiving side helpers: reads every object arriving at node 1 whole (consume as it
  // comes) into `received` unless the test sets on_event itself.
  struct Received {
    std::uint64_t object = 0;
    ObjectHeader header;
    std::vector<std::uint8_t> data;
    bool finished = false;
    std::optional<Errc> aborted;
  };
  // Installs the reader; `policy(object, data_so_far)` may return discard or refuse.
  enum class Action : std::uint8_t { read, discard, refuse };
  void read_everything(std::function<Action(const Received&)> policy = {});
  std::vector<Received>& received() { return received_; }
  // Completions node 0 saw, in order.
  std::vector<event::ObjectCompleted> completions() const;

 private:
  NodeConfig config_for(std::size_t index) const;
  void start(std::size_t index);
  // The application of node `index`: records the event, reads objects at node 1 when asked.
  void on_app_event(std::size_t index, Event&& event);
  void read_available(ObjectStreamId stream);

  PairOptions options_;
  sim::MemNetwork net_;
  std::uint64_t restarts_ = 0;
  std::array<std::vector<Event>, 2> events_;
  std::function<Action(const Received&)> policy_;
  bool reading_ = false;
  std::vector<Received> received_;
  std::map<std::uint64_t, std::size_t> reading_index_;  // stream -> index in received_
};

}  // namespace weft::testing
