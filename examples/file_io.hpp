// Whole-file reads and writes for the example programs and tools (weft-keys, weft-certs,
// the credentials of weft-node and weft-call). Errors are std::runtime_error naming the
// file and the system's reason.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace weft::cli {

// The bytes of `path`. Throws std::runtime_error "PATH: <reason>" when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path.string() + ": " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw std::runtime_error(path.string() + ": read error");
  return text;
}

// Writes `text` to `path` with `mode`: a temporary file beside it first (written, synced),
// then renamed over `path`, so a reader never sees half a file (a node reloading its keys
// on SIGHUP while a tool rewrites them). Throws std::runtime_error naming the file.
inline void write_file(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  const std::string temporary = path.string() + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error(temporary + ": " + std::strerror(errno));
  // fchmod: the mode of a file that existed already, and against the umask.
  const bool written = ::fchmod(fd, mode) == 0 &&
                       ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int saved_errno = errno;
  ::close(fd);
  if (!written || std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = written ? errno : saved_errno;
    std::filesystem::remove(temporary);
    throw std::runtime_error(path.string() + ": " + std::strerror(error));
  }
}

// The permission bits of `path` (0777 and below); nullopt when it cannot be examined.
inline std::optional<mode_t> permissions(const std::filesystem::path& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return std::nullopt;
  return status.st_mode & 0777;
}

}  // namespace weft::cli
