// Checks the error vectors of docs/PROTOCOL.md §10.2 three ways: the decoder fed the stream
// as a node reads it, a live node that accepted the handshake (its goaway text), and
// weft-dump.
// A change to an offset's origin, an error's name or the order of the checks fails here.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dump_runner.hpp"
#include "sample_frames.hpp"
#include "vector_text.hpp"
#include "weft/auth.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

using testing::ErrorVector;

constexpr std::string_view kClusterKey = "s3cret-cluster-key";

// The §10.1 hello with a checksum: the first frame of every vector's stream.
std::vector<std::uint8_t> checksummed_hello() {
  for (const auto& vector : testing::parse_vectors(testing::read_text_file(WEFT_PROTOCOL_MD))) {
    if (vector.frame_text.starts_with("hello cksum=1")) return vector.bytes;
  }
  return {};
}

// An auth with a checksum whose proof is 32 zero bytes: its place in a stream (a live node
// gets the one its challenge asks for, of the same length).
std::vector<std::uint8_t> placeholder_auth() {
  const std::vector<std::uint8_t> proof(32, 0);
  return testing::encode_to_vector(Frame{.op = Op::auth, .checksum = true, .payload = proof});
}

std::vector<std::uint8_t> stream_of(const ErrorVector& vector) {
  std::vector<std::uint8_t> stream = checksummed_hello();
  const std::vector<std::uint8_t> auth = placeholder_auth();
  stream.insert(stream.end(), auth.begin(), auth.end());
  stream.insert(stream.end(), vector.after_handshake.begin(), vector.after_handshake.end());
  return stream;
}

std::string error_line(const DecodeError& error) {
  return "error at byte " + std::to_string(error.offset) + ": " +
         std::string(wire_error_name(error.code));
}

// The decoder as a node uses it: the hello and the auth under the handshake's options, then
// checksums required (the hello asked for them), every input in `piece_bytes` pieces.
std::string decoder_verdict(const std::vector<std::uint8_t>& stream, std::size_t piece_bytes) {
  FrameDecoder decoder;
  int handshake_frames = 0;
  for (std::size_t at = 0; at < stream.size(); at += piece_bytes) {
    Bytes input = Bytes(stream).subspan(at, std::min(piece_bytes, stream.size() - at));
    while (true) {
      const DecodeStep step = decoder.next(input);
      if (step.status == DecodeStatus::error) return error_line(decoder.error());
      if (step.status == DecodeStatus::need_more) break;
      input = input.subspan(step.consumed);
      if (++handshake_frames == 2) {
        DecoderOptions options = decoder.options();
        options.require_checksum = true;
        decoder.set_options(options);
      }
    }
  }
  return "no error";
}

// The first frame of `bytes` and its length (a test failure when there is none).
std::pair<OwnedFrame, std::size_t> first_frame(Bytes bytes) {
  FrameDecoder decoder;
  const DecodeStep step = decoder.next(bytes);
  EXPECT_EQ(step.status, DecodeStatus::frame);
  if (step.status != DecodeStatus::frame) return {};
  return {OwnedFrame(step.frame), step.consumed};
}

// A node playing node-b accepts a transport and reads `stream`: its hello, then (the node
// having answered with a challenge) the auth that challenge asks for in place of the
// stream's placeholder, and the rest in `piece_bytes` pieces; returns the text of the
// goaway it wrote after its welcome.
std::string node_verdict(const std::vector<std::uint8_t>& stream, std::size_t piece_bytes,
                         std::string_view endpoint = {}) {
  NodeConfig config;
  config.name = "node-b";
  config.peers = {"node-a"};
  config.auth = std::make_shared<SharedKeyAuth>(kClusterKey);
  config.seed = 1;
  Node node(config, 0, 1'767'225'600'000);
  if (!endpoint.empty()) node.register_object_endpoint(endpoint);
  const TransportId transport = node.on_accepted(0);
  std::vector<std::uint8_t> written;
  const auto drain = [&] {
    const Bytes out = node.pending_output(transport);
    written.insert(written.end(), out.begin(), out.end());
    node.consume_output(transport, out.size());
    // A connection the node closes hands its last bytes (the goaway) to the driver here.
    while (auto event = node.poll_event()) {
      if (const auto* close = std::get_if<event::CloseTransport>(&*event))
        written.insert(written.end(), close->final_bytes.begin(), close->final_bytes.end());
    }
  };
  const auto [hello, hello_bytes] = first_frame(stream);
  node.on_bytes(0, transport, Bytes(stream).first(hello_bytes));
  const auto [challenge, challenge_bytes] = first_frame(node.pending_output(transport));
  drain();
  const std::vector<std::uint8_t> proof =
      SharedKeyAuth(kClusterKey)
          .prove(handshake_transcript(ProofRole::dialer, hello.view(), challenge.view()))
          .value();
  std::vector<std::uint8_t> rest =
      testing::encode_to_vector(Frame{.op = Op::auth, .checksum = true, .payload = proof});
  const auto [placeholder, auth_bytes] = first_frame(Bytes(stream).subspan(hello_bytes));
  EXPECT_EQ(placeholder.view().op, Op::auth);
  EXPECT_EQ(auth_bytes, rest.size());
  rest.insert(rest.end(), stream.begin() + static_cast<std::ptrdiff_t>(hello_bytes + auth_bytes),
              stream.end());
  for (std::size_t at = 0; at < rest.size(); at += piece_bytes) {
    node.on_bytes(0, transport, Bytes(rest).subspan(at, std::min(piece_bytes, rest.size() - at)));
    drain();
  }
  std::string verdict = "no goaway";
  FrameDecoder decoder;
  Bytes input = written;
  bool welcomed = false;
  while (true) {
    const DecodeStep step = decoder.next(input);
    if (step.status != DecodeStatus::frame) break;
    input = input.subspan(step.consumed);
    if (step.frame.op == Op::welcome) welcomed = true;
    if (step.frame.op == Op::goaway && welcomed &&
        step.frame.status == static_cast<std::uint16_t>(Status::protocol_error)) {
      verdict = std::string(as_chars(step.frame.payload));
    }
  }
  return verdict;
}

