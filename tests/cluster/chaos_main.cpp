// weft-chaos: real weft processes under kernel-level faults, checked for exactly-once.
//
//   weft-chaos run [--seed S] [--nodes N] [--drivers D] [--duration-s T] [--rate R]
//                  [--dir DIR] [--node-bin PATH] [--load-bin PATH] [--rss-limit-mib M]
//                  [--liveness-ms T] [--deadline-slack-ms T] [--max-bytes B]
//                  [--stream-max-bytes B] [--no-faults]
//                  [--canary corrupt_echo|drop_stream_echo|drop_object|duplicate_object]
//   weft-chaos check DIR                 judges a finished run again
//   weft-chaos schedule [--seed S] [--nodes N] [--drivers D] [--duration-s T]
//                                        prints the faults a run would inject
//   weft-chaos timeline DIR OUT.json     a Chrome/Perfetto trace of a run
//   weft-chaos mesh [--nodes N] [--dir DIR] [--node-bin PATH] [--idle-s T]
//                   [--latency-calls K] [--restart-rate R]
//                                        a full mesh measured, then restarted node by node
//
// run needs root or CAP_NET_ADMIN (it creates its own network namespace); where it cannot,
// it prints SKIPPED and exits 77. Exit status: 0 passed, 1 violations, 2 harness error,
// 77 skipped. docs/CHAOS.md describes the faults, the records and the rules.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string_view>

#include "../../examples/cli_common.hpp"
#include "checker.hpp"
#include "harness.hpp"
#include "mesh.hpp"
#include "schedule.hpp"
#include "timeline.hpp"

namespace {

using namespace weft::chaos;

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-chaos: %s\n"
               "usage: weft-chaos run [--seed S] [--nodes N] [--drivers D] [--duration-s T]\n"
               "                      [--rate R] [--dir DIR] [--node-bin PATH] [--load-bin PATH]\n"
               "                      [--rss-limit-mib M] [--liveness-ms T]\n"
               "                      [--deadline-slack-ms T] [--max-bytes B] [--no-faults]\n"
               "                      [--stream-max-bytes B]\n"
               "                      [--canary corrupt_echo|drop_stream_echo|drop_object|\n"
               "                                duplicate_object]\n"
               "       weft-chaos check DIR\n"
               "       weft-chaos schedule [--seed S] [--nodes N] [--drivers D] [--duration-s T]\n"
               "       weft-chaos timeline DIR OUT.json\n"
               "       weft-chaos mesh [--nodes N] [--dir DIR] [--node-bin PATH] [--idle-s T]\n"
               "                       [--latency-calls K] [--restart-rate R]\n",
               why);
  return 2;
}

using weft::cli::number;

// A tool beside this program, or in the build tree's examples/ (weft-chaos is built in
// tests/cluster/).
std::string sibling(const std::string& tool) {
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  for (const auto& candidate : {self / tool, self / ".." / ".." / "examples" / tool}) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  return tool;  // from PATH
}

