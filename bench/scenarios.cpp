// weft-bench's scenarios: each runs weft, raw TCP and the peers asked for, one JSON line
// each, and fills the table.
#include "scenarios.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>

#include "peers/peer.hpp"
#include "raw_tcp.hpp"
#include "weft_side.hpp"
#include "wire_floor.hpp"

namespace weft_bench {
namespace {

// Runs `fn` with a client node connected to a server node in a child process; over TLS with
// `tls`.
// `scheduling`: both nodes' loop threads'.
template <typename Fn>
auto with_weft(const Options& options, Fn fn, std::size_t stream_queue_messages = 4096,
               const BenchTls* tls = nullptr,
               io::LoopScheduling scheduling = io::LoopScheduling::inherit) {
  return with_server(
      weft_serve_args(options.queue_kib, tls != nullptr ? &tls->server : nullptr, scheduling),
      options, [&](std::uint16_t port) {
        WeftClient client(port, options.queue_kib, stream_queue_messages,
                          tls != nullptr ? &tls->client : nullptr, scheduling);
        return fn(client);
      });
}

// With `batch`, the server process and the client's thread run under SCHED_BATCH.
template <typename Fn>
auto with_raw_tcp(const Options& options, Fn fn, bool batch = false) {
  if (!batch) return with_server({"raw_tcp"}, options, fn);
  return with_server({"raw_tcp", "--sched-batch"}, options,
                     [&](std::uint16_t port) { return on_batch_thread([&] { return fn(port); }); });
}

bool has_unary(const PeerDriver& peer) {
  return peer.unary != nullptr;
}
bool has_stream(const PeerDriver& peer) {
  return peer.stream != nullptr;
}
bool has_bulk(const PeerDriver& peer) {
  return peer.bulk != nullptr;
}
bool has_objects(const PeerDriver& peer) {
  return peer.objects != nullptr;
}

// `,"round":R` for a scenario of one phase, nothing when the run has a single round.
std::string round_fields(const Options& options, std::size_t round) {
  return options.rounds > 1 ? ",\"round\":" + std::to_string(round) : std::string();
}

// The measurements of one scenario in one round, each filling its own result, run in the
// round's order (Options::rounds): as added in an even round, in reverse in an odd one.
class Phases {
 public:
  Phases(const Options& options, std::size_t round) : options_(options), round_(round) {}

  // Adds a phase; returns its index (the order it was added in).
  std::size_t add(std::function<void()> phase) {
    phases_.push_back(std::move(phase));
    return phases_.size() - 1;
  }
  void run() {
    for (std::size_t position = 0; position < phases_.size(); ++position)
      phases_[index_at(position)]();
  }
  // The JSON fields that say when phase `index` ran: `,"round":R,"position":P` (0: first),
  // nothing when the run has a single round.
  std::string fields(std::size_t index) const {
    if (options_.rounds <= 1) return {};
    // The order is its own inverse: the phase at position P is the one whose position is P.
    return round_fields(options_, round_) + ",\"position\":" + std::to_string(index_at(index));
  }

 private:
  bool reversed() const { return round_ % 2 == 1; }
  std::size_t index_at(std::size_t position) const {
    return reversed() ? phases_.size() - 1 - position : position;
  }

