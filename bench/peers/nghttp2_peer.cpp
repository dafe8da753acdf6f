// nghttp2 (its C API) over plaintext HTTP/2, on a nonblocking socket with our own loop (per
// turn: poll, one recv into the session, the session's output gathered into one buffer, one
// send), one thread each side. Each request is a stream: POST /e with a 64 B body, answered
// with the same body. Streams and bulk: one POST /s whose body is the messages, 64 B DATA
// frames or 1 MiB DATA frames written straight from the client's buffer
// (NGHTTP2_DATA_FLAG_NO_COPY and writev); the answer is the byte count the server saw.
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "peer.hpp"

namespace weft_bench {
namespace {

constexpr int32_t kWindowBytes = 16 << 20;
constexpr uint32_t kMaxFrameBytes = 1 << 20;
constexpr std::size_t kOutputTurnBytes = 64 * 1024;  // gathered per turn before one send()

[[noreturn]] void fail(const char* what, long code) {
  std::fprintf(stderr, "weft-bench nghttp2: %s: %s\n", what,
               nghttp2_strerror(static_cast<int>(code)));
  std::abort();
}

// Our settings: room for many streams, 16 MiB windows (stream and connection), frames up to
// 1 MiB. With the defaults (64 KiB windows, 16 KiB frames) bulk would stall on credit.
void submit_settings(nghttp2_session* session) {
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1024},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindowBytes)},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, kMaxFrameBytes}};
  const int submitted = nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 3);
  if (submitted != 0) fail("nghttp2_submit_settings", submitted);
  nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, kWindowBytes);
}

// One HTTP/2 connection's I/O: the session's output buffered, one send and one recv a turn.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd), input_(256 * 1024) { set_nonblocking(fd); }
  ~Connection() {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Makes a server's or a client's session with the output callbacks (gathered here; DATA
  // frames that were not copied written straight from their buffer) and those `add` sets,
  // and submits our settings. Every callback gets this connection as its user data;
  // `owner` is for the side's own state.
  template <typename Add>
  void start(bool server, void* owner, Add add) {
    owner_ = owner;
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, on_send);
    nghttp2_session_callbacks_set_send_data_callback(callbacks, on_send_data);
    add(callbacks);
    const int made = server ? nghttp2_session_server_new(&session_, callbacks, this)
                            : nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    if (made != 0) fail("nghttp2_session_new", made);
    submit_settings(session_);
  }
  nghttp2_session* session() const { return session_; }
  void* owner() const { return owner_; }

  // One turn; false once the connection is over.
  bool turn() {
    const int sent = nghttp2_session_send(session_);
    if (sent != 0) fail("nghttp2_session_send", sent);
    if (!write_output()) return false;
    const bool want_write = pending() > 0 || nghttp2_session_want_write(session_) != 0;
    if (!want_write && nghttp2_session_want_read(session_) == 0) return false;
    pollfd wait{fd_, static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    ::poll(&wait, 1, -1);
    if ((wait.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return true;
    const ssize_t got = ::recv(fd_, input_.data(), input_.size(), 0);
    if (got < 0 && errno == EAGAIN) return true;
    if (got <= 0) return false;
    const ssize_t used = nghttp2_session_mem_recv(
        session_, reinterpret_cast<const uint8_t*>(input_.data()), static_cast<std::size_t>(got));
    if (used < 0) fail("nghttp2_session_mem_recv", used);
    return true;
  }

 private:
  std::size_t pending() const { return output_.size() - written_; }

  // One send() of what is buffered (nonblocking); false if the connection failed.
  bool write_output() {
    if (pending() == 0) return true;
    const ssize_t sent = ::send(fd_, output_.data() + written_, pending(), MSG_NOSIGNAL);
    if (sent < 0) return errno == EAGAIN;
    written_ += static_cast<std::size_t>(sent);
    if (written_ == output_.size()) {
      output_.clear();
      written_ = 0;
    }
    return true;
  }

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, std::size_t length, int,
                         void* self_pointer) {
    auto* self = static_cast<Connection*>(self_pointer);
    if (self->pending() >= kOutputTurnBytes) return NGHTTP2_ERR_WOULDBLOCK;
    self->output_.insert(self->output_.end(), data, data + length);
    return static_cast<ssize_t>(length);
  }

  // A whole DATA frame whose payload was not copied: what is buffered first, then the
  // 9-byte header and the payload in one writev (waiting for room as needed).
  static int on_send_data(nghttp2_session*, nghttp2_frame*, const uint8_t* header,
                          std::size_t length, nghttp2_data_source* source, void* self_pointer) {
    auto* self = static_cast<Connection*>(self_pointer);
    if (!send_all(self->fd_, self->output_.data() + self->written_, self->pending()))
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    self->output_.clear();
    self->written_ = 0;
    iovec parts[2] = {{const_cast<uint8_t*>(header), 9}, {source->ptr, length}};
    std::size_t left = 9 + length;
    while (left > 0) {
      const ssize_t sent = ::writev(self->fd_, parts, 2);
      if (sent < 0 && errno == EAGAIN) {
        pollfd wait{self->fd_, POLLOUT, 0};
        ::poll(&wait, 1, -1);
        continue;
      }
      if (sent <= 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
      left -= static_cast<std::size_t>(sent);
      auto unsent = static_cast<std::size_t>(sent);  // consumed from the parts in order
      for (iovec& part : parts) {
        const std::size_t used = std::min(part.iov_len, unsent);
        part.iov_base = static_cast<char*>(part.iov_base) + used;
        part.iov_len -= used;
        unsent -= used;
      }
    }
    return 0;
  }

  int fd_;
  nghttp2_session* session_ = nullptr;
  void* owner_ = nullptr;
  std::vector<char> input_;
  std::vector<uint8_t> output_;
  std::size_t written_ = 0;
};

// ---- server ----

// A request stream on the server: its body (echo) or its byte count (sink), then the answer.
struct ServerStream {
  bool sink = false;
  std::string body;  // the request's body, then the answer
  std::size_t answered = 0;
  std::uint64_t bytes = 0;
};

ServerStream* stream_of(nghttp2_session* session, int32_t stream_id) {
  return static_cast<ServerStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
}

ssize_t read_answer(nghttp2_session*, int32_t, uint8_t* buffer, std::size_t length, uint32_t* flags,
                    nghttp2_data_source* source, void*) {
  auto* stream = static_cast<ServerStream*>(source->ptr);
  const std::size_t count = std::min(length, stream->body.size() - stream->answered);
  std::memcpy(buffer, stream->body.data() + stream->answered, count);
  stream->answered += count;
  if (stream->answered == stream->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(count);
}

int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, new ServerStream);
  return 0;
}

int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
              std::size_t name_length, const uint8_t* value, std::size_t value_length, uint8_t,
              void*) {
  ServerStream* stream = stream_of(session, frame->hd.stream_id);
  const std::string_view header(reinterpret_cast<const char*>(name), name_length);
  if (stream != nullptr && header == ":path")
    stream->sink = std::string_view(reinterpret_cast<const char*>(value), value_length) == "/s";
  return 0;
}

int on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                  std::size_t length, void*) {
  ServerStream* stream = stream_of(session, stream_id);
  if (stream == nullptr) return 0;
  stream->bytes += length;
  if (!stream->sink) stream->body.append(reinterpret_cast<const char*>(data), length);
  return 0;
}

