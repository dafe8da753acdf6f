// weft-bench: weft over real loopback sockets against raw TCP, measured in the same run.
//
//   weft-bench [--scenario NAME|all] [--seconds S] [--pin same|split]
//
// Each scenario forks a server process and runs the client in this one, first over weft
// (two EventNodes) and then the same traffic pattern over a plain TCP socket, and prints one
// JSON line:
//   {"scenario":..., "value":..., "unit":..., "p50_us":..., "p99_us":...,
//    "baseline":"raw_tcp", "baseline_value":..., "ratio":...}
// --pin same (default) pins both processes to CPU 0: on a small VM a wake-up on the other
// core costs tens of microseconds. --pin split puts the server on CPU 1.
//
// Scenarios:
//   unary_pingpong_64B      64 B echo requests, 1 in flight (requests/s)
//   unary_pipeline_64B_x64  the same, 64 in flight (requests/s)
//   stream_oneway_64B       64 B messages on one stream, as fast as credit allows (messages/s)
//   request_1MiB            1 MiB requests, 4 in flight, empty answers (GB/s of payload)
//   unary_p99_under_bulk    p99 of 64 B requests while 1 MiB requests saturate the same
//                           connection (value: that p99 in us; also weft's idle p99 and the
//                           ratio to it)
//   unary_p99_under_stream_8MiB  the same while one stream writes 8 MiB messages as fast as
//                           its credit allows (a small frame's wait behind a large stream
//                           message)
//   object_1MiB             1 MiB objects (in memory, shared) on one object stream, 8 in
//                           flight, each read whole by the server's application before it
//                           completes (GB/s of object data)
//   unary_p99_under_objects p99 of 64 B requests while 1 MiB objects saturate the same
//                           connection (as unary_p99_under_bulk)
//   tls_unary_pingpong_64B  unary_pingpong_64B over TLS (EventNodeOptions::tls), against
//                           weft without TLS in the same run (baseline "weft_plain"); each
//                           with its default checksums (on without TLS, off under it)
//   tls_request_1MiB        request_1MiB over TLS, against weft without TLS
// The TLS scenarios make a CA and the two nodes' certificates in memory (Ed25519).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "weft/io/event_node.hpp"
#include "weft/io/tls_certs.hpp"

namespace {

using namespace weft;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kDiscard = 2;
constexpr std::uint16_t kSink = 3;
constexpr std::size_t kSmall = 64;
constexpr std::size_t kBulk = 1 << 20;
constexpr std::size_t kLargeMessage = 8 << 20;

struct Options {
  std::string scenario = "all";
  double seconds = 3;
  bool split = false;
  std::size_t queue_kib = 32;  // see config_for; 0: the library defaults
};

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

double elapsed_s(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Latencies {
  std::vector<double> us;
  double at(double q) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))];
  }
};

struct Result {
  double value = 0;
  double p50_us = 0;
  double p99_us = 0;
};

// ---- names: the client must be the dialer, so it can find the server's port ----

std::pair<std::string, std::string> names() {
  for (int i = 0;; ++i) {
    const std::string client = "bench-client-" + std::to_string(i);
    if (dial_rule_dials(client, "bench-server")) return {client, "bench-server"};
  }
}

// `queue_kib` sets the queue sizes along the path (weft's output high-water mark and payload
// parts, the kernel's unsent bytes, the receive buffer); 0 keeps the library defaults.
NodeConfig config_for(const std::string& name, const std::string& peer, std::size_t queue_kib) {
  NodeConfig config;
  config.name = name;
  config.peers = {peer};
  config.auth = std::make_shared<SharedKeyAuth>("bench-cluster-key");
  config.checksums = true;
  // Room for an 8 MiB stream message in one frame, as a peer that sends them whole needs.
  config.limits.max_frame_bytes = 16u << 20;
  if (queue_kib > 0) {
    config.limits.output_high_water_bytes = queue_kib * 1024;
    config.limits.chunk_bytes = queue_kib * 1024 / 2;
    config.limits.object_chunk_bytes = queue_kib * 1024 / 2;
  }
  return config;
}

void tune(io::EventNodeOptions& options, std::size_t queue_kib) {
  if (queue_kib == 0) return;
  options.socket_unsent_bytes = queue_kib * 1024 / 2;
  options.socket_receive_bytes = queue_kib * 1024;
}

