#include "checker_objects.hpp"

#include <algorithm>

#include "payload.hpp"

namespace weft::chaos {

namespace {

std::string stream_key(std::string_view proc, std::int64_t op) {
  return std::string(proc) + "/" + std::to_string(op);
}

// Errors an object's completion may carry, each with what must explain it (below).
bool completion_allowed(std::string_view error) {
  return error == "ok" || error == "canceled" || error == "peer_restarted" ||
         error == "disconnected" || error == "object_state_lost" || error == "peer_removed";
}

}  // namespace

void ObjectRules::driver_record(const Record& r) {
  const std::string_view event = r.str("ev");
  if (event == "invoke") {
    if (r.str("kind") != "objects") return;
    Stream& stream = streams_[stream_key(r.str("proc"), r.num("op"))];
    stream.proc = r.str("proc");
    stream.op = r.num("op");
    stream.target = r.str("target");
    stream.finish = r.str("finish");
    stream.objects = r.num("objects");
    stream.invoke_ns = r.num("t_ns");
    return;
  }
  const auto found = streams_.find(stream_key(r.str("proc"), r.num("op")));
  if (found == streams_.end()) return;  // not an object stream
  Stream& stream = found->second;
  const std::int64_t t_ns = r.num("t_ns");
  if (event == "obj_post") {
    Post& post = stream.posts[r.num("seq")];
    post.source = r.str("source");
    post.bytes = r.num("bytes");
    post.offset = r.num("offset");
    post.digest = r.str("digest");
    ++post.times;
  } else if (event == "obj_done") {
    stream.events.push_back({"done", r.num("seq"), std::string(r.str("error")), "",
                             std::string(r.str("message")), t_ns});
  } else if (event == "obj_stop") {
    stream.events.push_back({"stop", 0, std::string(r.str("reason")), "", "", t_ns});
  } else if (event == "obj_stopped") {
    stream.events.push_back({"stopped", 0, "", std::string(r.str("result")), "", t_ns});
  } else if (event == "obj_refused") {
    stream.events.push_back({"refused", r.num("seq"), std::string(r.str("error")), "", "", t_ns});
  } else if (event == "obj_stray") {
    stream.events.push_back({"stray", r.num("object"), "", "", "", t_ns});
  } else if (event == "obj_fin") {
    stream.fin_result = r.str("result");
  } else if (event == "end") {
    stream.events.push_back(
        {"end", 0, std::string(r.str("error")), "", std::string(r.str("message")), t_ns});
  }
}

void ObjectRules::node_record(std::string_view node, int incarnation, const Record& r) {
  if (r.str("ev") == "peer_down")
    downs_[{std::string(node), std::string(r.str("peer"))}].push_back(r.num("t_ns"));
  if (r.str("ev") != "object_delivered") return;
  Delivery delivery{
      std::string(node), incarnation,    std::string(r.str("peer")),  std::string(r.str("stream")),
      r.num("seq"),      r.num("bytes"), std::string(r.str("digest"))};
  delivered_[{delivery.stream, delivery.seq}].push_back(deliveries_.size());
  deliveries_.push_back(std::move(delivery));
}

void ObjectRules::restart(std::string_view node, std::int64_t t_ns) {
  restarts_[std::string(node)].push_back(t_ns);
}

bool ObjectRules::restarted(const std::string& node, std::int64_t from_ns,
                            std::int64_t to_ns) const {
  const auto found = restarts_.find(node);
  if (found == restarts_.end()) return false;
  return std::any_of(found->second.begin(), found->second.end(),
                     [&](std::int64_t t) { return t >= from_ns && t <= to_ns; });
}

// The digest the object's bytes must have, recomputed from its key (the driver's own
// digest is not trusted).
std::string ObjectRules::expected_digest(const Stream& stream, std::int64_t seq, const Post& post) {
  const auto size = static_cast<std::size_t>(post.bytes);
  if (post.source == "none") return digest(std::span<const std::uint8_t>());
  if (post.source != "file") return digest(object_data(stream.proc, stream.op, seq, size));
  auto [file, added] = files_.try_emplace(stream.proc);
  if (added) file->second = object_file(stream.proc);
  const auto offset = static_cast<std::size_t>(post.offset);
  if (post.offset < 0 || offset > file->second.size() || size > file->second.size() - offset)
    return "outside the scratch file";
  return digest(std::span<const std::uint8_t>(file->second).subspan(offset, size));
}

void ObjectRules::check(const std::map<std::int64_t, FaultSpan>& faults, const Violate& violate,
                        const Count& count) {
  for (const auto& [name, stream] : streams_)
    check_stream(name, stream, faults, violate, count);
  // Every delivery is of an object a driver posted, to the node it was sent to, with its
  // bytes; once; and in order within its stream on one incarnation of the node.
  std::map<std::tuple<std::string, int, std::string>, std::int64_t> last_seq;
  for (const Delivery& d : deliveries_) {
    const std::string what = d.node + " (start " + std::to_string(d.incarnation) +
                             ") delivered object " + std::to_string(d.seq) + " of stream " +
                             d.stream;
    count("objects_delivered", 1);
    const auto found = streams_.find(d.stream);
    const Stream* stream = found == streams_.end() ? nullptr : &found->second;
    const auto post = stream ? stream->posts.find(d.seq) : decltype(stream->posts.find(0)){};
    if (!stream || post == stream->posts.end()) {
      violate("objects", what + ", which no driver posted");
      continue;
    }
    if (d.node != stream->target || d.peer != stream->proc)
      violate("objects", what + " from " + d.peer + ": it was sent by " + stream->proc + " to " +
                             stream->target);
    const std::string expected = expected_digest(*stream, d.seq, post->second);
    if (d.bytes != post->second.bytes || d.digest != expected) {
      violate("objects", what + " with " + std::to_string(d.bytes) + " bytes, digest " + d.digest +
                             "; it was posted with " + std::to_string(post->second.bytes) +
                             " bytes, digest " + expected);
    } else {
      count("object_bytes_verified", d.bytes);
    }
    // The same object again is reported once below, as a duplicate.
    std::int64_t& last = last_seq[{d.node, d.incarnation, d.stream}];
    if (d.seq < last) violate("objects", what + " after object " + std::to_string(last));
    last = std::max(last, d.seq);
  }
  for (const auto& [key, indexes] : delivered_) {
    if (indexes.size() < 2) continue;
    std::string where;
    for (const std::size_t i : indexes)
      where += (where.empty() ? "" : ", ") + deliveries_[i].node + " (start " +
               std::to_string(deliveries_[i].incarnation) + ")";
    // weft never sends an object to a second incarnation (it completes peer_restarted), and
    // the drivers never post one again: a second delivery is a duplicate wherever it is.
    violate("objects", "object " + std::to_string(key.second) + " of stream " + key.first +
                           " was delivered " + std::to_string(indexes.size()) + " times: " + where);
  }
}

void ObjectRules::check_stream(const std::string& name, const Stream& stream,
                               const std::map<std::int64_t, FaultSpan>& faults,
                               const Violate& violate, const Count& count) {
  const std::string what =
      stream.proc + " op " + std::to_string(stream.op) + " (objects to " + stream.target + ")";
  count("object_streams", 1);
  count("object_streams_" + stream.finish, 1);
  // Posts: 1, 2, ... once each, as many as planned (unless one was refused).
  const auto posted = static_cast<std::int64_t>(stream.posts.size());
  for (const auto& [seq, post] : stream.posts) {
    if (seq < 1 || seq > posted || post.times != 1)
      violate("objects", what + ": object " + std::to_string(seq) + " posted " +
                             std::to_string(post.times) + " times, or out of 1.." +
                             std::to_string(posted));
    if (expected_digest(stream, seq, post) != post.digest)
      violate("objects", what + ": object " + std::to_string(seq) +
                             " was posted with a digest its bytes do not have");
  }
  count("objects_posted", posted);
  if (!stream.fin_result.empty() && stream.fin_result != "ok")
    violate("objects", what + ": fin returned " + stream.fin_result);
  // Completions: each posted object once, in posting order, all before the stream's end.
  std::int64_t next = 1;
  std::int64_t stop_ns = -1;  // the first stop the stream took
  bool ended = false;
  bool incomplete_reported = false;  // objects left when the stream ended: said once
  for (const Event& e : stream.events) {
    if (e.what == "refused") {
      violate("objects",
              what + ": posting object " + std::to_string(e.seq) + " was refused with " + e.error);
    } else if (e.what == "stray") {
      violate("objects", what + ": object " + std::to_string(e.seq) +
                             " completed through the stream's callback, not its own");
    } else if (e.what == "stopped") {
      // stream_closed: it had ended by the time the stop reached it; not_found: it had
      // ended before the stop was made (a removal of its peer ends it at once).
      if (e.result != "ok" && e.result != "stream_closed" && !(ended && e.result == "not_found"))
        violate("objects", what + ": stop returned " + e.result);
    } else if (e.what == "stop") {
      if (ended) continue;  // it ended before: the stop found nothing to stop
      if (stop_ns < 0) stop_ns = e.t_ns;
      if (e.error == "deadline") {
        count("object_deadline_stops", 1);
        if (!fault_explains(faults, stream.proc, stream.target, stream.invoke_ns, e.t_ns))
          violate("objects", what + " had not ended " +
                                 std::to_string((e.t_ns - stream.invoke_ns) / 1'000'000) +
                                 " ms after it started while no fault touched its path");
      }
    } else if (e.what == "end") {
      ended = true;
      if (next <= posted && !incomplete_reported)
        violate("objects", what + " ended (" + e.error + ") before object " + std::to_string(next) +
                               " completed");
      const bool allowed = e.error == "ok" || (e.error == "canceled" && stop_ns >= 0) ||
                           (e.error == "peer_removed" &&
                            removal_explains(faults, stream.proc, stream.target, e.t_ns));
      incomplete_reported = next <= posted;
      if (!allowed) violate("objects", what + " ended with " + e.error + " " + e.message);
    } else if (e.what == "done") {
      const std::string object = what + ": object " + std::to_string(e.seq);
      if (e.seq != next) {
        violate("objects", object + " completed (" + e.error + ") where object " +
                               std::to_string(next) + " was due: twice, out of order or unposted");
        continue;
      }
      ++next;
      count("object_result:" + e.error, 1);
      if (ended) violate("objects", object + " completed after the stream ended");
      if (!completion_allowed(e.error)) {
        violate("objects", object + " completed with " + e.error + " " + e.message);
        continue;
      }
      const auto deliveries = delivered_.find({name, e.seq});
      const std::size_t times = deliveries == delivered_.end() ? 0 : deliveries->second.size();
      if (e.error == "ok") {
        if (times == 0)
          violate("objects",
                  object + " completed ok, but " + stream.target + " never recorded delivering it");
        const auto downs = downs_.find({stream.target, stream.proc});
        if (downs != downs_.end() &&
            std::any_of(downs->second.begin(), downs->second.end(),
                        [&](std::int64_t t) { return t >= stream.invoke_ns && t <= e.t_ns; }))
          count("objects_ok_across_reconnect", 1);
        continue;
      }
      // A failure must have its cause in the run: the driver's stop, a restart of the
      // target, or a fault on the path.
      bool explained = false;
      if (e.error == "canceled") {
        explained = stop_ns >= 0;
      } else if (e.error == "peer_restarted") {
        explained = restarted(stream.target, stream.invoke_ns - kFaultAftermathNs, e.t_ns);
      } else if (e.error == "peer_removed") {  // the driver removed the node it sent to
        explained = removal_explains(faults, stream.proc, stream.target, e.t_ns);
      } else {
        explained = fault_explains(faults, stream.proc, stream.target, stream.invoke_ns, e.t_ns);
      }
      if (explained) {
        count("object_failures_explained", 1);
      } else {
        violate("objects",
                object + " completed with " + e.error + " " + e.message +
                    (e.error == "canceled"         ? " before the stream was stopped"
                     : e.error == "peer_restarted" ? " while " + stream.target + " did not restart"
                     : e.error == "peer_removed"   ? " while no membership fault removed it"
                                                   : " while no fault touched its path"));
      }
    }
  }
  if (next <= posted && !incomplete_reported)
    violate("objects", what + ": objects " + std::to_string(next) + " to " +
                           std::to_string(posted) + " never completed");
}

}  // namespace weft::chaos