// The request is whole (END_STREAM): answer it.
int on_frame(nghttp2_session* session, const nghttp2_frame* frame, void*) {
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
  if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
  ServerStream* stream = stream_of(session, frame->hd.stream_id);
  if (stream == nullptr) return 0;
  if (stream->sink)
    stream->body.assign(reinterpret_cast<const char*>(&stream->bytes), sizeof stream->bytes);
  const nghttp2_nv status[] = {{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(":status")),
                                const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>("200")), 7, 3,
                                NGHTTP2_NV_FLAG_NONE}};
  nghttp2_data_provider answer{};
  answer.source.ptr = stream;
  answer.read_callback = read_answer;
  const int submitted = nghttp2_submit_response(session, frame->hd.stream_id, status, 1, &answer);
  if (submitted != 0) fail("nghttp2_submit_response", submitted);
  return 0;
}

int on_server_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t, void*) {
  delete stream_of(session, stream_id);
  nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
  return 0;
}

[[noreturn]] void serve(Pattern, int port_fd) {
  serve_connections(port_fd, [](int fd) {
    Connection connection(fd);
    connection.start(true, nullptr, [](nghttp2_session_callbacks* callbacks) {
      nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
      nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
      nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
      nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_server_stream_close);
    });
    while (connection.turn()) {
    }
  });
}

// ---- client ----

// The client's side of a run: echo requests (`sink` false) or one sink stream.
struct Client {
  explicit Client(int fd) : connection(fd) {}
  Connection connection;
  bool sink = false;
  Clock::time_point end;
  // Echo requests: when each stream was opened, how many are out.
  std::unordered_map<int32_t, Clock::time_point> sent_at;
  std::size_t outstanding = 0;
  std::size_t completed = 0;
  Latencies* latencies = nullptr;
  // The sink stream: its messages' size, the buffer they come from, the server's count.
  std::size_t message_bytes = 0;
  std::vector<char> data;
  std::uint64_t counted = 0;
  bool done = false;
};

// The client whose connection is `connection` (the callbacks' user data).
Client& client_of(void* connection) {
  return *static_cast<Client*>(static_cast<Connection*>(connection)->owner());
}

ssize_t read_request(nghttp2_session*, int32_t, uint8_t* buffer, std::size_t length,
                     uint32_t* flags, nghttp2_data_source*, void*) {
  const std::size_t count = std::min(length, kSmall);
  std::memset(buffer, 'h', count);
  if (count == kSmall) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(count);
}

