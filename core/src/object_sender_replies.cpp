// Object streams, sending side: what comes back from the receiver (accepts, acks, closes)
// and from the connection (up, down, the give-up and idle timers), PROTOCOL.md §6.3. The
// posting and sending half is in object_sender.cpp.
#include <algorithm>

#include "message_text.hpp"
#include "object_sender.hpp"

namespace weft::detail {
// ---- frames from the receiver ---------------------------------------------------------

bool ObjectSender::on_frame(TimeNs now_ns, const Frame& frame) {
  Stream* stream = find_by_mux(frame.mux);
  if (stream == nullptr) return true;  // a stream that ended or closed its mux: late, ignored
  const std::string op(op_name(static_cast<std::uint64_t>(frame.op)));
  const auto violation = [&](const std::string& why) {
    port_.port_protocol_error(now_ns, op + " on mux " + std::to_string(frame.mux) + ": " + why);
    return false;
  };
  const bool opening = stream->link == Link::opening;
  switch (frame.op) {
    case Op::object_accept:
      if (!opening) return violation("second object_accept");
      if (frame.seq < stream->open_seq || frame.seq > stream->next_wire ||
          (frame.seq == stream->next_wire && (frame.flags & flag::kBegun) != 0) ||
          ((frame.flags & flag::kBegun) == 0 && frame.offset != 0)) {
        return violation("resume point " + std::to_string(frame.seq) + "/" +
                         std::to_string(frame.offset) + " outside what was sent");
      }
      if ((frame.flags & flag::kBegun) != 0 && !resumable_at(*stream, frame.seq, frame.offset)) {
        return violation("resume point " + std::to_string(frame.seq) + "/" +
                         std::to_string(frame.offset) + " past the object's data");
      }
      if (!on_accept(now_ns, *stream, frame)) break;  // the stream ended
      break;
    case Op::object_reject: {
      if (!opening) return violation("object_reject after the accept");
      const Errc code = errc_from_status(frame.status);
      const std::string text(clip_error_text(as_chars(frame.payload)));
      // No such endpoint, or one that takes no compressed streams: the stream cannot go on.
      const bool unknown = code == Errc::unknown_handler || code == Errc::unsupported;
      if (unknown) stream->fin = false;  // it ends with that code, not as a fin
      reset_link(*stream);
      if (fail_all(now_ns, *stream, code, text) && unknown) end_stream(*stream, code, text);
      return true;
    }
    case Op::object_ack:
      if (opening) return violation("object_ack before the accept");
      if (!on_ack(now_ns, *stream, frame)) return false;
      break;
    case Op::object_credit:
      if (opening) return violation("credit before accept");
      stream->credit_objects += frame.credit_msgs;
      stream->credit_bytes += frame.credit_bytes;
      if (stream->credit_objects > UINT32_MAX || stream->credit_bytes > UINT32_MAX)
        return violation("credit beyond the window");
      make_ready(*stream);
      break;
    default:
      WEFT_ASSERT(false && "not a frame for the sending side");
  }
  pump(now_ns);
  return port_.port_up();
}

bool ObjectSender::resumable_at(const Stream& stream, std::uint64_t wire,
                                std::uint64_t offset) const {
  for (const Object& object : stream.objects) {
    if (object.wire != wire) continue;
    if (object.kind == ObjectSize::header_only) return offset == 0;
    return object.kind == ObjectSize::unsized || offset <= object.size;
  }
  return false;
}

bool ObjectSender::on_accept(TimeNs now_ns, Stream& stream, const Frame& frame) {
  stream.link = Link::open;
  stream.give_up_at_ns = kNever;
  stream.credit_objects = frame.credit_msgs;
  stream.credit_bytes = frame.credit_bytes;
  const bool begun = (frame.flags & flag::kBegun) != 0;
  for (Object& object : stream.objects) {
    if (object.wire != 0 && object.wire < frame.seq) {
      object.phase = Phase::sent;  // the receiver has all of it
      object.sent = object.data ? object.size : object.sent;
      object.sent_whole = true;
    } else if (object.wire != 0 && object.wire == frame.seq && begun) {
      object.phase = Phase::data;
      object.sent = frame.offset;
      object.supplied_to = frame.offset;
      // A header-only object has nothing to supply: only its end is still due.
      object.supply_done = object.data || object.kind == ObjectSize::header_only ||
                           (object.kind == ObjectSize::sized && frame.offset == object.size);
    }
  }
  stream.cursor = 0;
  while (stream.cursor < stream.objects.size() &&
         stream.objects[stream.cursor].phase == Phase::sent) {
    ++stream.cursor;
  }
  if (stream.cursor < stream.objects.size()) {
    Object& current = stream.objects[stream.cursor];
    if (current.phase == Phase::data) ask_for_data(stream, current);
  }
  if (!emit_completions(now_ns, stream)) return false;
  make_ready(stream);
  return true;
}

bool ObjectSender::ack_violation(TimeNs now_ns, const Frame& frame, const std::string& why) {
  port_.port_protocol_error(now_ns, "object_ack " + std::to_string(frame.seq) + " on mux " +
                                        std::to_string(frame.mux) + ": " + why);
  return false;
}

bool ObjectSender::on_ack(TimeNs now_ns, Stream& stream, const Frame& frame) {
  const auto violation = [&](const std::string& why) { return ack_violation(now_ns, frame, why); };
  if ((frame.flags & flag::kThrough) != 0) return on_acks_through(now_ns, stream, frame);
  if (frame.seq != stream.acked_through + 1) {
    return violation("object " + std::to_string(stream.acked_through + 1) + " was due");
  }
  const auto found = std::find_if(stream.objects.begin(), stream.objects.end(),
                                  [&](const Object& object) { return object.wire == frame.seq; });
  // Phase begin: not begun on this connection (the accept of a resume did not say it was).
  if (found == stream.objects.end() || found->phase == Phase::begin) {
    return violation("no such object was begun");
  }
  Object& object = *found;
  if (frame.status == 0 && object.phase != Phase::sent) {
    return violation("acknowledged before its end was sent");
  }
  stream.acked_through = frame.seq;
  if (!object.result) {
    // The receiver's word decides: ok means its application finished the object, whatever
    // the application here asked too late; an error answering our abort keeps our code.
    if (object.aborted && frame.status != 0) {
      object.result = object.aborted;
    } else {
      object.result.emplace(errc_from_status(frame.status),
                            std::string(clip_error_text(as_chars(frame.payload))));
    }
  }
  // Refused while being sent: the rest is not sent; its end tells the receiver so. The end
  // is due now, whatever data or credit the stream waited for.
  if (object.phase == Phase::data && !object.aborted) {
    object.aborted.emplace(Errc::canceled, "refused by the receiver");
    make_ready(stream);
  }
  emit_completions(now_ns, stream);
  return true;
}

// object_ack with flag through: status 0 for every object from the next due up to seq. Each
// must have been sent whole; the objects complete as their own acks would complete them.
bool ObjectSender::on_acks_through(TimeNs now_ns, Stream& stream, const Frame& frame) {
  if (frame.seq <= stream.acked_through) {
    return ack_violation(now_ns, frame,
                         "object " + std::to_string(stream.acked_through + 1) + " was due");
  }
  // Checked before anything changes: a bad range costs the connection and nothing else.
  std::uint64_t covered = 0;
  for (const Object& object : stream.objects) {
    if (object.wire <= stream.acked_through || object.wire > frame.seq) continue;
    if (object.phase != Phase::sent) break;
    ++covered;
  }
  if (covered != frame.seq - stream.acked_through) {
    return ack_violation(now_ns, frame,
                         "object " + std::to_string(stream.acked_through + covered + 1) +
                             " was not begun or its end was not sent");
  }
  for (Object& object : stream.objects) {
    if (object.wire <= stream.acked_through || object.wire > frame.seq) continue;
    if (!object.result) object.result.emplace(Errc::ok, std::string());
  }
  stream.acked_through = frame.seq;
  emit_completions(now_ns, stream);
  return true;
}

// ---- the connection -------------------------------------------------------------------

void ObjectSender::on_up(TimeNs now_ns, bool peer_restarted) {
  unreachable_ = false;
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = it->second;
    ++it;  // fail_all may end the stream (a fin waiting for its objects)
    if (peer_restarted && !stream.objects.empty()) {
      fail_all(now_ns, stream, Errc::peer_restarted,
               "the peer restarted; it holds nothing of this object stream");
      continue;
    }
    make_ready(stream);
  }
  pump(now_ns);
}

