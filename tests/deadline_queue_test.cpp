// The deadline queue (core/src/deadline_queue.hpp) against an ordered set: any sequence of
// sets, erases, expiries and clears, with deadlines that mostly rise (the run) and
// sometimes fall or repeat (the heap, and ties broken by the order of scheduling).
#include "deadline_queue.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <set>
#include <tuple>

namespace weft::detail {
namespace {

enum class Kind { set, erase, take_earliest, clear };

struct Op {
  Kind kind = Kind::set;
  std::uint32_t key = 0;
  TimeNs step_ns = 0;  // added to the latest deadline (negative: earlier)
};

// (deadline, order, key): the set's first element is the one due first.
using Model = std::set<std::tuple<TimeNs, std::uint64_t, std::uint32_t>>;

void expect_same(const DeadlineQueue& deadlines, const Model& model,
                 const std::map<std::uint32_t, Model::const_iterator>& by_key,
                 std::uint32_t key_range) {
  deadlines.check_invariants();
  RC_ASSERT(deadlines.size() == model.size());
  RC_ASSERT(deadlines.empty() == model.empty());
  if (model.empty()) {
    RC_ASSERT(deadlines.top_deadline() == kNever);
  } else {
    RC_ASSERT(deadlines.top_deadline() == std::get<0>(*model.begin()));
    RC_ASSERT(deadlines.top_key() == std::get<2>(*model.begin()));
  }
  for (std::uint32_t key = 0; key < key_range + 2; ++key)
    RC_ASSERT(deadlines.contains(key) == by_key.contains(key));
  for (const auto& [key, at] : by_key)
    RC_ASSERT(deadlines.contains(key));
}

RC_GTEST_PROP(DeadlineQueue, DueInDeadlineThenSchedulingOrder, ()) {
  const auto key_range = *rc::gen::inRange<std::uint32_t>(1, 200);
  const auto ops = *rc::gen::container<std::vector<Op>>(rc::gen::build<Op>(
      rc::gen::set(
          &Op::kind,
          rc::gen::weightedElement<Kind>(
              {{18, Kind::set}, {6, Kind::erase}, {4, Kind::take_earliest}, {1, Kind::clear}})),
      // Now and then a far key, so the table by key grows (and clear() gives it back).
      rc::gen::set(&Op::key, rc::gen::weightedOneOf<std::uint32_t>(
                                 {{30, rc::gen::inRange<std::uint32_t>(0, key_range)},
                                  {1, rc::gen::inRange<std::uint32_t>(0, 5000)}})),
      rc::gen::set(&Op::step_ns,
                   rc::gen::weightedOneOf<TimeNs>({{6, rc::gen::inRange<TimeNs>(0, 5)},
                                                   {2, rc::gen::inRange<TimeNs>(-20, 0)},
                                                   {1, rc::gen::just<TimeNs>(0)}}))));
  DeadlineQueue deadlines;
  Model model;
  std::map<std::uint32_t, Model::const_iterator> by_key;
  std::uint64_t order = 0;
  TimeNs latest_ns = 1000;
  const auto forget = [&](std::uint32_t key) {
    const auto found = by_key.find(key);
    if (found == by_key.end()) return;
    model.erase(found->second);
    by_key.erase(found);
  };
  for (const Op& op : ops) {
    if (op.kind == Kind::set) {
      latest_ns += op.step_ns;
      deadlines.set(op.key, latest_ns);
      forget(op.key);
      by_key[op.key] = model.emplace(latest_ns, order++, op.key).first;
    } else if (op.kind == Kind::erase) {
      deadlines.erase(op.key);
      forget(op.key);
    } else if (op.kind == Kind::take_earliest) {
      if (model.empty()) continue;
      const std::uint32_t key = deadlines.top_key();
      RC_ASSERT(key == std::get<2>(*model.begin()));
      deadlines.erase(key);
      forget(key);
    } else {
      deadlines.clear();
      model.clear();
      by_key.clear();
    }
    expect_same(deadlines, model, by_key, key_range);
  }
}

// The common case stays in the run: deadlines scheduled in order expire in that order,
// and one moved earlier than the last comes first anyway.
TEST(DeadlineQueue, AKeyMovedEarlierIsDueFirst) {
  DeadlineQueue deadlines;
  for (std::uint32_t key = 0; key < 8; ++key)
    deadlines.set(key, 100 + key);
  deadlines.set(5, 50);
  EXPECT_EQ(deadlines.top_key(), 5u);
  EXPECT_EQ(deadlines.top_deadline(), 50);
  deadlines.erase(5);
  for (std::uint32_t key = 0; key < 8; ++key) {
    if (key == 5) continue;
    ASSERT_EQ(deadlines.top_key(), key);
    deadlines.erase(key);
  }
  EXPECT_TRUE(deadlines.empty());
  EXPECT_EQ(deadlines.top_deadline(), kNever);
  deadlines.check_invariants();
}

}  // namespace
}  // namespace weft::detail
