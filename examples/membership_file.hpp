// A membership file: the peers a running weft-node (or weft-load) should have, one
// NAME=HOST:PORT a line; '#' starts a comment, blanks around a line and blank lines are
// skipped. An operator edits it
// and sends SIGHUP: the process reads it again and makes its peer set equal to it, with
// EventNode::remove_peer for names that are gone and EventNode::add_peer for new ones (a
// name whose address changed is removed and added again: a new relationship).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cli_common.hpp"
#include "file_io.hpp"

namespace weft::cli {

// The peers listed in `path`, except `self`; nullopt (and `error` says why: the file, or
// the first bad line) when it cannot be read whole or lists a name twice. Whole means: a
// regular file of at most kMaxReadFileBytes read to its end without an error, ending with a
// newline unless empty. A last line without a newline is most likely being written (a
// `cat > members`, a full disk); a file rewritten in place can still be read cut at a line
// boundary, so replace it whole (write another file, rename it over this one). An empty
// file lists no members where `empty` is allowed (at start); on a reload it is refused as a
// file being written: there, listing no members takes a file of comments. A name listed
// twice, or also given with --peer (in `fixed`), is refused at start and on a reload alike
// (the node's peer list cannot hold a name twice).
enum class EmptyMembersFile : std::uint8_t { allowed, refused };
inline std::optional<std::vector<io::PeerAddress>> read_members(
    const std::string& path, const std::string& self, std::string& error,
    EmptyMembersFile empty = EmptyMembersFile::refused,
    const std::vector<io::PeerAddress>& fixed = {}) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const std::runtime_error& failure) {
    error = "cannot read " + std::string(failure.what());
    return std::nullopt;
  }
  if (text.empty() && empty == EmptyMembersFile::refused) {
    error = path + ": empty, as a file being written is (a file of comments lists no members)";
    return std::nullopt;
  }
  if (!text.empty() && text.back() != '\n') {
    error = path + ": the last line has no newline (a file being written?)";
    return std::nullopt;
  }
  std::vector<io::PeerAddress> members;
  std::map<std::string, int, std::less<>> line_of_name;  // each name read so far: its line
  std::set<std::string, std::less<>> fixed_names;
  for (const io::PeerAddress& peer : fixed)
    fixed_names.insert(peer.name);
  std::string_view rest = text;
  for (int number = 1; !rest.empty(); ++number) {
    const std::size_t end = rest.find('\n');
    std::string line(rest.substr(0, end));
    rest.remove_prefix(end + 1);
    line.erase(std::find(line.begin(), line.end(), '#'), line.end());
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!line.empty() && blank(line.back()))
      line.pop_back();
    line.erase(line.begin(), std::find_if_not(line.begin(), line.end(), blank));
    if (line.empty()) continue;
    const std::optional<io::PeerAddress> peer = parse_peer(line);
    if (!peer) {
      error = path + ":" + std::to_string(number) + ": expected NAME=HOST:PORT";
      return std::nullopt;
    }
    const std::string where = path + ":" + std::to_string(number) + ": " + peer->name;
    // Every name, this node's own too, once: a map, so that a file of 80 000 lines is read in
    // a moment on each SIGHUP.
    const auto [first, fresh] = line_of_name.emplace(peer->name, number);
    if (!fresh) {
      error = where + " is listed already (line " + std::to_string(first->second) + ")";
      return std::nullopt;
    }
    if (fixed_names.contains(peer->name)) {
      error = where + " is given with --peer already";
      return std::nullopt;
    }
    if (peer->name != self) members.push_back(*peer);
  }
  return members;
}

// Whether `host` resolves to an IPv4 address, by the rule EventNode::add_peer and start()
// apply (io::host_resolves: "127.1" and "010.0.0.1" do not, though getaddrinfo takes them).
inline bool resolvable(const std::string& host) {
  return io::host_resolves(host);
}
// How the functions below look a host up: the dotted quad it resolves to, or nullopt
// (io::resolved_address, unless the caller wants the lookup done otherwise: weft-node's can
// be cut short by a stop signal). The node is handed that address, so it never asks a name
// server about the host a second time.
using HostLookup = std::function<std::optional<std::string>(const std::string&)>;
inline std::optional<std::string> address_of(const std::string& host) {
  return io::resolved_address(host);
}

struct MemberChange {
  std::string name;
  bool added = false;  // else removed
  Errc result = Errc::ok;
};

