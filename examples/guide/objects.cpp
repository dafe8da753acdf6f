// Object streams with EventNode (docs/GUIDE.md quotes the marked regions): "server" receives
// objects at its endpoint "files", checks each against the checksum its header carries and
// keeps the good ones; "client" sends two from memory, one from a file and one whose
// checksum is wrong, and reads each one's completion. Both nodes live in this process and
// talk over 127.0.0.1.
//
//   guide_objects KEY_DIR     KEY_DIR as `weft-keys KEY_DIR server client` made it
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
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

// The objects the server kept, by name (written on the loop thread, read by main).
class Store {
 public:
  void put(std::string name, std::string data) {
    std::lock_guard lock(mutex_);
    objects_[std::move(name)] = std::move(data);
  }
  std::map<std::string, std::string> objects() const {
    std::lock_guard lock(mutex_);
    return objects_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> objects_;
};

std::string checksum_of(std::string_view data) {
  DataChecksum checksum;
  checksum.update(as_bytes(data));
  return checksum.hex();
}

// [guide:serve-objects]
void serve(EventNode& server, Store& store) {
  // The window: per stream, at most 256 objects and 8 MiB held here unread.
  server.handle_objects(
      "files", ObjectWindow{256, 8u << 20},
      [&store](const io::IncomingObject& object, io::ObjectReader) {
        // A sink per object; its callbacks run on the loop thread, data in order.
        auto data = std::make_shared<std::string>();
        auto checksum = std::make_shared<DataChecksum>();
        io::ObjectSink sink;
        sink.on_data = [data, checksum, object](io::ObjectReader& reader, Bytes chunk, bool last) {
          data->append(as_chars(chunk));  // the chunk is valid only during this call
          checksum->update(chunk);
          if (last && checksum->hex() != object.header.attrs.checksum_value)
            reader.refuse(Errc::bad_payload, "checksum mismatch");  // the sender learns why
        };
        // Exactly once: ok when the whole object was read, else why it ended (refused,
        // aborted by the sender, the sender gone or restarted, this node stopping).
        sink.on_end = [data, object, &store](io::ObjectReader&, Errc result, std::string_view) {
          if (result == Errc::ok) store.put(object.header.name, std::move(*data));
        };
        return sink;
      });
}
// [/guide]

// What the client's callbacks record (loop thread); main reads it after on_end.
struct Sent {
  std::vector<std::pair<std::uint64_t, Errc>> completions;
  std::promise<Errc> ended;
};

io::OutgoingObject object_named(std::string name, std::string_view data) {
  // [guide:object-from-memory]
  io::OutgoingObject object;
  object.header.name = std::move(name);
  object.header.attrs.size = data.size();
  object.header.attrs.checksum_type = DataChecksum::kType;
  object.header.attrs.checksum_value = checksum_of(data);
  // Shared, not copied: the stream keeps a reference until the object completes (and
  // sends it again from where the receiver stopped if the connection drops meanwhile).
  object.source =
      io::ObjectSource::memory(SharedBytes(std::vector<std::uint8_t>(data.begin(), data.end())));
  // [/guide]
  return object;
}

io::OutgoingObject object_from_file(const std::string& path, std::string_view data) {
  io::OutgoingObject object = object_named("from-file.bin", data);
  // [guide:object-from-file]
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  // The source keeps a duplicate of fd and reads it with pread on the loop thread; an fd
  // of -1 makes the object complete with invalid_argument.
  object.source = io::ObjectSource::file(fd, 0, data.size());
  if (fd >= 0) ::close(fd);
  // [/guide]
  return object;
}

std::shared_ptr<Sent> send_objects(EventNode& client, const std::string& path,
                                   const std::string& file_data) {
  // [guide:open-object-stream]
  auto sent = std::make_shared<Sent>();
  io::ObjectStreamCallbacks callbacks;
  callbacks.on_done = [sent](const io::ObjectResult& result) {
    // The loop thread, once per object, in posting order: ok means the receiving
    // application finished it (not merely that its bytes left this process).
    sent->completions.emplace_back(result.object, result.error);
  };
  callbacks.on_end = [sent](Errc result, std::string_view) { sent->ended.set_value(result); };
  io::ObjectStream stream = client.open_object_stream("server", "files", std::move(callbacks));
  // [/guide]
  std::vector<io::OutgoingObject> objects;
  objects.push_back(object_named("hello.txt", "hello, objects"));
  objects.push_back(object_named("empty.txt", ""));
  objects.push_back(object_from_file(path, file_data));
  io::OutgoingObject damaged = object_named("damaged.txt", "the bytes as sent");
  damaged.header.attrs.checksum_value = checksum_of("other bytes");
  objects.push_back(std::move(damaged));
  // [guide:send-objects]
  for (io::OutgoingObject& object : objects) {
    // queue_full: limits.max_objects_in_flight are not completed yet (or the command
    // queue is full): wait for a completion and send it again.
    const Errc posted = stream.send(std::move(object));
    guide::expect(posted == Errc::ok, "object posted");
  }
  stream.fin();  // on_end(ok) once every object posted completed
  // [/guide]
  return sent;
}

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_objects", [](const std::filesystem::path& keys) {
    const std::string path = keys.parent_path() / "object.bin";  // beside the keys: scratch
    std::string file_data;
    for (int i = 0; i < 300'000; ++i)
      file_data += static_cast<char>('a' + i * 7 % 26);
    std::ofstream(path, std::ios::binary) << file_data;
    Store store;  // before the server: it outlives the sinks that write to it
    EventNode server(guide::keyed_options(keys, "server"));
    serve(server, store);
    guide::start(server, "server");
    EventNode client(guide::keyed_options(keys, "client"));
    guide::start(client, "client");
    guide::introduce(server, "server", client, "client");
    // No wait for the connection: an object stream waits for its peer on its own.
    const std::shared_ptr<Sent> sent = send_objects(client, path, file_data);
    const Errc ended = sent->ended.get_future().get();
    guide::expect(ended == Errc::ok, "the object stream ended ok");
    const std::vector<std::pair<std::uint64_t, Errc>> expected = {
        {1, Errc::ok}, {2, Errc::ok}, {3, Errc::ok}, {4, Errc::bad_payload}};
    guide::expect(sent->completions == expected, "one completion per object, in order");
    const std::map<std::string, std::string> kept = store.objects();
    guide::expect(kept.size() == 3 && kept.at("hello.txt") == "hello, objects" &&
                      kept.at("empty.txt").empty() && kept.at("from-file.bin") == file_data,
                  "the server kept the three good objects, byte for byte");
    client.stop();
    server.stop();
  });
}