std::optional<int> parse_run(int argc, char** argv, RunOptions& options) {
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--no-faults") {
      options.no_faults = true;
      continue;
    }
    if (i + 1 >= argc) return usage("missing value");
    const std::string_view value = argv[++i];
    bool good = true;
    if (arg == "--seed") {
      good = number(value, options.seed);
    } else if (arg == "--nodes") {
      good = number(value, options.nodes) && options.nodes >= 2 && options.nodes <= 200;
    } else if (arg == "--drivers") {
      good = number(value, options.drivers) && options.drivers >= 1 && options.drivers <= 9;
    } else if (arg == "--duration-s") {
      std::int64_t seconds = 0;
      good = number(value, seconds) && seconds >= 1;
      options.duration_ms = seconds * 1000;
    } else if (arg == "--rate") {
      good = number(value, options.driver_rate) && options.driver_rate >= 1;
    } else if (arg == "--dir") {
      options.dir = value;
    } else if (arg == "--node-bin") {
      options.node_binary = value;
    } else if (arg == "--load-bin") {
      options.load_binary = value;
    } else if (arg == "--rss-limit-mib") {
      good = number(value, options.bounds.rss_limit_kib);
      options.bounds.rss_limit_kib *= 1024;
    } else if (arg == "--liveness-ms") {
      good = number(value, options.bounds.liveness_ms);
    } else if (arg == "--deadline-slack-ms") {
      good = number(value, options.bounds.deadline_slack_ms);
    } else if (arg == "--stream-max-bytes") {
      good = number(value, options.stream_max_bytes) && options.stream_max_bytes >= 1 &&
             options.stream_max_bytes <= (1 << 20);
    } else if (arg == "--canary") {
      options.canary = value;
    } else if (arg == "--max-bytes") {
      good = number(value, options.max_payload_bytes) && options.max_payload_bytes >= (1 << 20) &&
             options.max_payload_bytes <= (64 << 20);
    } else {
      return usage("unknown option");
    }
    if (!good) return usage(("bad value for " + std::string(arg)).c_str());
  }
  if (options.dir.empty()) options.dir = "chaos-" + std::to_string(options.seed);
  if (options.node_binary.empty()) options.node_binary = sibling("weft-node");
  if (options.load_binary.empty()) options.load_binary = sibling("weft-load");
  return std::nullopt;
}

int mesh(int argc, char** argv) {
  MeshOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage("missing value");
    const std::string_view value = argv[++i];
    bool good = true;
    if (arg == "--nodes") {
      good = number(value, options.nodes) && options.nodes >= 2 && options.nodes <= 200;
    } else if (arg == "--dir") {
      options.dir = value;
    } else if (arg == "--node-bin") {
      options.node_binary = value;
    } else if (arg == "--idle-s") {
      good = number(value, options.idle_s) && options.idle_s >= 1;
    } else if (arg == "--latency-calls") {
      good = number(value, options.latency_calls) && options.latency_calls >= 1;
    } else if (arg == "--restart-rate") {
      good = number(value, options.restart_load_rate) && options.restart_load_rate >= 1;
    } else {
      return usage("unknown option");
    }
    if (!good) return usage(("bad value for " + std::string(arg)).c_str());
  }
  if (options.dir.empty()) options.dir = "mesh-" + std::to_string(options.nodes);
  if (options.node_binary.empty()) options.node_binary = sibling("weft-node");
  return run_mesh(options);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("no command");
  const std::string_view command = argv[1];
  if (command == "check") {
    if (argc != 3) return usage("check takes the run's directory");
    const Verdict verdict = check_run(argv[2]);
    print_verdict(verdict, stdout);
    return verdict.passed() ? kRunPassed : kRunViolations;
  }
  if (command == "timeline") {
    if (argc != 4) return usage("timeline takes the run's directory and the output file");
    std::string error;
    if (!write_timeline(argv[2], argv[3], error)) {
      std::fprintf(stderr, "weft-chaos: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
  if (command == "mesh") return mesh(argc, argv);
  RunOptions options;
  if (command != "run" && command != "schedule") return usage("unknown command");
  if (const auto failed = parse_run(argc, argv, options)) return *failed;
  if (command == "schedule") {
    ScheduleOptions schedule{options.seed, {}, {}, options.duration_ms};
    for (int i = 1; i <= options.nodes; ++i)
      schedule.nodes.push_back("n" + std::to_string(i));
    for (int i = 1; i <= options.drivers; ++i)
      schedule.drivers.push_back("load" + std::to_string(i));
    for (const Fault& fault : make_schedule(schedule)) {
      std::printf("#%-3d %7.3f s .. %7.3f s  %s\n", fault.id,
                  static_cast<double>(fault.start_ms) / 1000,
                  static_cast<double>(fault.end_ms) / 1000, fault.describe().c_str());
    }
    return 0;
  }
  return run_chaos(options);
}
