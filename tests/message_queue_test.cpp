// MessageQueue (issue 19): a FIFO of byte messages without an allocation per message. Checked
// against a model (a deque of strings) under random pushes and pops, with every view taken
// checked again after later pushes (a message never moves while it waits), and the blocks
// it holds bounded by what waits.
#include "weft/message_queue.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace weft {
namespace {

std::string text_of(Bytes bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

Bytes bytes_of(const std::string& text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TEST(MessageQueue, KeepsOrderSizesAndBytes) {
  MessageQueue queue;
  EXPECT_TRUE(queue.empty());
  queue.push_copy(bytes_of("one"));
  queue.push_copy(bytes_of(""));
  queue.push_copy(bytes_of(std::string(MessageQueue::kInlineMaxBytes + 1, 'x')));
  queue.push_owned(std::vector<std::uint8_t>{1, 2, 3});
  EXPECT_EQ(queue.size(), 4u);
  EXPECT_EQ(queue.bytes(), 3u + 0 + MessageQueue::kInlineMaxBytes + 1 + 3);
  EXPECT_EQ(text_of(queue.front()), "one");
  queue.pop_front();
  EXPECT_EQ(queue.front().size(), 0u);
  queue.pop_front();
  EXPECT_EQ(text_of(queue.front()), std::string(MessageQueue::kInlineMaxBytes + 1, 'x'));
  queue.pop_front();
  EXPECT_EQ(queue.front().size(), 3u);
  EXPECT_EQ(queue.front()[2], 3);
  queue.pop_front();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.bytes(), 0u);
}

// A view stays valid (same address, same bytes) while later messages fill new blocks and
// the ring of entries grows.
TEST(MessageQueue, AViewSurvivesLaterPushes) {
  MessageQueue queue;
  queue.push_copy(bytes_of("first"));
  const Bytes view = queue.front();
  const std::string filler(1000, 'f');
  for (int i = 0; i < 1000; ++i)
    queue.push_copy(bytes_of(filler));
  EXPECT_EQ(queue.front().data(), view.data());
  EXPECT_EQ(text_of(view), "first");
  EXPECT_GT(queue.block_count(), 10u);  // 1 MB of small messages took many blocks
}

// Small messages streaming through (never more than a few waiting) reuse the same blocks:
// memory follows what waits, not what passed.
TEST(MessageQueue, BlocksAreReusedWhenMessagesStreamThrough) {
  MessageQueue queue;
  const std::string message(100, 'm');
  for (int i = 0; i < 1'000'000; ++i) {
    queue.push_copy(bytes_of(message));
    if (queue.size() > 8) queue.pop_front();
    ASSERT_LE(queue.block_count(), 3u) << "after " << i << " messages";
  }
  queue.clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.block_count(), 0u);
}

RC_GTEST_PROP(MessageQueue, BehavesLikeADequeOfStrings, ()) {
  MessageQueue queue;
  std::deque<std::string> model;
  // A view of the oldest message, taken some steps ago: it must show the same bytes until
  // that message is popped, whatever was pushed since.
  std::optional<std::pair<Bytes, std::string>> held;
  const auto steps = *rc::gen::inRange(1, 400);
  for (int step = 0; step < steps; ++step) {
    if (*rc::gen::inRange(0, 10) < 6) {
      const auto size = static_cast<std::size_t>(
          *rc::gen::weightedOneOf<int>({{8, rc::gen::inRange(0, 200)},
                                        {2, rc::gen::inRange(3000, 9000)},
                                        {1, rc::gen::inRange(60'000, 70'000)}}));
      const std::string text(size, static_cast<char>('a' + step % 26));
      if (*rc::gen::arbitrary<bool>()) {
        queue.push_copy(bytes_of(text));
      } else {
        queue.push_owned(std::vector<std::uint8_t>(text.begin(), text.end()));
      }
      model.push_back(text);
    } else if (!model.empty()) {
      RC_ASSERT(text_of(queue.front()) == model.front());
      queue.pop_front();
      model.pop_front();
      held.reset();
    }
    if (held) RC_ASSERT(text_of(held->first) == held->second);
    if (!held && !model.empty()) held.emplace(queue.front(), model.front());
    RC_ASSERT(queue.size() == model.size());
    std::uint64_t bytes = 0;
    std::uint64_t small_bytes = 0;
    for (const std::string& text : model) {
      bytes += text.size();
      if (text.size() <= MessageQueue::kInlineMaxBytes) small_bytes += text.size();
    }
    RC_ASSERT(queue.bytes() == bytes);
    // Every block but the newest is at least this full, and one spare is kept.
    const std::uint64_t least_used = MessageQueue::kBlockBytes - MessageQueue::kInlineMaxBytes;
    RC_ASSERT(queue.block_count() <= small_bytes / least_used + 3);
  }
}

}  // namespace
}  // namespace weft
