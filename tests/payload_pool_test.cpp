// Payload vectors handed back with Node::recycle_payload (node.hpp; NodeConfig::
// payload_pool_bytes): their memory carries later events' payloads, which show only their own
// bytes, and the node keeps no more than its budget. Part of weft_request_contract_tests.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "weft/node.hpp"

namespace weft {
namespace {

using testing::Cluster;
using testing::kEchoHandler;

constexpr std::size_t kA = 0;
constexpr std::size_t kB = 1;
constexpr std::uint16_t kLookHandler = 9;  // the test looks at the request, then echoes it
constexpr std::size_t kVectorBytes = sizeof(std::vector<std::uint8_t>);
// The list of kept vectors at the default-sized budgets below: one place per 256 bytes.
constexpr std::size_t kListBytes = 64 * 1024 / 256 * kVectorBytes;

// A pair with that budget (built in place: the cluster's callbacks point at it).
Cluster pair_with_pool(std::size_t pool_bytes) {
  return Cluster({"alpha", "bravo"}, {},
                 [pool_bytes](NodeConfig& config) { config.payload_pool_bytes = pool_bytes; });
}

std::vector<std::uint8_t> filled(std::size_t size, char fill) {
  return std::vector<std::uint8_t>(size, static_cast<std::uint8_t>(fill));
}

// Hands `node` a vector of `size` bytes of `fill`; returns where its memory is.
const std::uint8_t* recycle_filled(Node& node, std::size_t size, char fill) {
  std::vector<std::uint8_t> old = filled(size, fill);
  const std::uint8_t* memory = old.data();
  node.recycle_payload(std::move(old));
  return memory;
}

TEST(PayloadPool, ARecycledVectorCarriesTheNextRequestWithOnlyItsBytes) {
  Cluster cluster = pair_with_pool(64 * 1024);
  cluster.node(kB).register_handler(kLookHandler);
  ASSERT_TRUE(cluster.run_until_connected());
  // 40 bytes of capacity fit a 2-byte payload closely enough (at most 2 * 2 + 64).
  const std::uint8_t* kept_memory = recycle_filled(cluster.node(kB), 40, 'A');
  const std::size_t held = cluster.node(kB).recycled_payload_bytes();
  EXPECT_EQ(held, 40 + kListBytes);

  std::vector<std::string> seen;
  std::vector<const std::uint8_t*> memory;
  cluster.recorder(kB).on_request = [&](const event::RequestReceived& request) {
    seen.emplace_back(as_chars(request.payload));
    memory.push_back(request.payload.data());
    cluster.node(kB).connection(request.peer).respond(cluster.now(), request.id, request.payload);
  };
  const Call call = cluster.request(kA, kB, kLookHandler, "hi");
  ASSERT_EQ(call.error, Errc::ok);
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  ASSERT_EQ(seen, std::vector<std::string>{"hi"});
  EXPECT_EQ(memory.front(), kept_memory);  // no allocation: the kept memory
  EXPECT_EQ(cluster.node(kB).recycled_payload_bytes(), kListBytes);
  // The caller's side saw the echo whole.
  ASSERT_NE(cluster.recorder(kA).done_for(call.id), nullptr);
  EXPECT_EQ(as_chars(cluster.recorder(kA).done_for(call.id)->payload), "hi");
}

// A peer cannot make a tiny request hold a large kept vector: memory behind a payload stays
// near what the connection's limits charge for it.
TEST(PayloadPool, AVectorFarLargerThanThePayloadStaysKept) {
  Cluster cluster = pair_with_pool(64 * 1024);
  ASSERT_TRUE(cluster.run_until_connected());
  recycle_filled(cluster.node(kB), 1000, 'A');
  const std::size_t held = cluster.node(kB).recycled_payload_bytes();
  const Call call = cluster.request(kA, kB, kEchoHandler, "hi");
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  ASSERT_EQ(cluster.recorder(kB).received.size(), 1u);
  EXPECT_EQ(as_chars(cluster.recorder(kB).received.back().event.payload), "hi");
  EXPECT_EQ(cluster.node(kB).recycled_payload_bytes(), held);  // not taken for 2 bytes
}

TEST(PayloadPool, ARecycledVectorCarriesTheNextResponse) {
  Cluster cluster = pair_with_pool(64 * 1024);
  ASSERT_TRUE(cluster.run_until_connected());
  const std::uint8_t* kept_memory = recycle_filled(cluster.node(kA), 50, 'Z');
  const Call call = cluster.request(kA, kB, kEchoHandler, "echo me");
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  const event::RequestDone* done = cluster.recorder(kA).done_for(call.id);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->result, Errc::ok);
  EXPECT_EQ(as_chars(done->payload), "echo me");
  EXPECT_EQ(done->payload.data(), kept_memory);
  EXPECT_EQ(cluster.node(kA).recycled_payload_bytes(), kListBytes);
}

TEST(PayloadPool, KeepsNoMoreThanItsBudget) {
  // 16 vectors at most (one per 256 bytes), their list 16 places: room for three
  // 1000-byte vectors, not four.
  constexpr std::size_t kBudget = 4096;
  constexpr std::size_t kList = 16 * kVectorBytes;
  Cluster cluster = pair_with_pool(kBudget);
  Node& node = cluster.node(kB);
  for (char fill : {'a', 'b', 'c'})
    node.recycle_payload(filled(1000, fill));
  EXPECT_EQ(node.recycled_payload_bytes(), 3000 + kList);
  node.recycle_payload(filled(1000, 'd'));  // does not fit: freed
  EXPECT_EQ(node.recycled_payload_bytes(), 3000 + kList);
  node.recycle_payload(filled(kBudget, 'e'));  // larger than the whole budget
  EXPECT_EQ(node.recycled_payload_bytes(), 3000 + kList);
  node.recycle_payload({});  // no memory to keep
  EXPECT_EQ(node.recycled_payload_bytes(), 3000 + kList);
  // A flood of tiny vectors: 13 more are kept, then none.
  for (int i = 0; i < 10'000; ++i)
    node.recycle_payload(filled(1, 'f'));
  EXPECT_EQ(node.recycled_payload_bytes(), 3000 + 13 + kList);
  EXPECT_LE(node.recycled_payload_bytes(), kBudget);

  Cluster none = pair_with_pool(0);
  none.node(kB).recycle_payload(filled(10, 'g'));
  EXPECT_EQ(none.node(kB).recycled_payload_bytes(), 0u);
}

TEST(PayloadPool, PayloadsOfManySizesThroughRecycledMemoryStayExact) {
  Cluster cluster = pair_with_pool(64 * 1024);
  cluster.node(kB).register_handler(kLookHandler);
  ASSERT_TRUE(cluster.run_until_connected());
  std::vector<std::string> seen;
  cluster.recorder(kB).on_request = [&](const event::RequestReceived& request) {
    seen.emplace_back(as_chars(request.payload));
    cluster.node(kB).connection(request.peer).respond(cluster.now(), request.id, request.payload);
  };
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < 40; ++i) {
    // Sizes up and down, so a long vector's old bytes would show in a short payload.
    const std::size_t size = (i * 37) % 300;
    sent.emplace_back(size, static_cast<char>('a' + i % 26));
    const Call call = cluster.request(kA, kB, kLookHandler, sent.back());
    ASSERT_TRUE(cluster.run_until_done(kA, call.id));
    const event::RequestDone* done = cluster.recorder(kA).done_for(call.id);
    ASSERT_NE(done, nullptr);
    EXPECT_EQ(as_chars(done->payload), sent.back());
    // As io::EventNode does once a handler and a reply callback returned.
    cluster.node(kA).recycle_payload(std::vector<std::uint8_t>(done->payload));
    cluster.node(kB).recycle_payload(filled(size + 50, '#'));
  }
  EXPECT_EQ(seen, sent);
}

}  // namespace
}  // namespace weft
