// weft's side of weft-bench: the server node (a child process) and the client node, with
// the benchmark's node configuration.
#pragma once

#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"
#include "weft/io/event_node.hpp"
#include "weft/io/tls_certs.hpp"

namespace weft_bench {

using namespace weft;

constexpr std::uint16_t kEcho = 1;
constexpr std::uint16_t kDiscard = 2;
constexpr std::uint16_t kSink = 3;
constexpr std::size_t kLargeMessage = 8 << 20;

// The client and server node names: the client must be the dialer, so it can find the
// server's port.
std::pair<std::string, std::string> names();
// `queue_kib` sets the queue sizes along the path (weft's output high-water mark and payload
// parts, the kernel's unsent bytes, the receive buffer); 0 keeps the library defaults.
NodeConfig config_for(const std::string& name, const std::string& peer, std::size_t queue_kib);
void tune(io::EventNodeOptions& options, std::size_t queue_kib);

// Both nodes' TLS credentials, from one CA made in memory; valid for a day either side of now.
struct BenchTls {
  io::TlsCredentials client;
  io::TlsCredentials server;
};
BenchTls make_bench_tls();
// TLS for a node made with `credentials` (none: plain TCP).
void use_tls(io::EventNodeOptions& options, const io::TlsCredentials* credentials);

// The arguments of `weft-bench --serve` that start weft's server node (see serve_weft).
std::vector<std::string> weft_serve_args(
    std::size_t queue_kib, const io::TlsCredentials* tls,
    io::LoopScheduling scheduling = io::LoopScheduling::inherit,
    io::LoopBackend loop = io::LoopBackend::libevent);
// `weft-bench --serve weft [--queue-kib K] [--loop-scheduling batch] [--loop io_uring]
// [--tls-ca PEM --tls-cert PEM --tls-key PEM]`:
// the server node, with echo, discard, sink stream and object endpoints; never returns.
[[noreturn]] void serve_weft(const std::vector<std::string>& args, int port_fd);

class WeftClient {
 public:
  // `stream_queue_messages`: how many messages a stream session queues before its writes
  // wait (the adapter's stream_send_queue_messages).
  // `tls`: the client's TLS credentials (null: plain TCP). `scheduling`: its loop thread's.
  // `loop`: the loop it runs on (WEFT_LOOP_BACKEND, when set, decides instead).
  WeftClient(std::uint16_t port, std::size_t queue_kib, std::size_t stream_queue_messages = 4096,
             const io::TlsCredentials* tls = nullptr,
             io::LoopScheduling scheduling = io::LoopScheduling::inherit,
             io::LoopBackend loop = io::LoopBackend::libevent) {
    const auto [client, server] = names();
    server_ = server;
    io::EventNodeOptions options;
    options.config = config_for(client, server, queue_kib);
    options.addresses = {{server, "127.0.0.1", port}};
    tune(options, queue_kib);
    use_tls(options, tls);
    options.stream_send_queue_messages = stream_queue_messages;
    options.loop_scheduling = scheduling;
    options.loop_backend = loop;
    node_ = std::make_unique<io::EventNode>(options);
    if (node_->start() != Errc::ok) {
      std::fprintf(stderr, "weft-bench: the client node did not start\n");
      std::abort();
    }
    while (true) {
      const auto peers = node_->peers();
      if (!peers.empty() && peers[0].stats.state == PeerState::established) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // The counters of the connection to the server (frames and bytes each way, the handshake
  // and keepalives included).
  PeerStats server_stats() const {
    const auto peers = node_->peers();
    return peers.empty() ? PeerStats{} : peers[0].stats;
  }

  // Keeps `in_flight` requests of `size` bytes to `handler` going for `seconds`; latencies
  // of every request into `latencies`. Everything runs on the loop thread.
  double unary(std::size_t in_flight, std::size_t size, std::uint16_t handler, double seconds,
               Latencies& latencies) {
    // A large payload is shared with the core (no copy per request); a small one is lent.
    const std::vector<std::uint8_t> bytes(size, 0x5a);
    Pipeline pipeline{*this, handler,
                      size > kSmall ? Payload(SharedBytes::copy_of(bytes)) : Payload(bytes),
                      latencies};
    const auto start = Clock::now();
    pipeline.end =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    node_->run_on_loop([&] {
      const auto first = Clock::now();
      for (std::size_t i = 0; i < in_flight; ++i)
        pipeline.issue(first);
    });
    pipeline.finished.get_future().wait();
    return static_cast<double>(pipeline.completed) / elapsed_s(start);
  }

  // 64 B messages on one stream for `seconds`, then close; messages/s once all arrived.
  // The writer is pulled: try_write takes a message only when it goes into the core at
  // once, and on_writable resumes it (no message waits in the session's queue, so none is
  // copied twice).
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
          if (session.try_write(message) != Errc::ok) return;  // on_writable resumes us
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

  // The load of unary_p99_under_bulk: 4 requests of 1 MiB in flight. Returns the bulk's GB/s
  // over the whole phase, the last requests' drain after the end included.
  double pings_under_bulk(double seconds, Latencies& pings) {
    const Payload bulk(SharedBytes(std::vector<std::uint8_t>(kBulk, 0x33)));
    int bulk_outstanding = 0;
    std::size_t bulk_completed = 0;
    const auto start = Clock::now();
    std::function<void()> bulk_issue;
    pings_under(seconds, pings, [&](Clock::time_point end, std::function<void()> done) {
      bulk_issue = [&, end, done] {
        ++bulk_outstanding;
        node_->request(server_, kDiscard, bulk, 0, [&, end, done](io::Reply&& reply) {
          --bulk_outstanding;
          if (reply.error == Errc::ok) ++bulk_completed;
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
    return static_cast<double>(bulk_completed * kBulk) / elapsed_s(start) / 1e9;
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
  // The requests `unary` keeps going, on the loop thread. Each reply callback holds only
  // this and the time its request went, which std::function keeps without allocating (as
  // the raw TCP client allocates nothing per request either).
  struct Pipeline {
    WeftClient& client;
    std::uint16_t handler;
    Payload payload;
    Latencies& latencies;
    Clock::time_point end{};
    std::size_t outstanding = 0;
    std::size_t completed = 0;
    std::promise<void> finished{};

    // One clock read per request: a request made in a reply's callback was sent when that
    // reply was read (as EchoFifo times the raw TCP and peers' messages).
    void issue(Clock::time_point sent) {
      ++outstanding;
      client.node_->request(client.server_, handler, payload, 0,
                            [this, sent](io::Reply&& reply) { answered(sent, reply.error); });
    }
    void answered(Clock::time_point sent, Errc error) {
      --outstanding;
      if (error == Errc::ok) ++completed;
      const auto now = Clock::now();
      latencies.us.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
      if (now < end) {
        issue(now);
      } else if (outstanding == 0) {
        finished.set_value();
      }
    }
  };

  std::string server_;
  std::unique_ptr<io::EventNode> node_;
  io::ObjectStream objects_;
};

}  // namespace weft_bench
