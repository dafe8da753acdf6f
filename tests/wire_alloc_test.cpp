// Decoding frames that arrive whole must not touch the heap. This binary counts every
// allocation (alloc_counter.hpp: its own process, so no other test is affected) and decodes
// a stream of every frame kind.
#include <gtest/gtest.h>

#include <vector>

#include "alloc_counter.hpp"
#include "sample_frames.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

TEST(WireAllocations, WholeFramesDecodeWithoutHeapAllocation) {
  ByteBuffer stream;
  for (const auto& sample : testing::sample_frames()) {
    for (bool checksum : {false, true}) {
      encode_frame(stream, testing::with_checksum(sample.frame, checksum).view());
    }
  }
  FrameDecoder decoder;
  std::size_t frames = 0;
  const std::size_t before = testing::allocations_so_far();
  for (int round = 0; round < 3; ++round) {
    Bytes input = stream.view();
    while (!input.empty()) {
      const DecodeStep step = decoder.next(input);
      if (step.status != DecodeStatus::frame) break;
      input = input.subspan(step.consumed);
      ++frames;
    }
  }
  const std::size_t allocations = testing::allocations_so_far() - before;
  EXPECT_EQ(frames, 3 * 2 * testing::sample_frames().size());
  EXPECT_EQ(allocations, 0u);
}

TEST(WireAllocations, EncodingIntoAReservedBufferDoesNotAllocate) {
  const auto samples = testing::sample_frames();
  ByteBuffer out;
  out.reserve(64 * 1024);
  const std::size_t before = testing::allocations_so_far();
  for (const auto& sample : samples)
    encode_frame(out, sample.frame.view());
  EXPECT_EQ(testing::allocations_so_far() - before, 0u);
  EXPECT_GT(out.size(), 0u);
}

TEST(WireAllocations, TheCounterSeesAllocations) {
  // Proves the counting hook is live, so the zeros above mean something.
  const std::size_t before = testing::allocations_so_far();
  // Through a volatile pointer: the compiler may not leave out an allocation that escapes.
  std::vector<int>* volatile block = new std::vector<int>(100);
  delete block;
  EXPECT_GE(testing::allocations_so_far() - before, 2u);
}

}  // namespace
}  // namespace weft
