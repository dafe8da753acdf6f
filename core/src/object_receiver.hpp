// The receiving half of object streams from one peer (PROTOCOL.md §6.3): a record per
// stream the peer opened to one of this node's endpoints, holding the objects not yet
// finished by the application. A record outlives connections (for object_resume_timeout_ms
// after one goes down), so a resumed stream continues where it stopped and every object
// reaches the application once. Internal to core/.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "node_context.hpp"
#include "object_port.hpp"
#include "weft/node.hpp"
#include "weft/object.hpp"

namespace weft::detail {

class ObjectReceiver {
 public:
  ObjectReceiver(NodeContext& context, PeerId peer, ObjectPort& port)
      : context_(context), peer_(peer), port_(port) {}
  ObjectReceiver(const ObjectReceiver&) = delete;
  ObjectReceiver& operator=(const ObjectReceiver&) = delete;

  // ---- commands (PeerConnection) ----
  std::optional<ObjectRead> read(ObjectStreamId id);
  // PeerConnection::object_being_read.
  std::uint64_t being_read(ObjectStreamId id);
  Errc consume(TimeNs now_ns, ObjectStreamId id, std::size_t bytes);
  Errc discard(TimeNs now_ns, ObjectStreamId id);
  Errc refuse(TimeNs now_ns, ObjectStreamId id, Errc code, std::string_view message);
  std::optional<ObjectStreamStats> stats(TimeNs now_ns, ObjectStreamId id);
  // As ObjectSender::collect_metrics, for the streams received (metrics_collect.cpp).
  void collect_metrics(TimeNs now_ns, std::size_t limit, MetricsSnapshot& snapshot) const;
  bool owns(ObjectStreamId id) const { return ids_.contains(id.value); }

  // ---- from the connection ----
  void on_up(TimeNs now_ns, bool peer_restarted);
  void on_down(TimeNs now_ns);
  // Forgets every stream (the peer is gone for good): an object being read ends for the
  // application with ObjectAborted(`code`).
  void forget_all(Errc code, const std::string& message);
  // object_open, object_begin, object_data, object_end or object_close on a mux of the
  // peer's parity. Returns false when it cost the connection (a protocol error).
  bool on_frame(TimeNs now_ns, const Frame& frame);
  // Whether an object stream of the peer holds `mux` on this connection.
  bool mux_taken(std::uint64_t mux) const { return by_mux_.contains(mux); }
  // Sends the acknowledgements of status 0 held back since the last flush, one object_ack
  // (flag through when it covers several) per stream. The connection calls it before its
  // output is read.
  void flush_acks(TimeNs now_ns);
  TimeNs next_deadline() const;
  void on_timer(TimeNs now_ns);
  void check_invariants() const;
  std::size_t stream_count() const { return records_.size(); }
  std::uint64_t window_bytes() const { return window_bytes_; }

 private:
  struct Object {
    std::uint64_t number = 0;
    std::vector<std::uint8_t> header;  // encoded and validated; decoded for ObjectArrived
    std::uint32_t header_bytes = 0;
    bool size_known = true;
    std::uint64_t size = 0;
    std::uint64_t unread = 0;  // its data in Record::unread, not yet read
    std::uint64_t received = 0;
    std::uint64_t consumed = 0;
    bool ended = false;       // its object_end arrived
    bool arrived = false;     // ObjectArrived was emitted
    bool discarding = false;  // the application dropped the rest; finished at the end
    std::optional<std::pair<Status, std::string>> result;  // finished: what the ack says
  };
  struct Record {
    ObjectStreamId id;
    std::uint64_t key = 0;  // the sender's stream_key
    std::string endpoint;
    ObjectWindow window;
    std::uint64_t mux = 0;               // on the current connection; 0 while closed
    bool lz4 = false;                    // its object_open there allowed compressed data
    std::deque<Object> objects;          // begun, and not both finished and ended
    std::uint64_t next_begin = 1;        // the number the next object_begin must carry
    std::uint64_t finished_through = 0;  // results recorded (acknowledged, or owed) so far
    // Acks of status 0 held back until the next flush: objects [acks_owed_from,
    // acks_owed_through]; acks_owed_from 0 when none.
    std::uint64_t acks_owed_from = 0;
    std::uint64_t acks_owed_through = 0;
    std::deque<std::pair<Status, std::string>> results;  // of the last finished objects
    // Credit the sender may still spend on this connection, and credit owed back to it.
    std::uint64_t credit_objects = 0;
    std::uint64_t credit_bytes = 0;
    std::uint64_t unreturned_objects = 0;
    std::uint64_t unreturned_bytes = 0;
    std::uint64_t held_bytes = 0;  // headers not yet delivered + unread data
    // Unread data of every object, in object order: the object being read first. One
    // buffer per stream, reused across objects, so data costs one copy and no allocation
    // per chunk.
    ByteBuffer unread;
    bool readable_armed = true;
    TimeNs expire_at_ns = kNever;  // while closed: forget the stream then
    ObjectStreamStats counters;
    IdleMeter idle;  // busy while it holds objects
  };

