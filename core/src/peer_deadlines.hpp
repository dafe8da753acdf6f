// The next deadline of each of a node's connections, kept so that the node's own next
// deadline and its timer cost what changed, not what it has: a node with a thousand peers,
// most of them idle (NodeConfig::connect_on_demand), used to ask every connection at every
// input. A connection's deadline changes only when something calls into it, so the node marks
// each connection it calls into, and only the marked ones are asked again. Internal to core/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "weft/events.hpp"
#include "weft/time.hpp"

namespace weft::detail {

class PeerDeadlines {
 public:
  // A new peer (ids are dense, 0, 1, 2...): marked, its deadline unknown.
  void add_peer() {
    known_.push_back(kNever);
    marked_flag_.push_back(true);
    marked_.push_back(static_cast<PeerId>(known_.size() - 1));
  }
  // Something called into `peer`'s connection: ask it again before the next use.
  void mark(PeerId peer) {
    if (marked_flag_[peer]) return;
    marked_flag_[peer] = true;
    marked_.push_back(peer);
  }
  // Asks every marked peer its deadline (`deadline_of(peer)`).
  template <typename DeadlineOf>
  void refresh(DeadlineOf deadline_of) {
    for (const PeerId peer : marked_) {
      marked_flag_[peer] = false;
      const TimeNs deadline = deadline_of(peer);
      if (deadline == known_[peer]) continue;
      if (known_[peer] != kNever && deadline != kNever) {
        // Moved: the set's node is reused, so a busy connection, whose deadline moves on
        // nearly every turn, costs no allocation for it.
        auto entry = by_deadline_.extract({known_[peer], peer});
        entry.value() = {deadline, peer};
        by_deadline_.insert(std::move(entry));
      } else if (known_[peer] != kNever) {
        by_deadline_.erase({known_[peer], peer});
      } else {
        by_deadline_.insert({deadline, peer});
      }
      known_[peer] = deadline;
    }
    marked_.clear();
  }
  // Whether every peer not marked has the deadline it was last asked (`deadline_of(peer)`):
  // the check that the node marked every connection it called into.
  template <typename DeadlineOf>
  bool consistent(DeadlineOf deadline_of) const {
    for (PeerId peer = 0; peer < known_.size(); ++peer) {
      if (!marked_flag_[peer] && known_[peer] != deadline_of(peer)) return false;
    }
    return true;
  }
  // After refresh: the earliest deadline of all peers.
  TimeNs earliest() const { return by_deadline_.empty() ? kNever : by_deadline_.begin()->first; }
  // After refresh: the peers whose deadline is at or before `now_ns`, in id order (the order
  // the node serves them in, whatever their deadlines).
  std::vector<PeerId> due(TimeNs now_ns) const {
    std::vector<PeerId> peers;
    for (auto it = by_deadline_.begin(); it != by_deadline_.end() && it->first <= now_ns; ++it)
      peers.push_back(it->second);
    std::sort(peers.begin(), peers.end());
    return peers;
  }

 private:
  std::vector<TimeNs> known_;  // per peer: its deadline when last asked
  std::vector<bool> marked_flag_;
  std::vector<PeerId> marked_;
  std::set<std::pair<TimeNs, PeerId>> by_deadline_;  // the peers with a deadline
};

}  // namespace weft::detail
