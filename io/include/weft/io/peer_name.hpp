// A peer's name as a request handler receives it (IncomingRequest::peer).
//
// Why not a std::string: a handler runs once per request, and a name longer than the
// string's inline buffer (15 bytes in libstdc++; "storage-node-017" is 16) would cost an
// allocation, a copy and a free for every request served. The node keeps one PeerName per
// peer and hands out copies of it, which share the bytes.
#pragma once

#include <compare>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace weft::io {

// An immutable, shared name. A value type: copies share one string, which lives as long as
// the last copy, so a PeerName may be kept and passed to any thread after the request (and
// after the peer was removed or the node destroyed). Copying costs one atomic increment;
// the bytes are never copied. A default-constructed PeerName is empty ("").
class PeerName {
 public:
  PeerName() = default;
  // Takes `name` (one allocation, here, for the shared string).
  explicit PeerName(std::string name)
      : name_(std::make_shared<const std::string>(std::move(name))) {}

  // The name's bytes, valid while this PeerName (or a copy of it) lives.
  std::string_view view() const { return name_ ? std::string_view(*name_) : std::string_view(); }
  operator std::string_view() const { return view(); }  // NOLINT: reads as the name it holds
  // A copy of the name, for code that wants a std::string of its own.
  std::string str() const { return std::string(view()); }
  bool empty() const { return view().empty(); }

  friend bool operator==(const PeerName& a, const PeerName& b) { return a.view() == b.view(); }
  friend bool operator==(const PeerName& a, std::string_view b) { return a.view() == b; }
  friend std::strong_ordering operator<=>(const PeerName& a, const PeerName& b) {
    return a.view() <=> b.view();
  }
  friend std::ostream& operator<<(std::ostream& out, const PeerName& name) {
    return out << name.view();
  }

 private:
  std::shared_ptr<const std::string> name_;
};

}  // namespace weft::io
