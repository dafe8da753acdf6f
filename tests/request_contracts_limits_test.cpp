// Contract tests of limits checked without a network (issue 13): the Node constructor's
// config validation and the FrameDecoder's WireLimits, each at its boundary and one past
// it. Part of weft_request_contract_tests (see request_contracts_test.cpp for the rest).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <msgpack.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "weft/node.hpp"
#include "weft/wire.hpp"

namespace weft {
namespace {

constexpr std::int64_t kMaxTimeoutMs = 4'294'967'295;  // 2^32 - 1, the wire's deadline_ms

// ---- config validation ------------------------------------------------------------------

NodeConfig valid_config() {
  return testing::test_config("alpha", {"bravo"});
}

// Builds a node from `config` changed by `change`: whether the constructor accepted it.
bool accepts(const std::function<void(NodeConfig&)>& change) {
  NodeConfig config = valid_config();
  change(config);
  return testing::node_accepts(std::move(config));
}

// No default seed: a node without one is refused, any chosen value (0 included) is taken.
TEST(RequestContracts, ConfigWithoutASeedIsRefusedAnyChosenSeedIsTaken) {
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.seed.reset(); }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.seed = 0; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.seed = ~std::uint64_t{0}; }));
}

// Instants up to kMaxTimeNs are taken, one past refused: the core adds timeouts of up to
// 49 days to them, which past it could overflow.
TEST(RequestContracts, AStartTimeUpToKMaxTimeNsIsTakenOnePastThrows) {
  EXPECT_NO_THROW(Node(valid_config(), kMaxTimeNs, 0));
  EXPECT_THROW(Node(valid_config(), kMaxTimeNs + 1, 0), std::invalid_argument);
}

TEST(RequestContracts, ConfigMaxFrameBytesAt65536IsAcceptedOneLessThrows) {
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_frame_bytes = 65536; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_frame_bytes = 65535; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_frame_bytes = UINT32_MAX; }));
}

TEST(RequestContracts, ConfigRequestLimitsAtTheirBoundsAreAcceptedOnePastThrows) {
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_outbound_requests = 1; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_outbound_requests = 0; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_outbound_requests = 1u << 20; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_outbound_requests = (1u << 20) + 1; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_inbound_requests = 1; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_inbound_requests = 0; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_inbound_requests = 1u << 20; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_inbound_requests = (1u << 20) + 1; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.max_streams = 1u << 20; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.max_streams = (1u << 20) + 1; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.limits.output_high_water_bytes = 1; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.limits.output_high_water_bytes = 0; }));
}

// Every timeout up to kMaxTimeoutMs (49 days) is taken, one more refused: nanoseconds
// overflow past about 2^63 / 10^6 ms, and the keepalive multiplies the ping interval by
// dead_after_pings. Before, a ping interval of 5 * 10^12 ms was taken, "silent for" wrapped
// around, and two nodes reconnected about 40 times a second.
TEST(RequestContracts, ConfigTimeoutsUpTo49DaysAreTakenOneMoreMsThrows) {
  using Timeouts = ConnectionTimeouts;
  for (std::int64_t Timeouts::*field :
       {&Timeouts::handshake_timeout_ms, &Timeouts::hello_timeout_ms, &Timeouts::connect_timeout_ms,
        &Timeouts::ping_interval_ms, &Timeouts::backoff_max_ms, &Timeouts::max_clock_skew_ms,
        &Timeouts::stream_ping_interval_ms, &Timeouts::stream_silence_timeout_ms,
        &Timeouts::stream_idle_timeout_ms, &Timeouts::object_idle_timeout_ms,
        &Timeouts::object_resume_timeout_ms, &Timeouts::idle_close_ms}) {
    EXPECT_TRUE(accepts([field](NodeConfig& c) { c.timeouts.*field = kMaxTimeoutMs; }));
    EXPECT_FALSE(accepts([field](NodeConfig& c) { c.timeouts.*field = kMaxTimeoutMs + 1; }));
  }
  EXPECT_TRUE(accepts([](NodeConfig& c) {
    c.timeouts.backoff_initial_ms = c.timeouts.backoff_max_ms = kMaxTimeoutMs;
  }));
  EXPECT_FALSE(accepts([](NodeConfig& c) {
    c.timeouts.backoff_initial_ms = c.timeouts.backoff_max_ms = kMaxTimeoutMs + 1;
  }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.ping_interval_ms = 5'000'000'000'000; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) {
    c.timeouts.ping_interval_ms = kMaxTimeoutMs;
    c.timeouts.dead_after_pings = 1000;
  }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.dead_after_pings = 1001; }));
}

