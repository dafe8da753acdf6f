// What the object tests over loopback share (io_objects_test.cpp, io_object_files_test.cpp):
// object contents, what each side saw, and a sender and receiver on loopback sockets.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io::objects_test {

using testing::config_for;

inline std::uint8_t content(std::uint64_t object, std::uint64_t offset) {
  return static_cast<std::uint8_t>((object * 31 + offset * 7 + (offset >> 10)) & 0xff);
}

inline std::vector<std::uint8_t> data_of(std::uint64_t object, std::size_t size) {
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i)
    data[i] = content(object, i);
  return data;
}

// What the sending side saw, shared with the loop thread.
struct Completions {
  std::mutex mutex;
  std::vector<ObjectResult> results;
  std::vector<Errc> ends;
  ObjectDone on_done() {
    return [this](const ObjectResult& result) {
      std::lock_guard lock(mutex);
      results.push_back(result);
    };
  }
  std::function<void(Errc, std::string_view)> on_end() {
    return [this](Errc result, std::string_view) {
      std::lock_guard lock(mutex);
      ends.push_back(result);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return results.size();
  }
  std::vector<ObjectResult> copy() {
    std::lock_guard lock(mutex);
    return results;
  }
  // Whether on_end has run (ObjectStream::ended() turns true before it runs).
  bool end_told() {
    std::lock_guard lock(mutex);
    return !ends.empty();
  }
};

// What the receiving side got whole, by object name.
struct Store {
  std::mutex mutex;
  std::map<std::string, std::vector<std::uint8_t>> objects;
  std::vector<std::string> order;
  std::size_t count() {
    std::lock_guard lock(mutex);
    return objects.size();
  }
};

// A sender and a receiver on loopback; the receiver serves endpoint "store" with `sink`.
class ObjectPairOnSockets {
 public:
  explicit ObjectPairOnSockets(ObjectHandler handler, std::string endpoint = "store",
                               const std::function<void(NodeConfig&)>& adjust_sender = {})
      : handler_(std::move(handler)), endpoint_(std::move(endpoint)) {
    start_receiver(0);
    EventNodeOptions options;
    options.config = config_for("sender", "receiver");
    if (adjust_sender) adjust_sender(options.config);
    options.addresses = {{"receiver", "127.0.0.1", receiver_->port()}};
    sender_ = std::make_unique<EventNode>(std::move(options));
    EXPECT_EQ(sender_->start(), Errc::ok);
  }

  void start_receiver(std::uint16_t port) {
    EventNodeOptions options;
    options.config = config_for("receiver", "sender");
    options.listen_port = port;
    receiver_ = std::make_unique<EventNode>(std::move(options));
    receiver_->handle_objects(endpoint_, ObjectWindow{64, 1u << 20}, handler_);
    EXPECT_EQ(receiver_->start(), Errc::ok);
  }
  void restart_receiver() {
    const std::uint16_t port = receiver_->port();
    receiver_->stop();
    receiver_.reset();
    start_receiver(port);
  }

  EventNode& sender() { return *sender_; }
  EventNode& receiver() { return *receiver_; }

 private:
  ObjectHandler handler_;
  std::string endpoint_;
  std::unique_ptr<EventNode> receiver_;
  std::unique_ptr<EventNode> sender_;
};

// Data bytes `node` received on its object streams (what they hold or handed on).
inline std::uint64_t received_object_bytes(EventNode& node) {
  std::uint64_t bytes = 0;
  for (const ObjectStreamMetrics& stream : node.metrics().object_streams) {
    if (!stream.stats.sender) bytes += stream.stats.bytes;
  }
  return bytes;
}

inline ObjectHandler store_into(Store& store) {
  return [&store](const IncomingObject& object, ObjectReader) {
    return memory_sink(
        [&store](const IncomingObject& whole, std::vector<std::uint8_t>&& data) {
          std::lock_guard lock(store.mutex);
          store.order.push_back(whole.header.name);
          store.objects[whole.header.name] = std::move(data);
        },
        object);
  };
}

inline OutgoingObject named(std::string name, ObjectSource source) {
  OutgoingObject object;
  object.header.name = std::move(name);
  object.source = std::move(source);
  return object;
}

// The names in directory `dir` (hidden ones too), sorted.
inline std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

inline std::vector<std::uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A sender whose stream to "store" keeps what arrives whole in `store`; `done` is declared
// before the nodes, whose stop() still reports into it.
struct StoringPair {
  Completions done;
  Store store;
  ObjectPairOnSockets pair{store_into(store)};
  ObjectStream stream = pair.sender().open_object_stream(
      "receiver", "store", ObjectStreamCallbacks{done.on_done(), done.on_end()});
};

}  // namespace weft::io::objects_test
