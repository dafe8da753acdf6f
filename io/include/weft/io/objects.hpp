// Object streams on EventNode (PROTOCOL.md §6.3): what the application hands over to send
// objects and what it gets when they arrive. Included by weft/io/event_node.hpp.
//
// Sending: EventNode::open_object_stream gives an ObjectStream; send() posts objects whose
// data comes from memory, from a file (read by the loop thread with pread, from where the
// receiver stopped after a reconnect), or from a producer for objects of unknown size. Each
// object's completion callback runs exactly once, in posting order, on the loop thread: ok
// once the receiving application finished the object.
//
// Receiving: EventNode::handle_objects serves an endpoint; for each arriving object the
// handler returns an ObjectSink whose on_data gets the data in order and whose on_end runs
// exactly once, on the loop thread; the reader drops the sink once on_end returned.
// memory_sink() and file_sink() are ready-made sinks.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "weft/node.hpp"

namespace weft::io {

// Where an object's data comes from. Copyable (a file source shares one descriptor).
class ObjectSource {
 public:
  // Fills `room` with data from `offset` (loop thread): sets `written` to the bytes filled
  // and `last` once the object's data ends (an unsized object's end; a sized one ends at its
  // size). Until a reconnect each offset is asked for once, in order (a producer may keep
  // its own position); after one it may be asked again from an earlier offset. An error other
  // than ok fails the object with that code. Each call must fill at least one byte or end
  // the object (there is no "not yet"): one that does neither, or sets `last` before a sized
  // object's size, fails the object with invalid_argument.
  using Producer = std::function<Errc(std::uint64_t offset, std::span<std::uint8_t> room,
                                      std::size_t& written, bool& last)>;

  // No data (a header-only control object).
  static ObjectSource none();
  // The data in memory: kept by reference (never copied) until the object completes.
  static ObjectSource memory(SharedBytes data);
  // `size` bytes of the file open as `fd`, from `offset`. The source duplicates the
  // descriptor (the caller may close its own at once) and closes the duplicate when the
  // last copy of the source goes. A read error, or the file ending early, fails the object.
  // An invalid descriptor gives a source whose object fails with invalid_argument.
  static ObjectSource file(int fd, std::uint64_t offset, std::uint64_t size);
  // Data from `produce`: exactly `*size` bytes, or any number up to `last` when no size.
  static ObjectSource producer(std::optional<std::uint64_t> size, Producer produce);

  struct State;
  std::shared_ptr<const State> state() const { return state_; }

