// Object streams on EventNode: the public handles (ObjectSource, ObjectStream, ObjectReader),
// the core's object events on the loop thread, and the ready-made sinks.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {
namespace {

// Data is read from files and producers in pieces of this size, until the core's supply
// buffer is full.
constexpr std::size_t kSupplyPieceBytes = 64 * 1024;

// Tells the objects refused on the loop whose turn came with the completion of object
// `through`. Taken one at a time: a callback may send again.
void tell_refused(ObjectStream::State& state, std::uint64_t through) {
  while (!state.refused.empty() && state.refused.front().after <= through) {
    ObjectStream::State::Refused refused = std::move(state.refused.front());
    state.refused.pop_front();
    --state.in_flight;
    if (refused.on_done) refused.on_done(refused.result);
  }
}

}  // namespace

// ---- sources --------------------------------------------------------------------------------

ObjectSource ObjectSource::none() {
  return ObjectSource(std::make_shared<State>());
}

ObjectSource ObjectSource::memory(SharedBytes data) {
  auto state = std::make_shared<State>();
  state->kind = State::Kind::memory;
  state->data = std::move(data);
  return ObjectSource(std::move(state));
}

ObjectSource ObjectSource::file(int fd, std::uint64_t offset, std::uint64_t size) {
  auto state = std::make_shared<State>();
  state->kind = State::Kind::file;
  state->fd = fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (fd >= 0 && state->fd < 0) state->duplicate_error = errno;  // EMFILE, most likely
  state->offset = offset;
  state->size = size;
  return ObjectSource(std::move(state));
}

ObjectSource ObjectSource::producer(std::optional<std::uint64_t> size, Producer produce) {
  auto state = std::make_shared<State>();
  state->kind = State::Kind::producer;
  state->size = size;
  state->produce = std::move(produce);
  return ObjectSource(std::move(state));
}

// ---- EventNode ------------------------------------------------------------------------------

void EventNode::handle_objects(std::string_view endpoint, ObjectWindow window, ObjectHandler fn) {
  impl_->object_routes[std::string(endpoint)] = Impl::ObjectRoute{window, std::move(fn)};
}

ObjectStream EventNode::open_object_stream(std::string_view peer, std::string_view endpoint,
                                           ObjectStreamCallbacks callbacks,
                                           ObjectStreamOptions options) {
  auto state = std::make_shared<ObjectStream::State>();
  state->node = impl_;
  state->default_done.set(std::exchange(callbacks.on_done, nullptr));
  state->callbacks = std::move(callbacks);
  state->limit = impl_->options.config.limits.max_objects_in_flight;
  Impl::Command command;
  command.run = [impl = impl_.get(), state, peer = std::string(peer),
                 endpoint = std::string(endpoint), options] {
    const std::optional<PeerId> peer_id = impl->node->find_peer(peer);
    if (!peer_id) return Impl::end_object_stream(*state, Errc::unknown_peer, "no such peer");
    const OpenedObjectStream opened =
        impl->connection(*peer_id).open_object_stream(impl->fresh_now(), endpoint, options);
    if (opened.error != Errc::ok) {
      return Impl::end_object_stream(*state, opened.error, "object stream not opened");
    }
    state->peer = *peer_id;
    state->id = opened.id;
    impl->object_streams[{*peer_id, opened.id}] = state;
  };
  command.abandon = [impl = impl_.get(), state] {
    impl->ends_after_abandons.push_back(
        [state] { Impl::end_object_stream(*state, Errc::shutting_down, "node stopped"); });
  };
  const Errc posted = impl_->post(std::move(command));
  if (posted != Errc::ok) Impl::end_object_stream(*state, posted, "object stream not opened");
  return ObjectStream(state);
}

// ---- ObjectStream ---------------------------------------------------------------------------

