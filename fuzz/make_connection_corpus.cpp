// Writes seeds for the connection target: streams of frames a dialing peer might send
// after its hello (requests, parts, streams, cancels, pings, object streams both ways), each
// preceded by the piece sizes the target reads from the input. Run by hand when the wire
// format changes:
//   build/release/fuzz/weft_make_connection_corpus fuzz/corpus/connection
#include <lz4.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "corpus_file.hpp"
#include "weft/object.hpp"
#include "weft/wire.hpp"

namespace {

using namespace weft;

std::vector<std::uint8_t> as_input(const ByteBuffer& frames) {
  return weft::fuzzing::connection_input(frames.view());
}

using weft::fuzzing::write_corpus_file;

// An input for the connection target built of groups of frames: each group goes in pieces
// of at most 64 bytes (the control byte before each says its size), so a group's last frame
// ends a piece: the target serves the application (which supplies data, reads objects) before
// the next group. `steps` (0-3) in a group's last control byte moves the clock 7 s each after
// it; when the connection died in the group before, the peer dials again 14 s each later.
class Input {
 public:
  Input& send(const ByteBuffer& frames, unsigned steps = 0) {
    const Bytes bytes = frames.view();
    for (std::size_t at = 0; at < bytes.size(); at += 64) {
      const std::size_t piece = std::min<std::size_t>(64, bytes.size() - at);
      const bool last = at + piece == bytes.size();
      bytes_.push_back(static_cast<std::uint8_t>((piece - 1) | (last ? steps << 6 : 0)));
      bytes_.insert(bytes_.end(), bytes.begin() + static_cast<long>(at),
                    bytes.begin() + static_cast<long>(at + piece));
    }
    return *this;
  }
  const std::vector<std::uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<std::uint8_t> bytes_;
};

// The target's application reads object n as (header opcode + n) % 6 says.
enum Mode : std::uint16_t { whole, steps, half_then_discard, discard, refuse, stall };
// Control objects of the target: the node finishes, stops, aborts the oldest object of, or
// posts four more objects to its own object stream.
constexpr std::uint16_t kFin = 0xf0;
constexpr std::uint16_t kPost = 0xf3;
constexpr std::uint16_t kAbort = 0xf2;

// The mux ids the node under test ("alpha", the acceptor: odd ids) gives its object stream
// to the peer's "store": serial << 21 | slot 0 << 1 | 1, serial 1, 2... (connection_requests.cpp).
constexpr std::uint64_t kAlphaMux1 = (1u << 21) | 1;
constexpr std::uint64_t kAlphaMux2 = (2u << 21) | 1;

std::vector<std::uint8_t> object_header(std::uint64_t object, Mode mode, bool attrs = false) {
  ObjectHeader header;
  header.name = "bucket/obj" + std::to_string(object);
  header.opcode = static_cast<std::uint16_t>((mode + 6 - object % 6) % 6);
  if (attrs) {  // every attribute, a time before 1970, an empty version, a repeated key
    header.opaque = {0xca, 0xfe};
    header.attrs = {.size = 11,
                    .access_time_ns = -1,
                    .checksum_type = "md5",
                    .checksum_value = "5eb63bbbe01eeed093cb22bb8f5acdc3",
                    .version = "",
                    .custom = {{"k", "v"}, {"k", "w"}}};
  }
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  return bytes;
}

std::vector<std::uint8_t> control_header(std::uint16_t opcode) {
  ObjectHeader header;
  header.name = "control";
  header.opcode = opcode;
  std::vector<std::uint8_t> bytes;
  encode_object_header(header, bytes);
  return bytes;
}

// A frame of `op` with a status and its text, for object `seq` on `mux`.
void encode_status_frame(ByteBuffer& out, Op op, std::uint64_t mux, std::uint64_t seq,
                         Status status, std::string_view why) {
  encode_frame(out, Frame{.op = op,
                          .mux = mux,
                          .seq = seq,
                          .status = static_cast<std::uint16_t>(status),
                          .payload = as_bytes(why)});
}

// The frames of one object stream of the peer's (the opener's side), on mux `mux`.
class Objects {
 public:
  Objects(ByteBuffer& out, std::uint64_t mux) : out_(out), mux_(mux) {}

