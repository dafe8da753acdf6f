// Bundles on EventNode: the Bundle handle, posting on the loop, data for each replica (the
// shared source, or one `reopen` gives it), and the core's bundle events.
#include "event_node_commands.hpp"
#include "event_node_impl.hpp"

namespace weft::io {

// ---- EventNode ------------------------------------------------------------------------------

Bundle EventNode::open_bundle(BundleOptions options, BundleCallbacks callbacks) {
  auto state = std::make_shared<Bundle::State>();
  state->node = impl_;
  state->default_done.set(std::exchange(callbacks.on_done, nullptr));
  state->callbacks = std::move(callbacks);
  state->limit = impl_->options.config.limits.max_objects_in_flight;
  Impl::Command command;
  command.run = [impl = impl_.get(), state, options = std::move(options)] {
    BundleConfig config{.endpoint = options.endpoint,
                        .broadcast = options.broadcast,
                        .multiplier = options.multiplier,
                        .order = options.order};
    for (const std::string& name : options.destinations) {
      const std::optional<PeerId> peer = impl->node->find_peer(name);
      if (!peer) return Impl::end_bundle(*state, Errc::unknown_peer, "no peer " + name);
      config.destinations.push_back(*peer);
    }
    const OpenedBundle opened = impl->node->open_bundle(impl->fresh_now(), config);
    if (opened.error != Errc::ok)
      return Impl::end_bundle(*state, opened.error, "bundle not opened");
    state->id = opened.id;
    impl->bundles[opened.id.value] = state;
  };
  command.abandon = [impl = impl_.get(), state] {
    impl->ends_after_abandons.push_back(
        [state] { Impl::end_bundle(*state, Errc::shutting_down, "node stopped"); });
  };
  const Errc posted = impl_->post(std::move(command));
  if (posted != Errc::ok) Impl::end_bundle(*state, posted, "bundle not opened");
  return Bundle(state);
}

// ---- Bundle ---------------------------------------------------------------------------------

namespace {

Errc on_bundle_loop(const std::shared_ptr<Bundle::State>& state,
                    std::function<void(EventNode::Impl&, Bundle::State&)> body) {
  return on_handle_loop<Bundle::State>(state, std::move(body));
}

}  // namespace

Errc Bundle::send(OutgoingBundleObject object) {
  // A producer keeps its own position and is asked for each offset once, in order; the
  // replicas would ask it in turn, each from its own offset, and get each other's data.
  const std::shared_ptr<const ObjectSource::State> source = object.source.state();
  if (source && source->kind == ObjectSource::State::Kind::producer && !object.reopen) {
    return Errc::invalid_argument;
  }
  if (state_ && !state_->default_done.resolve(object.on_done)) return Errc::stream_closed;
  auto kept = std::make_shared<OutgoingBundleObject>(std::move(object));
  return post_counted(
      state_,
      [state = state_, kept](EventNode::Impl& node) {
        node.send_bundle_object(state, std::move(*kept));
      },
      [state = state_, kept] {
        --state->in_flight;
        if (kept->on_done)
          kept->on_done(BundleObjectResult{0, Errc::shutting_down, "node stopped", {}});
      });
}

Errc Bundle::add_destination(std::string_view peer) {
  return on_bundle_loop(state_,
                        [name = std::string(peer)](EventNode::Impl& node, Bundle::State& s) {
                          if (const std::optional<PeerId> id = node.node->find_peer(name)) {
                            node.node->bundle_add_destination(node.fresh_now(), *s.id, *id);
                          }
                        });
}

Errc Bundle::remove_destination(std::string_view peer) {
  return on_bundle_loop(state_,
                        [name = std::string(peer)](EventNode::Impl& node, Bundle::State& s) {
                          if (const std::optional<PeerId> id = node.node->find_peer(name)) {
                            node.node->bundle_remove_destination(node.fresh_now(), *s.id, *id);
                          }
                        });
}

Errc Bundle::fin() {
  if (!state_) return Errc::not_found;
  // Only an open handle takes the fin's mark.
  return state_->closing.end_once(kFinMark, [&] {
    return on_bundle_loop(state_, [](EventNode::Impl& node, Bundle::State& s) {
      node.node->bundle_fin(node.fresh_now(), *s.id);
    });
  });
}

Errc Bundle::stop() {
  // As ObjectStream::stop: closed at once, unless the stop is not handed to the loop.
  if (!state_) return Errc::not_found;
  return state_->closing.close_now(kStopMark, [&] {
    return on_bundle_loop(state_, [](EventNode::Impl& node, Bundle::State& s) {
      node.node->bundle_stop(node.fresh_now(), *s.id);
    });
  });
}

std::size_t Bundle::in_flight() const {
  return state_ ? state_->in_flight.load() : 0;
}

bool Bundle::ended() const {
  return !state_ || state_->ended;
}

// ---- the loop -------------------------------------------------------------------------------

void EventNode::Impl::send_bundle_object(const std::shared_ptr<Bundle::State>& state,
                                         OutgoingBundleObject&& object) {
  const BundleObjectDone done = std::move(object.on_done);  // send() filled in the bundle's
  const auto fail_now = [&](Errc error, std::string message) {
    --state->in_flight;
    if (done) done(BundleObjectResult{0, error, std::move(message), {}});
  };
  if (!state->id || state->ended) return fail_now(Errc::stream_closed, "bundle ended");
  const auto source = object.source.state();
  ObjectArgs args = object_args(std::move(object.header), *source);
  const PostedBundleObject posted =
      node->bundle_post(fresh_now(), *state->id, std::move(args), object.key);
  if (posted.error != Errc::ok) return fail_now(posted.error, "object not posted");
  state->objects[posted.object] =
      Bundle::State::Pending{source, std::move(object.reopen), {}, done};
}

void EventNode::Impl::handle(event::BundleWantData&& e) {
  const auto found = bundles.find(e.bundle.value);
  if (found == bundles.end()) return;
  Bundle::State& state = *found->second;
  const auto object = state.objects.find(e.object);
  if (object == state.objects.end()) return;
  Bundle::State::Pending& waiting = object->second;
  const TimeNs now = fresh_now();
  const auto fail = [&](Errc code, const std::string& why) {
    node->bundle_abort(now, e.bundle, e.object, e.peer, code, why);
  };
  std::shared_ptr<const ObjectSource::State> source = waiting.source;
  if (waiting.reopen) {
    auto [kept, fresh] = waiting.replica_sources.try_emplace(e.peer);
    if (fresh) {
      std::string why = "the data could not be opened again";
      if (std::optional<ObjectSource> own = waiting.reopen(peer_name(e.peer), why)) {
        kept->second = own->state();
      } else {
        return fail(Errc::remote_error, why);
      }
    }
    if (!kept->second) return;  // its reopen failed; the replica was aborted then
    source = kept->second;
  }
  bool supplied_last = false;
  supply_from(
      *source, e.offset,
      [&](std::uint64_t at, SharedBytes piece, bool last) {
        const Errc supplied =
            node->bundle_supply(now, e.bundle, e.object, e.peer, at, std::move(piece), last);
        supplied_last = supplied == Errc::ok && last;
        return supplied;
      },
      fail);
  // The replica's own source (its descriptor) is let go once its data is all with the core:
  // a destination that is slow to finish holds none open. A resume that asks again (from
  // an earlier offset, after a reconnect) opens it anew.
  if (supplied_last && waiting.reopen) {
    const auto kept = waiting.replica_sources.find(e.peer);
    if (kept != waiting.replica_sources.end() && kept->second) waiting.replica_sources.erase(kept);
  }
}

void EventNode::Impl::handle(event::BundleObjectCompleted&& e) {
  const auto found = bundles.find(e.bundle.value);
  if (found == bundles.end()) return;
  Bundle::State& state = *found->second;
  const auto object = state.objects.find(e.object);
  if (object == state.objects.end()) return;
  const BundleObjectDone done = std::move(object->second.on_done);
  state.objects.erase(object);
  --state.in_flight;
  BundleObjectResult result{e.object, Errc::ok, {}, {}};
  result.replicas.reserve(e.replicas.size());
  for (ReplicaResult& replica : e.replicas) {
    result.replicas.push_back(
        ReplicaOutcome{peer_name(replica.peer), replica.result, std::move(replica.message)});
  }
  if (done) done(result);
}

void EventNode::Impl::handle(event::BundleEnded&& e) {
  const auto found = bundles.find(e.bundle.value);
  if (found == bundles.end()) return;
  const auto state = found->second;
  bundles.erase(found);
  end_bundle(*state, e.result, e.message);
}

void EventNode::Impl::end_bundle(Bundle::State& state, Errc result, std::string_view message) {
  if (state.ended.exchange(true)) return;
  if (state.callbacks.on_end) state.callbacks.on_end(result, message);
  BundleObjectDone default_done = state.default_done.release();
  release_callbacks(state.node, state.callbacks, state.objects, default_done);
}

}  // namespace weft::io
