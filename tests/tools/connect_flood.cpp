// weft_connect_flood: opens COUNT TCP connections to 127.0.0.1:PORT and holds them for
// HOLD_MS, as a crowd of strangers would: the even ones stay silent, the odd ones send the
// start of a frame one byte every 200 ms (a hello that never completes). Used by
// flood_check.sh (issue 14, item 2). Loopback only. Prints how many connected.
//   weft_connect_flood PORT COUNT HOLD_MS
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: weft_connect_flood PORT COUNT HOLD_MS\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  const int count = std::atoi(argv[2]);
  const auto hold = std::chrono::milliseconds(std::atoi(argv[3]));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> sockets;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    // Nonblocking connect: the listen queue may be full; the attempt still counts.
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    sockets.push_back(fd);
  }
  std::printf("connections=%zu\n", sockets.size());
  std::fflush(stdout);
  // The start of a frame (magic, flags, lengths of a 256-byte header), then its header's
  // bytes, one byte per step: the frame never completes within any hello timeout.
  const unsigned char frame_start[] = {0x77, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08};
  const auto until = std::chrono::steady_clock::now() + hold;
  for (std::size_t step = 0; std::chrono::steady_clock::now() < until; ++step) {
    const unsigned char byte = step < sizeof frame_start ? frame_start[step] : 0x00;
    for (std::size_t i = 1; i < sockets.size(); i += 2)
      static_cast<void>(::send(sockets[i], &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const int fd : sockets)
    ::close(fd);
  return 0;
}