  const Options& options_;
  std::size_t round_;
  std::vector<std::function<void()>> phases_;
};

// A peer's measurement in a scenario: which peer, its phase, what it measured.
struct PeerRun {
  std::string name;
  std::string column;
  std::size_t phase = 0;
  Result result;
};

// Adds a phase to `phases` for each peer asked for that `has` the pattern: `client(peer,
// port, latencies)` against its server started for `pattern`, its result into `runs` (kept
// alive by the caller until the phases ran).
template <typename Client>
void add_peer_phases(const Run& run, Pattern pattern, bool (*has)(const PeerDriver&), Client client,
                     Phases& phases, std::vector<PeerRun>& runs) {
  const std::size_t first = runs.size();
  for (const std::string& name : run.options.peers) {
    const PeerDriver* peer = find_peer(name);
    if (peer == nullptr || !has(*peer)) continue;
    runs.push_back({name, std::string(peer->column), 0, {}});
  }
  for (std::size_t i = first; i < runs.size(); ++i) {
    const PeerDriver* peer = find_peer(runs[i].name);
    runs[i].phase = phases.add([&run, &runs, i, peer, pattern, client] {
      Latencies latencies;
      const double value =
          with_server({runs[i].name, "--pattern", std::string(pattern_name(pattern))}, run.options,
                      [&](std::uint16_t port) { return client(*peer, port, latencies); });
      runs[i].result = {value, latencies.at(0.5), latencies.at(0.99)};
    });
  }
}

// A scenario of weft, raw TCP and the peers, once its phases ran: the JSON lines of weft
// (phase `weft_phase`, with `weft_fields`) and of each peer against `raw` (raw TCP in the same
// round), and their cells in `row`.
void report(Run& run, const char* scenario, const std::string& row, const char* unit,
            const Result& weft, std::size_t weft_phase, double raw, const Phases& phases,
            const std::vector<PeerRun>& peers, const std::string& weft_fields = {}) {
  print_line(scenario, "weft", unit, weft, raw, weft_fields + phases.fields(weft_phase));
  run.table.add(row, "raw TCP", raw);
  run.table.add(row, "weft", weft.value);
  for (const PeerRun& peer : peers) {
    print_line(scenario, peer.name, unit, peer.result, raw, phases.fields(peer.phase));
    run.table.add(row, peer.column, peer.result.value);
  }
}

// Adds the phase of raw TCP's ideal mux moving bulk alone (raw_mux_bulk) with weft's chunk
// for objects or requests and weft's socket tuning; its GB/s into `gbps`.
void add_mux_bulk_phase(const Options& options, bool objects, Phases& phases, double& gbps) {
  phases.add([&options, objects, &gbps] {
    const ConnectionLimits limits = config_for("", "", options.queue_kib).limits;
    const std::size_t chunk = objects ? limits.object_chunk_bytes : limits.chunk_bytes;
    gbps = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_mux_bulk(port, chunk, options.queue_kib, options.seconds) / 1e9;
    });
  });
}

// The fields of weft's line that set its bulk against the ideal mux's (`mux_gbps`).
std::string mux_fields(double weft_gbps, double mux_gbps) {
  char fields[120];
  std::snprintf(fields, sizeof fields, ",\"raw_mux_gbps\":%.3f,\"ratio_to_raw_mux\":%.3f", mux_gbps,
                mux_gbps > 0 ? weft_gbps / mux_gbps : 0.0);
  return fields;
}

void unary_scenario(Run& run, std::size_t round, const char* name, const std::string& row,
                    std::size_t in_flight) {
  const Options& options = run.options;
  Phases phases(options, round);
  Latencies weft_latencies;
  double weft = 0;
  const std::size_t weft_phase = phases.add([&] {
    weft = with_weft(options, [&](WeftClient& client) {
      return client.unary(in_flight, kSmall, kEcho, options.seconds, weft_latencies);
    });
  });
  double raw = 0;
  phases.add([&] {
    Latencies raw_latencies;
    raw = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_unary(port, in_flight, options.seconds, raw_latencies);
    });
  });
  std::vector<PeerRun> peers;
  add_peer_phases(
      run, in_flight == 1 ? Pattern::pingpong : Pattern::unary, has_unary,
      [&options, in_flight](const PeerDriver& peer, std::uint16_t port, Latencies& latencies) {
        return peer.unary(port, in_flight, options.seconds, latencies);
      },
      phases, peers);
  phases.run();
  report(run, name, row, "requests/s", {weft, weft_latencies.at(0.5), weft_latencies.at(0.99)},
         weft_phase, raw, phases, peers);
}

constexpr const char* kFrameBytesScenario = "unary_pipeline_frame_bytes_x64";

