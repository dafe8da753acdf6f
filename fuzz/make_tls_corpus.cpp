// Writes seeds for the tls_input fuzz target into DIR: sessions between the fixture's
// deterministic node-a and node-b (tls_fixture.hpp), each recorded from both sides. A
// seed is the mode byte (tls_input_fuzz.cpp) and what one side received, so the target's
// session (the same seeds, the same random bytes) gets through the handshake with it.
//
//   weft_make_tls_corpus DIR
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "tls_fixture.hpp"

namespace {

using weft::io::TlsRole;
using weft::io::TlsSession;

// What each side of a session received.
struct Recording {
  std::vector<std::uint8_t> to_client;
  std::vector<std::uint8_t> to_server;
};

struct Script {
  std::string name;
  std::size_t client_message_bytes = 0;  // written by the client before the handshake
  std::size_t server_message_bytes = 0;  // written by the server once established
  bool client_closes = false;
  bool server_closes = false;
  bool hello_only = false;  // stop after the client's first flight
};

// Moves everything `from` has into `to` (within its room), recording it in `wire`, and
// takes `to`'s plaintext.
bool move(TlsSession& from, TlsSession& to, std::vector<std::uint8_t>& wire) {
  bool moved = false;
  while (!from.pending_ciphertext().empty() && to.ciphertext_room() > 0) {
    const weft::Bytes pending = from.pending_ciphertext();
    const std::size_t count = std::min(pending.size(), to.ciphertext_room());
    wire.insert(wire.end(), pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(count));
    to.feed_ciphertext(pending.first(count));
    from.consume_ciphertext(count);
    to.consume_plaintext(to.plaintext().size());
    moved = true;
  }
  to.consume_plaintext(to.plaintext().size());
  return moved;
}

Recording record(const Script& script) {
  TlsSession client =
      weft::fuzz_tls::make_session(weft::fuzz_tls::make_context(true), TlsRole::client);
  TlsSession server =
      weft::fuzz_tls::make_session(weft::fuzz_tls::make_context(false), TlsRole::server);
  Recording recording;
  std::vector<std::uint8_t> message(
      std::max(script.client_message_bytes, script.server_message_bytes));
  for (std::size_t i = 0; i < message.size(); ++i)
    message[i] = static_cast<std::uint8_t>(i * 7);
  std::size_t client_sent =
      client.write_plaintext(weft::Bytes(message).first(script.client_message_bytes));
  if (script.hello_only) {
    move(client, server, recording.to_server);
    return recording;
  }
  std::size_t server_sent = 0;
  bool closed = false;
  for (int round = 0; round < 10'000; ++round) {
    bool moved = move(client, server, recording.to_server);
    moved = move(server, client, recording.to_client) || moved;
    if (client_sent < script.client_message_bytes) {
      client_sent += client.write_plaintext(
          weft::Bytes(message).subspan(client_sent, script.client_message_bytes - client_sent));
      moved = true;
    }
    if (server.established() && server_sent < script.server_message_bytes) {
      server_sent += server.write_plaintext(
          weft::Bytes(message).subspan(server_sent, script.server_message_bytes - server_sent));
      moved = true;
    }
    const bool done =
        client_sent == script.client_message_bytes && server_sent == script.server_message_bytes;
    if (done && !closed) {
      if (script.client_closes) client.close();
      if (script.server_closes) server.close();
      closed = true;
      moved = true;
    }
    if (!moved) break;
  }
  if (!client.established() || !server.established()) {
    std::fprintf(stderr, "%s: the recorded session failed\n", script.name.c_str());
    std::exit(1);
  }
  return recording;
}

// Writes a seed unless one with the same bytes was written already.
void write_seed(const std::filesystem::path& dir, const std::string& name, std::uint8_t mode,
                const std::vector<std::uint8_t>& bytes) {
  static std::set<std::string> written;
  std::string seed(1, static_cast<char>(mode));
  seed.append(bytes.begin(), bytes.end());
  if (!written.insert(seed).second) return;
  std::ofstream file(dir / name, std::ios::binary);
  file.write(seed.data(), static_cast<std::streamsize>(seed.size()));
  std::printf("%s: %zu bytes\n", name.c_str(), seed.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: weft_make_tls_corpus DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::vector<Script> scripts = {
      {"hello", 0, 0, false, false, true},
      {"handshake", 0, 0, false, false, false},
      {"small-both-ways", 5, 7, false, false, false},
      {"close-both", 100, 100, true, true, false},
      {"server-closes", 0, 300, false, true, false},
      {"records-6k", 6000, 6000, false, false, false},
  };
  for (const Script& script : scripts) {
    const Recording recording = record(script);
    // Mode byte: bit 0 the side under test; the rest 0 (pieces as large as the room) or a
    // seed for small pieces.
    write_seed(dir, "server-" + script.name, 0, recording.to_server);
    if (!script.hello_only) {
      write_seed(dir, "client-" + script.name, 1, recording.to_client);
      write_seed(dir, "server-" + script.name + "-pieces", 0x2a << 1, recording.to_server);
      write_seed(dir, "client-" + script.name + "-pieces", (0x15 << 1) | 1, recording.to_client);
    }
  }
  return 0;
}
