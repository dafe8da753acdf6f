// weft-call: joins a cluster as a named node and runs one action against a peer.
//
//   weft-call --name C --listen HOST:PORT --peer S=HOST:PORT
//             (--key FILE --keyring FILE | --cluster-key-file FILE)
//             [--tls-dir DIR [--tls-name NAME] | --tls-ca F --tls-cert F --tls-key F]
//             [--timeout-ms T] [--connect-ms T] [--verbose] ACTION
//   weft-call stats --metrics HOST:PORT [--interval-ms T] [--once]
//
// Actions (each but bundle on the last --peer given, which it waits for: --connect-ms):
//   request HANDLER PAYLOAD [--count N] [--inflight K]   N requests, K at a time
//   stream HANDLER MESSAGE... [--reply-delay-us U]       writes the messages, prints replies
//                                                        (U us per reply: a slow reader
//                                                        that defers, so credit stops)
//   ping                                                 one empty echo (handler 1), timed
//   objects dir DIR [--inflight K] [--retry R] [--lz4]   every file of DIR to the peer's
//   objects gen N BYTES [--inflight K] [--retry R]       "objects" endpoint, or N generated
//           [--lz4]                                      objects, with an xxh3-64 each; one
//                                                        line per object, then the rate
//                                                        (call_objects.hpp); --lz4 opens
//                                                        the stream LZ4-compressed. A
//                                                        file is opened when sent (K
//                                                        open at once); one that cannot
//                                                        be read fails the run
//   bundle dir DIR | bundle gen N BYTES [--multiplier M] [--inflight K]
//                                                        the same objects to the "objects"
//                                                        endpoint of every --peer at once
//                                                        (one bundle, M streams per peer);
//                                                        one line per object with each
//                                                        peer's outcome (call_bundle.hpp)
//
// stats joins no cluster: it reads a node's metrics endpoint (weft-node --metrics) every
// T ms (default 1000) and redraws a table of its peers (state, connections, round trip,
// bytes each way and their rates, requests, streams) and one of its streams and object
// streams (messages or objects and bytes each way, in flight, offset, idle share), with
// ANSI escapes; --once prints them once (stats_view.hpp). Exit 3 when that scrape fails.
//
// Credentials as weft-node takes them (credentials.hpp): C's own key and a ring listing C
// and the peers, or the cluster's shared key. The peer must list C among its peers (and
// C's key in its ring). TLS as weft-node takes it (tls_options.hpp): with --tls-* C is
// TLS-only and the credentials are optional (the certificate then names C). Errors of the
// node's start (a --listen address in use, a --peer with C's own name) are always printed on
// stderr; --verbose prints every log line. Exit status: 0 success; 2 usage (and credentials
// that cannot be loaded, TLS files too); 3 the peer could not be reached; 4 a stream ended
// normally but without a reply to every message; 5 the node could not start (stderr says
// why); 6 its output could not be written (a full disk; stats too); 10 + the Errc value of
// the first failure otherwise.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "call_bundle.hpp"
#include "call_objects.hpp"
#include "cli_common.hpp"
#include "file_io.hpp"
#include "stats_view.hpp"
#include "tls_options.hpp"

namespace {

using namespace weft;
using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitIncomplete = 4;    // a stream ended normally with replies missing
constexpr int kExitStartFailed = 5;   // the node did not start (its log line says why)
constexpr int kExitOutputFailed = 6;  // what it printed could not be written (a full disk)
static_assert(kExitOutputFailed == cli::kStatsExitOutputFailed);
int exit_for(Errc error) {
  return error == Errc::ok ? 0 : 10 + static_cast<int>(error);
}

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-call: %s\n"
               "usage: weft-call --name C --listen HOST:PORT --peer S=HOST:PORT\n"
               "                 (--key FILE --keyring FILE | --cluster-key-file FILE)\n"
               "                 [--tls-dir DIR [--tls-name NAME]\n"
               "                  | --tls-ca FILE --tls-cert FILE --tls-key FILE]\n"
               "                 [--timeout-ms T] [--connect-ms T] [--verbose]\n"
               "                 request HANDLER PAYLOAD [--count N] [--inflight K]\n"
               "               | stream HANDLER MESSAGE... [--reply-delay-us U]\n"
               "               | ping\n"
               "               | objects (dir DIR | gen N BYTES)\n"
               "                   [--inflight K] [--retry R] [--lz4]\n"
               "               | bundle (dir DIR | gen N BYTES)\n"
               "                   [--multiplier M] [--inflight K]\n"
               "       weft-call stats --metrics HOST:PORT [--interval-ms T] [--once]\n"
               "%s%s",
               why, cli::kCredentialUsage, cli::kTlsUsage);
  return kExitUsage;
}

