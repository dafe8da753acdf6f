// The object workload's books: what every simulated node's object endpoint grants, the plan
// of every object stream the workload opened (what each object is and what the receiving
// application will do with it), and, per stream, how far each object got on both sides.
// Objects are named "s<stream serial>/o<number>" and their data and header are functions of
// that name, so the receiving side can check every byte without being told.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "bundle_books.hpp"
#include "weft/errors.hpp"
#include "weft/events.hpp"
#include "weft/object.hpp"
#include "weft/time.hpp"

namespace weft::sim {

// Every node serves objects at this endpoint; streams to the other name are refused.
inline constexpr std::string_view kObjectEndpoint = "obj";
inline constexpr std::string_view kNoSuchEndpoint = "nowhere";
// Small enough that a busy run fills windows and bursts, so the oracle sees them hold.
inline constexpr ObjectWindow kObjectWindow{6, 256 << 10};
inline constexpr std::uint32_t kObjectBurst = 8;  // every node's max_objects_in_flight
// The code and text a receiving application refuses objects with.
inline constexpr Errc kRefusal = Errc::remote_error;
std::string refusal_text(std::uint64_t serial, std::uint64_t number);

enum class ObjectKind : std::uint8_t {
  header_only,       // no data
  in_memory,         // sized, the whole data given when posted
  supplied_sized,    // sized, data supplied on ObjectWantData
  supplied_unsized,  // chunks, then last, supplied on ObjectWantData
};
const char* object_kind_name(ObjectKind kind);

// What the receiving application does with an object.
enum class ReadAction : std::uint8_t {
  whole,         // reads everything as it comes
  steps,         // reads 16 KiB, then waits 2 ms, and so on: its window fills
  half_discard,  // reads half, then discards the rest
  discard,       // discards at once
  refuse,        // refuses at once
  half_refuse,   // reads half, then refuses
};
const char* read_action_name(ReadAction action);

struct ObjectPlan {
  ObjectKind kind = ObjectKind::in_memory;
  std::uint64_t size = 0;  // data bytes; 0 for header-only
  ReadAction action = ReadAction::whole;
};

// Whether the workload opens stream `serial` with LZ4 (one in three, chosen by serial so the
// seeded generator's draws stay as they were). Such a stream's data alternates every
// 96 KiB between words that repeat all but their low byte (which LZ4 halves) and the
// usual mix (which it cannot shrink), so both kinds of chunk travel.
bool compressed_stream(std::uint64_t serial);

// The data of object `number` of stream `serial` from `offset`, into `out`.
void object_data(std::uint64_t serial, std::uint64_t number, std::uint64_t offset,
                 std::span<std::uint8_t> out);
// Its header: the name, and attributes that vary with the name (some absent).
ObjectHeader object_header(std::uint64_t serial, std::uint64_t number, const ObjectPlan& plan);
// What posting object `number` of stream (or bundle) `serial` as `plan` says passes to the
// core: its header, tag and kind, and its data when the plan gives it in memory.
ObjectArgs object_args(std::uint64_t serial, std::uint64_t number, const ObjectPlan& plan);
// The application supplies object `number` of `serial` (`size` bytes) from `offset`, in
// pieces, through `supply` (object_supply or bundle_supply), until the core's buffer is
// full (no_credit: it asks again when there is room) or the object is whole. An ask
// overtaken by a reconnect or by the object's completion is refused once (not_found or
// invalid_argument at its first piece) and ends it too. Returns ok, or the error a later
// piece was refused with (the core asked for data it then refused).
Errc supply_object(
    std::uint64_t serial, std::uint64_t number, std::uint64_t size, std::uint64_t offset,
    const std::function<Errc(std::uint64_t, std::vector<std::uint8_t>, bool)>& supply);
// The stream serial and object number a name carries; false for any other name.
bool parse_object_name(const std::string& name, std::uint64_t& serial, std::uint64_t& number);
inline std::uint64_t object_tag(std::uint64_t serial, std::uint64_t number) {
  return serial << 24 | number;
}

// How far one object got, as both sides saw it.
struct ObjectFate {
  bool arrived = false;  // ObjectArrived at the receiver (exactly once)
  bool taken = false;    // its application read it to the end, or discarded it
  bool refused = false;  // its application refused it
  bool aborted = false;  // ObjectAborted while its application read it
  bool skipped = false;  // a later object arrived first: it must not complete ok
  bool completed = false;
  Errc result = Errc::ok;  // its completion, once completed
};

// An object stream the workload opened, by serial; never erased (the receiving side looks
// objects up by the serial their names carry).
struct TrackedObjectStream {
  std::size_t from = 0;
  std::size_t to = 0;
  std::uint64_t serial = 0;
  std::uint64_t from_epoch = 0;
  PeerId peer = 0;  // `to` as `from`'s peer
  ObjectStreamId id;
  bool unknown_endpoint = false;
  bool bundle = false;        // a bundle's objects (bundle_books.hpp): only plans and counts
  bool manual = false;        // stepped runs: posts, fin and stop only when told
  bool ends_by_stop = false;  // the application stops it instead of a fin
  TimeNs gap_ns = 0;          // between one completion and the next post (0: post ahead)
  std::vector<ObjectPlan> plans;
  std::uint64_t posted = 0;
  std::uint64_t completed = 0;
  std::uint64_t completed_ok = 0;
  bool fin = false;
  bool stopped = false;
  bool ended = false;
  bool dropped = false;  // its sender crashed first
  bool post_scheduled = false;
  Errc result = Errc::ok;               // ObjectStreamEnded's
  std::vector<ObjectFate> fates;        // per object number - 1, as posted
  std::uint64_t delivered_through = 0;  // the highest number that arrived at the receiver
};

// An object the receiving application is reading: (node, its epoch, peer, stream id).
using ObjectReadKey = std::tuple<std::size_t, std::uint64_t, PeerId, std::uint64_t>;
struct ObjectReading {
  std::uint64_t serial = 0;
  std::uint64_t number = 0;  // its posting number (from its name)
  std::uint64_t wire = 0;    // its number on the receiving side's events
  std::size_t node = 0;      // the receiving node
  std::uint64_t read = 0;    // data bytes the application consumed
  bool discarding = false;   // discarded; done when its end arrives
  bool manual = false;       // stepped runs: reads only when told
  bool step_scheduled = false;
};

// (node, epoch, peer, stream id) of a sender's stream.
using ObjectSendKey = std::tuple<std::size_t, std::uint64_t, PeerId, std::uint64_t>;

struct ObjectBooks {
  // By serial; a deque, so a stream's record stays put while others are opened.
  std::deque<TrackedObjectStream> streams;
  std::map<ObjectSendKey, std::uint64_t> by_sender;  // live senders' streams
  std::map<ObjectReadKey, ObjectReading> readings;   // objects being read
  // [sender][receiver]: the receiver's epoch when the sender's process started: a
  // peer_restarted completion needs the receiver to have crashed since.
  std::vector<std::vector<std::uint64_t>> epoch_at_start;
  // (sender, receiver): since the sender's process started it adopted a ghost's hello in
  // the receiver's name, a replay that may carry an earlier incarnation (PROTOCOL.md §4.2):
  // the real receiver then looks restarted to it.
  std::set<std::pair<std::size_t, std::size_t>> ghost_adopted;
  BundleBooks bundles;

  TrackedObjectStream* sender(std::size_t index, std::uint64_t epoch, PeerId peer,
                              ObjectStreamId id) {
    const auto found = by_sender.find({index, epoch, peer, id.value});
    return found == by_sender.end() ? nullptr : &streams[found->second];
  }

  // Incarnation `epoch` of node `index` died: the streams it opened are dropped (those not
  // ended never will), and what it was reading is gone with it.
  void forget(std::size_t index, std::uint64_t epoch) {
    for (auto it = by_sender.begin(); it != by_sender.end();) {
      const bool dies = std::get<0>(it->first) == index && std::get<1>(it->first) == epoch;
      if (dies && !streams[it->second].ended) streams[it->second].dropped = true;
      it = dies ? by_sender.erase(it) : ++it;
    }
    for (auto it = readings.begin(); it != readings.end();) {
      const bool dies = std::get<0>(it->first) == index && std::get<1>(it->first) == epoch;
      it = dies ? readings.erase(it) : ++it;
    }
    bundles.forget(index, epoch);
  }
};

}  // namespace weft::sim
