// Outcomes of calls and commands, local and remote, as one typed code.
#pragma once

#include <cstdint>
#include <string_view>

#include "weft/wire.hpp"

namespace weft {

enum class Errc : std::uint8_t {
  ok = 0,
  remote_error,       // the handler on the peer failed (its message comes along)
  unknown_handler,    // the peer has no handler for (handler, route)
  busy,               // the peer's queue for this work was full
  disconnected,       // no connection, or it went down before the call ended
  deadline_exceeded,  // the call's deadline passed
  canceled,           // canceled by the caller
  too_large,          // a payload over a size limit (frame, message, window)
  queue_full,         // a local queue is at its limit; try again later
  shutting_down,      // the peer (or this node) is closing
  protocol_error,     // the peer broke the protocol
  bad_payload,        // a typed payload did not decode
  unknown_peer,       // no such peer in the node's list
  not_found,          // no such call or request (already ended, or never existed)
  invalid_argument,   // a command's argument is out of range (see its contract)
  no_credit,          // a stream write without credit; StreamWritable follows when there is
  stream_closed,      // a write after this side's half of the stream ended
  keepalive_timeout,  // the stream's peer stopped answering (or sending) keepalive pings
  // The peer restarted (a new incarnation): it holds nothing of the object stream, so the
  // objects it had not acknowledged may or may not have reached its old incarnation.
  peer_restarted,
  // The peer holds no state for the object stream this node tried to resume (it expired
  // there, or the peer never had it): the unacknowledged objects' fate is unknown.
  object_state_lost,
  // The application removed the peer (Node::remove_peer): what was in flight with it ends.
  peer_removed,
  // The application removed the destination from a bundle (Node::bundle_remove_destination):
  // what was in flight to it ends.
  destination_removed,
  // The peer does not support what was asked: a compressed object stream to an endpoint
  // registered without compression.
  unsupported,
};

// The name of `code` ("deadline_exceeded").
std::string_view errc_name(Errc code);

// The local code for a non-zero wire status received from the peer.
Errc errc_from_status(std::uint16_t status);

// The wire status that reports `code` to the peer.
Status status_from_errc(Errc code);

}  // namespace weft
