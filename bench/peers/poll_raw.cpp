// "poll raw": the echo on a bare poll(2) loop (per turn one poll, one recv and one send), one
// thread each side: the ceiling of a poll-based loop here (nghttp2's driver waits with
// poll), beside epoll raw's for an epoll-based one (libevent's and so weft's).
#include <poll.h>

#include "loop_echo.hpp"

namespace weft_bench {
namespace {

struct PollLoop {
  template <typename Fn>
  void operator()(int fd, Fn on_readable) const {
    pollfd interest{fd, POLLIN, 0};
    while (true) {
      if (::poll(&interest, 1, -1) == 1 && !on_readable()) break;
    }
  }
};

}  // namespace

const PeerDriver& poll_raw_driver() {
  static const PeerDriver driver = loop_driver<PollLoop>("poll_raw", "poll raw");
  return driver;
}

}  // namespace weft_bench
