// Runs the weft-dump binary (WEFT_DUMP_BIN, set by the build) on files in a scratch
// directory, for the tests that check its output. Header-only; reports through GoogleTest.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace weft::testing {

struct RunResult {
  int exit_status = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// A scratch path unique to this test and process (ctest runs tests in parallel).
inline std::string scratch(const std::string& name) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  return ::testing::TempDir() + "weft_dump_" + std::to_string(getpid()) + "_" + test->name() + "_" +
         name;
}

inline void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

inline RunResult run_dump(const std::string& args) {
  const std::string out = scratch("stdout"), err = scratch("stderr");
  const std::string command = std::string(WEFT_DUMP_BIN) + " " + args + " >" + out + " 2>" + err;
  const int status = std::system(command.c_str());
  RunResult result;
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

}  // namespace weft::testing