  void open(std::uint64_t key, std::uint64_t first = 1, bool resume = false,
            std::string_view endpoint = "store", bool lz4 = false) {
    encode_frame(out_, Frame{.op = Op::object_open,
                             .flags = static_cast<std::uint16_t>((resume ? flag::kResume : 0) |
                                                                 (lz4 ? flag::kLz4Stream : 0)),
                             .mux = mux_,
                             .seq = first,
                             .name = endpoint,
                             .stream_key = key});
  }
  // object_begin; `size` 0 and `sized` false for an unsized object.
  void begin(std::uint64_t object, const std::vector<std::uint8_t>& header, std::uint64_t size,
             bool sized = true) {
    encode_frame(out_, Frame{.op = Op::object_begin,
                             .flags = sized ? std::uint16_t{0} : flag::kSizeUnknown,
                             .mux = mux_,
                             .seq = object,
                             .size = size,
                             .payload = header});
  }
  void data(std::uint64_t object, std::uint64_t offset, std::size_t bytes) {
    const std::vector<std::uint8_t> chunk(bytes, static_cast<std::uint8_t>('a' + offset % 26));
    encode_frame(
        out_,
        Frame{
            .op = Op::object_data, .mux = mux_, .seq = object, .offset = offset, .payload = chunk});
  }
  // object_data with flag lz4 holding `bytes` of compressible data (PROTOCOL.md §6.3
  // "Compression"); `declared` replaces the size it declares, `cut` drops that many bytes
  // of the payload's end (the block's, then the size's): the malformed chunks a receiver
  // must refuse.
  void lz4_data(std::uint64_t object, std::uint64_t offset, std::size_t bytes,
                std::optional<std::uint32_t> declared = std::nullopt, std::size_t cut = 0) {
    const std::vector<std::uint8_t> chunk(bytes, static_cast<std::uint8_t>('a' + offset % 26));
    std::vector<std::uint8_t> payload(4 + LZ4_compressBound(static_cast<int>(bytes)));
    const int block = LZ4_compress_default(
        reinterpret_cast<const char*>(chunk.data()), reinterpret_cast<char*>(payload.data() + 4),
        static_cast<int>(bytes), static_cast<int>(payload.size() - 4));
    payload.resize(4 + static_cast<std::size_t>(block));
    const std::uint32_t size = declared.value_or(static_cast<std::uint32_t>(bytes));
    for (int i = 0; i < 4; ++i)
      payload[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(size >> (24 - 8 * i));
    payload.resize(payload.size() - std::min(cut, payload.size()));
    encode_frame(out_, Frame{.op = Op::object_data,
                             .flags = flag::kLz4,
                             .mux = mux_,
                             .seq = object,
                             .offset = offset,
                             .payload = payload});
  }
  void end(std::uint64_t object, std::uint64_t size, Status status = Status::ok,
           std::string_view why = {}) {
    encode_frame(out_, Frame{.op = Op::object_end,
                             .mux = mux_,
                             .seq = object,
                             .status = static_cast<std::uint16_t>(status),
                             .size = size,
                             .payload = as_bytes(why)});
  }
  // A whole object: begin, data in chunks of at most `chunk` bytes, end.
  void object(std::uint64_t object, Mode mode, std::size_t size, bool sized = true,
              std::size_t chunk = 40) {
    begin(object, object_header(object, mode), sized ? size : 0, sized);
    for (std::size_t at = 0; at < size; at += chunk)
      data(object, at, std::min(chunk, size - at));
    end(object, size);
  }
  void control(std::uint64_t object, std::uint16_t opcode) {
    begin(object, control_header(opcode), 0);
    end(object, 0);
  }
  // object_begin with flag ends: an object without data, whole in this one frame.
  void whole_begin(std::uint64_t object, const std::vector<std::uint8_t>& header) {
    encode_frame(out_, Frame{.op = Op::object_begin,
                             .flags = flag::kEnds,
                             .mux = mux_,
                             .seq = object,
                             .payload = header});
  }
  void close(std::uint64_t last, Status status = Status::ok, std::string_view why = {}) {
    encode_status_frame(out_, Op::object_close, mux_, last, status, why);
  }

 private:
  ByteBuffer& out_;
  std::uint64_t mux_;
};

// Answers to the node's own object stream (the receiver's side), on mux `mux`.
class Answers {
 public:
  Answers(ByteBuffer& out, std::uint64_t mux) : out_(out), mux_(mux) {}

