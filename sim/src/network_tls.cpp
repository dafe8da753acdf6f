// The network's TLS links (NetworkOptions::tls_seed): certificates and contexts made from
// the seed, a TlsTransport per side of each link (weft/io/tls_transport.hpp), bytes through
// it both ways, and a failed session closing its side. Everything is drawn from the seed
// and the link: the same seed gives the same bytes on the wire.
#include <algorithm>
#include <stdexcept>

#include "network.hpp"

namespace weft::sim {
namespace {

// The certificates' window: from a year before the wall clocks' origin to ten years after,
// whatever skew a node's clock has.
constexpr std::int64_t kYearS = 365 * 24 * 3600;
constexpr io::Validity kValidity{kWallOriginMs / 1000 - kYearS, kWallOriginMs / 1000 + 10 * kYearS};

// Seed number `n` derived from the network's TLS seed (0: the CA's, 1 + i: node i's).
std::uint64_t derived_seed(std::uint64_t seed, std::uint64_t n) {
  return Rng(seed ^ (n * 0x9e3779b97f4a7c15ULL)).next();
}

}  // namespace

void Network::make_tls_context(std::size_t index) {
  const std::uint64_t seed = *options_.tls_seed;
  if (tls_contexts_.empty()) tls_ca_ = io::make_ca("weft sim CA", kValidity, derived_seed(seed, 0));
  const std::uint64_t node_seed = derived_seed(seed, 1 + index);
  const io::CertifiedKey node = io::make_node_certificate(
      tls_ca_, std::vector<std::string>{slots_[index].name}, kValidity, node_seed);
  io::TlsContextOptions options;
  options.deterministic_seed = node_seed;
  io::TlsContextResult made = io::TlsContext::create(
      {tls_ca_.certificate_pem, node.certificate_pem, node.key_pem}, options);
  if (!made.ok()) throw std::runtime_error("simulated TLS context: " + made.error->message);
  tls_contexts_.push_back(std::move(made.context));
}

std::unique_ptr<io::TlsTransport> Network::make_tls(std::size_t index, TransportId transport,
                                                    std::size_t link_at, int side,
                                                    const std::string& peer_name) {
  io::TlsSessionConfig config;
  config.role = side == 0 ? io::TlsRole::client : io::TlsRole::server;
  config.peer_name = peer_name;
  config.verify_time_unix_s = wall_ms(index) / 1000;
  config.deterministic_seed = 2 * link_at + static_cast<std::uint64_t>(side);
  return std::make_unique<io::TlsTransport>(transport, tls_contexts_[index], std::move(config));
}

void Network::receive_tls(std::size_t link_at, int side, Bytes bytes) {
  Link& link = links_[link_at];
  io::TlsTransport& tls = *link.tls[side];
  Node& node = *slots_[link.node[side]].node;
  // The session decrypts each piece before taking the next, so room comes back at once;
  // what a failed session can no longer take is dropped with the link.
  while (!bytes.empty() && tls.room() > 0) {
    const std::size_t piece = std::min(bytes.size(), tls.room());
    tls.receive(node, now_, bytes.first(piece));
    bytes = bytes.subspan(piece);
  }
  if (tls.failed()) return fail_tls(link_at, side);
  drain(link.node[side], link.transport[side]);  // the TLS handshake's answers
}

void Network::drain_tls(std::size_t index, TransportId transport, Link& link, int side) {
  const std::size_t link_at = link_at_of(index, transport);
  io::TlsTransport& tls = *link.tls[side];
  Node& node = *slots_[index].node;
  const std::size_t buffer = options_.rates.send_buffer_bytes;
  while (true) {
    // The node's plaintext into TLS (captured as the node wrote it), as far as TLS takes it.
    for (Bytes output = node.pending_output(transport); !output.empty();
         output = node.pending_output(transport)) {
      const std::size_t taken = tls.write(output);
      if (taken == 0) break;
      if (side == 0 && !link.hello_known) capture_hello(link, output.first(taken));
      capture(link, side, output.first(taken));
      node.consume_output(transport, taken);
    }
    const Bytes ciphertext = tls.ciphertext();
    if (ciphertext.empty()) break;
    if (slots_[index].muted) {
      tls.consume_ciphertext(ciphertext.size());  // on the floor
      continue;
    }
    const std::size_t room =
        buffer > 0 ? buffer - std::min(buffer, link.in_flight[side]) : ciphertext.size();
    const std::size_t count = std::min(room, ciphertext.size());
    link.wants_write[side] = count < ciphertext.size();
    if (count == 0) return;
    link.in_flight[side] += count;
    send(link_at, side, ciphertext.first(count));
    tls.consume_ciphertext(count);
  }
  link.wants_write[side] = false;
  if (tls.failed()) fail_tls(link_at, side);  // encrypting failed
}

void Network::fail_tls(std::size_t link_at, int side) {
  Link& link = links_[link_at];
  const std::unique_ptr<io::TlsTransport> tls = std::move(link.tls[side]);
  const std::size_t index = link.node[side];
  host_.on_tls_failed(link_at, side, tls->failure_text());
  const Bytes alert = tls->ciphertext();  // tells the peer why
  if (!slots_[index].muted && !alert.empty()) send(link_at, side, alert);
  close_side(link_at, side);
  tls->report_down(*slots_[index].node, now_, {});
}

}  // namespace weft::sim
