// weft-dump: decodes a captured byte stream of weft frames (one direction of a connection,
// from its first byte) and prints one line per frame.
//
//   weft-dump [--json] [--preview N] [--max-frame-bytes N] FILE|-
//
// Exit status: 0 when the whole input decodes into complete frames; 1 after printing
// "error at byte N: <reason>" on stderr for a protocol error or a truncated trailing frame;
// 2 for a usage or I/O error (the input cannot be read, the output cannot be written). Input is
// read in bounded chunks through the incremental decoder, so memory stays bounded by the largest
// allowed frame whatever the input.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/frame_text.hpp"
#include "weft/wire.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitProtocolError = 1;
constexpr int kExitUsage = 2;
constexpr std::size_t kReadChunkBytes = 64 * 1024;

struct Options {
  bool json = false;
  std::size_t preview_bytes = 16;
  std::uint32_t max_frame_bytes = weft::WireLimits{}.max_frame_bytes;
  std::string path;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "weft-dump: %s\n"
               "usage: weft-dump [--json] [--preview N] [--max-frame-bytes N] FILE|-\n"
               "  --json               one JSON object per frame instead of text\n"
               "  --preview N          payload bytes to show per frame (default 16)\n"
               "  --max-frame-bytes N  largest frame body accepted (default 8388608)\n",
               why);
  return kExitUsage;
}

template <typename T>
bool parse_number(std::string_view text, T& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size();
}

// Parses argv into `options`; returns an exit status when the program must stop now.
std::optional<int> parse_args(int argc, char** argv, Options& options) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    const bool has_value = i + 1 < args.size();
    if (arg == "--help" || arg == "-h") {
      usage("decodes a captured weft byte stream");
      return kExitOk;
    } else if (arg == "--json") {
      options.json = true;
    } else if (arg == "--preview" && has_value) {
      if (!parse_number(args[++i], options.preview_bytes)) return usage("bad --preview value");
    } else if (arg == "--max-frame-bytes" && has_value) {
      if (!parse_number(args[++i], options.max_frame_bytes)) {
        return usage("bad --max-frame-bytes value");
      }
    } else if (arg == "-" || !arg.starts_with("-")) {
      if (!options.path.empty()) return usage("more than one input given");
      options.path = arg;
    } else {
      return usage("unknown option or missing value");
    }
  }
  if (options.path.empty()) return usage("no input given");
  return std::nullopt;
}

void print_frame(const Options& options, const weft::Frame& frame, std::uint64_t offset) {
  if (options.json) {
    std::printf("%s\n", weft::format_frame_json(frame, offset, options.preview_bytes).c_str());
  } else {
    std::printf("@%llu %s\n", static_cast<unsigned long long>(offset),
                weft::format_frame(frame, options.preview_bytes).c_str());
  }
}

int report(const weft::DecodeError& error) {
  std::fflush(stdout);
  std::fprintf(stderr, "error at byte %llu: %s: %s\n",
               static_cast<unsigned long long>(error.offset),
               std::string(weft::wire_error_name(error.code)).c_str(), error.message.c_str());
  return kExitProtocolError;
}

// Feeds one chunk through the decoder, printing every frame; false on a protocol error.
// `frame_offset` is where the next frame starts: the decoder's stream offset would count the
// part of a frame gathered from the chunk before.
bool decode_chunk(const Options& options, weft::FrameDecoder& decoder, weft::Bytes chunk,
                  std::uint64_t& frame_offset) {
  while (true) {
    weft::DecodeStep step = decoder.next(chunk);
    if (step.status == weft::DecodeStatus::error) return false;
    chunk = chunk.subspan(step.consumed);
    if (step.status == weft::DecodeStatus::need_more) return true;
    print_frame(options, step.frame, frame_offset);
    frame_offset += step.frame_bytes.size();
  }
}

int dump(const Options& options, std::FILE* input) {
  weft::DecoderOptions decoder_options;
  decoder_options.limits.max_frame_bytes = options.max_frame_bytes;
  weft::FrameDecoder decoder(decoder_options);
  std::vector<std::uint8_t> chunk(kReadChunkBytes);
  std::uint64_t frame_offset = 0;
  while (true) {
    const std::size_t got = std::fread(chunk.data(), 1, chunk.size(), input);
    if (got > 0 && !decode_chunk(options, decoder, {chunk.data(), got}, frame_offset)) {
      return report(decoder.error());
    }
    if (std::ferror(stdout)) return kExitUsage;  // main says why; no use decoding on
    if (got < chunk.size()) {
      if (std::ferror(input)) {
        std::fprintf(stderr, "weft-dump: read failed: %s\n", std::strerror(errno));
        return kExitUsage;
      }
      if (std::feof(input)) break;
    }
  }
  const weft::DecodeError end = decoder.finish();
  return end.code == weft::WireError::none ? kExitOk : report(end);
}

// /dev/null onto each of descriptors 0-2 that is closed (`weft-dump FILE >&-`), so the
// input file opened next cannot take descriptor 1 and the frames land in it.
void open_missing_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (opened != fd && opened >= 0) ::close(opened);
  }
}

}  // namespace

int main(int argc, char** argv) {
  open_missing_standard_fds();
  Options options;
  if (std::optional<int> stop = parse_args(argc, argv, options)) return *stop;
  std::FILE* input = options.path == "-" ? stdin : std::fopen(options.path.c_str(), "rb");
  if (input == nullptr) {
    std::fprintf(stderr, "weft-dump: cannot open %s: %s\n", options.path.c_str(),
                 std::strerror(errno));
    return kExitUsage;
  }
  const int status = dump(options, input);
  if (input != stdin) std::fclose(input);
  // Frames that could not be written (a full disk, a closed pipe) are an I/O error: the
  // output is not the whole decode.
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout)) return status;
  std::fprintf(stderr, "weft-dump: cannot write the output: %s\n",
               errno != 0 ? std::strerror(errno) : "write error");
  return kExitUsage;
}
