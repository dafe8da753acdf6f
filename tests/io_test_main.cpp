// main() of the adapter's test programs. Under WEFT_LOOP_BACKEND=io_uring (the io.uring.*
// runs, tests/CMakeLists.txt) on a kernel or in a sandbox that refuses io_uring, the tests
// are not run and the program says "[  SKIPPED ]" with the reason, which ctest reports as a
// skipped test (gtest_discover_tests' SKIP_REGULAR_EXPRESSION), instead of failing at the
// first start(). Listing the tests (test discovery) works everywhere.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "weft/io/event_node.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* named = std::getenv("WEFT_LOOP_BACKEND");
  const std::optional<weft::io::LoopBackend> backend =
      named != nullptr ? weft::io::parse_loop_backend(named) : std::nullopt;
  if (backend && !::testing::GTEST_FLAG(list_tests)) {
    if (const std::optional<std::string> why = weft::io::loop_backend_unavailable(*backend)) {
      std::printf("[  SKIPPED ] WEFT_LOOP_BACKEND=%s: %s\n", named, why->c_str());
      return 0;
    }
  }
  return RUN_ALL_TESTS();
}
