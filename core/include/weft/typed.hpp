// Typed requests and streams: payloads are msgpack-c structs (MSGPACK_DEFINE), encoded and
// decoded here on top of the byte-level calls of PeerConnection.
//
// These helpers sit above the state machine: they hold reusable buffers and object pools,
// and TypedHandler calls the application's function (the core itself never calls out).
// Decoding reuses objects from a pool, so steady traffic allocates no new T. A payload that
// does not decode into the expected type never crashes anything: the caller gets
// Errc::bad_payload (from the serving side, for requests), and a typed stream reader fails
// the stream with bad_payload.
//
// Not thread-safe: use each object from the thread that drives its node.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "weft/node.hpp"

namespace weft {

// ---- pools ------------------------------------------------------------------------------

// Keeps up to `max_idle` objects of T for reuse. Pooled<T> hands one out and gives it back
// when it goes out of scope; a pool may die before its objects (they are then deleted).
template <typename T>
class ObjectPool {
  struct State {
    std::vector<std::unique_ptr<T>> idle;
    std::size_t max_idle = 64;
    std::size_t created = 0;
  };

 public:
  struct Recycle {
    std::weak_ptr<State> state;
    void operator()(T* object) const {
      std::unique_ptr<T> owned(object);
      if (auto pool = state.lock(); pool && pool->idle.size() < pool->max_idle) {
        pool->idle.push_back(std::move(owned));
      }
    }
  };
  using Pooled = std::unique_ptr<T, Recycle>;

  explicit ObjectPool(std::size_t max_idle = 64) : state_(std::make_shared<State>()) {
    state_->max_idle = max_idle;
  }

  // An object from the pool (its old content is still there: decoding overwrites it), or
  // a new one when the pool is empty.
  Pooled acquire() {
    std::unique_ptr<T> object;
    if (!state_->idle.empty()) {
      object = std::move(state_->idle.back());
      state_->idle.pop_back();
    } else {
      object = std::make_unique<T>();
      ++state_->created;
    }
    return Pooled(object.release(), Recycle{state_});
  }

  std::size_t idle() const { return state_->idle.size(); }
  // Objects ever created by this pool (a steady load keeps this flat).
  std::size_t created() const { return state_->created; }

 private:
  std::shared_ptr<State> state_;
};

// ---- encoding ---------------------------------------------------------------------------

// Packs values into one reused buffer and unpacks bytes into existing objects.
// What a payload may make the decoder allocate. msgpack-c sizes a container from its
// header before it reads the elements, so five bytes (`dd 10 00 00 00`, an array of 2^28)
// could reserve gigabytes, and nested headers each announcing as many elements as the
// payload has bytes could reserve that many times the payload. Every count is held to these
// limits, and before msgpack-c sees the bytes one pass (msgpack_shape_error) checks that
// every element announced is there (each takes at least a byte, each map pair two), so
// decoding allocates in proportion to the bytes received, themselves bounded by
// limits.max_message_bytes.
struct UnpackLimits {
  std::size_t max_container_elements = 1 << 20;  // elements of an array, pairs of a map
  std::size_t max_bytes = 64 << 20;              // a str, bin or ext value
  std::size_t max_depth = 64;                    // nesting of arrays and maps
};

// Walks the one msgpack value at the start of `bytes` without building it, allocating
// nothing. Returns why it cannot be whole: "insufficient bytes" (its bytes, or the elements
// its containers announce, run past the end), "array size overflow" / "map size overflow"
// (a container announces more than max_container_elements elements or pairs), "parse error"
// (the byte 0xc1, which msgpack never uses); nullopt when every element announced is
// there. Bytes after the value are not looked at. Types, depth and value sizes are left to
// msgpack-c, which checks them as it builds the value.
std::optional<std::string> msgpack_shape_error(Bytes bytes, std::size_t max_container_elements);

class MsgpackCodec {
 public:
  explicit MsgpackCodec(UnpackLimits limits = {}) : limits_(limits) {}

  // Encodes `value`. The view returned is into this codec's buffer: valid until the next
  // pack() on this codec (or its destruction). Copy it, or send it, before packing again.
  template <typename T>
  Bytes pack(const T& value) {
    buffer_.clear();
    msgpack::pack(buffer_, value);
    return {reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size()};
  }

