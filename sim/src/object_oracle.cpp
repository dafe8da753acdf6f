#include "object_oracle.hpp"

#include <algorithm>
#include <vector>

namespace weft::sim {

void ObjectOracle::fail(const std::string& message) {
  oracle_.fail(SimResult::Kind::safety, message);
}

// ---- the sending side -----------------------------------------------------------------

bool ObjectOracle::posted(TrackedObjectStream& stream, const PostedObject& posted) {
  // A stream that ended in the core (its ObjectStreamEnded not handled yet) takes nothing.
  if (posted.error == Errc::not_found) return false;
  // The core's count of objects in flight (posted, completion not emitted yet) is at most
  // the application's (whose count waits for the completion events it has not handled).
  const std::optional<ObjectStreamStats> stats =
      net_.node(stream.from)->connection(stream.peer).object_stream_stats(net_.now(), stream.id);
  if (!stats) {
    fail("a posting object stream is unknown to its core");
    return false;
  }
  if (posted.error == Errc::queue_full) {
    // The burst limit, and nothing else in this workload, refuses a post.
    if (stats->in_flight != kObjectBurst) {
      fail("an object post refused queue_full with " + std::to_string(stats->in_flight) +
           " in flight, below the burst limit");
    }
    return false;
  }
  if (posted.error != Errc::ok) {
    fail("an object post refused: " + std::string(errc_name(posted.error)));
    return false;
  }
  if (posted.object != stream.posted + 1) {
    fail("object " + std::to_string(posted.object) + " posted where " +
         std::to_string(stream.posted + 1) + " was next");
    return false;
  }
  ++stream.posted;
  stream.fates.emplace_back();
  if (stats->in_flight > kObjectBurst) {
    fail("an object stream took more objects than its burst limit");
    return false;
  }
  if (stats->in_flight > stream.posted - stream.completed) {
    fail("the core counts more objects in flight than its application posted");
    return false;
  }
  return true;
}

TrackedObjectStream* ObjectOracle::sender_of(std::size_t index, PeerId peer, ObjectStreamId id,
                                             const char* event) {
  TrackedObjectStream* stream = books_.sender(index, net_.epoch(index), peer, id);
  if (stream == nullptr) fail(std::string(event) + " for an object stream never opened");
  return stream;
}

TrackedObjectStream* ObjectOracle::completed(std::size_t index,
                                             const event::ObjectCompleted& done) {
  TrackedObjectStream* stream = sender_of(index, done.peer, done.stream, "ObjectCompleted");
  if (stream == nullptr) return nullptr;
  const std::string name = object_name(stream->serial, done.object);
  tracer_.trace({"object completed ", name, " ", errc_name(done.result)});
  if (stream->ended) {
    fail("object " + name + " completed after its stream ended");
    return nullptr;
  }
  // One completion per object, in posting order: a duplicate, a skipped object or a
  // reordering all break this.
  if (done.object != stream->completed + 1 || done.object > stream->posted) {
    fail("object " + name + " completed where " +
         object_name(stream->serial, stream->completed + 1) + " was due (" +
         std::to_string(stream->posted) + " posted)");
    return nullptr;
  }
  if (done.tag != object_tag(stream->serial, done.object)) {
    fail("object " + name + " completed with another tag than it was posted with");
    return nullptr;
  }
  ObjectFate& fate = stream->fates[done.object - 1];
  fate.completed = true;
  fate.result = done.result;
  ++stream->completed;
  if (!check_result(*stream, fate, done)) return nullptr;
  if (done.result == Errc::ok) ++stream->completed_ok;
  return stream;
}

// What a completion may say, given what the receiving side saw of the object.
bool ObjectOracle::check_result(const TrackedObjectStream& stream, const ObjectFate& fate,
                                const event::ObjectCompleted& done) {
  const std::string name = object_name(stream.serial, done.object);
  const auto broken = [&](const std::string& why) {
    fail("object " + name + " completed " + std::string(errc_name(done.result)) + ": " + why);
    return false;
  };
  if (done.result != Errc::ok && fate.taken && done.result != Errc::canceled &&
      done.result != Errc::disconnected && done.result != Errc::object_state_lost &&
      done.result != Errc::peer_restarted && done.result != Errc::peer_removed) {
    return broken("its receiving application took it");
  }
  // remove_peer completes every object posted to the peer at once, with peer_removed.
  const bool removed = oracle_.removed(stream.from, stream.peer);
  if ((done.result == Errc::peer_removed) != removed)
    return broken(removed ? "its receiver was removed" : "its receiver was not removed");
  switch (done.result) {
    case Errc::ok:
      if (stream.unknown_endpoint) return broken("sent to an unknown endpoint");
      if (!fate.arrived) return broken("it never reached the receiving application");
      if (fate.skipped) return broken("a later object reached the receiver instead");
      if (fate.refused) return broken("its receiving application refused it");
      if (fate.aborted) return broken("it was aborted while its application read it");
      if (!fate.taken) return broken("its receiving application never finished it");
      return true;
    case kRefusal:
      if (!fate.refused) return broken("its receiving application did not refuse it");
      if (done.message != refusal_text(stream.serial, done.object))
        return broken("the refusal's text was not the application's: " + done.message);
      return true;
    case Errc::unknown_handler:
      if (!stream.unknown_endpoint) return broken("its endpoint exists");
      return true;
    case Errc::canceled:
      if (!stream.stopped) return broken("its stream was never stopped");
      return true;
    case Errc::peer_restarted:
      if (net_.epoch(stream.to) == books_.epoch_at_start[stream.from][stream.to] &&
          !books_.ghost_adopted.contains({stream.from, stream.to}))
        return broken("the receiver never restarted since the sender started");
      return true;
    case Errc::disconnected:       // the peer was away too long, or an open never answered
    case Errc::object_state_lost:  // the peer forgot the stream while it was away
      if (!oracle_.object_loss_explained(stream.from, stream.to))
        return broken("its connection stayed up and no fault touched the pair");
      return true;
    case Errc::busy:
      return true;  // the receiver was at its limits
    case Errc::peer_removed:
      return true;  // checked above
    default:
      return broken("no path of this workload ends an object so");
  }
}

void ObjectOracle::stream_ended(std::size_t index, const event::ObjectStreamEnded& ended) {
  TrackedObjectStream* stream = sender_of(index, ended.peer, ended.stream, "ObjectStreamEnded");
  if (stream == nullptr) return;
  const std::string name = "object stream s" + std::to_string(stream->serial);
  tracer_.trace(
      {"object stream ended s", std::to_string(stream->serial), " ", errc_name(ended.result)});
  if (stream->ended) return fail(name + " ended twice");
  stream->ended = true;
  stream->result = ended.result;
  if (stream->completed != stream->posted) {
    return fail(name + " ended with " + std::to_string(stream->posted - stream->completed) +
                " objects not completed");
  }
  if ((ended.result == Errc::peer_removed) != oracle_.removed(index, ended.peer))
    return fail(
        name + " ended " + std::string(errc_name(ended.result)) +
        (oracle_.removed(index, ended.peer) ? ", its peer removed" : ", its peer not removed"));
  switch (ended.result) {
    case Errc::ok:
      if (!stream->fin) return fail(name + " ended ok without a fin");
      return;
    case Errc::canceled:
      if (!stream->stopped) return fail(name + " ended canceled without a stop");
      return;
    case Errc::unknown_handler:
      if (!stream->unknown_endpoint)
        return fail(name + " ended unknown_handler at a known endpoint");
      return;
    case Errc::peer_removed:
      return;  // checked above
    default:
      return fail(name + " ended with " + std::string(errc_name(ended.result)));
  }
}

// ---- the receiving side ---------------------------------------------------------------

ObjectReading* ObjectOracle::arrived(std::size_t index, const event::ObjectArrived& arrived) {
  std::uint64_t serial = 0;
  std::uint64_t number = 0;
  if (!parse_object_name(arrived.header.name, serial, number) || serial >= books_.streams.size()) {
    fail("an object nobody posted arrived: " + arrived.header.name);
    return nullptr;
  }
  TrackedObjectStream& stream = books_.streams[serial];
  const std::string name = object_name(serial, number);
  tracer_.trace({"object arrived ", name, " at ", net_.name(index)});
  if (oracle_.removed(index, arrived.peer)) {
    fail("object " + name + " arrived at " + net_.name(index) + " from a removed peer");
    return nullptr;
  }
  if (!stream.bundle &&
      (index != stream.to || stream.unknown_endpoint || arrived.endpoint != kObjectEndpoint)) {
    fail("object " + name + " arrived at " + net_.name(index) + " endpoint " + arrived.endpoint);
    return nullptr;
  }
  if (number > stream.posted) {
    fail("object " + name + " arrived before it was posted");
    return nullptr;
  }
  const ObjectPlan& plan = stream.plans[number - 1];
  if (arrived.header != object_header(serial, number, plan)) {
    fail("object " + name + " arrived with another header than it was posted with");
    return nullptr;
  }
  const bool size_known = plan.kind != ObjectKind::supplied_unsized;
  if (arrived.size_known != size_known || (size_known && arrived.size != plan.size)) {
    fail("object " + name + " arrived with another size than it was posted with");
    return nullptr;
  }
  if (!(stream.bundle ? bundles_.arrived(index, arrived, serial, number)
                      : in_order(stream, number)))
    return nullptr;
  const ObjectReadKey key{index, net_.epoch(index), arrived.peer, arrived.stream.value};
  const auto [reading, fresh] = books_.readings.try_emplace(key);
  // One object at a time per stream: the one before must have ended for its application
  // (a discarded one ends when its end arrives, which the next arrival shows).
  if (!fresh && !reading->second.discarding) {
    fail("object " + name + " arrived while " +
         object_name(reading->second.serial, reading->second.number) + " was being read");
    return nullptr;
  }
  reading->second = ObjectReading{.serial = serial,
                                  .number = number,
                                  .wire = arrived.object,
                                  .node = index,
                                  .manual = stream.manual};
  return &reading->second;
}

// Exactly once, in order, across every reconnect and restart of the receiver.
bool ObjectOracle::in_order(TrackedObjectStream& stream, std::uint64_t number) {
  const std::string name = object_name(stream.serial, number);
  if (number <= stream.delivered_through) {
    fail("object " + name + " delivered twice (" +
         object_name(stream.serial, stream.delivered_through) + " had arrived)");
    return false;
  }
  for (std::uint64_t gap = stream.delivered_through + 1; gap < number; ++gap) {
    ObjectFate& skipped = stream.fates[gap - 1];
    skipped.skipped = true;
    if (skipped.completed && skipped.result == Errc::ok) {
      fail("object " + object_name(stream.serial, gap) + " completed ok but " + name +
           " arrived in its place");
      return false;
    }
  }
  stream.delivered_through = number;
  stream.fates[number - 1].arrived = true;
  return true;
}

bool ObjectOracle::data_read(const ObjectReading& reading, const ObjectRead& read) {
  const std::string name = object_name(reading.serial, reading.number);
  if (read.object != reading.wire) {
    fail("object_read showed object " + std::to_string(read.object) + " while " + name +
         " was being read");
    return false;
  }
  if (read.offset != reading.read) {
    fail("object " + name + " read at " + std::to_string(read.offset) + " where " +
         std::to_string(reading.read) + " was due");
    return false;
  }
  const std::uint64_t size = plan_of(reading).size;
  if (read.offset + read.data.size() > size) {
    fail("object " + name + " gave more data than was posted");
    return false;
  }
  if (read.end && read.offset + read.data.size() != size) {
    fail("object " + name + " ended at " + std::to_string(read.offset + read.data.size()) + " of " +
         std::to_string(size) + " bytes");
    return false;
  }
  std::vector<std::uint8_t> expected(read.data.size());
  object_data(reading.serial, reading.number, read.offset, expected);
  if (!bytes_equal(read.data, expected)) {
    fail("object " + name + " gave other data than was posted, at " + std::to_string(read.offset));
    return false;
  }
  return true;
}

void ObjectOracle::finished(const ObjectReading& reading, bool refused) {
  if (books_.streams[reading.serial].bundle)
    return bundles_.finished(reading.serial, reading.number, reading.node, refused);
  ObjectFate& fate = books_.streams[reading.serial].fates[reading.number - 1];
  if (fate.taken || fate.refused || fate.aborted) {
    return fail("object " + object_name(reading.serial, reading.number) +
                " ended twice for its application");
  }
  (refused ? fate.refused : fate.taken) = true;
}

void ObjectOracle::aborted(std::size_t index, const event::ObjectAborted& aborted) {
  const auto found =
      books_.readings.find({index, net_.epoch(index), aborted.peer, aborted.stream.value});
  if (found == books_.readings.end() || found->second.wire != aborted.object)
    return fail("ObjectAborted at " + net_.name(index) + " for no object being read");
  const ObjectReading reading = found->second;
  books_.readings.erase(found);
  const TrackedObjectStream& stream = books_.streams[reading.serial];
  const std::string name = object_name(reading.serial, reading.number);
  tracer_.trace({"object aborted ", name, " ", errc_name(aborted.result)});
  if (stream.bundle)
    return bundles_.aborted(index, aborted, reading.serial, reading.number, reading.discarding);
  ObjectFate& fate = books_.streams[reading.serial].fates[reading.number - 1];
  if (fate.refused || fate.aborted || (fate.taken && !reading.discarding))
    return fail("object " + name + " aborted after its application finished it");
  fate.aborted = true;
  switch (aborted.result) {
    case Errc::canceled:
      if (!stream.stopped) fail("object " + name + " aborted canceled, its stream not stopped");
      return;
    case Errc::peer_restarted:
      if (net_.epoch(stream.from) == stream.from_epoch &&
          !books_.ghost_adopted.contains({stream.to, stream.from}))
        fail("object " + name + " aborted peer_restarted, its sender never restarted");
      return;
    // The sender did not come back in time, gave up on its open's answer, or started over.
    case Errc::disconnected:
      if (!oracle_.connection_loss_explained(index, stream.from, oracle_.resume_wait_ns(index),
                                             oracle_.resume_wait_ns(index)))
        fail("object " + name + " aborted disconnected, its connection up and untouched");
      return;
    case Errc::peer_removed:
      if (!oracle_.removed(index, aborted.peer))
        fail("object " + name + " aborted peer_removed, its sender not removed");
      return;
    default:
      return fail("object " + name + " aborted with " + std::string(errc_name(aborted.result)));
  }
}

void ObjectOracle::check_window(std::size_t index, PeerId peer, ObjectStreamId id) {
  PeerConnection connection = net_.node(index)->connection(peer);
  const std::optional<ObjectStreamStats> stats = connection.object_stream_stats(net_.now(), id);
  if (!stats) return;
  if (stats->in_flight > kObjectWindow.objects)
    return fail("an object stream at " + net_.name(index) + " holds more objects than its window");
  if (const std::optional<ObjectRead> read = connection.object_read(id);
      read && read->data.size() > kObjectWindow.bytes) {
    fail("an object stream at " + net_.name(index) + " holds more bytes than its window");
  }
}

// ---- liveness -------------------------------------------------------------------------

std::optional<std::string> object_liveness_problem(const Network& net, const ObjectBooks& books) {
  for (const TrackedObjectStream& stream : books.streams) {
    if (stream.bundle || stream.dropped || stream.ended) continue;
    return "object stream s" + std::to_string(stream.serial) + " from " + net.name(stream.from) +
           " to " + net.name(stream.to) + " never ended (" + std::to_string(stream.completed) +
           " of " + std::to_string(stream.posted) + " posted objects completed)";
  }
  for (const auto& [key, reading] : books.readings) {
    const TrackedObjectStream& stream = books.streams[reading.serial];
    // A discarded object ends when its end arrives, which only the sender's completion (or
    // the next object) shows; a sender that crashed shows nothing.
    const bool sender_done = stream.bundle
                                 ? bundle_object_settled(books, reading.serial, reading.number)
                                 : stream.fates[reading.number - 1].completed || stream.dropped;
    if (reading.discarding && sender_done) continue;
    return "object s" + std::to_string(reading.serial) + "/o" + std::to_string(reading.number) +
           " never ended for its application at " + net.name(std::get<0>(key));
  }
  if (std::optional<std::string> bundles = bundle_liveness_problem(net, books)) return bundles;
  for (std::size_t i = 0; i < net.node_count(); ++i) {
    Node* node = net.node(i);
    if (node == nullptr) continue;  // the general check reports it
    for (PeerId p = 0; p < node->peer_count(); ++p) {
      const PeerStats stats = node->connection(p).stats();
      if (stats.object_streams_out != 0 || stats.object_streams_in != 0) {
        return net.name(i) + " still holds object streams with " + net.name(net.node_of(i, p));
      }
    }
  }
  return std::nullopt;
}

}  // namespace weft::sim