struct Args {
  io::EventNodeOptions options;
  std::string peer;
  std::int64_t timeout_ms = 0;
  std::int64_t connect_ms = 10'000;
  std::vector<std::string> action;
  std::size_t count = 1;
  std::size_t inflight = 1;
  std::int64_t reply_delay_us = 0;  // stream: a slow reader, U us per reply (back-pressure)
  bool inflight_given = false;
  int retries = 0;               // objects: rounds of resending objects lost with a connection
  bool lz4 = false;              // objects: open the stream LZ4-compressed
  std::uint32_t multiplier = 1;  // bundle: streams per peer
  bool verbose = false;
};

using cli::number;

std::optional<int> parse(int argc, char** argv, Args& args) {
  cli::CredentialFiles credential_files;
  cli::TlsOptionFiles tls_files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--name" && has_value) {
      args.options.config.name = argv[++i];
    } else if (arg == "--listen" && has_value) {
      const auto address = cli::parse_host_port(argv[++i]);
      if (!address) return usage("bad --listen address");
      args.options.listen_host = address->host;
      args.options.listen_port = address->port;
    } else if (arg == "--peer" && has_value) {
      const auto peer = cli::parse_peer(argv[++i]);
      if (!peer) return usage("bad --peer, expected NAME=HOST:PORT");
      args.peer = peer->name;
      args.options.config.peers.push_back(peer->name);
      args.options.addresses.push_back(*peer);
    } else if (cli::is_credential_option(arg) && has_value) {
      cli::set_credential_option(credential_files, arg, argv[++i]);
    } else if (cli::is_tls_option(arg) && has_value) {
      cli::set_tls_option(tls_files, arg, argv[++i]);
    } else if (arg == "--timeout-ms" && has_value) {
      if (!number(argv[++i], args.timeout_ms)) return usage("bad --timeout-ms");
    } else if (arg == "--connect-ms" && has_value) {
      if (!number(argv[++i], args.connect_ms)) return usage("bad --connect-ms");
    } else if (arg == "--count" && has_value) {
      if (!number(argv[++i], args.count) || args.count == 0) return usage("bad --count");
    } else if (arg == "--inflight" && has_value) {
      if (!number(argv[++i], args.inflight) || args.inflight == 0) return usage("bad --inflight");
      args.inflight_given = true;
    } else if (arg == "--multiplier" && has_value) {
      if (!number(argv[++i], args.multiplier) || args.multiplier == 0) {
        return usage("bad --multiplier");
      }
    } else if (arg == "--retry" && has_value) {
      if (!number(argv[++i], args.retries) || args.retries < 0) return usage("bad --retry");
    } else if (arg == "--reply-delay-us" && has_value) {
      if (!number(argv[++i], args.reply_delay_us) || args.reply_delay_us < 0) {
        return usage("bad --reply-delay-us");
      }
    } else if (arg == "--verbose") {
      args.verbose = true;
    } else if (arg == "--lz4") {
      args.lz4 = true;
    } else if (arg.starts_with("--")) {
      return usage("unknown option or missing value");
    } else {
      args.action.emplace_back(arg);
    }
  }
  if (args.options.config.name.empty() || args.peer.empty())
    return usage("--name and --peer are required");
  if (args.action.empty()) return usage("no action");
  if (const std::string why = cli::security_choice_error(credential_files, tls_files); !why.empty())
    return usage(why.c_str());
  if (!cli::start_security("weft-call", credential_files, tls_files, args.options.config.peers,
                           args.options))
    return kExitUsage;
  // Without --verbose, errors only: a start() refused says why at that level.
  args.options.log = cli::stderr_log(args.options.config.name, args.verbose, !args.verbose);
  return std::nullopt;
}