  // Decodes `bytes` (exactly one msgpack value) into `out`. On failure (including a count
  // over the UnpackLimits or the payload's length, and bytes after the value) returns false
  // and describes why in `error`; `out` may then be partly overwritten.
  template <typename T>
  bool unpack(Bytes bytes, T& out, std::string& error) {
    try {
      zone_.clear();
      std::size_t offset = 0;
      const std::size_t size = bytes.size();
      const std::size_t elements = std::min(limits_.max_container_elements, size);
      if (std::optional<std::string> shape = msgpack_shape_error(bytes, elements)) {
        error = std::move(*shape);
        return false;
      }
      const std::size_t value_bytes = std::min(limits_.max_bytes, size);
      const msgpack::unpack_limit limit(elements, std::min(elements, size / 2), value_bytes,
                                        value_bytes, value_bytes, limits_.max_depth);
      const msgpack::object object =
          msgpack::unpack(zone_, reinterpret_cast<const char*>(bytes.data()), size, offset, nullptr,
                          nullptr, limit);
      if (offset != bytes.size()) {
        error = std::to_string(bytes.size() - offset) + " bytes after the value";
        return false;
      }
      object.convert(out);
      return true;
    } catch (const std::exception& failure) {
      error = failure.what();
      zone_.clear();  // what a failed value reserved is not kept until the next unpack
      return false;
    }
  }

 private:
  UnpackLimits limits_;
  msgpack::sbuffer buffer_;
  msgpack::zone zone_;
};

// A decoded value, or why there is none.
template <typename T>
struct Typed {
  Errc error = Errc::ok;
  typename ObjectPool<T>::Pooled value;  // set when error is ok
  std::string message;                   // the remote error text, or why decoding failed
};

// ---- requests ---------------------------------------------------------------------------

// The calling side of a typed request: Req out, Resp back.
template <typename Req, typename Resp>
class TypedCall {
 public:
  explicit TypedCall(std::uint16_t handler, std::string route = {}, UnpackLimits limits = {})
      : handler_(handler), route_(std::move(route)), codec_(limits) {}

  // Encodes `request` and sends it; errors as PeerConnection::request.
  Call call(PeerConnection peer, TimeNs now_ns, const Req& request, std::int64_t timeout_ms = 0) {
    return peer.request(now_ns, RequestArgs{handler_, route_, codec_.pack(request), timeout_ms});
  }

  // Decodes the RequestDone of a call into a pooled Resp. error: the call's result, or
  // bad_payload when the response does not decode (then `message` says why).
  Typed<Resp> result(const event::RequestDone& done) {
    Typed<Resp> out;
    if (done.result != Errc::ok) {
      out.error = done.result;
      out.message.assign(done.payload.begin(), done.payload.end());
      return out;
    }
    out.value = pool_.acquire();
    if (!codec_.unpack(done.payload, *out.value, out.message)) {
      out.error = Errc::bad_payload;
      out.value.reset();
    }
    return out;
  }

  const ObjectPool<Resp>& pool() const { return pool_; }

 private:
  std::uint16_t handler_;
  std::string route_;
  MsgpackCodec codec_;
  ObjectPool<Resp> pool_;
};

// What a typed handler function reports: ok, or an error code and message for the caller.
struct HandlerStatus {
  Errc error = Errc::ok;
  std::string message;
};

// The serving side of a typed request. The function fills a Resp that comes from a pool
// and is reused for the next call, so a handler must not keep references into it. A
// handler whose responses are shared objects it keeps (a cached answer, say) uses the
// shared form instead: its objects are encoded and never recycled.
template <typename Req, typename Resp>
class TypedHandler {
 public:
  using Fn = std::function<HandlerStatus(const Req&, Resp&)>;
  using SharedFn = std::function<HandlerStatus(const Req&, std::shared_ptr<const Resp>&)>;

  TypedHandler(std::uint16_t handler, std::string route, Fn fn, UnpackLimits limits = {})
      : handler_(handler), route_(std::move(route)), fn_(std::move(fn)), codec_(limits) {}
  TypedHandler(std::uint16_t handler, std::string route, SharedFn fn, UnpackLimits limits = {})
      : handler_(handler), route_(std::move(route)), shared_fn_(std::move(fn)), codec_(limits) {}

  // Registers (handler, route) with `node`.
  Errc register_with(Node& node) const { return node.register_handler(handler_, route_); }
  // Whether `request` is for this handler.
  bool matches(const event::RequestReceived& request) const {
    return request.handler == handler_ && request.route == route_id(route_);
  }

  // Decodes the request, runs the function, and answers. A request that does not decode
  // (including one with bytes after its value) is answered bad_payload without calling the
  // function. A shared function that reports ok but leaves the response null answers
  // remote_error with an empty message. Returns what respond returned.
  Errc serve(PeerConnection peer, TimeNs now_ns, const event::RequestReceived& request) {
    auto decoded = requests_.acquire();
    std::string why;
    if (!codec_.unpack(request.payload, *decoded, why)) {
      return peer.respond_error(now_ns, request.id, Errc::bad_payload,
                                "request does not decode: " + why);
    }
    if (shared_fn_) {
      std::shared_ptr<const Resp> shared;
      const HandlerStatus status = shared_fn_(*decoded, shared);
      if (status.error != Errc::ok || !shared) return fail(peer, now_ns, request, status);
      return peer.respond(now_ns, request.id, codec_.pack(*shared));
    }
    auto response = responses_.acquire();
    const HandlerStatus status = fn_(*decoded, *response);
    if (status.error != Errc::ok) return fail(peer, now_ns, request, status);
    return peer.respond(now_ns, request.id, codec_.pack(*response));
  }

