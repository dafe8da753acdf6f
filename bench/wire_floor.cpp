#include "wire_floor.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include "weft/config.hpp"
#include "weft/wire.hpp"
#include "weft_side.hpp"

namespace weft_bench {
namespace {

// What a node that agreed on checksums reads with: every frame must carry one.
weft::DecoderOptions checked() {
  weft::DecoderOptions options;
  options.require_checksum = true;
  return options;
}

// Sends what `out` holds and empties it.
bool flush(int fd, weft::ByteBuffer& out) {
  const weft::Bytes bytes = out.view();
  const bool sent = send_all(fd, bytes.data(), bytes.size());
  out.clear();
  return sent;
}

// The frames of one recv, one at a time, until the input is used up (a frame split across
// recvs is gathered by the decoder). `on_frame` returns false to stop; so does a bad frame.
template <typename OnFrame>
bool decode_all(weft::FrameDecoder& decoder, weft::Bytes input, OnFrame on_frame) {
  while (true) {
    const weft::DecodeStep step = decoder.next(input);
    if (step.status == weft::DecodeStatus::need_more) return true;
    if (step.status == weft::DecodeStatus::error || !on_frame(step.frame)) return false;
    input = input.subspan(step.consumed);
  }
}

// A weft connection's mux ids for the calls it opens: serial, slot (20 bits), the opener's
// parity bit (core/src/connection_requests.cpp make_mux; 0 for the side that dialed, as the
// bench's client did); 64 calls in flight use slots 0-63, here in turn.
class MuxIds {
 public:
  explicit MuxIds(std::uint64_t slots) : slots_(slots) {}
  std::uint64_t next() {
    ++serial_;
    slot_ = slot_ + 1 == slots_ ? 0 : slot_ + 1;  // no division per request: weft has none
    return ((serial_ << 20) | slot_) << 1;
  }

 private:
  std::uint64_t slots_;
  std::uint64_t slot_ = 0;
  std::uint64_t serial_ = 0;
};

weft::Frame request_frame(std::uint64_t mux, weft::Bytes payload) {
  return weft::Frame{.op = weft::Op::request,
                     .checksum = true,
                     .mux = mux,
                     .handler = kEcho,
                     .deadline_ms = static_cast<std::uint32_t>(
                         weft::ConnectionTimeouts{}.default_request_timeout_ms),
                     .payload = payload};
}

weft::Frame response_frame(std::uint64_t mux, weft::Bytes payload) {
  return weft::Frame{.op = weft::Op::response, .checksum = true, .mux = mux, .payload = payload};
}

// A mux id a million calls into a connection's life, 64 in flight (9 bytes from the 2048th
// call on): what MuxIds(64) gives for that serial.
std::uint64_t typical_mux() {
  constexpr std::uint64_t kSerial = 1'000'001;
  return ((kSerial << 20) | (kSerial % 64)) << 1;
}

}  // namespace

std::size_t request_frame_bytes(std::size_t payload_bytes) {
  const std::vector<std::uint8_t> payload(payload_bytes);
  return weft::encoded_size(request_frame(typical_mux(), payload));
}

std::size_t response_frame_bytes(std::size_t payload_bytes) {
  const std::vector<std::uint8_t> payload(payload_bytes);
  return weft::encoded_size(response_frame(typical_mux(), payload));
}

void serve_weft_frames(int fd, std::vector<char>& buffer) {
  weft::FrameDecoder decoder(checked());
  weft::ByteBuffer out;
  while (true) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got <= 0) return;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(buffer.data());
    const bool read = decode_all(
        decoder, {bytes, static_cast<std::size_t>(got)}, [&](const weft::Frame& request) {
          if (request.op != weft::Op::request) return false;
          weft::encode_frame(out, response_frame(request.mux, request.payload));
          return true;
        });
    if (!read || !flush(fd, out)) return;
  }
}

double raw_weft_frames(std::uint16_t port, std::size_t in_flight, std::size_t payload_bytes,
                       double seconds, Latencies& latencies) {
  const int fd = connect_loopback(port);
  const char mode = 'w';
  send_all(fd, &mode, 1);
  // EchoFifo counting responses, not bytes: one "byte" per response decoded.
  EchoFifo fifo(in_flight, seconds, latencies, 1);
  const std::vector<std::uint8_t> payload(payload_bytes, 0x5a);
  MuxIds sent_ids(in_flight);
  MuxIds answered_ids(in_flight);  // the echo keeps order: each response names the next id
  weft::FrameDecoder decoder(checked());
  weft::ByteBuffer out;
  const auto send_requests = [&](std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      weft::encode_frame(out, request_frame(sent_ids.next(), payload));
    }
    return flush(fd, out);
  };
  bool healthy = send_requests(fifo.start());
  std::vector<char> buffer(256 * 1024);
  while (healthy && !fifo.done()) {
    const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    healthy = got > 0;  // the server stops only on a bad frame
    if (!healthy) break;
    std::size_t answers = 0;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(buffer.data());
    healthy = decode_all(
        decoder, {bytes, static_cast<std::size_t>(got)}, [&](const weft::Frame& response) {
          ++answers;
          return response.op == weft::Op::response && response.status == 0 &&
                 response.mux == answered_ids.next() && response.payload.size() == payload_bytes;
        });
    const std::size_t more = fifo.on_received(answers);
    if (healthy && more > 0) healthy = send_requests(more);
  }
  ::close(fd);
  return healthy ? fifo.rate() : 0;
}

}  // namespace weft_bench
