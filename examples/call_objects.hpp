// weft-call's `objects` action: sends a directory's files, or N generated objects, to the
// peer's object endpoint with an xxh3-64 checksum in each header, K in flight; prints one
// line per object and a summary with the rate. With --retry R, objects that ended because
// the connection or the peer went away (disconnected, peer_restarted, object_state_lost), or
// that found the objects held to the peer at their limit (queue_full), are sent again, up to
// R more rounds: every object still has exactly one final result.
// With --lz4 the stream is opened with LZ4 compression (each chunk compressed on its own
// when that makes it smaller).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "object_cli.hpp"

namespace weft::cli {

struct ObjectJob {
  std::string name;
  std::uint64_t size = 0;
  // Generated data (when path is empty): a new source for each send, and in a bundle for
  // each replica (a producer answers one reader).
  std::function<io::ObjectSource()> generate;
  std::string checksum;
  std::optional<io::ObjectResult> result;  // the final one
  std::string path;  // a file's, opened anew for each send (no descriptor held meanwhile)
};

// The data of `job` for one send: its file opened now (the source keeps the descriptor until
// the object completes), or its generated data. Nullopt, and `why`, when the file does not
// open.
inline std::optional<io::ObjectSource> source_of(const ObjectJob& job, std::string& why) {
  if (job.path.empty()) return job.generate();
  const int fd = ::open(job.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = "cannot open " + job.path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  io::ObjectSource source = io::ObjectSource::file(fd, 0, job.size);
  ::close(fd);  // the source keeps its own descriptor
  return source;
}

// The size and xxh3-64 of the file at `path`, read once; nullopt and `why` when it cannot
// be read to its end (an object sent from part of it would be a wrong object called ok).
inline std::optional<std::pair<std::uint64_t, std::string>> checksum_file(
    const std::string& path, std::vector<std::uint8_t>& buffer, std::string& why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    why = std::strerror(errno);
    return std::nullopt;
  }
  DataChecksum checksum;
  std::uint64_t size = 0;
  while (true) {
    const ssize_t got = ::read(fd, buffer.data(), buffer.size());
    if (got == 0) break;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      why = std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    checksum.update(Bytes(buffer).first(static_cast<std::size_t>(got)));
    size += static_cast<std::uint64_t>(got);
  }
  ::close(fd);
  return std::pair{size, checksum.hex()};
}

// Every regular file of `dir`, sorted by name, read once for its size and checksum and not
// held open: a directory of any number of files needs no more descriptors than objects in
// flight. Files that cannot be read go to `unreadable` ("NAME: why"), not to the jobs.
inline std::optional<std::vector<ObjectJob>> jobs_from_dir(const std::string& dir,
                                                           std::vector<std::string>& unreadable) {
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) return std::nullopt;
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(listing)) {
    const std::string path = dir + "/" + entry->d_name;
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) names.push_back(entry->d_name);
  }
  ::closedir(listing);
  std::sort(names.begin(), names.end());
  std::vector<ObjectJob> jobs;
  std::vector<std::uint8_t> buffer(1 << 20);
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    std::string why;
    const auto read = checksum_file(path, buffer, why);
    if (!read) {
      unreadable.push_back(name + ": " + why);
      continue;
    }
    ObjectJob job;
    job.name = name;
    job.size = read->first;
    job.checksum = read->second;
    job.path = path;
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// Byte `offset` of generated object `number`.
inline std::uint8_t generated_byte(std::uint64_t number, std::uint64_t offset) {
  return static_cast<std::uint8_t>((number * 131 + offset * 7) & 0xff);
}

// `count` objects of `size` bytes each, their content a function of their number and
// offset, made as they are sent (a producer): nothing is held for objects not in flight,
// so `gen 100000 1048576` needs no 100 GB. The checksum is computed once, in pieces.
inline std::vector<ObjectJob> generated_jobs(std::size_t count, std::uint64_t size) {
  std::vector<ObjectJob> jobs;
  std::vector<std::uint8_t> piece(std::min<std::uint64_t>(size, 1 << 20));
  for (std::uint64_t number = 1; number <= count; ++number) {
    DataChecksum checksum;
    for (std::uint64_t at = 0; at < size; at += piece.size()) {
      const std::size_t length =
          static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), size - at));
      for (std::size_t i = 0; i < length; ++i)
        piece[i] = generated_byte(number, at + i);
      checksum.update(Bytes(piece).first(length));
    }
    auto produce = [number, size](std::uint64_t offset, std::span<std::uint8_t> room,
                                  std::size_t& written, bool& last) {
      written = static_cast<std::size_t>(std::min<std::uint64_t>(room.size(), size - offset));
      for (std::size_t i = 0; i < written; ++i)
        room[i] = generated_byte(number, offset + i);
      last = offset + written == size;
      return Errc::ok;
    };
    jobs.push_back({"generated-" + std::to_string(number),
                    size,
                    [size, produce] {
                      return size == 0 ? io::ObjectSource::memory(SharedBytes())
                                       : io::ObjectSource::producer(size, produce);
                    },
                    checksum.hex(),
                    {},
                    {}});
  }
  return jobs;
}