// What the wire itself costs at 64 in flight, beside weft in the same round (not in the
// table): raw TCP's echo of 64 B messages; the same with its messages padded to the size of
// weft's frames (does the kernel's time follow the bytes?); and weft's frames echoed by
// weft's codec alone over the same blocking sockets, checksums on (wire_floor.hpp: what no
// implementation of the protocol with this codec can go below). The peers asked for run
// their 64 in flight in the same round, and the floor's line says how many times each it is.
void frame_bytes_scenario(Run& run, std::size_t round) {
  const Options& options = run.options;
  // The echo is symmetric: each way carries the mean of the request and the response.
  const std::size_t padded_bytes =
      (request_frame_bytes(kSmall) + response_frame_bytes(kSmall) + 1) / 2;
  Phases phases(options, round);
  Latencies weft_latencies;
  double weft = 0;
  PeerStats weft_stats;  // the client's: what weft's frames weigh, against the floor's
  const std::size_t weft_phase = phases.add([&] {
    weft = with_weft(options, [&](WeftClient& client) {
      const double rate = client.unary(64, kSmall, kEcho, options.seconds, weft_latencies);
      weft_stats = client.server_stats();
      return rate;
    });
  });
  double raw = 0;
  double padded = 0;
  double frames = 0;
  Latencies raw_latencies;
  Latencies padded_latencies;
  Latencies frames_latencies;
  const std::size_t raw_index = phases.add([&] {
    raw = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_unary(port, 64, options.seconds, raw_latencies);
    });
  });
  const std::size_t padded_index = phases.add([&] {
    padded = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_unary(port, 64, options.seconds, padded_latencies, padded_bytes);
    });
  });
  const std::size_t frames_index = phases.add([&] {
    frames = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_weft_frames(port, 64, kSmall, options.seconds, frames_latencies);
    });
  });
  std::vector<PeerRun> peers;
  add_peer_phases(
      run, Pattern::unary, has_unary,
      [&options](const PeerDriver& peer, std::uint16_t port, Latencies& latencies) {
        return peer.unary(port, 64, options.seconds, latencies);
      },
      phases, peers);
  phases.run();
  const char* name = kFrameBytesScenario;
  const std::string padded_name = "raw_tcp_" + std::to_string(padded_bytes) + "B";
  const auto result = [](double rate, Latencies& latencies) {
    return Result{rate, latencies.at(0.5), latencies.at(0.99)};
  };
  print_line(name, "raw_tcp", "requests/s", result(raw, raw_latencies), raw,
             phases.fields(raw_index));
  print_line(name, padded_name, "requests/s", result(padded, padded_latencies), raw,
             phases.fields(padded_index));
  std::string times_peers =
      ",\"request_frame_bytes\":" + std::to_string(request_frame_bytes(kSmall)) +
      ",\"response_frame_bytes\":" + std::to_string(response_frame_bytes(kSmall));
  for (const PeerRun& peer : peers) {
    print_line(name, peer.name, "requests/s", peer.result, raw, phases.fields(peer.phase));
    char field[80];
    std::snprintf(field, sizeof field, ",\"x_%s\":%.3f", peer.name.c_str(),
                  peer.result.value > 0 ? frames / peer.result.value : 0.0);
    times_peers += field;
  }
  print_line(name, "raw_tcp_weft_frames", "requests/s", result(frames, frames_latencies), raw,
             phases.fields(frames_index) + times_peers);
  const auto per_frame = [](std::uint64_t bytes, std::uint64_t frames_counted) {
    return frames_counted > 0 ? static_cast<double>(bytes) / static_cast<double>(frames_counted)
                              : 0.0;
  };
  char frames_field[160];
  std::snprintf(frames_field, sizeof frames_field,
                ",\"ratio_to_weft_frames\":%.3f,\"sent_bytes_per_frame\":%.2f,"
                "\"received_bytes_per_frame\":%.2f",
                frames > 0 ? weft / frames : 0.0,
                per_frame(weft_stats.bytes_sent, weft_stats.frames_sent),
                per_frame(weft_stats.bytes_received, weft_stats.frames_received));
  print_line(name, "weft", "requests/s", result(weft, weft_latencies), padded,
             phases.fields(weft_phase) + frames_field, padded_name.c_str());
}

