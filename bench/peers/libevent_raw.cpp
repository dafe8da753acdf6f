// "libevent raw": the echo on libevent's event_base with nonblocking recv/send (no
// bufferevent), one thread each side. It measures the loop weft's adapter is built on,
// without weft.
#include <event2/event.h>

#include "loop_echo.hpp"

namespace weft_bench {
namespace {

// One event_base per connection with one persistent read event.
struct LibeventLoop {
  template <typename Fn>
  void operator()(int fd, Fn on_readable) const {
    struct Context {
      Fn& on_readable;
      event_base* base;
    };
    event_base* base = event_base_new();
    Context context{on_readable, base};
    event* readable = event_new(
        base, fd, EV_READ | EV_PERSIST,
        [](evutil_socket_t, short, void* arg) {
          auto* self = static_cast<Context*>(arg);
          if (!self->on_readable()) event_base_loopbreak(self->base);
        },
        &context);
    event_add(readable, nullptr);
    event_base_dispatch(base);
    event_free(readable);
    event_base_free(base);
  }
};

}  // namespace

const PeerDriver& libevent_raw_driver() {
  static const PeerDriver driver = loop_driver<LibeventLoop>("libevent_raw", "libevent raw");
  return driver;
}

}  // namespace weft_bench