Errc ObjectStream::send(OutgoingObject object) {
  if (state_ && !state_->default_done.resolve(object.on_done)) return Errc::stream_closed;
  auto kept = std::make_shared<OutgoingObject>(std::move(object));
  return post_counted(
      state_,
      [state = state_, kept](EventNode::Impl& node) { node.send_object(state, std::move(*kept)); },
      [state = state_, kept] {
        --state->in_flight;
        if (kept->on_done) kept->on_done(ObjectResult{0, Errc::shutting_down, "node stopped"});
      });
}

Errc ObjectStream::fin() {
  if (!state_) return Errc::not_found;
  // Only an open handle takes the fin's mark.
  return state_->closing.end_once(kFinMark, [&] {
    return on_handle_loop<ObjectStream::State>(
        state_, [](EventNode::Impl& node, ObjectStream::State& s) {
          node.connection(*s.peer).object_stream_fin(node.fresh_now(), *s.id);
        });
  });
}

Errc ObjectStream::stop() {
  // Closed at once, so that no send slips in behind the stop; a stop not handed to the
  // loop (queue_full) leaves the stream as it was: nothing stopped it.
  if (!state_) return Errc::not_found;
  return state_->closing.close_now(kStopMark, [&] {
    return on_handle_loop<ObjectStream::State>(
        state_, [](EventNode::Impl& node, ObjectStream::State& s) {
          node.connection(*s.peer).object_stream_stop(node.fresh_now(), *s.id);
        });
  });
}

std::size_t ObjectStream::in_flight() const {
  return state_ ? state_->in_flight.load() : 0;
}

bool ObjectStream::ended() const {
  return !state_ || state_->ended;
}

// ---- ObjectReader ---------------------------------------------------------------------------

namespace {

// Runs `body` on the loop while the reader's object is still the one its stream reads. The
// core's commands act on the stream's current object: once the sender aborted this one, the
// next can be current before the abort's event ended this reader (a command run inline from
// a callback of the same turn), and the command would hit the next object. The abort's
// event, queued, ends this reader in its turn. A body that ends the object frees the data
// on_data may still be reading (`ends_object`): from inside on_data, it runs once on_data
// returned.
Errc on_reader_loop(const std::shared_ptr<ObjectReader::State>& state,
                    std::function<void(EventNode::Impl&)> body, bool ends_object) {
  if (!state || state->ended) return Errc::not_found;
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return Errc::shutting_down;
  EventNode::Impl::Command command{
      [node = node.get(), state, body = std::move(body)] {
        if (state->ended) return;
        if (node->connection(state->peer).object_being_read(state->stream) != state->object) {
          return;
        }
        body(*node);
      },
      [] {}};
  return ends_object ? node->post_freeing_views(std::move(command), state->peer, state.get())
                     : node->post(std::move(command));
}

}  // namespace

Errc ObjectReader::discard() {
  return on_reader_loop(
      state_,
      [state = state_](EventNode::Impl& node) {
        node.connection(state->peer).object_discard(node.fresh_now(), state->stream);
        node.end_reader(state, Errc::ok, "discarded");
      },
      true);
}

Errc ObjectReader::refuse(Errc code, std::string_view message) {
  if (code == Errc::ok) return Errc::invalid_argument;
  return on_reader_loop(
      state_,
      [state = state_, code, text = std::string(message)](EventNode::Impl& node) {
        node.connection(state->peer).object_refuse(node.fresh_now(), state->stream, code, text);
        node.end_reader(state, code, text);
      },
      true);
}

Errc ObjectReader::defer() {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->on_data_thread.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
    return Errc::invalid_argument;
  }
  state_->deferred = true;
  return Errc::ok;
}

Errc ObjectReader::resume() {
  if (!state_ || !state_->deferred) return Errc::not_found;
  return on_reader_loop(
      state_,
      [state = state_](EventNode::Impl& node) {
        if (!state->deferred.exchange(false)) return;
        // Resumed from inside on_data (run inline on the loop thread): the chunk was never held,
        // and deliver_object, once on_data returns, consumes it and goes on.
        if (state->on_data_thread.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
          return;
        }
        PeerConnection connection = node.connection(state->peer);
        connection.object_consume(node.turn_now(), state->stream, state->deferred_bytes);
        if (state->deferred_end) return node.end_reader(state, Errc::ok, "");
        node.deliver_object(state);
      },
      false);
}

