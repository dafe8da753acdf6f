// weft-node: runs one weft node on real sockets until SIGINT or SIGTERM (SIGPIPE is
// ignored: output whose reader went away is lost, the node goes on; a standard descriptor
// it was started without, `>&-`, is opened on /dev/null first, so no file takes its place).
//
//   weft-node --name N [--listen HOST:PORT] [--peer NAME=HOST:PORT ...] [--members FILE]
//             (--key FILE --keyring FILE | --cluster-key-file FILE)
//             [--tls-dir DIR [--tls-name NAME] | --tls-ca F --tls-cert F --tls-key F]
//             [--source HOST] [--events FILE] [--ping-interval-ms T]
//             [--stream-ping-ms T] [--stream-silence-ms T] [--object-resume-ms T]
//             [--store DIR] [--canary NAME] [--metrics HOST:PORT]
//             [--loop-scheduling inherit|batch] [--loop libevent|io_uring] [--verbose]
//
// Built-in handlers: 1 echo; 2 slow echo (answers after the number of milliseconds its whole
// payload gives, default 1000 for an empty one, at most an hour; fails with
// invalid_argument for a payload that is not such a number; gives up as soon as the caller
// cancels); 3 a stream that echoes every message; 4 relay (payload "PEER TIMEOUT_MS\n" then
// bytes: sends the bytes to PEER's echo and answers with its reply, or fails with
// remote_error "relay to PEER: <error>"; invalid_argument when the first line is not that);
// 5 fail (always answers remote_error "failed on purpose"). Object endpoint "objects":
// checks each object against the xxh3-64 its header carries (refusing it with bad_payload on
// a mismatch) and discards it, or with --store DIR writes it to DIR under its name (made
// safe: see object_cli.hpp), a file appearing only once the object is whole, verified and
// synced to disk (partial files a killed run left there are removed at start; one node per
// store directory); one line per object. It prints its peers' state
// changes (failed handshakes, which strangers cause at will, at most 10 a second and then a
// count of those not shown); --events appends them to FILE as JSON lines with CLOCK_MONOTONIC
// times, so a harness can line them up with other processes (a FIFO must have its reader
// already: one nobody reads is refused at start, exit 2). Text a peer chose (object
// names, reasons) is escaped: on stdout as \xNN (bytes below 0x20, from 0x7f, and '\'), in
// --events as \u00NN (bytes below 0x20 and from 0x7f: each string's code points are its
// bytes), so neither gains a line and every events line is valid JSON. --source makes outgoing
// connections from HOST (fault rules then tell nodes apart by address). --canary plants a defect on
// purpose, for the fault harness's self-test only (docs/CHAOS.md): corrupt_echo flips the last byte
// of every 50th echo; drop_stream_echo leaves every 20th stream message unechoed;
// drop_object takes every 20th object without recording its delivery, duplicate_object
// records every 20th delivery twice. --events also gets one object_delivered line per
// object the endpoint took (its sender's stream and number, size, xxh3-64).
//
// Membership at run time: --members FILE lists peers as NAME=HOST:PORT lines (with the
// --peer ones, the peers it starts with). On SIGHUP it reads FILE again and makes its peers
// exactly --peer's and FILE's: a name no longer listed is removed (its calls, streams and
// objects end with peer_removed; its connections are refused), a new one is added (a new
// relationship, connected by the dial rule). Each change is printed and, with --events,
// written as a member_removed / member_added line (detail: the result). A file that cannot
// be read whole changes nothing: not a regular file (a FIFO is refused, never waited on),
// over 1 MiB, a read error, its last line without a newline, or empty (list no members with
// a comment). Replace the file whole (write another and rename it over it): a file
// rewritten in place can be read cut at a line boundary, and the members not yet written
// would be removed. A name listed twice, or also given with --peer, is refused at start
// (exit 2) and on SIGHUP (nothing changes) alike. A peer moved to a host that does not resolve
// keeps its old address (reported as member_added invalid_argument). At start, a member of FILE
// whose host does not resolve is held back the same way (a warning on stderr, member_added
// invalid_argument in
// --events): the node starts without it and a later SIGHUP adds it once it resolves. A
// --peer whose host does not resolve is an error of the command line: the node does not
// start (exit 1, the reason on stderr). Each peer host is looked up once (the node is handed
// the address), and a SIGINT or SIGTERM that comes while --peer or member hosts are looked up
// (at start, or on SIGHUP) stops the node at once, however long DNS would take.
//
// Credentials (credentials.hpp; there is no default): --key and --keyring, this node's
// Ed25519 key and every node's public key (weft-keys makes them), or --cluster-key-file, a
// secret the cluster shares. On SIGHUP it reads them again, before the members file, and
// later handshakes use the new ones (connections up stay up); files that cannot be read or
// do not fit (the ring without this node, a short cluster key) keep the old keys, and the
// node says why.
//
// Loop: --loop picks the event loop (libevent, the default, or io_uring; see
// EventNodeOptions::loop_backend; WEFT_LOOP_BACKEND, when set, overrides it); --loop-scheduling
// batch runs the loop thread under SCHED_BATCH, for nodes that share cores (inherit, the default,
// keeps the process's policy; EventNodeOptions::loop_scheduling).
//
// Metrics (docs/METRICS.md): --metrics HOST:PORT serves every counter of the node in the
// Prometheus text format at http://HOST:PORT/metrics (EventNode::serve_metrics; port 0
// picks one, printed at start). `weft-call stats --metrics HOST:PORT` shows them live.
//
// TLS (tls_options.hpp, docs/TLS.md): --tls-dir DIR (ca.pem, NAME.crt, NAME.key as
// weft-certs writes them; NAME is --tls-name, default --name) or --tls-ca, --tls-cert and
// --tls-key make the node TLS-only. With TLS the credentials above are optional: without
// them the certificate alone names the node (CertificateAuth). Files that cannot be loaded
// exit 2 with the reason. On SIGHUP the TLS files are read again too (first of all) and
// connections opened later use them; files that cannot be loaded keep the old ones, and the
// node says why.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <variant>
#include <vector>

