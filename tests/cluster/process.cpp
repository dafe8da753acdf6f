#include "process.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace weft::chaos {

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

namespace {

// The argument vector execv wants, built before fork: the child of a threaded process
// should not allocate.
std::vector<char*> exec_args(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  return args;
}

// In the child, after fork: dies with the harness, output to the log, then exec.
[[noreturn]] void become(const std::vector<char*>& args, const char* log_path, int stdin_fd,
                         int stdout_fd, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);  // the harness died before prctl took effect
  const int log = ::open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) _exit(127);
  dup2(stdin_fd >= 0 ? stdin_fd : ::open("/dev/null", O_RDONLY), STDIN_FILENO);
  dup2(stdout_fd >= 0 ? stdout_fd : log, STDOUT_FILENO);
  dup2(log, STDERR_FILENO);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path, int* stdout_pipe) {
  int pipe_fds[2] = {-1, -1};
  if (stdout_pipe && pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const std::vector<char*> args = exec_args(argv);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) become(args, log_path.c_str(), -1, pipe_fds[1], parent);
  if (stdout_pipe) {
    ::close(pipe_fds[1]);
    if (pid < 0) {
      ::close(pipe_fds[0]);
    } else {
      *stdout_pipe = pipe_fds[0];
    }
  }
  return pid;
}

int run_command(const std::vector<std::string>& argv, const std::string& input,
                const std::string& log_path) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  // The tool by its full path: execvp searches only PATH, find_tool also the sbin folders.
  std::vector<std::string> resolved = argv;
  if (const auto path = find_tool(argv.front())) resolved.front() = *path;
  const std::vector<char*> args = exec_args(resolved);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) become(args, log_path.c_str(), pipe_fds[0], -1, parent);
  ::close(pipe_fds[0]);
  if (pid < 0) {
    ::close(pipe_fds[1]);
    return -1;
  }
  std::size_t written = 0;
  while (written < input.size()) {
    const ssize_t got = ::write(pipe_fds[1], input.data() + written, input.size() - written);
    if (got <= 0) break;
    written += static_cast<std::size_t>(got);
  }
  ::close(pipe_fds[1]);
  int status = 0;
  pid_t waited;
  while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (waited != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "signal " + std::to_string(WTERMSIG(wait_status));
  return "status " + std::to_string(wait_status);
}

std::optional<std::int64_t> resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoll(line.c_str() + 6, nullptr, 10);
  }
  return std::nullopt;
}

std::optional<std::string> find_tool(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(std::string(path ? path : "") + ":/usr/sbin:/sbin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + tool;
    if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

PrivateNetwork enter_private_network(std::string& why) {
  if (unshare(CLONE_NEWNET) != 0) {
    why = std::string("cannot create a network namespace (") + std::strerror(errno) +
          "): needs root (CAP_SYS_ADMIN to make it, CAP_NET_ADMIN to set it up)";
    return PrivateNetwork::unavailable;
  }
  // A new namespace's lo is down; up, it routes all of 127/8 locally.
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  if (up) {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    up = ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  }
  if (!up) why = std::string("cannot bring lo up: ") + std::strerror(errno);
  if (fd >= 0) ::close(fd);
  return up ? PrivateNetwork::entered : PrivateNetwork::failed;
}

std::optional<std::string> read_line(int fd, std::int64_t timeout_ms) {
  std::string line;
  const std::int64_t until_ns = monotonic_ns() + timeout_ms * 1'000'000;
  for (;;) {
    const std::int64_t left_ms = (until_ns - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) return std::nullopt;
    pollfd ready{fd, POLLIN, 0};
    if (poll(&ready, 1, static_cast<int>(left_ms)) <= 0) continue;
    char c = 0;
    const ssize_t got = ::read(fd, &c, 1);
    if (got <= 0) return std::nullopt;
    if (c == '\n') return line;
    line += c;
  }
}

}  // namespace weft::chaos
