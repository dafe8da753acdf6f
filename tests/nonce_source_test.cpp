// NonceSource (core/src/handshake.hpp): its key is overwritten with zeros when it is
// destroyed, so memory given back holds nothing from which the node's nonces follow.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <new>

#include "handshake.hpp"

namespace weft::detail {
namespace {

TEST(NonceSource, ItsKeyIsOverwrittenWithZerosWhenItIsDestroyed) {
  std::array<std::uint8_t, 32> key{};
  for (std::size_t i = 0; i < key.size(); ++i)
    key[i] = static_cast<std::uint8_t>(0xa0 + i);
  // The source built in storage this test owns, so that the storage can be read after the
  // source's life ended (as the allocator would hand it to the next user).
  alignas(NonceSource) std::array<unsigned char, sizeof(NonceSource)> storage{};
  auto* source = new (storage.data()) NonceSource(key);
  const Nonce first = source->next();
  const auto holds_key = [&] {
    return std::search(storage.begin(), storage.end(), key.begin(), key.end()) != storage.end();
  };
  ASSERT_TRUE(holds_key()) << "the key is kept inline, where the test can see it";
  source->~NonceSource();
  EXPECT_FALSE(holds_key());
  // The same key still gives the same nonces: only the destroyed copy was wiped.
  NonceSource again(key);
  EXPECT_EQ(again.next(), first);
}

}  // namespace
}  // namespace weft::detail