#include "cli_common.hpp"
#include "file_io.hpp"
#include "membership_file.hpp"
#include "object_cli.hpp"
#include "tls_options.hpp"
#include "weft/io/line_throttle.hpp"

namespace {

using namespace weft;

using namespace cli::handlers;

// Planted defects (--canary), so a harness can show it catches them.
enum class NodeCanary : std::uint8_t {
  none,
  corrupt_echo,
  drop_stream_echo,
  drop_object,
  duplicate_object
};

// Appends one JSON line per event to a file (from the loop thread and main: locked; flushed
// per line, since the process may be killed at any moment and the harness reads the file).
class EventLog {
 public:
  // Opens `path` to append (made if missing). A FIFO nobody reads is refused at once (a
  // blocking open would wait for a reader: the node hung before its signal loop); one with a
  // reader, such as a pipe to jq, is taken. Then failed_to_open() and error() say why.
  EventLog(const std::string& path, std::string name) : name_(std::move(name)) {
    if (path.empty()) return;
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
      error_ = errno == ENXIO ? "nothing reads it (a FIFO without a reader, or a socket)"
                              : std::strerror(errno);
      return;
    }
    if (::fcntl(fd, F_SETFL, O_APPEND) != 0 ||  // blocking again: lines are written whole
        (file_ = ::fdopen(fd, "a")) == nullptr) {
      error_ = std::strerror(errno);
      ::close(fd);
    }
  }
  ~EventLog() {
    if (file_) std::fclose(file_);
  }
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  bool failed_to_open(const std::string& path) const { return !path.empty() && !file_; }
  const std::string& error() const { return error_; }

