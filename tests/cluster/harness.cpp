#include "harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "../../examples/key_dir.hpp"
#include "checker.hpp"
#include "jsonl.hpp"
#include "process.hpp"
#include "schedule.hpp"

namespace weft::chaos {

std::string replay_command(const RunOptions& options) {
  return "weft-chaos run --seed " + std::to_string(options.seed) + " --nodes " +
         std::to_string(options.nodes) + " --drivers " + std::to_string(options.drivers) +
         " --duration-s " + std::to_string(options.duration_ms / 1000) + " --rate " +
         std::to_string(options.driver_rate) + (options.no_faults ? " --no-faults" : "") +
         (options.max_payload_bytes == RunOptions{}.max_payload_bytes
              ? ""
              : " --max-bytes " + std::to_string(options.max_payload_bytes)) +
         (options.stream_max_bytes == RunOptions{}.stream_max_bytes
              ? ""
              : " --stream-max-bytes " + std::to_string(options.stream_max_bytes)) +
         (options.canary.empty() ? "" : " --canary " + options.canary);
}

namespace {

volatile sig_atomic_t interrupted = 0;

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names)
    text += (text.empty() ? "" : ",") + name;
  return text;
}
void on_interrupt(int) {
  interrupted = 1;
}

constexpr const char* kChain = "WEFT_CHAOS";
// Timers of every member, shorter than the defaults so a silent peer is noticed within a
// fault's length (docs/CHAOS.md gives the figures they lead to). Object streams are kept
// 6 s across a disconnect instead of 30 s, so that the longer faults make both sides give
// a stream up (disconnected, object_state_lost) while the shorter ones resume it.
const std::vector<std::string> kTimerArgs = {
    "--ping-interval-ms",  "1000", "--stream-ping-ms",   "1000",
    "--stream-silence-ms", "5000", "--object-resume-ms", "6000"};

struct Member {
  std::string name;
  std::string address;
  bool node = true;
  pid_t pid = -1;
  int starts = 0;
  bool exit_expected = false;  // the schedule (or the shutdown) ended it
  int stdout_fd = -1;          // drivers: their "ready" line
  std::int64_t max_rss_kib = 0;
};

class Harness {
 public:
  explicit Harness(RunOptions options) : options_(std::move(options)) {}

  int run() {
    if (const int skipped = enter_namespace(); skipped != 0) return skipped;
    ::mkdir(options_.dir.c_str(), 0755);
    clear_old_files();
    log_.open(options_.dir + "/chaos.jsonl", std::ios::trunc);
    if (!log_) {
      error("cannot write " + options_.dir + "/chaos.jsonl");
      return kRunHarnessError;
    }
    make_members();
    ScheduleOptions schedule_options{options_.seed, names(true), names(false),
                                     options_.duration_ms};
    if (!options_.no_faults) faults_ = make_schedule(schedule_options);
    print_schedule();
    if (!make_keys() || !set_up_firewall() || !start_members()) return finish_with_error();
    phase_start_ns_ = monotonic_ns();
    record(JsonLine().add("ev", "faults_begin"));
    if (!run_faults()) return finish_with_error();
    heal();
    end_load();
    shut_down();
    return judge();
  }

 private:
  // ---- set-up ----

  int enter_namespace() {
    for (const char* tool : {"iptables-restore", "tc"}) {
      if (!find_tool(tool)) {
        std::printf("SKIPPED: %s is not installed (scripts/install-deps installs it)\n", tool);
        return kRunSkipped;
      }
    }
    std::string why;
    switch (enter_private_network(why)) {
      case PrivateNetwork::entered:
        return 0;
      case PrivateNetwork::unavailable:
        std::printf("SKIPPED: %s\n", why.c_str());
        return kRunSkipped;
      case PrivateNetwork::failed:
        break;
    }
    error(why);
    return kRunHarnessError;
  }