// Waits until the peer named `name` (empty: every peer) is established; false if not
// within `limit_ms`.
bool wait_connected(io::EventNode& node, std::int64_t limit_ms, const std::string& name) {
  const auto until = Clock::now() + std::chrono::milliseconds(limit_ms);
  while (Clock::now() < until) {
    const auto peers = node.peers();
    const auto up = [](const io::PeerStatus& peer) {
      return peer.stats.state == PeerState::established;
    };
    const auto named_up = [&name, &up](const io::PeerStatus& peer) {
      return peer.name == name && up(peer);
    };
    if (!peers.empty() && (name.empty() ? std::all_of(peers.begin(), peers.end(), up)
                                        : std::any_of(peers.begin(), peers.end(), named_up))) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

double micros(Clock::duration elapsed) {
  return std::chrono::duration<double, std::micro>(elapsed).count();
}

// N requests, K in flight; prints each reply when N is 1, else a summary.
int run_requests(io::EventNode& node, const Args& args, std::uint16_t handler,
                 const std::string& payload) {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t started = 0;
  std::size_t finished = 0;
  std::size_t in_flight = 0;
  Errc first_error = Errc::ok;
  std::vector<double> latencies_us;
  const auto begin = Clock::now();
  std::unique_lock lock(mutex);
  while (finished < args.count) {
    while (started < args.count && in_flight < args.inflight) {
      ++started;
      ++in_flight;
      const auto sent_at = Clock::now();
      lock.unlock();
      const Errc posted = node.request(
          args.peer, handler, as_bytes(payload), args.timeout_ms, [&, sent_at](io::Reply&& reply) {
            const double latency = micros(Clock::now() - sent_at);
            std::lock_guard guard(mutex);
            latencies_us.push_back(latency);
            if (reply.error != Errc::ok && first_error == Errc::ok) first_error = reply.error;
            if (args.count == 1) {
              // The peer's bytes (an answer, or its error's text): printable, on one line.
              const std::string text = cli::printable(std::string_view(
                  reinterpret_cast<const char*>(reply.payload.data()), reply.payload.size()));
              std::printf("%s: %s (%.0f us)\n", std::string(errc_name(reply.error)).c_str(),
                          text.c_str(), latency);
            }
            ++finished;
            --in_flight;
            changed.notify_one();
          });
      lock.lock();
      if (posted != Errc::ok) {
        if (first_error == Errc::ok) first_error = posted;
        ++finished;
        --in_flight;
      }
    }
    // Wake when another request may start, or when all are done.
    changed.wait(lock, [&] {
      return (started < args.count && in_flight < args.inflight) || finished == args.count;
    });
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  if (args.count > 1) {
    std::sort(latencies_us.begin(), latencies_us.end());
    // "-" when no reply came at all (every request refused before it left).
    auto at = [&](double q) -> std::string {
      if (latencies_us.empty()) return "-";
      char text[32];
      std::snprintf(text, sizeof text, "%.0fus",
                    latencies_us[static_cast<std::size_t>(q * (latencies_us.size() - 1))]);
      return text;
    };
    std::printf("requests=%zu inflight=%zu seconds=%.3f rate=%.0f/s p50=%s p99=%s first_error=%s\n",
                args.count, args.inflight, seconds, static_cast<double>(args.count) / seconds,
                at(0.5).c_str(), at(0.99).c_str(), std::string(errc_name(first_error)).c_str());
  }
  return exit_for(first_error);
}

// What the stream's callbacks share with run_stream. Owned jointly, so a callback that runs
// after run_stream gave up (the node stops later) still writes into live memory.
struct StreamProgress {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t replies = 0;
  std::size_t writables = 0;
  bool held = false;  // a reply is deferred, waiting for the slow reader
  std::optional<Errc> ended;
  std::string end_message;
};

int run_stream(io::EventNode& node, const Args& args, std::uint16_t handler,
               const std::vector<std::string>& messages) {
  const auto progress = std::make_shared<StreamProgress>();
  io::StreamCallbacks callbacks;
  const bool slow = args.reply_delay_us > 0;
  callbacks.on_message = [progress, slow](io::StreamSession& session, Bytes message) {
    std::printf("reply: %.*s\n", static_cast<int>(message.size()),
                reinterpret_cast<const char*>(message.data()));
    // A slow reader: the reply is kept (its credit withheld) until the reader thread
    // consumes it; the loop thread goes on sending meanwhile.
    if (slow) session.defer();
    std::lock_guard guard(progress->mutex);
    ++progress->replies;
    progress->held = slow;
    progress->changed.notify_all();
  };
  callbacks.on_writable = [progress](io::StreamSession&) {
    std::lock_guard guard(progress->mutex);
    ++progress->writables;
    progress->changed.notify_all();
  };
  callbacks.on_end = [progress](io::StreamSession&, Errc result, std::string_view why) {
    std::lock_guard guard(progress->mutex);
    progress->ended = result;
    progress->end_message = std::string(why);
    progress->changed.notify_all();
  };
  io::StreamSession session = node.open_stream(
      args.peer, handler, {}, nullptr, true, StreamWindow{64, 1 << 20}, args.timeout_ms, callbacks);
  const auto wait_limit = std::chrono::seconds(30);
  // The slow reader: releases each deferred reply after reply_delay_us.
  std::jthread reader;
  if (slow) {
    reader = std::jthread([progress, session, delay = args.reply_delay_us](std::stop_token stop) {
      io::StreamSession reading = session;
      while (!stop.stop_requested()) {
        std::unique_lock lock(progress->mutex);
        progress->changed.wait_for(lock, std::chrono::milliseconds(10),
                                   [&] { return progress->held || progress->ended; });
        if (progress->ended) return;
        if (!progress->held) continue;
        progress->held = false;
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(delay));
        while (reading.consume() == Errc::queue_full && !stop.stop_requested())
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  // Every message goes out: queue_full (the session's send queue or the node's command queue
  // full) waits for on_writable, which follows either way; any other refusal ends the run
  // with that error.
  for (const std::string& message : messages) {
    while (true) {
      std::unique_lock lock(progress->mutex);
      const std::size_t writables = progress->writables;
      lock.unlock();
      const Errc written = session.write(as_bytes(message));
      if (written == Errc::ok) break;
      if (written != Errc::queue_full) {
        std::fprintf(stderr, "weft-call: stream write failed: %s\n",
                     std::string(errc_name(written)).c_str());
        session.cancel();
        return exit_for(written);
      }
      lock.lock();
      if (!progress->changed.wait_for(lock, wait_limit, [&] {
            return progress->writables > writables || progress->ended.has_value();
          })) {
        std::fprintf(stderr, "weft-call: stream stalled: no room to write for 30 s\n");
        lock.unlock();
        session.cancel();
        return exit_for(Errc::deadline_exceeded);
      }
      if (progress->ended) break;
    }
  }
  // A full command queue refuses the close for now (nothing closed): the loop takes the
  // queue within a turn, so try again shortly.
  while (session.close() == Errc::queue_full)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::unique_lock lock(progress->mutex);
  if (!progress->changed.wait_for(lock, wait_limit, [&] { return progress->ended.has_value(); })) {
    std::fprintf(stderr, "weft-call: the stream did not end within 30 s\n");
    lock.unlock();
    session.cancel();
    return exit_for(Errc::deadline_exceeded);
  }
  std::printf("stream ended: %s %s\n", std::string(errc_name(*progress->ended)).c_str(),
              cli::printable(progress->end_message).c_str());
  if (*progress->ended != Errc::ok) return exit_for(*progress->ended);
  if (progress->replies != messages.size()) {
    std::fprintf(stderr, "weft-call: %zu of %zu replies missing\n",
                 messages.size() - progress->replies, messages.size());
    return kExitIncomplete;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli::open_missing_standard_fds();  // before any file is opened (file_io.hpp)
  if (argc > 1 && std::string_view(argv[1]) == "stats") {
    const int status = cli::run_stats(argc - 2, argv + 2);
    return cli::stdout_written("weft-call stats") ? status : kExitOutputFailed;
  }
  Args args;
  if (std::optional<int> stop = parse(argc, argv, args)) return *stop;
  const std::string& action = args.action[0];
  if (action == "request" && args.action.size() != 3) return usage("request HANDLER PAYLOAD");
  if (action == "stream" && args.action.size() < 3) return usage("stream HANDLER MESSAGE...");
  std::vector<cli::ObjectJob> jobs;
  std::vector<std::string> unreadable;  // files of the directory that could not be read
  if (action == "objects" || action == "bundle") {
    std::size_t count = 0;
    std::uint64_t size = 0;
    if (args.action.size() == 3 && args.action[1] == "dir") {
      auto listed = cli::jobs_from_dir(args.action[2], unreadable);
      if (!listed) return usage("cannot read the directory");
      jobs = std::move(*listed);
      for (const std::string& line : unreadable)
        std::fprintf(stderr, "weft-call: not sent, cannot read %s\n", line.c_str());
    } else if (args.action.size() == 4 && args.action[1] == "gen" &&
               number(args.action[2], count) && number(args.action[3], size)) {
      jobs = cli::generated_jobs(count, size);
    } else {
      return usage("objects|bundle dir DIR | objects|bundle gen N BYTES");
    }
  } else if (action != "request" && action != "stream" && action != "ping") {
    return usage("unknown action");
  }
  std::uint16_t handler = 1;
  if (action != "ping" && action != "objects" && action != "bundle" &&
      !number(args.action[1], handler))
    return usage("bad HANDLER");

  io::EventNode node(args.options);
  if (const Errc started = node.start(); started != Errc::ok) {
    std::fprintf(stderr, "weft-call: the node could not start (%s)\n",
                 std::string(errc_name(started)).c_str());
    return kExitStartFailed;
  }
  // The peer it acts on: the last --peer (a bundle waits for the others below).
  if (!wait_connected(node, args.connect_ms, args.peer)) {
    std::fprintf(stderr, "weft-call: %s not reachable within %lld ms\n", args.peer.c_str(),
                 static_cast<long long>(args.connect_ms));
    return kExitUnreachable;
  }
  int status = 0;
  if (action == "request") {
    status = run_requests(node, args, handler, args.action[2]);
  } else if (action == "objects") {
    const ObjectStreamOptions options{args.lz4 ? ObjectCompression::lz4 : ObjectCompression::none};
    status = exit_for(cli::send_objects(
        node, args.peer, jobs, args.inflight_given ? args.inflight : 16, args.retries, options));
  } else if (action == "bundle") {
    // A peer still down goes on without it: its replicas end on their own (disconnected
    // after object_resume_timeout_ms), each in its object's line.
    wait_connected(node, args.connect_ms, "");
    const cli::BundleRun run{args.multiplier, args.inflight_given ? args.inflight : 16};
    status = exit_for(cli::send_bundle(node, jobs, run));
  } else if (action == "stream") {
    status = run_stream(node, args, handler, {args.action.begin() + 2, args.action.end()});
  } else {
    const auto sent = Clock::now();
    const io::Reply reply = node.request(args.peer, 1, {}, args.timeout_ms).get();
    std::printf("ping %s: %s in %.0f us\n", args.peer.c_str(),
                std::string(errc_name(reply.error)).c_str(), micros(Clock::now() - sent));
    status = exit_for(reply.error);
  }
  node.stop();
  // Files left out are a failure of the run too, even when every object sent arrived.
  if (status == 0 && !unreadable.empty()) status = exit_for(Errc::invalid_argument);
  // Output lost (a full disk) fails a run that succeeded; a failed run keeps its status.
  if (!cli::stdout_written("weft-call") && status == 0) status = kExitOutputFailed;
  return status;
}
