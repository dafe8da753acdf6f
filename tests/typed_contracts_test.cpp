// Contract tests of typed.hpp, each at its boundary and one past it: trailing bytes after a
// value, undecodable payloads and messages, a shared handler answering null. End-to-end on
// a Cluster (simulated time).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "cluster.hpp"
#include "weft/typed.hpp"

namespace weft {
namespace {

using testing::Cluster;

constexpr std::size_t kCaller = 0;
constexpr std::size_t kServer = 1;

std::string text_of(Bytes bytes) {
  return std::string(as_chars(bytes));
}

// ---- typed.hpp --------------------------------------------------------------------------

struct Query {
  std::string disk;
  MSGPACK_DEFINE(disk)
};
struct Answer {
  std::uint64_t free_bytes = 0;
  MSGPACK_DEFINE(free_bytes)
};

constexpr std::uint16_t kTyped = 20;

template <typename T>
std::string packed(const T& value, std::string_view trailing = {}) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return std::string(buffer.data(), buffer.size()) + std::string(trailing);
}

struct TypedPair {
  TypedPair() : cluster({"caller", "server"}) {}
  PeerConnection caller() { return cluster.to(kCaller, kServer); }
  PeerConnection server() { return cluster.to(kServer, kCaller); }
  TimeNs now() { return cluster.now(); }
  void run_ms(std::int64_t ms) { cluster.net().run_for(ns_from_ms(ms)); }
  const event::RequestDone& done(const Call& call) {
    EXPECT_EQ(call.error, Errc::ok);
    EXPECT_TRUE(cluster.run_until_done(kCaller, call.id));
    return *cluster.recorder(kCaller).done_for(call.id);
  }
  Cluster cluster;
};

TEST(TypedContracts, RequestWithAByteAfterTheValueIsBadPayloadAndTheHandlerIsNotCalled) {
  TypedPair f;
  int calls = 0;
  TypedHandler<Query, Answer> handler(kTyped, "", [&calls](const Query&, Answer& out) {
    ++calls;
    out.free_bytes = 7;
    return HandlerStatus{};
  });
  ASSERT_EQ(handler.register_with(f.cluster.node(kServer)), Errc::ok);
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    if (handler.matches(request)) handler.serve(f.server(), f.now(), request);
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  const event::RequestDone& exact =
      f.done(f.cluster.request(kCaller, kServer, kTyped, packed(Query{"d"})));
  EXPECT_EQ(exact.result, Errc::ok);
  EXPECT_EQ(calls, 1);
  const event::RequestDone& trailing =
      f.done(f.cluster.request(kCaller, kServer, kTyped, packed(Query{"d"}, std::string(1, '\0'))));
  EXPECT_EQ(trailing.result, Errc::bad_payload);
  EXPECT_NE(text_of(trailing.payload).find("1 bytes after the value"), std::string::npos)
      << text_of(trailing.payload);
  EXPECT_EQ(calls, 1);
}

TEST(TypedContracts, ResponseWithAByteAfterTheValueIsBadPayload) {
  TypedPair f;
  // A raw handler that answers the exact encoding, or it with one byte after it.
  f.cluster.node(kServer).register_handler(kTyped);
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    const std::string trailing = request.payload.size() > packed(Query{"d"}).size() ? "x" : "";
    f.server().respond(f.now(), request.id, as_bytes(packed(Answer{42}, trailing)));
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  TypedCall<Query, Answer> call(kTyped);
  const Typed<Answer> exact = call.result(f.done(call.call(f.caller(), f.now(), Query{"d"})));
  ASSERT_EQ(exact.error, Errc::ok) << exact.message;
  EXPECT_EQ(exact.value->free_bytes, 42u);
  const Typed<Answer> trailing = call.result(f.done(call.call(f.caller(), f.now(), Query{"dd"})));
  EXPECT_EQ(trailing.error, Errc::bad_payload);
  EXPECT_FALSE(trailing.value);
  EXPECT_NE(trailing.message.find("1 bytes after the value"), std::string::npos)
      << trailing.message;
}

// typed.hpp does not say what a shared handler's null answer means; the code answers it
// like a failure without a code: remote_error to the caller (the status's code if it has one).
TEST(TypedContracts, SharedHandlerAnsweringNullIsARemoteErrorForTheCaller) {
  TypedPair f;
  auto answer = [](const Query& query, std::shared_ptr<const Answer>& out) {
    if (query.disk == "some") out = std::make_shared<const Answer>(Answer{5});
    if (query.disk == "busy") return HandlerStatus{Errc::busy, "later"};
    return HandlerStatus{};  // "none": out stays null
  };
  TypedHandler<Query, Answer> handler(kTyped, "", TypedHandler<Query, Answer>::SharedFn(answer));
  ASSERT_EQ(handler.register_with(f.cluster.node(kServer)), Errc::ok);
  f.cluster.recorder(kServer).on_request = [&](const event::RequestReceived& request) {
    EXPECT_EQ(handler.serve(f.server(), f.now(), request), Errc::ok);
  };
  ASSERT_TRUE(f.cluster.run_until_connected());
  TypedCall<Query, Answer> call(kTyped);
  const Typed<Answer> some = call.result(f.done(call.call(f.caller(), f.now(), Query{"some"})));
  ASSERT_EQ(some.error, Errc::ok);
  EXPECT_EQ(some.value->free_bytes, 5u);
  const Typed<Answer> none = call.result(f.done(call.call(f.caller(), f.now(), Query{"none"})));
  EXPECT_EQ(none.error, Errc::remote_error);
  EXPECT_FALSE(none.value);
  const Typed<Answer> busy = call.result(f.done(call.call(f.caller(), f.now(), Query{"busy"})));
  EXPECT_EQ(busy.error, Errc::busy);
  EXPECT_EQ(busy.message, "later");
}

using QueryStream = TypedStream<Query, Query, Answer>;

struct TypedStreamPair : TypedPair {
  TypedStreamPair() {
    EXPECT_EQ(typed.register_with(cluster.node(kServer)), Errc::ok);
    cluster.recorder(kServer).on_stream_event = [this](const Event& event) {
      if (const auto* opened = std::get_if<event::StreamOpened>(&event)) {
        served = opened->id;
        payload_error = typed.payload(*opened).error;
      }
    };
    EXPECT_TRUE(cluster.run_until_connected());
  }
  QueryStream typed{kTyped};
  StreamId served;
  Errc payload_error = Errc::ok;
};

TEST(TypedContracts, InitialPayloadThatDoesNotDecodeIsBadPayloadAndLeavesTheStreamToTheHandler) {
  TypedStreamPair f;
  const Query query{"p"};
  ASSERT_EQ(f.typed.open(f.caller(), f.now(), &query, false).error, Errc::ok);
  f.run_ms(1);
  EXPECT_EQ(f.payload_error, Errc::ok);
  for (const std::string& bad : {packed(query, "x"), std::string("\xc1"), packed(12345)}) {
    StreamArgs args;
    args.handler = kTyped;
    args.has_payload = true;
    args.payload = as_bytes(bad);
    const OpenedStream opened = f.caller().open_stream(f.now(), args);
    ASSERT_EQ(opened.error, Errc::ok);
    f.run_ms(1);
    EXPECT_EQ(f.payload_error, Errc::bad_payload);
    // payload() only decodes: the stream is the handler's to fail or keep.
    EXPECT_TRUE(f.server().stream_credits(f.served).has_value());
    EXPECT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 0u);
  }
  // No initial payload at all decodes as nothing: bad_payload too.
  ASSERT_EQ(f.typed.open(f.caller(), f.now(), nullptr, false).error, Errc::ok);
  f.run_ms(1);
  EXPECT_EQ(f.payload_error, Errc::bad_payload);
}

