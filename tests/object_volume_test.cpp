// Ten thousand objects of random kinds and sizes (header-only; sized in memory, a few of
// them up to 16 MiB; unsized, supplied on request) through one object stream, with the
// connection cut ten times on the way: every object arrives once, in order, with its exact
// bytes, and completes once, in order, with ok.
#include <gtest/gtest.h>

#include <map>

#include "object_pair.hpp"
#include "weft/random.hpp"

namespace weft::testing {
namespace {

std::uint8_t content(std::uint64_t object, std::uint64_t offset) {
  return static_cast<std::uint8_t>((object * 167 + offset * 11 + (offset >> 13)) & 0xff);
}

struct Planned {
  ObjectSize kind = ObjectSize::sized;
  std::size_t size = 0;
};

std::vector<Planned> plan(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Planned> out(count);
  for (Planned& object : out) {
    const std::uint64_t draw = rng.below(1000);
    if (draw < 300) {
      object.kind = ObjectSize::header_only;
    } else if (draw < 700) {
      object.size = rng.below(64 * 1024);
    } else if (draw < 995) {
      object.kind = ObjectSize::unsized;
      object.size = rng.below(256 * 1024);
    } else {
      object.size = rng.below(16u << 20) + 1;  // about one in 200: up to 16 MiB
    }
  }
  return out;
}

TEST(ObjectVolume, TenThousandObjectsThroughTenDisconnectsArriveOnceInOrderWithTheirBytes) {
  constexpr std::size_t kObjects = 10'000;
  const std::vector<Planned> planned = plan(kObjects, 2026);
  PairOptions options;
  options.seed = 11;
  options.max_piece_bytes = 200'000;
  options.window = ObjectWindow{64, 4u << 20};
  ObjectPair pair(options);
  ASSERT_TRUE(pair.run_until_connected());
  const ObjectStreamId stream = pair.to(0).open_object_stream(pair.now(), "store").id;
  // Checks each object as it arrives, keeping nothing but counts.
  std::uint64_t next_expected = 1;
  std::uint64_t bad = 0;
  std::map<std::uint64_t, std::uint64_t> arrivals;
  std::uint64_t offset = 0;
  std::uint64_t current = 0;
  pair.on_event = [&](std::size_t node, const Event& event) {
    if (node == 0) {
      // Unsized objects' data, from where the core asks.
      const auto* want = std::get_if<event::ObjectWantData>(&event);
      if (want == nullptr) return;
      const Planned& object = planned.at(want->object - 1);
      for (std::uint64_t at = want->offset;;) {
        const std::size_t length = std::min<std::size_t>(64 * 1024, object.size - at);
        std::vector<std::uint8_t> piece(length);
        for (std::size_t i = 0; i < length; ++i)
          piece[i] = content(want->object, at + i);
        const bool last = at + length == object.size;
        if (pair.to(0).object_supply(pair.now(), stream, want->object, at, piece, last) != Errc::ok)
          return;
        at += length;
        if (last) return;
      }
    }
    ObjectStreamId at_stream;
    if (const auto* arrived = std::get_if<event::ObjectArrived>(&event)) {
      ++arrivals[arrived->object];
      if (arrived->object != next_expected++) ++bad;
      if (arrived->header.name != "o" + std::to_string(arrived->object)) ++bad;
      current = arrived->object;
      offset = 0;
      at_stream = arrived->stream;
    } else if (const auto* readable = std::get_if<event::ObjectReadable>(&event)) {
      at_stream = readable->stream;
    } else {
      return;
    }
    while (auto read = pair.to(1).object_read(at_stream)) {
      if (read->object != current || read->offset != offset) return;
      for (std::size_t i = 0; i < read->data.size(); ++i)
        bad += read->data[i] != content(current, offset + i) ? 1 : 0;
      offset += read->data.size();
      const bool end = read->end;
      pair.to(1).object_consume(pair.now(), at_stream, read->data.size());
      if (end) {
        bad += offset != planned.at(current - 1).size &&
               planned.at(current - 1).kind != ObjectSize::header_only;
        return;
      }
    }
  };
  // Posts as long as fewer than 64 MiB of posted data is not completed.
  std::size_t posted = 0;
  std::uint64_t held = 0;
  const auto post_more = [&] {
    const auto done = pair.completions();
    held = 0;
    for (std::size_t i = done.size(); i < posted; ++i)
      held += planned[i].size;
    while (posted < kObjects && held < (64u << 20)) {
      const Planned& object = planned[posted];
      ObjectArgs args;
      args.header.name = "o" + std::to_string(posted + 1);
      args.kind = object.kind;
      if (object.kind == ObjectSize::sized) {
        std::vector<std::uint8_t> data(object.size);
        for (std::size_t i = 0; i < data.size(); ++i)
          data[i] = content(posted + 1, i);
        args.size = object.size;
        args.data = SharedBytes(std::move(data));
      }
      const PostedObject result = pair.to(0).object_post(pair.now(), stream, std::move(args));
      if (result.error == Errc::queue_full) return;
      ASSERT_EQ(result.error, Errc::ok);
      ASSERT_EQ(result.object, posted + 1);
      held += object.size;
      ++posted;
    }
  };
  std::size_t cuts = 0;
  while (pair.completions().size() < kObjects) {
    post_more();
    const std::size_t before = pair.completions().size();
    pair.run(ns_from_ms(50), [&] { return pair.completions().size() >= before + 200; });
    if (cuts < 10 && pair.completions().size() >= (cuts + 1) * kObjects / 11) {
      pair.disconnect();
      ++cuts;
      ASSERT_TRUE(pair.run_until_connected());
    }
    ASSERT_LT(pair.now(), ns_from_ms(600'000)) << "stuck at " << pair.completions().size();
  }
  EXPECT_EQ(cuts, 10u);
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(arrivals.size(), kObjects);
  for (const auto& [object, count] : arrivals)
    ASSERT_EQ(count, 1u) << "object " << object;
  const auto done = pair.completions();
  ASSERT_EQ(done.size(), kObjects);
  for (std::size_t i = 0; i < kObjects; ++i) {
    ASSERT_EQ(done[i].object, i + 1);
    ASSERT_EQ(done[i].result, Errc::ok) << done[i].message;
  }
}

}  // namespace
}  // namespace weft::testing
