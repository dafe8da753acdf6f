// Object streams, sending side: posting, the frames of each object under the receiver's
// credit, completions in posting order, and the resume after a reconnect (PROTOCOL.md §6.3).
#include "object_sender.hpp"

#include <algorithm>

#include "invariant.hpp"
#include "message_text.hpp"
#include "object_compression.hpp"

namespace weft::detail {
// ---- lookup and bookkeeping -----------------------------------------------------------

ObjectSender::Stream* ObjectSender::find(ObjectStreamId id) {
  const auto found = streams_.find(id.value);
  return found == streams_.end() ? nullptr : &found->second;
}

ObjectSender::Stream* ObjectSender::find_by_mux(std::uint64_t mux) {
  const auto found = by_mux_.find(mux);
  return found == by_mux_.end() ? nullptr : find(ObjectStreamId{found->second});
}

void ObjectSender::make_ready(Stream& stream) {
  if (stream.ready || stream.objects.empty()) return;
  stream.ready = true;
  ready_.push_back(stream.id.value);
}

void ObjectSender::set_busy(TimeNs now_ns, Stream& stream) {
  stream.idle.set_busy(now_ns, stream.counters.in_flight > 0);
}

void ObjectSender::schedule_idle(TimeNs now_ns, Stream& stream) {
  stream.idle_at_ns = stream.objects.empty() && stream.link == Link::open
                          ? now_ns + ns_from_ms(context_.config.timeouts.object_idle_timeout_ms)
                          : kNever;
}

void ObjectSender::reset_link(Stream& stream) {
  if (stream.mux != 0) by_mux_.erase(stream.mux);
  stream.link = Link::closed;
  stream.mux = 0;
  stream.credit_objects = 0;
  stream.credit_bytes = 0;
  stream.cursor = 0;
  // Nothing sent on the last connection counts now: the receiver's accept says what it has.
  for (Object& object : stream.objects) {
    object.phase = Phase::begin;
    object.sent = 0;
    object.supplied.clear();
    object.supplied_bytes = 0;
    object.supplied_to = 0;
    object.want_pending = false;
    object.want_room = false;
    object.supply_done = object.data || object.kind == ObjectSize::header_only ||
                         (object.kind == ObjectSize::sized && object.size == 0);
  }
}

// ---- commands -------------------------------------------------------------------------

OpenedObjectStream ObjectSender::open(TimeNs now_ns, std::string_view endpoint,
                                      ObjectStreamOptions options) {
  const bool valid_name =
      !endpoint.empty() && endpoint.size() <= 255 &&
      std::all_of(endpoint.begin(), endpoint.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
  if (!valid_name) return {Errc::invalid_argument, {}};
  if (streams_.size() >= context_.config.limits.max_object_streams) return {Errc::queue_full, {}};
  const ObjectStreamId id{context_.next_object_stream++};
  Stream& stream = streams_[id.value];
  stream.id = id;
  stream.endpoint = std::string(endpoint);
  stream.compression = options.compression;
  stream.counters.compression = options.compression;
  stream.counters.sender = true;
  stream.counters.endpoint = stream.endpoint;
  stream.idle = IdleMeter(now_ns);
  return {Errc::ok, id};
}

PostedObject ObjectSender::post(TimeNs now_ns, ObjectStreamId id, ObjectArgs args) {
  Stream* stream = find(id);
  if (stream == nullptr) return {Errc::not_found, 0};
  if (stream->fin) return {Errc::stream_closed, 0};
  const ConnectionLimits& limits = context_.config.limits;
  const std::uint64_t data_bytes = args.data ? args.data->size() : 0;
  if ((args.kind == ObjectSize::sized && args.data && data_bytes != args.size) ||
      (args.kind == ObjectSize::header_only && (args.data || args.size != 0)) ||
      (args.kind == ObjectSize::unsized && (args.data || args.size != 0))) {
    return {Errc::invalid_argument, 0};
  }
  if (args.header.attrs.custom.size() > kMaxObjectHeaderCustomEntries) return {Errc::too_large, 0};
  Object object;
  encode_object_header(args.header, object.header);
  if (object.header.size() > limits.max_object_header_bytes) return {Errc::too_large, 0};
  if (!has_room(*stream, data_bytes)) return {Errc::queue_full, 0};
  object.number = ++stream->posted;
  object.kind = args.kind;
  object.size = args.size;
  object.tag = args.tag;
  object.supply_done = args.data || args.kind == ObjectSize::header_only ||
                       (args.kind == ObjectSize::sized && args.size == 0);
  object.data = std::move(args.data);
  held_bytes_ += data_bytes;
  const std::uint64_t number = object.number;
  stream->objects.push_back(std::move(object));
  ++stream->counters.objects;
  ++stream->counters.in_flight;
  set_busy(now_ns, *stream);
  stream->idle_at_ns = kNever;
  if (!port_.port_up() && stream->give_up_at_ns == kNever) {
    stream->give_up_at_ns =
        unreachable_ ? now_ns
                     : now_ns + ns_from_ms(context_.config.timeouts.object_resume_timeout_ms);
    stream->window_from_loss = true;
  }
  make_ready(*stream);
  pump(now_ns);
  return {Errc::ok, number};
}

bool ObjectSender::has_room(const Stream& stream, std::uint64_t data_bytes) const {
  const ConnectionLimits& limits = context_.config.limits;
  return stream.counters.in_flight < limits.max_objects_in_flight &&
         held_bytes_ + data_bytes <= limits.max_object_held_bytes;
}

Errc ObjectSender::post_fits(ObjectStreamId id, std::uint64_t data_bytes) const {
  const auto found = streams_.find(id.value);
  if (found == streams_.end()) return Errc::not_found;
  if (found->second.fin) return Errc::stream_closed;
  return has_room(found->second, data_bytes) ? Errc::ok : Errc::queue_full;
}

Errc ObjectSender::supply(TimeNs now_ns, ObjectStreamId id, std::uint64_t number,
                          std::uint64_t offset, const Payload& data, bool last) {
  Stream* stream = find(id);
  if (stream == nullptr) return Errc::not_found;
  const auto found = std::find_if(stream->objects.begin(), stream->objects.end(),
                                  [&](const Object& object) { return object.number == number; });
  if (found == stream->objects.end() || found->result || found->aborted) return Errc::not_found;
  Object& object = *found;
  if (object.data || object.kind == ObjectSize::header_only || object.supply_done ||
      !object.want_pending || offset != object.supplied_to) {
    return Errc::invalid_argument;  // not asked for (or not from there): wait for ObjectWantData
  }
  const std::size_t room = context_.config.limits.object_supply_buffer_bytes;
  if (object.supplied_bytes > 0 && object.supplied_bytes + data.size() > room) {
    object.want_pending = false;
    object.want_room = true;
    return Errc::no_credit;
  }
  const bool sized = object.kind == ObjectSize::sized;
  const std::uint64_t end = object.supplied_to + data.size();
  if (sized && (end > object.size || (last && end < object.size))) {
    object.aborted.emplace(Errc::invalid_argument,
                           "data of " + std::to_string(end) + (end > object.size ? "+" : "") +
                               " bytes supplied for an object of " + std::to_string(object.size));
    make_ready(*stream);
    pump(now_ns);
    return Errc::invalid_argument;
  }
  if (!data.empty()) {
    auto [kept, start] = data.keep_from(0);
    object.supplied.emplace_back(std::move(kept), start);
    object.supplied_bytes += data.size();
    object.supplied_to = end;
  }
  object.supply_done = sized ? end == object.size : last;
  if (object.supply_done) object.want_pending = false;
  make_ready(*stream);
  pump(now_ns);
  return Errc::ok;
}

Errc ObjectSender::abort_object(TimeNs now_ns, ObjectStreamId id, std::uint64_t number, Errc code,
                                std::string_view message) {
  Stream* stream = find(id);
  if (stream == nullptr || code == Errc::ok)
    return stream == nullptr ? Errc::not_found : Errc::invalid_argument;
  for (std::size_t i = stream->cursor; i < stream->objects.size(); ++i) {
    Object& object = stream->objects[i];
    if (object.number != number) continue;
    if (object.result || object.aborted || object.sent_whole) return Errc::not_found;
    object.aborted.emplace(code, std::string(clip_error_text(message)));
    make_ready(*stream);
    pump(now_ns);
    return Errc::ok;
  }
  return Errc::not_found;  // completed, fully sent, or never posted
}

Errc ObjectSender::fin(TimeNs now_ns, ObjectStreamId id) {
  Stream* stream = find(id);
  if (stream == nullptr) return Errc::not_found;
  if (stream->fin) return Errc::stream_closed;
  stream->fin = true;
  emit_completions(now_ns, *stream);  // ends it at once when nothing is in flight
  return Errc::ok;
}

Errc ObjectSender::stop(TimeNs now_ns, ObjectStreamId id, Errc code, std::string_view message) {
  Stream* stream = find(id);
  if (stream == nullptr) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;
  const bool was_linked = stream->link != Link::closed;
  const std::uint64_t mux = stream->mux;
  const std::uint64_t last = stream->next_wire - 1;
  stream->fin = false;  // ends below with `code`, not as a graceful fin
  const std::string text(clip_error_text(message));
  fail_all(now_ns, *stream, code, text);
  end_stream(*stream, code, text);
  if (was_linked && port_.port_up()) send_close(now_ns, mux, last, status_from_errc(code), text);
  return Errc::ok;
}

void ObjectSender::end_all(TimeNs now_ns, Errc code, std::string_view message) {
  std::vector<ObjectStreamId> ids;
  for (const auto& [value, stream] : streams_)
    ids.push_back(stream.id);
  for (const ObjectStreamId id : ids)
    stop(now_ns, id, code, message);
}

std::optional<ObjectStreamStats> ObjectSender::stats(TimeNs now_ns, ObjectStreamId id) {
  Stream* stream = find(id);
  if (stream == nullptr) return std::nullopt;
  ObjectStreamStats stats = stream->counters;
  if (stream->cursor < stream->objects.size()) {
    stats.current_object = stream->objects[stream->cursor].number;
    stats.offset = stream->objects[stream->cursor].sent;
  }
  stats.idle_percent = stream->idle.take_idle_percent(now_ns);
  return stats;
}

// ---- completions ----------------------------------------------------------------------

bool ObjectSender::fail_all(TimeNs now_ns, Stream& stream, Errc code, const std::string& message) {
#if WEFT_CANARIES
  bool lose_one = context_.config.canary == Canary::object_lost_completion;
#endif
  for (Object& object : stream.objects) {
#if WEFT_CANARIES
    // Canary: the first object this failure ends leaves the books without its completion.
    if (lose_one && !object.result && !object.emitted) {
      lose_one = false;
      object.emitted = true;
      held_bytes_ -= object.data ? object.data->size() : 0;
      --stream.counters.in_flight;
    }
#endif
    // An abort the application asked for, not on the wire yet, keeps its own code.
    if (!object.result) object.result = object.aborted ? *object.aborted : std::pair(code, message);
    object.phase = Phase::sent;  // nothing more of it goes out on this connection
  }
  stream.cursor = stream.objects.size();
  stream.acked_through = stream.next_wire - 1;
  return emit_completions(now_ns, stream);
}

bool ObjectSender::emit_completions(TimeNs now_ns, Stream& stream) {
  for (Object& object : stream.objects) {
    if (!object.result) break;
    if (object.phase == Phase::begin && object.wire == 0) object.phase = Phase::sent;
    if (object.emitted) continue;
    object.emitted = true;
#if WEFT_CANARIES
    // Canary: every seventh object the receiver took completes disconnected instead.
    if (context_.config.canary == Canary::object_disconnected_on_live_connection &&
        object.result->first == Errc::ok && object.number % 7 == 3) {
      object.result.emplace(Errc::disconnected, "connection lost");
    }
#endif
    held_bytes_ -= object.data ? object.data->size() : 0;
    --stream.counters.in_flight;
    ++(object.result->first == Errc::ok ? stream.counters.completed_ok
                                        : stream.counters.completed_error);
    context_.emit(event::ObjectCompleted{peer_, stream.id, object.number, object.tag,
                                         object.result->first, object.result->second});
  }
  // An object leaves once completed and done with on the wire (a refused one still sends
  // its end).
  while (!stream.objects.empty() && stream.objects.front().emitted &&
         stream.objects.front().phase == Phase::sent) {
    stream.objects.pop_front();
    if (stream.cursor > 0) --stream.cursor;
  }
  set_busy(now_ns, stream);
  if (!stream.objects.empty()) return true;
  if (stream.give_up_at_ns != kNever) stream.give_up_at_ns = kNever;
  if (stream.fin) {
    if (stream.link != Link::closed && port_.port_up()) {
      const std::uint64_t mux = stream.mux;
      const std::uint64_t last = stream.next_wire - 1;
      end_stream(stream, Errc::ok, "");
      send_close(now_ns, mux, last);
    } else {
      end_stream(stream, Errc::ok, "");
    }
    return false;
  }
  schedule_idle(now_ns, stream);
  return true;
}

void ObjectSender::send_close(TimeNs now_ns, std::uint64_t mux, std::uint64_t last, Status status,
                              std::string_view text) {
  port_.port_send_control(now_ns, Frame{.op = Op::object_close,
                                        .checksum = port_.port_checksums(),
                                        .mux = mux,
                                        .seq = last,
                                        .status = static_cast<std::uint16_t>(status),
                                        .payload = as_bytes(text)});
}

void ObjectSender::end_stream(Stream& stream, Errc result, std::string message) {
  WEFT_ASSERT(stream.objects.empty());
  const ObjectStreamId id = stream.id;
  if (stream.mux != 0) by_mux_.erase(stream.mux);
  streams_.erase(id.value);  // `stream` is gone
  context_.emit(event::ObjectStreamEnded{peer_, id, result, std::move(message)});
}

// ---- sending --------------------------------------------------------------------------

void ObjectSender::pump(TimeNs now_ns) {
  if (pumping_) return;
  pumping_ = true;
  while (port_.port_up() && port_.port_has_room() && !ready_.empty()) {
    const std::uint64_t id = ready_.front();
    ready_.pop_front();
    Stream* stream = find(ObjectStreamId{id});
    if (stream == nullptr) continue;
    stream->ready = false;
    const bool progressed = send_next(now_ns, *stream);
    Stream* still = find(ObjectStreamId{id});
    if (progressed && still != nullptr) make_ready(*still);
  }
  pumping_ = false;
}

bool ObjectSender::send_next(TimeNs now_ns, Stream& stream) {
  if (stream.objects.empty()) return false;
  if (stream.link == Link::closed) return send_open(now_ns, stream);
  if (stream.link == Link::opening) return false;
  while (stream.cursor < stream.objects.size() &&
         stream.objects[stream.cursor].phase == Phase::sent) {
    ++stream.cursor;  // completed here without going on the wire
  }
  if (stream.cursor >= stream.objects.size()) return false;
  return send_object_frame(now_ns, stream, stream.objects[stream.cursor]);
}

bool ObjectSender::send_open(TimeNs now_ns, Stream& stream) {
  // An open the peer never answers must not hold the objects for ever: the deadline that
  // covers a connection down covers the accept too (cleared when it comes).
  if (stream.give_up_at_ns == kNever) {
    stream.give_up_at_ns = now_ns + ns_from_ms(context_.config.timeouts.object_resume_timeout_ms);
    stream.window_from_loss = false;
  }
  const bool lz4 = stream.compression == ObjectCompression::lz4;
  // Resume when an object went on the wire and was not acknowledged: the receiver may hold
  // part of it, or have finished it without our seeing the ack.
  const bool resume = std::any_of(stream.objects.begin(), stream.objects.end(),
                                  [](const Object& object) { return object.wire != 0; });
  stream.mux = port_.port_new_mux();
  stream.open_seq = resume ? stream.acked_through + 1 : stream.next_wire;
  stream.link = Link::opening;
  by_mux_[stream.mux] = stream.id.value;
  if (resume) ++stream.counters.resumes;
  port_.port_send(Frame{.op = Op::object_open,
                        .checksum = port_.port_checksums(),
                        .flags = static_cast<std::uint16_t>((resume ? flag::kResume : 0) |
                                                            (lz4 ? flag::kLz4Stream : 0)),
                        .mux = stream.mux,
                        .seq = stream.open_seq,
                        .name = stream.endpoint,
                        .stream_key = stream.id.value});
  return false;  // nothing more until the accept
}

bool ObjectSender::send_object_frame(TimeNs now_ns, Stream& stream, Object& object) {
  switch (object.phase) {
    case Phase::begin: {
      if (object.wire == 0 && (object.aborted || object.result)) {
        // Never on the wire: it completes here, in its turn.
        if (!object.result) object.result = object.aborted;
        object.phase = Phase::sent;
        ++stream.cursor;
        emit_completions(now_ns, stream);
        return true;
      }
      if (stream.credit_objects == 0 || stream.credit_bytes < object.header.size()) return false;
      if (object.wire == 0) object.wire = stream.next_wire++;
      const bool unsized = object.kind == ObjectSize::unsized;
      // A header-only object is whole in its begin (flag ends): one frame, no object_end.
      const bool whole = object.kind == ObjectSize::header_only && !object.aborted;
      port_.port_send(Frame{.op = Op::object_begin,
                            .checksum = port_.port_checksums(),
                            .flags = unsized ? flag::kSizeUnknown
                                     : whole ? flag::kEnds
                                             : std::uint16_t{0},
                            .mux = stream.mux,
                            .seq = object.wire,
                            .size = unsized ? 0 : object.size,
                            .payload = object.header});
      --stream.credit_objects;
      stream.credit_bytes -= object.header.size();
      if (whole) {
        sent_whole(now_ns, stream, object);
        return true;
      }
      object.phase = object.kind == ObjectSize::header_only ? Phase::end : Phase::data;
      if (object.phase == Phase::data) ask_for_data(stream, object);
      return true;
    }
    case Phase::data:
      if (object.aborted) {
        object.phase = Phase::end;
        return true;
      }
      return send_data(stream, object);
    case Phase::end: {
      const std::string_view text = object.aborted ? object.aborted->second : std::string_view{};
      const Status status = object.aborted ? status_from_errc(object.aborted->first) : Status::ok;
      port_.port_send(Frame{.op = Op::object_end,
                            .checksum = port_.port_checksums(),
                            .mux = stream.mux,
                            .seq = object.wire,
                            .status = static_cast<std::uint16_t>(status),
                            .size = object.sent,
                            .payload = as_bytes(text)});
      sent_whole(now_ns, stream, object);  // a refused object may leave now
      return true;
    }
    case Phase::sent:
      break;
  }
  WEFT_ASSERT(false && "the cursor is past the objects sent");
  return false;
}

void ObjectSender::sent_whole(TimeNs now_ns, Stream& stream, Object& object) {
  object.phase = Phase::sent;
  object.sent_whole = true;
  ++stream.cursor;
  emit_completions(now_ns, stream);
}

bool ObjectSender::send_data(Stream& stream, Object& object) {
  const std::size_t most = std::min<std::uint64_t>(
      {port_.port_max_chunk(), context_.config.limits.object_chunk_bytes, stream.credit_bytes});
  Bytes chunk;
  const SharedBytes* owner = nullptr;  // where chunk lies
  if (object.data) {
    owner = &*object.data;
    chunk = object.data->view().subspan(object.sent,
                                        std::min<std::uint64_t>(most, object.size - object.sent));
  } else if (!object.supplied.empty()) {
    auto& [piece, start] = object.supplied.front();
    owner = &piece;
    chunk = piece.view().subspan(start, std::min(most, piece.size() - start));
  }
  if (chunk.empty()) {
    const bool all_sent =
        object.supply_done && object.supplied.empty() &&
        (object.data ? object.sent == object.size : object.sent == object.supplied_to);
    if (all_sent) {
      object.phase = Phase::end;
      return true;
    }
    ask_for_data(stream, object);
    return false;  // credit or data missing
  }
  // Credit, offsets and sizes count data bytes; only the payload shrinks (§6.3).
  const bool compressed =
      stream.compression == ObjectCompression::lz4 && compress_chunk(chunk, compressed_);
  const Bytes payload = compressed ? Bytes(compressed_) : chunk;
  const Frame frame{.op = Op::object_data,
                    .checksum = port_.port_checksums(),
                    .flags = compressed ? flag::kLz4 : std::uint16_t{0},
                    .mux = stream.mux,
                    .seq = object.wire,
                    .offset = object.sent,
                    .payload = payload};
  if (compressed) {
    port_.port_send(frame);  // compressed_ is reused: copied
  } else {
    port_.port_send_shared(frame, *owner);
  }
  object.sent += chunk.size();
  stream.credit_bytes -= chunk.size();
  stream.counters.bytes += chunk.size();
  stream.counters.wire_bytes += payload.size();
  if (!object.data) {
    auto& [piece, start] = object.supplied.front();
    start += chunk.size();
    if (start == piece.size()) object.supplied.erase(object.supplied.begin());
    object.supplied_bytes -= chunk.size();
    if (object.want_room &&
        object.supplied_bytes <= context_.config.limits.object_supply_buffer_bytes / 2) {
      object.want_room = false;
      ask_for_data(stream, object);
    }
  }
  return true;
}

void ObjectSender::ask_for_data(Stream& stream, Object& object) {
  if (object.data || object.supply_done || object.want_pending || object.want_room) return;
  object.want_pending = true;
  context_.emit(event::ObjectWantData{peer_, stream.id, object.number, object.supplied_to});
}

void ObjectSender::check_invariants() const {
  std::uint64_t held = 0;
  for (const auto& [id, stream] : streams_) {
    WEFT_ASSERT(stream.id.value == id);
    WEFT_ASSERT(stream.cursor <= stream.objects.size());
    std::uint64_t unemitted = 0;
    std::uint64_t last_wire = 0;
    for (std::size_t i = 0; i < stream.objects.size(); ++i) {
      const Object& object = stream.objects[i];
      if (i < stream.cursor) WEFT_ASSERT(object.phase == Phase::sent);
      if (!object.emitted) {
        ++unemitted;
        held += object.data ? object.data->size() : 0;
      }
      WEFT_ASSERT(object.wire == 0 || object.wire > last_wire);
      if (object.wire != 0) last_wire = object.wire;
      WEFT_ASSERT(object.wire < stream.next_wire);
      WEFT_ASSERT(object.data || object.supplied_bytes <= object.supplied_to - object.sent);
    }
    WEFT_ASSERT(unemitted == stream.counters.in_flight);
    WEFT_ASSERT(stream.acked_through < stream.next_wire);
    WEFT_ASSERT((stream.mux != 0) == (stream.link != Link::closed));
    if (stream.mux != 0) WEFT_ASSERT(by_mux_.at(stream.mux) == id);
  }
  WEFT_ASSERT(held == held_bytes_);
  for (const auto& [mux, id] : by_mux_)
    WEFT_ASSERT(streams_.contains(id) && streams_.at(id).mux == mux);
}

}  // namespace weft::detail
