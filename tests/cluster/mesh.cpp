#include "mesh.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "../../examples/cli_common.hpp"
#include "../../examples/credentials.hpp"
#include "../../examples/key_dir.hpp"
#include "harness.hpp"
#include "jsonl.hpp"
#include "process.hpp"

namespace weft::chaos {

namespace {

constexpr const char* kClient = "mesh";
using namespace cli::handlers;

// Follows one node's event file: which peers its latest incarnation has up, and when the
// last of them came up.
class EventTail {
 public:
  explicit EventTail(std::string path) : path_(std::move(path)) {}

  void poll() {
    std::ifstream file(path_, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset_));
    std::string line;
    while (std::getline(file, line)) {
      if (file.eof()) break;  // no newline yet: read it whole next time
      offset_ += line.size() + 1;
      std::string error;
      const auto record = parse_line(line, error);
      if (!record) continue;
      const std::string_view event = record->str("ev");
      if (event == "start") {
        up_.clear();
        ++starts_;
      } else if (event == "peer_up") {
        up_.insert(std::string(record->str("peer")));
        last_up_ns_ = record->num("t_ns");
      } else if (event == "peer_down") {  // a failed handshake leaves a live connection up
        up_.erase(std::string(record->str("peer")));
      }
    }
  }
  bool all_up(std::size_t peers) const { return up_.size() == peers; }
  std::size_t up_count() const { return up_.size(); }
  int starts() const { return starts_; }
  std::int64_t last_up_ns() const { return last_up_ns_; }

 private:
  std::string path_;
  std::size_t offset_ = 0;
  std::set<std::string> up_;
  int starts_ = 0;
  std::int64_t last_up_ns_ = 0;
};

struct NodeProc {
  std::string name;
  std::string address;
  pid_t pid = -1;
  EventTail events;
};

// One call of the rolling restart's load.
struct Call {
  std::size_t target = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  Errc error = Errc::ok;
  bool wrong_bytes = false;  // a success that did not echo what was sent
  std::atomic<int> ends{0};
};

// The CPU time `pid` used so far, in clock ticks (utime + stime of /proc/PID/stat).
std::int64_t cpu_ticks(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(file, text);
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  std::int64_t ticks = 0;
  for (int index = 3; fields >> field; ++index) {
    if (index == 14 || index == 15) ticks += std::stoll(field);
    if (index == 15) break;
  }
  return ticks;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1))];
}

class Mesh {
 public:
  explicit Mesh(MeshOptions options) : options_(std::move(options)) {}

  int run() {
    std::string why;
    switch (enter_private_network(why)) {
      case PrivateNetwork::entered:
        break;
      case PrivateNetwork::unavailable:
        std::printf("SKIPPED: %s\n", why.c_str());
        return kRunSkipped;
      case PrivateNetwork::failed:
        std::fprintf(stderr, "weft-chaos mesh: %s\n", why.c_str());
        return kRunHarnessError;
    }
    ::mkdir(options_.dir.c_str(), 0755);
    for (int i = 1; i <= options_.nodes; ++i) {
      const std::string name = "n" + std::to_string(i);
      std::filesystem::remove(options_.dir + "/node-" + name + ".jsonl");
      nodes_.push_back({name, "127.0.0." + std::to_string(i), -1,
                        EventTail(options_.dir + "/node-" + name + ".jsonl")});
    }
    if (const std::string failed = make_keys(); !failed.empty()) return harness_error(failed);
    const std::int64_t begin_ns = monotonic_ns();
    for (NodeProc& node : nodes_) {
      if (!spawn_node(node)) return harness_error("cannot start " + node.name);
    }
    if (!start_client()) return harness_error("the measuring client did not start");
    if (!wait_full_mesh(options_.up_limit_ms)) return finish();
    figure("full_mesh_ms", (full_mesh_ns() - begin_ns) / 1'000'000);
    measure_memory();
    measure_idle_cpu();
    measure_latency();
    rolling_restart();
    return finish();
  }

 private:
  // ---- processes ----

  std::string listen(const std::string& address) const {
    return address + ":" + std::to_string(options_.port);
  }

  // A key per node and the client (a key ring in DIR/keys); "" or why not.
  std::string make_keys() {
    std::vector<std::string> names = {kClient};
    for (const NodeProc& node : nodes_)
      names.push_back(node.name);
    try {
      cli::add_node_keys(keys_dir(), names);
      cli::write_ring(keys_dir());
    } catch (const std::exception& failure) {
      return std::string("keys: ") + failure.what();
    }
    return "";
  }
  std::string keys_dir() const { return options_.dir + "/keys"; }

