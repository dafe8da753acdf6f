// Writes a sample capture: what a dialing node sends on one connection, encoded with
// weft's encoder, to FILE (or stdout with "-"). Decode it with `weft-dump FILE`.
//
//   weft_write_capture capture.bin && weft-dump capture.bin
//
// It shows the encoder API: build a weft::Frame whose views point at your data, append it
// to a ByteBuffer with encode_frame, and write the buffer's bytes out.
#include <array>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "weft/auth.hpp"
#include "weft/wire.hpp"

namespace {

using weft::Frame;
using weft::Op;

// The dialer's side of a short session: hello and auth, a request, a stream, an object, goodbye.
void append_session(weft::ByteBuffer& out) {
  std::array<std::uint8_t, weft::kNonceBytes> dialer_nonce{};
  std::array<std::uint8_t, weft::kNonceBytes> acceptor_nonce{};
  dialer_nonce.fill(0xd1);
  acceptor_nonce.fill(0xac);
  const Frame hello{.op = Op::hello,
                    .checksum = true,
                    .flags = weft::flag::kChecksums,
                    .version_min = weft::kProtocolVersionMin,
                    .version_max = weft::kProtocolVersion,
                    .name = "node-a",
                    .peer_name = "node-b",
                    .incarnation = 0x5eed0001,
                    .wall_ms = 1767225600000ULL,
                    .max_frame_bytes = weft::WireLimits{}.max_frame_bytes,
                    .nonce = dialer_nonce};
  weft::encode_frame(out, hello);
  // The acceptor's challenge (in the other direction, not in this capture), which the
  // dialer's auth answers with its proof under the cluster key "demo-cluster-key".
  const Frame challenge{.op = Op::challenge,
                        .checksum = true,
                        .flags = weft::flag::kChecksums,
                        .version = weft::kProtocolVersion,
                        .name = "node-b",
                        .incarnation = 0x5eed0002,
                        .wall_ms = 1767225600001ULL,
                        .max_frame_bytes = weft::WireLimits{}.max_frame_bytes,
                        .nonce = acceptor_nonce};
  const std::vector<std::uint8_t> proof =
      weft::SharedKeyAuth(std::string_view("demo-cluster-key"))
          .prove(weft::handshake_transcript(weft::ProofRole::dialer, hello, challenge))
          .value();
  weft::encode_frame(out, Frame{.op = Op::auth, .checksum = true, .payload = proof});
  // After the welcome both sides checksum every frame (the hello asked for it).
  weft::encode_frame(out, Frame{.op = Op::ping, .checksum = true, .seq = 1});
  weft::encode_frame(out, Frame{.op = Op::request,
                                .checksum = true,
                                .mux = 2,
                                .handler = 1,
                                .deadline_ms = 60000,
                                .payload = weft::as_bytes("echo me")});
  weft::encode_frame(out, Frame{.op = Op::request,
                                .checksum = true,
                                .mux = 4,
                                .handler = 2,
                                .route = weft::route_id("slow"),
                                .deadline_ms = 5000,
                                .payload = weft::as_bytes("take your time")});
  weft::encode_frame(out, Frame{.op = Op::cancel, .checksum = true, .mux = 4});
  weft::encode_frame(out, Frame{.op = Op::stream_open,
                                .checksum = true,
                                .flags = weft::flag::kHasPayload | weft::flag::kHasInput,
                                .mux = 6,
                                .handler = 3,
                                .credit_msgs = 16,
                                .credit_bytes = 1 << 20,
                                .payload = weft::as_bytes("start")});
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const std::string message = "message " + std::to_string(seq);
    weft::encode_frame(out, Frame{.op = Op::stream_msg,
                                  .checksum = true,
                                  .mux = 6,
                                  .seq = seq,
                                  .payload = weft::as_bytes(message)});
  }
  weft::encode_frame(out, Frame{.op = Op::stream_credit,
                                .checksum = true,
                                .mux = 6,
                                .credit_msgs = 3,
                                .credit_bytes = 30});
  weft::encode_frame(out, Frame{.op = Op::stream_end, .checksum = true, .mux = 6, .seq = 3});
  const std::string object(300, 'o');
  weft::encode_frame(out, Frame{.op = Op::object_begin,
                                .checksum = true,
                                .mux = 8,
                                .seq = 1,
                                .handler = 4,
                                .size = object.size(),
                                .payload = weft::as_bytes("bucket/object-1")});
  weft::encode_frame(out, Frame{.op = Op::object_data,
                                .checksum = true,
                                .mux = 8,
                                .seq = 1,
                                .payload = weft::as_bytes(object)});
  weft::encode_frame(
      out,
      Frame{.op = Op::object_end, .checksum = true, .mux = 8, .seq = 1, .size = object.size()});
  weft::encode_frame(out, Frame{.op = Op::goaway,
                                .checksum = true,
                                .status = static_cast<std::uint16_t>(weft::Status::shutting_down),
                                .payload = weft::as_bytes("demo over")});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE|-\n", argv[0]);
    return 2;
  }
  weft::ByteBuffer capture;
  append_session(capture);
  const bool to_stdout = std::strcmp(argv[1], "-") == 0;
  std::FILE* file = to_stdout ? stdout : std::fopen(argv[1], "wb");
  if (file == nullptr) {
    std::perror(argv[1]);
    return 2;
  }
  const weft::Bytes bytes = capture.view();
  // A full disk shows at the flush or the close, not at fwrite: each is checked.
  bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
  written = std::fflush(file) == 0 && written;
  if (!to_stdout) written = std::fclose(file) == 0 && written;
  if (!written) {
    std::perror(argv[1]);
    return 2;
  }
  std::fprintf(stderr, "wrote %zu bytes of frames to %s\n", bytes.size(), argv[1]);
  return 0;
}