// ---- TLS ----

// Both nodes' TLS credentials, from one CA made in memory; valid for a day either side of now.
struct BenchTls {
  io::TlsCredentials client;
  io::TlsCredentials server;
};

BenchTls make_bench_tls() {
  const auto now_s = static_cast<std::int64_t>(std::time(nullptr));
  const io::Validity validity{now_s - 86'400, now_s + 86'400};
  const io::CertifiedKey ca = io::make_ca("weft-bench CA", validity);
  const auto [client, server] = names();
  auto credentials = [&](const std::string& name) {
    const io::CertifiedKey node =
        io::make_node_certificate(ca, std::vector<std::string>{name}, validity);
    return io::TlsCredentials{ca.certificate_pem, node.certificate_pem, node.key_pem};
  };
  return {credentials(client), credentials(server)};
}

// TLS for a node made with `credentials` (none: plain TCP).
void use_tls(io::EventNodeOptions& options, const io::TlsCredentials* credentials) {
  if (credentials == nullptr) return;
  io::TlsContextResult made = io::TlsContext::create(*credentials);
  if (!made.ok()) {
    std::fprintf(stderr, "TLS context: %s\n", made.error->message.c_str());
    std::abort();
  }
  options.tls = made.context;
}

// ---- servers (child processes) ----

[[noreturn]] void weft_server(int port_pipe, std::size_t queue_kib, const io::TlsCredentials* tls) {
  const auto [client, server] = names();
  io::EventNodeOptions options;
  options.config = config_for(server, client, queue_kib);
  tune(options, queue_kib);
  use_tls(options, tls);
  io::EventNode node(options);
  node.handle(kEcho, "",
              [](io::IncomingRequest&& request) { request.responder.respond(request.payload); });
  node.handle(kDiscard, "", [](io::IncomingRequest&& request) { request.responder.respond({}); });
  // Reads every object whole (the bytes pass through on_data) and lets it finish.
  node.handle_objects("sink", ObjectWindow{64, 16u << 20},
                      [](const io::IncomingObject&, io::ObjectReader) { return io::ObjectSink{}; });
  node.handle_stream(kSink, "", StreamWindow{4096, 32u << 20},
                     [](const io::IncomingStream&, io::StreamSession) {
                       io::StreamCallbacks callbacks;
                       callbacks.on_message = [](io::StreamSession&, Bytes) {};
                       callbacks.on_input_end = [](io::StreamSession& session) { session.close(); };
                       return callbacks;
                     });
  node.start();
  const std::uint16_t port = node.port();
  [[maybe_unused]] const ssize_t written = ::write(port_pipe, &port, sizeof port);
  pause();  // until the parent kills us
  std::_Exit(0);
}

int listen_any(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  listen(fd, 16);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  port = ntohs(address.sin_port);
  return fd;
}

// Raw TCP: the first byte picks echo ('e') or count-and-discard ('d', answers the byte count
// when the client shuts its side down).
[[noreturn]] void raw_server(int port_pipe) {
  std::uint16_t port = 0;
  const int listener = listen_any(port);
  [[maybe_unused]] const ssize_t written = ::write(port_pipe, &port, sizeof port);
  std::vector<char> buffer(256 * 1024);
  while (true) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) continue;
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    char mode = 0;
    if (::recv(fd, &mode, 1, MSG_WAITALL) != 1) {
      ::close(fd);
      continue;
    }
    std::uint64_t total = 0;
    while (true) {
      const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (got <= 0) break;
      total += static_cast<std::uint64_t>(got);
      if (mode == 'e' && ::send(fd, buffer.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL) < 0)
        break;
    }
    if (mode == 'd') [[maybe_unused]]
      ssize_t sent = ::send(fd, &total, sizeof total, MSG_NOSIGNAL);
    ::close(fd);
  }
}

// Forks a server (`server` runs in the child with the pipe to write its port to), pinned as
// asked; returns its pid and port.
std::pair<pid_t, std::uint16_t> spawn(const std::function<void(int)>& server,
                                      const Options& options) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) std::abort();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    pin_to(options.split ? 1 : 0);
    server(pipe_fds[1]);
    std::_Exit(0);
  }
  ::close(pipe_fds[1]);
  std::uint16_t port = 0;
  if (::read(pipe_fds[0], &port, sizeof port) != sizeof port) std::abort();
  ::close(pipe_fds[0]);
  return {pid, port};
}

void reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// ---- weft client ----

class WeftClient {
 public:
  // `stream_queue_messages`: how many messages a stream session queues before its writes
  // wait (the adapter's stream_send_queue_messages).
  // `tls`: the client's TLS credentials (null: plain TCP).
  WeftClient(std::uint16_t port, std::size_t queue_kib, std::size_t stream_queue_messages = 4096,
             const io::TlsCredentials* tls = nullptr) {
    const auto [client, server] = names();
    server_ = server;
    io::EventNodeOptions options;
    options.config = config_for(client, server, queue_kib);
    options.addresses = {{server, "127.0.0.1", port}};
    tune(options, queue_kib);
    use_tls(options, tls);
    options.stream_send_queue_messages = stream_queue_messages;
    node_ = std::make_unique<io::EventNode>(options);
    node_->start();
    while (true) {
      const auto peers = node_->peers();
      if (!peers.empty() && peers[0].stats.state == PeerState::established) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // Keeps `in_flight` requests of `size` bytes to `handler` going for `seconds`; latencies
  // of every request into `latencies`. Everything runs on the loop thread.
  double unary(std::size_t in_flight, std::size_t size, std::uint16_t handler, double seconds,
               Latencies& latencies) {
    // A large payload is shared with the core (no copy per request); a small one is lent.
    const std::vector<std::uint8_t> bytes(size, 0x5a);
    const Payload payload = size > kSmall ? Payload(SharedBytes::copy_of(bytes)) : Payload(bytes);
    std::promise<void> finished;
    std::size_t outstanding = 0;
    std::size_t completed = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    std::function<void()> issue = [&] {
      ++outstanding;
      const auto sent = Clock::now();
      node_->request(server_, handler, payload, 0, [&, sent](io::Reply&& reply) {
        --outstanding;
        if (reply.error == Errc::ok) ++completed;
        const auto now = Clock::now();
        latencies.us.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
        if (now < end) {
          issue();
        } else if (outstanding == 0) {
          finished.set_value();
        }
      });
    };
    node_->run_on_loop([&] {
      for (std::size_t i = 0; i < in_flight; ++i)
        issue();
    });
    finished.get_future().wait();
    return static_cast<double>(completed) / elapsed_s(start);
  }

  // 64 B messages on one stream for `seconds`, then close; messages/s once all arrived.
  double stream_oneway(double seconds) {
    const std::vector<std::uint8_t> message(kSmall, 0x42);
    std::promise<Errc> ended;
    std::size_t written = 0;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    io::StreamCallbacks callbacks;
    auto fill = [&](io::StreamSession& session) {
      while (Clock::now() < end) {
        for (int i = 0; i < 256; ++i) {
          if (session.write(message) != Errc::ok) return;  // on_writable resumes us
          ++written;
        }
      }
      session.close();
    };
    callbacks.on_writable = fill;
    callbacks.on_end = [&](io::StreamSession&, Errc result, std::string_view) {
      ended.set_value(result);
    };
    io::StreamSession session = node_->open_stream(server_, kSink, {}, nullptr, true,
                                                   StreamWindow{16, 1 << 20}, 0, callbacks);
    node_->run_on_loop([&] { fill(session); });
    const Errc result = ended.get_future().get();
    if (result != Errc::ok)
      std::fprintf(stderr, "stream ended with %s\n", std::string(errc_name(result)).c_str());
    return static_cast<double>(written) / elapsed_s(start);
  }

  // 64 B pings one at a time for `seconds` while `load` (started on the loop thread, given
  // the time to stop and a callback for when it has) keeps the connection busy; the pings'
  // latencies.
  template <typename StartLoad>
  void pings_under(double seconds, Latencies& pings, StartLoad start_load) {
    const std::vector<std::uint8_t> small(kSmall, 0x11);
    std::promise<void> load_done;
    std::promise<void> pings_done;
    const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                     std::chrono::duration<double>(seconds));
    std::function<void()> ping = [&] {
      const auto sent = Clock::now();
      node_->request(server_, kEcho, small, 0, [&, sent](io::Reply&&) {
        const auto now = Clock::now();
        pings.us.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
        if (now < end) {
          ping();
        } else {
          pings_done.set_value();
        }
      });
    };
    node_->run_on_loop([&] {
      start_load(end, [&] { load_done.set_value(); });
      ping();
    });
    pings_done.get_future().wait();
    load_done.get_future().wait();
  }

  // The load of unary_p99_under_bulk: 4 requests of 1 MiB in flight.
  void pings_under_bulk(double seconds, Latencies& pings) {
    const Payload bulk(SharedBytes(std::vector<std::uint8_t>(kBulk, 0x33)));
    int bulk_outstanding = 0;
    std::function<void()> bulk_issue;
    pings_under(seconds, pings, [&](Clock::time_point end, std::function<void()> done) {
      bulk_issue = [&, end, done] {
        ++bulk_outstanding;
        node_->request(server_, kDiscard, bulk, 0, [&, end, done](io::Reply&&) {
          --bulk_outstanding;
          if (Clock::now() < end) {
            bulk_issue();
          } else if (bulk_outstanding == 0) {
            done();
          }
        });
      };
      for (int i = 0; i < 4; ++i)
        bulk_issue();
    });
  }

  // The load of unary_p99_under_stream_8MiB: one stream writing 8 MiB messages whenever
  // its credit (the server's 32 MiB window) allows. Returns the stream's GB/s.
  double pings_under_stream(double seconds, Latencies& pings) {
    std::size_t written = 0;
    const auto start = Clock::now();
    // Shared, as a large message should be: the session keeps a reference, no copy.
    const Payload message(SharedBytes(std::vector<std::uint8_t>(kLargeMessage, 0x44)));
    io::StreamSession session;
    std::function<void()> done_once;
    pings_under(seconds, pings, [&](Clock::time_point end, std::function<void()> done) {
      done_once = done;
      io::StreamCallbacks callbacks;
      auto fill = [&, end](io::StreamSession& stream) {
        while (Clock::now() < end) {
          if (stream.write(message) != Errc::ok) return;  // on_writable resumes
          ++written;
        }
        stream.close();
      };
      callbacks.on_writable = fill;
      callbacks.on_end = [&](io::StreamSession&, Errc result, std::string_view text) {
        if (result != Errc::ok)
          std::fprintf(stderr, "stream ended with %s: %.*s\n",
                       std::string(errc_name(result)).c_str(), static_cast<int>(text.size()),
                       text.data());
        done_once();
      };
      session = node_->open_stream(server_, kSink, {}, nullptr, true, StreamWindow{16, 1 << 20}, 0,
                                   callbacks);
      fill(session);
    });
    return static_cast<double>(written * kLargeMessage) / 1e9 / elapsed_s(start);
  }

  // Keeps `in_flight` 1 MiB objects going on one object stream until `end`, then calls
  // `done` once the last completed (loop thread). Counts the objects completed ok.
  void objects_until(Clock::time_point end, std::size_t in_flight, std::size_t& completed,
                     std::function<void()> done) {
    objects_ = node_->open_object_stream(server_, "sink", {});
    auto data = SharedBytes(std::vector<std::uint8_t>(kBulk, 0x66));
    auto outstanding = std::make_shared<std::size_t>(0);
    auto issue = std::make_shared<std::function<void()>>();
    *issue = [this, data, end, outstanding, issue, &completed, done] {
      ++*outstanding;
      io::OutgoingObject object;
      object.source = io::ObjectSource::memory(data);
      object.on_done = [this, end, outstanding, issue, &completed,
                        done](const io::ObjectResult& result) {
        --*outstanding;
        if (result.error == Errc::ok) ++completed;
        if (Clock::now() < end) {
          (*issue)();
        } else if (*outstanding == 0) {
          objects_.fin();
          done();
        }
      };
      if (objects_.send(std::move(object)) != Errc::ok) std::abort();
    };
    for (std::size_t i = 0; i < in_flight; ++i)
      (*issue)();
  }

  // object_1MiB: GB/s of object data, `in_flight` objects at a time.
  double objects(double seconds, std::size_t in_flight) {
    std::size_t completed = 0;
    std::promise<void> finished;
    const auto start = Clock::now();
    const auto end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    node_->run_on_loop(
        [&] { objects_until(end, in_flight, completed, [&] { finished.set_value(); }); });
    finished.get_future().wait();
    return static_cast<double>(completed * kBulk) / 1e9 / elapsed_s(start);
  }

  // The load of unary_p99_under_objects: 8 objects of 1 MiB in flight. Returns the GB/s.
  double pings_under_objects(double seconds, Latencies& pings) {
    std::size_t completed = 0;
    const auto start = Clock::now();
    pings_under(seconds, pings, [&](Clock::time_point end, std::function<void()> done) {
      objects_until(end, 8, completed, std::move(done));
    });
    return static_cast<double>(completed * kBulk) / 1e9 / elapsed_s(start);
  }

 private:
  std::string server_;
  std::unique_ptr<io::EventNode> node_;
  io::ObjectStream objects_;
};

// ---- raw TCP client ----

int raw_connect(std::uint16_t port, char mode) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) std::abort();
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  [[maybe_unused]] const ssize_t sent = ::send(fd, &mode, 1, 0);
  return fd;
}

