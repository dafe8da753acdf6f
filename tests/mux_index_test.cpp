// The peer-keyed index (core/src/mux_index.hpp) against std::map: any sequence of inserts,
// erases and lookups, with keys from a small range so that runs and wrap-around are common.
#include "mux_index.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>

namespace weft::detail {
namespace {

struct Op {
  int kind = 0;  // 0, 1: insert; 2: erase; 3: clear
  std::uint64_t mux = 0;
};

void expect_same(const MuxIndex& index, const std::map<std::uint64_t, std::uint32_t>& model,
                 std::uint64_t key_range) {
  RC_ASSERT(index.size() == model.size());
  RC_ASSERT(index.empty() == model.empty());
  for (std::uint64_t mux = 0; mux < key_range; ++mux) {
    const std::uint32_t* found = index.find(mux);
    const auto expected = model.find(mux);
    RC_ASSERT((found != nullptr) == (expected != model.end()));
    if (found != nullptr) RC_ASSERT(*found == expected->second);
    RC_ASSERT(index.contains(mux) == (found != nullptr));
  }
}

RC_GTEST_PROP(MuxIndex, BehavesAsAMap, ()) {
  const auto salt = *rc::gen::arbitrary<std::uint64_t>();
  const auto key_range = *rc::gen::inRange<std::uint64_t>(1, 300);
  const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
      rc::gen::set(&Op::kind, rc::gen::weightedElement<int>({{10, 0}, {10, 1}, {8, 2}, {1, 3}})),
      rc::gen::set(&Op::mux, rc::gen::inRange<std::uint64_t>(0, key_range))));
  MuxIndex index(salt);
  std::map<std::uint64_t, std::uint32_t> model;
  std::uint32_t next_slot = 0;
  for (const Op& op : ops) {
    if (op.kind <= 1) {
      if (model.contains(op.mux)) continue;  // insert requires a new key
      index.insert(op.mux, next_slot);
      model.emplace(op.mux, next_slot++);
    } else if (op.kind == 2) {
      RC_ASSERT(index.erase(op.mux) == (model.erase(op.mux) == 1));
    } else {
      index.clear();
      model.clear();
    }
    expect_same(index, model, key_range);
  }
}

// Keys far apart (high bits only) and the extremes of the id space.
TEST(MuxIndex, TakesEveryKindOfId) {
  MuxIndex index(0x1234);
  const std::vector<std::uint64_t> ids{0, 1, UINT64_MAX, 1ull << 63, 1ull << 32, 3ull << 62};
  for (std::size_t i = 0; i < ids.size(); ++i)
    index.insert(ids[i], static_cast<std::uint32_t>(i));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ASSERT_NE(index.find(ids[i]), nullptr);
    EXPECT_EQ(*index.find(ids[i]), i);
  }
  EXPECT_FALSE(index.contains(2));
  EXPECT_TRUE(index.erase(UINT64_MAX));
  EXPECT_FALSE(index.erase(UINT64_MAX));
  EXPECT_EQ(index.size(), ids.size() - 1);
}

// Grows past its first size and keeps every entry; clear() empties it for reuse.
TEST(MuxIndex, GrowsAndClears) {
  MuxIndex index(7);
  for (std::uint32_t i = 0; i < 10'000; ++i)
    index.insert(2 * std::uint64_t{i} + 1, i);
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    ASSERT_NE(index.find(2 * std::uint64_t{i} + 1), nullptr);
    EXPECT_EQ(*index.find(2 * std::uint64_t{i} + 1), i);
    EXPECT_FALSE(index.contains(2 * std::uint64_t{i}));
  }
  index.clear();
  EXPECT_TRUE(index.empty());
  EXPECT_FALSE(index.contains(1));
  index.insert(1, 5);
  EXPECT_EQ(*index.find(1), 5u);
}

}  // namespace
}  // namespace weft::detail
