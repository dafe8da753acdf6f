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
#include <utility>
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

// A queue made for a window uses blocks of the window's size, rounded up to a power of two
// and held between 1 KiB and 64 KiB, and copies into them only messages that fit one.
TEST(MessageQueue, AQueueForASmallWindowHoldsBlocksOfItsSize) {
  EXPECT_EQ(MessageQueue().block_bytes(), MessageQueue::kBlockBytes);
  EXPECT_EQ(MessageQueue::for_window(0).block_bytes(), MessageQueue::kMinBlockBytes);
  EXPECT_EQ(MessageQueue::for_window(1024).block_bytes(), 1024u);
  EXPECT_EQ(MessageQueue::for_window(1025).block_bytes(), 2048u);
  EXPECT_EQ(MessageQueue::for_window(1025).inline_max_bytes(), 2048u);
  EXPECT_EQ(MessageQueue::for_window(64 * 1024 + 1).block_bytes(), MessageQueue::kBlockBytes);
  EXPECT_EQ(MessageQueue::for_window(1u << 30).inline_max_bytes(), MessageQueue::kInlineMaxBytes);
  MessageQueue queue = MessageQueue::for_window(1000);
  queue.push_copy(bytes_of("x"));
  EXPECT_EQ(queue.memory_bytes(), 1024u);
  // Larger than a block: a buffer of its own, counted by its capacity.
  std::vector<std::uint8_t> large(3000, 7);
  large.reserve(4000);
  queue.push_owned(std::move(large));
  queue.push_copy(bytes_of(std::string(1025, 'y')));
  EXPECT_EQ(queue.block_count(), 1u);
  EXPECT_GE(queue.memory_bytes(), 1024u + 4000 + 1025);
  queue.pop_front();
  queue.pop_front();
  EXPECT_EQ(text_of(queue.front()), std::string(1025, 'y'));
  queue.pop_front();
  EXPECT_EQ(queue.memory_bytes(), 1024u);  // the one block stays, to be filled again
}

RC_GTEST_PROP(MessageQueue, BehavesLikeADequeOfStrings, ()) {
  // The default queue, or one made for a window of up to 128 KiB (blocks of 1 to 64 KiB).
  MessageQueue queue = *rc::gen::arbitrary<bool>()
                           ? MessageQueue()
                           : MessageQueue::for_window(*rc::gen::inRange(0, 128 * 1024));
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
    std::uint64_t small_messages = 0;
    for (const std::string& text : model) {
      bytes += text.size();
      if (text.size() <= queue.inline_max_bytes()) {
        small_bytes += text.size();
        ++small_messages;
      }
    }
    RC_ASSERT(queue.bytes() == bytes);
    // Every block but the newest holds a waiting message and is at least this full, and
    // one spare is kept.
    RC_ASSERT(queue.block_count() <= small_messages + 2);
    const std::uint64_t least_used = queue.block_bytes() - queue.inline_max_bytes();
    if (least_used > 0) RC_ASSERT(queue.block_count() <= small_bytes / least_used + 3);
  }
}

}  // namespace
}  // namespace weft
