#include "weft/errors.hpp"

namespace weft {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::ok:
      return "ok";
    case Errc::remote_error:
      return "remote_error";
    case Errc::unknown_handler:
      return "unknown_handler";
    case Errc::busy:
      return "busy";
    case Errc::disconnected:
      return "disconnected";
    case Errc::deadline_exceeded:
      return "deadline_exceeded";
    case Errc::canceled:
      return "canceled";
    case Errc::too_large:
      return "too_large";
    case Errc::queue_full:
      return "queue_full";
    case Errc::shutting_down:
      return "shutting_down";
    case Errc::protocol_error:
      return "protocol_error";
    case Errc::bad_payload:
      return "bad_payload";
    case Errc::unknown_peer:
      return "unknown_peer";
    case Errc::not_found:
      return "not_found";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::no_credit:
      return "no_credit";
    case Errc::stream_closed:
      return "stream_closed";
    case Errc::keepalive_timeout:
      return "keepalive_timeout";
    case Errc::peer_restarted:
      return "peer_restarted";
    case Errc::object_state_lost:
      return "object_state_lost";
    case Errc::peer_removed:
      return "peer_removed";
    case Errc::destination_removed:
      return "destination_removed";
    case Errc::unsupported:
      return "unsupported";
  }
  return "unknown";
}

Errc errc_from_status(std::uint16_t status) {
  switch (static_cast<Status>(status)) {
    case Status::ok:
      return Errc::ok;
    case Status::unknown_handler:
      return Errc::unknown_handler;
    case Status::too_large:
      return Errc::too_large;
    case Status::busy:
      return Errc::busy;
    case Status::deadline_exceeded:
      return Errc::deadline_exceeded;
    case Status::canceled:
      return Errc::canceled;
    case Status::protocol_error:
      return Errc::protocol_error;
    case Status::shutting_down:
      return Errc::shutting_down;
    case Status::bad_payload:
      return Errc::bad_payload;
    case Status::keepalive_timeout:
      return Errc::keepalive_timeout;
    case Status::object_state_lost:
      return Errc::object_state_lost;
    case Status::unsupported:
      return Errc::unsupported;
    default:
      return Errc::remote_error;
  }
}

Status status_from_errc(Errc code) {
  switch (code) {
    case Errc::ok:
      return Status::ok;
    case Errc::unknown_handler:
      return Status::unknown_handler;
    case Errc::too_large:
      return Status::too_large;
    case Errc::busy:
    case Errc::queue_full:
      return Status::busy;
    case Errc::deadline_exceeded:
      return Status::deadline_exceeded;
    case Errc::canceled:
      return Status::canceled;
    case Errc::protocol_error:
      return Status::protocol_error;
    case Errc::shutting_down:
      return Status::shutting_down;
    case Errc::bad_payload:
      return Status::bad_payload;
    case Errc::keepalive_timeout:
      return Status::keepalive_timeout;
    case Errc::object_state_lost:
      return Status::object_state_lost;
    case Errc::unsupported:
      return Status::unsupported;
    default:
      return Status::remote_error;
  }
}

}  // namespace weft
