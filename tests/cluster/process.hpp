// Child processes of the harness: started with their output in a log file, killed with the
// harness (PR_SET_PDEATHSIG), and commands run to completion (iptables-restore, tc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace weft::chaos {

std::int64_t monotonic_ns();

// Starts `argv` with stdout and stderr appended to `log_path`. With `stdout_pipe` set, stdout
// goes to a pipe instead and *stdout_pipe receives its read end. Returns the pid, or -1
// (errno describes why).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path,
            int* stdout_pipe = nullptr);

// Runs `argv` to its end with `input` on stdin; its output goes to `log_path`. Returns the
// exit status, or -1 when it could not run or was killed.
int run_command(const std::vector<std::string>& argv, const std::string& input,
                const std::string& log_path);

// "exit 0", "signal 9".
std::string describe_status(int wait_status);

// The resident set of `pid` in KiB (VmRSS), nullopt when it is gone.
std::optional<std::int64_t> resident_kib(pid_t pid);

// The path of `tool` on PATH, or nullopt.
std::optional<std::string> find_tool(const std::string& tool);

// Moves this process, and every process it starts from now on, into a new network namespace
// with lo up (all of 127/8 then routes to it). Call before any thread starts.
enum class PrivateNetwork : std::uint8_t { entered, unavailable, failed };
PrivateNetwork enter_private_network(std::string& why);

// Reads one line from `fd` within `timeout_ms` (a driver's "ready").
std::optional<std::string> read_line(int fd, std::int64_t timeout_ms);

}  // namespace weft::chaos
