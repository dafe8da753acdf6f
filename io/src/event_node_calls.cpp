// EventNode::Impl on the loop thread, the application side: the core's events dispatched
// to peer-change callbacks, request handlers and responders, and stream sessions (their
// callbacks, send queues and ends); requests started and answers sent.
#include <unistd.h>

#include <cstdio>

#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {

// ---- events from the core ----

void EventNode::Impl::dispatch(Event&& event) {
  std::visit([this](auto&& e) { handle(std::move(e)); }, std::move(event));
}

void EventNode::Impl::handle(event::Dial&& e) {
  dial(e.peer, e.transport);
}

void EventNode::Impl::handle(event::CloseTransport&& e) {
  log_connection(LogLevel::info, "closing transport: " + e.reason);
  close_socket(e.transport, e.final_bytes);
}

void EventNode::Impl::handle(event::PeerUp&& e) {
  // The peer proved who it is: its socket's receive buffer may grow for bulk from now on.
  if (const auto found = sockets.find(e.transport); found != sockets.end() && found->second.ring)
    found->second.ring->authenticated = true;
  char incarnation[17];
  std::snprintf(incarnation, sizeof incarnation, "%016llx",
                static_cast<unsigned long long>(e.incarnation));
  notify({PeerChange::Kind::up, peer_name(e.peer),
          "generation " + std::to_string(e.generation) + ", incarnation " + incarnation +
              (e.peer_restarted ? ", restarted" : ""),
          e.incarnation, e.peer_restarted});
}

void EventNode::Impl::handle(event::PeerDown&& e) {
  notify({PeerChange::Kind::down, peer_name(e.peer), e.reason});
}

void EventNode::Impl::handle(event::HandshakeFailed&& e) {
  notify({PeerChange::Kind::handshake_failed, e.peer_name,
          std::string(status_name(static_cast<std::uint16_t>(e.status))) + ": " + e.message});
}

void EventNode::Impl::notify(const PeerChange& change) {
  const std::string line = "peer " + change.peer + ": " + change.detail;
  if (change.kind == PeerChange::Kind::handshake_failed) {
    log_connection(LogLevel::warning, line);  // anyone who can connect causes one
  } else {
    log(change.kind == PeerChange::Kind::up ? LogLevel::info : LogLevel::warning, line);
  }
  if (peer_change) peer_change(change);
}

void EventNode::Impl::handle(event::RequestReceived&& e) {
  const auto found = handlers.find({e.handler, e.route});
  if (found == handlers.end()) {
    node->connection(e.peer).respond_error(fresh_now(), e.id, Errc::unknown_handler, "no handler");
    return;
  }
  std::shared_ptr<Responder::State> state = responder_state(e.peer, e.id);
  const std::pair<PeerId, InboundId> key{e.peer, e.id};
  {
    IncomingRequest request{shared_peer_name(e.peer), e.handler,     e.route,
                            std::move(e.payload),     e.deadline_ns, Responder(state)};
    const CallbackScope scope(*this, state->in_callback);
    found->second(std::move(request));
    // A payload the handler did not take (moved out) goes back to the core for a later one.
    node->recycle_payload(std::move(request.payload));
  }  // the request's own Responder copy goes here, before use_count() is read below
  // Only a request still unanswered after its handler returned can be looked up later (by a
  // cancel, or by the answer when it comes): one answered during the call, the common case,
  // never enters the map (send_answer set `ended` already).
  if (!state->ended) {
    responders.emplace(key, std::move(state));
  } else if (state.use_count() == 1) {
    // No Responder is left to see it reused. The fence orders the reuse after what the
    // thread that dropped the last other copy did with it (use_count() is a relaxed load).
    std::atomic_thread_fence(std::memory_order_acquire);
    spare_responder = std::move(state);
  }
}

const PeerName& EventNode::Impl::shared_peer_name(PeerId peer) {
  if (peer >= shared_peer_names.size()) shared_peer_names.resize(peer + 1);
  PeerName& shared = shared_peer_names[peer];
  if (shared.empty()) shared = PeerName(node->connection(peer).name());
  return shared;
}

