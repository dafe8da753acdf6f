// The acceptor's side of the handshake (PROTOCOL.md §4.2): accepted transports that have
// not proved who they are yet. Each reads a hello, answers with a challenge (this node's
// nonce and proof), and reads the auth that proves the dialer; only then does the node
// hand the transport to the peer's connection, so a stranger can never touch a live
// connection. Internal to core/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake.hpp"
#include "node_context.hpp"
#include "weft/bytes.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

// What the acceptor asks of the node about its peers.
class PeerDirectory {
 public:
  virtual ~PeerDirectory() = default;
  // The live peer called `name`, if any.
  virtual std::optional<PeerId> find(std::string_view name) const = 0;
  // Whether `peer` connects on demand (a hello against the dial rule is then a knock).
  virtual bool on_demand(PeerId peer) const = 0;
  // Whether `hello` is older than the connection `peer` accepted last (stale_hello).
  virtual bool is_stale(PeerId peer, const Frame& hello) const = 0;
};

// A transport whose dialer proved itself: the node gives it to `peer`'s connection.
struct Adoption {
  PeerId peer = 0;
  TransportId transport = 0;
  OwnedFrame hello;
  std::uint16_t version = 0;   // what the challenge chose
  bool own_checksums = false;  // what the challenge asked
  TransportSecurity security;
  PeerProof proof;                  // the dialer's, as checked
  std::size_t handshake_bytes = 0;  // hello and auth, the bytes before `rest`
  std::size_t challenge_bytes = 0;  // what this side sent: the challenge
  Bytes rest;  // bytes after the auth in the last input (views the caller's input)
};
// A knock that proved itself (PROTOCOL.md §4.7): refused, and `peer` is dialed back.
struct Knock {
  PeerId peer = 0;
};

class Acceptor {
 public:
  explicit Acceptor(NodeContext& context) : context_(context) {}

  // The reasons of the CloseTransport that makes room for a newer transport.
  static constexpr const char* kOldestClosedReason =
      "too many connections in their handshake: the oldest closed for a newer one";
  static constexpr const char* kOldestOfSourceClosedReason =
      "too many connections in their handshake from one source: the oldest closed for a "
      "newer one";
  // A new accepted transport from `source` (Node::on_accepted). When its source already has
  // max_transports_awaiting_hello_per_source in their handshake, the oldest of those that
  // showed least (shown()) is closed first; else, when max_transports_awaiting_hello are,
  // one chosen by make_room_in_all (HandshakeFailed busy, CloseTransport each time).
  void add(TimeNs now_ns, TransportId transport, std::optional<std::uint64_t> source);
  bool owns(TransportId transport) const { return pending_.contains(transport); }
  // What the transport's TLS layer proved (before any handshake byte is read).
  void set_security(TransportId transport, TransportSecurity security);
  // Bytes on a pending transport. At most one of the results is set.
  struct Outcome {
    std::optional<Adoption> adoption;
    std::optional<Knock> knock;
  };
  Outcome on_bytes(TimeNs now_ns, TransportId transport, Bytes bytes, const PeerDirectory& peers);
  // The transport went away.
  void on_transport_down(TransportId transport);
  // The application removed `peer`: each handshake checked against it (hello seen, auth
  // awaited) is refused now with unknown_node, while the name is unknown, rather than at an
  // auth that may come after the name was added again as a new relationship.
  void on_peer_removed(PeerId peer);
  // Closes the transports whose time ran out.
  void on_timer(TimeNs now_ns);
  TimeNs next_deadline() const;

  // Output of pending transports (the challenge): as Node::pending_output / consume_output.
  Bytes pending_output(TransportId transport) const;
  void consume_output(TransportId transport, std::size_t count);
  // Whether `transport` has output the driver was not told about (poll_transmit).
  bool take_transmit(TransportId transport);
  std::size_t size() const { return pending_.size(); }
  // Whether the per-source counts are those of the transports held, and both caps hold
  // (checked with the node's invariants).
  bool consistent() const;
  template <typename F>
  void for_each_transport(F&& visit) const {
    for (const auto& [transport, pending] : pending_)
      visit(transport);
  }

 private:
  struct Pending;
  // How much a transport in its handshake showed of itself, the least first: nothing (0), a
  // hello (1: anyone can send one, names are not secret), a verified TLS certificate (2:
  // only the cluster's members hold one).
  static int shown(const Pending& pending);
  static constexpr int kShownVerified = 2;

  struct Pending {
    std::optional<std::uint64_t> source;  // as the driver named it; none: a source of its own
    FrameDecoder decoder;
    TimeNs deadline_ns = 0;
    TransportSecurity security;
    // After the hello: the peer, the hello kept, and the exact headers the proofs cover.
    std::optional<PeerId> peer;
    OwnedFrame hello;
    std::vector<std::uint8_t> hello_header;
    EncodedFrame challenge;                // the challenge frame without its proof
    std::size_t challenge_sent_bytes = 0;  // the challenge as sent, proof included
    std::uint16_t version = 0;
    bool own_checksums = false;
    bool knock = false;
    ByteBuffer output;
    bool transmit_marked = false;
  };
  using PendingMap = std::map<TransportId, Pending>;  // ordered: the timeout sweep is deterministic

  // How many transports in their handshake came from the source of `pending`.
  std::size_t from_source(const Pending& pending) const;
  // At the source's cap: closes its own oldest of those that showed least.
  void make_room_in_source(std::uint64_t source);
  // At the cap of all: closes, of those without a verified certificate (else of all), one
  // whose source holds the most places (`source`, the newcomer's, counted one more); of
  // those, the oldest that showed least.
  void make_room_in_all(std::optional<std::uint64_t> source);
  // Closes the transport a cap chose to make room (a HandshakeFailed busy with `message`, the
  // CloseTransport with `reason`) and forgets it.
  void make_room(PendingMap::iterator chosen, std::string message, const char* reason);
  // Every erase of pending_ goes here: the count of its source follows.
  PendingMap::iterator forget(PendingMap::iterator pending);
  // The hello: checks, then the challenge. Returns false when the transport was refused.
  bool on_hello(TimeNs now_ns, Pending& pending, const DecodeStep& step, const PeerDirectory& peers,
                PendingMap::iterator it);
  Status check_hello(TimeNs now_ns, const Frame& hello, const Pending& pending,
                     const PeerDirectory& peers, std::optional<PeerId>& peer,
                     std::string& message) const;
  void send_challenge(TimeNs now_ns, TransportId transport, Pending& pending);
  // The auth: the dialer's proof. Returns the adoption, a knock, or nothing (refused).
  Outcome on_auth(TimeNs now_ns, PendingMap::iterator pending, const DecodeStep& step, Bytes rest,
                  const PeerDirectory& peers);
  // Refuses the transport with a reject (after any output not yet written) and forgets it.
  void refuse(PendingMap::iterator pending, std::string peer_name, Status status,
              std::string message, bool report = true);

  NodeContext& context_;
  PendingMap pending_;
  // Transports in their handshake per named source (only those above zero).
  std::map<std::uint64_t, std::size_t> per_source_;
};

}  // namespace weft::detail