TEST(TypedContracts, StreamMessageWithAByteAfterTheValueFailsTheStreamWithBadPayload) {
  TypedStreamPair f;
  const OpenedStream opened = f.typed.open(f.caller(), f.now(), nullptr, true);
  ASSERT_EQ(opened.error, Errc::ok);
  f.run_ms(1);
  ASSERT_EQ(f.caller().stream_write(f.now(), opened.id, as_bytes(packed(Query{"a"}))), Errc::ok);
  ASSERT_EQ(f.caller().stream_write(f.now(), opened.id, as_bytes(packed(Query{"b"}, "x"))),
            Errc::ok);
  f.run_ms(1);
  const auto exact = f.typed.read_in(f.server(), f.now(), f.served);
  ASSERT_TRUE(exact.has_value());
  ASSERT_EQ(exact->error, Errc::ok);
  EXPECT_EQ(exact->value->disk, "a");
  const auto trailing = f.typed.read_in(f.server(), f.now(), f.served);
  ASSERT_TRUE(trailing.has_value());
  EXPECT_EQ(trailing->error, Errc::bad_payload);
  EXPECT_NE(trailing->message.find("1 bytes after the value"), std::string::npos);
  EXPECT_FALSE(f.typed.read_in(f.server(), f.now(), f.served).has_value());  // the stream is gone
  f.run_ms(0);  // the node's events reach the recorders; no byte has travelled yet
  ASSERT_EQ(f.cluster.recorder(kServer).ended_count(f.served), 1u);
  EXPECT_EQ(f.cluster.recorder(kServer).ended(f.served)->result, Errc::bad_payload);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 0u);
  f.run_ms(1);
  ASSERT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 1u);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended(opened.id)->result, Errc::bad_payload);
}

