// What a listener does after accept4 failed: shared by the node's listener and the metrics
// endpoint's, so both treat running out of descriptors the same way. Internal to weft_io.
#pragma once

#include <cerrno>

namespace weft::io {

enum class AcceptFailure {
  retry,  // that one connection failed (reset while queued, interrupted): accept the next
  pause,  // out of descriptors or kernel memory: the queue stays readable, so stop a while
  wait,   // EAGAIN (the queue is empty) or anything else: wait for the next readiness
};

inline AcceptFailure classify_accept_failure(int error) {
  if (error == EINTR || error == ECONNABORTED || error == EPROTO) return AcceptFailure::retry;
  if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
    return AcceptFailure::pause;
  }
  return AcceptFailure::wait;
}

}  // namespace weft::io