// What weft-dump says about the stream on stderr (its first line).
std::string dump_verdict(const std::vector<std::uint8_t>& stream) {
  const std::string path = testing::scratch("vector.bin");
  testing::write_file(path, stream);
  const testing::RunResult result = testing::run_dump(path);
  EXPECT_EQ(result.exit_status, 1) << result.err;
  return result.err.substr(0, result.err.find('\n'));
}

// `text` is `expected` followed by nothing or by ": <detail>".
bool starts_with_line(const std::string& text, const std::string& expected) {
  return text.starts_with(expected) &&
         (text.size() == expected.size() || text.compare(expected.size(), 2, ": ") == 0);
}

std::vector<ErrorVector> doc_vectors() {
  const std::string doc = testing::read_text_file(WEFT_PROTOCOL_MD);
  return testing::parse_error_vectors(doc);
}

TEST(ErrorVectors, TheHandshakeTheyFollowIsTheChecksummedHelloOfTheFrameVectorsAndAnAuth) {
  EXPECT_EQ(checksummed_hello().size(), 94u);
  EXPECT_EQ(placeholder_auth().size(), 53u);
}

TEST(ErrorVectors, TheDecoderReportsEachAtItsOffsetWholeAndByteByByte) {
  const std::vector<ErrorVector> vectors = doc_vectors();
  ASSERT_GE(vectors.size(), 20u);
  for (const ErrorVector& vector : vectors) {
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line));
    ASSERT_FALSE(vector.after_handshake.empty()) << "no readable hex";
    ASSERT_FALSE(vector.error.empty()) << "no error line";
    const std::vector<std::uint8_t> stream = stream_of(vector);
    EXPECT_EQ(decoder_verdict(stream, stream.size()), vector.error);
    EXPECT_EQ(decoder_verdict(stream, 1), vector.error);
  }
}

TEST(ErrorVectors, ALiveNodeClosesWithAGoawayWhoseTextStartsWithEach) {
  const auto vectors = doc_vectors();
  ASSERT_GE(vectors.size(), 20u);  // none would prove nothing
  for (const ErrorVector& vector : vectors) {
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line));
    const std::vector<std::uint8_t> stream = stream_of(vector);
    for (const std::size_t piece : {stream.size(), std::size_t{1}}) {
      const std::string said = node_verdict(stream, piece);
      EXPECT_TRUE(starts_with_line(said, vector.error))
          << "goaway says \"" << said << "\", the doc \"" << vector.error << "\"";
    }
  }
}

TEST(ErrorVectors, WeftDumpReportsEachButTheChecksumItCannotKnowWasAgreed) {
  const auto vectors = doc_vectors();
  ASSERT_GE(vectors.size(), 20u);  // none would prove nothing
  for (const ErrorVector& vector : vectors) {
    if (vector.error.ends_with(": checksum_missing")) continue;  // a handshake agreement
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line));
    const std::string said = dump_verdict(stream_of(vector));
    EXPECT_TRUE(starts_with_line(said, vector.error))
        << "weft-dump says \"" << said << "\", the doc \"" << vector.error << "\"";
  }
}

// §10.3: whole streams (their own hello and a placeholder auth) to a node serving "store".
TEST(ErrorVectors, CompressedStreamVectorsEndWithTheirGoawayText) {
  const auto vectors =
      testing::parse_error_vectors(testing::read_text_file(WEFT_PROTOCOL_MD), "stream:", "goaway:");
  ASSERT_GE(vectors.size(), 1u);
  for (const ErrorVector& vector : vectors) {
    SCOPED_TRACE("PROTOCOL.md line " + std::to_string(vector.line));
    ASSERT_FALSE(vector.after_handshake.empty()) << "no readable hex";
    ASSERT_FALSE(vector.error.empty()) << "no goaway line";
    for (const std::size_t piece : {vector.after_handshake.size(), std::size_t{1}})
      EXPECT_EQ(node_verdict(vector.after_handshake, piece, "store"), vector.error);
  }
}

TEST(ErrorVectors, EveryErrorAFrameCanHaveHasAVector) {
  std::set<std::string> covered;
  for (const ErrorVector& vector : doc_vectors()) {
    const std::size_t name = vector.error.rfind(": ");
    if (name != std::string::npos) covered.insert(vector.error.substr(name + 2));
  }
  for (int code = static_cast<int>(WireError::bad_magic);
       code <= static_cast<int>(WireError::payload_not_allowed); ++code) {
    const std::string name(wire_error_name(static_cast<WireError>(code)));
    EXPECT_TRUE(covered.contains(name)) << name << " has no error vector";
  }
}

}  // namespace
}  // namespace weft
