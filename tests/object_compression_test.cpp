// LZ4-compressed object streams between two nodes (PROTOCOL.md §6.3, "Compression"): the
// receiver reads exactly the data sent whatever it compresses to, per chunk; resume offsets
// are data offsets; an endpoint registered without compression ends the stream with
// unsupported and every object completes once.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

#include "object_pair.hpp"
#include "weft/random.hpp"

namespace weft::testing {
namespace {

constexpr TimeNs kSecond = 1'000'000'000;

// Text-like data: runs of a few words, which LZ4 shrinks several times.
std::vector<std::uint8_t> compressible(std::uint64_t object, std::size_t size) {
  static constexpr std::string_view kWords[] = {"bucket ", "object ", "weft ",
                                                "chunk ",  "stream ", "replica "};
  std::vector<std::uint8_t> data;
  data.reserve(size);
  for (std::uint64_t i = object; data.size() < size; i = i * 6364136223846793005ull + 1) {
    const std::string_view word = kWords[(i >> 33) % std::size(kWords)];
    for (const char c : word) {
      if (data.size() == size) break;
      data.push_back(static_cast<std::uint8_t>(c));
    }
  }
  return data;
}

// Bytes no compressor shrinks: a seeded generator's output.
std::vector<std::uint8_t> random_bytes(std::uint64_t seed, std::size_t size) {
  Rng rng(seed);
  std::vector<std::uint8_t> data(size);
  for (std::uint8_t& byte : data)
    byte = static_cast<std::uint8_t>(rng.next());
  return data;
}

ObjectArgs in_memory(std::uint64_t object, std::vector<std::uint8_t> data) {
  ObjectArgs args{.header = {},
                  .kind = ObjectSize::sized,
                  .size = data.size(),
                  .data = std::nullopt,
                  .tag = object};
  args.header.name = "obj-" + std::to_string(object);
  args.data = SharedBytes(std::move(data));
  return args;
}

// Bytes delivered in pieces of up to `max_piece_bytes`.
PairOptions pieces(std::uint64_t seed, std::size_t max_piece_bytes) {
  return PairOptions{.seed = seed, .max_piece_bytes = max_piece_bytes, .window = {}, .adjust = {}};
}

struct Lz4Fixture {
  explicit Lz4Fixture(PairOptions options = {}) : pair(std::move(options)) {
    EXPECT_TRUE(pair.run_until_connected());
    stream = open(ObjectCompression::lz4);
  }
  ObjectStreamId open(ObjectCompression compression) {
    const OpenedObjectStream opened =
        pair.to(0).open_object_stream(pair.now(), "store", ObjectStreamOptions{compression});
    EXPECT_EQ(opened.error, Errc::ok);
    return opened.id;
  }
  PostedObject post(ObjectArgs args, std::optional<ObjectStreamId> on = std::nullopt) {
    return pair.to(0).object_post(pair.now(), on.value_or(stream), std::move(args));
  }
  ObjectStreamStats sent_stats() {
    return pair.to(0).object_stream_stats(pair.now(), stream).value_or(ObjectStreamStats{});
  }
  ObjectPair pair;
  ObjectStreamId stream;
};

TEST(ObjectCompression, CompressibleAndRandomObjectsArriveExactlyAndOnlyTheFormerShrink) {
  Lz4Fixture f;
  f.pair.read_everything();
  const std::vector<std::uint8_t> text = compressible(1, 1'000'000);
  const std::vector<std::uint8_t> noise = random_bytes(2, 500'000);
  ASSERT_EQ(f.post(in_memory(1, text)).error, Errc::ok);
  f.pair.run(5 * kSecond, [&] { return f.pair.completions().size() == 1; });
  const ObjectStreamStats after_text = f.sent_stats();
  ASSERT_EQ(f.post(in_memory(2, noise)).error, Errc::ok);
  f.pair.run(5 * kSecond, [&] { return f.pair.completions().size() == 2; });
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].result, Errc::ok) << done[0].message;
  EXPECT_EQ(done[1].result, Errc::ok) << done[1].message;
  ASSERT_EQ(f.pair.received().size(), 2u);
  EXPECT_TRUE(f.pair.received()[0].data == text);
  EXPECT_TRUE(f.pair.received()[1].data == noise);
  // Sizes and counters are data bytes; only the wire shrinks, and only for the text.
  EXPECT_EQ(after_text.bytes, text.size());
  EXPECT_LT(after_text.wire_bytes, text.size() / 2);
  const ObjectStreamStats total = f.sent_stats();
  EXPECT_EQ(total.bytes, text.size() + noise.size());
  EXPECT_EQ(total.wire_bytes - after_text.wire_bytes, noise.size());  // sent as it was
  EXPECT_EQ(total.compression, ObjectCompression::lz4);
  const auto endpoint = f.pair.node(1).object_endpoint_stats("store");
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->bytes, text.size() + noise.size());
}