  Record* find(ObjectStreamId id);
  Object* current(Record& record);
  std::uint64_t unfinished(const Record& record) const;
  bool open(TimeNs now_ns, const Frame& frame);
  bool resume(TimeNs now_ns, Record& record, const Frame& frame);
  void accept(TimeNs now_ns, Record& record, const Frame& open);
  bool begin(TimeNs now_ns, Record& record, const Frame& frame);
  bool data(TimeNs now_ns, Record& record, const Frame& frame);
  // The data bytes an object_data frame carries (its declared size when compressed), or
  // nullopt after failing the connection for a compressed payload that breaks §6.3.
  std::optional<std::uint64_t> data_bytes(TimeNs now_ns, const Record& record, const Frame& frame);
  // Failure of a compressed chunk: "bad compressed chunk at offset <offset>: <why>".
  bool bad_chunk(TimeNs now_ns, const Frame& frame, const std::string& why);
  bool end(TimeNs now_ns, Record& record, const Frame& frame);
  bool close(TimeNs now_ns, Record& record, const Frame& frame);
  // Records `object`'s result, sends the acks now due, delivers the next object.
  void finish(TimeNs now_ns, Record& record, Object& object, Status status, std::string text);
  void drop_unread(Record& record, Object& object);
  void send_acks(TimeNs now_ns, Record& record);
  // Acknowledges object `number`: status 0 is held back for the next flush; another status
  // goes at once, after the acks held back.
  void send_ack(TimeNs now_ns, Record& record, std::uint64_t number, Status status,
                std::string_view text);
  void flush_acks_of(TimeNs now_ns, Record& record);
  void send_ack_frame(TimeNs now_ns, std::uint64_t mux, std::uint64_t seq, std::uint16_t flags,
                      Status status, std::string_view text);
  void advance(TimeNs now_ns, Record& record);
  void notify(Record& record);
  void return_credit(Record& record, bool force);
  // Ends the stream here: the object being read is aborted with `code`, the record goes.
  void forget(Record& record, Errc code, const std::string& message);
  void set_busy(TimeNs now_ns, Record& record);
  bool reject(TimeNs now_ns, const Frame& open, Status status, std::string text);
  // Fails the connection for a frame of `record` that breaks §6.3: "<op> <seq> on mux
  // <mux>: <why>". Returns false.
  bool violation(TimeNs now_ns, const Frame& frame, const std::string& why);
  // The object a data or end frame continues: the last one begun, not ended, numbered
  // frame.seq; nullptr (after failing the connection) when there is none.
  Object* receiving(TimeNs now_ns, Record& record, const Frame& frame);

  NodeContext& context_;
  const PeerId peer_;
  ObjectPort& port_;
  std::map<std::uint64_t, Record> records_;        // by stream_key
  std::map<std::uint64_t, std::uint64_t> ids_;     // ObjectStreamId::value -> stream_key
  std::map<std::uint64_t, std::uint64_t> by_mux_;  // current connection's mux -> stream_key
  std::uint64_t window_bytes_ = 0;                 // windows of the records, summed
  std::vector<std::uint64_t> owed_acks_;           // keys of records with acks held back
};

}  // namespace weft::detail