// 64 B messages echoed, `in_flight` at once, for `seconds`: messages/s and latencies.
double raw_unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  const int fd = raw_connect(port, 'e');
  std::vector<char> message(kSmall, 'r');
  std::vector<char> batch(kSmall * in_flight, 'r');
  std::vector<char> buffer(kSmall * in_flight);
  std::vector<Clock::time_point> sent_at;  // FIFO: TCP keeps order
  std::size_t head = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (std::size_t i = 0; i < in_flight; ++i)
    sent_at.push_back(Clock::now());
  [[maybe_unused]] ssize_t sent = ::send(fd, batch.data(), batch.size(), 0);
  std::size_t completed = 0;
  std::size_t partial = 0;
  bool sending = true;
  std::size_t outstanding = in_flight;
  while (outstanding > 0) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0) break;
    partial += static_cast<std::size_t>(got);
    const std::size_t done = partial / kSmall;
    partial %= kSmall;
    const auto now = Clock::now();
    for (std::size_t i = 0; i < done; ++i) {
      latencies.us.push_back(
          std::chrono::duration<double, std::micro>(now - sent_at[head++]).count());
    }
    completed += done;
    outstanding -= done;
    if (sending && now >= end) sending = false;
    if (sending && done > 0) {
      for (std::size_t i = 0; i < done; ++i)
        sent_at.push_back(now);
      sent = ::send(fd, batch.data(), done * kSmall, 0);
      outstanding += done;
    }
  }
  ::close(fd);
  return static_cast<double>(completed) / elapsed_s(start);
}