TEST(ObjectCompression, SuppliedSizedAndUnsizedObjectsRoundTrip) {
  Lz4Fixture f(pieces(5, 7'000));
  f.pair.read_everything();
  const std::vector<std::uint8_t> data = compressible(3, 400'000);
  ObjectArgs sized;
  sized.kind = ObjectSize::sized;
  sized.size = data.size();
  ASSERT_EQ(f.post(sized).object, 1u);
  ObjectArgs unsized;
  unsized.kind = ObjectSize::unsized;
  ASSERT_EQ(f.post(unsized).object, 2u);
  ObjectArgs header_only;
  header_only.kind = ObjectSize::header_only;
  ASSERT_EQ(f.post(header_only).object, 3u);
  std::array<std::uint64_t, 3> next{};
  f.pair.on_event = [&](std::size_t node, const Event& event) {
    const auto* want = std::get_if<event::ObjectWantData>(&event);
    if (node != 0 || want == nullptr) return;
    std::uint64_t& at = next[want->object];
    at = want->offset;
    while (at < data.size()) {
      const std::size_t piece = std::min<std::size_t>(30'000, data.size() - at);
      const Errc result = f.pair.to(0).object_supply(f.pair.now(), f.stream, want->object, at,
                                                     Payload(Bytes(data).subspan(at, piece)),
                                                     at + piece == data.size());
      if (result == Errc::no_credit) return;
      ASSERT_EQ(result, Errc::ok);
      at += piece;
    }
  };
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == 3; });
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 3u);
  for (const auto& completion : done)
    EXPECT_EQ(completion.result, Errc::ok) << completion.message;
  ASSERT_EQ(f.pair.received().size(), 3u);
  EXPECT_TRUE(f.pair.received()[0].data == data);
  EXPECT_TRUE(f.pair.received()[1].data == data);
  EXPECT_TRUE(f.pair.received()[2].data.empty());
  EXPECT_LT(f.sent_stats().wire_bytes, f.sent_stats().bytes / 2);
}

TEST(ObjectCompression, AReconnectMidObjectResumesAtTheDataOffsetAndDeliversOnce) {
  Lz4Fixture f(pieces(9, 20'000));
  f.pair.read_everything();
  constexpr int kObjects = 4;
  std::vector<std::vector<std::uint8_t>> sent;
  for (int i = 1; i <= kObjects; ++i) {
    // Alternating compressible and random data, so resumes meet both kinds of chunk.
    sent.push_back(i % 2 == 1 ? compressible(i, 3'000'000) : random_bytes(i, 1'500'000));
    ASSERT_EQ(f.post(in_memory(i, sent.back())).error, Errc::ok);
  }
  int cuts = 0;
  while (f.pair.completions().size() < kObjects && cuts < 20) {
    const std::size_t before = f.pair.received().size();
    const std::size_t had = before == 0 ? 0 : f.pair.received().back().data.size();
    f.pair.run(kSecond, [&] {
      return f.pair.received().size() > before ||
             (before > 0 && f.pair.received().back().data.size() > had + 200'000);
    });
    f.pair.disconnect();  // mid-object: the data of the object being read keeps arriving
    ++cuts;
    ASSERT_TRUE(f.pair.run_until_connected());
  }
  f.pair.run(10 * kSecond, [&] { return f.pair.completions().size() == kObjects; });
  EXPECT_GT(cuts, 3);
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), static_cast<std::size_t>(kObjects));
  for (const auto& completion : done)
    EXPECT_EQ(completion.result, Errc::ok) << completion.message;
  const auto& got = f.pair.received();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kObjects));  // each delivered once
  for (int i = 0; i < kObjects; ++i) {
    EXPECT_TRUE(got[i].data == sent[i]) << "object " << i + 1;
    EXPECT_FALSE(got[i].aborted);
  }
  EXPECT_GT(f.sent_stats().resumes, 0u);
}

TEST(ObjectCompression, AnEndpointWithoutCompressionRejectsTheStreamAndEveryObjectCompletes) {
  Lz4Fixture f;
  f.pair.read_everything();
  ASSERT_EQ(f.pair.node(1).register_object_endpoint("store", {}, ObjectCompression::none),
            Errc::ok);
  EXPECT_EQ(f.pair.to(0).stats().version, kProtocolVersion);
  for (int i = 1; i <= 3; ++i)
    ASSERT_EQ(f.post(in_memory(i, compressible(i, 100'000))).error, Errc::ok);
  f.pair.run(kSecond);
  const auto done = f.pair.completions();
  ASSERT_EQ(done.size(), 3u);
  for (const auto& completion : done) {
    EXPECT_EQ(completion.result, Errc::unsupported);
    EXPECT_EQ(completion.message, "object endpoint store takes no compressed streams");
  }
  EXPECT_EQ(f.post(in_memory(4, {})).error, Errc::not_found);  // the stream ended
  EXPECT_TRUE(f.pair.received().empty());
  EXPECT_EQ(f.pair.to(0).stats().generation, 1u);  // the connection stayed
  EXPECT_EQ(f.pair.node(1).connection(0).stats().object_streams_in, 0u);
}

}  // namespace
}  // namespace weft::testing
