// The checker's `objects` rule (docs/CHAOS.md): the object streams the drivers opened, the
// objects they posted and saw complete, matched with the objects the nodes say their
// endpoint delivered. Fed record by record (a long run's files do not stay in memory), then
// judged at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "checker_faults.hpp"
#include "jsonl.hpp"

namespace weft::chaos {

class ObjectRules {
 public:
  using Violate = std::function<void(std::string_view rule, const std::string& what)>;
  using Count = std::function<void(const std::string& what, std::int64_t by)>;

  // A driver's record, in its file's order: the invoke of an "objects" operation opens a
  // stream; later records of that operation (obj_*, its end) go to it; others are ignored.
  void driver_record(const Record& r);
  // A node's record, in its file's order; `incarnation` is the number of its start lines so
  // far (1 for the first process).
  void node_record(std::string_view node, int incarnation, const Record& r);
  // `node` started again (a new incarnation) at `t_ns`.
  void restart(std::string_view node, std::int64_t t_ns);
  // Judges everything fed so far.
  void check(const std::map<std::int64_t, FaultSpan>& faults, const Violate& violate,
             const Count& count);

 private:
  struct Post {
    std::string source;
    std::int64_t bytes = 0;
    std::int64_t offset = 0;
    std::string digest;
    int times = 0;
  };
  struct Event {       // a completion, stop, refusal or the end, in the driver's order
    std::string what;  // "done", "stop", "stopped", "refused", "end", "stray"
    std::int64_t seq = 0;
    std::string error;   // its error, or a stop's reason
    std::string result;  // what stop() returned
    std::string message;
    std::int64_t t_ns = 0;
  };
  struct Stream {
    std::string proc;
    std::int64_t op = 0;
    std::string target;
    std::string finish;
    std::int64_t objects = 0;
    std::int64_t invoke_ns = 0;
    std::string fin_result;
    std::map<std::int64_t, Post> posts;
    std::vector<Event> events;
  };
  struct Delivery {
    std::string node;
    int incarnation = 0;
    std::string peer;
    std::string stream;
    std::int64_t seq = 0;
    std::int64_t bytes = 0;
    std::string digest;
  };

  std::string expected_digest(const Stream& stream, std::int64_t seq, const Post& post);
  void check_stream(const std::string& name, const Stream& stream,
                    const std::map<std::int64_t, FaultSpan>& faults, const Violate& violate,
                    const Count& count);
  bool restarted(const std::string& node, std::int64_t from_ns, std::int64_t to_ns) const;

  std::map<std::string, Stream> streams_;  // by "DRIVER/OP", the name objects carry
  std::vector<Delivery> deliveries_;
  // (stream, seq) -> the deliveries of that object (indexes into deliveries_)
  std::map<std::pair<std::string, std::int64_t>, std::vector<std::size_t>> delivered_;
  std::map<std::string, std::vector<std::int64_t>> restarts_;
  // (node, peer) -> when the node saw its connection to the peer go down
  std::map<std::pair<std::string, std::string>, std::vector<std::int64_t>> downs_;
  std::map<std::string, std::vector<std::uint8_t>> files_;  // each driver's scratch file
};

}  // namespace weft::chaos