bool ObjectSender::quiet() const {
  return std::all_of(streams_.begin(), streams_.end(), [](const auto& entry) {
    return entry.second.objects.empty() && entry.second.link == Link::closed;
  });
}

bool ObjectSender::has_objects() const {
  return std::any_of(streams_.begin(), streams_.end(),
                     [](const auto& entry) { return !entry.second.objects.empty(); });
}

void ObjectSender::restart_unseen() {
  for (auto& [id, stream] : streams_) {
    WEFT_ASSERT(stream.link == Link::closed);
    // The objects get new numbers from next_wire on: the receiver's first ack is of that one.
    stream.acked_through = stream.next_wire - 1;
    for (Object& object : stream.objects) {
      // One with a result (aborted here) then completes in its turn without going out.
      object.wire = 0;
      object.sent_whole = false;
    }
  }
}

void ObjectSender::on_down(TimeNs now_ns) {
  ready_.clear();
  const TimeNs give_up_at_ns =
      now_ns + ns_from_ms(context_.config.timeouts.object_resume_timeout_ms);
  for (auto& [id, stream] : streams_) {
    stream.ready = false;
    reset_link(stream);
    stream.idle_at_ns = kNever;
    // A window from an earlier loss goes on (PROTOCOL.md §6.3: one window from the first
    // loss, a later connection's open included). Otherwise this loss starts one: no wait
    // was under way (an accept on this connection cleared it), or only an open's on a
    // live connection.
    if (!stream.objects.empty() && (stream.give_up_at_ns == kNever || !stream.window_from_loss)) {
      stream.give_up_at_ns = give_up_at_ns;
      stream.window_from_loss = true;
    }
  }
  by_mux_.clear();
}