// Bytes written in `chunk`-sized writes for `seconds`, counted by the server: bytes/s.
double raw_bulk(std::uint16_t port, std::size_t chunk, double seconds) {
  const int fd = raw_connect(port, 'd');
  std::vector<char> data(chunk, 'b');
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    if (::send(fd, data.data(), data.size(), 0) <= 0) break;
  }
  ::shutdown(fd, SHUT_WR);
  std::uint64_t total = 0;
  [[maybe_unused]] const ssize_t got = ::recv(fd, &total, sizeof total, MSG_WAITALL);
  const double rate = static_cast<double>(total) / elapsed_s(start);
  ::close(fd);
  return rate;
}

// ---- scenarios ----

// One JSON line; the baseline is raw TCP unless `baseline_name` says otherwise.
void print(const char* scenario, double value, const char* unit, const Result& weft,
           double baseline, const std::string& extra = {}, const char* baseline_name = "raw_tcp") {
  // Small values (GB/s) with three decimals, counts with one.
  const int digits = value < 100 && baseline < 100 ? 3 : 1;
  std::printf(
      "{\"scenario\":\"%s\",\"value\":%.*f,\"unit\":\"%s\",\"p50_us\":%.1f,\"p99_us\":%.1f,"
      "\"baseline\":\"%s\",\"baseline_value\":%.*f,\"ratio\":%.3f%s}\n",
      scenario, digits, value, unit, weft.p50_us, weft.p99_us, baseline_name, digits, baseline,
      baseline > 0 ? value / baseline : 0.0, extra.c_str());
  std::fflush(stdout);
}