bool ObjectReader::ended() const {
  return !state_ || state_->ended;
}

// ---- the loop: sending ----------------------------------------------------------------------

void EventNode::Impl::send_object(const std::shared_ptr<ObjectStream::State>& state,
                                  OutgoingObject&& object) {
  const ObjectDone done = std::move(object.on_done);  // send() filled in the stream's
  const auto fail_now = [&](Errc error, std::string message) {
    ObjectResult result{0, error, std::move(message)};
    if (!state->objects.empty()) {  // told in its turn, after those posted before it
      state->refused.push_back({state->objects.rbegin()->first, done, std::move(result)});
      return;
    }
    --state->in_flight;
    if (done) done(result);
  };
  if (!state->id || state->ended) return fail_now(Errc::stream_closed, "object stream ended");
  const auto source = object.source.state();
  ObjectArgs args = object_args(std::move(object.header), *source);
  const PostedObject posted =
      connection(*state->peer).object_post(fresh_now(), *state->id, std::move(args));
  if (posted.error != Errc::ok) return fail_now(posted.error, "object not posted");
  state->objects[posted.object] = ObjectStream::State::Pending{source, done};
}

ObjectArgs EventNode::Impl::object_args(ObjectHeader&& header, const ObjectSource::State& source) {
  ObjectArgs args;
  args.header = std::move(header);
  using Kind = ObjectSource::State::Kind;
  switch (source.kind) {
    case Kind::none:
      args.kind = ObjectSize::header_only;
      break;
    case Kind::memory:
      args.kind = ObjectSize::sized;
      args.size = source.data.size();
      args.data = source.data;
      break;
    case Kind::file:
    case Kind::producer:
      args.kind = source.size ? ObjectSize::sized : ObjectSize::unsized;
      args.size = source.size.value_or(0);
      break;
  }
  return args;
}

void EventNode::Impl::supply_object(ObjectStream::State& state, std::uint64_t object,
                                    std::uint64_t offset) {
  const auto found = state.objects.find(object);
  if (found == state.objects.end()) return;
  PeerConnection peer = connection(*state.peer);
  supply_from(
      *found->second.source, offset,
      [&](std::uint64_t at, SharedBytes piece, bool last) {
        return peer.object_supply(fresh_now(), *state.id, object, at, std::move(piece), last);
      },
      [&](Errc code, const std::string& why) {
        peer.object_abort(fresh_now(), *state.id, object, code, why);
      });
}

