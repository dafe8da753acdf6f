// The TLS layer's input path under any chunking, damaged input and its limits
// (weft/io/tls.hpp): a record split at every byte, garbage after the handshake, and every
// buffer within its named limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tls_pki.hpp"
#include "weft/io/tls.hpp"

namespace weft {
namespace {

using io::TlsErrc;
using io::TlsRole;
using io::TlsSession;
using io::TlsState;
using testing::make_pair;
using testing::TestPki;

class TlsSplitTest : public ::testing::Test {
 protected:
  TestPki pki_;
  std::shared_ptr<const io::TlsContext> node_a_ = pki_.context({"node-a"});
  std::shared_ptr<const io::TlsContext> node_b_ = pki_.context({"node-b"});
  const std::vector<std::uint8_t> up_ = testing::pattern_bytes(3000, 1);
  const std::vector<std::uint8_t> down_ = testing::pattern_bytes(2000, 2);

  // A pair whose sides already gave their messages (the client's goes out right after its
  // Finished, in its second flight; the server's once the handshake is done).
  testing::TlsPair pair_with_messages() {
    testing::TlsPair pair = make_pair(node_a_, node_b_, "node-b");
    EXPECT_EQ(pair.client.write_plaintext(up_), up_.size());
    EXPECT_EQ(pair.server.write_plaintext(down_), down_.size());
    return pair;
  }