  bool spawn_node(NodeProc& node) {
    std::vector<std::string> argv = {options_.node_binary,
                                     "--name",
                                     node.name,
                                     "--listen",
                                     listen(node.address),
                                     "--source",
                                     node.address,
                                     "--events",
                                     options_.dir + "/node-" + node.name + ".jsonl"};
    for (const NodeProc& peer : nodes_) {
      if (peer.name != node.name)
        argv.insert(argv.end(), {"--peer", peer.name + "=" + listen(peer.address)});
    }
    argv.insert(argv.end(), {"--peer", std::string(kClient) + "=" + listen("127.0.1.1")});
    const std::vector<std::string> keys = cli::key_ring_options(keys_dir(), node.name);
    argv.insert(argv.end(), keys.begin(), keys.end());
    node.pid = spawn(argv, options_.dir + "/" + node.name + ".log");
    return node.pid > 0;
  }

  bool start_client() {
    io::EventNodeOptions client_options;
    client_options.config.name = kClient;
    std::vector<std::string> peers;
    for (const NodeProc& node : nodes_)
      peers.push_back(node.name);
    const cli::CredentialFiles files{cli::key_file(keys_dir(), kClient), cli::ring_file(keys_dir()),
                                     ""};
    const auto credentials = cli::start_credentials("weft-chaos mesh", files, kClient, peers);
    if (!credentials) return false;
    client_options.config.auth = credentials->auth;
    client_options.listen_host = "127.0.1.1";
    client_options.listen_port = options_.port;
    client_options.source_host = "127.0.1.1";
    for (const NodeProc& node : nodes_) {
      client_options.config.peers.push_back(node.name);
      client_options.addresses.push_back({node.name, node.address, options_.port});
    }
    client_ = std::make_unique<io::EventNode>(std::move(client_options));
    return client_->start() == Errc::ok;
  }

  // Every node has every other node and the client up, and the client every node.
  bool mesh_complete() {
    const std::size_t peers = nodes_.size();  // N - 1 nodes and the client
    for (NodeProc& node : nodes_) {
      node.events.poll();
      if (!node.events.all_up(peers)) return false;
    }
    const auto statuses = client_->peers();
    return std::all_of(statuses.begin(), statuses.end(), [](const io::PeerStatus& status) {
      return status.stats.state == PeerState::established;
    });
  }

