// The handles EventNode gives the application: CallHandle (cancel), Responder (the one
// answer to a request) and StreamSession (writes, ends and flow control of a stream), each
// callable from any thread. EventNode's own methods are in event_node.cpp.
#include <cstdio>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {

Errc CallHandle::cancel() {
  if (!state_ || state_->ended) return Errc::not_found;
  const std::shared_ptr<EventNode::Impl> node = state_->node.lock();
  if (!node) return Errc::shutting_down;
  const bool request_queued = open_still_queued(*node, state_->call);
  return node->post(
      {[node = node.get(), state = state_] {
         if (!state->call) return;
         node->connection(state->call->first).cancel(node->fresh_now(), state->call->second);
       },
       [] {}},
      request_queued);
}

// ---- Responder ------------------------------------------------------------------------------

namespace {

// Answers `state`'s request once: in place from a callback on the loop thread (no copy of
// `bytes`), else handed to the loop. False if it was already answered or ended.
bool answer(const std::shared_ptr<Responder::State>& state, Errc code, const Payload& bytes) {
  if (!state || state->ended || state->answered.exchange(true)) return false;
  // From the request's handler the node is found without a lock (the handler keeps it
  // alive); else locked here, and kept while the answer is handed over.
  std::shared_ptr<EventNode::Impl> held;
  EventNode::Impl* node = node_for_call(state->in_callback, state->node, held);
  if (!node) return false;
  if (node->on_loop_thread() && !node->stopping) {
    node->send_answer(*state, code, bytes);
    return true;
  }
  const Errc posted = node->post({[node, state, code, kept = bytes.keep_from(0).first] {
                                    node->send_answer(*state, code, kept);
                                  },
                                  [] {}});
  // Not handed over (queue_full, shutting_down): nothing was answered, so a later try may.
  if (posted != Errc::ok) state->answered = false;
  return posted == Errc::ok;
}

}  // namespace

bool Responder::respond(Payload payload) {
  return answer(state_, Errc::ok, payload);
}

bool Responder::fail(Errc code, std::string_view message) {
  if (code == Errc::ok) return false;  // an error needs an error code
  return answer(state_, code, as_bytes(message));
}

bool Responder::canceled() const {
  return state_ && state_->ended && !state_->answered;
}

// ---- StreamSession --------------------------------------------------------------------------

namespace {

// Takes one place in the session's send queue; false when it is full. A refused writer is
// promised on_writable: it raises wants_room *before* its last look at the queue, and the
// loop checks wants_room only after the queue drained to empty, so one of the two always
// sees the other (a flag set after the loop's check would be a lost wake-up).
bool reserve_slot(StreamSession::State& state) {
  std::size_t queued = state.queued.load();
  while (true) {
    if (queued >= state.capacity) {
      state.wants_room.store(true);
      queued = state.queued.load();
      if (queued >= state.capacity) return false;
      continue;  // room appeared meanwhile: at worst one on_writable more than needed
    }
    if (state.queued.compare_exchange_weak(queued, queued + 1)) return true;
  }
}

// Hands `change` to the loop for `state`'s stream.
// `behind_queue`: after the commands queued now even on the loop thread (which otherwise
// runs `change` at once).
// What a change to a stream may do to the views on_message reads.
enum class ViewEffect { keeps, may_free };

Errc post_to_stream(const std::shared_ptr<StreamSession::State>& state,
                    std::function<void(EventNode::Impl&, StreamSession::State&)> change,
                    bool behind_queue = false, ViewEffect effect = ViewEffect::keeps) {
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return Errc::shutting_down;
  EventNode::Impl::Command command{[node = node.get(), state, change = std::move(change)] {
                                     if (!state->ended) change(*node, *state);
                                   },
                                   [] {}};
  // Only the loop thread lends views, and only it may read `peer` (the open writes it there).
  if (effect == ViewEffect::may_free && !behind_queue && node->on_loop_thread()) {
    return node->post_freeing_views(std::move(command), state->peer, state.get());
  }
  return node->post(std::move(command), behind_queue);
}

// Whether writes from other threads still wait in the command queue while the caller is on
// the loop thread: an end asked for now must go behind them, not overtake them.
bool writes_on_their_way(const StreamSession::State& state) {
  const std::shared_ptr<EventNode::Impl> node = state.node.lock();
  return node && node->on_loop_thread() && state.queued.load() > state.send_queue.size();
}

// Whether a change asked for now must go behind the stream's open (open_still_queued).
bool open_on_its_way(const StreamSession::State& state) {
  const std::shared_ptr<EventNode::Impl> node = state.node.lock();
  return node && open_still_queued(*node, state.id);
}

}  // namespace

