// "weft io_uring": weft itself, both nodes on the io_uring loop (EventNodeOptions::
// loop_backend), run as a peer so that it takes its turn in the same rounds as weft on
// libevent, raw TCP and the other transports, with a column of its own. The same server
// (serve_weft) and client (WeftClient) as the weft column, with weft-bench's default queue
// sizes (--queue-kib 32).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "../weft_side.hpp"
#include "peer.hpp"

namespace weft_bench {
namespace {

constexpr std::size_t kQueueKib = 32;

// weft-bench --loop sets WEFT_LOOP_BACKEND for the weft column, and it would override this
// column's loop too: the nodes here start without it (and it is put back after).
class WithoutLoopVariable {
 public:
  WithoutLoopVariable() {
    if (const char* value = std::getenv(kName)) saved_ = value;
    ::unsetenv(kName);
  }
  ~WithoutLoopVariable() {
    if (!saved_.empty()) ::setenv(kName, saved_.c_str(), 1);
  }
  WithoutLoopVariable(const WithoutLoopVariable&) = delete;
  WithoutLoopVariable& operator=(const WithoutLoopVariable&) = delete;

 private:
  static constexpr const char* kName = "WEFT_LOOP_BACKEND";
  std::string saved_;
};

// A client node on io_uring, connected to the server at `port`.
std::unique_ptr<WeftClient> connect(std::uint16_t port) {
  const WithoutLoopVariable unset;
  return std::make_unique<WeftClient>(port, kQueueKib, 4096, nullptr, io::LoopScheduling::inherit,
                                      io::LoopBackend::io_uring);
}

[[noreturn]] void serve(Pattern, int port_fd) {
  ::unsetenv("WEFT_LOOP_BACKEND");  // this process serves only this column
  serve_weft(
      weft_serve_args(kQueueKib, nullptr, io::LoopScheduling::inherit, io::LoopBackend::io_uring),
      port_fd);
}

double unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  return connect(port)->unary(in_flight, kSmall, kEcho, seconds, latencies);
}

double stream(std::uint16_t port, double seconds) {
  return connect(port)->stream_oneway(seconds);
}

// As the weft column's request_1MiB: 1 MiB requests, 4 in flight, empty answers.
double bulk(std::uint16_t port, double seconds) {
  Latencies latencies;
  return connect(port)->unary(4, kBulk, kDiscard, seconds, latencies) * static_cast<double>(kBulk);
}

// As the weft column's object_1MiB: 1 MiB objects, 8 in flight.
double objects(std::uint16_t port, double seconds) {
  return connect(port)->objects(seconds, 8) * 1e9;
}

}  // namespace

const PeerDriver& weft_io_uring_driver() {
  static const PeerDriver driver{"weft_io_uring", "weft io_uring", serve, unary, stream, bulk,
                                 objects};
  return driver;
}

}  // namespace weft_bench
