// A directory of node keys as weft-keys keeps it: NAME.key per node (its Ed25519 private
// key, PKCS#8 PEM, mode 0600) and `keyring`, the public keys of them all (one
// `NAME <64 hex digits>` line per key file, by name; mode 0644), the ring every node of
// the cluster reads (weft::KeyRingAuth). Used by weft-keys and by the fault harness, which
// makes a cluster's keys in its run directory.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "file_io.hpp"
#include "weft/auth.hpp"
#include "weft/wire.hpp"

namespace weft::cli {

inline constexpr std::string_view kKeyringFile = "keyring";
inline constexpr std::string_view kKeySuffix = ".key";

// A fresh Ed25519 private key as PKCS#8 PEM, from the OS's randomness (through libcrypto).
// Throws std::runtime_error when libcrypto fails.
inline std::string new_node_key_pem() {
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free);
  const std::unique_ptr<BIO, decltype(&BIO_free)> pem(BIO_new(BIO_s_mem()), BIO_free);
  char* text = nullptr;
  if (!key || !pem ||
      PEM_write_bio_PrivateKey(pem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("libcrypto could not make an Ed25519 key");
  }
  const long length = BIO_get_mem_data(pem.get(), &text);
  return std::string(text, static_cast<std::size_t>(length));
}

// Whether `name` can be both a node name and a key file's name in a key directory: no '/',
// not starting with '.'.
inline bool key_file_name_ok(std::string_view name) {
  return valid_node_name(name) && name.find('/') == std::string_view::npos && name.front() != '.';
}

// The key ring line of the node `name` whose private key is `private_key_pem`:
// "NAME <64 hex digits>\n". Throws std::invalid_argument as KeyRingAuth::public_key_of.
inline std::string ring_line(std::string_view name, std::string_view private_key_pem) {
  return std::string(name) + " " + KeyRingAuth::hex(KeyRingAuth::public_key_of(private_key_pem)) +
         "\n";
}

// The key file of node `name` in `dir`, and the ring's file.
inline std::string key_file(const std::filesystem::path& dir, std::string_view name) {
  return (dir / (std::string(name) + std::string(kKeySuffix))).string();
}
inline std::string ring_file(const std::filesystem::path& dir) {
  return (dir / kKeyringFile).string();
}

// Makes DIR/NAME.key (mode 0600) for every name in `names` that has no key file yet, and
// DIR itself if missing; returns the names it made a key for. A key file that exists is
// kept as it is, also one another process makes while this runs (write_new_file). Throws
// std::invalid_argument for a name that cannot be a key file's name (nothing written for any name),
// std::runtime_error when a file cannot be written.
inline std::vector<std::string> add_node_keys(const std::filesystem::path& dir,
                                              std::span<const std::string> names) {
  for (const std::string& name : names) {
    if (!key_file_name_ok(name)) {
      throw std::invalid_argument("'" + name +
                                  "' cannot be a node's key file name (printable, no spaces, "
                                  "no '/', not starting with '.')");
    }
  }
  std::filesystem::create_directories(dir);
  std::vector<std::string> made;
  for (const std::string& name : names) {
    const std::filesystem::path path = key_file(dir, name);
    if (std::filesystem::exists(path)) continue;  // spares a key's making; the link decides
    // link(), not rename(): a key another run made meanwhile is kept, never replaced.
    if (write_new_file(path, new_node_key_pem(), 0600)) made.push_back(name);
  }
  return made;
}

// Writes DIR/keyring (mode 0644, through a temporary file): one line per DIR/NAME.key, by
// name. Returns how many lines it wrote. Throws std::invalid_argument naming a key file
// whose name is not a node name or whose content is not an Ed25519 private key (the ring
// is then left as it was), std::runtime_error for I/O.
inline std::size_t write_ring(const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, std::filesystem::path>> keys;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (!entry.is_regular_file() || !file.ends_with(kKeySuffix)) continue;
    const std::string name = file.substr(0, file.size() - kKeySuffix.size());
    if (!key_file_name_ok(name)) {
      throw std::invalid_argument(entry.path().string() + ": '" + name + "' is not a node name");
    }
    keys.emplace_back(name, entry.path());
  }
  std::sort(keys.begin(), keys.end());
  std::string ring = "# weft key ring: <node name> <Ed25519 public key>, written by weft-keys\n";
  for (const auto& [name, path] : keys) {
    try {
      ring += ring_line(name, read_file(path));
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument(path.string() + ": " + error.what());
    }
  }
  // Every node refuses a ring with one key under two names (a key file copied to another
  // name): say so now, with the file names, rather than write a ring nobody starts with.
  try {
    KeyRingAuth::parse_ring(ring);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(dir.string() + ": " + error.what() + " (a copied key file?)");
  }
  write_file(ring_file(dir), ring, 0644);
  return keys.size();
}

// The command-line options that give node `name`, whose key is in `dir`, its credentials
// (weft-node --key, --keyring).
inline std::vector<std::string> key_ring_options(const std::filesystem::path& dir,
                                                 std::string_view name) {
  return {"--key", key_file(dir, name), "--keyring", ring_file(dir)};
}

}  // namespace weft::cli
