// weft-call's `bundle` action: sends a directory's files, or N generated objects, to the
// "objects" endpoint of every peer given with --peer at once, through one bundle
// (weft/io/bundles.hpp) of `multiplier` streams per peer, K objects in flight; prints one
// line per object with each peer's outcome, then a summary: objects whole everywhere, each
// peer's count of objects it took, and the rate. The file of a directory job is opened
// again for each replica (`reopen`), so a file that vanishes fails only the replicas that
// had not opened it yet.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "call_objects.hpp"

namespace weft::cli {

struct BundleRun {
  std::uint32_t multiplier = 1;
  std::size_t inflight = 16;
};

// "peer=error (message)" for each replica, or why the object was not posted.
inline std::string outcomes_text(const io::BundleObjectResult& result) {
  if (result.error != Errc::ok) {
    return "not posted: " + std::string(errc_name(result.error)) + " " + printable(result.message);
  }
  std::string text;
  for (const io::ReplicaOutcome& replica : result.replicas) {
    if (!text.empty()) text += ", ";
    text += replica.peer + "=" + std::string(errc_name(replica.error));
    if (!replica.message.empty()) text += " (" + printable(replica.message) + ")";
  }
  return text;
}

// A source of the file at `path` opened anew for each replica.
inline io::ReplicaSource reopen_file(std::string path, std::uint64_t size) {
  return [path = std::move(path), size](std::string_view,
                                        std::string& why) -> std::optional<io::ObjectSource> {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      why = "cannot open " + path + " again: " + std::strerror(errno);
      return std::nullopt;
    }
    io::ObjectSource source = io::ObjectSource::file(fd, 0, size);
    ::close(fd);  // the source keeps its own descriptor
    return source;
  };
}

// Prints each object's outcomes and the summary; returns ok when every object reached
// every peer, else the first error of a post or a replica.
inline Errc report_bundle(const std::vector<ObjectJob>& jobs,
                          const std::vector<std::optional<io::BundleObjectResult>>& results,
                          double seconds) {
  Errc first_error = Errc::ok;
  std::size_t whole = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::size_t> taken;  // by peer
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const io::BundleObjectResult& result = *results[i];
    std::printf("bundle object %s %llu bytes: %s\n", jobs[i].name.c_str(),
                static_cast<unsigned long long>(jobs[i].size), outcomes_text(result).c_str());
    if (result.all_ok()) ++whole;
    if (result.error != Errc::ok && first_error == Errc::ok) first_error = result.error;
    for (const io::ReplicaOutcome& replica : result.replicas) {
      if (replica.error == Errc::ok) {
        ++taken[replica.peer];
        bytes += jobs[i].size;
      } else if (first_error == Errc::ok) {
        first_error = replica.error;
      }
    }
  }
  std::string per_peer;
  for (const auto& [peer, count] : taken)
    per_peer += " " + peer + "=" + std::to_string(count);
  std::printf(
      "bundle objects=%zu whole_everywhere=%zu taken:%s bytes=%llu seconds=%.3f rate=%.1f MB/s "
      "first_error=%s\n",
      jobs.size(), whole, per_peer.c_str(), static_cast<unsigned long long>(bytes), seconds,
      static_cast<double>(bytes) / 1e6 / seconds, std::string(errc_name(first_error)).c_str());
  return first_error;
}

// Sends every job through one bundle to every peer and waits for every completion.
inline Errc send_bundle(io::EventNode& node, const std::vector<ObjectJob>& jobs,
                        const BundleRun& run) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::size_t in_flight = 0;
    std::vector<std::optional<io::BundleObjectResult>> results;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(jobs.size());
  io::Bundle bundle = node.open_bundle(
      io::BundleOptions{.endpoint = std::string(kObjectEndpoint), .multiplier = run.multiplier},
      io::BundleCallbacks{});
  const auto begin = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    std::unique_lock lock(shared->mutex);
    shared->changed.wait(lock, [&] { return shared->in_flight < run.inflight; });
    ++shared->in_flight;
    lock.unlock();
    const ObjectJob& job = jobs[i];
    io::OutgoingBundleObject object;
    object.header.name = job.name;
    object.header.attrs.size = job.size;
    object.header.attrs.checksum_type = DataChecksum::kType;
    object.header.attrs.checksum_value = job.checksum;
    if (job.path.empty()) {
      object.source = job.generate();
      // Each replica gets a producer of its own: one producer answers one reader.
      object.reopen = [generate = job.generate](std::string_view, std::string&) {
        return std::optional<io::ObjectSource>(generate());
      };
    } else {
      // Each replica opens the file itself (reopen): the shared source only says the size,
      // so no descriptor is held for it.
      object.source = io::ObjectSource::producer(
          job.size, [](std::uint64_t, std::span<std::uint8_t>, std::size_t&, bool&) {
            return Errc::invalid_argument;  // never asked: every replica reads its own
          });
      object.reopen = reopen_file(job.path, job.size);
    }
    object.on_done = [shared, i](const io::BundleObjectResult& result) {
      std::lock_guard guard(shared->mutex);
      shared->results[i] = result;
      --shared->in_flight;
      shared->changed.notify_all();
    };
    if (const Errc sent = bundle.send(std::move(object)); sent != Errc::ok) {
      std::lock_guard guard(shared->mutex);
      shared->results[i] = io::BundleObjectResult{0, sent, "not sent", {}};
      --shared->in_flight;
    }
  }
  std::unique_lock lock(shared->mutex);
  shared->changed.wait(lock, [&] { return shared->in_flight == 0; });
  bundle.fin();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  return report_bundle(jobs, shared->results, seconds);
}

}  // namespace weft::cli
