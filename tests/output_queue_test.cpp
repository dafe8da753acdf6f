// OutputQueue (issue 19): owned bytes and referenced payload slices written in one order.
// Checked against a model (the bytes as one string) under random appends and consumes:
// front() and gather() give the model's bytes in order, a referenced slice is given where it
// lies (no copy), and a slice's owner lives exactly until its last byte is consumed.
#include "output_queue.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <array>
#include <string>
#include <vector>

namespace weft::detail {
namespace {

std::string text_of(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Bytes bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// Every waiting byte, read back through gather() (and its first piece through front()).
// Every piece holds a byte at least, so size() + 1 places take them all (one more than
// needed: gather must leave it unused).
std::string gathered(const OutputQueue& queue) {
  std::vector<Bytes> pieces(queue.size() + 1);
  const std::size_t count = queue.gather(pieces);
  EXPECT_LT(count, pieces.size());
  std::string all;
  for (std::size_t i = 0; i < count; ++i) {
    EXPECT_FALSE(pieces[i].empty());
    all += text_of(pieces[i]);
  }
  if (count > 0) {
    EXPECT_EQ(pieces[0].data(), queue.front().data());
  } else {
    EXPECT_TRUE(queue.front().empty());
  }
  return all;
}

TEST(OutputQueue, ReferencedSlicesGoBetweenOwnedBytesWhereTheyLie) {
  OutputQueue queue;
  const SharedBytes payload = SharedBytes::copy_of(bytes_of("PAYLOAD-BYTES"));
  queue.owned().append(bytes_of("head1"));
  queue.append_reference(payload, payload.view().subspan(0, 7));
  queue.owned().append(bytes_of("sum1head2"));
  queue.append_reference(payload, payload.view().subspan(8));
  EXPECT_EQ(queue.size(), 5u + 7 + 9 + 5);
  std::array<Bytes, 8> pieces;
  ASSERT_EQ(queue.gather(pieces), 4u);
  EXPECT_EQ(text_of(pieces[0]), "head1");
  EXPECT_EQ(pieces[1].data(), payload.view().data());  // the payload itself: not copied
  EXPECT_EQ(text_of(pieces[2]), "sum1head2");
  EXPECT_EQ(pieces[3].data(), payload.view().data() + 8);
  EXPECT_EQ(queue.gather(std::span(pieces).first(2)), 2u);  // as many as fit
  queue.consume(6);                                         // across the first two pieces
  EXPECT_EQ(text_of(queue.front()), "AYLOAD");
  queue.consume(6 + 9 + 1);
  EXPECT_EQ(text_of(queue.front()), "YTES");
  ByteBuffer copied;
  queue.copy_to(copied);
  EXPECT_EQ(text_of(copied.view()), "YTES");
  queue.consume(4);
  EXPECT_TRUE(queue.empty());
  EXPECT_TRUE(queue.front().empty());
}

TEST(OutputQueue, KeepsAnOwnerAliveUntilItsLastByteIsWritten) {
  OutputQueue queue;
  {
    auto owned = std::vector<std::uint8_t>(100, 7);
    const SharedBytes payload(std::move(owned));
    queue.append_reference(payload, payload.view());
  }  // the application let go of it
  EXPECT_EQ(queue.front().size(), 100u);
  EXPECT_EQ(queue.front()[99], 7);  // still readable (ASan checks the memory)
  queue.consume(99);
  EXPECT_EQ(queue.front()[0], 7);
  queue.consume(1);
  EXPECT_TRUE(queue.empty());
  queue.owned().append(bytes_of("after"));
  EXPECT_EQ(gathered(queue), "after");
}

// Random appends (owned bytes or a slice of one of a few shared payloads) and consumes of
// random counts, checked against the model after every step.
RC_GTEST_PROP(OutputQueue, GivesTheBytesInOrderLikeOneBuffer, ()) {
  OutputQueue queue;
  std::string model;
  std::vector<SharedBytes> payloads;
  for (int i = 0; i < 3; ++i) {
    const auto text =
        *rc::gen::container<std::string>(*rc::gen::inRange(1, 200), rc::gen::inRange('a', 'z'));
    payloads.push_back(SharedBytes::copy_of(bytes_of(text)));
  }
  const int steps = *rc::gen::inRange(1, 120);
  for (int step = 0; step < steps; ++step) {
    const int what = *rc::gen::inRange(0, 3);
    if (what == 0) {
      const auto text =
          *rc::gen::container<std::string>(*rc::gen::inRange(0, 40), rc::gen::inRange('0', '9'));
      queue.owned().append(bytes_of(text));
      model += text;
    } else if (what == 1) {
      const SharedBytes& payload = payloads[*rc::gen::inRange<std::size_t>(0, payloads.size())];
      const std::size_t from = *rc::gen::inRange<std::size_t>(0, payload.size());
      const std::size_t count = *rc::gen::inRange<std::size_t>(1, payload.size() - from + 1);
      const Bytes slice = payload.view().subspan(from, count);
      queue.append_reference(payload, slice);
      model += text_of(slice);
    } else if (!model.empty()) {
      const std::size_t count = *rc::gen::inRange<std::size_t>(0, model.size() + 1);
      queue.consume(count);
      model.erase(0, count);
    }
    queue.check_invariants();
    RC_ASSERT(queue.size() == model.size());
    RC_ASSERT(gathered(queue) == model);
  }
  ByteBuffer copied;
  queue.copy_to(copied);
  RC_ASSERT(text_of(copied.view()) == model);
  queue.clear();
  RC_ASSERT(queue.empty());
  RC_ASSERT(gathered(queue).empty());
}

}  // namespace
}  // namespace weft::detail
