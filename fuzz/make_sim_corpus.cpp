// Writes seeds recorded from simulator sessions. Small clusters run in the simulator with
// SimOptions::capture_dir set; from what each node wrote on each connection this takes
//  - for the decoder target: runs of whole frames of at most 1 KiB (the target's max_len),
//    each kept only when it holds a kind of frame (op and flags) that no earlier seed held;
//  - for the connection target: what a dialer sent after its hello and auth, up to 4 KiB of whole
//    frames, in that target's input format.
// Run by hand when the wire format changes; the seeds join the corpora through -merge=1:
//   build/release/fuzz/weft_make_sim_corpus /tmp/sim-seeds
//   build/fuzz/fuzz/weft_fuzz_decoder -merge=1 fuzz/corpus/decoder /tmp/sim-seeds/decoder
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "corpus_file.hpp"
#include "weft/sim/simulator.hpp"
#include "weft/wire.hpp"

namespace {

using namespace weft;
namespace fs = std::filesystem;

constexpr std::size_t kDecoderSeedBytes = 1024;
constexpr std::size_t kConnectionSeedBytes = 4096;

struct FrameSpan {
  std::size_t offset = 0;
  std::size_t size = 0;
  Op op = Op::ping;
  std::uint16_t flags = 0;
};

// The whole frames at the start of a capture (a capture ends where its writer stopped, so
// a frame may be cut short at the end; it is left out).
std::vector<FrameSpan> frames_of(const std::vector<std::uint8_t>& capture) {
  std::vector<FrameSpan> frames;
  FrameDecoder decoder;
  Bytes rest(capture);
  std::size_t offset = 0;
  while (true) {
    const DecodeStep step = decoder.next(rest);
    if (step.status != DecodeStatus::frame) break;
    frames.push_back({offset, step.consumed, step.frame.op, step.frame.flags});
    offset += step.consumed;
    rest = rest.subspan(step.consumed);
  }
  return frames;
}

std::vector<std::uint8_t> read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Runs of frames up to kDecoderSeedBytes, kept when they bring a frame kind not seen yet.
void write_decoder_seeds(const std::string& name, const std::vector<std::uint8_t>& capture,
                         std::set<std::pair<Op, std::uint16_t>>& seen, const fs::path& dir) {
  const std::vector<FrameSpan> frames = frames_of(capture);
  for (std::size_t first = 0; first < frames.size();) {
    std::size_t end = first;
    std::size_t bytes = 0;
    bool brings_new_kind = false;
    while (end < frames.size() && bytes + frames[end].size <= kDecoderSeedBytes) {
      brings_new_kind |= !seen.contains({frames[end].op, frames[end].flags});
      bytes += frames[end].size;
      ++end;
    }
    if (end == first) {  // a frame larger than a seed: skip it
      ++first;
      continue;
    }
    if (brings_new_kind) {
      for (std::size_t i = first; i < end; ++i)
        seen.insert({frames[i].op, frames[i].flags});
      const auto begin = capture.begin() + static_cast<long>(frames[first].offset);
      fuzzing::write_corpus_file(
          dir / ("session-" + name + "-" + std::to_string(frames[first].offset)),
          {begin, begin + static_cast<long>(bytes)});
    }
    first = end;
  }
}

// What the dialer sent after its handshake (hello and auth), as the connection target reads
// it (the target makes its own handshake).
void write_connection_seed(const std::string& name, const std::vector<std::uint8_t>& capture,
                           const fs::path& dir) {
  const std::vector<FrameSpan> frames = frames_of(capture);
  if (frames.size() < 3 || frames[0].op != Op::hello || frames[1].op != Op::auth) return;
  const std::size_t start = frames[2].offset;
  std::size_t end = start;
  for (std::size_t i = 2; i < frames.size(); ++i) {
    const std::size_t frame_end = frames[i].offset + frames[i].size;
    if (frame_end - start > kConnectionSeedBytes) break;
    end = frame_end;
  }
  if (end == start) return;  // the first frame alone is larger than a seed
  const Bytes sent = Bytes(capture).subspan(start, end - start);
  fuzzing::write_corpus_file(dir / ("session-" + name), fuzzing::connection_input(sent));
}

}  // namespace

int main(int argc, char** argv) {
  const auto out = fuzzing::corpus_directory(argc, argv);
  if (!out) return 2;
  const fs::path captures = *out / "captures";
  fs::create_directories(*out / "decoder");
  fs::create_directories(*out / "connection");
  // Quiet and faulty sessions (other seeds, other traffic): the crashes and resets of
  // `crashy` bring goaways and reconnections' hellos; every session starts with handshakes.
  std::vector<fs::path> session_dirs;
  for (const sim::Profile profile : {sim::Profile::clean, sim::Profile::crashy}) {
    const std::uint64_t first_seed = profile == sim::Profile::clean ? 1 : 4;
    for (std::uint64_t seed = first_seed; seed < first_seed + 3; ++seed) {
      sim::SimOptions options;
      options.seed = seed;
      options.nodes = 3;
      options.profile = profile;
      options.fault_ns = 12'000'000'000;
      options.liveness_ns = 20'000'000'000;
      options.requests_per_s = 20;
      const fs::path dir =
          captures / (std::string(sim::profile_name(profile)) + "-" + std::to_string(seed));
      fs::create_directories(dir);
      options.capture_dir = dir.string();
      const sim::SimResult result = sim::run_simulation(options);
      if (result.kind != sim::SimResult::Kind::pass) {
        std::fprintf(stderr, "session %s failed: %s\n", dir.c_str(), result.message.c_str());
        return 1;
      }
      session_dirs.push_back(dir);
    }
  }
  std::set<std::pair<Op, std::uint16_t>> seen;
  for (const fs::path& dir : session_dirs) {
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir))
      files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // the directory's order is the file system's
    for (const fs::path& file : files) {
      const std::string name = dir.filename().string() + "-" + file.stem().string();
      const std::vector<std::uint8_t> capture = read_file(file);
      write_decoder_seeds(name, capture, seen, *out / "decoder");
      write_connection_seed(name, capture, *out / "connection");
    }
  }
  std::printf("frame kinds in decoder seeds: %zu\n", seen.size());
  return 0;
}
