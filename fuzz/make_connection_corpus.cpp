// Writes seeds for the connection target: streams of frames a dialing peer might send
// after its hello (requests, parts, streams, cancels, pings), each preceded by the piece
// sizes the target reads from the input. Run by hand when the wire format changes:
//   build/release/fuzz/weft_make_connection_corpus fuzz/corpus/connection
#include <filesystem>
#include <vector>

#include "corpus_file.hpp"
#include "weft/wire.hpp"

namespace {

using namespace weft;

std::vector<std::uint8_t> as_input(const ByteBuffer& frames) {
  return weft::fuzzing::connection_input(frames.view());
}

using weft::fuzzing::write_corpus_file;

}  // namespace

int main(int argc, char** argv) {
  const auto corpus_dir = weft::fuzzing::corpus_directory(argc, argv);
  if (!corpus_dir) return 2;
  const std::filesystem::path& dir = *corpus_dir;
  // The dialer opens even mux ids.
  ByteBuffer requests;
  encode_frame(requests, Frame{.op = Op::request,
                               .mux = 2,
                               .handler = 1,
                               .deadline_ms = 1000,
                               .payload = as_bytes("hello")});
  encode_frame(requests, Frame{.op = Op::request,
                               .mux = 4,
                               .handler = 2,
                               .route = route_id("r"),
                               .payload = as_bytes("abc")});
  encode_frame(requests,
               Frame{.op = Op::request, .mux = 6, .handler = 9, .payload = as_bytes("x")});
  encode_frame(requests, Frame{.op = Op::cancel, .mux = 2});
  encode_frame(requests, Frame{.op = Op::ping, .seq = 1});
  write_corpus_file(dir / "requests", as_input(requests));

  ByteBuffer parts;
  encode_frame(parts, Frame{.op = Op::request,
                            .flags = flag::kMore,
                            .mux = 8,
                            .seq = 23,  // the whole payload's size
                            .handler = 1,
                            .payload = as_bytes("part one, ")});
  encode_frame(parts, Frame{.op = Op::continuation,
                            .flags = flag::kMore,
                            .mux = 8,
                            .seq = 1,
                            .payload = as_bytes("part two, ")});
  encode_frame(parts,
               Frame{.op = Op::continuation, .mux = 8, .seq = 2, .payload = as_bytes("end")});
  write_corpus_file(dir / "request-parts", as_input(parts));

  ByteBuffer stream;
  encode_frame(stream, Frame{.op = Op::stream_open,
                             .flags = flag::kHasPayload | flag::kHasInput,
                             .mux = 10,
                             .handler = 3,
                             .credit_msgs = 4,
                             .credit_bytes = 4096,
                             .payload = as_bytes("init")});
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    encode_frame(stream,
                 Frame{.op = Op::stream_msg, .mux = 10, .seq = seq, .payload = as_bytes("m")});
  }
  encode_frame(stream,
               Frame{.op = Op::stream_credit, .mux = 10, .credit_msgs = 2, .credit_bytes = 2});
  encode_frame(stream, Frame{.op = Op::stream_ping, .mux = 10, .seq = 1});
  encode_frame(stream, Frame{.op = Op::stream_end, .mux = 10, .seq = 3});
  write_corpus_file(dir / "stream", as_input(stream));

  ByteBuffer reset;
  encode_frame(
      reset,
      Frame{.op = Op::stream_open, .mux = 12, .handler = 3, .credit_msgs = 1, .credit_bytes = 10});
  encode_frame(reset, Frame{.op = Op::stream_reset,
                            .mux = 12,
                            .status = static_cast<std::uint16_t>(Status::canceled)});
  encode_frame(reset, Frame{.op = Op::goaway, .status = 8, .payload = as_bytes("bye")});
  write_corpus_file(dir / "stream-reset-goaway", as_input(reset));
  return 0;
}
