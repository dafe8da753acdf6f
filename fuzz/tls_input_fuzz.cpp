// libFuzzer target for the TLS layer's input path (weft/io/tls.hpp): arbitrary bytes as
// the ciphertext a peer sends, to a server session (node-b accepting) or to a client session
// (node-a dialing node-b) that has sent its first flight.
//
// Input: byte 0 chooses the session (bit 0: 0 server, 1 client) and how the rest is cut
// into pieces (bits 1-7: 0 feeds each piece as large as the session's room, otherwise a
// seed for pieces of 1 to 97 bytes); the rest is the peer's bytes. Between pieces the
// application takes all plaintext and, once established, answers with a few bytes; the
// transport takes all ciphertext. At the end the transport closes.
//
// The contexts are deterministic and the certificates fixed (tls_fixture.hpp), so a
// recorded peer (weft_make_tls_corpus) gets through the handshake and its records decrypt:
// mutations then reach the record layer, close_notify and alerts after the handshake.
//
// Checked after every call: every buffer within its limit (the plaintext, the ciphertext
// room; the ciphertext waiting within its limit plus the handshake flight and control
// slack); a failure is typed, never internal or limit (the driver kept to the room, and
// nothing the peer sends is OpenSSL's own failure), with a message; an established session
// names its verified peer; plaintext never exceeds the ciphertext it came from. After the
// transport closes the session has failed or received close_notify.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tls_fixture.hpp"

namespace {

using weft::io::TlsErrc;
using weft::io::TlsRole;
using weft::io::TlsSession;

void check_at(bool condition, int line, const TlsSession& session) {
  if (condition) return;
  std::fprintf(stderr, "tls_input_fuzz.cpp:%d: check failed (%s: %s)\n", line,
               session.error() ? std::string(tls_errc_name(session.error()->code)).c_str() : "-",
               session.error() ? session.error()->message.c_str() : "no error");
  std::abort();
}
#define check(condition) check_at((condition), __LINE__, session)

// Room for one handshake flight of this node (its certificate and signature) and the
// KeyUpdate answers TlsLimits allows past max_ciphertext_out_bytes.
constexpr std::size_t kFlightAndSlackBytes = 4 * 1024 + 16 * 1024;

struct Run {
  TlsSession& session;
  std::size_t plaintext_total = 0;
  std::size_t fed_total = 0;

  void check_state() {
    const weft::io::TlsLimits limits = weft::fuzz_tls::fuzz_limits();
    check(session.plaintext().size() <= limits.max_plaintext_in_bytes);
    check(session.ciphertext_room() <= limits.max_ciphertext_in_bytes);
    check(session.pending_ciphertext().size() <=
          limits.max_ciphertext_out_bytes + kFlightAndSlackBytes);
    check(plaintext_total + session.plaintext().size() <= fed_total);
    if (session.failed()) {
      check(session.error().has_value());
      const TlsErrc code = session.error()->code;
      check(code != TlsErrc::internal && code != TlsErrc::limit);
      check(!session.error()->message.empty());
      check(!session.channel_binding().has_value());
    } else {
      check(!session.error().has_value());
    }
    if (session.established()) {
      const char* peer = session.role() == TlsRole::client ? "node-b" : "node-a";
      check(session.peer_names().size() == 1 && session.peer_names()[0] == peer);
      check(session.channel_binding().has_value());
    }
  }

  // What a driver does between reads: the application takes the plaintext and answers, the
  // transport takes the ciphertext.
  void serve() {
    const std::size_t plaintext = session.plaintext().size();
    plaintext_total += plaintext;
    session.consume_plaintext(plaintext);
    check_state();
    if (plaintext > 0 && session.established()) {
      static const std::uint8_t kAnswer[] = {'o', 'k'};
      session.write_plaintext(kAnswer);
      check_state();
    }
    session.consume_ciphertext(session.pending_ciphertext().size());
    check_state();
  }

  void feed(weft::Bytes piece) {
    fed_total += piece.size();
    session.feed_ciphertext(piece);
    check_state();
    serve();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // Built once: a context is immutable and shared by every session.
  static const auto client_context = weft::fuzz_tls::make_context(true);
  static const auto server_context = weft::fuzz_tls::make_context(false);
  const bool client = (data[0] & 1) != 0;
  std::uint32_t seed = data[0] >> 1;
  TlsSession session = client ? weft::fuzz_tls::make_session(client_context, TlsRole::client)
                              : weft::fuzz_tls::make_session(server_context, TlsRole::server);
  Run run{session};
  run.check_state();
  // The client's first flight goes out before anything comes back.
  check(client == !session.pending_ciphertext().empty());
  session.consume_ciphertext(session.pending_ciphertext().size());

  weft::Bytes rest(data + 1, size - 1);
  while (!rest.empty() && !session.failed()) {
    std::size_t piece = std::max<std::size_t>(session.ciphertext_room(), 1);
    if (seed != 0) {
      seed = seed * 1103515245u + 12345u;
      piece = 1 + (seed >> 16) % 97;
    }
    // Within the room, as a driver keeps it. A full input waits only for the application
    // to take plaintext, and each time it does, some ciphertext is decrypted.
    while (session.ciphertext_room() == 0 && !session.failed()) {
      check(!session.plaintext().empty());
      run.serve();
    }
    if (session.failed()) break;
    piece = std::min({piece, rest.size(), session.ciphertext_room()});
    run.feed(rest.first(piece));
    rest = rest.subspan(piece);
  }
  session.close();
  run.check_state();
  session.transport_closed();
  run.check_state();
  check(session.failed() || session.close_notify_received());
  return 0;
}