// Messages up to this size are copied into the session's queue as they are; larger ones
// become shared bytes, so the core sends their parts without another copy.
constexpr std::size_t kCopySmallerMessagesBytes = 16 * 1024;

namespace {

// Queues `message` in `state`'s send queue (loop thread): small borrowed bytes copied into
// the session's blocks, large ones made shared once, shared bytes kept as they are.
void enqueue(StreamSession::State& state, const Payload& message) {
  StreamSession::State::QueuedMessage queued;
  if (message.size() > kCopySmallerMessagesBytes) {
    queued.shared = message.keep_from(0).first;
  } else {
    state.unsent.push_copy(message.view());
    queued.in_unsent = true;
  }
  state.send_queue.push_back(std::move(queued));
}

// Offers `message` straight to the core (loop thread), so that the core copies a borrowed
// message once into its output and nothing is copied or allocated here: only with nothing
// queued before it (nor on its way from another thread: nothing may be overtaken), the
// stream open and the connection's output below its high-water mark. The core's answer,
// or nullopt when not offered; an output at its mark makes the session wait for room.
std::optional<Errc> write_straight(EventNode::Impl& node, StreamSession::State& state,
                                   const Payload& message) {
  if (state.queued.load() != 0 || !state.id) return std::nullopt;
  PeerConnection connection = node.connection(state.peer);
  if (!connection.output_below_high_water()) {
    node.wait_for_room(state);
    return std::nullopt;
  }
  const Errc written = connection.stream_write(node.turn_now(), *state.id, message);
  EventNode::Impl::learn_peer_window(connection, state);
  return written;
}

// A write from a callback on the loop thread needs no command: straight into the core when
// it may go (write_straight), else into the session's queue. nullopt off the loop thread.
std::optional<Errc> write_on_loop(StreamSession::State& state, const Payload& message) {
  std::shared_ptr<EventNode::Impl> held;
  EventNode::Impl* node = node_for_call(state.in_callback, state.node, held);
  if (!node || !node->on_loop_thread() || node->stopping) return std::nullopt;
  const std::optional<Errc> direct = write_straight(*node, state, message);
  if (direct == Errc::ok) return Errc::ok;
  if (!reserve_slot(state)) return Errc::queue_full;
  enqueue(state, message);
  // Without credit, the core's StreamWritable flushes it; anything else (not open yet, no
  // room, or refused: flush_stream ends the stream as for any queued write it cannot send)
  // now.
  if (direct != Errc::no_credit) node->flush_stream(state);
  return Errc::ok;
}

}  // namespace

Errc StreamSession::write(Payload message) {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->closing.any()) return Errc::stream_closed;
  // Larger than the peer's whole byte window (known once the stream was accepted): it could
  // never be sent, so refuse it now rather than end the stream over it later.
  if (message.size() > state_->peer_window_bytes.load()) return Errc::too_large;
  if (const std::optional<Errc> written = write_on_loop(*state_, message)) return *written;
  if (!reserve_slot(*state_)) return Errc::queue_full;
  // From another thread: a borrowed view must not outlive this call, so the loop gets a copy
  // (shared when large, see QueuedMessage); large shared bytes are kept as they are.
  StreamSession::State::QueuedMessage queued;
  std::vector<std::uint8_t> copy;
  if (message.size() > kCopySmallerMessagesBytes) {
    queued.shared = message.keep_from(0).first;
  } else {
    copy.assign(message.view().begin(), message.view().end());
    queued.in_unsent = true;
  }
  const Errc posted =
      post_to_stream(state_, [queued = std::move(queued), copy = std::move(copy)](
                                 EventNode::Impl& node, StreamSession::State& state) mutable {
        if (queued.in_unsent) state.unsent.push_owned(std::move(copy));
        state.send_queue.push_back(std::move(queued));
        node.flush_stream(state);
      });
  if (posted == Errc::ok) return Errc::ok;
  --state_->queued;
  // The command queue is full: on_writable follows here too, once the loop took the
  // commands waiting now (the writer's want is raised before the loop is asked to look).
  if (posted == Errc::queue_full) {
    state_->wants_room.store(true);
    if (const std::shared_ptr<EventNode::Impl> node = state_->node.lock()) {
      node->wait_for_commands(*state_);
    }
  }
  return posted;
}

