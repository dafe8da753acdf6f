// Runs the weft-dump binary on captures and checks its output and exit status.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "dump_runner.hpp"
#include "sample_frames.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::run_dump;
using testing::RunResult;
using testing::scratch;
using testing::write_file;

std::vector<std::uint8_t> capture_of_all_samples(std::vector<std::size_t>* offsets = nullptr) {
  std::vector<std::uint8_t> stream;
  for (const auto& sample : testing::sample_frames()) {
    if (offsets != nullptr) offsets->push_back(stream.size());
    const auto wire = testing::encode_to_vector(sample.frame.view());
    stream.insert(stream.end(), wire.begin(), wire.end());
  }
  return stream;
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(WeftDump, PrintsOneLinePerFrameWithOffsets) {
  std::vector<std::size_t> offsets;
  const std::string path = scratch("good.bin");
  write_file(path, capture_of_all_samples(&offsets));
  const RunResult result = run_dump(path);
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(count_lines(result.out), offsets.size());
  EXPECT_NE(result.out.find("@0 hello cksum=0 flags=0x0001 mux=0 seq=1 version_min=3"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("request cksum=0 flags=0x0000 mux=2 seq=0 handler=7"),
            std::string::npos);
  EXPECT_NE(result.out.find("deadline_ms=60000 len=5 payload=68656c6c6f"), std::string::npos);
  EXPECT_NE(result.out.find("@" + std::to_string(offsets.back()) + " object_close"),
            std::string::npos);
  EXPECT_TRUE(result.err.empty());
}

TEST(WeftDump, JsonModeAndStdinAndPreviewLimit) {
  const std::string path = scratch("good.bin");
  write_file(path, capture_of_all_samples());
  const RunResult result = run_dump("--json --preview 2 - <" + path);
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(count_lines(result.out), testing::sample_frames().size());
  EXPECT_EQ(result.out.rfind("{\"stream_offset\":0,\"op\":\"hello\"", 0), 0u) << result.out;
  EXPECT_NE(result.out.find("\"payload_hex\":\"6865\",\"payload_truncated\":true"),
            std::string::npos);
}

TEST(WeftDump, TruncatedTrailingFrameExitsOneWithItsOffset) {
  std::vector<std::size_t> offsets;
  auto stream = capture_of_all_samples(&offsets);
  stream.pop_back();
  const std::string path = scratch("truncated.bin");
  write_file(path, stream);
  const RunResult result = run_dump(path);
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_EQ(count_lines(result.out), offsets.size() - 1);
  EXPECT_EQ(result.err.rfind("error at byte " + std::to_string(offsets.back()) + ": truncated", 0),
            0u)
      << result.err;
}

TEST(WeftDump, ProtocolErrorInTheMiddleStopsThereWithOffset) {
  std::vector<std::size_t> offsets;
  auto stream = capture_of_all_samples(&offsets);
  stream[offsets[3]] = 0x00;  // the fourth frame loses its magic byte
  const std::string path = scratch("bad.bin");
  write_file(path, stream);
  const RunResult result = run_dump(path);
  EXPECT_EQ(result.exit_status, 1);
  EXPECT_EQ(count_lines(result.out), 3u);
  EXPECT_EQ(result.err, "error at byte " + std::to_string(offsets[3]) +
                            ": bad_magic: frame starts with 0x00, expected 0x77\n");
}

// weft-dump reads its input in 64 KiB chunks: a frame that starts in one chunk and ends in
// the next is printed at its first byte, like every other frame (it once printed the
// offset where the second chunk began; the Wireshark dissector's test found it).
TEST(WeftDump, FrameAcrossReadChunksPrintsItsFirstByte) {
  const auto ping = testing::encode_to_vector(Frame{.op = Op::ping, .seq = 7});
  std::vector<std::uint8_t> stream;
  std::size_t frames = 0;
  while (stream.size() < 3 * 64 * 1024) {
    stream.insert(stream.end(), ping.begin(), ping.end());
    ++frames;
  }
  ASSERT_NE(64 * 1024 % ping.size(), 0u);  // some frame straddles each chunk boundary
  const std::string path = scratch("pings.bin");
  write_file(path, stream);
  const RunResult result = run_dump(path);
  EXPECT_EQ(result.exit_status, 0) << result.err;
  std::istringstream lines(result.out);
  std::string line;
  std::size_t index = 0;
  while (std::getline(lines, line)) {
    ASSERT_EQ(line.rfind("@" + std::to_string(index * ping.size()) + " ping", 0), 0u)
        << "frame " << index << ": " << line;
    ++index;
  }
  EXPECT_EQ(index, frames);
}

TEST(WeftDump, EmptyInputIsFineAndGarbageIsNot) {
  const std::string empty = scratch("empty.bin");
  write_file(empty, {});
  const RunResult ok = run_dump(empty);
  EXPECT_EQ(ok.exit_status, 0);
  EXPECT_TRUE(ok.out.empty());
  const std::string garbage = scratch("garbage.bin");
  write_file(garbage, {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P'});
  const RunResult bad = run_dump(garbage);
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_EQ(bad.err.rfind("error at byte 0: bad_magic", 0), 0u) << bad.err;
}

TEST(WeftDump, UsageErrorsExitTwo) {
  EXPECT_EQ(run_dump(scratch("does-not-exist.bin")).exit_status, 2);
  EXPECT_EQ(run_dump("--bogus x").exit_status, 2);
  EXPECT_EQ(run_dump("").exit_status, 2);
}

}  // namespace
}  // namespace weft