std::shared_ptr<Responder::State> EventNode::Impl::responder_state(PeerId peer, InboundId id) {
  std::shared_ptr<Responder::State> state = std::move(spare_responder);
  if (state) {
    // No other thread holds the spare (handle(RequestReceived) took it at use_count 1,
    // after a fence): relaxed stores, not an xchg each.
    state->answered.store(false, std::memory_order_relaxed);
    state->ended.store(false, std::memory_order_relaxed);
  } else {
    state = std::make_shared<Responder::State>();
    state->node = weak_from_this();
  }
  state->peer = peer;
  state->id = id;
  return state;
}

void EventNode::Impl::handle(event::RequestCanceled&& e) {
  const auto found = responders.find({e.peer, e.id});
  if (found == responders.end()) return;
  found->second->ended = true;
  responders.erase(found);
}

void EventNode::Impl::handle(event::RequestDone&& e) {
  const auto found = pending.find({e.peer, e.id});
  if (found == pending.end()) return;
  PendingReplies::node_type entry = pending.extract(found);
  ReplyCallback done = std::move(entry.mapped());
  entry.mapped() = nullptr;  // a spare node holds no captures (a move may leave them)
  if (spare_pending_nodes.size() < kSparePendingNodes) {
    spare_pending_nodes.push_back(std::move(entry));
  }
  Reply reply{e.result, std::move(e.payload)};
  done(std::move(reply));
  node->recycle_payload(std::move(reply.payload));  // unless the callback took it
}

void EventNode::Impl::handle(event::StreamOpened&& e) {
  const auto found = stream_routes.find({e.handler, e.route});
  if (found == stream_routes.end()) {
    node->connection(e.peer).stream_cancel(fresh_now(), e.id);
    return;
  }
  auto state = std::make_shared<StreamSession::State>();
  state->node = weak_from_this();
  state->peer = e.peer;
  state->id = e.id;
  state->capacity = options.stream_send_queue_messages;
  streams[{e.peer, e.id}] = state;
  StreamSession session(state);
  state->callbacks =
      found->second.fn(IncomingStream{peer_name(e.peer), e.handler, e.route, e.has_payload,
                                      std::move(e.payload), e.has_input},
                       session);
}

void EventNode::Impl::handle(event::StreamReadable&& e) {
  const auto found = streams.find({e.peer, e.id});
  if (found != streams.end()) deliver_messages(found->second);
}

void EventNode::Impl::deliver_messages(const std::shared_ptr<StreamSession::State>& state) {
  if (!state->id || state->ended || state->deferred) return;
  PeerConnection connection = node->connection(state->peer);
  const StreamId id = *state->id;
  StreamSession session(state);
  const CallbackScope scope(*this, state->in_callback);
  const std::thread::id this_thread = std::this_thread::get_id();
  std::optional<Bytes> message = connection.stream_peek(id);
  while (message) {
    // Relaxed: only this thread writes it, and it publishes nothing; a seq_cst store is an
    // xchg, two per message (perf: nine tenths of this function's time).
    state->on_message_thread.store(this_thread, std::memory_order_relaxed);
    lend_view(state->peer, state.get());
    if (state->callbacks.on_message) state->callbacks.on_message(session, *message);
    state->on_message_thread.store(std::thread::id(), std::memory_order_relaxed);
    view_returned(state.get());   // a cancel or fail from on_message runs here
    if (state->deferred) return;  // kept by the handler: consume() resumes from here
    // nullopt too when on_message ended the stream (a cancel runs in the core at once).
    message = connection.stream_consume_next(turn_now(), id);
  }
  if (!state->input_end_told && connection.stream_input_done(id)) {
    state->input_end_told = true;
    if (state->callbacks.on_input_end) state->callbacks.on_input_end(session);
  }
}

void EventNode::Impl::handle(event::StreamWritable&& e) {
  const auto found = streams.find({e.peer, e.id});
  if (found != streams.end()) flush_stream(*found->second);
}

void EventNode::Impl::handle(event::StreamEnded&& e) {
  const auto found = streams.find({e.peer, e.id});
  if (found == streams.end()) return;
  const auto state = found->second;
  streams.erase(found);
  // A normal end means the peer's half ended and every message was delivered. When the
  // last consume (or the peer's end, with this half already closed) finished the stream
  // at once, StreamReadable could not see the input done: on_input_end runs here.
  if (e.result == Errc::ok && !state->input_end_told) {
    state->input_end_told = true;
    StreamSession session(state);
    if (state->callbacks.on_input_end) state->callbacks.on_input_end(session);
  }
  end_session(state, e.result, e.message);
}

