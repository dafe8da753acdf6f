// weft-load: the fault harness's workload. Joins the cluster as a node, keeps a seeded mix
// of calls, streams and object streams (object_load.cpp) in flight against every weft-node
// until SIGUSR1, then waits for them to end and probes every node (and, with
// --probe-relays, every pair of nodes through the relay handler). Every operation's start
// and end go to the history file as JSON lines (docs/CHAOS.md lists the records); the
// checker, not this program, judges them.
//
//   weft-load --name L --listen HOST:PORT --peer N=HOST:PORT... --history FILE --seed S
//             (--key FILE --keyring FILE | --cluster-key-file FILE)
//             [--tls-dir DIR [--tls-name NAME] | --tls-ca F --tls-cert F --tls-key F]
//             [--inflight K] [--rate OPS_PER_S] [--max-bytes B] [--stream-max-bytes B]
//             [--probe-relays]
//             [--probe-limit-ms T] [--ping-interval-ms T] [--stream-ping-ms T]
//             [--stream-silence-ms T] [--object-resume-ms T] [--members FILE]
//
// Credentials and TLS as weft-node takes them (examples/credentials.hpp, tls_options.hpp;
// with TLS the credentials are optional: the certificate then names the node). With --members, FILE
// lists the nodes as NAME=HOST:PORT lines (with the --peer ones, the nodes it starts with);
// on SIGHUP it reads FILE again and makes its peers exactly those (EventNode::remove_peer /
// add_peer, examples/membership_file.hpp), writes member_removed and member_added records,
// and from then on draws targets from the nodes it lists.
//
// It prints "ready" on stdout once every node is connected (or after 20 s), and exits 0
// after writing its "done" record; 1 when a call did not end within its bound.
#include <signal.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "../../examples/cli_common.hpp"
#include "../../examples/membership_file.hpp"
#include "../../examples/tls_options.hpp"
#include "jsonl.hpp"
#include "load_common.hpp"
#include "object_load.hpp"
#include "payload.hpp"

namespace {

using namespace weft;
using chaos::Clock;
using chaos::History;
using chaos::InFlight;

using namespace cli::handlers;

struct Options {
  io::EventNodeOptions node;
  std::vector<std::string> nodes;
  std::string history_path;
  std::uint64_t seed = 1;
  std::size_t inflight = 12;
  double rate_per_s = 150;
  std::size_t max_bytes = 4 << 20;
  bool probe_relays = false;
  std::size_t stream_max_bytes = chaos::kStreamMessageMaxBytes;  // a stream message's largest size
  std::int64_t probe_limit_ms = 30'000;
  std::string members_path;
  std::vector<io::PeerAddress> fixed_peers;  // --peer's: they stay whatever the file says
  cli::CredentialFiles credentials;
  cli::TlsOptionFiles tls;
};

// Consumes deferred stream messages one at a time, every kSlowReadInterval: a reader
// slower than the node's echo, so back-pressure has to reach the node's handler.
class SlowReader {
 public:
  static constexpr auto kSlowReadInterval = std::chrono::microseconds(200);
  SlowReader() : thread_([this] { run(); }) {}
  ~SlowReader() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  SlowReader(const SlowReader&) = delete;
  SlowReader& operator=(const SlowReader&) = delete;

  void later(io::StreamSession session) {
    std::lock_guard lock(mutex_);
    waiting_.push_back(std::move(session));
    wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (stopping_) break;
      io::StreamSession session = std::move(waiting_.front());
      waiting_.pop_front();
      lock.unlock();
      std::this_thread::sleep_for(kSlowReadInterval);
      // queue_full: the loop's command queue is full; try again after the others.
      if (session.consume() == Errc::queue_full) later(std::move(session));
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<io::StreamSession> waiting_;
  bool stopping_ = false;
  std::thread thread_;
};

class Driver {
 public:
  Driver(Options options, io::EventNode& node, History& history)
      : options_(std::move(options)),
        name_(options_.node.config.name),
        node_(node),
        history_(history),
        random_(options_.seed),
        objects_(node, name_, history, in_flight_) {}