void stream_scenario(Run& run, std::size_t round) {
  const Options& options = run.options;
  Phases phases(options, round);
  double weft = 0;
  const std::size_t weft_phase = phases.add([&] {
    weft = with_weft(options,
                     [&](WeftClient& client) { return client.stream_oneway(options.seconds); });
  });
  // The same bytes as 64 B messages written 256 at a time.
  double raw = 0;
  phases.add([&] {
    raw = with_raw_tcp(options, [&](std::uint16_t port) {
      return raw_bulk(port, 256 * kSmall, options.seconds) / static_cast<double>(kSmall);
    });
  });
  std::vector<PeerRun> peers;
  add_peer_phases(
      run, Pattern::stream, has_stream,
      [&options](const PeerDriver& peer, std::uint16_t port, Latencies&) {
        return peer.stream(port, options.seconds);
      },
      phases, peers);
  phases.run();
  report(run, "stream_oneway_64B", row_name(Row::stream), "messages/s", {weft, 0, 0}, weft_phase,
         raw, phases, peers);
}

void bulk_scenario(Run& run, std::size_t round) {
  const Options& options = run.options;
  Phases phases(options, round);
  Latencies latencies;
  double weft_gbps = 0;
  const std::size_t weft_phase = phases.add([&] {
    const double requests_per_s = with_weft(options, [&](WeftClient& client) {
      return client.unary(4, kBulk, kDiscard, options.seconds, latencies);
    });
    weft_gbps = requests_per_s * static_cast<double>(kBulk) / 1e9;
  });
  double raw_gbps = 0;
  phases.add([&] {
    raw_gbps = with_raw_tcp(
        options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  });
  double mux_gbps = 0;
  add_mux_bulk_phase(options, false, phases, mux_gbps);
  std::vector<PeerRun> peers;
  add_peer_phases(
      run, Pattern::bulk, has_bulk,
      [&options](const PeerDriver& peer, std::uint16_t port, Latencies&) {
        return peer.bulk(port, options.seconds) / 1e9;
      },
      phases, peers);
  phases.run();
  report(run, "request_1MiB", row_name(Row::bulk), "GB/s",
         {weft_gbps, latencies.at(0.5), latencies.at(0.99)}, weft_phase, raw_gbps, phases, peers,
         mux_fields(weft_gbps, mux_gbps));
  run.table.add(row_name(Row::bulk), "raw TCP mux", mux_gbps);
}

// unary_p99_under_bulk, or with `batch` unary_p99_under_bulk_batch: every process and loop
// thread of both (weft's through EventNodeOptions::loop_scheduling) under SCHED_BATCH.
void p99_scenario(Run& run, std::size_t round, bool batch) {
  const Options& options = run.options;
  const char* name = batch ? "unary_p99_under_bulk_batch" : "unary_p99_under_bulk";
  const std::string& row = row_name(batch ? Row::p99_batch : Row::p99);
  Phases phases(options, round);
  Latencies idle;
  Latencies loaded;
  double bulk_gbps = 0;
  const std::size_t weft_phase = phases.add([&] {
    bulk_gbps = with_weft(
        options,
        [&](WeftClient& client) {
          client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
          return client.pings_under_bulk(options.seconds, loaded);
        },
        4096, nullptr, batch ? io::LoopScheduling::batch : io::LoopScheduling::inherit);
  });
  Latencies raw_idle;
  phases.add([&] {
    with_raw_tcp(
        options,
        [&](std::uint16_t port) { return raw_unary(port, 1, options.seconds / 2, raw_idle); },
        batch);
  });
  // The floor on one connection: raw TCP's ideal mux, with weft's chunk and socket tuning,
  // its idle pings first (the same client without bulk), as weft's.
  Latencies mux_idle;
  Latencies mux_loaded;
  double mux_bulk_bps = 0;
  phases.add([&] {
    const std::size_t chunk = config_for("", "", options.queue_kib).limits.chunk_bytes;
    mux_bulk_bps = with_raw_tcp(
        options,
        [&](std::uint16_t port) {
          raw_pings_under_bulk(port, chunk, options.queue_kib, false, options.seconds / 2,
                               mux_idle);
          return raw_pings_under_bulk(port, chunk, options.queue_kib, true, options.seconds,
                                      mux_loaded);
        },
        batch);
  });
  phases.run();
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  const double mux_idle_p99 = mux_idle.at(0.99);
  const double mux_loaded_p99 = mux_loaded.at(0.99);
  char extra[400];
  std::snprintf(extra, sizeof extra,
                ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f,\"bulk_gbps\":%.2f,"
                "\"raw_mux_p50_us\":%.1f,\"raw_mux_p99_us\":%.1f,\"raw_mux_bulk_gbps\":%.2f,"
                "\"raw_mux_idle_p99_us\":%.1f,\"raw_mux_ratio_to_its_idle\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0, bulk_gbps, mux_loaded.at(0.5),
                mux_loaded_p99, mux_bulk_bps / 1e9, mux_idle_p99,
                mux_idle_p99 > 0 ? mux_loaded_p99 / mux_idle_p99 : 0.0);
  print_line(name, "weft", "us", {loaded_p99, loaded.at(0.5), loaded_p99}, raw_idle.at(0.99),
             extra + phases.fields(weft_phase));
  if (idle_p99 > 0) run.table.add(row, "weft", loaded_p99 / idle_p99);
  if (mux_idle_p99 > 0 && mux_loaded_p99 > 0) {
    run.table.add(row, "raw TCP mux", mux_loaded_p99 / mux_idle_p99);
  }
}

void p99_under_stream_scenario(const Options& options, std::size_t round) {
  Latencies idle;
  Latencies loaded;
  double stream_gbps = 0;
  // Two 8 MiB messages queued in the session at most: the load is bounded by the window,
  // not by how fast the client can copy messages into its queue.
  with_weft(
      options,
      [&](WeftClient& client) {
        client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
        stream_gbps = client.pings_under_stream(options.seconds, loaded);
        return 0;
      },
      2);
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  char extra[200];
  std::snprintf(extra, sizeof extra,
                ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f,\"max_us\":%.1f,"
                "\"pings\":%zu,\"stream_GBps\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0, loaded.at(1.0),
                loaded.us.size(), stream_gbps);
  print_line("unary_p99_under_stream_8MiB", "weft", "us", {loaded_p99, loaded.at(0.5), loaded_p99},
             0, extra + round_fields(options, round));
}

void object_scenario(Run& run, std::size_t round) {
  const Options& options = run.options;
  Phases phases(options, round);
  double weft_gbps = 0;
  const std::size_t weft_phase = phases.add([&] {
    weft_gbps =
        with_weft(options, [&](WeftClient& client) { return client.objects(options.seconds, 8); });
  });
  double raw_gbps = 0;
  phases.add([&] {
    raw_gbps = with_raw_tcp(
        options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  });
  double mux_gbps = 0;
  add_mux_bulk_phase(options, true, phases, mux_gbps);
  std::vector<PeerRun> peers;
  add_peer_phases(
      run, Pattern::objects, has_objects,
      [&options](const PeerDriver& peer, std::uint16_t port, Latencies&) {
        return peer.objects(port, options.seconds) / 1e9;
      },
      phases, peers);
  phases.run();
  report(run, "object_1MiB", row_name(Row::objects), "GB/s", {weft_gbps, 0, 0}, weft_phase,
         raw_gbps, phases, peers, mux_fields(weft_gbps, mux_gbps));
  run.table.add(row_name(Row::objects), "raw TCP mux", mux_gbps);
}

void p99_under_objects_scenario(const Options& options, std::size_t round) {
  Latencies idle;
  Latencies loaded;
  double objects_gbps = 0;
  with_weft(options, [&](WeftClient& client) {
    client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
    objects_gbps = client.pings_under_objects(options.seconds, loaded);
    return 0;
  });
  const double idle_p99 = idle.at(0.99);
  const double loaded_p99 = loaded.at(0.99);
  char extra[200];
  std::snprintf(extra, sizeof extra,
                ",\"weft_idle_p99_us\":%.1f,\"ratio_to_weft_idle\":%.2f,\"pings\":%zu,"
                "\"objects_GBps\":%.2f",
                idle_p99, idle_p99 > 0 ? loaded_p99 / idle_p99 : 0.0, loaded.us.size(),
                objects_gbps);
  print_line("unary_p99_under_objects", "weft", "us", {loaded_p99, loaded.at(0.5), loaded_p99}, 0,
             extra + round_fields(options, round));
}

// `name`: `unary` (`in_flight` requests of `size` bytes to `handler`) over TLS against the
// same without TLS, each node pair with its default checksums; `scale` turns requests/s
// into the unit printed.
void tls_scenario(Run& run, std::size_t round, const char* name, std::size_t in_flight,
                  std::size_t size, std::uint16_t handler, double scale, const char* unit) {
  const Options& options = run.options;
  const BenchTls tls = make_bench_tls();
  Phases phases(options, round);
  Latencies plain_latencies;
  double plain = 0;
  phases.add([&] {
    plain = with_weft(options, [&](WeftClient& client) {
      return client.unary(in_flight, size, handler, options.seconds, plain_latencies);
    });
  });
  Latencies tls_latencies;
  double over_tls = 0;
  const std::size_t tls_phase = phases.add([&] {
    over_tls = with_weft(
        options,
        [&](WeftClient& client) {
          return client.unary(in_flight, size, handler, options.seconds, tls_latencies);
        },
        4096, &tls);
  });
  phases.run();
  char extra[128];
  std::snprintf(extra, sizeof extra, ",\"plain_p50_us\":%.1f,\"plain_p99_us\":%.1f",
                plain_latencies.at(0.5), plain_latencies.at(0.99));
  print_line(name, "weft", unit, {over_tls * scale, tls_latencies.at(0.5), tls_latencies.at(0.99)},
             plain * scale, extra + phases.fields(tls_phase), "weft_plain");
  if (size == kBulk) run.table.add(row_name(Row::tls), "weft", over_tls * scale);
}

}  // namespace

bool run_scenarios(Run& run) {
  const Options& options = run.options;
  using Scenario = std::function<void(std::size_t round)>;
  const std::vector<std::pair<std::string, Scenario>> scenarios = {
      {"unary_pingpong_64B",
       [&](std::size_t round) {
         unary_scenario(run, round, "unary_pingpong_64B", row_name(Row::pingpong), 1);
       }},
      {"unary_pipeline_64B_x64",
       [&](std::size_t round) {
         unary_scenario(run, round, "unary_pipeline_64B_x64", row_name(Row::in_flight), 64);
       }},
      {kFrameBytesScenario, [&](std::size_t round) { frame_bytes_scenario(run, round); }},
      {"stream_oneway_64B", [&](std::size_t round) { stream_scenario(run, round); }},
      {"request_1MiB", [&](std::size_t round) { bulk_scenario(run, round); }},
      {"unary_p99_under_bulk", [&](std::size_t round) { p99_scenario(run, round, false); }},
      {"unary_p99_under_bulk_batch", [&](std::size_t round) { p99_scenario(run, round, true); }},
      {"unary_p99_under_stream_8MiB",
       [&](std::size_t round) { p99_under_stream_scenario(options, round); }},
      {"object_1MiB", [&](std::size_t round) { object_scenario(run, round); }},
      {"unary_p99_under_objects",
       [&](std::size_t round) { p99_under_objects_scenario(options, round); }},
      {"tls_unary_pingpong_64B",
       [&](std::size_t round) {
         tls_scenario(run, round, "tls_unary_pingpong_64B", 1, kSmall, kEcho, 1, "requests/s");
       }},
      {"tls_request_1MiB",
       [&](std::size_t round) {
         tls_scenario(run, round, "tls_request_1MiB", 4, kBulk, kDiscard, kBulk / 1e9, "GB/s");
       }},
  };
  // Every name asked for must exist; they run in the order above, each scenario's rounds
  // back to back (so a scenario's rounds see the same minutes of the machine).
  const std::vector<std::string> asked = split_commas(options.scenario);
  const bool all = options.scenario == "all";
  for (const std::string& name : asked) {
    const bool known = std::any_of(scenarios.begin(), scenarios.end(),
                                   [&](const auto& scenario) { return scenario.first == name; });
    if (!all && !known) return false;
  }
  for (const auto& [name, scenario] : scenarios) {
    const bool named = std::find(asked.begin(), asked.end(), name) != asked.end();
    // A question about the kernel, not a comparison: run when named only.
    if (all ? name == kFrameBytesScenario : !named) continue;
    for (std::size_t round = 0; round < options.rounds; ++round)
      scenario(round);
  }
  return true;
}

}  // namespace weft_bench
