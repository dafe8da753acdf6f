// A refused start() leaves nothing behind (event_node.hpp, start()): no port held, no
// descriptor open, so an operator's retry loop (start, fail, wait, start again) neither
// leaks nor finds its own earlier attempt in the way.
#include <dirent.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>

#include "io_test_support.hpp"
#include "weft/io/event_node.hpp"

namespace weft::io {
namespace {

using testing::config_for;

// The process's open descriptors (every thread's), from /proc/self/fd.
std::size_t open_descriptors() {
  DIR* listing = ::opendir("/proc/self/fd");
  if (listing == nullptr) return 0;
  std::size_t count = 0;
  while (const dirent* entry = ::readdir(listing)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(listing);
  return count - 1;  // the listing's own descriptor
}

TEST(IoContracts, ARefusedStartHoldsNoDescriptorAndMayBeCalledAgain) {
  EventNodeOptions blocker_options;
  blocker_options.config = config_for("alpha", "bravo");
  auto blocker = std::make_unique<EventNode>(std::move(blocker_options));
  ASSERT_EQ(blocker->start(), Errc::ok);
  const std::uint16_t port = blocker->port();

  EventNodeOptions options;
  options.config = config_for("bravo", "alpha");
  options.listen_port = port;  // taken by the blocker
  EventNode node(std::move(options));
  const std::size_t before = open_descriptors();
  ASSERT_GT(before, 0u);
  for (int attempt = 0; attempt < 3; ++attempt) {
    EXPECT_EQ(node.start(), Errc::invalid_argument);
    // The listener's socket and the loop's event base, eventfd and timerfd were closed.
    EXPECT_EQ(open_descriptors(), before) << "attempt " << attempt;
  }
  blocker.reset();  // stopped: the port is free
  const std::size_t without_blocker = open_descriptors();
  ASSERT_EQ(node.start(), Errc::ok);
  EXPECT_EQ(node.port(), port);
  EXPECT_GT(open_descriptors(), without_blocker);  // now it holds its listener and loop
  node.stop();
}

}  // namespace
}  // namespace weft::io
