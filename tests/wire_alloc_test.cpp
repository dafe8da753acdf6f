// Decoding frames that arrive whole must not touch the heap. This binary replaces the
// global allocation functions with counting ones (its own process, so no other test is
// affected) and decodes a stream of every frame kind.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "sample_frames.hpp"
#include "weft/wire.hpp"

namespace {
// Counts allocations made by this process; only read around the code under test.
std::size_t allocation_count = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocation_count;
  if (void* block = std::malloc(size == 0 ? 1 : size)) return block;
  throw std::bad_alloc();
}
void operator delete(void* block) noexcept {
  std::free(block);
}
void operator delete(void* block, std::size_t) noexcept {
  std::free(block);
}

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
  const std::size_t before = allocation_count;
  for (int round = 0; round < 3; ++round) {
    Bytes input = stream.view();
    while (!input.empty()) {
      const DecodeStep step = decoder.next(input);
      if (step.status != DecodeStatus::frame) break;
      input = input.subspan(step.consumed);
      ++frames;
    }
  }
  const std::size_t allocations = allocation_count - before;
  EXPECT_EQ(frames, 3 * 2 * testing::sample_frames().size());
  EXPECT_EQ(allocations, 0u);
}

TEST(WireAllocations, EncodingIntoAReservedBufferDoesNotAllocate) {
  const auto samples = testing::sample_frames();
  ByteBuffer out;
  out.reserve(64 * 1024);
  const std::size_t before = allocation_count;
  for (const auto& sample : samples)
    encode_frame(out, sample.frame.view());
  EXPECT_EQ(allocation_count - before, 0u);
  EXPECT_GT(out.size(), 0u);
}

TEST(WireAllocations, TheCounterSeesAllocations) {
  // Proves the counting hook is live, so the zeros above mean something.
  const std::size_t before = allocation_count;
  auto* block = new std::vector<int>(100);
  delete block;
  EXPECT_GE(allocation_count - before, 2u);
}

}  // namespace
}  // namespace weft
