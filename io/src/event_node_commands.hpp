// The steps EventNode's handles share to reach the loop thread: asking it for a result
// (ask_loop), handing over what a handle posts or changes (post_counted, on_handle_loop),
// and letting go of an ended handle's callbacks (release_callbacks).
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <tuple>
#include <utility>

#include "event_node_impl.hpp"

namespace weft::io {

// Runs `fn` on the loop thread and waits for its result (inline from the loop thread
// itself). The error is why it did not run: queue_full, or shutting_down when the node
// stopped before or meanwhile.
template <typename T>
std::pair<Errc, T> ask_loop(EventNode::Impl& impl, std::function<T()> fn) {
  if (impl.on_loop_thread() && !impl.stopping) return {Errc::ok, fn()};
  auto promise = std::make_shared<std::promise<std::pair<Errc, T>>>();
  std::future<std::pair<Errc, T>> future = promise->get_future();
  const Errc posted = impl.post({[promise, fn = std::move(fn)] {
                                   promise->set_value({Errc::ok, fn()});
                                 },
                                 [promise] {
                                   promise->set_value({Errc::shutting_down, T{}});
                                 }});
  if (posted != Errc::ok) return {posted, T{}};
  return future.get();
}

// Takes a handle's callbacks (and its other parts that hold the application's functions)
// once its final on_end returned, so that an application keeping the handle in state its
// callbacks capture does not keep that state alive forever. On the loop thread, one of
// them may still be running further up the stack (on_end reached from on_message or
// on_writable): the loop destroys them after the current event (drop_released). Off the
// loop thread the loop never had the handle or has ended (a failed open, work left at
// stop()), so they are destroyed here, at once.
template <typename... Parts>
void release_callbacks(const std::weak_ptr<EventNode::Impl>& node, Parts&... parts) {
  auto taken = std::make_shared<std::tuple<Parts...>>(std::exchange(parts, Parts{})...);
  const std::shared_ptr<EventNode::Impl> impl = node.lock();
  if (impl && impl->on_loop_thread()) impl->released.push_back(std::move(taken));
}

// Whether a handle's open is still on its way: on the loop thread, a handle with no id yet
// (a call with no entry yet) was opened from another thread, and its open still waits in the
// command queue, so what the handle asks for now must go behind it. `opened` (the handle's id)
// is written on the loop thread and read here only there.
template <typename Opened>
bool open_still_queued(const EventNode::Impl& node, const Opened& opened) {
  return node.on_loop_thread() && !opened;
}

// The handles that send objects (ObjectStream::State, Bundle::State) share these steps.

// Counts one more object in flight on `state` and hands `run` to the loop; `abandon` runs
// instead if the node stops first (it must undo the count). stream_closed after the handle
// closed, shutting_down when the node is gone, queue_full at the handle's limit or when
// the command queue is full: nothing is counted then.
template <typename State>
Errc post_counted(const std::shared_ptr<State>& state, std::function<void(EventNode::Impl&)> run,
                  std::function<void()> abandon) {
  if (!state || state->ended || state->closing.any()) return Errc::stream_closed;
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return Errc::shutting_down;
  if (state->in_flight.fetch_add(1) >= state->limit) {
    --state->in_flight;
    return Errc::queue_full;
  }
  const bool open_queued = open_still_queued(*node, state->id);
  const Errc posted = node->post(
      {[node = node.get(), run = std::move(run)] { run(*node); }, std::move(abandon)}, open_queued);
  if (posted != Errc::ok) --state->in_flight;
  return posted;
}

// Runs `body` on the loop once the handle is open there and not ended (loop thread).
template <typename State>
Errc on_handle_loop(const std::shared_ptr<State>& state,
                    std::function<void(EventNode::Impl&, State&)> body) {
  if (!state || state->ended) return Errc::not_found;
  const std::shared_ptr<EventNode::Impl> node = state->node.lock();
  if (!node) return Errc::shutting_down;
  const bool open_queued = open_still_queued(*node, state->id);
  return node->post({[node = node.get(), state, body = std::move(body)] {
                       if (state->id && !state->ended) body(*node, *state);
                     },
                     [] {}},
                    open_queued);
}

}  // namespace weft::io
