// What the guide's programs share (docs/GUIDE.md quotes the marked regions): credentials
// from the files weft-keys writes, a node's options, two nodes of one process introduced to
// each other, and a check that fails the program with a message.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "weft/auth.hpp"
#include "weft/io/event_node.hpp"

namespace guide {

// A check of the program's result: throws, and main prints the message and exits 1.
inline void expect(bool holds, const std::string& what) {
  if (!holds) throw std::runtime_error("check failed: " + what);
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// [guide:key-ring]
// This node's Ed25519 key and the ring of every node's public key, as `weft-keys DIR
// NAME...` wrote them. Each node proves its own name and nobody else's. Both calls throw
// std::invalid_argument naming what is wrong (a key that does not parse, a bad ring line).
inline std::shared_ptr<const weft::Authenticator> key_ring(const std::filesystem::path& dir,
                                                           const std::string& name) {
  const std::string private_key = read_file(dir / (name + ".key"));
  auto ring = weft::KeyRingAuth::parse_ring(read_file(dir / "keyring"));
  return std::make_shared<weft::KeyRingAuth>(private_key, std::move(ring));
}
// [/guide]

// [guide:options]
// A node called `name` on 127.0.0.1, with the peers it will talk to and where they listen.
inline weft::io::EventNodeOptions node_options(const std::string& name,
                                               std::shared_ptr<const weft::Authenticator> auth,
                                               std::vector<weft::io::PeerAddress> peers = {}) {
  weft::io::EventNodeOptions options;
  options.config.name = name;
  options.config.auth = std::move(auth);  // required: weft has no default secret
  for (const weft::io::PeerAddress& peer : peers)
    options.config.peers.push_back(peer.name);  // the names it accepts and calls
  options.addresses = std::move(peers);         // where it dials them
  options.listen_host = "127.0.0.1";
  options.listen_port = 0;  // a free port, for this demo; EventNode::port() says which
  // config.seed and config.nonce_key stay unset: start() draws both from the OS.
  options.log = [name](weft::io::LogLevel level, std::string_view line) {
    if (level >= weft::io::LogLevel::warning)
      std::fprintf(stderr, "%s: %.*s\n", name.c_str(), static_cast<int>(line.size()), line.data());
  };
  return options;
}
// [/guide]

// [guide:introduce]
// Two nodes of this process learn each other's port once the kernel chose them; a real
// cluster lists its peers' addresses in EventNodeOptions::addresses before start().
inline void introduce(weft::io::EventNode& a, const std::string& a_name, weft::io::EventNode& b,
                      const std::string& b_name) {
  expect(a.add_peer({b_name, "127.0.0.1", b.port()}) == weft::Errc::ok, "add_peer " + b_name);
  expect(b.add_peer({a_name, "127.0.0.1", a.port()}) == weft::Errc::ok, "add_peer " + a_name);
}
// [/guide]

// [guide:wait-up]
// Waits until `node`'s connection to `peer` is established. Calls made before fail with
// disconnected (object streams and bundles wait for the peer on their own).
inline bool wait_until_up(weft::io::EventNode& node, std::string_view peer,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    for (const weft::io::PeerStatus& status : node.peers()) {
      if (status.name == peer && status.stats.state == weft::PeerState::established) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}
// [/guide]

// A node called `name` whose key and ring are in `keys`.
inline weft::io::EventNodeOptions keyed_options(const std::filesystem::path& keys,
                                                const std::string& name) {
  return node_options(name, key_ring(keys, name));
}

// Starts `node` (its handlers registered), or fails the program.
inline void start(weft::io::EventNode& node, const std::string& name) {
  expect(node.start() == weft::Errc::ok, name + " started");
}

// Starts `client`, introduces it to `server` (started), and waits until they are connected.
inline void connect(weft::io::EventNode& server, weft::io::EventNode& client,
                    const std::string& client_name) {
  start(client, client_name);
  introduce(server, "server", client, client_name);
  expect(wait_until_up(client, "server"), client_name + " connected to server");
}

// Runs `body` and turns a failed check (or any exception) into exit status 1.
template <typename Body>
int run_checked(const char* program, Body&& body) {
  try {
    body();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "%s: %s\n", program, error.what());
    return 1;
  }
  std::printf("%s: ok\n", program);
  return 0;
}

// The main() of a program whose one argument is the key directory: body(keys), checked.
template <typename Body>
int main_with_keys(int argc, char** argv, const char* program, Body&& body) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s KEY_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path keys = argv[1];
  return run_checked(program, [&] { body(keys); });
}

}  // namespace guide