  // Text as the inside of a JSON string whose code points are its bytes: '"' and '\\'
  // escaped, bytes below 0x20 and from 0x7f up as \u00NN, so every line is valid JSON (and
  // UTF-8) whatever a peer put in a name; Latin-1 decoding of the string gives the bytes back.
  static void append_json_text(std::string& line, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        line += {'\\', c};
      } else if (byte < 0x20 || byte >= 0x7f) {
        line += {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
      } else {
        line += c;
      }
    }
  }

  // A field of a line: text, or a number.
  struct Field {
    std::string_view key;
    std::variant<std::string_view, std::int64_t> value;
  };

  void write(std::string_view event, std::string_view peer = {}, std::string_view detail = {}) {
    std::vector<Field> fields;
    if (!peer.empty()) fields.push_back({"peer", peer});
    if (!detail.empty()) fields.push_back({"detail", detail});
    write_fields(event, fields);
  }

  void write_fields(std::string_view event, const std::vector<Field>& fields) {
    if (!file_) return;
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    std::string line = "{\"t_ns\":" + std::to_string(now_ns) + ",\"proc\":\"" + name_ +
                       "\",\"ev\":\"" + std::string(event) + "\"";
    for (const Field& field : fields) {
      line += ",\"" + std::string(field.key) + "\":";
      if (const auto* number = std::get_if<std::int64_t>(&field.value)) {
        line += std::to_string(*number);
        continue;
      }
      line += '"';
      append_json_text(line, std::get<std::string_view>(field.value));
      line += '"';
    }
    line += "}\n";
    std::lock_guard lock(mutex_);
    std::fputs(line.c_str(), file_);
    std::fflush(file_);
  }

 private:
  std::string name_;
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  std::string error_;  // why the file did not open
};