// Runs `fn` with a client node connected to a forked server node; over TLS with `tls`.
template <typename Fn>
auto with_weft(const Options& options, Fn fn, std::size_t stream_queue_messages = 4096,
               const BenchTls* tls = nullptr) {
  const auto [pid, server_port] = spawn(
      [&](int port_pipe) {
        weft_server(port_pipe, options.queue_kib, tls != nullptr ? &tls->server : nullptr);
      },
      options);
  const std::uint16_t port = server_port;  // lambdas cannot capture a structured binding
  auto result = [&] {
    WeftClient client(port, options.queue_kib, stream_queue_messages,
                      tls != nullptr ? &tls->client : nullptr);
    return fn(client);
  }();
  reap(pid);
  return result;
}

template <typename Fn>
auto with_raw(const Options& options, Fn fn) {
  const auto [pid, port] = spawn(raw_server, options);
  auto result = fn(port);
  reap(pid);
  return result;
}

void unary_scenario(const Options& options, const char* name, std::size_t in_flight) {
  Latencies weft_latencies;
  const double weft = with_weft(options, [&](WeftClient& client) {
    return client.unary(in_flight, kSmall, kEcho, options.seconds, weft_latencies);
  });
  Latencies raw_latencies;
  const double raw = with_raw(options, [&](std::uint16_t port) {
    return raw_unary(port, in_flight, options.seconds, raw_latencies);
  });
  print(name, weft, "requests/s", {weft, weft_latencies.at(0.5), weft_latencies.at(0.99)}, raw);
}

void stream_scenario(const Options& options) {
  const double weft =
      with_weft(options, [&](WeftClient& client) { return client.stream_oneway(options.seconds); });
  // The same bytes as 64 B messages written 256 at a time.
  const double raw = with_raw(options, [&](std::uint16_t port) {
    return raw_bulk(port, 256 * kSmall, options.seconds) / static_cast<double>(kSmall);
  });
  print("stream_oneway_64B", weft, "messages/s", {weft, 0, 0}, raw);
}