 private:
  explicit ObjectSource(std::shared_ptr<const State> state) : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

// How one object ended on the sending side.
struct ObjectResult {
  std::uint64_t object = 0;  // its number on the stream (1, 2, 3... in posting order)
  Errc error = Errc::ok;     // see event::ObjectCompleted
  std::string message;
};
using ObjectDone = std::function<void(const ObjectResult&)>;

struct OutgoingObject {
  ObjectHeader header;
  ObjectSource source = ObjectSource::none();
  ObjectDone on_done;  // overrides the stream's on_done for this object
};

struct ObjectStreamCallbacks {
  ObjectDone on_done;  // for objects sent without their own
  // Exactly once: ok after fin() once every object completed; canceled after stop();
  // unknown_handler when the peer has no such endpoint; unknown_peer; shutting_down when the
  // node stopped (every object not completed completed with shutting_down first).
  std::function<void(Errc, std::string_view)> on_end;
};

// An object stream this node opened to a peer's endpoint. Thread-safe; copies share one
// stream.
class ObjectStream {
 public:
  struct State;
  ObjectStream() = default;
  explicit ObjectStream(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Posts an object; its on_done (or the stream's, taken now) runs exactly once, on the
  // loop thread, after those of every object posted before (with shutting_down on the
  // thread calling EventNode::stop() when the loop never ran the send), and is dropped once
  // it ran; the stream's callbacks are dropped once its on_end returned. Returns queue_full without
  // posting when limits.max_objects_in_flight objects are not completed yet, or the command queue
  // is full (wait for a completion, then send again); stream_closed after fin() or stop() or the
  // end (before on_end when the stream's end comes meanwhile); shutting_down when the node stopped.
  // Objects the core refuses on the loop (invalid_argument, too_large, queue_full when the
  // objects held to the peer would pass limits.max_object_held_bytes, ...) complete with
  // that error, in their turn (object number 0).
  Errc send(OutgoingObject object);
  // Ends the stream after every object completed (on_end(ok)). not_found when the stream
  // ended; stream_closed after fin() or stop() (also while another thread's stop() is
  // being handed to the loop, which that stop() may still see refused with queue_full);
  // queue_full (the command queue) leaves it open: try again; shutting_down when the node
  // is stopping or gone.
  Errc fin();
  // Aborts: objects not completed complete with canceled, then on_end(canceled). Closes the
  // stream at once (send() and fin() then return stream_closed). not_found when the stream
  // ended; queue_full (the command queue) leaves the stream as it was, open unless fin()
  // closed it: try again; shutting_down when the node is stopping or gone.
  Errc stop();
  // Objects posted and not completed.
  std::size_t in_flight() const;
  // From any thread: true once the stream has ended (and for an empty handle). It turns true
  // as the end begins, before on_end runs on the loop thread: to act after on_end, act in it.
  bool ended() const;

 private:
  std::shared_ptr<State> state_;
};

// An object arriving at an endpoint of this node.
struct IncomingObject {
  std::string peer;
  std::string endpoint;
  std::uint64_t object = 0;  // its number on its stream
  ObjectHeader header;
  bool size_known = true;
  std::uint64_t size = 0;
};

// The object being received. Thread-safe; copies share one object.
class ObjectReader {
 public:
  struct State;
  ObjectReader() = default;
  explicit ObjectReader(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // discard(), refuse() and resume() are handed to the loop: not_found when the object's
  // reading ended, queue_full when the command queue is full (nothing done: try again),
  // shutting_down when the node is stopping or gone. They act on this reader's object only:
  // one the sender aborted (or the connection lost) while the command was on its way does
  // nothing, even when the stream already reads the next object, and on_end reports the
  // abort. discard() and refuse() from inside this reader's on_data (or a callback nested in
  // it) take effect once on_data returned: the chunk it reads stays valid until then.
  //
  // Stops reading: the rest is drained, the sender's completion is ok, on_end(ok) follows.
  Errc discard();
  // Refuses the object: the sender's completion carries `code` and `message`, on_end runs
  // with them. invalid_argument for Errc::ok.
  Errc refuse(Errc code, std::string_view message);
  // In on_data: keep this chunk (it is not consumed when on_data returns) and deliver
  // nothing more until resume(): the sender's window fills and it waits. invalid_argument
  // outside on_data, and from any thread but the one running on_data (even while it runs).
  Errc defer();
  // From any thread: consumes the deferred chunk and goes on with the next. Called in
  // on_data after defer() (the sink finished the chunk at once), it undoes the defer():
  // the chunk is consumed when on_data returns, once. not_found also when nothing is
  // deferred.
  Errc resume();
  // From any thread: true once the object's reading has ended (and for an empty handle). It
  // turns true as the end begins, before the sink's on_end runs on the loop thread.
  bool ended() const;

 private:
  std::shared_ptr<State> state_;
};

// What the application does with one arriving object (loop thread). on_data gets its data
// in order, each chunk consumed when it returns (unless deferred), with `last` set on the
// final call (whose chunk may be empty): a sink that verifies the object can still refuse it
// there. on_end runs exactly once:
// ok when read to the end (or discarded), the refusal's code, or why the object ended early
// (the sender aborted or stopped it, restarted, did not come back, or this node stopped).
struct ObjectSink {
  std::function<void(ObjectReader&, Bytes, bool last)> on_data;
  std::function<void(ObjectReader&, Errc, std::string_view)> on_end;
};
using ObjectHandler = std::function<ObjectSink(const IncomingObject&, ObjectReader)>;

// A sink that gathers the object in memory and hands it to `done` at the end (not for
// aborted or refused objects). Objects larger than `max_bytes` are refused with too_large.
ObjectSink memory_sink(std::function<void(const IncomingObject&, std::vector<std::uint8_t>&&)> done,
                       const IncomingObject& object, std::uint64_t max_bytes = 64u << 20);
// A sink that writes the object to `path`. The data goes to a partial file of the object's
// own in the same directory, `.NAME.partial-K` (NAME: path's last component; K the first
// number not taken, so two objects bound for one path never share a file). At on_data's
// last call the file is made durable and put in place, before the sender can hear ok:
// fsync, rename to `path`, fsync of the directory. A reader of `path` never sees part of an
// object; of objects bound for one path, the one put in place last stays there whole. An
// object that ends otherwise (refused, aborted, discarded, the node stopping) leaves
// nothing. Any failure (create, write, fsync, rename: e.g. `path` is a directory) refuses
// the object with remote_error and the error's text, so ok means the file is in place; only
// a failed fsync of the directory refuses an object whose file is already there. Partial
// files of a process that died stay (their names are skipped): remove `.*.partial-*` when no
// node writes to the directory. Writes run on the loop thread.
ObjectSink file_sink(std::string path, ObjectReader reader);

}  // namespace weft::io
