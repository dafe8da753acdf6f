// weft-bench: weft over real loopback sockets against raw TCP, measured in the same run.
//
//   weft-bench [--scenario NAME[,NAME...]|all] [--seconds S] [--pin same|split]
//              [--queue-kib K] [--peers LIST|all|none] [--rounds N] [--loop libevent|io_uring]
//              [--table]
//
// Each scenario starts a server process (this program again, exec'd with --serve) and runs
// the client in this one, first over weft (two EventNodes), then the same traffic pattern
// over a plain TCP socket, then over each peer asked for, and prints one JSON line each:
//   {"scenario":..., "peer":"weft", "value":..., "unit":..., "p50_us":..., "p99_us":...,
//    "baseline":"raw_tcp", "baseline_value":..., "ratio":...}
// --pin same (default) pins both processes to CPU 0: on a small VM a wake-up on the other
// core costs tens of microseconds. --pin split puts the server on CPU 1. Threads a library
// starts inherit its process's CPU.
//
// --peers (default none) runs other transports beside weft in the first four scenarios, the
// same traffic with the same payloads (bench/peers/, each built when its package is found):
// libevent_raw, epoll_raw, poll_raw and io_uring_raw (echo loops: the ceiling of each loop style),
// nghttp2, zmq, grpc, and weft_io_uring (weft with both nodes on the io_uring loop, which
// also runs object_1MiB: no other transport has objects). A peer named but not built ends the
// run with status 77 (skipped).
// --rounds N (default 1) runs each scenario N times in a row, its transports in the order
// above in even rounds and in reverse in odd ones, so a machine whose speed drifts during a
// scenario favours no transport; each line then also carries "round" (from 0) and, in the
// scenarios of more than one transport, "position" (when in its round it ran, from 0), and
// the table shows each cell's median with its lowest and highest in brackets.
// --loop runs weft's nodes on that loop (EventNodeOptions::loop_backend, through
// WEFT_LOOP_BACKEND, which the server process inherits); by default the variable decides,
// and without it libevent. The other transports do not use it.
// --table prints a markdown table of the patterns against the transports after the lines.
//
// Scenarios:
//   unary_pingpong_64B      64 B echo requests, 1 in flight (requests/s)
//   unary_pipeline_64B_x64  the same, 64 in flight (requests/s)
//   unary_pipeline_frame_bytes_x64  raw TCP's 64 in flight with messages padded to weft's
//                           frame size (a 64 B request and response with checksums),
//                           beside raw TCP's 64 B and weft: whether the kernel's time follows
//                           the bytes. Runs only when named (not in "all"), no table row
//   stream_oneway_64B       64 B messages on one stream, as fast as credit allows (messages/s)
//   request_1MiB            1 MiB requests, 4 in flight, empty answers (GB/s of payload)
//   unary_p99_under_bulk    p99 of 64 B requests while 1 MiB requests saturate the same
//                           connection (value: that p99 in us; also weft's idle p99 and the
//                           ratio to it), and the floor for one connection: raw TCP as an
//                           ideal mux with weft's socket tuning (raw_mux_* fields; the
//                           table's raw TCP cell is its p99 under bulk over its own idle p99)
//   unary_p99_under_bulk_batch  the same with both weft nodes' loop threads under SCHED_BATCH
//                           (EventNodeOptions::loop_scheduling), and raw TCP's processes too
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
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness.hpp"
#include "peers/peer.hpp"
#include "raw_tcp.hpp"
#include "scenarios.hpp"
#include "weft/io/event_node.hpp"
#include "weft_side.hpp"

namespace {

using namespace weft_bench;

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-bench: %s\nusage: weft-bench [--scenario NAME[,NAME...]|all] [--seconds S] "
               "[--pin same|split] [--queue-kib K] [--peers LIST|all|none] [--rounds N] "
               "[--loop libevent|io_uring] [--table]\n",
               why);
  return 2;
}