// The opener's reader: without input the failure travels as a reset, with input as an end.
// `server_closes`: the server's half ends right after the bad message, so that message is
// the last of a stream both of whose halves ended (without input) or of the server's half.
void read_out_fails_the_stream(bool has_input, const std::string& bad, bool server_closes = false) {
  TypedStreamPair f;
  const OpenedStream opened = f.typed.open(f.caller(), f.now(), nullptr, has_input);
  ASSERT_EQ(opened.error, Errc::ok);
  f.run_ms(1);
  ASSERT_EQ(f.typed.write_out(f.server(), f.now(), f.served, Answer{9}), Errc::ok);
  ASSERT_EQ(f.server().stream_write(f.now(), f.served, as_bytes(bad)), Errc::ok);
  if (server_closes) {
    ASSERT_EQ(f.server().stream_close(f.now(), f.served), Errc::ok);
  }
  f.run_ms(1);
  const auto good = f.typed.read_out(f.caller(), f.now(), opened.id);
  ASSERT_TRUE(good.has_value());
  ASSERT_EQ(good->error, Errc::ok);
  EXPECT_EQ(good->value->free_bytes, 9u);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 0u);
  const auto failed = f.typed.read_out(f.caller(), f.now(), opened.id);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->error, Errc::bad_payload);
  EXPECT_FALSE(failed->value);
  EXPECT_FALSE(f.typed.read_out(f.caller(), f.now(), opened.id).has_value());
  f.run_ms(0);  // the node's events reach the recorders; no byte has travelled yet
  ASSERT_EQ(f.cluster.recorder(kCaller).ended_count(opened.id), 1u);
  EXPECT_EQ(f.cluster.recorder(kCaller).ended(opened.id)->result, Errc::bad_payload);
  // A server that closed a stream without input has both halves over once its end is
  // written: its stream ended ok then, and the opener's reset finds nothing to end.
  const bool server_done_first = server_closes && !has_input;
  EXPECT_EQ(f.cluster.recorder(kServer).ended_count(f.served), server_done_first ? 1u : 0u);
  f.run_ms(1);
  ASSERT_EQ(f.cluster.recorder(kServer).ended_count(f.served), 1u);
  EXPECT_EQ(f.cluster.recorder(kServer).ended(f.served)->result,
            server_done_first ? Errc::ok : Errc::bad_payload);
  EXPECT_TRUE(f.cluster.all_mux_tables_empty());
}

TEST(TypedContracts, ReadOutWithAByteAfterTheValueFailsTheStreamWithBadPayloadByReset) {
  read_out_fails_the_stream(false, packed(Answer{1}, "x"));
}

TEST(TypedContracts, ReadOutOfTheWrongShapeFailsTheStreamWithBadPayloadByEnd) {
  read_out_fails_the_stream(true, packed(std::string("not an answer")));
}

// The bad message is the last before the server's end. Before, read_out consumed it first,
// which completed the stream as ok (both halves over, nothing unread) before it could fail:
// the opener was told the corrupt stream succeeded.
TEST(TypedContracts, ALastMessageThatDoesNotDecodeFailsTheStreamRatherThanEndingItOk) {
  for (const bool has_input : {false, true}) {
    SCOPED_TRACE(has_input ? "with input" : "without input");
    read_out_fails_the_stream(has_input, packed(std::string("not an answer")), true);
  }
}

// ---- what a payload can make the decoder allocate (issue 14) ------------------------------