TEST(RequestContracts, ConfigVersionRangeMustStartAtThreeAndNotBeEmpty) {
  // Versions 1 and 2 put the cluster secret on the wire: no node speaks them.
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.version_min = c.version_max = 3; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.version_min = c.version_max = 2; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.version_min = 1; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.version_min = 0; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) {
    c.version_min = 4;
    c.version_max = 3;
  }));
  EXPECT_TRUE(accepts([](NodeConfig& c) {
    c.version_min = 3;
    c.version_max = 65535;
  }));
}

TEST(RequestContracts, ConfigNamesOf255BytesAreAcceptedOneMoreThrows) {
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.name = std::string(255, 'n'); }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.name = std::string(256, 'n'); }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.name.clear(); }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.peers = {std::string(255, 'p')}; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.peers = {std::string(256, 'p')}; }));
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.name = "!~"; }));  // 0x21 and 0x7e
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.name = "a\x7f"; }));
}

// Every timeout must be positive (max_clock_skew_ms may be 0): 1 ms is accepted, 0 throws.
TEST(RequestContracts, ConfigTimeoutsOfOneMsAreAcceptedZeroThrows) {
  using Field = std::int64_t ConnectionTimeouts::*;
  const std::vector<std::pair<const char*, Field>> positive = {
      {"handshake_timeout_ms", &ConnectionTimeouts::handshake_timeout_ms},
      {"hello_timeout_ms", &ConnectionTimeouts::hello_timeout_ms},
      {"connect_timeout_ms", &ConnectionTimeouts::connect_timeout_ms},
      {"ping_interval_ms", &ConnectionTimeouts::ping_interval_ms},
      {"dead_after_pings", &ConnectionTimeouts::dead_after_pings},
      {"default_request_timeout_ms", &ConnectionTimeouts::default_request_timeout_ms},
      {"stream_ping_interval_ms", &ConnectionTimeouts::stream_ping_interval_ms},
      {"stream_silence_timeout_ms", &ConnectionTimeouts::stream_silence_timeout_ms},
      {"stream_idle_timeout_ms", &ConnectionTimeouts::stream_idle_timeout_ms},
  };
  for (const auto& [name, field] : positive) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(accepts([field = field](NodeConfig& c) { c.timeouts.*field = 1; }));
    EXPECT_FALSE(accepts([field = field](NodeConfig& c) { c.timeouts.*field = 0; }));
    EXPECT_FALSE(accepts([field = field](NodeConfig& c) { c.timeouts.*field = -1; }));
  }
  // The backoff: initial at least 1, maximum at least the initial.
  EXPECT_TRUE(accepts([](NodeConfig& c) {
    c.timeouts.backoff_initial_ms = 1;
    c.timeouts.backoff_max_ms = 1;
  }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.backoff_initial_ms = 0; }));
  EXPECT_TRUE(
      accepts([](NodeConfig& c) { c.timeouts.backoff_max_ms = c.timeouts.backoff_initial_ms; }));
  EXPECT_FALSE(accepts(
      [](NodeConfig& c) { c.timeouts.backoff_max_ms = c.timeouts.backoff_initial_ms - 1; }));
  // Clock skew: 0 (clocks must agree exactly) is allowed, negative is not.
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.timeouts.max_clock_skew_ms = 0; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.max_clock_skew_ms = -1; }));
}

TEST(RequestContracts, ConfigBackoffJitterMustBeInZeroToBelowOne) {
  EXPECT_TRUE(accepts([](NodeConfig& c) { c.timeouts.backoff_jitter_fraction = 0; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.backoff_jitter_fraction = -0.001; }));
  EXPECT_TRUE(accepts(
      [](NodeConfig& c) { c.timeouts.backoff_jitter_fraction = std::nextafter(1.0, 0.0); }));
  EXPECT_FALSE(accepts([](NodeConfig& c) { c.timeouts.backoff_jitter_fraction = 1.0; }));
  EXPECT_FALSE(accepts([](NodeConfig& c) {
    c.timeouts.backoff_jitter_fraction = std::numeric_limits<double>::quiet_NaN();
  }));
}

