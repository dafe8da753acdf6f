// weft_nonreading_peer: plays peer "cli" of a weft-node "node-a" at 127.0.0.1:PORT that
// sends REQUESTS echo requests of 64 KiB and never reads a byte of the answers (issue 14,
// item 3), with a 4 KiB receive buffer so the node's answers back up at once. Prints how
// many bytes it wrote and the node's peak resident memory (VmHWM of /proc/NODE_PID) before
// and 2 s after. Loopback only.
// It does the handshake (PROTOCOL.md §4.2) with the node's cluster key, KEY (a SharedKeyAuth:
// weft-node --cluster-key-file), reading only the node's challenge and welcome.
//   weft_nonreading_peer PORT NODE_PID REQUESTS KEY
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "weft/auth.hpp"
#include "weft/wire.hpp"

namespace {

constexpr std::uint16_t kEchoHandler = 1;  // weft-node's echo
constexpr std::size_t kPayloadBytes = 64 * 1024;
constexpr auto kSendFor = std::chrono::seconds(30);

// The peak resident set of process `pid` in kB (-1 when unreadable).
long peak_rss_kb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:")) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// The hello this peer sends (checksummed, asking for checksums).
weft::Frame hello_frame(const std::array<std::uint8_t, weft::kNonceBytes>& nonce) {
  using namespace weft;
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  return Frame{.op = Op::hello,
               .checksum = true,
               .flags = flag::kChecksums,
               .seq = 1,
               .version_min = kProtocolVersionMin,
               .version_max = kProtocolVersion,
               .name = "cli",
               .peer_name = "node-a",
               .incarnation = 12345,
               .wall_ms = static_cast<std::uint64_t>(wall_ms),
               .max_frame_bytes = 1 << 20,
               .nonce = nonce};
}

// The requests, encoded before the handshake: once it is done they go out without a pause.
weft::ByteBuffer requests(int count) {
  using namespace weft;
  ByteBuffer out;
  const std::vector<std::uint8_t> payload(kPayloadBytes, 0x61);
  for (int i = 0; i < count; ++i) {
    // cli dials node-a, so its ids are even (PROTOCOL.md §4.4).
    encode_frame(out, Frame{.op = Op::request,
                            .checksum = true,
                            .mux = 2 + 2 * static_cast<std::uint64_t>(i),
                            .handler = kEchoHandler,
                            .payload = payload});
  }
  return out;
}

bool send_all(int fd, weft::Bytes bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes = bytes.subspan(static_cast<std::size_t>(sent));
  }
  return true;
}

// Reads from `fd` until `decoder` gives one whole frame, which is copied out.
std::optional<weft::OwnedFrame> read_frame(int fd, weft::FrameDecoder& decoder) {
  std::uint8_t buffer[512];
  while (true) {
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return std::nullopt;
    const weft::DecodeStep step = decoder.next({buffer, static_cast<std::size_t>(got)});
    if (step.status == weft::DecodeStatus::frame) return weft::OwnedFrame(step.frame);
    if (step.status == weft::DecodeStatus::error) return std::nullopt;
  }
}

// The handshake as the dialer: hello, the node's challenge, auth, the welcome. Reads only
// what the node sends for it (a challenge and a welcome each fit one read of 512 bytes).
bool handshake(int fd, std::string_view key) {
  using namespace weft;
  std::array<std::uint8_t, kNonceBytes> nonce{};
  std::ifstream("/dev/urandom", std::ios::binary)
      .read(reinterpret_cast<char*>(nonce.data()), nonce.size());
  const Frame hello = hello_frame(nonce);
  ByteBuffer hello_bytes;
  encode_frame(hello_bytes, hello);
  if (!send_all(fd, hello_bytes.view())) return false;
  FrameDecoder decoder;
  const std::optional<OwnedFrame> challenge = read_frame(fd, decoder);
  if (!challenge || challenge->view().op != Op::challenge) return false;
  const std::vector<std::uint8_t> transcript =
      handshake_transcript(ProofRole::dialer, hello, challenge->view());
  const std::vector<std::uint8_t> proof = SharedKeyAuth(key).prove(transcript).value();
  ByteBuffer auth;
  encode_frame(auth, Frame{.op = Op::auth, .checksum = true, .payload = proof});
  if (!send_all(fd, auth.view())) return false;
  const std::optional<OwnedFrame> welcome = read_frame(fd, decoder);
  return welcome && welcome->view().op == Op::welcome;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: weft_nonreading_peer PORT NODE_PID REQUESTS KEY\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const int node_pid = std::atoi(argv[2]);
  const weft::ByteBuffer out = requests(std::atoi(argv[3]));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int receive_bytes = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_bytes, sizeof receive_bytes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("weft_nonreading_peer: connect");
    return 1;
  }
  if (!handshake(fd, argv[4])) {
    std::fprintf(stderr, "weft_nonreading_peer: the handshake failed\n");
    return 1;
  }
  const long peak_before_kb = peak_rss_kb(node_pid);
  weft::Bytes rest = out.view();
  const auto start = std::chrono::steady_clock::now();
  while (!rest.empty() && std::chrono::steady_clock::now() - start < kSendFor) {
    const ssize_t sent = ::send(fd, rest.data(), rest.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent > 0) {
      rest = rest.subspan(static_cast<std::size_t>(sent));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the node reads slower
    }
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let it take in what it read
  std::printf("sent_bytes=%zu of %zu peak_rss_kb_before=%ld peak_rss_kb_after=%ld\n",
              out.size() - rest.size(), out.size(), peak_before_kb, peak_rss_kb(node_pid));
  ::close(fd);
  return 0;
}