void EventNode::Impl::supply_from(const ObjectSource::State& source_state, std::uint64_t offset,
                                  const SupplyFn& supply, const FailFn& fail) {
  const ObjectSource::State* source = &source_state;
  using Kind = ObjectSource::State::Kind;
  while (true) {
    if (std::optional<ObjectSource::State::HeldPiece> held = std::exchange(source->held, {})) {
      if (held->offset == offset) {  // else asked from elsewhere (a reconnect): read again
        const std::size_t size = held->data.size();
        const bool last = held->last;
        if (supply(offset, held->data, last) != Errc::ok) {
          source->held = std::move(held);
          return;
        }
        offset += size;
        if (last) return;
        continue;
      }
    }
    std::vector<std::uint8_t> piece(kSupplyPieceBytes);
    std::size_t written = 0;
    bool last = false;
    if (source->kind == Kind::file) {
      const std::uint64_t left = *source->size - offset;
      if (source->fd < 0) {
        return fail(Errc::invalid_argument,
                    source->duplicate_error != 0
                        ? "the file's descriptor could not be duplicated: " +
                              errno_text(source->duplicate_error)
                        : "no such file descriptor");
      }
      const ssize_t got =
          left == 0 ? 0
                    : ::pread(source->fd, piece.data(), std::min<std::uint64_t>(left, piece.size()),
                              static_cast<off_t>(source->offset + offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return fail(Errc::remote_error, "read failed: " + errno_text(errno));
      if (got == 0 && left > 0) {
        return fail(Errc::remote_error,
                    "the file ended " + std::to_string(left) + " bytes short of the object");
      }
      written = static_cast<std::size_t>(got);
      last = offset + written == *source->size;
    } else if (source->kind == Kind::producer) {
      const Errc produced = source->produce(offset, piece, written, last);
      if (produced != Errc::ok) return fail(produced, "the producer failed");
      if (written > piece.size()) return fail(Errc::invalid_argument, "producer overran its room");
      if (source->size) {
        const std::uint64_t end = offset + written;
        if (last && end < *source->size) {
          return fail(Errc::invalid_argument, "the producer ended " +
                                                  std::to_string(*source->size - end) +
                                                  " bytes short of the object");
        }
        last = end >= *source->size;
      }
      // Asked again at once, it would give nothing again: the loop would spin for ever.
      if (written == 0 && !last) {
        return fail(Errc::invalid_argument, "the producer gave no data and did not end");
      }
    } else {
      // The core takes an object's own memory or header-only source directly; this is a
      // bundle replica whose reopen gave one in place of a file or a producer.
      const Bytes data = source->data.view();
      if (offset > data.size()) return fail(Errc::invalid_argument, "offset past the data");
      written = std::min<std::size_t>(piece.size(), data.size() - offset);
      std::copy_n(data.data() + offset, written, piece.data());
      last = offset + written == data.size();
    }
    piece.resize(written);
    SharedBytes data(std::move(piece));
    const Errc result = supply(offset, data, last);
    if (result != Errc::ok) {
      // no_credit: asked again from here when there is room, and given this piece then.
      if (result == Errc::no_credit)
        source->held = ObjectSource::State::HeldPiece{offset, data, last};
      return;
    }
    offset += written;
    if (last) return;
  }
}

void EventNode::Impl::end_object_stream(ObjectStream::State& state, Errc result,
                                        std::string_view message) {
  if (state.ended.exchange(true)) return;
  // Every object completes before its stream ends, so no refusal still waits for its turn;
  // were one left, it is told now rather than never.
  tell_refused(state, UINT64_MAX);
  if (state.callbacks.on_end) state.callbacks.on_end(result, message);
  ObjectDone default_done = state.default_done.release();
  release_callbacks(state.node, state.callbacks, state.objects, default_done);
}

void EventNode::Impl::handle(event::ObjectCompleted&& e) {
  const auto found = object_streams.find({e.peer, e.stream});
  if (found == object_streams.end()) return;
  ObjectStream::State& state = *found->second;
  const auto object = state.objects.find(e.object);
  if (object == state.objects.end()) return;
  const ObjectDone done = std::move(object->second.on_done);
  state.objects.erase(object);
  --state.in_flight;
  if (done) done(ObjectResult{e.object, e.result, std::move(e.message)});
  tell_refused(state, e.object);
}

void EventNode::Impl::handle(event::ObjectWantData&& e) {
  const auto found = object_streams.find({e.peer, e.stream});
  if (found != object_streams.end()) supply_object(*found->second, e.object, e.offset);
}

void EventNode::Impl::handle(event::ObjectStreamEnded&& e) {
  const auto found = object_streams.find({e.peer, e.stream});
  if (found == object_streams.end()) return;
  const auto state = found->second;
  object_streams.erase(found);
  end_object_stream(*state, e.result, e.message);
}

// ---- the loop: receiving --------------------------------------------------------------------

void EventNode::Impl::handle(event::ObjectArrived&& e) {
  PeerConnection peer = connection(e.peer);
  const auto route = object_routes.find(e.endpoint);
  if (route == object_routes.end()) {  // cannot happen: the core serves registered ones only
    peer.object_refuse(fresh_now(), e.stream, Errc::unknown_handler, "no sink");
    return;
  }
  auto state = std::make_shared<ObjectReader::State>();
  state->node = weak_from_this();
  state->peer = e.peer;
  state->stream = e.stream;
  state->object = e.object;
  object_readers[{e.peer, e.stream}] = state;
  const IncomingObject incoming{peer_name(e.peer),   e.endpoint,   e.object,
                                std::move(e.header), e.size_known, e.size};
  state->sink = route->second.fn(incoming, ObjectReader(state));
  state->sink_ready = true;
  // Ended while its sink was being made (the handler refused it at once): on_end now.
  if (state->ended) {
    ObjectReader reader(state);
    if (state->sink.on_end) state->sink.on_end(reader, state->end_result, state->end_message);
    release_callbacks(state->node, state->sink);
    return;
  }
  deliver_object(state);
}

// The readers are taken out of the map by value: ending one erases its map entry.
void EventNode::Impl::handle(event::ObjectReadable&& e) {
  const auto found = object_readers.find({e.peer, e.stream});
  if (found == object_readers.end()) return;
  const std::shared_ptr<ObjectReader::State> state = found->second;
  deliver_object(state);
}

void EventNode::Impl::handle(event::ObjectAborted&& e) {
  const auto found = object_readers.find({e.peer, e.stream});
  if (found == object_readers.end() || found->second->object != e.object) return;
  const std::shared_ptr<ObjectReader::State> state = found->second;
  end_reader(state, e.result, e.message);
}

void EventNode::Impl::deliver_object(const std::shared_ptr<ObjectReader::State>& state) {
  PeerConnection peer = connection(state->peer);
  ObjectReader reader(state);
  while (!state->ended && !state->deferred) {
    const std::optional<ObjectRead> read = peer.object_read(state->stream);
    if (!read || read->object != state->object) return;
    const std::size_t size = read->data.size();
    if (size > 0 || read->end) {
      state->on_data_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
      lend_view(state->peer, state.get());
      if (state->sink.on_data) state->sink.on_data(reader, read->data, read->end);
      state->on_data_thread.store(std::thread::id(), std::memory_order_relaxed);
      view_returned(state.get());  // a refuse or discard from on_data runs here
      if (state->ended) return;    // refused or discarded from on_data
      if (state->deferred) {
        state->deferred_bytes = size;
        state->deferred_end = read->end;
        return;
      }
    }
    peer.object_consume(turn_now(), state->stream, size);
    if (read->end) return end_reader(state, Errc::ok, "");
  }
}

void EventNode::Impl::end_reader(const std::shared_ptr<ObjectReader::State>& reader_state,
                                 Errc result, std::string_view message) {
  // A copy: `reader_state` may be the map's own pointer, which the erase below destroys.
  const std::shared_ptr<ObjectReader::State> state = reader_state;
  if (state->ended.exchange(true)) return;
  const auto found = object_readers.find({state->peer, state->stream});
  if (found != object_readers.end() && found->second == state) object_readers.erase(found);
  if (!state->sink_ready) {  // handle(ObjectArrived) runs on_end once the sink exists
    state->end_result = result;
    state->end_message = std::string(message);
    return;
  }
  ObjectReader reader(state);
  if (state->sink.on_end) state->sink.on_end(reader, result, message);
  release_callbacks(state->node, state->sink);
}

void EventNode::Impl::end_objects() {
  const TimeNs now = fresh_now();
  const auto senders = object_streams;
  for (const auto& [key, state] : senders) {
    connection(key.first).object_stream_stop(now, key.second, Errc::shutting_down, "node stopping");
  }
  const auto open_bundles = bundles;
  for (const auto& [id, state] : open_bundles) {
    node->bundle_stop(now, BundleId{id}, Errc::shutting_down, "node stopping");
  }
  const auto readers = object_readers;
  for (const auto& [key, state] : readers)
    end_reader(state, Errc::shutting_down, "node stopping");
}

// ---- sinks ----------------------------------------------------------------------------------

ObjectSink memory_sink(std::function<void(const IncomingObject&, std::vector<std::uint8_t>&&)> done,
                       const IncomingObject& object, std::uint64_t max_bytes) {
  auto data = std::make_shared<std::vector<std::uint8_t>>();
  ObjectSink sink;
  sink.on_data = [data, max_bytes](ObjectReader& reader, Bytes chunk, bool) {
    if (data->size() + chunk.size() > max_bytes) {
      reader.refuse(Errc::too_large, "object over " + std::to_string(max_bytes) + " bytes");
      return;
    }
    data->insert(data->end(), chunk.begin(), chunk.end());
  };
  sink.on_end = [data, done = std::move(done), object](ObjectReader&, Errc result,
                                                       std::string_view) {
    if (result == Errc::ok && done) done(object, std::move(*data));
  };
  return sink;
}

namespace {

// How many partial-file names file_sink tries beside one path (taken ones are skipped).
constexpr int kPartialNameAttempts = 1000;

// An object being written by file_sink: a partial file of its own beside `path`, renamed to
// `path` when whole.
struct SinkFile {
  std::string path;
  std::string partial;  // empty when none was made, or once renamed to `path`
  int fd = -1;
  ~SinkFile() { discard(); }
  // Closes and removes the partial file, if there is one.
  void discard() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!partial.empty()) ::unlink(partial.c_str());
    partial.clear();
  }
  std::string directory() const {
    const std::size_t slash = path.rfind('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  }
  // Creates `.NAME.partial-K` in path's directory, K the first free from 1: a name of its
  // own (O_EXCL), so objects bound for one path never share a file. Empty, or the error.
  std::string create_partial() {
    const std::size_t slash = path.rfind('/');
    const std::string prefix =
        (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) + "." +
        path.substr(slash == std::string::npos ? 0 : slash + 1) + ".partial-";
    for (int attempt = 1; attempt <= kPartialNameAttempts; ++attempt) {
      const std::string name = prefix + std::to_string(attempt);
      fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd >= 0) {
        partial = name;
        return {};
      }
      if (errno != EEXIST) return "cannot create " + name + ": " + errno_text(errno);
    }
    return "cannot create a partial file for " + path + ": " +
           std::to_string(kPartialNameAttempts) + " names taken";
  }
  std::string write(Bytes chunk) {
    while (!chunk.empty()) {
      const ssize_t wrote = ::write(fd, chunk.data(), chunk.size());
      if (wrote < 0 && errno == EINTR) continue;
      if (wrote < 0) return "write " + partial + ": " + errno_text(errno);
      chunk = chunk.subspan(static_cast<std::size_t>(wrote));
    }
    return {};
  }
  // Makes the data durable and puts it at `path`: fsync, close, rename, fsync of the
  // directory (so the name survives a crash too). Empty, or the first error.
  std::string put_in_place() {
    if (::fsync(fd) != 0) return "fsync " + partial + ": " + errno_text(errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) return "close " + partial + ": " + errno_text(errno);
    if (::rename(partial.c_str(), path.c_str()) != 0) {
      return "rename " + partial + " to " + path + ": " + errno_text(errno);
    }
    partial.clear();
    const std::string dir = directory();
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return "open directory " + dir + ": " + errno_text(errno);
    const int synced = ::fsync(dir_fd);
    const int error = errno;
    ::close(dir_fd);
    if (synced != 0) return "fsync directory " + dir + ": " + errno_text(error);
    return {};
  }
};

}  // namespace

ObjectSink file_sink(std::string path, ObjectReader reader) {
  auto file = std::make_shared<SinkFile>();
  file->path = std::move(path);
  if (const std::string error = file->create_partial(); !error.empty()) {
    reader.refuse(Errc::remote_error, error);
  }
  ObjectSink sink;
  sink.on_data = [file](ObjectReader& current, Bytes chunk, bool last) {
    if (file->fd < 0) return;  // refused already
    std::string error = file->write(chunk);
    if (error.empty() && last) error = file->put_in_place();
    if (!error.empty()) {
      file->discard();
      current.refuse(Errc::remote_error, error);
    }
  };
  // Anything but a whole object leaves nothing behind (a renamed file has no partial).
  sink.on_end = [file](ObjectReader&, Errc, std::string_view) { file->discard(); };
  return sink;
}

}  // namespace weft::io