// Five bytes announcing an array of 2^28 elements: msgpack-c, left to its default limits,
// reserves 2^28 objects (6 GiB) before finding the bytes missing.
const std::vector<std::uint8_t> kArrayBomb = {0xdd, 0x10, 0x00, 0x00, 0x00};
// A map of 2^28 pairs likewise; and a string header of 2^28 bytes.
const std::vector<std::uint8_t> kMapBomb = {0xdf, 0x10, 0x00, 0x00, 0x00};
const std::vector<std::uint8_t> kStringBomb = {0xdb, 0x10, 0x00, 0x00, 0x00};

// The bytes of address space this process has mapped (from /proc/self/statm, in pages).
std::size_t mapped_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

bool built_with_a_sanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

TEST(TypedContracts, ContainerHeadersClaimingMoreThanThePayloadHoldsAreRefusedByTheirCount) {
  MsgpackCodec codec;
  std::string why;
  std::vector<int> numbers;
  EXPECT_FALSE(codec.unpack(kArrayBomb, numbers, why));
  EXPECT_EQ(why, "array size overflow");
  std::map<int, int> pairs;
  EXPECT_FALSE(codec.unpack(kMapBomb, pairs, why));
  EXPECT_EQ(why, "map size overflow");
  // A string's bytes are copied only once all are there: refused as missing, not reserved.
  std::string text;
  EXPECT_FALSE(codec.unpack(kStringBomb, text, why));
  EXPECT_EQ(why, "insufficient bytes");
  // At the boundary: an array of exactly as many one-byte elements as the payload allows.
  const std::vector<std::uint8_t> four = {0x94, 1, 2, 3, 4};
  ASSERT_TRUE(codec.unpack(four, numbers, why)) << why;
  EXPECT_EQ(numbers, (std::vector<int>{1, 2, 3, 4}));
  // The configured limit applies too: three elements allowed, four refused.
  MsgpackCodec strict(UnpackLimits{.max_container_elements = 3});
  EXPECT_FALSE(strict.unpack(four, numbers, why));
  EXPECT_EQ(why, "array size overflow");
  const std::vector<std::uint8_t> three = {0x93, 1, 2, 3};
  EXPECT_TRUE(strict.unpack(three, numbers, why)) << why;
}

