// Streams with EventNode (docs/GUIDE.md quotes the marked regions): "server" serves a stream
// that sends every message back upper-cased, with back-pressure end to end; "client" writes
// 20 000 messages as fast as the flow control lets it and reads the answers. Both nodes live
// in this process and talk over 127.0.0.1.
//
//   guide_streams KEY_DIR     KEY_DIR as `weft-keys KEY_DIR server client` made it
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "weft/io/event_node.hpp"

namespace {

using namespace weft;
using io::EventNode;

constexpr std::uint16_t kUpper = 7;
constexpr int kMessages = 20'000;

std::vector<std::uint8_t> upper_case(Bytes message) {
  std::vector<std::uint8_t> upper(message.begin(), message.end());
  for (std::uint8_t& byte : upper)
    byte = static_cast<std::uint8_t>(std::toupper(byte));
  return upper;
}

// [guide:serve-stream]
void serve(EventNode& server) {
  // The window: at most 64 messages and 1 MiB from each caller wait here unread.
  server.handle_stream(
      kUpper, "", StreamWindow{64, 1 << 20},
      [](const io::IncomingStream& stream, io::StreamSession) {
        std::printf("server: stream from %s\n", stream.peer.c_str());
        // Loop thread only, so no lock. Holds the answer that found the send queue full.
        auto held = std::make_shared<std::optional<std::vector<std::uint8_t>>>();
        io::StreamCallbacks callbacks;
        callbacks.on_message = [held](io::StreamSession& session, Bytes message) {
          std::vector<std::uint8_t> answer = upper_case(message);
          if (session.write(answer) != Errc::queue_full) return;  // borrowed: copied
          // Our queue to the caller is full: keep the message unconsumed, so its credit
          // does not go back and the caller slows down. Nothing is dropped.
          held->emplace(std::move(answer));
          session.defer();
        };
        callbacks.on_writable = [held](io::StreamSession& session) {
          if (!*held || session.write(std::move(**held)) != Errc::ok) return;
          held->reset();
          session.consume();  // the deferred message's credit goes back; delivery resumes
        };
        // The caller closed its half and every message was delivered: close ours after the
        // answers already queued.
        callbacks.on_input_end = [](io::StreamSession& session) { session.close(); };
        callbacks.on_end = [](io::StreamSession&, Errc result, std::string_view why) {
          if (result != Errc::ok) {
            std::printf("server: stream ended with %s: %.*s\n",
                        std::string(errc_name(result)).c_str(), static_cast<int>(why.size()),
                        why.data());
          }
        };
        return callbacks;
      });
}
// [/guide]

// [guide:open-stream]
// What the client's callbacks share; they run on the loop thread only. The session is not
// kept here (it could be: the session drops its callbacks once on_end returned, which
// breaks the cycle): the callbacks get it as their first argument.
struct Upload {
  int written = 0;
  int answers = 0;
  bool in_order = true;
  std::promise<Errc> ended;
};

// Writes while each message can go at once (on_writable calls again when the next one
// can) or until everything is written. On the loop thread, try_write puts a message
// straight into the connection's output, or refuses it: none waits in the session's queue.
void pump(io::StreamSession& session, Upload& upload) {
  while (upload.written < kMessages) {
    const std::string message = "message " + std::to_string(upload.written);
    const Errc written = session.try_write(as_bytes(message));
    if (written == Errc::no_credit) return;  // not taken; on_writable follows
    if (written != Errc::ok) return;         // the stream ended: on_end says why
    ++upload.written;
  }
  session.close();  // our half ends after the queued messages
}

std::shared_ptr<Upload> upload_to(EventNode& client) {
  auto upload = std::make_shared<Upload>();
  io::StreamCallbacks callbacks;
  callbacks.on_message = [upload](io::StreamSession&, Bytes answer) {
    const std::string expected = "MESSAGE " + std::to_string(upload->answers++);
    upload->in_order = upload->in_order && as_chars(answer) == expected;
  };
  callbacks.on_writable = [upload](io::StreamSession& session) { pump(session, *upload); };
  callbacks.on_end = [upload](io::StreamSession&, Errc result, std::string_view) {
    upload->ended.set_value(result);  // exactly once: ok, or why it failed
  };
  // has_input: we write messages; no initial payload; no deadline (keepalive still runs).
  io::StreamSession session = client.open_stream("server", kUpper, "", nullptr, true,
                                                 StreamWindow{}, 0, std::move(callbacks));
  // Start writing on the loop thread, where every later pump() runs too. A full command
  // queue refuses that for the moment: back off and try again. shutting_down needs nothing
  // more: the node is stopping, and its stop() ends the stream (on_end says so).
  const auto start_pump = [session, upload]() mutable { pump(session, *upload); };
  while (client.run_on_loop(start_pump) == Errc::queue_full)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return upload;
}
// [/guide]

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_streams", [](const std::filesystem::path& keys) {
    EventNode server(guide::keyed_options(keys, "server"));
    serve(server);
    guide::start(server, "server");
    EventNode client(guide::keyed_options(keys, "client"));
    guide::connect(server, client, "client");

    const std::shared_ptr<Upload> upload = upload_to(client);
    const Errc result = upload->ended.get_future().get();
    // on_end ran, so the loop thread no longer touches the counts.
    guide::expect(result == Errc::ok, "the stream ended ok, not " + std::string(errc_name(result)));
    guide::expect(upload->written == kMessages, "every message written");
    guide::expect(upload->answers == kMessages && upload->in_order,
                  "every answer arrived, upper-cased and in order");
    client.stop();
    server.stop();
  });
}
