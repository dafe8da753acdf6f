// Test clusters on the in-memory network: nodes with a recording application whose serving
// behaviour each test chooses.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "weft/node.hpp"
#include "weft/sim/mem_network.hpp"

namespace weft::testing {

inline constexpr std::uint16_t kEchoHandler = 1;
inline constexpr std::uint16_t kHoldHandler = 2;   // never answers on its own
inline constexpr std::uint16_t kErrorHandler = 3;  // answers remote_error "disk full"
inline constexpr std::uint16_t kDelayHandler = 4;  // echoes after Recorder::delay_ns

// What one node's application saw, each event stamped with the time it was delivered.
struct Recorder {
  template <typename T>
  struct Stamped {
    TimeNs at_ns;
    T event;
  };
  std::vector<Stamped<event::PeerUp>> ups;
  std::vector<Stamped<event::PeerDown>> downs;
  std::vector<Stamped<event::HandshakeFailed>> handshake_failures;
  std::vector<Stamped<event::RequestReceived>> received;
  std::vector<Stamped<event::RequestCanceled>> canceled;
  std::vector<Stamped<event::RequestDone>> done;
  std::vector<Stamped<event::StreamOpened>> streams_opened;
  std::vector<Stamped<event::StreamEnded>> streams_ended;
  std::size_t readable_events = 0;
  std::size_t writable_events = 0;
  // When set, serves requests for handlers other than the four test handlers; returns
  // whether it answered (or kept) the request.
  std::function<void(const event::RequestReceived&)> on_request;
  // Called for every stream event after it is recorded (the test's stream application).
  std::function<void(const Event&)> on_stream_event;
  // Requests of kHoldHandler not yet answered (the test answers them).
  std::vector<event::RequestReceived> held;
  TimeNs delay_ns = 0;

  // The RequestDone for `id`, or nullptr.
  const event::RequestDone* done_for(RequestId id) const;
  std::size_t done_count(RequestId id) const;
  // How often stream `id` ended here, and the last such event.
  std::size_t ended_count(StreamId id) const;
  const event::StreamEnded* ended(StreamId id) const;
};

// Default node settings for tests: token "secret", short timers left at their defaults.
NodeConfig test_config(std::string name, std::vector<std::string> peers);

// Whether a Node accepts `config` (its constructor does not throw std::invalid_argument).
bool node_accepts(NodeConfig config);

// An `adjust` for Cluster that applies `change` to the node called `name` only.
std::function<void(NodeConfig&)> for_node(std::string name,
                                          std::function<void(NodeConfig&)> change);

class Cluster {
 public:
  // Nodes named by `names`, each listing all others as peers, with `adjust` applied to
  // each config. Every node registers the four test handlers.
  explicit Cluster(std::vector<std::string> names, sim::MemNetworkOptions options = {},
                   const std::function<void(NodeConfig&)>& adjust = {});

  sim::MemNetwork& net() { return net_; }
  Node& node(std::size_t index) { return net_.node(index); }
  Recorder& recorder(std::size_t index) { return recorders_.at(index); }
  PeerConnection to(std::size_t from, std::size_t to);
  TimeNs now() const { return net_.now(); }

  // Runs until every pair is established (false if not within `limit_ns`).
  bool run_until_connected(TimeNs limit_ns = ns_from_ms(5'000));
  bool connected(std::size_t a, std::size_t b);
  // Sends a request from `from` to `to` now.
  Call request(std::size_t from, std::size_t to, std::uint16_t handler, std::string_view payload,
               std::int64_t timeout_ms = 0, std::string_view route = {});
  // Runs until request `id` of node `from` is done (false if not within `limit_ns`).
  bool run_until_done(std::size_t from, RequestId id, TimeNs limit_ns = ns_from_ms(5'000));
  // Reads and consumes every message waiting on stream `id` of node `at` from node `peer`.
  std::vector<std::string> drain(std::size_t at, std::size_t peer, StreamId id);
  // True when no request or stream is in flight either way on any connection.
  bool all_mux_tables_empty();
  // Runs until `done` holds, at most one simulated second; whether it held.
  bool settle(const std::function<bool()>& done);

 private:
  void on_event(std::size_t index, Event&& event);

  sim::MemNetwork net_;
  std::vector<Recorder> recorders_;
};

}  // namespace weft::testing
