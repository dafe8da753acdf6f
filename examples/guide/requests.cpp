// Requests with EventNode (docs/GUIDE.md quotes the marked regions): "server" serves an echo,
// a slow handler that works off the loop thread and stops when its caller gives up, and a
// handler that fails; "client" calls them with futures, callbacks, a deadline and a cancel.
// Both nodes live in this process and talk over 127.0.0.1.
//
//   guide_requests KEY_DIR     KEY_DIR as `weft-keys KEY_DIR server client` made it
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"
#include "weft/io/event_node.hpp"

namespace {

using namespace weft;
using io::EventNode;
using namespace std::chrono_literals;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kSlow = 2;  // works for the milliseconds its payload names
constexpr std::uint16_t kFail = 3;

// One thread running tasks in order: the stand-in for the application's thread pool.
class Worker {
 public:
  void post(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  void run(std::stop_token stop) {
    while (true) {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [this] { return !tasks_.empty(); })) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<std::function<void()>> tasks_;
  std::jthread thread_{[this](std::stop_token stop) { run(stop); }};  // last: joined first
};

// What the server saw, for the checks.
struct ServerCounts {
  std::atomic<int> slow_finished = 0;
  std::atomic<int> slow_gave_up = 0;
};

// [guide:serve]
void serve(EventNode& server, Worker& worker, ServerCounts& counts) {
  // Handlers run on the loop thread: answer at once, or hand the request elsewhere.
  server.handle(kEcho, "", [](io::IncomingRequest&& request) {
    request.responder.respond(std::move(request.payload));  // moved in: not copied again
  });
  // Long work leaves the loop thread; the Responder answers from any thread, once.
  server.handle(kSlow, "", [&worker, &counts](io::IncomingRequest&& request) {
    worker.post([request = std::move(request), &counts]() mutable {
      const int work_ms = std::stoi(std::string(as_chars(request.payload)));
      for (int done_ms = 0; done_ms < work_ms; ++done_ms) {
        // The caller canceled, its deadline passed, or the connection went: stop, since
        // an answer now would be dropped.
        if (request.responder.canceled()) {
          ++counts.slow_gave_up;
          return;
        }
        std::this_thread::sleep_for(1ms);
      }
      ++counts.slow_finished;
      request.responder.respond(as_bytes("done"));  // borrowed bytes, copied off the loop
    });
  });
  server.handle(kFail, "", [](io::IncomingRequest&& request) {
    request.responder.fail(Errc::remote_error, "no such account");  // the caller reads this
  });
}
// [/guide]

void call_with_a_future(EventNode& client) {
  // [guide:call-future]
  // On an application thread, waiting is fine. Never wait in a callback: the loop thread
  // that would deliver the reply is the one waiting.
  std::future<io::Reply> pending = client.request("server", kEcho, as_bytes("hello"), 1000);
  const io::Reply reply = pending.get();
  if (reply.error != Errc::ok) {
    std::printf("echo failed: %s\n", std::string(errc_name(reply.error)).c_str());
  }
  // [/guide]
  guide::expect(reply.error == Errc::ok && as_chars(reply.payload) == "hello", "echo reply");
}

void call_with_callbacks(EventNode& client) {
  constexpr int kCalls = 1000;
  // [guide:call-callback]
  // State the callbacks share, kept alive by them (not by this function's frame).
  struct Tally {
    std::atomic<int> matched = 0;
    std::atomic<int> left = kCalls;
    std::promise<void> all_ended;
    void end_one() {
      if (--left == 0) all_ended.set_value();
    }
  };
  auto tally = std::make_shared<Tally>();
  for (int i = 0; i < kCalls; ++i) {
    const std::string text = "call " + std::to_string(i);
    // `text` is borrowed: request() copies it before returning (off the loop thread).
    const Errc posted =
        client.request("server", kEcho, as_bytes(text), 1000, [tally, text](io::Reply&& reply) {
          // Exactly once per call, on the loop thread (or, ended by stop(), on its caller).
          if (reply.error == Errc::ok && as_chars(reply.payload) == text) ++tally->matched;
          tally->end_one();
        });
    if (posted != Errc::ok) tally->end_one();  // queue_full, shutting_down: no callback
  }
  tally->all_ended.get_future().wait();
  // [/guide]
  guide::expect(tally->matched == kCalls, "every echo matched its call");
}

void errors_and_deadlines(EventNode& client, ServerCounts& counts) {
  // [guide:errors]
  const io::Reply unknown = client.request("server", 99, {}, 1000).get();
  // unknown.error == Errc::unknown_handler: nobody serves handler 99 there
  const io::Reply failed = client.request("server", kFail, {}, 1000).get();
  // failed.error == Errc::remote_error, failed.payload holds "no such account"
  const io::Reply late = client.request("server", kSlow, as_bytes("5000"), 100).get();
  // late.error == Errc::deadline_exceeded after 100 ms; the server's responder reads
  // canceled() from then on, and the handler stops working
  // [/guide]
  guide::expect(unknown.error == Errc::unknown_handler, "unknown handler");
  guide::expect(failed.error == Errc::remote_error && as_chars(failed.payload) == "no such account",
                "remote error with its message");
  guide::expect(late.error == Errc::deadline_exceeded, "deadline exceeded");

  // [guide:cancel]
  io::CallHandle handle;
  auto ended = std::make_shared<std::promise<io::Reply>>();
  const Errc posted = client.request(
      "server", kSlow, as_bytes("5000"), 10'000,
      [ended](io::Reply&& reply) { ended->set_value(std::move(reply)); }, {}, &handle);
  std::this_thread::sleep_for(50ms);
  handle.cancel();  // from any thread; the callback runs with canceled (unless the reply won)
  // [/guide]
  guide::expect(posted == Errc::ok, "slow call posted");
  const io::Reply canceled = ended->get_future().get();
  guide::expect(canceled.error == Errc::canceled, "canceled");
  // The server's worker noticed both ends (deadline and cancel) and stopped early.
  for (int i = 0; i < 200 && counts.slow_gave_up < 2; ++i)
    std::this_thread::sleep_for(10ms);
  guide::expect(counts.slow_gave_up == 2 && counts.slow_finished == 0,
                "the slow handler stopped for the deadline and the cancel");
}

// New keys without a restart (weft-node does it on SIGHUP): connections made from now on
// use them; the one already up stays, since its peer's proof still verifies (the same ring).
void reload_keys(EventNode& node, const std::filesystem::path& key_dir, const std::string& name) {
  // [guide:reload-keys]
  const Errc replaced = node.set_authenticator(guide::key_ring(key_dir, name));
  if (replaced != Errc::ok) {
    std::printf("keys not replaced: %s\n", std::string(errc_name(replaced)).c_str());
  }
  // [/guide]
  guide::expect(replaced == Errc::ok, "set_authenticator");
}

void show_peers(EventNode& client) {
  // [guide:peer-stats]
  // A snapshot of every peer (it waits for the loop thread; from a callback it runs inline).
  for (const io::PeerStatus& peer : client.peers()) {
    const PeerStats& stats = peer.stats;
    std::printf("%s: %s, %llu frames out, %llu in, %zu calls in flight, rtt %lld us\n",
                peer.name.c_str(), std::string(peer_state_name(stats.state)).c_str(),
                static_cast<unsigned long long>(stats.frames_sent),
                static_cast<unsigned long long>(stats.frames_received), stats.outbound_in_flight,
                static_cast<long long>(stats.rtt_ns / 1000));  // 0 before the first pong
  }
  // [/guide]
  const std::vector<io::PeerStatus> peers = client.peers();
  guide::expect(peers.size() == 1 && peers[0].name == "server" &&
                    peers[0].stats.state == PeerState::established &&
                    peers[0].stats.frames_sent >= 1000 && peers[0].stats.frames_received >= 1000 &&
                    peers[0].stats.outbound_in_flight == 0,
                "the client's view of the server after the calls");
}

}  // namespace

int main(int argc, char** argv) {
  return guide::main_with_keys(argc, argv, "guide_requests", [](const std::filesystem::path& keys) {
    // Declared before the nodes, so they outlive every callback that refers to them.
    Worker worker;
    ServerCounts counts;
    // [guide:start]
    EventNode server(guide::node_options("server", guide::key_ring(keys, "server")));
    serve(server, worker, counts);  // handlers before start()
    server.on_peer_change([](const io::PeerChange& change) {
      static constexpr const char* kKinds[] = {"up", "down", "handshake failed"};
      std::printf("server: peer %s %s (%s)\n", change.peer.c_str(),
                  kKinds[static_cast<int>(change.kind)], change.detail.c_str());
    });
    if (server.start() != Errc::ok) throw std::runtime_error("server did not start");
    // [/guide]
    EventNode client(guide::keyed_options(keys, "client"));
    guide::connect(server, client, "client");

    call_with_a_future(client);
    call_with_callbacks(client);
    errors_and_deadlines(client, counts);
    show_peers(client);
    reload_keys(client, keys, "client");
    call_with_a_future(client);
    // [guide:stop]
    client.stop();  // calls still open end with disconnected, then the loop thread is joined
    server.stop();
    // [/guide]
  });
}