void bulk_scenario(const Options& options) {
  Latencies latencies;
  const double requests_per_s = with_weft(options, [&](WeftClient& client) {
    return client.unary(4, kBulk, kDiscard, options.seconds, latencies);
  });
  const double weft_gbps = requests_per_s * static_cast<double>(kBulk) / 1e9;
  const double raw_gbps = with_raw(
      options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  print("request_1MiB", weft_gbps, "GB/s", {weft_gbps, latencies.at(0.5), latencies.at(0.99)},
        raw_gbps);
}

void p99_scenario(const Options& options) {
  Latencies idle;
  Latencies loaded;
  with_weft(options, [&](WeftClient& client) {
    client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
    client.pings_under_bulk(options.seconds, loaded);
    return 0;
  });
  Latencies raw_idle;
  with_raw(options,
           [&](std::uint16_t port) { return raw_unary(port, 1, options.seconds / 2, raw_idle); });
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  char extra[160];
  std::snprintf(extra, sizeof extra, ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0);
  print("unary_p99_under_bulk", loaded_p99, "us", {loaded_p99, loaded.at(0.5), loaded_p99},
        raw_idle.at(0.99), extra);
}

void p99_under_stream_scenario(const Options& options) {
  Latencies idle;
  Latencies loaded;
  double stream_gbps = 0;
  // Two 8 MiB messages queued in the session at most: the load is bounded by the window,
  // not by how fast the client can copy messages into its queue.
  with_weft(
      options,
      [&](WeftClient& client) {
        client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
        stream_gbps = client.pings_under_stream(options.seconds, loaded);
        return 0;
      },
      2);
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  char extra[200];
  std::snprintf(extra, sizeof extra,
                ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f,\"max_us\":%.1f,"
                "\"pings\":%zu,\"stream_GBps\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0, loaded.at(1.0),
                loaded.us.size(), stream_gbps);
  print("unary_p99_under_stream_8MiB", loaded_p99, "us", {loaded_p99, loaded.at(0.5), loaded_p99},
        0, extra);
}

void object_scenario(const Options& options) {
  const double weft_gbps =
      with_weft(options, [&](WeftClient& client) { return client.objects(options.seconds, 8); });
  const double raw_gbps = with_raw(
      options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  print("object_1MiB", weft_gbps, "GB/s", {weft_gbps, 0, 0}, raw_gbps);
}

void p99_under_objects_scenario(const Options& options) {
  Latencies idle;
  Latencies loaded;
  double objects_gbps = 0;
  with_weft(options, [&](WeftClient& client) {
    client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
    objects_gbps = client.pings_under_objects(options.seconds, loaded);
    return 0;
  });
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  char extra[200];
  std::snprintf(extra, sizeof extra,
                ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f,\"pings\":%zu,"
                "\"objects_GBps\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0, loaded.us.size(),
                objects_gbps);
  print("unary_p99_under_objects", loaded_p99, "us", {loaded_p99, loaded.at(0.5), loaded_p99}, 0,
        extra);
}

// `name`: `unary` (`in_flight` requests of `size` bytes to `handler`) over TLS against the
// same without TLS, each node pair with its default checksums; `scale` turns requests/s
// into the unit printed.
void tls_scenario(const Options& options, const char* name, std::size_t in_flight, std::size_t size,
                  std::uint16_t handler, double scale, const char* unit) {
  const BenchTls tls = make_bench_tls();
  Latencies plain_latencies;
  const double plain = with_weft(options, [&](WeftClient& client) {
    return client.unary(in_flight, size, handler, options.seconds, plain_latencies);
  });
  Latencies tls_latencies;
  const double over_tls = with_weft(
      options,
      [&](WeftClient& client) {
        return client.unary(in_flight, size, handler, options.seconds, tls_latencies);
      },
      4096, &tls);
  char extra[128];
  std::snprintf(extra, sizeof extra, ",\"plain_p50_us\":%.1f,\"plain_p99_us\":%.1f",
                plain_latencies.at(0.5), plain_latencies.at(0.99));
  print(name, over_tls * scale, unit,
        {over_tls * scale, tls_latencies.at(0.5), tls_latencies.at(0.99)}, plain * scale, extra,
        "weft_plain");
}

int usage(const char* why) {
  std::fprintf(
      stderr,
      "weft-bench: %s\nusage: weft-bench [--scenario NAME|all] [--seconds S] [--pin same|split]\n",
      why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--scenario" && i + 1 < argc) {
      options.scenario = argv[++i];
    } else if (arg == "--seconds" && i + 1 < argc) {
      options.seconds = std::atof(argv[++i]);
      if (options.seconds <= 0) return usage("bad --seconds");
    } else if (arg == "--queue-kib" && i + 1 < argc) {
      options.queue_kib = static_cast<std::size_t>(std::atol(argv[++i]));
    } else if (arg == "--pin" && i + 1 < argc) {
      const std::string pin = argv[++i];
      if (pin != "same" && pin != "split") return usage("--pin is same or split");
      options.split = pin == "split";
    } else {
      return usage("unknown option");
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  pin_to(0);
  const std::string& s = options.scenario;
  bool ran = false;
  auto want = [&](const char* name) {
    const bool yes = s == "all" || s == name;
    ran = ran || yes;
    return yes;
  };
  if (want("unary_pingpong_64B")) unary_scenario(options, "unary_pingpong_64B", 1);
  if (want("unary_pipeline_64B_x64")) unary_scenario(options, "unary_pipeline_64B_x64", 64);
  if (want("stream_oneway_64B")) stream_scenario(options);
  if (want("request_1MiB")) bulk_scenario(options);
  if (want("unary_p99_under_bulk")) p99_scenario(options);
  if (want("unary_p99_under_stream_8MiB")) p99_under_stream_scenario(options);
  if (want("object_1MiB")) object_scenario(options);
  if (want("unary_p99_under_objects")) p99_under_objects_scenario(options);
  if (want("tls_unary_pingpong_64B")) {
    tls_scenario(options, "tls_unary_pingpong_64B", 1, kSmall, kEcho, 1, "requests/s");
  }
  if (want("tls_request_1MiB")) {
    tls_scenario(options, "tls_request_1MiB", 4, kBulk, kDiscard, kBulk / 1e9, "GB/s");
  }
  return ran ? 0 : usage("unknown scenario");
}