  // A directory used before: its processes' files are appended to, so they must go first.
  void clear_old_files() {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(options_.dir, ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".jsonl") || name.ends_with(".log"))
        std::filesystem::remove(entry.path(), ignored);
    }
  }

  void make_members() {
    for (int i = 1; i <= options_.nodes; ++i)
      members_.push_back({"n" + std::to_string(i), "127.0.0." + std::to_string(i), true});
    for (int i = 1; i <= options_.drivers; ++i)
      members_.push_back({"load" + std::to_string(i), "127.0.1." + std::to_string(i), false});
  }

  std::vector<std::string> names(bool nodes) const {
    std::vector<std::string> result;
    for (const Member& member : members_)
      if (member.node == nodes) result.push_back(member.name);
    return result;
  }

  Member& member(const std::string& name) {
    return *std::find_if(members_.begin(), members_.end(),
                         [&](const Member& m) { return m.name == name; });
  }

  std::string listen(const Member& m) const {
    return m.address + ":" + std::to_string(options_.port);
  }

  void print_schedule() {
    std::printf("weft-chaos: seed %llu, %d nodes, %d drivers, %zu faults\nreplay: %s\n",
                static_cast<unsigned long long>(options_.seed), options_.nodes, options_.drivers,
                faults_.size(), replay_command(options_).c_str());
    JsonLine run_line;
    run_line.add("ev", "run")
        .add("seed", static_cast<std::int64_t>(options_.seed))
        .add("nodes", options_.nodes)
        .add("drivers", options_.drivers)
        .add("duration_ms", options_.duration_ms)
        .add("replay", replay_command(options_))
        .add("deadline_slack_ms", options_.bounds.deadline_slack_ms)
        .add("liveness_ms", options_.bounds.liveness_ms)
        .add("rss_limit_kib", options_.bounds.rss_limit_kib);
    record(std::move(run_line));
    for (const Fault& fault : faults_) {
      std::printf("  #%-3d %7.3f s .. %7.3f s  %s\n", fault.id,
                  static_cast<double>(fault.start_ms) / 1000,
                  static_cast<double>(fault.end_ms) / 1000, fault.describe().c_str());
      record(JsonLine()
                 .add("ev", "scheduled")
                 .add("fault", fault.id)
                 .add("kind", fault_kind_name(fault.kind))
                 .add("start_ms", fault.start_ms)
                 .add("end_ms", fault.end_ms)
                 .add("what", fault.describe()));
    }
    std::fflush(stdout);
  }

  // A key per member (a key ring in DIR/keys), as a deployment would have: kept from an
  // earlier run in the same directory, made otherwise.
  bool make_keys() {
    std::vector<std::string> all = names(true);
    for (const std::string& driver : names(false))
      all.push_back(driver);
    try {
      cli::add_node_keys(keys_dir(), all);
      cli::write_ring(keys_dir());
    } catch (const std::exception& failure) {
      return error(std::string("keys: ") + failure.what());
    }
    return true;
  }
  std::string keys_dir() const { return options_.dir + "/keys"; }

  bool set_up_firewall() {
    return iptables_restore("-N " + std::string(kChain) + "\n-I INPUT -j " + kChain + "\n");
  }

  bool start_members() {
    for (Member& m : members_) {
      if (m.node && !spawn_member(m)) return false;
    }
    for (Member& m : members_) {
      if (m.node && !wait_listening(m)) return error(m.name + " did not start listening");
    }
    for (Member& m : members_) {
      if (!m.node && !spawn_member(m)) return false;
    }
    for (Member& m : members_) {
      if (m.node) continue;
      const auto line = read_line(m.stdout_fd, 40'000);
      if (!line || *line != "ready") return error(m.name + " never said ready");
    }
    return true;
  }

  bool spawn_member(Member& m) {
    std::vector<std::string> argv;
    if (m.node) {
      argv = {options_.node_binary,
              "--name",
              m.name,
              "--listen",
              listen(m),
              "--source",
              m.address,
              "--events",
              options_.dir + "/node-" + m.name + ".jsonl"};
    } else {
      argv = {options_.load_binary,
              "--name",
              m.name,
              "--listen",
              listen(m),
              "--history",
              options_.dir + "/load-" + m.name + ".jsonl",
              "--seed",
              std::to_string(options_.seed * 1000 + static_cast<std::uint64_t>(m.name.back())),
              "--rate",
              std::to_string(options_.driver_rate),
              "--max-bytes",
              std::to_string(options_.max_payload_bytes),
              "--stream-max-bytes",
              std::to_string(options_.stream_max_bytes)};
      if (m.name == "load1") argv.push_back("--probe-relays");
    }
    if (m.node && !options_.canary.empty()) argv.insert(argv.end(), {"--canary", options_.canary});
    argv.insert(argv.end(), kTimerArgs.begin(), kTimerArgs.end());
    const std::vector<std::string> keys = cli::key_ring_options(keys_dir(), m.name);
    argv.insert(argv.end(), keys.begin(), keys.end());
    // Its peers come from a members file, which the membership faults rewrite (then SIGHUP).
    if (!write_members(m)) return false;
    argv.insert(argv.end(), {"--members", members_file(m)});
    m.pid = spawn(argv, options_.dir + "/" + m.name + ".log", m.node ? nullptr : &m.stdout_fd);
    if (m.pid < 0) return error("cannot start " + m.name + ": " + std::strerror(errno));
    m.exit_expected = false;
    ++m.starts;
    record(
        JsonLine().add("ev", "spawn").add("proc", m.name).add("pid", m.pid).add("start", m.starts));
    return true;
  }

  // The node accepts TCP on its address (it bound before it said anything).
  bool wait_listening(const Member& m) {
    for (int attempt = 0; attempt < 500; ++attempt) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(options_.port);
      inet_pton(AF_INET, m.address.c_str(), &address.sin_addr);
      const bool connected =
          ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      ::close(fd);
      if (connected) return true;
      supervise();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // ---- faults ----

  bool run_faults() {
    struct Step {
      std::int64_t at_ms;
      const Fault* fault;
      bool begin;
    };
    std::vector<Step> steps;
    for (const Fault& fault : faults_) {
      steps.push_back({fault.start_ms, &fault, true});
      steps.push_back({fault.end_ms, &fault, false});
    }
    std::stable_sort(steps.begin(), steps.end(),
                     [](const Step& a, const Step& b) { return a.at_ms < b.at_ms; });
    for (const Step& step : steps) {
      if (!wait_until(phase_start_ns_ + step.at_ms * 1'000'000)) return false;
      const std::string what = step.fault->describe();
      std::printf("[%8.3f] %s #%d %s\n", seconds_since_start(), step.begin ? "begin" : "end  ",
                  step.fault->id, what.c_str());
      std::fflush(stdout);
      std::string members;
      for (const auto* group : {&step.fault->from, &step.fault->to}) {
        for (const std::string& name : *group)
          members += (members.empty() ? "" : ",") + name;
      }
      record(JsonLine()
                 .add("ev", step.begin ? "fault_begin" : "fault_end")
                 .add("fault", step.fault->id)
                 .add("kind", fault_kind_name(step.fault->kind))
                 .add("what", what)
                 .add("members", members)
                 .add("from", join(step.fault->from))
                 .add("to", join(step.fault->to)));
      if (!(step.begin ? begin(*step.fault) : end(*step.fault))) return false;
    }
    // The phase lasts --duration-s at least (the first round of kinds may run over it).
    return wait_until(phase_start_ns_ + options_.duration_ms * 1'000'000);
  }

  // iptables rules (without -A/-D) that a network fault installs.
  std::vector<std::string> rules(const Fault& fault) {
    std::vector<std::string> result;
    const auto drop_between = [&](const std::string& a, const std::string& b,
                                  const std::string& how) {
      result.push_back("-s " + member(a).address + " -d " + member(b).address + how);
    };
    for (const std::string& a : fault.from) {
      for (const std::string& b : fault.to) {
        switch (fault.kind) {
          case FaultKind::partition:
            drop_between(a, b, " -j DROP");
            drop_between(b, a, " -j DROP");
            break;
          case FaultKind::one_way:
            drop_between(a, b, " -j DROP");
            break;
          case FaultKind::loss: {
            char probability[32];
            std::snprintf(probability, sizeof probability, "%.2f", fault.loss_percent / 100.0);
            const std::string how = std::string(" -m statistic --mode random --probability ") +
                                    probability + " -j DROP";
            drop_between(a, b, how);
            drop_between(b, a, how);
            break;
          }
          case FaultKind::reset:
            // Not the resets themselves: on lo the reset REJECT sends back passes INPUT too,
            // and the reverse rule would swallow it (a reset fault would be a partition).
            drop_between(a, b, " -p tcp ! --tcp-flags RST RST -j REJECT --reject-with tcp-reset");
            drop_between(b, a, " -p tcp ! --tcp-flags RST RST -j REJECT --reject-with tcp-reset");
            break;
          default:
            break;
        }
      }
    }
    if (fault.kind == FaultKind::half_open) {
      const std::string& address = member(fault.from.front()).address;
      result.push_back("-s " + address + " -j DROP");
      result.push_back("-d " + address + " -j DROP");
    }
    return result;
  }

  bool change_rules(const Fault& fault, const char* verb) {
    std::string batch;
    for (const std::string& rule : rules(fault))
      batch += verb + std::string(" ") + kChain + " " + rule + "\n";
    return iptables_restore(batch);
  }

  bool begin(const Fault& fault) {
    switch (fault.kind) {
      case FaultKind::partition:
      case FaultKind::one_way:
      case FaultKind::loss:
      case FaultKind::reset:
        return change_rules(fault, "-A");
      case FaultKind::bandwidth:
        return command({"tc", "qdisc", "replace", "dev", "lo", "root", "tbf", "rate",
                        std::to_string(fault.rate_mbit) + "mbit", "burst", "256kb", "latency",
                        "100ms"});
      case FaultKind::pause:
        return signal(member(fault.from.front()), SIGSTOP);
      case FaultKind::crash:
        return signal(member(fault.from.front()), SIGKILL);
      case FaultKind::half_open: {
        Member& m = member(fault.from.front());
        // Cut off first, so the kernel's FIN and RST for the killed sockets never arrive.
        return change_rules(fault, "-A") && signal(m, SIGKILL) && wait_exit(m) && spawn_member(m);
      }
      case FaultKind::leave:
        return relist(fault.from.front(), false);
      case FaultKind::join:  // removed first, so calls to it end peer_removed, then stopped
        return relist(fault.from.front(), false) && signal(member(fault.from.front()), SIGKILL);
    }
    return false;
  }

  bool end(const Fault& fault) {
    switch (fault.kind) {
      case FaultKind::partition:
      case FaultKind::one_way:
      case FaultKind::loss:
      case FaultKind::reset:
      case FaultKind::half_open:
        return change_rules(fault, "-D");
      case FaultKind::bandwidth:
        return command({"tc", "qdisc", "del", "dev", "lo", "root"});
      case FaultKind::pause:
        return signal(member(fault.from.front()), SIGCONT);
      case FaultKind::crash: {
        Member& m = member(fault.from.front());
        return wait_exit(m) && spawn_member(m);
      }
      case FaultKind::leave:
        return relist(fault.from.front(), true);
      case FaultKind::join: {  // a new process of it starts, then everyone adds it
        Member& m = member(fault.from.front());
        return wait_exit(m) && spawn_member(m) && wait_listening(m) && relist(m.name, true);
      }
    }
    return false;
  }

  // ---- membership: who lists whom, in each member's members file ----

  std::string members_file(const Member& m) const {
    return options_.dir + "/members-" + m.name + ".txt";
  }

  // The peers `m` lists now: nodes list every member, drivers every node, minus removals.
  // Written to a file of its own and renamed over the old one, as weft-node asks: a member
  // reading a file rewritten in place could find it cut at a line boundary (whole lines,
  // fewer members) and remove the rest.
  bool write_members(const Member& m) {
    const std::string path = members_file(m);
    const std::string fresh = path + ".new";
    std::ofstream file(fresh, std::ios::trunc);
    // A comment first: a reload refuses an empty file (as one being written), and a member
    // may list nobody for a while.
    file << "# the peers of " << m.name << ", written by weft-chaos\n";
    for (const Member& peer : members_) {
      if (&peer == &m || (!m.node && !peer.node) || unlisted_.contains({m.name, peer.name}))
        continue;
      file << peer.name << '=' << listen(peer) << '\n';
    }
    file.close();
    if (!file.good()) return error("cannot write " + fresh);
    return std::rename(fresh.c_str(), path.c_str()) == 0 ||
           error("cannot rename " + fresh + " to " + path + ": " + std::strerror(errno));
  }

  // Every other member stops (listed false) or starts again listing `node`: its members file
  // is rewritten and it reads it on SIGHUP. A member that is not running reads it at start.
  bool relist(const std::string& node, bool listed) {
    record(JsonLine().add("ev", listed ? "members_add" : "members_remove").add("node", node));
    for (Member& m : members_) {
      if (m.name == node) continue;
      if (listed) {
        unlisted_.erase({m.name, node});
      } else {
        unlisted_.insert({m.name, node});
      }
      if (!write_members(m)) return false;
      if (m.pid >= 0 && !signal(m, SIGHUP)) return false;
    }
    return true;
  }

  bool signal(Member& m, int number) {
    if (m.pid < 0) return true;  // already gone: the reaper recorded how
    if (number == SIGKILL) m.exit_expected = true;
    record(JsonLine().add("ev", "signal").add("proc", m.name).add("signal", number));
    return ::kill(m.pid, number) == 0 || error("kill " + m.name + ": " + std::strerror(errno));
  }

  bool wait_exit(Member& m) {
    for (int attempt = 0; attempt < 1000 && m.pid >= 0; ++attempt) {
      supervise();
      if (m.pid >= 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return m.pid < 0 || error(m.name + " did not exit after SIGKILL");
  }

  // ---- the end of the run ----

  // Undoes anything left (each fault undid itself; this checks it and restores any member
  // that is not running).
  void heal() {
    while (!unlisted_.empty())
      relist(unlisted_.begin()->second, true);
    iptables_restore(std::string("-F ") + kChain + "\n");
    command({"tc", "qdisc", "del", "dev", "lo", "root"}, true);
    for (Member& m : members_) {
      if (m.pid >= 0) ::kill(m.pid, SIGCONT);
      if (m.node && m.pid < 0) spawn_member(m);
    }
    record(JsonLine().add("ev", "heal"));
    std::printf("[%8.3f] healed: probes must answer within %lld ms\n", seconds_since_start(),
                static_cast<long long>(options_.bounds.liveness_ms));
    std::fflush(stdout);
  }

  // Drivers stop starting work, drain, probe and exit.
  void end_load() {
    for (Member& m : members_) {
      if (!m.node && m.pid >= 0) {
        m.exit_expected = true;
        ::kill(m.pid, SIGUSR1);
      }
    }
    const std::int64_t until = monotonic_ns() + 120'000'000'000;
    while (monotonic_ns() < until &&
           std::any_of(members_.begin(), members_.end(),
                       [](const Member& m) { return !m.node && m.pid >= 0; })) {
      supervise();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void shut_down() {
    record(JsonLine().add("ev", "shutdown"));
    for (Member& m : members_) {
      if (m.pid >= 0) {
        m.exit_expected = true;
        ::kill(m.pid, SIGTERM);
      }
    }
    const std::int64_t until = monotonic_ns() + 15'000'000'000;
    while (monotonic_ns() < until && std::any_of(members_.begin(), members_.end(),
                                                 [](const Member& m) { return m.pid >= 0; })) {
      supervise();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (Member& m : members_) {
      if (m.pid < 0) continue;
      record(JsonLine().add("ev", "hung").add("proc", m.name));
      ::kill(m.pid, SIGKILL);
      m.exit_expected = true;
      wait_exit(m);
    }
    for (const Member& m : members_)
      record(JsonLine().add("ev", "rss").add("proc", m.name).add("max_kib", m.max_rss_kib));
    record(JsonLine().add("ev", "finished"));
    log_.flush();
  }

  int judge() {
    const Verdict verdict = check_run(options_.dir);
    print_verdict(verdict, stdout);
    return verdict.passed() ? kRunPassed : kRunViolations;
  }

  int finish_with_error() {
    for (Member& m : members_) {
      if (m.pid >= 0) ::kill(m.pid, SIGKILL);
    }
    std::printf("weft-chaos: harness error, see %s/chaos.jsonl; replay: %s\n", options_.dir.c_str(),
                replay_command(options_).c_str());
    return kRunHarnessError;
  }

  // ---- supervision ----

  // Reaps exits and samples every member's resident set.
  void supervise() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (Member& m : members_) {
        if (m.pid != pid) continue;
        const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        const bool expected =
            m.exit_expected && (clean_exit || (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
        record(JsonLine()
                   .add("ev", "exit")
                   .add("proc", m.name)
                   .add("pid", pid)
                   .add("status", describe_status(status))
                   .add("expected", expected ? 1 : 0));
        if (m.stdout_fd >= 0) ::close(m.stdout_fd);
        m.stdout_fd = -1;
        m.pid = -1;
      }
    }
    if (monotonic_ns() < next_sample_ns_) return;
    next_sample_ns_ = monotonic_ns() + 250'000'000;
    // Every 5 s a sample of each goes to the record, for growth over a long run.
    const bool record_sample = monotonic_ns() >= next_recorded_sample_ns_;
    if (record_sample) next_recorded_sample_ns_ = monotonic_ns() + 5'000'000'000;
    for (Member& m : members_) {
      if (m.pid < 0) continue;
      const auto kib = resident_kib(m.pid);
      if (!kib) continue;
      m.max_rss_kib = std::max(m.max_rss_kib, *kib);
      if (record_sample) {
        record(JsonLine()
                   .add("ev", "rss_sample")
                   .add("proc", m.name)
                   .add("start", m.starts)
                   .add("kib", *kib));
      }
    }
  }

  // Sleeps until `when_ns`, supervising; false when interrupted.
  bool wait_until(std::int64_t when_ns) {
    while (monotonic_ns() < when_ns) {
      if (interrupted) return error("interrupted");
      supervise();
      const std::int64_t left_ms = (when_ns - monotonic_ns()) / 1'000'000;
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::clamp<std::int64_t>(left_ms, 0, 20)));
    }
    return true;
  }

  bool iptables_restore(const std::string& batch) {
    const int status =
        run_command({"iptables-restore", "--wait", "--noflush"}, "*filter\n" + batch + "COMMIT\n",
                    options_.dir + "/commands.log");
    return status == 0 || error("iptables-restore failed on:\n" + batch);
  }

  bool command(const std::vector<std::string>& argv, bool may_fail = false) {
    const int status = run_command(argv, "", options_.dir + "/commands.log");
    if (status == 0 || may_fail) return true;
    std::string text;
    for (const std::string& arg : argv)
      text += arg + " ";
    return error("command failed: " + text);
  }

  bool error(const std::string& what) {
    std::fprintf(stderr, "weft-chaos: %s\n", what.c_str());
    if (log_) record(JsonLine().add("ev", "harness_error").add("what", what));
    return false;
  }

  void record(JsonLine line) {
    if (!log_) return;
    log_ << line.add("t_ns", monotonic_ns()).str();
    log_.flush();
  }

  double seconds_since_start() const {
    return static_cast<double>(monotonic_ns() - phase_start_ns_) / 1e9;
  }

  RunOptions options_;
  std::vector<Member> members_;
  std::vector<Fault> faults_;
  std::set<std::pair<std::string, std::string>> unlisted_;  // (member, peer it does not list)
  std::ofstream log_;
  std::int64_t phase_start_ns_ = 0;
  std::int64_t next_sample_ns_ = 0;
  std::int64_t next_recorded_sample_ns_ = 0;
};

}  // namespace

int run_chaos(const RunOptions& options) {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  // A command that exits before reading its input must not kill the harness.
  signal(SIGPIPE, SIG_IGN);
  Harness harness(options);
  return harness.run();
}

}  // namespace weft::chaos
