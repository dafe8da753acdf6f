#include "loop_echo.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace weft_bench {

bool echo_readable(int fd, std::vector<char>& buffer) {
  const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
  if (got < 0 && errno == EAGAIN) return true;
  if (got <= 0) return false;
  return send_all(fd, buffer.data(), static_cast<std::size_t>(got));
}

bool client_readable(int fd, EchoFifo& fifo, std::vector<char>& buffer) {
  const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
  if (got < 0 && errno == EAGAIN) return true;
  if (got <= 0) return false;
  const std::size_t more = fifo.on_received(static_cast<std::size_t>(got));
  if (more > 0 && !send_all(fd, fifo.bytes(), more * kSmall)) return false;
  return !fifo.done();
}

}  // namespace weft_bench
