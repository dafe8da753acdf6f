// weft-node: runs one weft node on real sockets until SIGINT or SIGTERM.
//
//   weft-node --name N --listen HOST:PORT --peer NAME=HOST:PORT [--peer ...]
//             [--token-file F] [--verbose]
//
// Built-in handlers: 1 echo; 2 slow echo (answers after the number of milliseconds in its
// payload, default 1000, and gives up as soon as the caller cancels); 3 a stream that echoes
// every message. It prints its peers' state changes.
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "cli_common.hpp"

namespace {

using namespace weft;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kSlowEcho = 2;
constexpr std::uint16_t kStreamEcho = 3;

// Answers slow requests from its own thread when they are due, dropping the ones whose
// caller canceled in the meantime.
class SlowEchoWorker {
 public:
  SlowEchoWorker() : thread_([this] { run(); }) {}
  ~SlowEchoWorker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void add(io::IncomingRequest&& request) {
    std::int64_t delay_ms = 1000;
    const std::string text(request.payload.begin(), request.payload.end());
    std::from_chars(text.data(), text.data() + text.size(), delay_ms);
    std::lock_guard lock(mutex_);
    pending_.push_back({std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms),
                        std::move(request.payload), request.responder});
    wake_.notify_one();
  }

 private:
  struct Item {
    std::chrono::steady_clock::time_point due;
    std::vector<std::uint8_t> payload;
    io::Responder responder;
  };

  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(10));
      const auto now = std::chrono::steady_clock::now();
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->responder.canceled()) {
          std::printf("[%8.3f] slow echo: caller canceled, stopped early\n", cli::uptime_s());
          std::fflush(stdout);
          it = pending_.erase(it);
        } else if (now >= it->due) {
          it->responder.respond(it->payload);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<Item> pending_;
  bool stopping_ = false;
  std::thread thread_;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-node: %s\n"
               "usage: weft-node --name N --listen HOST:PORT --peer NAME=HOST:PORT [--peer ...]\n"
               "                 [--token-file F] [--verbose]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  io::EventNodeOptions options;
  std::string token = "weft-default-token";
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--name" && has_value) {
      options.config.name = argv[++i];
    } else if (arg == "--listen" && has_value) {
      const auto address = cli::parse_host_port(argv[++i]);
      if (!address) return usage("bad --listen address");
      options.listen_host = address->host;
      options.listen_port = address->port;
    } else if (arg == "--peer" && has_value) {
      const auto peer = cli::parse_peer(argv[++i]);
      if (!peer) return usage("bad --peer, expected NAME=HOST:PORT");
      options.config.peers.push_back(peer->name);
      options.addresses.push_back(*peer);
    } else if (arg == "--token-file" && has_value) {
      const auto read = cli::read_token(argv[++i]);
      if (!read) return usage("cannot read the token file");
      token = *read;
    } else if (arg == "--verbose") {
      verbose = true;
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (options.config.name.empty()) return usage("--name is required");
  options.config.auth = std::make_shared<StaticTokenAuth>(token);
  options.log = cli::stderr_log(options.config.name, verbose);

  // Signals go to this thread only (sigwait below), not to the loop thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  SlowEchoWorker slow;
  io::EventNode node(options);
  node.handle(kEcho, "",
              [](io::IncomingRequest&& request) { request.responder.respond(request.payload); });
  node.handle(kSlowEcho, "",
              [&slow](io::IncomingRequest&& request) { slow.add(std::move(request)); });
  node.handle_stream(kStreamEcho, "", StreamWindow{64, 1 << 20},
                     [](const io::IncomingStream&, io::StreamSession) {
                       // Back-pressure end to end: when this side's send queue is full the message
                       // is kept (defer: the caller's credit stops) and written again once
                       // on_writable says there is room. Loop thread only.
                       auto pending = std::make_shared<std::optional<std::vector<std::uint8_t>>>();
                       io::StreamCallbacks callbacks;
                       callbacks.on_message = [pending](io::StreamSession& session, Bytes message) {
                         if (session.write(message) != Errc::queue_full) return;
                         pending->emplace(message.begin(), message.end());
                         session.defer();
                       };
                       callbacks.on_writable = [pending](io::StreamSession& session) {
                         if (!*pending || session.write(**pending) != Errc::ok) return;
                         pending->reset();
                         session.consume();
                       };
                       // The caller's input is done: finish after the echoes already queued.
                       callbacks.on_input_end = [](io::StreamSession& session) { session.close(); };
                       return callbacks;
                     });
  node.on_peer_change([](const io::PeerChange& change) {
    static constexpr const char* kKinds[] = {"up", "down", "handshake failed"};
    std::printf("[%8.3f] peer %s %s (%s)\n", cli::uptime_s(), change.peer.c_str(),
                kKinds[static_cast<int>(change.kind)], change.detail.c_str());
    std::fflush(stdout);
  });
  if (node.start() != Errc::ok) return 1;
  std::printf("[%8.3f] %s listening on %s:%u\n", cli::uptime_s(), options.config.name.c_str(),
              options.listen_host.c_str(), node.port());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::printf("[%8.3f] %s stopping (signal %d)\n", cli::uptime_s(), options.config.name.c_str(),
              signal_number);
  node.stop();
  return 0;
}