Errc StreamSession::try_write(Payload message) {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->closing.any()) return Errc::stream_closed;
  if (message.size() > state_->peer_window_bytes.load()) return Errc::too_large;
  State& state = *state_;
  std::shared_ptr<EventNode::Impl> held;
  EventNode::Impl* node = node_for_call(state.in_callback, state.node, held);
  // On the loop thread first: `stopping` is the loop's own, unsynchronized.
  if (node && !node->on_loop_thread()) return Errc::invalid_argument;
  if (!node || node->stopping) return Errc::shutting_down;
  // Loop thread from here. Whatever stops the message now, one of three wakes the writer:
  // the stream's opening (flush_stream once it exists), the core's StreamWritable (credit,
  // or the end of a queue that waits for it), or the output's fall below the mark.
  const std::optional<Errc> written = write_straight(*node, state, message);
  // ok, or an error the message itself meets (too_large) or the stream's end.
  if (written && *written != Errc::no_credit) return *written;
  state.wants_room.store(true);
  return Errc::no_credit;
}

Errc StreamSession::close() {
  if (!state_ || state_->ended) return Errc::not_found;
  // Refused when an end was called or a cancel waits; not handed to the loop (queue_full),
  // nothing was closed, so the caller may try again.
  return state_->closing.end_once(State::kEndCalled, [&] {
    return post_to_stream(
        state_,
        [](EventNode::Impl& node, StreamSession::State& state) {
          state.close_requested = true;
          node.flush_stream(state);
        },
        writes_on_their_way(*state_));
  });
}

Errc StreamSession::fail(Errc code, std::string_view message) {
  if (!state_ || state_->ended) return Errc::not_found;
  if (code == Errc::ok) return Errc::invalid_argument;  // the core would refuse it later
  return state_->closing.end_once(State::kEndCalled, [&] {
    return post_to_stream(
        state_,
        [code, text = std::string(message)](EventNode::Impl& node, StreamSession::State& state) {
          state.fail_requested = std::make_pair(code, text);
          node.flush_stream(state);
        },
        writes_on_their_way(*state_), ViewEffect::may_free);
  });
}

Errc StreamSession::defer() {
  if (!state_ || state_->ended) return Errc::not_found;
  if (state_->on_message_thread.load(std::memory_order_relaxed) != std::this_thread::get_id()) {
    return Errc::invalid_argument;
  }
  state_->deferred = true;
  return Errc::ok;
}

Errc StreamSession::consume() {
  if (!state_ || state_->ended) return Errc::not_found;
  if (!state_->deferred) return Errc::not_found;
  return post_to_stream(state_, [](EventNode::Impl& node, StreamSession::State& state) {
    if (!state.deferred.exchange(false) || !state.id) return;
    // From inside on_message (run inline on the loop thread): the message was never held,
    // and deliver_messages, once on_message returns, consumes it and goes on. Consuming
    // here would free the message on_message still reads and deliver the next inside it.
    if (state.on_message_thread.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
      return;
    }
    node.connection(state.peer).stream_consume(node.turn_now(), *state.id);
    node.deliver_messages(state.shared_from_this());
  });
}

Errc StreamSession::cancel() {
  if (!state_ || state_->ended) return Errc::not_found;
  // Ends the stream at once in the core, which frees its unread messages: from inside
  // on_message, once it returned.
  const Errc posted = post_to_stream(
      state_,
      [](EventNode::Impl& node, StreamSession::State& state) {
        if (state.id) node.connection(state.peer).stream_cancel(node.fresh_now(), *state.id);
      },
      open_on_its_way(*state_), ViewEffect::may_free);
  // Waiting for on_message to return: nothing more goes on the stream meanwhile, as after
  // the cancel itself.
  if (const std::shared_ptr<EventNode::Impl> node = state_->node.lock();
      posted == Errc::ok && node && node->on_loop_thread() && !state_->ended &&
      node->view_lent(state_->peer, state_.get())) {
    state_->closing.set(State::kCancelWaits);
  }
  return posted;
}

bool StreamSession::ended() const {
  return !state_ || state_->ended;
}

}  // namespace weft::io