  // Starts one operation of a kind drawn from the mix.
  void start_one() {
    const std::int64_t op = next_op_++;
    const std::string& target = pick(options_.nodes);
    const int roll = uniform(0, 99);
    if (roll < 34) return echo(op, target, uniform(1, 4096));
    if (roll < 44) return echo(op, target, uniform(16 << 10, 256 << 10));
    if (roll < 47) return echo(op, target, uniform(1 << 20, static_cast<int>(options_.max_bytes)));
    if (roll < 55) return slow(op, target, "slow", uniform(10, 300), 5'000);
    if (roll < 61) return slow(op, target, "deadline", 3'000, uniform(100, 600));
    if (roll < 67) return cancel(op, target);
    if (roll < 72) return fail(op, target);
    if (roll < 82) return relay(op, target, other_than(target), uniform(1, 64 << 10), false);
    if (roll < 93) return stream(op, target, uniform(1, 40), options_.stream_max_bytes, false);
    if (roll < 94) return stream(op, target, 5'000, 64, true);
    return objects_.start(op, target, random_);
  }

  // Fires the cancels (and object stream stops) that are due.
  void cancel_due() {
    objects_.stop_due();
    const auto now = Clock::now();
    while (!cancels_.empty() && cancels_.begin()->first <= now) {
      auto [op, handle] = cancels_.begin()->second;
      cancels_.erase(cancels_.begin());
      history_.write(record(op, "cancel").add("result", errc_name(handle.cancel())));
    }
  }
  bool cancels_pending() const { return !cancels_.empty() || objects_.stops_pending(); }
  bool objects_ok() const { return objects_.ok(); }

  // After the load: every node answers an echo (and every pair a relay), retried until
  // it works or probe_limit_ms passes. Returns the number of probes that never worked.
  int probe() {
    const auto until = Clock::now() + std::chrono::milliseconds(options_.probe_limit_ms);
    int failed = 0;
    for (const std::string& target : options_.nodes) {
      failed += probe_one(target, "", until) ? 0 : 1;
      if (!options_.probe_relays) continue;
      for (const std::string& other : options_.nodes) {
        if (other != target) failed += probe_one(other, target, until) ? 0 : 1;
      }
    }
    return failed;
  }

  // The nodes operations are drawn from (and probed) from now on.
  void set_nodes(std::vector<std::string> nodes) { options_.nodes = std::move(nodes); }

  InFlight& in_flight() { return in_flight_; }
  std::int64_t ops() const { return next_op_; }

 private:
  int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
  const std::string& pick(const std::vector<std::string>& from) {
    return from[static_cast<std::size_t>(uniform(0, static_cast<int>(from.size()) - 1))];
  }
  std::string other_than(const std::string& node) {
    if (options_.nodes.size() < 2) return node;
    for (;;) {
      const std::string& other = pick(options_.nodes);
      if (other != node) return other;
    }
  }
  chaos::JsonLine record(std::int64_t op, std::string_view event) const {
    chaos::JsonLine line;
    line.add("proc", name_).add("op", op).add("ev", event);
    return line;
  }
  chaos::JsonLine invoke(std::int64_t op, std::string_view kind, std::string_view target,
                         std::int64_t timeout_ms) const {
    return record(op, "invoke")
        .add("kind", kind)
        .add("target", target)
        .add("timeout_ms", timeout_ms);
  }

  // The callback that records a call's end, exactly as it arrived.
  io::ReplyCallback ender(std::int64_t op) {
    return [this, op](io::Reply&& reply) {
      chaos::JsonLine line = record(op, "end").add("error", errc_name(reply.error));
      if (reply.error == Errc::ok) {
        line.add("bytes", static_cast<std::int64_t>(reply.payload.size()))
            .add("got", chaos::digest(reply.payload));
      } else {
        const std::size_t shown = std::min<std::size_t>(reply.payload.size(), 200);
        line.add("message",
                 std::string_view(reinterpret_cast<const char*>(reply.payload.data()), shown));
      }
      history_.write(std::move(line));
      in_flight_.end();
    };
  }

  // Hands a request to the node; a refusal is the call's end, recorded as such.
  void send(std::int64_t op, std::string_view target, std::uint16_t handler, Payload payload,
            std::int64_t timeout_ms, io::CallHandle* handle = nullptr) {
    in_flight_.begin();
    const Errc posted =
        node_.request(target, handler, std::move(payload), timeout_ms, ender(op), {}, handle);
    if (posted != Errc::ok) {
      history_.write(record(op, "end").add("error", errc_name(posted)).add("refused", 1));
      in_flight_.end();
    }
  }

  void echo(std::int64_t op, const std::string& target, int size) {
    history_.write(invoke(op, "echo", target, 10'000).add("bytes", size));
    send(op, target, kEcho,
         chaos::payload_bytes(chaos::payload_key(name_, op, 0), static_cast<std::size_t>(size)),
         10'000);
  }

  void slow(std::int64_t op, const std::string& target, std::string_view kind, int delay_ms,
            std::int64_t timeout_ms) {
    history_.write(invoke(op, kind, target, timeout_ms).add("delay_ms", delay_ms));
    const std::string delay = std::to_string(delay_ms);
    send(op, target, kSlowEcho, std::vector<std::uint8_t>(delay.begin(), delay.end()), timeout_ms);
  }

  void cancel(std::int64_t op, const std::string& target) {
    const int after_ms = uniform(20, 300);
    history_.write(invoke(op, "cancel", target, 10'000)
                       .add("delay_ms", 5'000)
                       .add("cancel_after_ms", after_ms));
    io::CallHandle handle;
    const std::string delay = "5000";
    send(op, target, kSlowEcho, std::vector<std::uint8_t>(delay.begin(), delay.end()), 10'000,
         &handle);
    cancels_.emplace(Clock::now() + std::chrono::milliseconds(after_ms),
                     std::pair<std::int64_t, io::CallHandle>(op, handle));
  }

  void fail(std::int64_t op, const std::string& target) {
    history_.write(invoke(op, "fail", target, 5'000));
    send(op, target, kFail, std::vector<std::uint8_t>{'x'}, 5'000);
  }

  // Through `via` to `target`'s echo.
  void relay(std::int64_t op, const std::string& via, const std::string& target, int size,
             bool probe) {
    if (!probe) {
      history_.write(invoke(op, "relay", target, 6'000).add("via", via).add("bytes", size));
    }
    const std::string header = target + " 4000\n";
    std::vector<std::uint8_t> payload(header.begin(), header.end());
    const auto body =
        chaos::payload_bytes(chaos::payload_key(name_, op, 0), static_cast<std::size_t>(size));
    payload.insert(payload.end(), body.begin(), body.end());
    send(op, via, kRelay, std::move(payload), 6'000);
  }

  // A stream of numbered messages, echoed. With `slow_reader` this side defers every echo
  // and a reader thread consumes them at kSlowReadInterval: the node's echo handler must
  // hold back (its send queue fills) instead of dropping any.
  void stream(std::int64_t op, const std::string& target, int messages, std::size_t max_bytes,
              bool slow_reader) {
    const std::int64_t timeout_ms = slow_reader ? 40'000 : 20'000;
    history_.write(invoke(op, "stream", target, timeout_ms)
                       .add("msgs", messages)
                       .add("max_msg_bytes", static_cast<std::int64_t>(max_bytes))
                       .add("slow_reader", slow_reader ? 1 : 0));
    in_flight_.begin();
    auto received = std::make_shared<std::int64_t>(0);  // loop thread only
    auto writer = std::make_shared<StreamWriter>();
    writer->total = messages;
    writer->max_bytes = max_bytes;
    io::StreamCallbacks callbacks;
    callbacks.on_message = [this, op, received, slow_reader](io::StreamSession& session,
                                                             Bytes message) {
      history_.write(record(op, "msg")
                         .add("seq", (*received)++)
                         .add("bytes", static_cast<std::int64_t>(message.size()))
                         .add("got", chaos::digest(message)));
      if (slow_reader && session.defer() == Errc::ok) slow_reader_.later(session);
    };
    callbacks.on_writable = [this, op, writer](io::StreamSession& session) {
      pump(op, *writer, session);
    };
    callbacks.on_end = [this, op, received](io::StreamSession&, Errc error,
                                            std::string_view message) {
      history_.write(record(op, "end")
                         .add("error", errc_name(error))
                         .add("msgs", *received)
                         .add("message", message.substr(0, 200)));
      in_flight_.end();
    };
    io::StreamSession session =
        node_.open_stream(target, kStreamEcho, "", nullptr, true, StreamWindow{64, 1 << 20},
                          timeout_ms, std::move(callbacks));
    pump(op, *writer, session);
  }

  // What a stream has still to write; pump runs from main and from on_writable.
  struct StreamWriter {
    std::mutex mutex;
    int next = 0;
    int total = 0;
    std::size_t max_bytes = 0;
  };

  // Writes until the session's queue is full (on_writable calls again) or all are written.
  void pump(std::int64_t op, StreamWriter& writer, io::StreamSession& session) {
    std::lock_guard lock(writer.mutex);
    while (writer.next < writer.total) {
      const Errc written =
          session.write(chaos::stream_message(name_, op, writer.next, writer.max_bytes));
      if (written == Errc::queue_full) return;
      if (written != Errc::ok) {
        // Recorded for the checker: after the stream ended only not_found / stream_closed
        // may come back. The stream is canceled so that it ends now either way.
        history_.write(
            record(op, "write_refused").add("seq", writer.next).add("error", errc_name(written)));
        session.cancel();
        writer.next = writer.total + 1;
        return;
      }
      ++writer.next;
    }
    if (writer.next == writer.total) {
      session.close();
      ++writer.next;
    }
  }

  // One probe: retried every 200 ms until it answers or `until` passes. `via` empty: an
  // echo straight to `target`.
  bool probe_one(const std::string& target, const std::string& via, Clock::time_point until) {
    const std::string payload = "probe " + target;
    for (int attempt = 1;; ++attempt) {
      std::future<io::Reply> pending =
          via.empty() ? node_.request(target, kEcho, as_bytes(payload), 1'000)
                      : node_.request(via, kRelay, as_bytes(target + " 1000\n" + payload), 2'000);
      // The call's own deadline ends it; waiting longer means a reply was lost.
      io::Reply reply;
      if (pending.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
        reply = pending.get();
      } else {
        reply.error = Errc::not_found;  // never answered: reported as such
        history_.write(chaos::JsonLine()
                           .add("proc", name_)
                           .add("ev", "probe_lost")
                           .add("target", target)
                           .add("via", via));
      }
      const bool answered = reply.error == Errc::ok &&
                            std::string(reply.payload.begin(), reply.payload.end()) == payload;
      if (answered || Clock::now() >= until) {
        history_.write(chaos::JsonLine()
                           .add("proc", name_)
                           .add("ev", "probe")
                           .add("target", target)
                           .add("via", via)
                           .add("result", answered ? "ok" : errc_name(reply.error))
                           .add("attempts", attempt));
        return answered;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  Options options_;
  std::string name_;
  io::EventNode& node_;
  History& history_;
  std::mt19937_64 random_;
  std::int64_t next_op_ = 0;
  InFlight in_flight_;
  std::multimap<Clock::time_point, std::pair<std::int64_t, io::CallHandle>> cancels_;
  SlowReader slow_reader_;
  chaos::ObjectLoad objects_;  // after in_flight_, which it counts in
};

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-load: %s\n"
               "usage: weft-load --name L --listen HOST:PORT --peer N=HOST:PORT...\n"
               "                 --history FILE --seed S [--inflight K] [--rate OPS_PER_S]\n"
               "                 (--key FILE --keyring FILE | --cluster-key-file FILE)\n"
               "                 [--tls-dir DIR [--tls-name NAME]\n"
               "                  | --tls-ca FILE --tls-cert FILE --tls-key FILE]\n"
               "                 [--max-bytes B] [--stream-max-bytes B] [--probe-relays]\n"
               "                 [--probe-limit-ms T]\n"
               "                 [--ping-interval-ms T] [--stream-ping-ms T]\n"
               "                 [--stream-silence-ms T] [--object-resume-ms T]\n",
               why);
  return 2;
}

using cli::number;

std::optional<int> parse(int argc, char** argv, Options& options) {
  auto& timeouts = options.node.config.timeouts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    const auto value = [&] { return std::string_view(argv[++i]); };
    if (arg == "--name" && has_value) {
      options.node.config.name = value();
    } else if (arg == "--listen" && has_value) {
      const auto address = cli::parse_host_port(value());
      if (!address) return usage("bad --listen");
      options.node.listen_host = address->host;
      options.node.listen_port = address->port;
      options.node.source_host = address->host;
    } else if (arg == "--peer" && has_value) {
      const auto peer = cli::parse_peer(value());
      if (!peer) return usage("bad --peer");
      options.nodes.push_back(peer->name);
      options.node.config.peers.push_back(peer->name);
      options.node.addresses.push_back(*peer);
      options.fixed_peers.push_back(*peer);
    } else if (cli::is_credential_option(arg) && has_value) {
      cli::set_credential_option(options.credentials, arg, std::string(value()));
    } else if (cli::is_tls_option(arg) && has_value) {
      cli::set_tls_option(options.tls, arg, std::string(value()));
    } else if (arg == "--history" && has_value) {
      options.history_path = value();
    } else if (arg == "--seed" && has_value) {
      if (!number(value(), options.seed)) return usage("bad --seed");
    } else if (arg == "--inflight" && has_value) {
      if (!number(value(), options.inflight) || options.inflight == 0)
        return usage("bad --inflight");
    } else if (arg == "--rate" && has_value) {
      std::int64_t rate = 0;
      if (!number(value(), rate) || rate <= 0) return usage("bad --rate");
      options.rate_per_s = static_cast<double>(rate);
    } else if (arg == "--max-bytes" && has_value) {
      if (!number(value(), options.max_bytes) || options.max_bytes < (1 << 20) ||
          options.max_bytes > (64 << 20))
        return usage("bad --max-bytes (1 MiB to 64 MiB, the node's max_message_bytes)");
    } else if (arg == "--stream-max-bytes" && has_value) {
      if (!number(value(), options.stream_max_bytes) || options.stream_max_bytes == 0 ||
          options.stream_max_bytes > (1 << 20))
        return usage("bad --stream-max-bytes (1 to 1 MiB)");
    } else if (arg == "--members" && has_value) {
      options.members_path = value();
    } else if (arg == "--probe-relays") {
      options.probe_relays = true;
    } else if (arg == "--probe-limit-ms" && has_value) {
      if (!number(value(), options.probe_limit_ms)) return usage("bad --probe-limit-ms");
    } else if (arg == "--ping-interval-ms" && has_value) {
      if (!number(value(), timeouts.ping_interval_ms)) return usage("bad --ping-interval-ms");
    } else if (arg == "--stream-ping-ms" && has_value) {
      if (!number(value(), timeouts.stream_ping_interval_ms)) return usage("bad --stream-ping-ms");
    } else if (arg == "--stream-silence-ms" && has_value) {
      if (!number(value(), timeouts.stream_silence_timeout_ms))
        return usage("bad --stream-silence-ms");
    } else if (arg == "--object-resume-ms" && has_value) {
      if (!number(value(), timeouts.object_resume_timeout_ms) ||
          timeouts.object_resume_timeout_ms <= 0)
        return usage("bad --object-resume-ms");
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (!options.members_path.empty()) {
    std::string error;
    std::vector<io::PeerAddress> listed;
    if (!cli::start_members(options.members_path, options.node, listed, error))
      return usage(error.c_str());
    for (const io::PeerAddress& peer : listed)
      options.nodes.push_back(peer.name);
  }
  if (options.node.config.name.empty() || options.nodes.empty() || options.history_path.empty())
    return usage("--name, --peer (or --members) and --history are required");
  if (const std::string why = cli::security_choice_error(options.credentials, options.tls);
      !why.empty())
    return usage(why.c_str());
  if (!cli::start_security("weft-load", options.credentials, options.tls, options.nodes,
                           options.node))
    return 2;
  options.node.log = cli::stderr_log(options.node.config.name, false);
  return std::nullopt;
}

// Waits until every node is connected, at most `limit`.
bool wait_connected(io::EventNode& node, std::chrono::milliseconds limit) {
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    const auto peers = node.peers();
    if (std::all_of(peers.begin(), peers.end(), [](const io::PeerStatus& peer) {
          return peer.stats.state == PeerState::established ||
                 peer.stats.state == PeerState::removed;
        })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// SIGHUP: the peers (and the nodes operations go to) become --peer's and the members
// file's. Records each change in the history.
void reload_members(io::EventNode& node, Driver& driver, const Options& options,
                    std::vector<io::PeerAddress>& current, History& history) {
  const std::string& self = options.node.config.name;
  std::string error;
  const auto changes =
      cli::reload_members(node, options.members_path, self, options.fixed_peers, current, error);
  if (!changes) {
    std::fprintf(stderr, "weft-load %s: SIGHUP: %s; peers unchanged\n", self.c_str(),
                 error.c_str());
    return;
  }
  for (const cli::MemberChange& change : *changes) {
    history.write(chaos::JsonLine()
                      .add("proc", self)
                      .add("ev", change.added ? "member_added" : "member_removed")
                      .add("peer", change.name)
                      .add("result", errc_name(change.result)));
  }
  std::vector<std::string> nodes;
  for (const io::PeerAddress& peer : current)
    nodes.push_back(peer.name);
  driver.set_nodes(std::move(nodes));
}

bool signal_pending(const sigset_t& signals, int& which) {
  timespec zero{};
  which = sigtimedwait(&signals, nullptr, &zero);
  return which > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const auto failed = parse(argc, argv, options)) return *failed;
  // SIGUSR1 ends the load, SIGTERM aborts, SIGHUP reloads --members: all polled by main.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // the members file changed
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  History history(options.history_path);
  if (!history.ok()) return usage("cannot open the history file");
  io::EventNode node(options.node);
  if (node.start() != Errc::ok) return 1;
  const bool connected = wait_connected(node, std::chrono::seconds(20));
  history.write(chaos::JsonLine()
                    .add("proc", options.node.config.name)
                    .add("ev", "ready")
                    .add("all_connected", connected ? 1 : 0));
  std::printf("ready\n");
  std::fflush(stdout);

  Driver driver(options, node, history);
  if (!driver.objects_ok()) {
    node.stop();
    return usage("cannot make the scratch file of objects sent from a file");
  }
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / options.rate_per_s));
  auto next_start = Clock::now();
  int signal_number = 0;
  std::vector<io::PeerAddress> members = options.node.addresses;
  // A SIGHUP is handled here and the load goes on; SIGUSR1 and SIGTERM end it.
  const auto ending_signal = [&] {
    while (signal_pending(signals, signal_number)) {
      if (signal_number != SIGHUP) return true;
      reload_members(node, driver, options, members, history);
    }
    return false;
  };
  while (!ending_signal()) {
    driver.cancel_due();
    if (Clock::now() >= next_start &&
        driver.in_flight().wait_below(options.inflight,
                                      Clock::now() + std::chrono::milliseconds(5))) {
      driver.start_one();
      next_start += interval;
      if (next_start < Clock::now() - std::chrono::seconds(1)) next_start = Clock::now();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const char* name = options.node.config.name.c_str();
  if (signal_number == SIGTERM) {
    std::fprintf(stderr, "weft-load %s: aborted by SIGTERM\n", name);
    node.stop();  // before the driver goes: its callbacks run with disconnected
    return 1;
  }
  history.write(chaos::JsonLine().add("proc", name).add("ev", "load_end").add("ops", driver.ops()));
  // Every call has a deadline of at most 20 s: all must have ended within 30 s.
  const auto drain_until = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < drain_until &&
         (driver.in_flight().count() > 0 || driver.cancels_pending())) {
    if (ending_signal() && signal_number == SIGTERM) {
      std::fprintf(stderr, "weft-load %s: aborted by SIGTERM while draining\n", name);
      node.stop();
      return 1;
    }
    driver.cancel_due();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::size_t stuck = driver.in_flight().count();
  history.write(chaos::JsonLine()
                    .add("proc", name)
                    .add("ev", "drained")
                    .add("stuck", static_cast<std::int64_t>(stuck)));
  const int failed_probes = driver.probe();
  history.write(chaos::JsonLine()
                    .add("proc", name)
                    .add("ev", "done")
                    .add("ops", driver.ops())
                    .add("failed_probes", failed_probes));
  node.stop();
  return stuck == 0 ? 0 : 1;
}
