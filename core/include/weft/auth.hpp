// Authentication of the handshake: which token a node presents, and how it checks the
// peer's. The core calls these synchronously while handling a hello or welcome; they must
// be pure (no I/O, no calls back into weft) and thread-safe if shared between nodes.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "weft/bytes.hpp"

namespace weft {

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // The token this node presents to `peer_name` (at most 256 bytes).
  virtual std::string token_for(std::string_view peer_name) const = 0;
  // Whether `token` proves the sender is `peer_name`.
  virtual bool verify(std::string_view peer_name, Bytes token) const = 0;
};

// One shared secret for the whole cluster, compared in constant time.
class StaticTokenAuth final : public Authenticator {
 public:
  explicit StaticTokenAuth(std::string token) : token_(std::move(token)) {}
  std::string token_for(std::string_view peer_name) const override;
  bool verify(std::string_view peer_name, Bytes token) const override;

 private:
  std::string token_;
};

// Compares two byte strings in time that depends only on their lengths, not their content.
bool constant_time_equal(Bytes lhs, Bytes rhs);

}  // namespace weft
