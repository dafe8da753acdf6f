// TLS with EventNode (docs/GUIDE.md quotes the marked regions): "server" and "client" run
// TLS-only with the files weft-certs made, and their certificates alone name them
// (CertificateAuth); a request goes over TLS, the certificates are reloaded without a
// restart, and a node without TLS ("loop") is refused. All three live in this process and
// talk over 127.0.0.1.
//
//   guide_tls PKI_DIR KEY_DIR   PKI_DIR as `weft-certs PKI_DIR server client` made it,
//                               KEY_DIR as `weft-keys KEY_DIR loop` (for the plain node)
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "common.hpp"
#include "weft/io/event_node.hpp"

namespace {

using namespace weft;
using io::EventNode;
using namespace std::chrono_literals;

// [guide:tls-files]
// weft-certs PKI_DIR NAME... wrote the cluster's CA as PKI_DIR/ca.pem and each node's
// certificate (its subjectAltName is the node's name) and key as NAME.crt and NAME.key.
io::TlsContextResult load_tls(const std::filesystem::path& pki, const std::string& name) {
  return io::TlsContext::load({(pki / "ca.pem").string(), (pki / (name + ".crt")).string(),
                               (pki / (name + ".key")).string()});
}
// [/guide]

io::EventNodeOptions tls_options(const std::filesystem::path& pki, const std::string& name) {
  // [guide:tls-options]
  const io::TlsContextResult tls = load_tls(pki, name);
  // The message names the file and OpenSSL's reason: "pki/server.key: ...".
  if (!tls.ok()) throw std::runtime_error(tls.error->message);
  // The certificate names the node, so no key is needed (with a key ring or a shared key
  // instead, both checks run).
  io::EventNodeOptions options = guide::node_options(name, std::make_shared<CertificateAuth>());
  options.tls = tls.context;  // TLS 1.3 on every connection, dialed and accepted
  // [/guide]
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PKI_DIR KEY_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path pki = argv[1];
  const std::filesystem::path keys = argv[2];
  return guide::run_checked("guide_tls", [&] {
    std::atomic<int> tls_refusals = 0;  // before the server: its callback counts here
    EventNode server(tls_options(pki, "server"));
    server.handle(1, "", [](io::IncomingRequest&& request) {
      request.responder.respond(std::move(request.payload));
    });
    // [guide:tls-refused]
    server.on_peer_change([&tls_refusals](const io::PeerChange& change) {
      // A peer whose TLS failed: its certificate refused, ours refused by it, no TLS at all.
      // Accepted connections name the remote address, since no weft name was claimed yet.
      if (change.kind == io::PeerChange::Kind::handshake_failed &&
          change.detail.starts_with("TLS ")) {
        std::printf("server: %s refused: %s\n", change.peer.c_str(), change.detail.c_str());
        ++tls_refusals;
      }
    });
    // [/guide]
    guide::start(server, "server");
    EventNode client(tls_options(pki, "client"));
    guide::connect(server, client, "client");
    // CertificateAuth verifies nothing without TLS under it: this answer came over TLS.
    const io::Reply reply = client.request("server", 1, as_bytes("over TLS"), 1000).get();
    guide::expect(reply.error == Errc::ok && as_chars(reply.payload) == "over TLS", "echo");

    // [guide:tls-reload]
    // New files (a renewed certificate): connections opened from now on use them, the
    // ones open keep theirs. Files that do not load leave the node as it was.
    const io::TlsContextResult renewed = load_tls(pki, "server");
    const Errc reloaded =
        renewed.ok() ? server.set_tls_context(renewed.context) : Errc::invalid_argument;
    if (reloaded != Errc::ok) std::printf("TLS files not reloaded\n");
    // [/guide]
    guide::expect(reloaded == Errc::ok, "certificates reloaded");
    guide::expect(!load_tls(pki, "nobody").ok(), "files that do not exist fail to load");
    guide::expect(client.request("server", 1, as_bytes("still"), 1000).get().error == Errc::ok,
                  "echo after the reload");

    // A node without TLS cannot get in, whichever side dials.
    EventNode plain(guide::keyed_options(keys, "loop"));
    guide::start(plain, "loop");
    guide::introduce(server, "server", plain, "loop");
    for (int i = 0; i < 500 && tls_refusals == 0; ++i)
      std::this_thread::sleep_for(10ms);
    guide::expect(tls_refusals > 0, "the plain node was refused by TLS");
    guide::expect(!guide::wait_until_up(plain, "server", 200ms), "the plain node is not up");
    plain.stop();
    client.stop();
    server.stop();
  });
}