  void accept(std::uint64_t next, std::uint32_t objects, std::uint32_t bytes,
              std::uint64_t begun_offset = 0, bool begun = false) {
    encode_frame(out_, Frame{.op = Op::object_accept,
                             .flags = begun ? flag::kBegun : std::uint16_t{0},
                             .mux = mux_,
                             .seq = next,
                             .credit_msgs = objects,
                             .credit_bytes = bytes,
                             .offset = begun_offset});
  }
  void reject(Status status, std::string_view why) {
    encode_status_frame(out_, Op::object_reject, mux_, 0, status, why);
  }
  void ack(std::uint64_t object) {
    encode_status_frame(out_, Op::object_ack, mux_, object, {}, {});
  }
  // object_ack with flag through: every object from the next due up to `object` succeeded.
  void ack_through(std::uint64_t object) {
    encode_frame(out_,
                 Frame{.op = Op::object_ack, .flags = flag::kThrough, .mux = mux_, .seq = object});
  }
  void credit(std::uint32_t objects, std::uint32_t bytes) {
    encode_frame(
        out_,
        Frame{.op = Op::object_credit, .mux = mux_, .credit_msgs = objects, .credit_bytes = bytes});
  }

 private:
  ByteBuffer& out_;
  std::uint64_t mux_;
};

// A frame that costs the connection (a hello after the handshake): the peer dials again.
ByteBuffer breaks_connection() {
  ByteBuffer out;
  encode_frame(out, Frame{.op = Op::hello,
                          .version_min = kProtocolVersionMin,
                          .version_max = kProtocolVersion,
                          .name = "x",
                          .peer_name = "y",
                          .max_frame_bytes = 1 << 16});
  return out;
}

// The peer's compressed object streams: good chunks mixed with plain
// ones, then each kind of bad chunk (each costs the connection; the peer dials again and
// resumes, and the next bad chunk costs it again).
void write_lz4_seeds(const std::filesystem::path& dir) {
  {
    ByteBuffer frames;
    Objects stream(frames, 40);
    stream.open(9, 1, false, "store", true);
    stream.begin(1, object_header(1, whole), 3'000);
    stream.lz4_data(1, 0, 1'000);
    stream.data(1, 1'000, 1'000);
    stream.lz4_data(1, 2'000, 1'000);
    stream.end(1, 3'000);
    stream.begin(2, object_header(2, steps), 0, false);
    stream.lz4_data(2, 0, 5'000);
    stream.end(2, 5'000);
    ByteBuffer close;
    Objects(close, 40).close(2);
    write_corpus_file(dir / "object-lz4", Input().send(frames).send(close).bytes());
  }
  const auto bad = [&](const char* name, const auto& chunk) {
    ByteBuffer frames;
    Objects stream(frames, 42);
    stream.open(10, 1, false, "store", true);
    stream.begin(1, object_header(1, whole), 0, false);
    stream.lz4_data(1, 0, 500);
    chunk(stream);
    write_corpus_file(dir / name, Input().send(frames).bytes());
  };
  bad("object-lz4-declared-more", [](Objects& s) { s.lz4_data(1, 500, 700, 701); });
  bad("object-lz4-declared-huge", [](Objects& s) { s.lz4_data(1, 500, 700, 0xffff'ffffu); });
  bad("object-lz4-declared-zero", [](Objects& s) { s.lz4_data(1, 500, 700, 0); });
  bad("object-lz4-cut-block", [](Objects& s) { s.lz4_data(1, 500, 9'000, std::nullopt, 3); });
  bad("object-lz4-short", [](Objects& s) { s.lz4_data(1, 500, 700, std::nullopt, 1'000); });
  {  // flag lz4 on a stream opened without it
    ByteBuffer frames;
    Objects stream(frames, 44);
    stream.open(11);
    stream.begin(1, object_header(1, whole), 0, false);
    stream.lz4_data(1, 0, 700);
    write_corpus_file(dir / "object-lz4-not-negotiated", Input().send(frames).bytes());
  }
}

// The peer's object streams to "store": every way an object is read and ends.
void write_object_seeds(const std::filesystem::path& dir) {
  {  // sized with every attribute, header-only, unsized, sized in two chunks; a clean close
    ByteBuffer frames;
    Objects stream(frames, 20);
    stream.open(1);
    stream.begin(1, object_header(1, whole, true), 11);
    stream.data(1, 0, 11);
    stream.end(1, 11);
    stream.object(2, steps, 0);
    stream.object(3, steps, 600, false, 250);
    stream.object(4, whole, 700, true, 400);
    ByteBuffer close;  // once the application has finished the objects
    Objects(close, 20).close(4);
    write_corpus_file(dir / "object-stream", Input().send(frames).send(close).bytes());
  }
  {  // half read then discarded, discarded, refused, stalled; closed canceled; reopened
    ByteBuffer frames;
    Objects stream(frames, 22);
    stream.open(2);
    stream.object(1, half_then_discard, 100);
    stream.object(2, discard, 100);
    stream.object(3, refuse, 50);
    stream.object(4, stall, 0);
    stream.close(4, Status::canceled, "stopped by the sender");
    Objects again(frames, 24);
    again.open(2, 5);
    again.object(5, whole, 0);
    ByteBuffer close;
    Objects(close, 24).close(5);
    write_corpus_file(dir / "object-discard-refuse", Input().send(frames).send(close).bytes());
  }
  {  // objects the sender aborts: sized, unsized; then a good one
    ByteBuffer frames;
    Objects stream(frames, 26);
    stream.open(3);
    stream.begin(1, object_header(1, whole), 1000);
    stream.data(1, 0, 30);
    stream.end(1, 30, Status::canceled, "source file vanished");
    stream.begin(2, object_header(2, steps), 0, false);
    stream.data(2, 0, 10);
    stream.end(2, 10, Status::remote_error, "producer failed");
    stream.object(3, whole, 0);
    ByteBuffer close;
    Objects(close, 26).close(3);
    write_corpus_file(dir / "object-aborted", Input().send(frames).send(close).bytes());
  }
  {  // bad headers (refused, drained), an unknown endpoint, a resume of an unknown stream
    ByteBuffer frames;
    Objects stream(frames, 28);
    stream.open(4);
    stream.begin(1, {0x93, 0x01, 0x02, 0x03}, 5);
    stream.data(1, 0, 5);
    stream.end(1, 5);
    std::vector<std::uint8_t> trailing = object_header(2, whole);
    trailing.push_back(0xc0);
    stream.begin(2, trailing, 0);
    stream.end(2, 0);
    stream.object(3, whole, 0);
    Objects(frames, 30).open(40, 1, false, "nowhere");
    Objects(frames, 32).open(41, 1, true);
    ByteBuffer close;
    Objects(close, 28).close(3);
    write_corpus_file(dir / "object-bad-header", Input().send(frames).send(close).bytes());
  }
  {  // the connection dies mid-object; the stream resumes where the receiver stopped, and a
     // finished stream resumes to have its acks sent again
    ByteBuffer first;
    Objects stream(first, 34);
    stream.open(5);
    stream.begin(1, object_header(1, whole), 200);
    stream.data(1, 0, 100);
    Objects finished(first, 36);
    finished.open(6);
    finished.object(1, whole, 0);
    finished.object(2, steps, 0);
    ByteBuffer second;
    Objects resumed(second, 2);
    resumed.open(5, 1, true);
    resumed.data(1, 100, 100);
    resumed.end(1, 200);
    resumed.object(2, whole, 0);
    Objects acks(second, 4);
    acks.open(6, 1, true);
    acks.close(2);
    ByteBuffer close;
    Objects(close, 2).close(2);
    write_corpus_file(
        dir / "object-resume",
        Input().send(first).send(breaks_connection()).send(second).send(close).bytes());
  }
  {  // the peer stays away 42 s, past object_resume_timeout_ms: the stream is forgotten
    ByteBuffer first;
    Objects stream(first, 38);
    stream.open(7);
    stream.begin(1, object_header(1, whole), 50);
    stream.data(1, 0, 20);
    ByteBuffer ping;  // one piece: its control byte delays the redial by 42 s
    encode_frame(ping, Frame{.op = Op::ping, .seq = 1});
    ByteBuffer second;
    Objects late(second, 2);
    late.open(7, 1, true);
    Objects fresh(second, 4);
    fresh.open(7, 1);
    fresh.object(1, whole, 0);
    ByteBuffer close;
    Objects(close, 4).close(1);
    write_corpus_file(dir / "object-expired", Input()
                                                  .send(first)
                                                  .send(breaks_connection())
                                                  .send(ping, 3)
                                                  .send(second)
                                                  .send(close)
                                                  .bytes());
  }
  {  // the peer comes back three times; the last time it restarted
    ByteBuffer first;
    Objects stream(first, 40);
    stream.open(8);
    stream.begin(1, object_header(1, whole), 50);
    stream.data(1, 0, 20);
    ByteBuffer after;
    encode_frame(after, Frame{.op = Op::ping, .seq = 1});
    write_corpus_file(dir / "object-peer-restarted", Input()
                                                         .send(first)
                                                         .send(breaks_connection())
                                                         .send(breaks_connection())
                                                         .send(breaks_connection())
                                                         .send(after)
                                                         .bytes());
  }
  {  // objects without data, each whole in one object_begin (flag ends): read whole, in
     // steps, half then discarded, discarded, refused; one between two with data; closed
    ByteBuffer frames;
    Objects stream(frames, 42);
    stream.open(11);
    for (std::uint64_t object = 1; object <= 5; ++object)
      stream.whole_begin(object, object_header(object, static_cast<Mode>(object - 1)));
    stream.object(6, whole, 30);
    stream.whole_begin(7, object_header(7, whole, true));
    stream.object(8, steps, 30, false);
    ByteBuffer close;
    Objects(close, 42).close(8);
    write_corpus_file(dir / "object-ends", Input().send(frames).send(close).bytes());
  }
}

// Answers to the node's own object stream: accepted, acknowledged, given credit, idle
// closed and reopened, finished by a control object; refused; resumed.
void write_sender_seeds(const std::filesystem::path& dir) {
  {
    ByteBuffer accept;
    Answers(accept, kAlphaMux1).accept(1, 2, 65536);
    ByteBuffer more;
    Answers answers(more, kAlphaMux1);
    answers.ack(1);
    answers.ack(2);
    answers.credit(2, 16384);
    ByteBuffer acks;
    Answers(acks, kAlphaMux1).ack(3);
    Answers(acks, kAlphaMux1).ack(4);
    ByteBuffer post;  // a control object: four more objects, on a reopened mux
    Objects controls(post, 50);
    controls.open(9);
    controls.control(1, kPost);
    ByteBuffer reopened;
    Answers(reopened, kAlphaMux2).accept(5, 4, 65536);
    ByteBuffer finish;
    Answers(finish, kAlphaMux2).ack(5);
    Answers(finish, kAlphaMux2).ack(6);
    Objects later_controls(finish, 50);
    later_controls.control(2, kAbort);
    later_controls.control(3, kFin);
    ByteBuffer last;
    Answers(last, kAlphaMux2).ack(7);
    Answers(last, kAlphaMux2).ack(8);
    write_corpus_file(dir / "object-sender", Input()
                                                 .send(accept)
                                                 .send(more)
                                                 .send(acks, 1)  // 7 s: the idle close
                                                 .send(post)
                                                 .send(reopened)
                                                 .send(finish)
                                                 .send(last)
                                                 .bytes());
  }
  {  // refused busy (the stream stays), then unknown_handler (it ends)
    ByteBuffer busy;
    Answers(busy, kAlphaMux1).reject(Status::busy, "too many object streams");
    ByteBuffer post;
    Objects(post, 52).open(10);
    Objects(post, 52).control(1, kPost);
    ByteBuffer unknown;
    Answers(unknown, kAlphaMux2).reject(Status::unknown_handler, "no object endpoint store");
    write_corpus_file(dir / "object-sender-rejected",
                      Input().send(busy).send(post).send(unknown).bytes());
  }
  {  // the connection dies with objects in flight; the receiver held 4096 bytes of object 2
    ByteBuffer accept;
    Answers(accept, kAlphaMux1).accept(1, 4, 65536);
    ByteBuffer ack;
    Answers(ack, kAlphaMux1).ack(1);
    ByteBuffer resume;
    Answers(resume, kAlphaMux2).accept(2, 4, 65536, 4096, true);
    ByteBuffer acks;
    for (std::uint64_t object = 2; object <= 4; ++object)
      Answers(acks, kAlphaMux2).ack(object);
    write_corpus_file(
        dir / "object-sender-resumed",
        Input().send(accept).send(ack).send(breaks_connection()).send(resume).send(acks).bytes());
  }
  {  // acknowledged in runs (object_ack flag through): 1-2, 3-4; a control object without
     // data (flag ends) posts four more, acknowledged as one run
    ByteBuffer accept;
    Answers(accept, kAlphaMux1).accept(1, 4, 65536);
    ByteBuffer first;
    Answers(first, kAlphaMux1).ack_through(2);
    ByteBuffer second;
    Answers(second, kAlphaMux1).ack_through(4);
    Answers(second, kAlphaMux1).credit(4, 65536);
    Objects controls(second, 54);
    controls.open(12);
    controls.whole_begin(1, control_header(kPost));
    ByteBuffer rest;
    Answers(rest, kAlphaMux1).ack_through(8);
    Objects(rest, 54).whole_begin(2, control_header(kFin));
    ByteBuffer close;
    Objects(close, 54).close(2);
    write_corpus_file(dir / "object-sender-through",
                      Input().send(accept).send(first).send(second).send(rest).send(close).bytes());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto corpus_dir = weft::fuzzing::corpus_directory(argc, argv);
  if (!corpus_dir) return 2;
  const std::filesystem::path& dir = *corpus_dir;
  // The dialer opens even mux ids.
  ByteBuffer requests;
  encode_frame(requests, Frame{.op = Op::request,
                               .mux = 2,
                               .handler = 1,
                               .deadline_ms = 1000,
                               .payload = as_bytes("hello")});
  encode_frame(requests, Frame{.op = Op::request,
                               .mux = 4,
                               .handler = 2,
                               .route = route_id("r"),
                               .payload = as_bytes("abc")});
  encode_frame(requests,
               Frame{.op = Op::request, .mux = 6, .handler = 9, .payload = as_bytes("x")});
  encode_frame(requests, Frame{.op = Op::cancel, .mux = 2});
  encode_frame(requests, Frame{.op = Op::ping, .seq = 1});
  write_corpus_file(dir / "requests", as_input(requests));

  ByteBuffer parts;
  encode_frame(parts, Frame{.op = Op::request,
                            .flags = flag::kMore,
                            .mux = 8,
                            .seq = 23,  // the whole payload's size
                            .handler = 1,
                            .payload = as_bytes("part one, ")});
  encode_frame(parts, Frame{.op = Op::continuation,
                            .flags = flag::kMore,
                            .mux = 8,
                            .seq = 1,
                            .payload = as_bytes("part two, ")});
  encode_frame(parts,
               Frame{.op = Op::continuation, .mux = 8, .seq = 2, .payload = as_bytes("end")});
  write_corpus_file(dir / "request-parts", as_input(parts));

  ByteBuffer stream;
  encode_frame(stream, Frame{.op = Op::stream_open,
                             .flags = flag::kHasPayload | flag::kHasInput,
                             .mux = 10,
                             .handler = 3,
                             .credit_msgs = 4,
                             .credit_bytes = 4096,
                             .payload = as_bytes("init")});
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    encode_frame(stream,
                 Frame{.op = Op::stream_msg, .mux = 10, .seq = seq, .payload = as_bytes("m")});
  }
  encode_frame(stream,
               Frame{.op = Op::stream_credit, .mux = 10, .credit_msgs = 2, .credit_bytes = 2});
  encode_frame(stream, Frame{.op = Op::stream_ping, .mux = 10, .seq = 1});
  encode_frame(stream, Frame{.op = Op::stream_end, .mux = 10, .seq = 3});
  write_corpus_file(dir / "stream", as_input(stream));

  ByteBuffer reset;
  encode_frame(
      reset,
      Frame{.op = Op::stream_open, .mux = 12, .handler = 3, .credit_msgs = 1, .credit_bytes = 10});
  encode_frame(reset, Frame{.op = Op::stream_reset,
                            .mux = 12,
                            .status = static_cast<std::uint16_t>(Status::canceled)});
  encode_frame(reset, Frame{.op = Op::goaway, .status = 8, .payload = as_bytes("bye")});
  write_corpus_file(dir / "stream-reset-goaway", as_input(reset));

  write_object_seeds(dir);
  write_lz4_seeds(dir);
  write_sender_seeds(dir);
  return 0;
}
