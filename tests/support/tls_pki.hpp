// Certificates and TLS sessions for tests of the TLS layer (weft/io/tls.hpp): a CA made in
// memory, contexts for named nodes, and a client/server pair joined by a lossless in-memory
// link that moves bytes in chunks the test chooses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "weft/io/tls.hpp"
#include "weft/io/tls_certs.hpp"

namespace weft::testing {

// The wall time the tests verify certificates at (2023-11-14), and a day.
inline constexpr std::int64_t kTlsNowUnixS = 1'700'000'000;
inline constexpr std::int64_t kDayS = 24 * 3600;

// Valid from a day before kTlsNowUnixS to a year after it.
io::Validity current_validity();

// A CA and what it certifies.
class TestPki {
 public:
  // The CA is valid for `validity` (tests that verify at the real clock pass their own).
  explicit TestPki(const std::string& ca_name = "weft test CA",
                   io::Validity validity = current_validity());

  const io::CertifiedKey& ca() const { return ca_; }
  // Credentials for a node whose certificate carries `names` (the first is its CN), signed
  // by this CA, trusting this CA.
  io::TlsCredentials credentials(const std::vector<std::string>& names,
                                 io::Validity validity = current_validity()) const;
  // A context from credentials(names...); fails the test (throws) if it cannot be built.
  std::shared_ptr<const io::TlsContext> context(const std::vector<std::string>& names,
                                                const io::TlsContextOptions& options = {},
                                                io::Validity validity = current_validity()) const;

 private:
  io::CertifiedKey ca_;
};

// Builds a context or throws std::runtime_error with the load error's message.
std::shared_ptr<const io::TlsContext> context_or_throw(const io::TlsCredentials& credentials,
                                                       const io::TlsContextOptions& options = {});

// A session config for a client dialing `peer` (or a server when peer is empty), verifying
// at kTlsNowUnixS.
io::TlsSessionConfig session_config(io::TlsRole role, const std::string& peer = "");

// Moves up to `max_chunk` of `from`'s pending ciphertext into `to` (within its room) and
// returns how many bytes moved.
std::size_t transfer(io::TlsSession& from, io::TlsSession& to,
                     std::size_t max_chunk = std::numeric_limits<std::size_t>::max());

// Appends `session`'s plaintext to `sink` and consumes it.
void drain_plaintext(io::TlsSession& session, std::vector<std::uint8_t>& sink);

// Two sessions joined back to back.
struct TlsPair {
  io::TlsSession client;
  io::TlsSession server;
  std::vector<std::uint8_t> client_received;  // plaintext the client got, drained
  std::vector<std::uint8_t> server_received;
  std::vector<std::uint8_t> client_wire;  // every ciphertext byte the client sent
  std::vector<std::uint8_t> server_wire;

  // Moves bytes both ways in chunks of at most `max_chunk` (draining plaintext into the
  // *_received vectors, recording the wire) until nothing moves. Returns the bytes moved.
  std::size_t run(std::size_t max_chunk = std::numeric_limits<std::size_t>::max());
};

// A client dialing `server_name` with `client_context` and a server with `server_context`.
TlsPair make_pair(std::shared_ptr<const io::TlsContext> client_context,
                  std::shared_ptr<const io::TlsContext> server_context,
                  const std::string& server_name);

// `size` bytes of a fixed pattern drawn from `seed`.
std::vector<std::uint8_t> pattern_bytes(std::size_t size, std::uint32_t seed);

}  // namespace weft::testing
