// Object streams, receiving side: opening and resuming, the objects' frames under the
// granted credit, delivery to the application once per object, and acknowledgements in
// object order (PROTOCOL.md §6.3).
#include "object_receiver.hpp"

#include <algorithm>

#include "invariant.hpp"
#include "message_text.hpp"
#include "object_compression.hpp"

namespace weft::detail {
namespace {

// Results are kept to be acknowledged again; their texts need not be whole.
constexpr std::size_t kKeptTextBytes = 256;
// A stream's unread buffer keeps at most this much memory once it empties.
constexpr std::size_t kKeptBufferBytes = 256 * 1024;

}  // namespace

// ---- lookup and bookkeeping -----------------------------------------------------------

ObjectReceiver::Record* ObjectReceiver::find(ObjectStreamId id) {
  const auto key = ids_.find(id.value);
  return key == ids_.end() ? nullptr : &records_.at(key->second);
}

ObjectReceiver::Object* ObjectReceiver::current(Record& record) {
  for (Object& object : record.objects) {
    if (!object.result) return &object;
  }
  return nullptr;
}

std::uint64_t ObjectReceiver::unfinished(const Record& record) const {
  return static_cast<std::uint64_t>(
      std::count_if(record.objects.begin(), record.objects.end(),
                    [](const Object& object) { return !object.result; }));
}

void ObjectReceiver::set_busy(TimeNs now_ns, Record& record) {
  record.idle.set_busy(now_ns, !record.objects.empty());
}

void ObjectReceiver::notify(Record& record) {
  Object* object = current(record);
  if (object == nullptr || !object->arrived || !record.readable_armed) return;
  if (object->unread == 0 && !object->ended) return;
  record.readable_armed = false;
  context_.emit(event::ObjectReadable{peer_, record.id});
}

// Credit goes back when a quarter of the window (objects or bytes) is owed, and when the
// stream holds nothing but what is owed would keep the sender from a largest header: a
// sender blocked on credit always gets it once the application caught up, and a busy stream
// sends one object_credit per quarter window, not one per object.
void ObjectReceiver::return_credit(Record& record, bool force) {
  if (record.mux == 0 || !port_.port_up()) return;
  if (record.unreturned_objects == 0 && record.unreturned_bytes == 0) return;
  const bool idle_but_short = record.held_bytes == 0 &&
                              record.window.bytes - record.unreturned_bytes < kMaxObjectHeaderBytes;
  const bool due =
      force || idle_but_short || record.unreturned_bytes >= record.window.bytes / 4 ||
      record.unreturned_objects >= std::max<std::uint32_t>(1, record.window.objects / 4);
  if (!due) return;
  record.credit_objects += record.unreturned_objects;
  record.credit_bytes += record.unreturned_bytes;
  port_.port_send_credit(record.mux, static_cast<std::uint32_t>(record.unreturned_objects),
                         static_cast<std::uint32_t>(record.unreturned_bytes));
  record.unreturned_objects = 0;
  record.unreturned_bytes = 0;
}

// Drops what is unread of `object`: the object being read (its data leads the buffer) or the
// one being received (its data ends it).
void ObjectReceiver::drop_unread(Record& record, Object& object) {
  const std::uint64_t unread = object.unread;
  if (unread == 0) return;
  if (&object == current(record)) {
    record.unread.consume(unread);
  } else {
    WEFT_ASSERT(&object == &record.objects.back());
    record.unread.shrink_back(unread);
  }
  object.unread = 0;
  object.consumed += unread;
  record.held_bytes -= unread;
  record.unreturned_bytes += unread;
  record.unread.release_if_empty(kKeptBufferBytes);
}

// ---- application commands -------------------------------------------------------------

std::optional<ObjectRead> ObjectReceiver::read(ObjectStreamId id) {
  Record* record = find(id);
  if (record == nullptr) return std::nullopt;
  Object* object = current(*record);
  if (object == nullptr || !object->arrived || (object->unread == 0 && !object->ended)) {
    record->readable_armed = true;
    return std::nullopt;
  }
  ObjectRead result{.object = object->number, .offset = object->consumed, .data = {}};
  result.data = record->unread.view().first(object->unread);
  result.end = object->ended;
  return result;
}

std::uint64_t ObjectReceiver::being_read(ObjectStreamId id) {
  Record* record = find(id);
  if (record == nullptr) return 0;
  const Object* object = current(*record);
  return object != nullptr && object->arrived ? object->number : 0;
}

Errc ObjectReceiver::consume(TimeNs now_ns, ObjectStreamId id, std::size_t bytes) {
  Record* record = find(id);
  if (record == nullptr) return Errc::not_found;
  Object* object = current(*record);
  if (object == nullptr || !object->arrived) return Errc::not_found;
  if (bytes > object->unread) return Errc::invalid_argument;  // more than is there
  record->unread.consume(bytes);
  record->unread.release_if_empty(kKeptBufferBytes);
  object->unread -= bytes;
  object->consumed += bytes;
  record->held_bytes -= bytes;
  record->unreturned_bytes += bytes;
  record->counters.offset = object->consumed;
  if (object->unread == 0 && object->ended) {
    finish(now_ns, *record, *object, Status::ok, "");
  } else {
    return_credit(*record, false);
  }
  return Errc::ok;
}

Errc ObjectReceiver::discard(TimeNs now_ns, ObjectStreamId id) {
  Record* record = find(id);
  if (record == nullptr) return Errc::not_found;
  Object* object = current(*record);
  if (object == nullptr || !object->arrived) return Errc::not_found;
  drop_unread(*record, *object);
  object->discarding = true;
  if (object->ended) {
    finish(now_ns, *record, *object, Status::ok, "");
  } else {
    return_credit(*record, false);
  }
  return Errc::ok;
}

Errc ObjectReceiver::refuse(TimeNs now_ns, ObjectStreamId id, Errc code, std::string_view message) {
  if (code == Errc::ok) return Errc::invalid_argument;
  Record* record = find(id);
  if (record == nullptr) return Errc::not_found;
  Object* object = current(*record);
  if (object == nullptr || !object->arrived) return Errc::not_found;
  ++context_.object_endpoints.at(record->endpoint).stats.refused;
  finish(now_ns, *record, *object, status_from_errc(code), std::string(clip_error_text(message)));
  return Errc::ok;
}

std::optional<ObjectStreamStats> ObjectReceiver::stats(TimeNs now_ns, ObjectStreamId id) {
  Record* record = find(id);
  if (record == nullptr) return std::nullopt;
  ObjectStreamStats stats = record->counters;
  stats.in_flight = unfinished(*record);
  stats.offset = 0;  // of the object being read; none: 0, not the last one's
  if (const Object* object = current(*record)) {
    stats.current_object = object->number;
    stats.offset = object->consumed;
  }
  stats.idle_percent = record->idle.take_idle_percent(now_ns);
  return stats;
}

// ---- finishing objects ----------------------------------------------------------------

void ObjectReceiver::finish(TimeNs now_ns, Record& record, Object& object, Status status,
                            std::string text) {
  WEFT_ASSERT(!object.result);
  drop_unread(record, object);
  if (!object.arrived) {  // never delivered: its header goes too
    record.held_bytes -= object.header_bytes;
    record.unreturned_bytes += object.header_bytes;
    object.header = {};
  }
  object.result.emplace(status, std::move(text));
  advance(now_ns, record);
}

// After a change: acknowledge what is due, let finished and ended objects go, deliver the
// next object, return credit.
void ObjectReceiver::advance(TimeNs now_ns, Record& record) {
  send_acks(now_ns, record);
  // An object's credit comes back when it leaves: finished objects queued behind one the
  // application still reads count against the window, so the queue is bounded by it.
  while (!record.objects.empty() && record.objects.front().result && record.objects.front().ended) {
    record.objects.pop_front();
    ++record.unreturned_objects;
  }
  if (Object* next = current(record); next != nullptr && !next->arrived) {
    next->arrived = true;
    record.held_bytes -= next->header_bytes;
    record.unreturned_bytes += next->header_bytes;
    record.readable_armed = false;  // ObjectArrived tells the application to read
    ++record.counters.objects;
    ++context_.object_endpoints.at(record.endpoint).stats.objects;
    // Decoded only now: a decoded header can take many times its encoded size, and only
    // encoded bytes count against the window.
    std::optional<ObjectHeader> header = decode_object_header(next->header);
    WEFT_ASSERT(header.has_value());  // validated when it arrived
    next->header = {};
    context_.emit(event::ObjectArrived{peer_, record.id, record.endpoint, next->number,
                                       std::move(header).value_or(ObjectHeader{}), next->size_known,
                                       next->size});
  }
  notify(record);
  return_credit(record, false);
  set_busy(now_ns, record);
}

void ObjectReceiver::send_acks(TimeNs now_ns, Record& record) {
  for (const Object& object : record.objects) {
    if (object.number <= record.finished_through) continue;
    if (object.number != record.finished_through + 1 || !object.result) break;
    record.finished_through = object.number;
    const auto& [status, text] = *object.result;
    record.results.emplace_back(status, std::string(clip_utf8(text, kKeptTextBytes)));
    while (record.results.size() > context_.config.limits.object_results_kept)
      record.results.pop_front();
    if (record.mux != 0 && port_.port_up()) send_ack(now_ns, record, object.number, status, text);
  }
}

// Acks of status 0 wait for the connection's next output, so the objects an application
// finishes between two writes cost one object_ack (PROTOCOL.md §6.3, flag through), not
// one each; the sender learns of them no later than it would have.
void ObjectReceiver::send_ack(TimeNs now_ns, Record& record, std::uint64_t number, Status status,
                              std::string_view text) {
  if (status == Status::ok) {
    if (record.acks_owed_from == 0) {
      record.acks_owed_from = number;
      owed_acks_.push_back(record.key);
      port_.port_want_flush();
    }
    WEFT_ASSERT(record.acks_owed_from == number || number == record.acks_owed_through + 1);
    record.acks_owed_through = number;
    return;
  }
  flush_acks_of(now_ns, record);
  if (port_.port_up()) send_ack_frame(now_ns, record.mux, number, 0, status, text);
}

void ObjectReceiver::send_ack_frame(TimeNs now_ns, std::uint64_t mux, std::uint64_t seq,
                                    std::uint16_t flags, Status status, std::string_view text) {
  port_.port_send_control(now_ns, Frame{.op = Op::object_ack,
                                        .checksum = port_.port_checksums(),
                                        .flags = flags,
                                        .mux = mux,
                                        .seq = seq,
                                        .status = static_cast<std::uint16_t>(status),
                                        .payload = as_bytes(text)});
}

void ObjectReceiver::flush_acks_of(TimeNs now_ns, Record& record) {
  if (record.acks_owed_from == 0) return;
  const bool several = record.acks_owed_through > record.acks_owed_from;
  record.acks_owed_from = 0;
  send_ack_frame(now_ns, record.mux, record.acks_owed_through,
                 several ? flag::kThrough : std::uint16_t{0}, Status::ok, {});
}

void ObjectReceiver::flush_acks(TimeNs now_ns) {
  // By index: a flush that costs the connection empties owed_acks_ (on_down) mid-loop.
  for (std::size_t i = 0; i < owed_acks_.size(); ++i) {
    const auto found = records_.find(owed_acks_[i]);
    if (found != records_.end()) flush_acks_of(now_ns, found->second);
  }
  owed_acks_.clear();
}

void ObjectReceiver::forget(Record& record, Errc code, const std::string& message) {
  if (Object* object = current(record); object != nullptr && object->arrived) {
    context_.emit(event::ObjectAborted{peer_, record.id, object->number, code, message});
  }
  if (record.mux != 0) by_mux_.erase(record.mux);
  window_bytes_ -= record.window.bytes;
  ids_.erase(record.id.value);
  records_.erase(record.key);  // `record` is gone
}

// ---- frames from the sender -----------------------------------------------------------

bool ObjectReceiver::on_frame(TimeNs now_ns, const Frame& frame) {
  if (frame.op == Op::object_open) return open(now_ns, frame);
  const auto key = by_mux_.find(frame.mux);
  if (key == by_mux_.end()) return true;  // not open (closed, or never): late, ignored
  Record& record = records_.at(key->second);
  switch (frame.op) {
    case Op::object_begin:
      return begin(now_ns, record, frame);
    case Op::object_data:
      return data(now_ns, record, frame);
    case Op::object_end:
      return end(now_ns, record, frame);
    case Op::object_close:
      return close(now_ns, record, frame);
    default:
      WEFT_ASSERT(false && "not a frame for the receiving side");
      return true;
  }
}

bool ObjectReceiver::reject(TimeNs now_ns, const Frame& open, Status status, std::string text) {
  port_.port_send_control(now_ns, Frame{.op = Op::object_reject,
                                        .checksum = port_.port_checksums(),
                                        .mux = open.mux,
                                        .status = static_cast<std::uint16_t>(status),
                                        .payload = as_bytes(text)});
  return port_.port_up();
}

bool ObjectReceiver::open(TimeNs now_ns, const Frame& frame) {
  const std::string at = " (object_open on mux " + std::to_string(frame.mux) + ")";
  if (by_mux_.contains(frame.mux) || port_.port_mux_taken(frame.mux)) {
    port_.port_protocol_error(now_ns,
                              "object_open on mux " + std::to_string(frame.mux) + " already open");
    return false;
  }
  const auto endpoint = context_.object_endpoints.find(frame.name);
  if (endpoint == context_.object_endpoints.end()) {
    return reject(now_ns, frame, Status::unknown_handler,
                  "no object endpoint " + std::string(frame.name));
  }
  if ((frame.flags & flag::kLz4Stream) != 0) {
    if (endpoint->second.accepts == ObjectCompression::none) {
      return reject(now_ns, frame, Status::unsupported,
                    "object endpoint " + std::string(frame.name) + " takes no compressed streams");
    }
  }
  const auto existing = records_.find(frame.stream_key);
  if (existing != records_.end() && existing->second.mux != 0) {
    port_.port_protocol_error(now_ns, "object stream " + std::to_string(frame.stream_key) +
                                          " is already open on mux " +
                                          std::to_string(existing->second.mux));
    return false;
  }
  if ((frame.flags & flag::kResume) != 0) {
    if (existing == records_.end()) {
      return reject(now_ns, frame, Status::object_state_lost,
                    "no state for object stream " + std::to_string(frame.stream_key));
    }
    return resume(now_ns, existing->second, frame);
  }
  if (existing != records_.end()) {
    // The sender starts over: it completed whatever it had not seen acknowledged.
    forget(existing->second, Errc::disconnected, "the sender started the object stream over");
  }
  const ObjectWindow window = endpoint->second.window;
  const ConnectionLimits& limits = context_.config.limits;
  if (records_.size() >= limits.max_object_streams ||
      window_bytes_ + window.bytes > limits.max_object_receive_bytes) {
    return reject(now_ns, frame, Status::busy, "too many object streams");
  }
  const ObjectStreamId id{context_.next_object_stream++};
  Record& record = records_[frame.stream_key];
  record.id = id;
  record.key = frame.stream_key;
  record.endpoint = std::string(frame.name);
  record.window = window;
  record.next_begin = frame.seq;
  record.finished_through = frame.seq - 1;
  record.counters.endpoint = record.endpoint;
  record.idle = IdleMeter(now_ns);
  ids_[id.value] = frame.stream_key;
  window_bytes_ += window.bytes;
  ++endpoint->second.stats.streams_opened;
  accept(now_ns, record, frame);
  return port_.port_up();
}

bool ObjectReceiver::resume(TimeNs now_ns, Record& record, const Frame& frame) {
  if (record.endpoint != frame.name) {
    port_.port_protocol_error(now_ns, "object stream " + std::to_string(frame.stream_key) +
                                          " resumed at another endpoint");
    return false;
  }
  if (frame.seq > record.finished_through + 1) {
    port_.port_protocol_error(now_ns, "object stream " + std::to_string(frame.stream_key) +
                                          " resumed from object " + std::to_string(frame.seq) +
                                          ", only " + std::to_string(record.finished_through) +
                                          " acknowledged");
    return false;
  }
  const std::uint64_t kept_from = record.finished_through + 1 - record.results.size();
  if (frame.seq < kept_from) {
    return reject(now_ns, frame, Status::object_state_lost,
                  "results before object " + std::to_string(kept_from) + " are no longer kept");
  }
  // The last object was refused before its end arrived, and the sender has the refusal:
  // it will never send the rest, so the object counts as ended.
  if (!record.objects.empty() && !record.objects.back().ended && record.objects.back().result &&
      record.objects.back().number < frame.seq) {
    record.objects.back().ended = true;
    advance(now_ns, record);
  }
#if WEFT_CANARIES
  // Canary: the object being received and read is started over, so it arrives again.
  if (context_.config.canary == Canary::object_duplicate_after_resume && !record.objects.empty() &&
      !record.objects.back().ended && record.objects.back().arrived &&
      !record.objects.back().result) {
    drop_unread(record, record.objects.back());
    record.objects.pop_back();
    --record.next_begin;
  }
#endif
  ++record.counters.resumes;
  accept(now_ns, record, frame);
  // The acks the sender may have missed, from the results kept.
  const std::size_t first = record.results.size() - (record.finished_through + 1 - frame.seq);
  for (std::size_t i = first; i < record.results.size() && port_.port_up(); ++i) {
    const auto& [status, text] = record.results[i];
    send_ack(now_ns, record, kept_from + i, status, text);
  }
  return port_.port_up();
}

// Opens the record on this connection: the credit is the window less what it holds, and
// the accept says where the sender goes on.
void ObjectReceiver::accept(TimeNs now_ns, Record& record, const Frame& open) {
  const std::uint64_t mux = open.mux;
  record.mux = mux;
  record.lz4 = (open.flags & flag::kLz4Stream) != 0;
  record.counters.compression = record.lz4 ? ObjectCompression::lz4 : ObjectCompression::none;
  by_mux_[mux] = record.key;
  record.expire_at_ns = kNever;
  record.credit_objects = record.window.objects - record.objects.size();
  record.credit_bytes = record.window.bytes - record.held_bytes;
  record.unreturned_objects = 0;
  record.unreturned_bytes = 0;
  Frame accept{.op = Op::object_accept,
               .checksum = port_.port_checksums(),
               .mux = mux,
               .seq = record.next_begin,
               .credit_msgs = static_cast<std::uint32_t>(record.credit_objects),
               .credit_bytes = static_cast<std::uint32_t>(record.credit_bytes)};
  if (!record.objects.empty() && !record.objects.back().ended) {
    accept.flags = flag::kBegun;
    accept.seq = record.objects.back().number;
    accept.offset = record.objects.back().received;
  }
  port_.port_send_control(now_ns, accept);
}

bool ObjectReceiver::begin(TimeNs now_ns, Record& record, const Frame& frame) {
  if (!record.objects.empty() && !record.objects.back().ended)
    return violation(now_ns, frame,
                     "object " + std::to_string(record.objects.back().number) + " has not ended");
  if (frame.seq != record.next_begin)
    return violation(now_ns, frame, "object " + std::to_string(record.next_begin) + " was due");
  if (frame.payload.size() > kMaxObjectHeaderBytes)
    return violation(now_ns, frame,
                     "header of " + std::to_string(frame.payload.size()) + " bytes, over 64512");
  if (record.credit_objects == 0 || record.credit_bytes < frame.payload.size())
    return violation(now_ns, frame, "beyond the granted credit");
  --record.credit_objects;
  record.credit_bytes -= frame.payload.size();
  ++record.next_begin;
  Object& object = record.objects.emplace_back();
  object.number = frame.seq;
  object.header_bytes = static_cast<std::uint32_t>(frame.payload.size());
  object.size_known = (frame.flags & flag::kSizeUnknown) == 0;
  object.size = frame.size;
  object.ended = (frame.flags & flag::kEnds) != 0;  // an object without data, whole
  record.held_bytes += object.header_bytes;
  std::string why;
  if (validate_object_header(frame.payload, &why)) {
    object.header.assign(frame.payload.begin(), frame.payload.end());
  } else {
    ++context_.object_endpoints.at(record.endpoint).stats.refused;
    finish(now_ns, record, object, Status::bad_payload, "bad object header: " + why);
    return port_.port_up();
  }
  advance(now_ns, record);
  return port_.port_up();
}

bool ObjectReceiver::violation(TimeNs now_ns, const Frame& frame, const std::string& why) {
  port_.port_protocol_error(now_ns, std::string(op_name(static_cast<std::uint64_t>(frame.op))) +
                                        " " + std::to_string(frame.seq) + " on mux " +
                                        std::to_string(frame.mux) + ": " + why);
  return false;
}

ObjectReceiver::Object* ObjectReceiver::receiving(TimeNs now_ns, Record& record,
                                                  const Frame& frame) {
  if (record.objects.empty() || record.objects.back().ended ||
      record.objects.back().number != frame.seq) {
    violation(now_ns, frame, "no such object is open");
    return nullptr;
  }
  return &record.objects.back();
}

bool ObjectReceiver::bad_chunk(TimeNs now_ns, const Frame& frame, const std::string& why) {
  return violation(now_ns, frame,
                   "bad compressed chunk at offset " + std::to_string(frame.offset) + ": " + why);
}

std::optional<std::uint64_t> ObjectReceiver::data_bytes(TimeNs now_ns, const Record& record,
                                                        const Frame& frame) {
  if ((frame.flags & flag::kLz4) == 0) return frame.payload.size();
  if (!record.lz4) {
    violation(now_ns, frame, "compressed data on a stream opened without lz4");
    return std::nullopt;
  }
  const std::optional<std::uint32_t> declared = declared_chunk_bytes(frame.payload);
  if (!declared) {
    bad_chunk(now_ns, frame,
              std::to_string(frame.payload.size()) + " bytes, shorter than its 4-byte size");
    return std::nullopt;
  }
  // Checked before anything is allocated: the limit the sender knows (our frame limit),
  // then, in data(), the announced size and the credit.
  if (*declared == 0 || *declared > port_.port_own_max_frame()) {
    bad_chunk(now_ns, frame,
              "declares " + std::to_string(*declared) + " bytes, outside 1.." +
                  std::to_string(port_.port_own_max_frame()));
    return std::nullopt;
  }
  return *declared;
}

bool ObjectReceiver::data(TimeNs now_ns, Record& record, const Frame& frame) {
  Object* receiving_object = receiving(now_ns, record, frame);
  if (receiving_object == nullptr) return false;
  Object& object = *receiving_object;
  if (frame.offset != object.received)
    return violation(now_ns, frame,
                     "offset " + std::to_string(frame.offset) + " where " +
                         std::to_string(object.received) + " was due");
  const std::optional<std::uint64_t> counted = data_bytes(now_ns, record, frame);
  if (!counted) return false;
  const std::uint64_t bytes = *counted;
  if (object.size_known && object.received + bytes > object.size)
    return violation(now_ns, frame, "data past the announced size");
  if (record.credit_bytes < bytes) return violation(now_ns, frame, "beyond the granted credit");
  const bool compressed = (frame.flags & flag::kLz4) != 0;
  const bool drained = object.result || object.discarding;
  if (compressed) {
    // Decoded in place at the end of the unread data (bounded by the credit just checked);
    // a drained chunk is decoded too, so bad input is found whoever reads it.
    std::uint8_t* out = record.unread.extend(bytes);
    const auto why = decompress_chunk(frame.payload, out, static_cast<std::uint32_t>(bytes));
    if (why || drained) record.unread.shrink_back(bytes);
    if (why) return bad_chunk(now_ns, frame, *why);
  }
  record.credit_bytes -= bytes;
  object.received += bytes;
  record.counters.bytes += bytes;
  record.counters.wire_bytes += frame.payload.size();
  context_.object_endpoints.at(record.endpoint).stats.bytes += bytes;
  if (drained) {
    record.unreturned_bytes += bytes;  // drained: the bytes go at once
    return_credit(record, false);
    return port_.port_up();
  }
  if (bytes > 0) {
    if (!compressed) record.unread.append(frame.payload);
    object.unread += bytes;
    record.held_bytes += bytes;
  }
  notify(record);
  return port_.port_up();
}

bool ObjectReceiver::end(TimeNs now_ns, Record& record, const Frame& frame) {
  Object* receiving_object = receiving(now_ns, record, frame);
  if (receiving_object == nullptr) return false;
  Object& object = *receiving_object;
  if (frame.size != object.received)
    return violation(now_ns, frame,
                     "size " + std::to_string(frame.size) + " but " +
                         std::to_string(object.received) + " bytes arrived");
  if (frame.status == 0 && object.size_known && object.received != object.size)
    return violation(now_ns, frame,
                     "ends at " + std::to_string(object.received) + " of " +
                         std::to_string(object.size) + " bytes");
  object.ended = true;
  if (frame.status != 0 && !object.result) {
    // The sender aborted it: the application drops what it read, the ack echoes the code.
    const std::string text(clip_error_text(as_chars(frame.payload)));
    if (object.arrived) {
      context_.emit(event::ObjectAborted{peer_, record.id, object.number,
                                         errc_from_status(frame.status), text});
    }
    // The sender has its text: the ack echoes as much of it as a kept result holds, and an
    // object queued behind an unread one keeps no more than that until its ack goes.
    finish(now_ns, record, object, static_cast<Status>(frame.status),
           std::string(clip_utf8(text, kKeptTextBytes)));
  } else if (object.discarding && !object.result) {
    finish(now_ns, record, object, Status::ok, "");
  } else {
    advance(now_ns, record);
  }
  return port_.port_up();
}

bool ObjectReceiver::close(TimeNs now_ns, Record& record, const Frame& frame) {
  if (frame.status == 0 && frame.seq != record.next_begin - 1)
    return violation(now_ns, frame,
                     "the last object begun is " + std::to_string(record.next_begin - 1));
  if (frame.status == 0 && !record.objects.empty()) {
    return violation(now_ns, frame,
                     "object " + std::to_string(record.objects.front().number) + " is unfinished");
  }
  // open_timeout: the opener gave up waiting for its open's answer and ended the objects
  // `disconnected` (a local code it never sends); the object being delivered ends the same.
  const Errc code = frame.status == static_cast<std::uint16_t>(Status::open_timeout)
                        ? Errc::disconnected
                        : errc_from_status(frame.status);
  forget(record, code, std::string(clip_error_text(as_chars(frame.payload))));
  return true;
}

// ---- the connection -------------------------------------------------------------------

void ObjectReceiver::on_up(TimeNs, bool peer_restarted) {
  if (peer_restarted)
    forget_all(Errc::peer_restarted, "the sender restarted; the object stream is gone");
}

void ObjectReceiver::forget_all(Errc code, const std::string& message) {
  while (!records_.empty())
    forget(records_.begin()->second, code, message);
}

void ObjectReceiver::on_down(TimeNs now_ns) {
  const TimeNs expire_at_ns =
      now_ns + ns_from_ms(context_.config.timeouts.object_resume_timeout_ms);
  for (auto& [key, record] : records_) {
    record.mux = 0;
    // Only a stream open on this connection gets a new wait: one the sender did not resume
    // (it gave up meanwhile) keeps its first, or connections that come and go (on demand,
    // a flapping link) would hold it for ever.
    if (record.expire_at_ns == kNever) record.expire_at_ns = expire_at_ns;
    record.acks_owed_from = 0;  // sent again after the resume, from the results kept
  }
  by_mux_.clear();
  owed_acks_.clear();
}

TimeNs ObjectReceiver::next_deadline() const {
  TimeNs next = kNever;
  for (const auto& [key, record] : records_)
    next = std::min(next, record.expire_at_ns);
  return next;
}

void ObjectReceiver::on_timer(TimeNs now_ns) {
  for (auto it = records_.begin(); it != records_.end();) {
    Record& record = it->second;
    ++it;
    if (record.expire_at_ns > now_ns) continue;
    forget(record, Errc::disconnected,
           "the sender did not resume the object stream within " +
               std::to_string(context_.config.timeouts.object_resume_timeout_ms) + " ms");
  }
}

void ObjectReceiver::check_invariants() const {
  std::uint64_t windows = 0;
  for (const auto& [key, record] : records_) {
    windows += record.window.bytes;
    WEFT_ASSERT(record.key == key && ids_.at(record.id.value) == key);
    std::uint64_t held = 0;
    std::uint64_t unread = 0;
    std::uint64_t last = 0;
    for (const Object& object : record.objects) {
      WEFT_ASSERT(object.number > last);
      last = object.number;
      if (!object.arrived && !object.result) held += object.header_bytes;
      held += object.unread;
      unread += object.unread;
      WEFT_ASSERT(object.consumed + object.unread <= object.received);
      WEFT_ASSERT(!object.result || object.unread == 0);
      WEFT_ASSERT(!object.size_known || object.received <= object.size);
    }
    WEFT_ASSERT(held == record.held_bytes);
    WEFT_ASSERT(unread == record.unread.size());
    WEFT_ASSERT(last == 0 || last == record.next_begin - 1);
    WEFT_ASSERT(record.finished_through < record.next_begin);
    WEFT_ASSERT(record.acks_owed_from == 0 ||
                (record.mux != 0 && record.acks_owed_from <= record.acks_owed_through &&
                 record.acks_owed_through <= record.finished_through));
    if (record.mux != 0) {
      WEFT_ASSERT(by_mux_.at(record.mux) == key);
      // Credit conservation: what the sender may send, what it sent and is held, and what
      // is owed back add up to the window.
      WEFT_ASSERT(record.credit_bytes + record.held_bytes + record.unreturned_bytes ==
                  record.window.bytes);
      WEFT_ASSERT(record.credit_objects + record.objects.size() + record.unreturned_objects ==
                  record.window.objects);
    }
  }
  WEFT_ASSERT(windows == window_bytes_);
}

}  // namespace weft::detail