void EventNode::Impl::end_session(const std::shared_ptr<StreamSession::State>& state, Errc result,
                                  std::string_view message) {
  if (state->ended.exchange(true)) return;
  state->clear_queue();
  state->queued = 0;
  StreamSession session(state);
  if (state->callbacks.on_end) state->callbacks.on_end(session, result, message);
  release_callbacks(state->node, state->callbacks);
}

// The peer's byte window is fixed once it accepted: look it up until it is known, not on
// every write.
void EventNode::Impl::learn_peer_window(PeerConnection connection, StreamSession::State& state) {
  if (state.peer_window_bytes.load() != UINT64_MAX) return;
  if (const auto credits = connection.stream_credits(*state.id);
      credits && credits->peer_window_bytes > 0) {
    state.peer_window_bytes = credits->peer_window_bytes;
  }
}

void EventNode::Impl::flush_stream(StreamSession::State& state) {
  if (!state.id || state.ended) return;
  PeerConnection connection = node->connection(state.peer);
  const TimeNs now = turn_now();
  while (!state.send_queue.empty()) {
    if (!connection.output_below_high_water()) return wait_for_room(state);
    const Errc result = connection.stream_write(now, *state.id, state.front_payload());
    learn_peer_window(connection, state);
    if (result == Errc::no_credit) return;
    if (result != Errc::ok) {
      // A message accepted by write() that the core refuses (too_large: larger than the
      // peer's window or max_message_bytes) ends the stream with that error on both sides: never
      // a normal end with a message missing. Not while this stream's on_message reads a
      // message the end would free (a write from inside it): once it returned.
      if (fail_waits_for_view(state)) return;
      const std::string why = "a queued message (" + std::to_string(state.front_payload().size()) +
                              " bytes) could not be sent: " + std::string(errc_name(result));
      log(LogLevel::warning, "stream failed: " + why);
      connection.stream_fail(now, *state.id, result, why);
      return;
    }
    state.pop_front();
    --state.queued;
  }
  // Only once every accepted write reached the core (none still waits in the command
  // queue): a write from on_writable must not overtake earlier ones.
  if (state.queued == 0 && state.wants_room.exchange(false) && state.callbacks.on_writable) {
    StreamSession session(state.shared_from_this());
    const CallbackScope scope(*this, state.in_callback);
    state.callbacks.on_writable(session);
  }
  // The end goes after every queued message: on_writable above may have written more (and
  // closed) on this thread, and those writes may wait for credit. Credit calls this again.
  if (!state.send_queue.empty()) return;
  if (state.fail_requested) {
    if (fail_waits_for_view(state)) return;
    connection.stream_fail(now, *state.id, state.fail_requested->first,
                           state.fail_requested->second);
    state.fail_requested.reset();
  } else if (state.close_requested) {
    connection.stream_close(now, *state.id);
    state.close_requested = false;
  }
}

bool EventNode::Impl::fail_waits_for_view(StreamSession::State& state) {
  if (!view_lent(state.peer, &state)) return false;
  if (state.flush_after_view) return true;  // one flush waits already, for every write
  state.flush_after_view = true;
  post_freeing_views({[this, kept = state.shared_from_this()] {
                        kept->flush_after_view = false;
                        flush_stream(*kept);
                      },
                      [] {}},
                     state.peer, &state);
  return true;
}

void EventNode::Impl::wait_for_commands(StreamSession::State& state) {
  // A writer retrying in a loop while the queue stays full adds no more notes (bounded).
  if (state.waits_for_commands.exchange(true)) return;
  {
    std::lock_guard lock(mutex);
    command_waiters.push_back(state.weak_from_this());
  }
  // The loop takes the note in the turn this wakes at the latest: the note went in first.
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd, &one, sizeof one);
}

