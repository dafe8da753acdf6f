// Test helpers for the TLS layer (tls_pki.hpp).
#include "tls_pki.hpp"

#include <algorithm>
#include <stdexcept>

namespace weft::testing {

io::Validity current_validity() {
  return {kTlsNowUnixS - kDayS, kTlsNowUnixS + 365 * kDayS};
}

TestPki::TestPki(const std::string& ca_name, io::Validity validity)
    : ca_(io::make_ca(ca_name, validity)) {}

io::TlsCredentials TestPki::credentials(const std::vector<std::string>& names,
                                        io::Validity validity) const {
  const io::CertifiedKey node = io::make_node_certificate(ca_, names, validity);
  io::TlsCredentials credentials;
  credentials.ca_pem = ca_.certificate_pem;
  credentials.chain_pem = node.certificate_pem;
  credentials.key_pem = node.key_pem;
  return credentials;
}

std::shared_ptr<const io::TlsContext> TestPki::context(const std::vector<std::string>& names,
                                                       const io::TlsContextOptions& options,
                                                       io::Validity validity) const {
  return context_or_throw(credentials(names, validity), options);
}

std::shared_ptr<const io::TlsContext> context_or_throw(const io::TlsCredentials& credentials,
                                                       const io::TlsContextOptions& options) {
  io::TlsContextResult result = io::TlsContext::create(credentials, options);
  if (!result.ok()) throw std::runtime_error("TLS context: " + result.error->message);
  return result.context;
}

io::TlsSessionConfig session_config(io::TlsRole role, const std::string& peer) {
  io::TlsSessionConfig config;
  config.role = role;
  config.peer_name = peer;
  config.verify_time_unix_s = kTlsNowUnixS;
  return config;
}

std::size_t transfer(io::TlsSession& from, io::TlsSession& to, std::size_t max_chunk) {
  const Bytes pending = from.pending_ciphertext();
  const std::size_t count = std::min({pending.size(), to.ciphertext_room(), max_chunk});
  if (count == 0) return 0;
  to.feed_ciphertext(pending.first(count));
  from.consume_ciphertext(count);
  return count;
}

void drain_plaintext(io::TlsSession& session, std::vector<std::uint8_t>& sink) {
  const Bytes plaintext = session.plaintext();
  if (plaintext.empty()) return;
  sink.insert(sink.end(), plaintext.begin(), plaintext.end());
  session.consume_plaintext(plaintext.size());
}

namespace {

// Like transfer, recording the bytes moved in `wire`.
std::size_t transfer_recorded(io::TlsSession& from, io::TlsSession& to, std::size_t max_chunk,
                              std::vector<std::uint8_t>& wire) {
  const Bytes pending = from.pending_ciphertext();
  const std::size_t count = std::min({pending.size(), to.ciphertext_room(), max_chunk});
  wire.insert(wire.end(), pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(count));
  return transfer(from, to, count);
}

}  // namespace

std::size_t TlsPair::run(std::size_t max_chunk) {
  std::size_t total = 0;
  while (true) {
    std::size_t moved = transfer_recorded(client, server, max_chunk, client_wire);
    drain_plaintext(server, server_received);
    moved += transfer_recorded(server, client, max_chunk, server_wire);
    drain_plaintext(client, client_received);
    if (moved == 0) return total;
    total += moved;
  }
}

TlsPair make_pair(std::shared_ptr<const io::TlsContext> client_context,
                  std::shared_ptr<const io::TlsContext> server_context,
                  const std::string& server_name) {
  return TlsPair{
      io::TlsSession(std::move(client_context), session_config(io::TlsRole::client, server_name)),
      io::TlsSession(std::move(server_context), session_config(io::TlsRole::server)),
      {},
      {},
      {},
      {}};
}

std::vector<std::uint8_t> pattern_bytes(std::size_t size, std::uint32_t seed) {
  std::vector<std::uint8_t> bytes(size);
  std::uint32_t state = seed * 2654435761u + 1;
  for (std::uint8_t& byte : bytes) {
    state = state * 1103515245u + 12345u;
    byte = static_cast<std::uint8_t>(state >> 16);
  }
  return bytes;
}

}  // namespace weft::testing
