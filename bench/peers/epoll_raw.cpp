// "epoll raw": the echo on a bare epoll loop (level-triggered; per turn one epoll_wait, one
// recv and one send), one thread each side: the ceiling of an epoll-based loop here.
#include <sys/epoll.h>

#include "loop_echo.hpp"

namespace weft_bench {
namespace {

struct EpollLoop {
  template <typename Fn>
  void operator()(int fd, Fn on_readable) const {
    const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event interest{};
    interest.events = EPOLLIN;
    interest.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &interest);
    epoll_event ready{};
    while (true) {
      if (::epoll_wait(epoll_fd, &ready, 1, -1) == 1 && !on_readable()) break;
    }
    ::close(epoll_fd);
  }
};

}  // namespace

const PeerDriver& epoll_raw_driver() {
  static const PeerDriver driver = loop_driver<EpollLoop>("epoll_raw", "epoll raw");
  return driver;
}

}  // namespace weft_bench
