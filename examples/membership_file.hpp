// A membership file: the peers a running weft-node (or weft-load) should have, one
// NAME=HOST:PORT a line; '#' starts a comment, blanks around a line and blank lines are
// skipped. An operator edits it
// and sends SIGHUP: the process reads it again and makes its peer set equal to it, with
// EventNode::remove_peer for names that are gone and EventNode::add_peer for new ones (a
// name whose address changed is removed and added again: a new relationship).
#pragma once

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cli_common.hpp"

namespace weft::cli {

// The peers listed in `path`, except `self`; nullopt (and `error` says why: the file, or
// the first bad line) when it cannot be read whole.
inline std::optional<std::vector<io::PeerAddress>> read_members(const std::string& path,
                                                                const std::string& self,
                                                                std::string& error) {
  std::ifstream file(path);
  if (!file) {
    error = "cannot read " + path;
    return std::nullopt;
  }
  std::vector<io::PeerAddress> members;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
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
    if (peer->name != self) members.push_back(*peer);
  }
  return members;
}

struct MemberChange {
  std::string name;
  bool added = false;  // else removed
  Errc result = Errc::ok;
};

// Makes `node`'s peers those of `wanted`; `current` (the peers it has, kept by the caller)
// follows. Removals come first, so a name whose address changed is a new relationship.
inline std::vector<MemberChange> apply_members(io::EventNode& node,
                                               std::vector<io::PeerAddress>& current,
                                               const std::vector<io::PeerAddress>& wanted) {
  const auto same = [](const io::PeerAddress& a, const io::PeerAddress& b) {
    return a.name == b.name && a.host == b.host && a.port == b.port;
  };
  const auto listed = [&](const std::vector<io::PeerAddress>& in, const io::PeerAddress& peer) {
    return std::any_of(in.begin(), in.end(), [&](const auto& p) { return same(p, peer); });
  };
  std::vector<MemberChange> changes;
  for (auto it = current.begin(); it != current.end();) {
    if (listed(wanted, *it)) {
      ++it;
      continue;
    }
    changes.push_back({it->name, false, node.remove_peer(it->name)});
    it = current.erase(it);
  }
  for (const io::PeerAddress& peer : wanted) {
    if (listed(current, peer)) continue;
    const Errc added = node.add_peer(peer);
    changes.push_back({peer.name, true, added});
    if (added == Errc::ok) current.push_back(peer);
  }
  return changes;
}

// The members file at start: its peers join `options`' list and address book (and
// `current`, the caller's record of them). False (and `error`) when it cannot be read.
inline bool start_members(const std::string& path, io::EventNodeOptions& options,
                          std::vector<io::PeerAddress>& current, std::string& error) {
  const auto listed = read_members(path, options.config.name, error);
  if (!listed) return false;
  for (const io::PeerAddress& peer : *listed) {
    options.config.peers.push_back(peer.name);
    options.addresses.push_back(peer);
    current.push_back(peer);
  }
  return true;
}

// On SIGHUP: `node`'s peers become `fixed` (the command line's) and the file's; `current`
// follows. nullopt (and `error`; nothing changed) when the file cannot be read.
inline std::optional<std::vector<MemberChange>> reload_members(
    io::EventNode& node, const std::string& path, const std::string& self,
    const std::vector<io::PeerAddress>& fixed, std::vector<io::PeerAddress>& current,
    std::string& error) {
  auto wanted = read_members(path, self, error);
  if (!wanted) return std::nullopt;
  wanted->insert(wanted->end(), fixed.begin(), fixed.end());
  return apply_members(node, current, *wanted);
}

}  // namespace weft::cli
