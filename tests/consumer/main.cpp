// Encodes a request with the installed weft::core, decodes it back, and checks it.
#include <cstdio>
#include <weft/frame_text.hpp>
#include <weft/wire.hpp>

int main() {
  weft::Frame request{.op = weft::Op::request,
                      .checksum = true,
                      .mux = 2,
                      .handler = 7,
                      .deadline_ms = 1000,
                      .payload = weft::as_bytes("ping")};
  weft::ByteBuffer wire;
  weft::encode_frame(wire, request);
  weft::FrameDecoder decoder;
  const weft::DecodeStep step = decoder.next(wire.view());
  if (step.status != weft::DecodeStatus::frame || !(step.frame == request)) {
    std::fprintf(stderr, "round trip failed: %s\n", decoder.error().message.c_str());
    return 1;
  }
  std::printf("consumer ok: %s\n", weft::format_frame(step.frame).c_str());
  return 0;
}
