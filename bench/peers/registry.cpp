#include <array>

#include "peer.hpp"

namespace weft_bench {

std::string_view pattern_name(Pattern pattern) {
  switch (pattern) {
    case Pattern::pingpong:
      return "pingpong";
    case Pattern::unary:
      return "unary";
    case Pattern::stream:
      return "stream";
    case Pattern::bulk:
      return "bulk";
    case Pattern::objects:
      return "objects";
  }
  return "?";
}

bool parse_pattern(std::string_view name, Pattern& pattern) {
  for (const Pattern candidate :
       {Pattern::pingpong, Pattern::unary, Pattern::stream, Pattern::bulk, Pattern::objects}) {
    if (pattern_name(candidate) == name) {
      pattern = candidate;
      return true;
    }
  }
  return false;
}

namespace {

struct Known {
  std::string_view name;
  std::string_view package;  // what the build looked for
  const PeerDriver* (*driver)();
};

// A peer whose package the build did not find has no driver.
template <const PeerDriver& (*Driver)()>
const PeerDriver* built() {
  return &Driver();
}
[[maybe_unused]] const PeerDriver* not_built() {
  return nullptr;
}

constexpr std::array<Known, 8> kKnown = {{
#ifdef WEFT_BENCH_HAVE_LOOPS
    {"libevent_raw", "libevent (pkg-config libevent_core)", built<libevent_raw_driver>},
    {"epoll_raw", "Linux epoll", built<epoll_raw_driver>},
    {"poll_raw", "poll(2)", built<poll_raw_driver>},
#else
    {"libevent_raw", "libevent (pkg-config libevent_core)", not_built},
    {"epoll_raw", "Linux epoll", not_built},
    {"poll_raw", "poll(2)", not_built},
#endif
#ifdef WEFT_BENCH_HAVE_URING
    {"io_uring_raw", "liburing-dev (pkg-config liburing)", built<io_uring_raw_driver>},
#else
    {"io_uring_raw", "liburing-dev (pkg-config liburing)", not_built},
#endif
#ifdef WEFT_BENCH_HAVE_NGHTTP2
    {"nghttp2", "libnghttp2-dev (pkg-config libnghttp2)", built<nghttp2_driver>},
#else
    {"nghttp2", "libnghttp2-dev (pkg-config libnghttp2)", not_built},
#endif
#ifdef WEFT_BENCH_HAVE_ZMQ
    {"zmq", "libzmq3-dev (pkg-config libzmq)", built<zmq_driver>},
#else
    {"zmq", "libzmq3-dev (pkg-config libzmq)", not_built},
#endif
#ifdef WEFT_BENCH_HAVE_GRPC
    {"grpc", "libgrpc++-dev and protobuf-compiler-grpc (pkg-config grpc++, protoc)",
     built<grpc_driver>},
#else
    {"grpc", "libgrpc++-dev and protobuf-compiler-grpc (pkg-config grpc++, protoc)", not_built},
#endif
    // weft::io's own dependency: always built.
    {"weft_io_uring", "liburing-dev (pkg-config liburing)", built<weft_io_uring_driver>},
}};

constexpr std::array<std::string_view, kKnown.size()> kNames = [] {
  std::array<std::string_view, kKnown.size()> names{};
  for (std::size_t i = 0; i < kKnown.size(); ++i)
    names[i] = kKnown[i].name;
  return names;
}();

}  // namespace

std::span<const std::string_view> known_peers() {
  return kNames;
}

const PeerDriver* find_peer(std::string_view name) {
  for (const Known& known : kKnown)
    if (known.name == name) return known.driver();
  return nullptr;
}

std::string_view missing_package(std::string_view name) {
  for (const Known& known : kKnown)
    if (known.name == name) return known.package;
  return "an unknown peer";
}

}  // namespace weft_bench