// Decodes `bytes` into a T in a child process whose address space may grow by 256 MiB at
// most, and expects it to fail with `why`: a bad_alloc there means the decoder tried to
// reserve what the peer announced.
template <typename T>
void expect_refused_within_an_address_space_limit(const std::vector<std::uint8_t>& bytes,
                                                  const std::string& expected_why) {
  if (built_with_a_sanitizer()) {
    GTEST_SKIP() << "sanitizer runtimes reserve terabytes of address space: no limit fits";
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlim_t limit = mapped_bytes() + (256u << 20);
    const rlimit address_space{limit, limit};
    if (setrlimit(RLIMIT_AS, &address_space) != 0) _exit(3);
    MsgpackCodec codec;
    std::string why;
    T value;
    const bool decoded = codec.unpack(bytes, value, why);
    _exit(decoded ? 1 : why == expected_why ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: decoded, 2: failed on something else (bad_alloc)";
}

// The same five bytes: decoding them must fail on the count, not on an allocation.
TEST(TypedContracts, AnArrayBombDecodesWithinAnAddressSpaceLimit) {
  expect_refused_within_an_address_space_limit<std::vector<int>>(kArrayBomb, "array size overflow");
}

// A payload of 1 MiB that opens 64 arrays one inside the other, each announcing 2^20
// elements (as many as the payload has bytes, so each passes the count limit), and holds
// 2^20 - 1 nils: too few for the innermost array. msgpack-c reserves each array's elements
// from its header, 64 x 2^20 x 24 B = 1.5 GiB, before it finds the bytes missing.
std::vector<std::uint8_t> nested_array_bomb() {
  std::vector<std::uint8_t> bomb;
  for (int depth = 0; depth < 64; ++depth)
    bomb.insert(bomb.end(), {0xdd, 0x00, 0x10, 0x00, 0x00});
  bomb.resize(bomb.size() + (1u << 20) - 1, 0xc0);
  return bomb;
}

// The nested bomb, likewise. Before, the count limit held each header alone and the decoder
// failed on bad_alloc (a process with memory to spare reserved the 1.5 GiB); the shape pass
// refuses it without reserving.
TEST(TypedContracts, NestedArraysAnnouncingThePayloadsLengthEachDecodeWithinAnAddressSpaceLimit) {
  expect_refused_within_an_address_space_limit<std::vector<std::vector<int>>>(nested_array_bomb(),
                                                                              "insufficient bytes");
}

struct Everything {
  std::map<std::string, std::vector<std::int64_t>> lists;
  std::vector<std::uint8_t> blob;
  msgpack::type::ext extension{5, "abc", 3};
  double ratio = 0;
  float small_ratio = 0;
  bool flag = false;
  std::optional<std::string> maybe;
  MSGPACK_DEFINE(lists, blob, extension, ratio, small_ratio, flag, maybe)
};

// Values of every msgpack format (fix, 8, 16 and 32-bit lengths; ints of each width, signed
// and not; floats; bin; ext and fixext; nil and booleans): the shape pass finds each whole,
// and every shorter prefix of it short, so it skips each format by its real length.
TEST(TypedContracts, TheShapePassSkipsEveryFormatByItsLengthAndFindsEveryPrefixShort) {
  Everything value;
  value.lists["a"] = {0,   1,   127,  128,  255,    256,    65535,     65536,     -1,
                      -32, -33, -128, -129, -32768, -32769, INT64_MIN, INT64_MAX, 1LL << 32};
  value.lists[std::string(40, 's')] = std::vector<std::int64_t>(20, 7);        // str 8, array 16
  value.lists[std::string(300, 't')] = std::vector<std::int64_t>(70'000, -5);  // str 16, array 32
  value.blob.assign(70'000, 0x42);                                             // bin 32
  value.ratio = 0.25;
  value.small_ratio = 0.5F;
  value.flag = true;
  std::vector<std::string> packs = {packed(value)};
  for (const std::size_t ext_bytes : {1u, 2u, 4u, 8u, 16u, 3u, 300u, 70'000u}) {
    value.extension = msgpack::type::ext(9, std::string(ext_bytes, 'e').data(),
                                         static_cast<std::uint32_t>(ext_bytes));
    value.blob.assign(ext_bytes % 300, 0x17);            // bin 8 and bin 16 too
    value.maybe = std::string(ext_bytes % 70'000, 'm');  // str 32 once
    packs.push_back(packed(value));
  }
  std::map<std::string, int> big_map;
  for (int i = 0; i < 20; ++i)
    big_map[std::to_string(i)] = i;  // map 16
  packs.push_back(packed(big_map));
  for (const std::string& whole : packs) {
    const Bytes bytes = as_bytes(whole);
    EXPECT_EQ(msgpack_shape_error(bytes, 1 << 20), std::nullopt);
    // Every prefix is short, at the last byte as at the first (a stride keeps it quick).
    const std::size_t stride = whole.size() > 4096 ? 97 : 1;
    for (std::size_t size = 0; size < whole.size(); size += stride) {
      ASSERT_EQ(msgpack_shape_error(bytes.first(size), 1 << 20), std::string("insufficient bytes"))
          << size << " of " << whole.size();
    }
    ASSERT_EQ(msgpack_shape_error(bytes.first(whole.size() - 1), 1 << 20),
              std::string("insufficient bytes"));
  }
  // The codec, which runs the pass first, still decodes them all.
  MsgpackCodec codec;
  std::string why;
  for (std::size_t i = 0; i + 1 < packs.size(); ++i) {
    Everything back;
    ASSERT_TRUE(codec.unpack(as_bytes(packs[i]), back, why)) << i << ": " << why;
  }
  std::map<std::string, int> map_back;
  ASSERT_TRUE(codec.unpack(as_bytes(packs.back()), map_back, why)) << why;
  EXPECT_EQ(map_back, big_map);
  // The counts are held to the limit, and 0xc1 is no format.
  const std::vector<std::uint8_t> four = {0x94, 1, 2, 3, 4};
  EXPECT_EQ(msgpack_shape_error(four, 4), std::nullopt);
  EXPECT_EQ(msgpack_shape_error(four, 3), std::string("array size overflow"));
  const std::vector<std::uint8_t> pairs = {0x82, 1, 2, 3, 4};
  EXPECT_EQ(msgpack_shape_error(pairs, 2), std::nullopt);
  EXPECT_EQ(msgpack_shape_error(pairs, 1), std::string("map size overflow"));
  const std::vector<std::uint8_t> unused = {0x92, 1, 0xc1};
  EXPECT_EQ(msgpack_shape_error(unused, 8), std::string("parse error"));
}

}  // namespace
}  // namespace weft