// Handler 4: forwards the bytes after "PEER TIMEOUT_MS\n" to PEER's echo. Node-to-node
// traffic for the fault harness: a fault between two nodes shows up in relayed calls.
void relay(io::EventNode& node, io::IncomingRequest&& request) {
  const std::string_view payload(reinterpret_cast<const char*>(request.payload.data()),
                                 request.payload.size());
  const std::size_t space = payload.find(' ');
  const std::size_t newline = payload.find('\n');
  std::int64_t timeout_ms = 0;
  // TIMEOUT_MS is the whole of what lies between the space and the newline ("10x" is not).
  if (space == payload.npos || newline == payload.npos || space > newline ||
      !cli::number(payload.substr(space + 1, newline - space - 1), timeout_ms) || timeout_ms < 0) {
    request.responder.fail(Errc::invalid_argument, "relay: expected \"PEER TIMEOUT_MS\\n\"");
    return;
  }
  const std::string peer(payload.substr(0, space));
  std::vector<std::uint8_t> body(request.payload.begin() + static_cast<std::ptrdiff_t>(newline) + 1,
                                 request.payload.end());
  io::Responder responder = request.responder;  // copies share one state
  const Errc posted = node.request(
      peer, kEcho, std::move(body), timeout_ms, [peer, responder](io::Reply&& reply) mutable {
        if (reply.error == Errc::ok) {
          responder.respond(std::move(reply.payload));
        } else {
          responder.fail(Errc::remote_error,
                         "relay to " + peer + ": " + std::string(errc_name(reply.error)));
        }
      });
  if (posted != Errc::ok) {
    request.responder.fail(Errc::remote_error,
                           "relay to " + peer + ": " + std::string(errc_name(posted)));
  }
}

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

  // The longest wait: a larger delay waits this long (the caller's deadline, 60 s unless it
  // chose one, ends the call first anyway).
  static constexpr std::int64_t kMaxDelayMs = 3'600'000;

  void add(io::IncomingRequest&& request) {
    // The whole payload is the delay in ms (empty: 1000); anything else ("10x", "-5") is
    // refused with invalid_argument, and a delay over kMaxDelayMs waits kMaxDelayMs.
    std::int64_t delay_ms = 1000;
    const std::string_view text(reinterpret_cast<const char*>(request.payload.data()),
                                request.payload.size());
    if (!text.empty() && (!cli::number(text, delay_ms) || delay_ms < 0)) {
      request.responder.fail(Errc::invalid_argument,
                             "slow echo: expected the delay as a number of ms");
      return;
    }
    delay_ms = std::min(delay_ms, kMaxDelayMs);
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
      // Idle, it sleeps until work arrives (an idle node costs nothing here); with work it
      // looks every 10 ms for answers due and callers that canceled.
      if (pending_.empty()) {
        wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      } else {
        wake_.wait_for(lock, std::chrono::milliseconds(10));
      }
      const auto now = std::chrono::steady_clock::now();
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->responder.canceled()) {
          std::printf("[%8.3f] slow echo: caller canceled, stopped early\n", cli::uptime_s());
          std::fflush(stdout);
          it = pending_.erase(it);
        } else if (now >= it->due) {
          // False with the request still live: the node's command queue was full, nothing
          // was sent; the next look (10 ms) tries again rather than leave the caller to its
          // deadline (false and canceled: the request ended meanwhile).
          if (it->responder.respond(it->payload) || it->responder.canceled()) {
            it = pending_.erase(it);
          } else {
            ++it;
          }
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

// The record of an object this node's application took, written before the object finishes
// (so before the sender's acknowledgement can leave): the fault harness matches it with the
// sender's completion. The sender names the object's stream and place in its header
// ("stream", "seq"); the core's own numbers are recorded too.
void record_delivery(EventLog& events, const io::IncomingObject& object, std::uint64_t bytes,
                     const std::string& digest) {
  std::string_view stream;
  std::int64_t seq = -1;
  for (const auto& [key, value] : object.header.attrs.custom) {
    if (key == "stream") stream = value;
    if (key == "seq" && !cli::number(value, seq)) seq = -1;
  }
  events.write_fields("object_delivered", {{"peer", object.peer},
                                           {"stream", stream},
                                           {"seq", seq},
                                           {"object", static_cast<std::int64_t>(object.object)},
                                           {"name", object.header.name},
                                           {"bytes", static_cast<std::int64_t>(bytes)},
                                           {"digest", digest}});
}

// Thrown by address_unless_stopped: a SIGINT or SIGTERM came while a lookup waited.
struct StoppedWhileResolving {
  int signal_number = 0;
};

// The address `host` resolves to (io::resolved_address), asked on a thread of its own while
// this thread, the one the stop signals go to, takes a SIGINT or SIGTERM that comes
// meanwhile and throws StoppedWhileResolving: a name can keep the resolver waiting for DNS for
// many seconds (its timeout times its attempts, per name), and a stop must not wait for that.
// The lookup is then left to finish alone (it touches only its own state). Its thread says it
// is done with a SIGUSR1 to this thread, blocked like the stop signals (and handled by none:
// a stray one only ends a wait early). Numeric hosts never wait for DNS and are read here.
// The node is handed the address, not the name, so it does not ask again.
std::optional<std::string> address_unless_stopped(const std::string& host) {
  if (host.find_first_not_of("0123456789.") == std::string::npos) {
    return io::resolved_address(host);
  }
  struct Lookup {
    std::string host;
    pthread_t asker;
    std::atomic<bool> done{false};
    std::optional<std::string> address;
  };
  auto lookup = std::make_shared<Lookup>();
  lookup->host = host;
  lookup->asker = pthread_self();
  try {
    std::thread([lookup] {
      lookup->address = io::resolved_address(lookup->host);
      lookup->done.store(true, std::memory_order_release);
      pthread_kill(lookup->asker, SIGUSR1);
    }).detach();
  } catch (const std::system_error&) {
    return io::resolved_address(host);  // no thread to spare: asked here, a stop waits
  }
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGINT);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGUSR1);
  const timespec longest{1, 0};  // the lookup's SIGUSR1 ends the wait; this bounds a lost one
  while (!lookup->done.load(std::memory_order_acquire)) {
    const int got = sigtimedwait(&waited, nullptr, &longest);
    if (got == SIGINT || got == SIGTERM) throw StoppedWhileResolving{got};
  }
  return lookup->address;
}