// Makes `node`'s peers those of `wanted`; `current` (the peers it has, kept by the caller)
// follows. Removals come first, so a name whose address changed is a new relationship. An
// entry whose host does not resolve changes nothing (its change is reported with
// invalid_argument): a peer moved to a mistyped or unresolvable host keeps its old
// relationship rather than being removed and not added. A peer whose removal fails
// (queue_full) stays in `current`, so the next reload tries again.
inline std::vector<MemberChange> apply_members(io::EventNode& node,
                                               std::vector<io::PeerAddress>& current,
                                               const std::vector<io::PeerAddress>& wanted,
                                               const HostLookup& lookup = address_of) {
  const auto same = [](const io::PeerAddress& a, const io::PeerAddress& b) {
    return a.name == b.name && a.host == b.host && a.port == b.port;
  };
  const auto listed = [&](const std::vector<io::PeerAddress>& in, const io::PeerAddress& peer) {
    return std::any_of(in.begin(), in.end(), [&](const auto& p) { return same(p, peer); });
  };
  std::vector<MemberChange> changes;
  // What is new, looked up (once) before anything is removed: the addresses of those that
  // resolve, by name, and the names of those that do not.
  std::map<std::string, std::string> addresses;
  std::vector<std::string> unresolved;
  for (const io::PeerAddress& peer : wanted) {
    if (listed(current, peer)) continue;
    if (std::optional<std::string> address = lookup(peer.host)) {
      addresses[peer.name] = std::move(*address);
      continue;
    }
    unresolved.push_back(peer.name);
    changes.push_back({peer.name, true, Errc::invalid_argument});
  }
  const auto held_back = [&](const std::string& name) {
    return std::find(unresolved.begin(), unresolved.end(), name) != unresolved.end();
  };
  for (auto it = current.begin(); it != current.end();) {
    if (listed(wanted, *it) || held_back(it->name)) {
      ++it;
      continue;
    }
    const Errc removed = node.remove_peer(it->name);
    changes.push_back({it->name, false, removed});
    if (removed == Errc::ok || removed == Errc::unknown_peer) {
      it = current.erase(it);
    } else {
      ++it;
    }
  }
  for (const io::PeerAddress& peer : wanted) {
    if (listed(current, peer) || held_back(peer.name)) continue;
    if (std::any_of(current.begin(), current.end(),
                    [&](const io::PeerAddress& p) { return p.name == peer.name; })) {
      continue;  // its old entry could not be removed: the next reload tries again
    }
    io::PeerAddress dialed = peer;  // the address looked up above: no second lookup
    dialed.host = addresses.at(peer.name);
    const Errc added = node.add_peer(dialed);
    changes.push_back({peer.name, true, added});
    if (added == Errc::ok) current.push_back(peer);  // as the file has it
  }
  return changes;
}

// The members file at start: its peers join `options`' list and address book (and
// `current`, the caller's record of them). False (and `error`) when it cannot be read.
// With `held_back`, an entry whose host does not resolve is not added but put there, as a
// reload holds such an entry back (apply_members): the node starts without it, and a later
// reload adds it once it resolves (it is not in `current`). Without, every entry is added
// (and one that does not resolve fails the node's start()).
inline bool start_members(const std::string& path, io::EventNodeOptions& options,
                          std::vector<io::PeerAddress>& current, std::string& error,
                          std::vector<io::PeerAddress>* held_back = nullptr,
                          const HostLookup& lookup = address_of) {
  // options.addresses holds the command line's --peer entries so far.
  const auto listed =
      read_members(path, options.config.name, error, EmptyMembersFile::allowed, options.addresses);
  if (!listed) return false;
  for (const io::PeerAddress& peer : *listed) {
    io::PeerAddress dialed = peer;
    if (held_back != nullptr) {
      std::optional<std::string> address = lookup(peer.host);
      if (!address) {
        held_back->push_back(peer);
        continue;
      }
      dialed.host = std::move(*address);  // start() reads it without a second lookup
    }
    options.config.peers.push_back(peer.name);
    options.addresses.push_back(std::move(dialed));
    current.push_back(peer);  // as the file has it
  }
  return true;
}

// On SIGHUP: `node`'s peers become `fixed` (the command line's) and the file's; `current`
// follows. nullopt (and `error`; nothing changed) when the file cannot be read.
inline std::optional<std::vector<MemberChange>> reload_members(
    io::EventNode& node, const std::string& path, const std::string& self,
    const std::vector<io::PeerAddress>& fixed, std::vector<io::PeerAddress>& current,
    std::string& error, const HostLookup& lookup = address_of) {
  auto wanted = read_members(path, self, error, EmptyMembersFile::refused, fixed);
  if (!wanted) return std::nullopt;
  wanted->insert(wanted->end(), fixed.begin(), fixed.end());
  return apply_members(node, current, *wanted, lookup);
}

}  // namespace weft::cli
