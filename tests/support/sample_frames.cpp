#include "sample_frames.hpp"

#include <array>
#include <stdexcept>

#include "weft/auth.hpp"

namespace weft::testing {
namespace {

SampleFrame make(std::string label, Frame frame, std::string_view payload = {}) {
  frame.payload = as_bytes(payload);
  return {std::move(label), OwnedFrame(frame)};
}

// 0x00, 0x01, ... (`first` on): the example's nonces.
std::array<std::uint8_t, kNonceBytes> counting_nonce(std::uint8_t first) {
  std::array<std::uint8_t, kNonceBytes> nonce{};
  for (std::size_t i = 0; i < nonce.size(); ++i)
    nonce[i] = static_cast<std::uint8_t>(first + i);
  return nonce;
}

// A control object's header: an opcode and a name, no attributes.
std::vector<std::uint8_t> sample_control_header() {
  ObjectHeader header;
  header.name = "rebalance";
  header.opcode = 7;
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  return bytes;
}

}  // namespace

std::vector<std::uint8_t> sample_object_header() {
  ObjectHeader header;
  header.name = "bucket/obj1";
  header.opaque = {0xca, 0xfe};
  header.attrs.size = 11;
  header.attrs.access_time_ns = 1767225600000000000;
  header.attrs.checksum_type = "xxhash";
  header.attrs.checksum_value = "0123abcd";
  header.attrs.custom = {{"owner", "ops"}};
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  return bytes;
}

OwnedFrame sample_frame(std::string_view label) {
  for (SampleFrame& sample : sample_frames()) {
    if (sample.label == label) return std::move(sample.frame);
  }
  throw std::out_of_range("no sample frame " + std::string(label));
}

ExampleHandshake example_handshake() {
  const SharedKeyAuth auth(kExampleClusterKey);
  const auto dialer_nonce = counting_nonce(0x00);
  const auto acceptor_nonce = counting_nonce(0x80);
  ExampleHandshake out;
  out.hello = OwnedFrame(Frame{.op = Op::hello,
                               .flags = flag::kChecksums,
                               .seq = 1,
                               .version_min = 3,
                               .version_max = 3,
                               .name = "node-a",
                               .peer_name = "node-b",
                               .incarnation = 0x0123456789abcdefULL,
                               .wall_ms = 1767225600000ULL,
                               .max_frame_bytes = 8 * 1024 * 1024,
                               .nonce = dialer_nonce});
  Frame challenge{.op = Op::challenge,
                  .flags = flag::kChecksums,
                  .version = 3,
                  .name = "node-b",
                  .incarnation = 0xfedcba9876543210ULL,
                  .wall_ms = 1767225600250ULL,
                  .max_frame_bytes = 8 * 1024 * 1024,
                  .nonce = acceptor_nonce};
  const auto hello_bytes = encode_to_vector(out.hello.view());
  const auto challenge_bytes = encode_to_vector(challenge);
  const Bytes hello_header = frame_header_bytes(hello_bytes);
  const Bytes challenge_header = frame_header_bytes(challenge_bytes);
  out.acceptor_transcript =
      handshake_transcript(ProofRole::acceptor, hello_header, challenge_header, {});
  out.dialer_transcript =
      handshake_transcript(ProofRole::dialer, hello_header, challenge_header, {});
  const auto acceptor_proof = auth.prove(out.acceptor_transcript).value();
  const auto dialer_proof = auth.prove(out.dialer_transcript).value();
  challenge.payload = acceptor_proof;
  out.challenge = OwnedFrame(challenge);
  out.auth = OwnedFrame(Frame{.op = Op::auth, .payload = dialer_proof});
  return out;
}

std::vector<SampleFrame> sample_frames() {
  std::vector<SampleFrame> samples;
  auto add = [&samples](std::string label, Frame frame, std::string_view payload = {}) {
    samples.push_back(make(std::move(label), frame, payload));
  };
  const ExampleHandshake handshake = example_handshake();
  samples.push_back({"hello", handshake.hello});
  samples.push_back({"welcome", OwnedFrame(Frame{.op = Op::welcome})});
  add("reject", {.op = Op::reject, .status = static_cast<std::uint16_t>(Status::auth_failed)},
      "the proof of node-a does not verify");
  add("ping", {.op = Op::ping, .seq = 7});
  add("pong", {.op = Op::pong, .seq = 7});
  add("goaway", {.op = Op::goaway, .status = static_cast<std::uint16_t>(Status::shutting_down)},
      "restart");
  samples.push_back({"challenge", handshake.challenge});
  samples.push_back({"auth", handshake.auth});
  add("request",
      {.op = Op::request,
       .mux = 2,
       .handler = 7,
       .route = route_id("disk/1"),
       .deadline_ms = 60000},
      "hello");
  add("response", {.op = Op::response, .mux = 2}, "world");
  add("response_error",
      {.op = Op::response, .mux = 2, .status = static_cast<std::uint16_t>(Status::remote_error)},
      "disk full");
  add("request_more",
      {.op = Op::request,
       .flags = flag::kMore,
       .mux = 12,
       .seq = 20,
       .handler = 7,
       .deadline_ms = 60000},
      "first part ");
  add("continuation", {.op = Op::continuation, .mux = 12, .seq = 1}, "last part");
  add("cancel", {.op = Op::cancel, .mux = 4});
  add("stream_open",
      {.op = Op::stream_open,
       .flags = flag::kHasPayload | flag::kHasInput,
       .mux = 6,
       .handler = 9,
       .credit_msgs = 16,
       .credit_bytes = 1048576},
      "init");
  add("stream_accept",
      {.op = Op::stream_accept, .mux = 6, .credit_msgs = 8, .credit_bytes = 65536});
  add("stream_reject",
      {.op = Op::stream_reject,
       .mux = 8,
       .status = static_cast<std::uint16_t>(Status::unknown_handler)},
      "no handler 9");
  add("stream_msg", {.op = Op::stream_msg, .mux = 6, .seq = 1}, "msg-1");
  add("stream_credit", {.op = Op::stream_credit, .mux = 6, .credit_msgs = 4, .credit_bytes = 4096});
  add("stream_end", {.op = Op::stream_end, .mux = 6, .seq = 3});
  add("stream_reset",
      {.op = Op::stream_reset, .mux = 6, .status = static_cast<std::uint16_t>(Status::canceled)},
      "caller canceled");
  add("stream_ping", {.op = Op::stream_ping, .mux = 6, .seq = 2});
  add("stream_pong", {.op = Op::stream_pong, .mux = 6, .seq = 2});
  add("object_open",
      {.op = Op::object_open, .mux = 10, .seq = 1, .name = "store", .stream_key = 7});
  add("object_open_resume", {.op = Op::object_open,
                             .flags = flag::kResume,
                             .mux = 12,
                             .seq = 2,
                             .name = "store",
                             .stream_key = 7});
  add("object_accept", {.op = Op::object_accept,
                        .mux = 10,
                        .seq = 1,
                        .credit_msgs = 256,
                        .credit_bytes = 8 * 1024 * 1024});
  add("object_accept_begun", {.op = Op::object_accept,
                              .flags = flag::kBegun,
                              .mux = 12,
                              .seq = 2,
                              .credit_msgs = 255,
                              .credit_bytes = 8 * 1024 * 1024 - 6,
                              .offset = 6});
  add("object_reject",
      {.op = Op::object_reject,
       .mux = 10,
       .status = static_cast<std::uint16_t>(Status::unknown_handler)},
      "no object endpoint store");
  add("object_begin", {.op = Op::object_begin, .mux = 10, .seq = 1, .size = 11},
      as_chars(sample_object_header()));
  add("object_begin_unsized",
      {.op = Op::object_begin, .flags = flag::kSizeUnknown, .mux = 10, .seq = 2},
      as_chars(sample_object_header()));
  add("object_begin_ends", {.op = Op::object_begin, .flags = flag::kEnds, .mux = 10, .seq = 3},
      as_chars(sample_control_header()));
  add("object_data", {.op = Op::object_data, .mux = 10, .seq = 1}, "hello world");
  add("object_end", {.op = Op::object_end, .mux = 10, .seq = 1, .size = 11});
  add("object_end_aborted",
      {.op = Op::object_end,
       .mux = 10,
       .seq = 2,
       .status = static_cast<std::uint16_t>(Status::canceled),
       .size = 5},
      "source file vanished");
  add("object_ack", {.op = Op::object_ack, .mux = 10, .seq = 1});
  add("object_ack_through", {.op = Op::object_ack, .flags = flag::kThrough, .mux = 10, .seq = 9});
  add("object_credit",
      {.op = Op::object_credit, .mux = 10, .credit_msgs = 1, .credit_bytes = 65536});
  add("object_close", {.op = Op::object_close, .mux = 10, .seq = 2});
  return samples;
}

OwnedFrame with_checksum(const OwnedFrame& frame, bool checksum) {
  OwnedFrame copy = frame;
  copy.scalars().checksum = checksum;
  return copy;
}

std::vector<std::uint8_t> encode_to_vector(const Frame& frame) {
  ByteBuffer buffer;
  encode_frame(buffer, frame);
  return {buffer.view().begin(), buffer.view().end()};
}

}  // namespace weft::testing