  bool wait_full_mesh(std::int64_t limit_ms) {
    const std::int64_t until = monotonic_ns() + limit_ms * 1'000'000;
    while (!mesh_complete()) {
      if (monotonic_ns() > until) {
        std::string state;
        for (const NodeProc& node : nodes_)
          state += " " + node.name + ":" + std::to_string(node.events.up_count());
        std::size_t established = 0;
        for (const io::PeerStatus& status : client_->peers())
          established += status.stats.state == PeerState::established ? 1 : 0;
        violate("the full mesh was not up within " + std::to_string(limit_ms) +
                " ms (peers up per node:" + state + "; the client has " +
                std::to_string(established) + ")");
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }

  std::int64_t full_mesh_ns() const {
    std::int64_t last = 0;
    for (const NodeProc& node : nodes_)
      last = std::max(last, node.events.last_up_ns());
    return last;
  }

  // ---- figures ----

  void measure_memory() {
    std::int64_t total = 0;
    std::int64_t largest = 0;
    for (const NodeProc& node : nodes_) {
      const std::int64_t kib = resident_kib(node.pid).value_or(0);
      total += kib;
      largest = std::max(largest, kib);
    }
    figure("rss_kib_mean", total / static_cast<std::int64_t>(nodes_.size()));
    figure("rss_kib_max", largest);
  }

  // CPU of the idle mesh: only keepalive pings move.
  void measure_idle_cpu() {
    std::int64_t before = 0;
    for (const NodeProc& node : nodes_)
      before += cpu_ticks(node.pid);
    std::this_thread::sleep_for(std::chrono::seconds(options_.idle_s));
    std::int64_t after = 0;
    for (const NodeProc& node : nodes_)
      after += cpu_ticks(node.pid);
    const double ticks_per_s = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double total_pct = static_cast<double>(after - before) / ticks_per_s /
                             static_cast<double>(options_.idle_s) * 100.0;
    figure("idle_cpu_total_pct_x100", static_cast<std::int64_t>(total_pct * 100));
    figure("idle_cpu_per_node_pct_x1000",
           static_cast<std::int64_t>(total_pct * 1000 / static_cast<double>(nodes_.size())));
  }

  void measure_latency() {
    std::vector<double> direct_us;
    std::vector<double> relay_us;
    const std::size_t n = nodes_.size();
    const std::vector<std::uint8_t> payload(64, 'x');
    for (int i = 0; i < options_.latency_calls; ++i) {
      const NodeProc& target = nodes_[static_cast<std::size_t>(i) % n];
      const std::int64_t start = monotonic_ns();
      const io::Reply reply = client_->request(target.name, kEcho, payload, 2'000).get();
      if (reply.error == Errc::ok && reply.payload != payload)
        violate("latency echo to " + target.name + " answered other bytes");
      if (reply.error != Errc::ok)
        violate("latency echo to " + target.name + ": " + std::string(errc_name(reply.error)));
      direct_us.push_back(static_cast<double>(monotonic_ns() - start) / 1000.0);
    }
    for (int i = 0; i < options_.latency_calls; ++i) {
      const std::size_t via = static_cast<std::size_t>(i) % n;
      const std::size_t to = (via + 1 + static_cast<std::size_t>(i) / n % (n - 1)) % n;
      std::string body = nodes_[to].name + " 2000\n";
      body.append(64, 'x');
      const std::int64_t start = monotonic_ns();
      const io::Reply reply =
          client_->request(nodes_[via].name, kRelay, as_bytes(body), 3'000).get();
      if (reply.error == Errc::ok &&
          std::string(reply.payload.begin(), reply.payload.end()) != std::string(64, 'x'))
        violate("latency relay through " + nodes_[via].name + " answered other bytes");
      if (reply.error != Errc::ok) {
        violate("latency relay " + nodes_[via].name + " -> " + nodes_[to].name + ": " +
                std::string(errc_name(reply.error)));
      }
      relay_us.push_back(static_cast<double>(monotonic_ns() - start) / 1000.0);
    }
    figure("echo_p50_us", static_cast<std::int64_t>(percentile(direct_us, 0.5)));
    figure("echo_p99_us", static_cast<std::int64_t>(percentile(direct_us, 0.99)));
    figure("relay_p50_us", static_cast<std::int64_t>(percentile(relay_us, 0.5)));
    figure("relay_p99_us", static_cast<std::int64_t>(percentile(relay_us, 0.99)));
  }

  // ---- the rolling restart ----

  // Calls at restart_load_rate to nodes in turn until `stop`; every call is kept.
  void load(std::atomic<bool>& stop) {
    const auto interval = std::chrono::nanoseconds(1'000'000'000 / options_.restart_load_rate);
    auto next = std::chrono::steady_clock::now();
    const std::vector<std::uint8_t>& payload = load_payload_;  // outlives every callback
    for (std::size_t i = 0; !stop; ++i) {
      std::this_thread::sleep_until(next);
      next += interval;
      Call* call;
      {
        std::lock_guard lock(calls_mutex_);
        call = &calls_.emplace_back();
      }
      call->target = i % nodes_.size();
      call->start_ns = monotonic_ns();
      const Errc posted = client_->request(
          nodes_[call->target].name, kEcho, payload, 5'000, [this, call](io::Reply&& reply) {
            call->end_ns = monotonic_ns();
            call->error = reply.error;
            call->wrong_bytes = reply.error == Errc::ok && reply.payload != load_payload_;
            call->ends.fetch_add(1);
            calls_done_.fetch_add(1);
          });
      if (posted != Errc::ok) {
        call->end_ns = monotonic_ns();
        call->error = posted;
        call->ends.fetch_add(1);
        calls_done_.fetch_add(1);
      }
    }
  }

  void rolling_restart() {
    restarts_begin_ns_ = monotonic_ns();
    std::atomic<bool> stop{false};
    std::thread loader([&] { load(stop); });
    std::vector<double> restart_ms;
    for (std::size_t index = 0; index < nodes_.size() && violations_.empty(); ++index) {
      NodeProc& node = nodes_[index];
      const std::int64_t start = monotonic_ns();
      ::kill(node.pid, SIGTERM);
      int status = 0;
      if (!wait_exit(node.pid, status)) {
        violate(node.name + " did not stop within 10 s of SIGTERM");
        break;
      }
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        violate(node.name + " ended with " + describe_status(status) + " after SIGTERM");
      if (!spawn_node(node) || !wait_full_mesh(options_.up_limit_ms)) {
        violate("the mesh did not heal after restarting " + node.name);
        break;
      }
      windows_.push_back({index, start, monotonic_ns()});
      restart_ms.push_back(static_cast<double>(monotonic_ns() - start) / 1e6);
    }
    stop = true;
    loader.join();
    const std::int64_t until = monotonic_ns() + 15'000'000'000;
    while (calls_done_.load() < calls_.size() && monotonic_ns() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    // Whatever is still open ends now (disconnected, outside every window: reported), so
    // no callback writes a call while it is checked.
    client_->stop();
    figure("restart_ms_median", static_cast<std::int64_t>(percentile(restart_ms, 0.5)));
    figure("restart_ms_max", static_cast<std::int64_t>(percentile(restart_ms, 1.0)));
    check_calls();
  }

  // Every call ended once; every failure is disconnected, to the node restarting then.
  void check_calls() {
    std::int64_t ok = 0;
    std::int64_t failed = 0;
    for (const Call& call : calls_) {
      const int ends = call.ends.load();
      if (ends != 1) {
        violate("a call to " + nodes_[call.target].name + " ended " + std::to_string(ends) +
                " times");
        continue;
      }
      if (call.error == Errc::ok) {
        if (call.wrong_bytes)
          violate("a call to " + nodes_[call.target].name + " echoed other bytes");
        ++ok;
        continue;
      }
      ++failed;
      const bool in_window = std::any_of(windows_.begin(), windows_.end(), [&](const Window& w) {
        return w.node == call.target && call.end_ns >= w.start_ns && call.end_ns <= w.end_ns;
      });
      if (call.error != Errc::disconnected || !in_window) {
        std::string when = " (started " +
                           std::to_string((call.start_ns - restarts_begin_ns_) / 1'000'000) +
                           " ms into the restarts, ended " +
                           std::to_string((call.end_ns - call.start_ns) / 1'000'000) + " ms later";
        for (const Window& w : windows_) {
          if (w.node == call.target) {
            when += "; its restart ran from " +
                    std::to_string((w.start_ns - restarts_begin_ns_) / 1'000'000) + " to " +
                    std::to_string((w.end_ns - restarts_begin_ns_) / 1'000'000) + " ms";
          }
        }
        violate("a call to " + nodes_[call.target].name + " failed with " +
                std::string(errc_name(call.error)) +
                (in_window ? "" : " while that node was not restarting") + when + ")");
      }
    }
    figure("restart_calls", static_cast<std::int64_t>(calls_.size()));
    figure("restart_calls_ok", ok);
    figure("restart_calls_disconnected", failed);
  }

  bool wait_exit(pid_t pid, int& status) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
      if (waitpid(pid, &status, WNOHANG) == pid) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // ---- the end ----

  int finish() {
    if (client_) client_->stop();
    for (NodeProc& node : nodes_) {
      if (node.pid <= 0) continue;
      ::kill(node.pid, SIGTERM);
      int status = 0;
      if (!wait_exit(node.pid, status)) {
        ::kill(node.pid, SIGKILL);
        violate(node.name + " did not stop within 10 s of SIGTERM");
      } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        violate(node.name + " ended with " + describe_status(status));
      }
    }
    JsonLine line;
    line.add("nodes", options_.nodes);
    std::printf("mesh nodes=%d", options_.nodes);
    for (const auto& [name, value] : figures_) {
      line.add(name, value);
      std::printf(" %s=%lld", name.c_str(), static_cast<long long>(value));
    }
    line.add("violations", static_cast<std::int64_t>(violations_.size()));
    std::ofstream(options_.dir + "/mesh.jsonl", std::ios::app) << line.str();
    std::printf("\n");
    for (const std::string& violation : violations_)
      std::printf("VIOLATION %s\n", violation.c_str());
    std::printf("verdict: %s (%zu violations)\n", violations_.empty() ? "PASS" : "FAIL",
                violations_.size());
    return violations_.empty() ? kRunPassed : kRunViolations;
  }

  int harness_error(const std::string& what) {
    std::fprintf(stderr, "weft-chaos mesh: %s\n", what.c_str());
    for (NodeProc& node : nodes_) {
      if (node.pid > 0) ::kill(node.pid, SIGKILL);
    }
    return kRunHarnessError;
  }

  void violate(const std::string& what) {
    if (violations_.size() < 100) violations_.push_back(what);
  }
  void figure(const std::string& name, std::int64_t value) { figures_.emplace_back(name, value); }

  struct Window {
    std::size_t node;
    std::int64_t start_ns;
    std::int64_t end_ns;
  };

  MeshOptions options_;
  std::vector<NodeProc> nodes_;
  std::unique_ptr<io::EventNode> client_;
  std::mutex calls_mutex_;
  std::deque<Call> calls_;  // a deque: callbacks keep pointers while calls are added
  std::atomic<std::size_t> calls_done_{0};
  std::vector<Window> windows_;
  const std::vector<std::uint8_t> load_payload_ = std::vector<std::uint8_t>(256, 'y');
  std::int64_t restarts_begin_ns_ = 0;
  std::vector<std::pair<std::string, std::int64_t>> figures_;
  std::vector<std::string> violations_;
};

}  // namespace

int run_mesh(const MeshOptions& options) {
  return Mesh(options).run();
}

}  // namespace weft::chaos
