// What weft-node and weft-call share about objects: the endpoint's name, safe file names
// from object names, and the sink that verifies each object's xxh3-64 checksum (and stores
// it in a directory when asked).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cli_common.hpp"
#include "weft/io/event_node.hpp"

namespace weft::cli {

// The object endpoint weft-node serves.
inline constexpr std::string_view kObjectEndpoint = "objects";

// A file name for an object name, one to one (two names never share a file): letters,
// digits, '-', '_' and '.' kept, except a '.' in front; any other byte as '%' and two
// upper-case hex digits; the empty name as "%". So no file name starts with '.', which
// file_sink's partial files do. A name whose file name would pass kMaxFileNameBytes keeps
// the start of it, then "%%" and the xxh3-64 of the whole name (16 hex digits).
inline constexpr std::size_t kMaxFileNameBytes = 200;
inline std::string file_name_for(std::string_view name) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : name) {
    const bool kept = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || (c == '.' && !out.empty());
    if (kept) {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += {'%', kHex[byte >> 4], kHex[byte & 0xf]};
    }
  }
  if (name.empty()) return "%";
  if (out.size() <= kMaxFileNameBytes) return out;
  // "%%" never comes out of the escaping above, so these names never equal a shorter one's.
  DataChecksum whole;
  whole.update(as_bytes(name));
  return out.substr(0, kMaxFileNameBytes - 18) + "%%" + whole.hex();
}

// Removes from `dir` the partial files io::file_sink leaves when its process dies while it
// writes (`.NAME.partial-K`), for a node that is the only writer of `dir` to call before it
// starts. Returns how many it removed; nothing else in `dir` is touched.
inline std::size_t remove_stale_partials(const std::string& dir) {
  std::size_t removed = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const std::size_t mark = name.rfind(".partial-");
    if (name.front() != '.' || mark == std::string::npos || mark == 0) continue;
    const std::string_view number = std::string_view(name).substr(mark + 9);
    if (number.empty() || number.find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    if (std::filesystem::remove(entry.path(), error)) ++removed;
  }
  return removed;
}

// A sink that checks the object against the xxh3-64 its header carries (if it carries one)
// before the object finishes, refusing it with bad_payload on a mismatch, and writes it to
// `dir` when given (through io::file_sink, so only whole, verified objects appear there).
// `report` gets one line per object at its end (peer-chosen text in it escaped: printable).
// `on_whole`, when given, gets the data's size and xxh3-64 once the object is whole and verified,
// before the object finishes: the sender's acknowledgement cannot leave before it returns, so what
// it records (the fault harness's delivery records) is there for every object the sender sees
// succeed.
inline io::ObjectSink verifying_sink(
    const io::IncomingObject& object, io::ObjectReader reader,
    const std::optional<std::string>& dir, std::function<void(const std::string&)> report,
    std::function<void(std::uint64_t bytes, const std::string& digest)> on_whole = {}) {
  auto checksum = std::make_shared<DataChecksum>();
  auto bytes = std::make_shared<std::uint64_t>(0);
  std::optional<io::ObjectSink> file;
  if (dir) file = io::file_sink(*dir + "/" + file_name_for(object.header.name), reader);
  const ObjectAttrs& attrs = object.header.attrs;
  const std::optional<std::string> expected = attrs.checksum_type == DataChecksum::kType
                                                  ? std::optional(attrs.checksum_value)
                                                  : std::nullopt;
  io::ObjectSink sink;
  sink.on_data = [checksum, bytes, file, expected, on_whole = std::move(on_whole)](
                     io::ObjectReader& current, Bytes chunk, bool last) {
    checksum->update(chunk);
    *bytes += chunk.size();
    if (last && expected && checksum->hex() != *expected) {
      current.refuse(Errc::bad_payload,
                     "xxh3-64 " + checksum->hex() + ", the header says " + *expected);
      return;
    }
    if (file && file->on_data) file->on_data(current, chunk, last);
    if (last && on_whole && !current.ended()) on_whole(*bytes, checksum->hex());
  };
  sink.on_end = [checksum, bytes, file, expected, object, report = std::move(report)](
                    io::ObjectReader& current, Errc result, std::string_view message) {
    if (file && file->on_end) file->on_end(current, result, message);
    // The name and the reason come from the peer: escaped (printable), one line whatever
    // they hold.
    std::string line = "object " + object.peer + "#" + std::to_string(object.object) + " " +
                       printable(object.header.name) + " " + std::to_string(*bytes) + " bytes " +
                       std::string(errc_name(result));
    if (result == Errc::ok) line += expected ? " (xxh3-64 verified)" : " (no checksum)";
    if (result != Errc::ok && !message.empty()) line += ": " + printable(message);
    report(line);
  };
  return sink;
}

}  // namespace weft::cli
