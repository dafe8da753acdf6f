#include "object_load.hpp"

#include <algorithm>

#include "../../examples/object_cli.hpp"
#include "payload.hpp"

namespace weft::chaos {

namespace {

int uniform(std::mt19937_64& random, int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(random);
}

// Where an object's data comes from, as the history names it.
enum class Source : std::uint8_t { none, memory, file, producer };
constexpr const char* kSourceNames[] = {"none", "memory", "file", "producer"};

}  // namespace

ObjectLoad::ObjectLoad(io::EventNode& node, std::string driver, History& history,
                       InFlight& in_flight)
    : node_(node), driver_(std::move(driver)), history_(history), in_flight_(in_flight) {
  // An unlinked file: nothing to clean up, whatever ends the process.
  scratch_ = std::tmpfile();
  if (scratch_ == nullptr) return;
  auto data = object_file(driver_);
  if (std::fwrite(data.data(), 1, data.size(), scratch_) == data.size() &&
      std::fflush(scratch_) == 0) {
    fd_ = ::fileno(scratch_);
    file_data_ = std::move(data);
  }
}

ObjectLoad::~ObjectLoad() {
  if (scratch_) std::fclose(scratch_);
}

JsonLine ObjectLoad::record(std::int64_t op, std::string_view event) const {
  JsonLine line;
  line.add("proc", driver_).add("op", op).add("ev", event);
  return line;
}

void ObjectLoad::start(std::int64_t op, const std::string& target, std::mt19937_64& random) {
  const int objects = uniform(random, 1, 8);
  const bool stop = uniform(random, 0, 3) == 0;  // a quarter end with stop, the rest with fin
  history_.write(record(op, "invoke")
                     .add("kind", "objects")
                     .add("target", target)
                     .add("timeout_ms", kObjectStreamTimeoutMs)
                     .add("objects", objects)
                     .add("finish", stop ? "stop" : "fin")
                     .add("stream", driver_ + "/" + std::to_string(op)));
  in_flight_.begin();
  io::ObjectStreamCallbacks callbacks;
  auto completed = std::make_shared<std::int64_t>(0);  // loop thread only
  callbacks.on_end = [this, op, completed](Errc error, std::string_view message) {
    history_.write(record(op, "end")
                       .add("error", errc_name(error))
                       .add("completed", *completed)
                       .add("message", message.substr(0, 200)));
    in_flight_.end();
  };
  // Objects without their own on_done complete here: none do, so this counts nothing but
  // says so if the adapter ever routes a completion to the wrong callback.
  callbacks.on_done = [this, op](const io::ObjectResult& result) {
    history_.write(record(op, "obj_stray").add("object", static_cast<std::int64_t>(result.object)));
  };
  io::ObjectStream stream =
      node_.open_object_stream(target, cli::kObjectEndpoint, std::move(callbacks));
  for (int seq = 1; seq <= objects; ++seq) {
    if (!post(op, stream, seq, completed, random)) break;
  }
  const auto now = Clock::now();
  timers_.emplace(now + std::chrono::milliseconds(kObjectStreamTimeoutMs), Timer{op, stream, true});
  if (stop) {
    // Stopped at once or after a while: from every object canceled to every one done.
    timers_.emplace(now + std::chrono::milliseconds(uniform(random, 0, 200)),
                    Timer{op, stream, false});
    ++planned_stops_;
  } else {
    history_.write(record(op, "obj_fin").add("result", errc_name(stream.fin())));
  }
}

bool ObjectLoad::post(std::int64_t op, io::ObjectStream& stream, std::int64_t seq,
                      const std::shared_ptr<std::int64_t>& completed, std::mt19937_64& random) {
  // Sizes: a quarter of the objects small, a fifth from the file and a fifth produced up to
  // 256 KiB, a sixth up to 1 MiB, one in twenty up to 3 MiB (about 250 KiB on average).
  const int roll = uniform(random, 0, 99);
  Source source = Source::memory;
  std::size_t size = 0;
  std::size_t offset = 0;
  if (roll < 15) {
    source = Source::none;
  } else if (roll < 40) {
    size = static_cast<std::size_t>(uniform(random, 0, 4096));
  } else if (roll < 60) {
    source = Source::file;
    size = static_cast<std::size_t>(uniform(random, 1, 256 << 10));
  } else if (roll < 80) {
    source = Source::producer;
    size = static_cast<std::size_t>(uniform(random, 0, 256 << 10));
  } else if (roll < 95) {
    size = static_cast<std::size_t>(uniform(random, 256 << 10, 1 << 20));
  } else {
    source = roll % 2 == 0 ? Source::file : Source::memory;
    size = static_cast<std::size_t>(uniform(random, 1 << 20, 3 << 20));
  }
  if (source == Source::file) {
    offset =
        static_cast<std::size_t>(uniform(random, 0, static_cast<int>(kObjectFileBytes - size)));
  }
  std::vector<std::uint8_t> data;
  if (source == Source::memory || source == Source::producer)
    data = object_data(driver_, op, seq, size);
  const std::span<const std::uint8_t> bytes =
      source == Source::file ? std::span<const std::uint8_t>(file_data_).subspan(offset, size)
                             : std::span<const std::uint8_t>(data);
  const std::string stream_name = driver_ + "/" + std::to_string(op);
  io::OutgoingObject object;
  object.header.name = stream_name + "/" + std::to_string(seq);
  // The stream and the object's place in it, for the receiving node's record: the core's
  // numbers are its own business, the checker matches by these.
  object.header.attrs.custom = {{"stream", stream_name}, {"seq", std::to_string(seq)}};
  object.header.attrs.checksum_type = DataChecksum::kType;
  object.header.attrs.checksum_value = digest(bytes);
  history_.write(record(op, "obj_post")
                     .add("seq", seq)
                     .add("name", object.header.name)
                     .add("source", kSourceNames[static_cast<int>(source)])
                     .add("bytes", static_cast<std::int64_t>(size))
                     .add("offset", static_cast<std::int64_t>(offset))
                     .add("digest", object.header.attrs.checksum_value));
  switch (source) {
    case Source::none:
      object.header.opcode = 1;  // a control object: header only
      break;
    case Source::memory:
      object.header.attrs.size = size;
      object.source = io::ObjectSource::memory(SharedBytes(std::move(data)));
      break;
    case Source::file:
      object.header.attrs.size = size;
      object.source = io::ObjectSource::file(fd_, offset, size);
      break;
    case Source::producer: {
      // Unsized: the receiver learns the end from the last chunk. Asked again from an
      // earlier offset after a reconnect, it gives the same bytes.
      auto shared = std::make_shared<const std::vector<std::uint8_t>>(std::move(data));
      object.source = io::ObjectSource::producer(
          std::nullopt, [shared](std::uint64_t from, std::span<std::uint8_t> room,
                                 std::size_t& written, bool& last) {
            if (from > shared->size()) return Errc::invalid_argument;
            written = std::min<std::size_t>(room.size(), shared->size() - from);
            std::copy_n(shared->begin() + static_cast<std::ptrdiff_t>(from), written, room.begin());
            last = from + written == shared->size();
            return Errc::ok;
          });
      break;
    }
  }
  object.on_done = [this, op, seq, completed](const io::ObjectResult& result) {
    ++*completed;
    history_.write(record(op, "obj_done")
                       .add("seq", seq)
                       .add("object", static_cast<std::int64_t>(result.object))
                       .add("error", errc_name(result.error))
                       .add("message", std::string_view(result.message).substr(0, 200)));
  };
  const Errc sent = stream.send(std::move(object));
  if (sent == Errc::ok) return true;
  // Never expected here (no limit is near): the checker reports it.
  history_.write(record(op, "obj_refused").add("seq", seq).add("error", errc_name(sent)));
  return false;
}

void ObjectLoad::stop_due() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Timer timer = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    if (!timer.deadline) {
      --planned_stops_;
    } else if (timer.stream.ended()) {
      continue;  // ended in time: nothing to do
    }
    // Recorded before: the stream's end (and its objects' completions) can come before
    // stop() returns.
    history_.write(
        record(timer.op, "obj_stop").add("reason", timer.deadline ? "deadline" : "planned"));
    history_.write(record(timer.op, "obj_stopped").add("result", errc_name(timer.stream.stop())));
  }
}

bool ObjectLoad::stops_pending() const {
  return planned_stops_ > 0;
}

}  // namespace weft::chaos
