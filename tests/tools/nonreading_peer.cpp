// weft_nonreading_peer: plays peer "cli" of a weft-node "node-a" at 127.0.0.1:PORT that
// sends REQUESTS echo requests of 64 KiB and never reads a byte of the answers (issue 14,
// item 3), with a 4 KiB receive buffer so the node's answers back up at once. Prints how
// many bytes it wrote and the node's peak resident memory (VmHWM of /proc/NODE_PID) before
// and 2 s after. Loopback only.
//   weft_nonreading_peer PORT NODE_PID REQUESTS TOKEN
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

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

// The whole conversation, encoded before connecting: the node gives a silent connection only
// hello_timeout_ms to say hello.
weft::ByteBuffer conversation(int requests, std::string_view token) {
  using namespace weft;
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  ByteBuffer out;
  encode_frame(out, Frame{.op = Op::hello,
                          .checksum = true,
                          .flags = flag::kChecksums,
                          .seq = 1,
                          .version_min = 1,
                          .version_max = 1,
                          .name = "cli",
                          .peer_name = "node-a",
                          .incarnation = 12345,
                          .wall_ms = static_cast<std::uint64_t>(wall_ms),
                          .max_frame_bytes = 1 << 20,
                          .token = as_bytes(token)});
  const std::vector<std::uint8_t> payload(kPayloadBytes, 0x61);
  for (int i = 0; i < requests; ++i) {
    // cli dials node-a, so its ids are even (PROTOCOL.md §4.4).
    encode_frame(out, Frame{.op = Op::request,
                            .checksum = true,
                            .mux = 2 + 2 * static_cast<std::uint64_t>(i),
                            .handler = kEchoHandler,
                            .payload = payload});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: weft_nonreading_peer PORT NODE_PID REQUESTS TOKEN\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const int node_pid = std::atoi(argv[2]);
  const weft::ByteBuffer out = conversation(std::atoi(argv[3]), argv[4]);
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
