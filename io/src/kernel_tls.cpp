// The kTLS probe (weft/io/kernel_tls.hpp).
#include "weft/io/kernel_tls.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weft::io {
namespace {

// Closes the descriptor it owns.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

KernelTlsProbe failed(const char* step) {
  return {false, std::string(step) + ": " + std::strerror(errno)};
}

}  // namespace

KernelTlsProbe probe_kernel_tls() {
  const Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return failed("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  auto* const any = reinterpret_cast<sockaddr*>(&address);
  if (::bind(listener.get(), any, length) != 0) return failed("bind");
  if (::listen(listener.get(), 1) != 0) return failed("listen");
  if (::getsockname(listener.get(), any, &length) != 0) return failed("getsockname");
  const Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (client.get() < 0) return failed("socket");
  if (::connect(client.get(), any, length) != 0) return failed("connect");
  const Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (accepted.get() < 0) return failed("accept");
  // The ULP attaches only to an established TCP socket, hence the connection.
  constexpr char kUlp[] = "tls";
  if (::setsockopt(client.get(), IPPROTO_TCP, TCP_ULP, kUlp, sizeof kUlp - 1) != 0) {
    return failed("setsockopt(TCP_ULP, tls)");
  }
  return {true, "TCP_ULP tls accepted"};
}

}  // namespace weft::io