void EventNode::Impl::flush_command_waiters() {
  std::vector<std::weak_ptr<StreamSession::State>> waiting;
  {
    std::lock_guard lock(mutex);
    if (command_waiters.empty()) return;
    waiting.swap(command_waiters);
  }
  for (const std::weak_ptr<StreamSession::State>& weak : waiting) {
    // Open (its open ran before: it was queued before the refused write) unless it ended.
    const std::shared_ptr<StreamSession::State> state = weak.lock();
    if (!state) continue;
    state->waits_for_commands.store(false);
    flush_stream(*state);
  }
}

void EventNode::Impl::wait_for_room(StreamSession::State& state) {
  if (state.waits_for_room) return;
  state.waits_for_room = true;
  room_waiters.push_back(state.weak_from_this());
}

bool EventNode::Impl::flush_room_waiters() {
  if (room_waiters.empty()) return false;
  bool flushed = false;
  std::vector<std::weak_ptr<StreamSession::State>>& waiting = room_waiters_flushing;
  waiting.swap(room_waiters);  // room_waiters is now the empty list of the last flush
  for (const std::weak_ptr<StreamSession::State>& weak : waiting) {
    const std::shared_ptr<StreamSession::State> state = weak.lock();
    if (!state) continue;
    state->waits_for_room = false;
    if (state->ended) continue;
    if (!node->connection(state->peer).output_below_high_water()) {
      wait_for_room(*state);
      continue;
    }
    flushed = true;
    flush_stream(*state);
  }
  waiting.clear();  // the next flush swaps it in as room_waiters, with its memory
  return flushed;
}

std::optional<std::pair<PeerId, RequestId>> EventNode::Impl::start_request(
    std::string_view peer, std::uint16_t handler, std::string_view route, const Payload& payload,
    std::int64_t timeout_ms, ReplyCallback done) {
  const std::optional<PeerId> peer_id = node->find_peer(peer);
  if (!peer_id) {
    done(Reply{Errc::unknown_peer, {}});
    return std::nullopt;
  }
  // The deadline counts from the turn's clock (read when the turn's input arrived): a
  // fresh read per request was a tenth of a busy client's time, and the turn is microseconds.
  const Call call =
      connection(*peer_id).request(turn_now(), RequestArgs{handler, route, payload, timeout_ms});
  if (call.error != Errc::ok) {
    done(Reply{call.error, {}});
    return std::nullopt;
  }
  const std::pair<PeerId, RequestId> key{*peer_id, call.id};
  if (spare_pending_nodes.empty()) {
    pending.emplace(key, std::move(done));
  } else {
    PendingReplies::node_type entry = std::move(spare_pending_nodes.back());
    spare_pending_nodes.pop_back();
    entry.key() = key;
    entry.mapped() = std::move(done);
    pending.insert(std::move(entry));
  }
  return key;
}

void EventNode::Impl::send_answer(Responder::State& state, Errc code, const Payload& bytes) {
  // Only the loop thread writes `ended` (here, on a cancel, and when a spare is reused), so
  // a load and a store end it once; other threads only read it.
  if (state.ended.load(std::memory_order_relaxed)) return;
  state.ended.store(true, std::memory_order_release);
  responders.erase({state.peer, state.id});
  PeerConnection peer = connection(state.peer);
  if (code == Errc::ok) {
    peer.respond(turn_now(), state.id, bytes);
  } else {
    peer.respond_error(turn_now(), state.id, code, as_chars(bytes.view()));
  }
}

StreamArgs EventNode::Impl::stream_args(std::uint16_t handler, const std::string& route,
                                        const std::optional<std::vector<std::uint8_t>>& payload,
                                        bool has_input, StreamWindow window,
                                        std::int64_t timeout_ms) const {
  StreamArgs args;
  args.handler = handler;
  args.route = route;
  args.has_payload = payload.has_value();
  if (payload) args.payload = *payload;
  args.has_input = has_input;
  args.window = window;
  args.timeout_ms = timeout_ms;
  return args;
}

std::vector<PeerStatus> EventNode::Impl::snapshot() const {
  std::vector<PeerStatus> result;
  for (PeerId peer = 0; peer < node->peer_count(); ++peer) {
    result.push_back({peer_name(peer), node->connection(peer).stats()});
  }
  return result;
}
}  // namespace weft::io