TimeNs ObjectSender::next_deadline() const {
  TimeNs next = kNever;
  for (const auto& [id, stream] : streams_)
    next = std::min({next, stream.idle_at_ns, stream.give_up_at_ns});
  return next;
}

void ObjectSender::on_timer(TimeNs now_ns) {
  const bool was_unreachable = unreachable_;  // before this tick's give-ups
  for (auto it = streams_.begin(); it != streams_.end();) {
    Stream& stream = it->second;
    ++it;
    if (stream.give_up_at_ns <= now_ns) {
      stream.give_up_at_ns = kNever;
      const std::string waited = std::to_string(context_.config.timeouts.object_resume_timeout_ms);
      // An open never answered is given up with its objects: its mux is closed (the
      // receiver forgets whatever it made of it) and the next object opens afresh. The
      // status is open_timeout, not canceled: an accept may be on its way, and a receiver
      // already delivering a resumed object then ends it `disconnected`, as this side does.
      if (stream.link == Link::opening) {
        const std::uint64_t mux = stream.mux;
        reset_link(stream);
        if (port_.port_up()) {
          send_close(now_ns, mux, stream.next_wire - 1, Status::open_timeout,
                     "no answer to object_open within " + waited + " ms");
        }
      }
      if (!port_.port_up() && !port_.port_on_demand()) unreachable_ = true;
      fail_all(now_ns, stream, Errc::disconnected,
               was_unreachable
                   ? "the peer is still unreachable (down for over " + waited + " ms)"
                   : "the peer did not take the object stream within " + waited + " ms");
      continue;
    }
    if (stream.idle_at_ns <= now_ns) {
      stream.idle_at_ns = kNever;
      if (stream.link != Link::open || !stream.objects.empty() || !port_.port_up()) continue;
      const std::uint64_t mux = stream.mux;
      reset_link(stream);
      send_close(now_ns, mux, stream.next_wire - 1);
      if (!port_.port_up()) return;
    }
  }
}

}  // namespace weft::detail
