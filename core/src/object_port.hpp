// What the object-stream halves (ObjectSender, ObjectReceiver) need of their connection:
// its state, a way to put frames out, and a way to fail it. Connection implements it.
// Internal to core/.
#pragma once

#include <cstdint>
#include <string>

#include "weft/time.hpp"
#include "weft/wire.hpp"

namespace weft::detail {

// The share of time an object stream had nothing to do, over periods a stats call ends.
class IdleMeter {
 public:
  explicit IdleMeter(TimeNs now_ns = 0) : start_ns_(now_ns), period_start_ns_(now_ns) {}
  // The stream is busy (objects in flight or held) from now on, or not.
  void set_busy(TimeNs now_ns, bool busy) {
    if (busy && busy_since_ns_ == kNever) busy_since_ns_ = now_ns;
    if (!busy && busy_since_ns_ != kNever) {
      busy_ns_ += now_ns - busy_since_ns_;
      lifetime_busy_ns_ += now_ns - busy_since_ns_;
      busy_since_ns_ = kNever;
    }
  }
  // The idle percentage (0..100) since the last call, which starts a new period.
  double take_idle_percent(TimeNs now_ns) {
    TimeNs busy_ns = busy_ns_;
    if (busy_since_ns_ != kNever) busy_ns += now_ns - busy_since_ns_;
    const TimeNs span_ns = now_ns - period_start_ns_;
    const double idle = span_ns <= 0 ? (busy_ns > 0 ? 0.0 : 100.0)
                                     : 100.0 * static_cast<double>(span_ns - busy_ns) /
                                           static_cast<double>(span_ns);
    period_start_ns_ = now_ns;
    busy_ns_ = 0;
    if (busy_since_ns_ != kNever) busy_since_ns_ = now_ns;
    return idle;
  }
  // Busy time since the meter was made, up to `now_ns`, and the meter's age then; neither
  // starts a new period (Node::metrics reads them).
  TimeNs lifetime_busy_ns(TimeNs now_ns) const {
    return lifetime_busy_ns_ + (busy_since_ns_ != kNever ? now_ns - busy_since_ns_ : 0);
  }
  TimeNs age_ns(TimeNs now_ns) const { return now_ns - start_ns_; }

 private:
  TimeNs start_ns_;
  TimeNs lifetime_busy_ns_ = 0;
  TimeNs period_start_ns_;
  TimeNs busy_since_ns_ = kNever;
  TimeNs busy_ns_ = 0;
};

class ObjectPort {
 public:
  // The connection is established: frames can be sent.
  virtual bool port_up() const = 0;
  // The output buffer is below its high-water mark, so a frame sent now goes out directly.
  virtual bool port_has_room() const = 0;
  // Encodes `frame` into the output (call only while port_has_room()).
  virtual void port_send(const Frame& frame) = 0;
  // port_send for a frame whose payload lies inside `owner`: the output may refer to the
  // payload there (keeping `owner` alive) until it is written, instead of copying it.
  virtual void port_send_shared(const Frame& frame, const SharedBytes& owner) = 0;
  // Queues `frame` in the control lane (rule 1: never waits). May close the connection
  // when the peer does not read (check port_up() after).
  virtual void port_send_control(TimeNs now_ns, const Frame& frame) = 0;
  // Queues object credit for `mux`, coalesced with credit already waiting.
  virtual void port_send_credit(std::uint64_t mux, std::uint32_t objects, std::uint32_t bytes) = 0;
  // Asks to be flushed (ObjectReceiver::flush_acks) before the connection's output is next
  // read: the transport is reported by poll_transmit even while the output is empty.
  virtual void port_want_flush() = 0;
  // Closes the connection with a protocol error (goaway).
  virtual void port_protocol_error(TimeNs now_ns, std::string message) = 0;
  // A fresh mux id of this side's parity.
  virtual std::uint64_t port_new_mux() = 0;
  // Whether a peer-opened request or stream holds `mux` (ids are one space, PROTOCOL.md §4.4).
  virtual bool port_mux_taken(std::uint64_t mux) const = 0;
  virtual bool port_checksums() const = 0;
  // The connection comes up on demand (a post dials it) rather than being kept up.
  virtual bool port_on_demand() const = 0;
  // The largest object_data payload the peer's frame limit leaves room for.
  virtual std::size_t port_max_chunk() const = 0;
  // This node's own frame limit (what it announced): the most data one compressed chunk
  // may declare.
  virtual std::uint32_t port_own_max_frame() const = 0;

 protected:
  ~ObjectPort() = default;
};

}  // namespace weft::detail