  const ObjectPool<Req>& request_pool() const { return requests_; }
  const ObjectPool<Resp>& response_pool() const { return responses_; }

 private:
  Errc fail(PeerConnection peer, TimeNs now_ns, const event::RequestReceived& request,
            const HandlerStatus& status) {
    const Errc code = status.error == Errc::ok ? Errc::remote_error : status.error;
    return peer.respond_error(now_ns, request.id, code, status.message);
  }

  std::uint16_t handler_;
  std::string route_;
  Fn fn_;
  SharedFn shared_fn_;
  MsgpackCodec codec_;
  ObjectPool<Req> requests_;
  ObjectPool<Resp> responses_;
};

// ---- streams ----------------------------------------------------------------------------

// A typed stream: an optional initial Payload, In messages from the opener to the handler,
// Out messages back. Both sides use the same object type (each side its own instance).
template <typename Payload, typename In, typename Out>
class TypedStream {
 public:
  explicit TypedStream(std::uint16_t handler, std::string route = {}, UnpackLimits limits = {})
      : handler_(handler), route_(std::move(route)), codec_(limits) {}

  Errc register_with(Node& node, StreamWindow window = {}) const {
    return node.register_stream_handler(handler_, route_, window);
  }
  bool matches(const event::StreamOpened& opened) const {
    return opened.handler == handler_ && opened.route == route_id(route_);
  }

  // Opener: opens the stream, with `payload` as the initial payload when given.
  OpenedStream open(PeerConnection peer, TimeNs now_ns, const Payload* payload, bool has_input,
                    StreamWindow window = {}, std::int64_t timeout_ms = 0) {
    StreamArgs args;
    args.handler = handler_;
    args.route = route_;
    args.has_payload = payload != nullptr;
    if (payload != nullptr) args.payload = codec_.pack(*payload);
    args.has_input = has_input;
    args.window = window;
    args.timeout_ms = timeout_ms;
    return peer.open_stream(now_ns, args);
  }

  // Handler: the initial payload of a stream it was opened with. Only decodes: a payload
  // that is absent or does not decode gives bad_payload and leaves the stream open, for the
  // handler to fail (or serve) as it sees fit.
  Typed<Payload> payload(const event::StreamOpened& opened) {
    return decode(payloads_, opened.payload);
  }

  // Opener writes In; handler writes Out. Errors as PeerConnection::stream_write.
  Errc write_in(PeerConnection peer, TimeNs now_ns, StreamId id, const In& message) {
    return peer.stream_write(now_ns, id, codec_.pack(message));
  }
  Errc write_out(PeerConnection peer, TimeNs now_ns, StreamId id, const Out& message) {
    return peer.stream_write(now_ns, id, codec_.pack(message));
  }

  // Handler reads In; opener reads Out. nullopt when no message waits. A message that does
  // not decode fails the stream with bad_payload and is reported as such.
  std::optional<Typed<In>> read_in(PeerConnection peer, TimeNs now_ns, StreamId id) {
    return read(ins_, peer, now_ns, id);
  }
  std::optional<Typed<Out>> read_out(PeerConnection peer, TimeNs now_ns, StreamId id) {
    return read(outs_, peer, now_ns, id);
  }

 private:
  template <typename T>
  Typed<T> decode(ObjectPool<T>& pool, Bytes bytes) {
    Typed<T> out;
    out.value = pool.acquire();
    if (!codec_.unpack(bytes, *out.value, out.message)) {
      out.error = Errc::bad_payload;
      out.value.reset();
    }
    return out;
  }

  template <typename T>
  std::optional<Typed<T>> read(ObjectPool<T>& pool, PeerConnection peer, TimeNs now_ns,
                               StreamId id) {
    const std::optional<Bytes> bytes = peer.stream_peek(id);
    if (!bytes) return std::nullopt;
    Typed<T> out = decode(pool, *bytes);
    if (out.error != Errc::ok) {
      // Failed with the message still unread: consumed first, the last message of a stream
      // whose halves both ended would complete it as ok before the failure could land.
      peer.stream_fail(now_ns, id, Errc::bad_payload, "message does not decode: " + out.message);
    } else {
      peer.stream_consume(now_ns, id);
    }
    return out;
  }

  std::uint16_t handler_;
  std::string route_;
  MsgpackCodec codec_;
  ObjectPool<Payload> payloads_;
  ObjectPool<In> ins_;
  ObjectPool<Out> outs_;
};

}  // namespace weft