// SIGHUP: the peers become --peer's and the members file's (membership_file.hpp), when
// there is one.
void reload_members(io::EventNode& node, const std::string& self, const std::string& path,
                    const std::vector<io::PeerAddress>& fixed,
                    std::vector<io::PeerAddress>& current, EventLog& events) {
  if (path.empty()) return;
  std::string error;
  const auto changes =
      cli::reload_members(node, path, self, fixed, current, error, address_unless_stopped);
  if (!changes) {
    std::fprintf(stderr, "[%8.3f] %s: SIGHUP: %s; peers unchanged\n", cli::uptime_s(), self.c_str(),
                 error.c_str());
    return;
  }
  for (const cli::MemberChange& change : *changes) {
    const char* what = change.added ? "member_added" : "member_removed";
    events.write(what, change.name, errc_name(change.result));
    std::printf("[%8.3f] %s %s (%s)\n", cli::uptime_s(), what, change.name.c_str(),
                std::string(errc_name(change.result)).c_str());
  }
  std::fflush(stdout);
}

// SIGHUP: the credentials' files are read again; new ones apply to later handshakes, and
// close each live connection whose peer's handshake proof they no longer verify.
// Returns them (for their warnings), or nullopt when the old ones stay.
std::optional<cli::Credentials> reload_credentials(io::EventNode& node, const std::string& self,
                                                   const cli::CredentialFiles& files) {
  try {
    cli::Credentials credentials = cli::load_credentials(files, self);
    const Errc applied = node.set_authenticator(credentials.auth);
    if (applied != Errc::ok) throw std::runtime_error(std::string(errc_name(applied)));
    std::printf("[%8.3f] credentials reloaded\n", cli::uptime_s());
    std::fflush(stdout);
    return credentials;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "[%8.3f] %s: SIGHUP: %s; keys unchanged\n", cli::uptime_s(), self.c_str(),
                 error.what());
    return std::nullopt;
  }
}

