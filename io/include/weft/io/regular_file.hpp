// Reading a small file whole (credentials, keys, member lists) from a thread that must not
// hang on it: weft-node's signal thread reloads such files, and SIGTERM reaches the node
// only through that thread. Header-only, so tools that link no weft library use it too.
#pragma once

#include <fcntl.h>
#include <string.h>  // explicit_bzero
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

namespace weft::io {

// Reads the regular file `path` whole into `out` (replacing what it held), at most
// `max_bytes`. Returns nothing on success, or why not: the system's reason, "not a regular
// file" (a FIFO, a device or a directory in the file's place: opened without blocking, so
// a FIFO with no writer cannot hold the caller, and never read, so a device cannot feed it
// without end) or "larger than MAX bytes". On failure `out` is empty. The file may be a
// secret key: its bytes are left nowhere but in `out` (the read buffer is overwritten with
// zeros, `out` is sized from the file's length so that it does not grow through copies
// while the length holds, and what it read is overwritten before a failure empties it).
inline std::optional<std::string> read_regular_file(const char* path, std::size_t max_bytes,
                                                    std::string& out) {
  const auto wipe_out = [&] {
    explicit_bzero(out.data(), out.size());
    out.clear();
  };
  wipe_out();
  const int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::string(std::strerror(errno));
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    return std::string("not a regular file");
  }
  if (status.st_size > 0) {
    // The length as fstat saw it (a file that grows meanwhile may still make `out` grow).
    out.reserve(std::min(static_cast<std::size_t>(status.st_size), max_bytes));
  }
  char buffer[64 * 1024];
  std::optional<std::string> failure;
  while (true) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got == 0) break;
    if (got < 0 && errno == EINTR) continue;
    const int error = errno;
    if (got < 0 || out.size() + static_cast<std::size_t>(got) > max_bytes) {
      failure = got < 0 ? std::string(std::strerror(error))
                        : "larger than " + std::to_string(max_bytes) + " bytes";
      break;
    }
    out.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  explicit_bzero(buffer, sizeof buffer);
  if (failure) wipe_out();
  return failure;
}

}  // namespace weft::io