// The default request timeout travels as a request's deadline_ms (at most 2^32 - 1, like
// RequestArgs::timeout_ms); a larger one could not be sent as it is.
TEST(RequestContracts, ConfigDefaultRequestTimeoutUpTo2Pow32Minus1IsAcceptedOneMoreThrows) {
  EXPECT_TRUE(
      accepts([](NodeConfig& c) { c.timeouts.default_request_timeout_ms = kMaxTimeoutMs; }));
  EXPECT_FALSE(
      accepts([](NodeConfig& c) { c.timeouts.default_request_timeout_ms = kMaxTimeoutMs + 1; }));
}

// ---- decoder limits ---------------------------------------------------------------------

std::vector<std::uint8_t> encoded(const Frame& frame) {
  ByteBuffer buffer;
  encode_frame(buffer, frame);
  return {buffer.view().begin(), buffer.view().end()};
}

// Decodes `bytes` whole and byte by byte; both must agree. Returns the error (none: a frame).
DecodeError decode_both_ways(const std::vector<std::uint8_t>& bytes,
                             const DecoderOptions& options) {
  DecodeError whole;
  const std::optional<Frame> frame = decode_one(bytes, options, &whole);
  FrameDecoder split(options);
  bool decoded = false;
  for (std::uint8_t byte : bytes) {
    const DecodeStep step = split.next(Bytes(&byte, 1));
    if (step.status == DecodeStatus::error) break;
    decoded = decoded || step.status == DecodeStatus::frame;
  }
  EXPECT_EQ(frame.has_value(), decoded);
  EXPECT_EQ(whole.code, split.error().code);
  EXPECT_EQ(whole.offset, split.error().offset);
  return frame ? DecodeError{} : whole;
}

// A request whose body (header + payload + checksum) is exactly `body_bytes`.
std::vector<std::uint8_t> request_with_body(std::size_t body_bytes, bool checksum) {
  Frame frame{.op = Op::request, .checksum = checksum, .mux = 2, .handler = 7};
  const std::size_t empty_body = encoded_size(frame) - kPrefixBytes;
  const std::string payload(body_bytes - empty_body, 'p');
  frame.payload = as_bytes(payload);
  std::vector<std::uint8_t> bytes = encoded(frame);
  EXPECT_EQ(bytes.size(), kPrefixBytes + body_bytes);
  return bytes;
}