// What a later round may send again: the connection or the peer went away, or the objects
// held to the peer were at their limit when the object came to be posted.
inline bool retriable(Errc error) {
  return error == Errc::disconnected || error == Errc::peer_restarted ||
         error == Errc::object_state_lost || error == Errc::shutting_down ||
         error == Errc::queue_full;
}

// Sends `jobs` (K at a time) and waits for every completion; returns the first error of the
// last round (ok when every object completed ok).
inline Errc send_objects(io::EventNode& node, const std::string& peer, std::vector<ObjectJob>& jobs,
                         std::size_t inflight, int retries, ObjectStreamOptions options = {}) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t in_flight = 0;
    std::optional<Errc> ended;
  };
  auto shared = std::make_shared<Shared>();
  io::ObjectStreamCallbacks callbacks;
  callbacks.on_end = [shared](Errc result, std::string_view) {
    std::lock_guard lock(shared->mutex);
    shared->ended = result;
    shared->changed.notify_all();
  };
  io::ObjectStream stream =
      node.open_object_stream(peer, kObjectEndpoint, std::move(callbacks), options);
  const auto begin = std::chrono::steady_clock::now();
  std::uint64_t bytes_ok = 0;
  std::vector<ObjectJob*> pending;
  for (ObjectJob& job : jobs)
    pending.push_back(&job);
  for (int round = 0; round <= retries && !pending.empty(); ++round) {
    if (round > 0) std::printf("retrying %zu objects (round %d)\n", pending.size(), round);
    for (ObjectJob* job : pending) {
      std::unique_lock lock(shared->mutex);
      shared->changed.wait(lock, [&] { return shared->in_flight < inflight || shared->ended; });
      if (shared->ended) {  // the stream ended under it (its code says why): never sent
        job->result = io::ObjectResult{0, *shared->ended, "not sent: the object stream ended"};
        continue;
      }
      ++shared->in_flight;
      lock.unlock();
      io::OutgoingObject object;
      object.header.name = job->name;
      object.header.attrs.size = job->size;
      object.header.attrs.checksum_type = DataChecksum::kType;
      object.header.attrs.checksum_value = job->checksum;
      std::string why;
      std::optional<io::ObjectSource> source = source_of(*job, why);
      if (!source) {
        std::lock_guard guard(shared->mutex);
        job->result = io::ObjectResult{0, Errc::invalid_argument, why};
        --shared->in_flight;
        continue;
      }
      object.source = std::move(*source);
      job->result.reset();
      object.on_done = [shared, job](const io::ObjectResult& result) {
        std::lock_guard guard(shared->mutex);
        job->result = result;
        --shared->in_flight;
        shared->changed.notify_all();
      };
      if (const Errc sent = stream.send(std::move(object)); sent != Errc::ok) {
        std::lock_guard guard(shared->mutex);
        job->result = io::ObjectResult{0, sent, "not sent"};
        --shared->in_flight;
      }
    }
    std::unique_lock lock(shared->mutex);
    shared->changed.wait(lock, [&] { return shared->in_flight == 0; });
    std::vector<ObjectJob*> again;
    for (ObjectJob* job : pending) {
      const io::ObjectResult& result = *job->result;
      const bool retry = retriable(result.error) && round < retries;
      std::printf("object %s %llu bytes %s%s%s%s\n", job->name.c_str(),
                  static_cast<unsigned long long>(job->size),
                  std::string(errc_name(result.error)).c_str(), result.message.empty() ? "" : ": ",
                  printable(result.message).c_str(), retry ? " (will retry)" : "");
      if (retry) again.push_back(job);
      if (result.error == Errc::ok) bytes_ok += job->size;
    }
    pending = std::move(again);
  }
  stream.fin();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::size_t ok = 0;
  Errc first_error = Errc::ok;
  for (const ObjectJob& job : jobs) {
    const Errc error = job.result ? job.result->error : Errc::not_found;
    if (error == Errc::ok) ++ok;
    if (error != Errc::ok && first_error == Errc::ok) first_error = error;
  }
  std::printf(
      "objects=%zu ok=%zu failed=%zu bytes=%llu seconds=%.3f rate=%.1f MB/s %.0f objects/s "
      "first_error=%s\n",
      jobs.size(), ok, jobs.size() - ok, static_cast<unsigned long long>(bytes_ok), seconds,
      static_cast<double>(bytes_ok) / 1e6 / seconds, static_cast<double>(ok) / seconds,
      std::string(errc_name(first_error)).c_str());
  return first_error;
}

}  // namespace weft::cli
