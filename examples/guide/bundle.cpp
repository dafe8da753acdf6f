// A bundle with EventNode (docs/GUIDE.md quotes the marked regions): "client" sends each
// object once to a bundle, which delivers it to every peer, "store-1" to "store-3"; each
// object completes once, with every destination's outcome. store-3 takes objects of at most
// 1 KiB, so the larger object fails there alone. All four nodes live in this process and
// talk over 127.0.0.1.
//
//   guide_bundle KEY_DIR     KEY_DIR as `weft-keys KEY_DIR client store-1 store-2 store-3`
//                            made it
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.hpp"
#include "weft/io/event_node.hpp"

namespace {

using namespace weft;
using io::EventNode;

const std::vector<std::string> kStores = {"store-1", "store-2", "store-3"};

// Objects each store received, "store/object" -> bytes (loop threads write, main reads).
struct Received {
  std::mutex mutex;
  std::map<std::string, std::size_t> sizes;
};

// [guide:serve-replicas]
void serve(EventNode& store, const std::string& name, std::uint64_t max_bytes, Received& received) {
  store.handle_objects(
      "replicas", ObjectWindow{},
      [&received, name, max_bytes](const io::IncomingObject& object, io::ObjectReader) {
        // Gathers the object in memory; one over max_bytes is refused with too_large.
        return io::memory_sink(
            [&received, name](const io::IncomingObject& whole, std::vector<std::uint8_t>&& data) {
              std::lock_guard lock(received.mutex);
              received.sizes[name + "/" + whole.header.name] = data.size();
            },
            object, max_bytes);
      });
}
// [/guide]

struct Outcomes {
  std::vector<io::BundleObjectResult> results;  // loop thread; main reads after on_end
  std::promise<Errc> ended;
};

std::shared_ptr<Outcomes> send_to_all(EventNode& client) {
  // [guide:open-bundle]
  auto outcomes = std::make_shared<Outcomes>();
  io::BundleOptions options;
  options.endpoint = "replicas";
  options.broadcast = true;  // every peer of the node, also those added later
  io::BundleCallbacks callbacks;
  callbacks.on_done = [outcomes](const io::BundleObjectResult& result) {
    // Once per object, after its last replica ended: one outcome per destination.
    for (const io::ReplicaOutcome& replica : result.replicas) {
      if (replica.error != Errc::ok)
        std::printf("object %llu to %s: %s\n", static_cast<unsigned long long>(result.object),
                    replica.peer.c_str(), std::string(errc_name(replica.error)).c_str());
    }
    outcomes->results.push_back(result);
  };
  callbacks.on_end = [outcomes](Errc result, std::string_view) {
    outcomes->ended.set_value(result);
  };
  io::Bundle bundle = client.open_bundle(std::move(options), std::move(callbacks));
  // [/guide]
  // [guide:send-bundle]
  for (const std::size_t size : {100u, 4000u}) {
    io::OutgoingBundleObject object;
    object.header.name = "object-" + std::to_string(size);
    // One buffer for all the replicas: each stream holds a reference, none a copy.
    object.source = io::ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(size, 'x')));
    // queue_full: max_objects_in_flight objects wait for their last replica (a slow peer).
    guide::expect(bundle.send(std::move(object)) == Errc::ok, "bundle object posted");
  }
  bundle.fin();  // on_end(ok) once both objects completed
  // [/guide]
  return outcomes;
}

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_bundle", [](const std::filesystem::path& keys) {
    Received received;  // before the nodes: it outlives their sinks
    std::vector<std::unique_ptr<EventNode>> stores;
    for (const std::string& name : kStores) {
      stores.push_back(std::make_unique<EventNode>(guide::keyed_options(keys, name)));
      serve(*stores.back(), name, name == "store-3" ? 1024 : 1 << 20, received);
      guide::start(*stores.back(), name);
    }
    EventNode client(guide::keyed_options(keys, "client"));
    guide::start(client, "client");
    for (std::size_t i = 0; i < kStores.size(); ++i)
      guide::introduce(client, "client", *stores[i], kStores[i]);

    const std::shared_ptr<Outcomes> outcomes = send_to_all(client);
    guide::expect(outcomes->ended.get_future().get() == Errc::ok, "the bundle ended ok");
    guide::expect(outcomes->results.size() == 2, "one completion per object");
    for (const io::BundleObjectResult& result : outcomes->results) {
      guide::expect(result.error == Errc::ok && result.replicas.size() == 3,
                    "each object went to the three stores");
      for (std::size_t i = 0; i < 3; ++i) {
        const bool refused = result.object == 2 && kStores[i] == "store-3";
        guide::expect(result.replicas[i].peer == kStores[i] &&
                          result.replicas[i].error == (refused ? Errc::too_large : Errc::ok),
                      "object " + std::to_string(result.object) + " at " + kStores[i]);
      }
    }
    std::lock_guard lock(received.mutex);
    const std::map<std::string, std::size_t> expected = {{"store-1/object-100", 100},
                                                         {"store-2/object-100", 100},
                                                         {"store-3/object-100", 100},
                                                         {"store-1/object-4000", 4000},
                                                         {"store-2/object-4000", 4000}};
    guide::expect(received.sizes == expected, "every store kept what it accepted");
  });
}