// SIGHUP: the TLS files are read again; a new context applies to later connections.
void reload_tls(io::EventNode& node, const std::string& self, const cli::TlsOptionFiles& files) {
  if (!cli::tls_requested(files)) return;
  io::TlsContextResult loaded = io::TlsContext::load(cli::tls_paths(files, self));
  const bool read = loaded.ok();
  const Errc applied = read ? node.set_tls_context(std::move(loaded.context)) : Errc::ok;
  if (read && applied == Errc::ok) {
    std::printf("[%8.3f] TLS files reloaded\n", cli::uptime_s());
    std::fflush(stdout);
    return;
  }
  const std::string why = loaded.error ? loaded.error->message : std::string(errc_name(applied));
  std::fprintf(stderr, "[%8.3f] %s: SIGHUP: %s; TLS files unchanged\n", cli::uptime_s(),
               self.c_str(), why.c_str());
}

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-node: %s\n"
               "usage: weft-node --name N [--listen HOST:PORT] [--peer NAME=HOST:PORT ...]\n"
               "                 (--key FILE --keyring FILE | --cluster-key-file FILE)\n"
               "                 [--tls-dir DIR [--tls-name NAME]\n"
               "                  | --tls-ca FILE --tls-cert FILE --tls-key FILE]\n"
               "                 [--members FILE] [--source HOST] [--events FILE]\n"
               "                 [--ping-interval-ms T] [--stream-ping-ms T]\n"
               "                 [--stream-silence-ms T] [--object-resume-ms T]\n"
               "                 [--store DIR] [--canary NAME] [--metrics HOST:PORT]\n"
               "                 [--loop-scheduling inherit|batch] [--loop libevent|io_uring]\n"
               "                 [--verbose]\n"
               "%s%s",
               why, cli::kCredentialUsage, cli::kTlsUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals go to this thread only (sigwait below), not to the loop thread. Blocked first
  // of all: one that comes while the arguments, keys and TLS files are read waits, pending,
  // for the sigwait loop (a SIGHUP reloads, a SIGTERM stops) instead of killing the node
  // with its default action.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigset_t blocked = signals;
  sigaddset(&blocked, SIGUSR1);  // a member host's lookup says it is done (address_unless_stopped)
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  cli::open_missing_standard_fds();  // before any file is opened (file_io.hpp)
  // A node must outlive the reader of its output (a `| head` that ended, a log shipper being
  // restarted): a line written to a pipe without a reader then fails with EPIPE, which
  // printf ignores, instead of SIGPIPE ending the process mid-transfer. Before any thread.
  std::signal(SIGPIPE, SIG_IGN);
  io::EventNodeOptions options;
  cli::CredentialFiles credential_files;
  cli::TlsOptionFiles tls_files;
  bool verbose = false;
  std::string events_path;
  NodeCanary canary = NodeCanary::none;
  std::optional<std::string> store_dir;
  std::string members_path;
  std::optional<cli::HostPort> metrics_address;
  const auto positive = [](const char* text, std::int64_t& out) {
    return cli::number(text, out) && out > 0;
  };
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
    } else if (arg == "--members" && has_value) {
      members_path = argv[++i];
    } else if (cli::is_credential_option(arg) && has_value) {
      cli::set_credential_option(credential_files, arg, argv[++i]);
    } else if (cli::is_tls_option(arg) && has_value) {
      cli::set_tls_option(tls_files, arg, argv[++i]);
    } else if (arg == "--source" && has_value) {
      options.source_host = argv[++i];
    } else if (arg == "--events" && has_value) {
      events_path = argv[++i];
    } else if (arg == "--ping-interval-ms" && has_value) {
      if (!positive(argv[++i], options.config.timeouts.ping_interval_ms))
        return usage("bad --ping-interval-ms");
    } else if (arg == "--stream-ping-ms" && has_value) {
      if (!positive(argv[++i], options.config.timeouts.stream_ping_interval_ms))
        return usage("bad --stream-ping-ms");
    } else if (arg == "--stream-silence-ms" && has_value) {
      if (!positive(argv[++i], options.config.timeouts.stream_silence_timeout_ms))
        return usage("bad --stream-silence-ms");
    } else if (arg == "--object-resume-ms" && has_value) {
      if (!positive(argv[++i], options.config.timeouts.object_resume_timeout_ms))
        return usage("bad --object-resume-ms");
    } else if (arg == "--metrics" && has_value) {
      metrics_address = cli::parse_host_port(argv[++i]);
      if (!metrics_address) return usage("bad --metrics address, expected HOST:PORT");
    } else if (arg == "--loop-scheduling" && has_value) {
      const std::string_view policy = argv[++i];
      if (policy == "batch") {
        options.loop_scheduling = io::LoopScheduling::batch;
      } else if (policy != "inherit") {
        return usage("bad --loop-scheduling (inherit, batch)");
      }
    } else if (arg == "--loop" && has_value) {
      const std::optional<io::LoopBackend> loop = io::parse_loop_backend(argv[++i]);
      if (!loop) return usage("bad --loop (libevent, io_uring)");
      options.loop_backend = *loop;
    } else if (arg == "--store" && has_value) {
      store_dir = argv[++i];
    } else if (arg == "--canary" && has_value) {
      const std::string_view name = argv[++i];
      if (name == "corrupt_echo") {
        canary = NodeCanary::corrupt_echo;
      } else if (name == "drop_stream_echo") {
        canary = NodeCanary::drop_stream_echo;
      } else if (name == "drop_object") {
        canary = NodeCanary::drop_object;
      } else if (name == "duplicate_object") {
        canary = NodeCanary::duplicate_object;
      } else {
        return usage(
            "unknown --canary (corrupt_echo, drop_stream_echo, drop_object, duplicate_object)");
      }
    } else if (arg == "--verbose") {
      verbose = true;
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (options.config.name.empty()) return usage("--name is required");
  if (store_dir) {
    // Checked now: found later, every object delivered would fail one by one.
    std::error_code error;
    if (!std::filesystem::is_directory(*store_dir, error) ||
        ::access(store_dir->c_str(), W_OK | X_OK) != 0) {
      const std::string why = "--store " + *store_dir + ": not a directory this process can write";
      return usage(why.c_str());
    }
  }
  if (const std::string why = cli::security_choice_error(credential_files, tls_files); !why.empty())
    return usage(why.c_str());
  // The peers given with --peer stay; the file's come and go with it.
  const std::vector<io::PeerAddress> fixed_peers = options.addresses;
  std::vector<io::PeerAddress> members = fixed_peers;
  std::string members_error;
  std::vector<io::PeerAddress> unresolved;  // members whose host does not resolve (yet)
  try {
    if (!members_path.empty() && !cli::start_members(members_path, options, members, members_error,
                                                     &unresolved, address_unless_stopped)) {
      return usage(members_error.c_str());
    }
    // The --peer hosts too (the first entries): one that does not resolve is an error of the
    // command line, said now rather than asked again by start().
    for (std::size_t i = 0; i < fixed_peers.size(); ++i) {
      io::PeerAddress& peer = options.addresses[i];
      std::optional<std::string> address = address_unless_stopped(peer.host);
      if (!address) {
        std::fprintf(stderr, "weft-node: --peer %s=%s: the host does not resolve\n",
                     peer.name.c_str(), peer.host.c_str());
        return 1;
      }
      peer.host = std::move(*address);
    }
  } catch (const StoppedWhileResolving& stopped) {
    std::printf("[%8.3f] %s stopping (signal %d) while resolving peer hosts, before start\n",
                cli::uptime_s(), options.config.name.c_str(), stopped.signal_number);
    return 0;
  }
  for (const io::PeerAddress& peer : unresolved) {
    std::fprintf(stderr,
                 "[%8.3f] %s: %s: member %s held back: %s does not resolve (SIGHUP tries "
                 "again)\n",
                 cli::uptime_s(), options.config.name.c_str(), members_path.c_str(),
                 peer.name.c_str(), peer.host.c_str());
  }
  if (!cli::start_security("weft-node", credential_files, tls_files, options.config.peers, options))
    return 2;
  options.log = cli::stderr_log(options.config.name, verbose);

  EventLog events(events_path, options.config.name);
  if (events.failed_to_open(events_path)) {
    const std::string why = "cannot open the --events file " + events_path + ": " + events.error();
    return usage(why.c_str());
  }
  SlowEchoWorker slow;
  io::EventNode node(options);
  std::uint64_t echoes = 0;  // loop thread only
  node.handle(kEcho, "", [canary, &echoes](io::IncomingRequest&& request) {
    if (canary == NodeCanary::corrupt_echo && ++echoes % 50 == 0 && !request.payload.empty())
      request.payload.back() ^= 0x01;
    request.responder.respond(request.payload);
  });
  node.handle(kRelay, "",
              [&node](io::IncomingRequest&& request) { relay(node, std::move(request)); });
  node.handle(kFail, "", [](io::IncomingRequest&& request) {
    request.responder.fail(Errc::remote_error, "failed on purpose");
  });
  node.handle(kSlowEcho, "",
              [&slow](io::IncomingRequest&& request) { slow.add(std::move(request)); });
  node.handle_stream(kStreamEcho, "", StreamWindow{64, 1 << 20},
                     [canary](const io::IncomingStream&, io::StreamSession) {
                       // Back-pressure end to end: when this side's send queue is full the message
                       // is kept (defer: the caller's credit stops) and written again once
                       // on_writable says there is room. Loop thread only.
                       auto pending = std::make_shared<std::optional<std::vector<std::uint8_t>>>();
                       io::StreamCallbacks callbacks;
                       auto received = std::make_shared<std::uint64_t>(0);
                       callbacks.on_message = [pending, canary, received](
                                                  io::StreamSession& session, Bytes message) {
                         if (canary == NodeCanary::drop_stream_echo && ++*received % 20 == 0)
                           return;
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
  if (store_dir) {
    // The partial files of a run that died mid-object: this node is the store's one writer.
    if (const std::size_t removed = cli::remove_stale_partials(*store_dir); removed > 0) {
      std::printf("[%8.3f] %s: removed %zu partial files an earlier run left in %s\n",
                  cli::uptime_s(), options.config.name.c_str(), removed, store_dir->c_str());
    }
  }
  std::uint64_t delivered = 0;  // loop thread only
  node.handle_objects(cli::kObjectEndpoint, ObjectWindow{},
                      [&store_dir, &events, canary, &delivered](const io::IncomingObject& object,
                                                                io::ObjectReader reader) {
                        const auto report = [&events](const std::string& line) {
                          events.write("object", "", line);
                          std::printf("[%8.3f] %s\n", cli::uptime_s(), line.c_str());
                          std::fflush(stdout);
                        };
                        const auto record = [&events, canary, &delivered, object](
                                                std::uint64_t bytes, const std::string& digest) {
                          ++delivered;
                          int copies = 1;
                          if (canary == NodeCanary::drop_object && delivered % 20 == 0) copies = 0;
                          if (canary == NodeCanary::duplicate_object && delivered % 20 == 0)
                            copies = 2;
                          for (int i = 0; i < copies; ++i)
                            record_delivery(events, object, bytes, digest);
                        };
                        return cli::verifying_sink(object, reader, store_dir, report, record);
                      });
  // Failed handshakes come from anyone who can connect: at most 10 lines a second of them
  // on stdout and in --events (the metrics count every one), so a flood cannot fill a disk.
  io::LineThrottle handshake_lines(10);
  node.on_peer_change([&events, &handshake_lines](const io::PeerChange& change) {
    static constexpr const char* kKinds[] = {"up", "down", "handshake failed"};
    static constexpr const char* kEvents[] = {"peer_up", "peer_down", "handshake_failed"};
    if (change.kind == io::PeerChange::Kind::handshake_failed) {
      std::uint64_t held_back = 0;
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
      if (!handshake_lines.admit(now_ms, held_back)) return;
      if (held_back > 0) {
        const std::string note = std::to_string(held_back) + " more handshake failures not shown";
        events.write("handshake_failed", "", note);
        std::printf("[%8.3f] %s\n", cli::uptime_s(), note.c_str());
      }
    }
    events.write(kEvents[static_cast<int>(change.kind)], change.peer, change.detail);
    // The detail may quote a peer (a reason it gave): escaped, one line.
    std::printf("[%8.3f] peer %s %s (%s)\n", cli::uptime_s(), cli::printable(change.peer).c_str(),
                kKinds[static_cast<int>(change.kind)], cli::printable(change.detail).c_str());
    std::fflush(stdout);
  });
  // Before start(): the loop thread reports peers from then on, and a reader of the file
  // counts an incarnation's peers from its "start" line.
  events.write("start");
  for (const io::PeerAddress& peer : unresolved)  // as a reload reports one (reload_members)
    events.write("member_added", peer.name, errc_name(Errc::invalid_argument));
  if (node.start() != Errc::ok) return 1;
  std::printf("[%8.3f] %s listening on %s:%u\n", cli::uptime_s(), options.config.name.c_str(),
              options.listen_host.c_str(), node.port());
  if (metrics_address) {
    io::MetricsHttpOptions http;
    http.host = metrics_address->host;
    http.port = metrics_address->port;
    const io::MetricsEndpoint served = node.serve_metrics(http);
    if (served.error != Errc::ok) {
      std::fprintf(stderr, "weft-node: cannot serve metrics on %s:%u (%s)\n", http.host.c_str(),
                   http.port, std::string(errc_name(served.error)).c_str());
      node.stop();
      return 1;
    }
    std::printf("[%8.3f] %s metrics on http://%s:%u/metrics\n", cli::uptime_s(),
                options.config.name.c_str(), http.host.c_str(), served.port);
  }
  std::fflush(stdout);
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) == 0 && signal_number == SIGHUP) {
    // Keys first: a member the file adds may be known only to the new ring (or certificate
    // CA).
    reload_tls(node, options.config.name, tls_files);
    const auto reloaded = reload_credentials(node, options.config.name, credential_files);
    try {
      reload_members(node, options.config.name, members_path, fixed_peers, members, events);
    } catch (const StoppedWhileResolving& stopped) {
      signal_number = stopped.signal_number;  // the peers changed so far stay changed
      break;
    }
    std::vector<std::string> peers;
    for (const io::PeerAddress& peer : members)
      peers.push_back(peer.name);
    if (reloaded) cli::print_credential_warnings("weft-node: SIGHUP", *reloaded, peers);
  }
  std::printf("[%8.3f] %s stopping (signal %d)\n", cli::uptime_s(), options.config.name.c_str(),
              signal_number);
  events.write("stopping");
  node.stop();
  events.write("stopped");
  return 0;
}
