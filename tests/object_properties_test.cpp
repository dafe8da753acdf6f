// Properties of object streams: random objects (header-only, sized in memory, sized and
// unsized supplied on request), random byte chunking, random disconnects and random reader
// choices keep FIFO order, exact content, one delivery per object and one completion per
// object, in posting order.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <ostream>

#include "object_pair.hpp"

namespace weft::testing {
namespace {

std::uint8_t content(std::uint64_t object, std::uint64_t offset) {
  return static_cast<std::uint8_t>((object * 251 + offset * 13 + (offset >> 11)) & 0xff);
}

enum class Kind : std::uint8_t { header_only, in_memory, supplied_sized, supplied_unsized };

struct Plan {
  Kind kind;
  std::size_t size;
  ObjectPair::Action action;  // what the reader does once it has half of the data
};

void showValue(const Plan& plan, std::ostream& out) {
  out << "{kind " << static_cast<int>(plan.kind) << ", size " << plan.size << ", action "
      << static_cast<int>(plan.action) << "}";
}

ObjectArgs args_for(std::uint64_t number, const Plan& plan) {
  ObjectArgs args;
  args.header.name = "o" + std::to_string(number);
  args.header.attrs.size = plan.size;
  switch (plan.kind) {
    case Kind::header_only:
      args.kind = ObjectSize::header_only;
      break;
    case Kind::in_memory: {
      std::vector<std::uint8_t> data(plan.size);
      for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = content(number, i);
      args.kind = ObjectSize::sized;
      args.size = plan.size;
      args.data = SharedBytes(std::move(data));
      break;
    }
    case Kind::supplied_sized:
      args.kind = ObjectSize::sized;
      args.size = plan.size;
      break;
    case Kind::supplied_unsized:
      args.kind = ObjectSize::unsized;
      break;
  }
  return args;
}

RC_GTEST_PROP(ObjectProperties, RandomObjectsChunkingAndDisconnectsKeepFifoAndExactlyOnce, ()) {
  const auto seed = *rc::gen::inRange<std::uint64_t>(1, 1u << 30);
  const auto max_piece = *rc::gen::element<std::size_t>(0, 1, 9, 1500, 70'000);
  const auto window_objects = *rc::gen::inRange<std::uint32_t>(1, 9);
  const auto window_bytes = *rc::gen::inRange<std::uint32_t>(65'536, 1u << 20);
  // Byte-by-byte delivery costs a node call per byte: keep those objects small.
  const std::size_t max_size = max_piece != 0 && max_piece < 100 ? 20'000 : 300'000;
  const auto plans = *rc::gen::container<std::vector<Plan>>(
      *rc::gen::inRange(1, 25),
      rc::gen::build<Plan>(
          rc::gen::set(&Plan::kind, rc::gen::element(Kind::header_only, Kind::in_memory,
                                                     Kind::supplied_sized, Kind::supplied_unsized)),
          rc::gen::set(&Plan::size, rc::gen::inRange<std::size_t>(0, max_size)),
          rc::gen::set(&Plan::action, rc::gen::weightedElement<ObjectPair::Action>(
                                          {{8, ObjectPair::Action::read},
                                           {1, ObjectPair::Action::discard},
                                           {1, ObjectPair::Action::refuse}}))));
  const auto cuts_ms =
      *rc::gen::container<std::vector<int>>(*rc::gen::inRange(0, 6), rc::gen::inRange(0, 40));

  PairOptions options;
  options.seed = seed;
  options.max_piece_bytes = max_piece;
  options.window = ObjectWindow{window_objects, window_bytes};
  ObjectPair pair(options);
  RC_ASSERT(pair.run_until_connected());
  const OpenedObjectStream opened = pair.to(0).open_object_stream(pair.now(), "store");
  RC_ASSERT(opened.error == Errc::ok);
  const ObjectStreamId stream = opened.id;
  // What the reader did with each object (it reads whole whatever it never saw half of).
  std::map<std::uint64_t, ObjectPair::Action> taken;
  pair.read_everything([&](const ObjectPair::Received& object) {
    const Plan& plan = plans.at(object.object - 1);
    const bool half = object.data.size() >= plan.size / 2;
    const ObjectPair::Action action = half ? plan.action : ObjectPair::Action::read;
    if (action != ObjectPair::Action::read) taken[object.object] = action;
    return action;
  });
  // Supplied data comes from where the core asks, until it says no_credit.
  pair.on_event = [&](std::size_t node, const Event& event) {
    const auto* want = std::get_if<event::ObjectWantData>(&event);
    if (node != 0 || want == nullptr) return;
    const Plan& plan = plans.at(want->object - 1);
    std::uint64_t offset = want->offset;
    while (true) {
      const std::size_t length = std::min<std::size_t>(50'000, plan.size - offset);
      std::vector<std::uint8_t> piece(length);
      for (std::size_t i = 0; i < length; ++i)
        piece[i] = content(want->object, offset + i);
      const bool last = offset + length == plan.size;
      const Errc result =
          pair.to(0).object_supply(pair.now(), stream, want->object, offset, piece, last);
      if (result == Errc::no_credit) return;
      RC_ASSERT(result == Errc::ok);
      offset += length;
      if (last) return;
    }
  };
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const PostedObject posted =
        pair.to(0).object_post(pair.now(), stream, args_for(i + 1, plans[i]));
    RC_ASSERT(posted.error == Errc::ok);
    RC_ASSERT(posted.object == i + 1);
  }
  for (int cut_ms : cuts_ms) {
    pair.run(ns_from_ms(cut_ms));
    pair.disconnect();
    RC_ASSERT(pair.run_until_connected());
  }
  pair.run(ns_from_ms(120'000), [&] { return pair.completions().size() == plans.size(); });

  // One completion per object, in posting order; ok unless the reader refused it.
  const auto done = pair.completions();
  RC_ASSERT(done.size() == plans.size());
  for (std::size_t i = 0; i < done.size(); ++i) {
    RC_ASSERT(done[i].object == i + 1);
    const bool refused = taken.contains(i + 1) && taken.at(i + 1) == ObjectPair::Action::refuse;
    RC_ASSERT(done[i].result == (refused ? Errc::remote_error : Errc::ok));
  }
  // Every object reached the reader once, in order, with its bytes as far as it read.
  const auto& got = pair.received();
  RC_ASSERT(got.size() == plans.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    RC_ASSERT(got[i].object == i + 1);
    RC_ASSERT(!got[i].aborted);
    RC_ASSERT(got[i].finished);
    RC_ASSERT(got[i].header.name == "o" + std::to_string(i + 1));
    if (!taken.contains(i + 1))  // read whole
      RC_ASSERT(got[i].data.size() == (plans[i].kind == Kind::header_only ? 0 : plans[i].size));
    for (std::size_t j = 0; j < got[i].data.size(); ++j)
      RC_ASSERT(got[i].data[j] == content(i + 1, j));
  }
}

}  // namespace
}  // namespace weft::testing