TEST(RequestContracts, DecoderBodyOfExactlyMaxFrameBytesDecodesOneMoreIsFrameTooLargeAtByte4) {
  for (bool checksum : {false, true}) {
    SCOPED_TRACE(checksum ? "checksummed" : "plain");
    DecoderOptions options;
    options.limits.max_frame_bytes = 70'000;
    EXPECT_EQ(decode_both_ways(request_with_body(70'000, checksum), options).code, WireError::none);
    const DecodeError past = decode_both_ways(request_with_body(70'001, checksum), options);
    EXPECT_EQ(past.code, WireError::frame_too_large);
    EXPECT_EQ(past.offset, 4u);
  }
  // The default limit, 8 MiB, likewise.
  const DecoderOptions defaults;
  ASSERT_EQ(defaults.limits.max_frame_bytes, 8u * 1024 * 1024);
  DecodeError error;
  EXPECT_TRUE(decode_one(request_with_body(8 * 1024 * 1024, true), defaults, &error).has_value())
      << error.message;
  EXPECT_FALSE(decode_one(request_with_body(8 * 1024 * 1024 + 1, true), defaults, &error));
  EXPECT_EQ(error.code, WireError::frame_too_large);
  EXPECT_EQ(error.offset, 4u);
}

TEST(RequestContracts, DecoderHeaderOfExactlyMaxHeaderBytesDecodesOneMoreIsHeaderTooLargeAtByte2) {
  const std::vector<std::uint8_t> bytes = encoded(Frame{
      .op = Op::request, .mux = 2, .handler = 7, .route = route_id("r"), .deadline_ms = 60'000});
  const std::uint16_t header_bytes = static_cast<std::uint16_t>(bytes[2] << 8 | bytes[3]);
  DecoderOptions options;
  options.limits.max_header_bytes = header_bytes;
  EXPECT_EQ(decode_both_ways(bytes, options).code, WireError::none);
  options.limits.max_header_bytes = static_cast<std::uint16_t>(header_bytes - 1);
  const DecodeError past = decode_both_ways(bytes, options);
  EXPECT_EQ(past.code, WireError::header_too_large);
  EXPECT_EQ(past.offset, 2u);
}

Frame hello_named(std::string_view name, std::string_view peer_name, Bytes nonce) {
  return Frame{.op = Op::hello,
               .version_min = 1,
               .version_max = 1,
               .name = name,
               .peer_name = peer_name,
               .incarnation = 5,
               .wall_ms = 6,
               .max_frame_bytes = 65536,
               .nonce = nonce};
}

// Header offsets of a hello: prefix 8, fixarray 1, op, flags, mux, seq, version_min and
// version_max 1 each, then the name (a fixstr when under 32 bytes).
constexpr std::uint64_t kHelloNameOffset = 8 + 7;

TEST(RequestContracts, DecoderNamesOfExactlyMaxNameBytesDecodeOneMoreIsInvalidAtTheName) {
  DecoderOptions options;
  options.limits.max_name_bytes = 10;
  const std::string ten(10, 'n');
  const std::string eleven(11, 'n');
  EXPECT_EQ(decode_both_ways(encoded(hello_named(ten, ten, {})), options).code, WireError::none);
  const DecodeError long_name = decode_both_ways(encoded(hello_named(eleven, ten, {})), options);
  EXPECT_EQ(long_name.code, WireError::invalid_field);
  EXPECT_EQ(long_name.offset, kHelloNameOffset);
  const DecodeError long_peer = decode_both_ways(encoded(hello_named(ten, eleven, {})), options);
  EXPECT_EQ(long_peer.code, WireError::invalid_field);
  EXPECT_EQ(long_peer.offset, kHelloNameOffset + 1 + ten.size());
}

// A hello with a nonce of `nonce_bytes`, built by hand (the encoder refuses nonces over the
// default limit). The nonce is the header's last element: its offset is returned in *at.
std::vector<std::uint8_t> hello_with_nonce(std::size_t nonce_bytes, std::uint64_t* at) {
  msgpack::sbuffer header;
  msgpack::packer<msgpack::sbuffer> pack(header);
  pack.pack_array(12);
  for (std::uint64_t value : {std::uint64_t{1}, std::uint64_t{0}, std::uint64_t{0},
                              std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1}}) {
    pack.pack(value);
  }
  pack.pack(std::string("a"));
  pack.pack(std::string("b"));
  pack.pack(std::uint64_t{5});
  pack.pack(std::uint64_t{6});
  pack.pack(std::uint64_t{65536});
  *at = kPrefixBytes + header.size();
  const std::string nonce(nonce_bytes, 'n');
  pack.pack_bin(static_cast<std::uint32_t>(nonce.size()));
  pack.pack_bin_body(nonce.data(), static_cast<std::uint32_t>(nonce.size()));
  const std::size_t body = header.size();
  // Sized once and filled in place (g++ 12 at -O3 warns falsely about growing a vector
  // that starts with an initializer list).
  std::vector<std::uint8_t> wire(kPrefixBytes + header.size());
  wire[0] = kFrameMagic;
  wire[2] = static_cast<std::uint8_t>(header.size() >> 8);
  wire[3] = static_cast<std::uint8_t>(header.size());
  for (int i = 0; i < 4; ++i)
    wire[4 + i] = static_cast<std::uint8_t>(body >> (24 - 8 * i));
  std::copy(header.data(), header.data() + header.size(), wire.begin() + kPrefixBytes);
  return wire;
}

TEST(RequestContracts, DecoderNonceOfExactlyMaxNonceBytesDecodesOneMoreIsInvalidAtTheNonce) {
  std::uint64_t at = 0;
  const DecoderOptions defaults;
  ASSERT_EQ(defaults.limits.max_nonce_bytes, 256u);
  EXPECT_EQ(decode_both_ways(hello_with_nonce(256, &at), defaults).code, WireError::none);
  const DecodeError past = decode_both_ways(hello_with_nonce(257, &at), defaults);
  EXPECT_EQ(past.code, WireError::invalid_field);
  EXPECT_EQ(past.offset, at);
}

// max_nonce_bytes is at most kNonceBytesCap (512): a larger setting still stops at 512.
TEST(RequestContracts, DecoderNonceLimitIsCappedAt512EvenWhenSetHigher) {
  DecoderOptions options;
  options.limits.max_nonce_bytes = 1000;
  std::uint64_t at = 0;
  EXPECT_EQ(decode_both_ways(hello_with_nonce(kNonceBytesCap, &at), options).code, WireError::none);
  const DecodeError past = decode_both_ways(hello_with_nonce(kNonceBytesCap + 1, &at), options);
  EXPECT_EQ(past.code, WireError::invalid_field);
  EXPECT_EQ(past.offset, at);
}

}  // namespace
}  // namespace weft
