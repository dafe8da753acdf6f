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
  const std::uint8_t* kept_memory = recycle_filled(cluster.node(kB), 1000, 'A');
  EXPECT_EQ(cluster.node(kB).recycled_payload_bytes(), 1000 + kVectorBytes);

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
  EXPECT_EQ(cluster.node(kB).recycled_payload_bytes(), 0u);
  // The caller's side saw the echo whole.
  ASSERT_NE(cluster.recorder(kA).done_for(call.id), nullptr);
  EXPECT_EQ(as_chars(cluster.recorder(kA).done_for(call.id)->payload), "hi");
}

TEST(PayloadPool, ARecycledVectorCarriesTheNextResponse) {
  Cluster cluster = pair_with_pool(64 * 1024);
  ASSERT_TRUE(cluster.run_until_connected());
  const std::uint8_t* kept_memory = recycle_filled(cluster.node(kA), 500, 'Z');
  const Call call = cluster.request(kA, kB, kEchoHandler, "echo me");
  ASSERT_TRUE(cluster.run_until_done(kA, call.id));
  const event::RequestDone* done = cluster.recorder(kA).done_for(call.id);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->result, Errc::ok);
  EXPECT_EQ(as_chars(done->payload), "echo me");
  EXPECT_EQ(done->payload.data(), kept_memory);
  EXPECT_EQ(cluster.node(kA).recycled_payload_bytes(), 0u);
}

TEST(PayloadPool, KeepsNoMoreThanItsBudget) {
  // Room for two 1000-byte vectors and their places, not three.
  const std::size_t budget = 2 * (1000 + kVectorBytes) + 10;
  Cluster cluster = pair_with_pool(budget);
  Node& node = cluster.node(kB);
  node.recycle_payload(filled(1000, 'a'));
  node.recycle_payload(filled(1000, 'b'));
  EXPECT_EQ(node.recycled_payload_bytes(), 2 * (1000 + kVectorBytes));
  node.recycle_payload(filled(1000, 'c'));  // does not fit: freed
  EXPECT_EQ(node.recycled_payload_bytes(), 2 * (1000 + kVectorBytes));
  node.recycle_payload(filled(budget, 'd'));  // larger than the whole budget
  EXPECT_EQ(node.recycled_payload_bytes(), 2 * (1000 + kVectorBytes));
  node.recycle_payload({});  // no memory to keep
  EXPECT_EQ(node.recycled_payload_bytes(), 2 * (1000 + kVectorBytes));
  // Tiny vectors count their places too: a flood of them stays within the budget.
  for (int i = 0; i < 10'000; ++i)
    node.recycle_payload(filled(1, 'e'));
  EXPECT_LE(node.recycled_payload_bytes(), budget);

  Cluster none = pair_with_pool(0);
  none.node(kB).recycle_payload(filled(10, 'f'));
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