// `weft-bench --serve NAME ARGS... --port-fd N` (from spawn_server): runs the server NAME.
[[noreturn]] void serve(const std::vector<std::string>& args) {
  const std::string& name = args.at(0);
  const int port_fd = std::stoi(args.back());
  if (name == "weft") serve_weft(args, port_fd);
  if (name == "raw_tcp") {
    if (args.size() > 1 && args[1] == "--sched-batch") use_sched_batch();
    serve_raw_tcp(port_fd);
  }
  Pattern pattern = Pattern::unary;
  if (args.size() < 5 || args[1] != "--pattern" || !parse_pattern(args[2], pattern)) {
    std::fprintf(stderr, "weft-bench --serve %s: no --pattern\n", name.c_str());
    std::_Exit(2);
  }
  const PeerDriver* peer = find_peer(name);
  if (peer == nullptr) {
    std::fprintf(stderr, "weft-bench --serve: no peer %s\n", name.c_str());
    std::_Exit(2);
  }
  peer->serve(pattern, port_fd);
  std::_Exit(0);
}

// --peers LIST|all|none into `peers`; false (with a message) for a name weft-bench does not
// know. `all` is every peer this build has.
bool parse_peers(const std::string& list, std::vector<std::string>& peers) {
  peers.clear();
  if (list == "none") return true;
  if (list == "all") {
    for (const std::string_view name : known_peers())
      if (find_peer(name) != nullptr) peers.emplace_back(name);
    return true;
  }
  for (const std::string& name : split_commas(list)) {
    bool known = false;
    for (const std::string_view candidate : known_peers())
      known = known || candidate == name;
    if (!known) {
      std::string names;
      for (const std::string_view candidate : known_peers())
        names += " " + std::string(candidate);
      std::fprintf(stderr, "weft-bench: unknown peer '%s' (known:%s)\n", name.c_str(),
                   names.c_str());
      return false;
    }
    peers.push_back(name);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--serve" && args.size() >= 4) {
    serve(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  Run run;
  Options& options = run.options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--scenario" && has_value) {
      options.scenario = args[++i];
    } else if (arg == "--seconds" && has_value) {
      options.seconds = std::atof(args[++i].c_str());
      if (options.seconds <= 0) return usage("bad --seconds");
    } else if (arg == "--queue-kib" && has_value) {
      options.queue_kib = static_cast<std::size_t>(std::atol(args[++i].c_str()));
    } else if (arg == "--pin" && has_value) {
      const std::string& pin = args[++i];
      if (pin != "same" && pin != "split") return usage("--pin is same or split");
      options.split = pin == "split";
    } else if (arg == "--peers" && has_value) {
      if (!parse_peers(args[++i], options.peers)) return usage("bad --peers");
    } else if (arg == "--rounds" && has_value) {
      char* end = nullptr;
      const long rounds = std::strtol(args[++i].c_str(), &end, 10);
      if (*end != '\0' || rounds < 1 || rounds > 99) return usage("--rounds is 1 to 99");
      options.rounds = static_cast<std::size_t>(rounds);
    } else if (arg == "--loop" && has_value) {
      const std::string& loop = args[++i];
      if (!weft::io::parse_loop_backend(loop)) return usage("--loop is libevent or io_uring");
      ::setenv("WEFT_LOOP_BACKEND", loop.c_str(), 1);
    } else if (arg == "--table") {
      options.table = true;
    } else {
      return usage("unknown option");
    }
  }
  for (const std::string& name : options.peers) {
    if (find_peer(name) == nullptr) {
      std::fprintf(stderr,
                   "weft-bench: peer %s is not built in (it needs a Release build with "
                   "WEFT_BENCH_PEERS=ON and %.*s at configure time)\n",
                   name.c_str(), static_cast<int>(missing_package(name).size()),
                   missing_package(name).data());
      return kSkipped;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  pin_to(0);
  if (!run_scenarios(run)) return usage("unknown scenario");
  if (options.table) run.table.print();
  return 0;
}