// The sink stream's body: 64 B messages copied into DATA frames, 1 MiB ones written from
// the client's buffer (on_send_data); the body ends at the deadline.
ssize_t read_messages(nghttp2_session*, int32_t, uint8_t* buffer, std::size_t length,
                      uint32_t* flags, nghttp2_data_source*, void* connection) {
  Client* client = &client_of(connection);
  if (Clock::now() >= client->end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const std::size_t count = std::min(length, client->message_bytes);
  if (client->message_bytes > kSmall) {
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  } else {
    std::memcpy(buffer, client->data.data(), count);
  }
  return static_cast<ssize_t>(count);
}

// DATA frames as large as the peer and the windows allow (the library's default is 16 KiB).
ssize_t frame_length(nghttp2_session*, uint8_t, int32_t, int32_t connection_window,
                     int32_t stream_window, uint32_t max_frame_bytes, void*) {
  const auto windows = static_cast<std::size_t>(std::min(connection_window, stream_window));
  return static_cast<ssize_t>(std::min({windows, std::size_t{max_frame_bytes}, kBulk}));
}

void open_stream(Client& client) {
  auto nv = [](const char* name, const char* value) {
    return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name)),
                      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value)),
                      std::strlen(name), std::strlen(value), NGHTTP2_NV_FLAG_NONE};
  };
  const nghttp2_nv headers[] = {nv(":method", "POST"), nv(":scheme", "http"),
                                nv(":path", client.sink ? "/s" : "/e"), nv(":authority", "b")};
  nghttp2_data_provider body{};
  body.source.ptr = client.data.data();
  body.read_callback = client.sink ? read_messages : read_request;
  const int32_t stream_id =
      nghttp2_submit_request(client.connection.session(), nullptr, headers, 4, &body, nullptr);
  if (stream_id < 0) fail("nghttp2_submit_request", stream_id);
  if (!client.sink) {
    client.sent_at.emplace(stream_id, Clock::now());
    ++client.outstanding;
  }
}

int on_answer_chunk(nghttp2_session*, uint8_t, int32_t, const uint8_t* data, std::size_t length,
                    void* connection) {
  Client* client = &client_of(connection);
  if (client->sink && length == sizeof client->counted) std::memcpy(&client->counted, data, length);
  return 0;
}

int on_client_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error, void* connection) {
  Client* client = &client_of(connection);
  if (error != NGHTTP2_NO_ERROR) fail("stream reset", NGHTTP2_ERR_CALLBACK_FAILURE);
  if (client->sink) {
    client->done = true;
    return 0;
  }
  const auto sent = client->sent_at.find(stream_id);
  const auto now = Clock::now();
  client->latencies->us.push_back(us_between(sent->second, now));
  client->sent_at.erase(sent);
  --client->outstanding;
  ++client->completed;
  if (now < client->end) open_stream(*client);
  return 0;
}

void start_session(Client& client) {
  client.connection.start(false, &client, [](nghttp2_session_callbacks* callbacks) {
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_answer_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_client_stream_close);
    nghttp2_session_callbacks_set_data_source_read_length_callback(callbacks, frame_length);
  });
}

double unary(std::uint16_t port, std::size_t in_flight, double seconds, Latencies& latencies) {
  const int fd = connect_loopback(port);
  double rate = 0;
  {
    Client client(fd);
    client.latencies = &latencies;
    start_session(client);
    const auto start = Clock::now();
    client.end = after(seconds);
    for (std::size_t i = 0; i < in_flight; ++i)
      open_stream(client);
    while (client.outstanding > 0 && client.connection.turn()) {
    }
    rate = static_cast<double>(client.completed) / elapsed_s(start);
  }
  ::close(fd);
  return rate;
}

// One sink stream of `message_bytes` messages for `seconds`: bytes/s the server counted.
double sink(std::uint16_t port, std::size_t message_bytes, double seconds) {
  const int fd = connect_loopback(port);
  double rate = 0;
  {
    Client client(fd);
    client.sink = true;
    client.message_bytes = message_bytes;
    client.data.assign(message_bytes, 's');
    start_session(client);
    const auto start = Clock::now();
    client.end = after(seconds);
    open_stream(client);
    while (!client.done && client.connection.turn()) {
    }
    rate = static_cast<double>(client.counted) / elapsed_s(start);
  }
  ::close(fd);
  return rate;
}

double stream(std::uint16_t port, double seconds) {
  return sink(port, kSmall, seconds) / static_cast<double>(kSmall);
}

double bulk(std::uint16_t port, double seconds) {
  return sink(port, kBulk, seconds);
}

}  // namespace

const PeerDriver& nghttp2_driver() {
  static const PeerDriver driver{"nghttp2", "nghttp2", serve, unary, stream, bulk, nullptr};
  return driver;
}

}  // namespace weft_bench
