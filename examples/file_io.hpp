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
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "weft/io/regular_file.hpp"

namespace weft::cli {

// The largest file read_file reads: keys, key rings, member lists are far smaller.
inline constexpr std::size_t kMaxReadFileBytes = 1 << 20;

// The bytes of the regular file `path`, at most `max_bytes`. Opened without blocking and
// refused unless regular, so a FIFO or a device put in a file's place cannot hang the
// thread that reloads it (weft-node's signal thread) or feed it without end. Throws
// std::runtime_error "PATH: <reason>".
inline std::string read_file(const std::filesystem::path& path,
                             std::size_t max_bytes = kMaxReadFileBytes) {
  const auto fail = [&](const std::string& why) {
    return std::runtime_error(path.string() + ": " + why);
  };
  std::string text;
  if (const std::optional<std::string> why = io::read_regular_file(path.c_str(), max_bytes, text)) {
    throw fail(*why);
  }
  return text;
}

// A temporary file of its own beside `path` ("PATH.XXXXXX") holding `text` with `mode`,
// written whole and synced; returns its name. Throws std::runtime_error naming it.
inline std::string write_temporary(const std::filesystem::path& path, std::string_view text,
                                   mode_t mode) {
  std::string temporary = path.string() + ".XXXXXX";
  const int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(temporary + ": " + std::strerror(errno));
  const auto fail = [&](const std::string& what, int error) {
    ::close(fd);
    std::filesystem::remove(temporary);
    return std::runtime_error(what + ": " + std::strerror(error));
  };
  // fchmod: mkostemp makes 0600; the mode asked for, whatever the umask.
  if (::fchmod(fd, mode) != 0) throw fail(temporary, errno);
  for (std::size_t written = 0; written < text.size();) {
    const ssize_t wrote = ::write(fd, text.data() + written, text.size() - written);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) throw fail(temporary, wrote < 0 ? errno : ENOSPC);
    written += static_cast<std::size_t>(wrote);
  }
  if (::fsync(fd) != 0) throw fail(temporary, errno);
  if (::close(fd) != 0) {
    const int error = errno;
    std::filesystem::remove(temporary);
    throw std::runtime_error(temporary + ": " + std::strerror(error));
  }
  return temporary;
}

// Syncs the directory `path` is in, so a file just put there survives a crash.
inline void sync_parent(const std::filesystem::path& path) {
  const std::filesystem::path parent = path.has_parent_path() ? path.parent_path() : ".";
  const int directory = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = directory >= 0 && ::fsync(directory) == 0;
  const int error = errno;
  if (directory >= 0) ::close(directory);
  if (!synced) throw std::runtime_error(parent.string() + ": " + std::strerror(error));
}

// Writes `text` to `path` with `mode`: a temporary file of its own beside it first (written
// whole, synced), renamed over `path`, then the directory synced, so a reader never sees
// half a file (a node reloading its keys on SIGHUP while a tool rewrites them), two writers
// never share a temporary file, and the new file survives a crash once this returns.
// Throws std::runtime_error naming the file.
inline void write_file(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  const std::string temporary = write_temporary(path, text, mode);
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::filesystem::remove(temporary);
    throw std::runtime_error(path.string() + ": " + std::strerror(error));
  }
  sync_parent(path);
}

// Writes `text` to `path` with `mode` unless `path` exists: false (nothing changed) when it
// does, true when this call made it. As write_file, but the file is put in place with
// link(), which never replaces one, so of two writers racing for one path exactly one makes
// it and the other keeps it. Throws std::runtime_error naming the file.
inline bool write_new_file(const std::filesystem::path& path, std::string_view text, mode_t mode) {
  const std::string temporary = write_temporary(path, text, mode);
  const bool made = ::link(temporary.c_str(), path.c_str()) == 0;
  const int error = errno;
  std::filesystem::remove(temporary);
  if (!made && error == EEXIST) return false;
  if (!made) throw std::runtime_error(path.string() + ": " + std::strerror(error));
  sync_parent(path);
  return true;
}

// Opens /dev/null onto each of descriptors 0, 1 and 2 that is closed (a program started
// with `>&-`), first thing in main: otherwise the first file the program opens takes that
// number, and what it prints lands in that file (weft-node's log lines in its --events
// file). open() takes the lowest free number, so each open fills the gap it is meant for.
inline void open_missing_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int opened = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
    if (opened != fd && opened >= 0) ::close(opened);  // not the gap: leave it be
  }
}

// Flushes stdout; false (and the reason on stderr, after "PROGRAM: ") when anything written
// to it was lost (a full disk, a closed pipe): a program's last check before it exits.
inline bool stdout_written(const char* program) {
  errno = 0;
  const bool flushed = std::fflush(stdout) == 0;
  if (flushed && !std::ferror(stdout)) return true;
  std::fprintf(stderr, "%s: cannot write to standard output: %s\n", program,
               errno != 0 ? std::strerror(errno) : "write error");
  return false;
}

// The permission bits of `path` (0777 and below); nullopt when it cannot be examined.
inline std::optional<mode_t> permissions(const std::filesystem::path& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return std::nullopt;
  return status.st_mode & 0777;
}

}  // namespace weft::cli