  // Fails the test unless both sides are established and got each other's message.
  void expect_exchanged(testing::TlsPair& pair, const std::string& where) {
    ASSERT_TRUE(pair.client.established())
        << where << ": " << (pair.client.error() ? pair.client.error()->message : "");
    ASSERT_TRUE(pair.server.established())
        << where << ": " << (pair.server.error() ? pair.server.error()->message : "");
    EXPECT_EQ(pair.server_received, up_) << where;
    EXPECT_EQ(pair.client_received, down_) << where;
  }
};

TEST_F(TlsSplitTest, OneByteAtATime) {
  testing::TlsPair pair = pair_with_messages();
  pair.run(1);
  expect_exchanged(pair, "one byte at a time");
}

// Delivers the handshake's flights before `flight` whole (client, server, client, ...) and
// returns the side whose turn it is to send.
TlsSession& deliver_flights_before(testing::TlsPair& pair, int flight) {
  for (int before = 0; before < flight; ++before) {
    if (before % 2 == 0) {
      testing::transfer(pair.client, pair.server);
    } else {
      testing::transfer(pair.server, pair.client);
    }
  }
  return flight % 2 == 0 ? pair.client : pair.server;
}

// The handshake's three flights (the client's hello, the server's answer, the client's
// certificate and Finished with its message behind), each split in two at every position.
TEST_F(TlsSplitTest, EveryFlightSplitAtEveryByte) {
  for (int flight = 0; flight < 3; ++flight) {
    testing::TlsPair probe = pair_with_messages();
    const std::size_t size = deliver_flights_before(probe, flight).pending_ciphertext().size();
    ASSERT_GT(size, 1u);
    for (std::size_t split = 1; split < size; ++split) {
      testing::TlsPair pair = pair_with_messages();
      TlsSession& from = deliver_flights_before(pair, flight);
      TlsSession& to = &from == &pair.client ? pair.server : pair.client;
      // Randomness changes the bytes of a flight, never its length (tls.hpp).
      ASSERT_EQ(from.pending_ciphertext().size(), size) << "flight " << flight;
      EXPECT_EQ(testing::transfer(from, to, split), split);
      EXPECT_FALSE(to.failed()) << to.error()->message;
      EXPECT_EQ(testing::transfer(from, to), size - split);
      pair.run();
      expect_exchanged(pair, "flight " + std::to_string(flight) + " split " +
                                 std::to_string(split) + " of " + std::to_string(size));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST_F(TlsSplitTest, DataRecordsSplitAtEveryByte) {
  testing::TlsPair pair = make_pair(node_a_, node_b_, "node-b");
  pair.run();
  // Two records back to back, the second one's start anywhere in a piece.
  const std::vector<std::uint8_t> first = testing::pattern_bytes(100, 3);
  const std::vector<std::uint8_t> second = testing::pattern_bytes(50, 4);
  pair.client.write_plaintext(first);
  pair.client.write_plaintext(second);
  const std::vector<std::uint8_t> wire(pair.client.pending_ciphertext().begin(),
                                       pair.client.pending_ciphertext().end());
  for (std::size_t split = 1; split < wire.size(); ++split) {
    testing::TlsPair fresh = make_pair(node_a_, node_b_, "node-b");
    fresh.run();
    fresh.client.write_plaintext(first);
    fresh.client.write_plaintext(second);
    ASSERT_EQ(fresh.client.pending_ciphertext().size(), wire.size());
    testing::transfer(fresh.client, fresh.server, split);
    fresh.run();
    std::vector<std::uint8_t> expected = first;
    expected.insert(expected.end(), second.begin(), second.end());
    ASSERT_EQ(fresh.server_received, expected) << "split " << split;
  }
}

TEST_F(TlsSplitTest, GarbageAfterTheHandshakeIsAProtocolError) {
  testing::TlsPair pair = make_pair(node_a_, node_b_, "node-b");
  pair.run();
  // A well-formed application-data record header with random contents.
  std::vector<std::uint8_t> garbage = {0x17, 0x03, 0x03, 0x00, 0x40};
  const std::vector<std::uint8_t> noise = testing::pattern_bytes(0x40, 9);
  garbage.insert(garbage.end(), noise.begin(), noise.end());
  pair.server.feed_ciphertext(garbage);
  ASSERT_TRUE(pair.server.failed());
  EXPECT_EQ(pair.server.error()->code, TlsErrc::protocol) << pair.server.error()->message;
  EXPECT_NE(pair.server.error()->message.find("bad record mac"), std::string::npos)
      << pair.server.error()->message;
  // The server tells the client why (an alert): the client fails too, with peer_alert.
  pair.run();
  ASSERT_TRUE(pair.client.failed());
  EXPECT_EQ(pair.client.error()->code, TlsErrc::peer_alert) << pair.client.error()->message;
  EXPECT_EQ(pair.client.error()->alert, 20);  // bad_record_mac
  // A failed session takes nothing more and gives nothing more.
  EXPECT_EQ(pair.server.ciphertext_room(), 0u);
  EXPECT_EQ(pair.server.plaintext_room(), 0u);
  EXPECT_EQ(pair.server.write_plaintext(noise), 0u);
  pair.server.feed_ciphertext(noise);
  EXPECT_EQ(pair.server.error()->code, TlsErrc::protocol);
}

TEST_F(TlsSplitTest, OneFlippedBitInARecordIsAProtocolError) {
  testing::TlsPair pair = make_pair(node_a_, node_b_, "node-b");
  pair.run();
  pair.client.write_plaintext(up_);
  std::vector<std::uint8_t> wire(pair.client.pending_ciphertext().begin(),
                                 pair.client.pending_ciphertext().end());
  wire[wire.size() / 2] ^= 0x10;
  pair.server.feed_ciphertext(wire);
  ASSERT_TRUE(pair.server.failed());
  EXPECT_EQ(pair.server.error()->code, TlsErrc::protocol) << pair.server.error()->message;
  EXPECT_TRUE(pair.server.plaintext().empty());  // nothing of the damaged record came out
}

TEST_F(TlsSplitTest, AnUnknownRecordTypeAfterTheHandshakeIsAProtocolError) {
  testing::TlsPair pair = make_pair(node_a_, node_b_, "node-b");
  pair.run();
  const std::vector<std::uint8_t> weft_frame = {0x77, 0x01, 0x00, 0x10, 0x93, 0x01};
  pair.client.feed_ciphertext(weft_frame);
  ASSERT_TRUE(pair.client.failed());
  EXPECT_EQ(pair.client.error()->code, TlsErrc::protocol) << pair.client.error()->message;
}

io::TlsSessionConfig small_limits(io::TlsSessionConfig config) {
  config.limits.max_ciphertext_in_bytes = 20'000;
  config.limits.max_plaintext_in_bytes = 10'000;
  config.limits.max_plaintext_out_bytes = 7'000;
  config.limits.max_ciphertext_out_bytes = 5'000;
  return config;
}

TEST_F(TlsSplitTest, FeedingPastTheRoomFailsAndTakesNothing) {
  TlsSession server(node_b_, small_limits(testing::session_config(TlsRole::server)));
  EXPECT_EQ(server.ciphertext_room(), 20'000u);
  TlsSession client(node_a_, testing::session_config(TlsRole::client, "node-b"));
  const std::vector<std::uint8_t> hello(client.pending_ciphertext().begin(),
                                        client.pending_ciphertext().end());
  std::vector<std::uint8_t> too_much(20'001, 0x16);
  std::copy(hello.begin(), hello.end(), too_much.begin());
  server.feed_ciphertext(too_much);
  ASSERT_TRUE(server.failed());
  EXPECT_EQ(server.error()->code, TlsErrc::limit);
  EXPECT_NE(server.error()->message.find("max_ciphertext_in_bytes 20000"), std::string::npos)
      << server.error()->message;
  EXPECT_EQ(server.buffered_bytes(), 0u);  // nothing was taken
}

TEST_F(TlsSplitTest, AReaderThatDoesNotTakePlaintextHoldsBoundedBytes) {
  testing::TlsPair pair{
      TlsSession(node_a_, small_limits(testing::session_config(TlsRole::client, "node-b"))),
      TlsSession(node_b_, small_limits(testing::session_config(TlsRole::server))),
      {},
      {},
      {},
      {}};
  pair.run();
  ASSERT_TRUE(pair.client.established());
  // The server sends 1 MiB; the client's application takes nothing.
  const std::vector<std::uint8_t> data = testing::pattern_bytes(1 << 20, 5);
  std::size_t sent = 0;
  for (int round = 0; round < 1000; ++round) {
    sent += pair.server.write_plaintext(Bytes(data).subspan(sent));
    if (testing::transfer(pair.server, pair.client) == 0) break;
    EXPECT_LE(pair.client.plaintext().size(), 10'000u);
    EXPECT_LE(pair.server.pending_ciphertext().size(), 5'000u);
    EXPECT_LE(pair.client.buffered_bytes(), 10'000u + 20'000u);
    EXPECT_LE(pair.server.buffered_bytes(), 7'000u + 5'000u);
  }
  // Stalled: the client holds at most its limits; its room is gone; the sender holds its own.
  EXPECT_EQ(pair.client.plaintext().size(), 10'000u);
  EXPECT_LT(pair.client.ciphertext_room(), 5'000u);
  EXPECT_LT(sent, data.size());
  EXPECT_FALSE(pair.client.failed() || pair.server.failed());
  // Taking the plaintext lets everything through, in order.
  std::vector<std::uint8_t> received;
  for (int round = 0; round < 10'000 && received.size() < data.size(); ++round) {
    testing::drain_plaintext(pair.client, received);
    sent += pair.server.write_plaintext(Bytes(data).subspan(sent));
    testing::transfer(pair.server, pair.client);
  }
  EXPECT_EQ(received, data);
}

TEST_F(TlsSplitTest, AWriterAheadOfItsTransportIsHeldToItsLimits) {
  io::TlsSessionConfig config = small_limits(testing::session_config(TlsRole::client, "node-b"));
  testing::TlsPair pair{TlsSession(node_a_, config),
                        TlsSession(node_b_, testing::session_config(TlsRole::server)),
                        {},
                        {},
                        {},
                        {}};
  const std::vector<std::uint8_t> data = testing::pattern_bytes(100'000, 6);
  // Before the handshake everything waits as plaintext: at most max_plaintext_out_bytes.
  EXPECT_EQ(pair.client.write_plaintext(data), 7'000u);
  EXPECT_EQ(pair.client.plaintext_room(), 0u);
  EXPECT_EQ(pair.client.write_plaintext(data), 0u);
  pair.run();
  ASSERT_TRUE(pair.client.established());
  EXPECT_EQ(pair.server_received.size(), 7'000u);
  // After it, nobody takes the ciphertext: it stops at max_ciphertext_out_bytes.
  std::size_t taken = 0;
  for (int round = 0; round < 10; ++round)
    taken += pair.client.write_plaintext(Bytes(data).subspan(7'000 + taken));
  EXPECT_LE(pair.client.pending_ciphertext().size(), 5'000u);
  EXPECT_LE(taken, 7'000u + 5'000u);
  EXPECT_EQ(pair.client.plaintext_room(), 0u);
  pair.run();
  std::vector<std::uint8_t> expected(data.begin(), data.begin() + 7'000 + taken);
  EXPECT_EQ(pair.server_received, expected);
}

}  // namespace
}  // namespace weft
