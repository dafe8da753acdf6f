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

// Runs `client(peer, port, latencies)` against each peer asked for that `has` the pattern
// (its server started for `pattern`): one JSON line each against `raw` (raw TCP in the same
// run), and the table's cell in `row`.
template <typename Client>
void run_peers(Run& run, const char* scenario, const std::string& row, Pattern pattern,
               const char* unit, double raw, bool (*has)(const PeerDriver&), Client client) {
  for (const std::string& name : run.options.peers) {
    const PeerDriver* peer = find_peer(name);
    if (peer == nullptr || !has(*peer)) continue;
    Latencies latencies;
    const double value =
        with_server({name, "--pattern", std::string(pattern_name(pattern))}, run.options,
                    [&](std::uint16_t port) { return client(*peer, port, latencies); });
    print_line(scenario, name, unit, {value, latencies.at(0.5), latencies.at(0.99)}, raw);
    run.table.add(row, std::string(peer->column), value);
  }
}

void unary_scenario(Run& run, const char* name, const char* row, std::size_t in_flight) {
  const Options& options = run.options;
  Table& table = run.table;
  Latencies weft_latencies;
  const double weft = with_weft(options, [&](WeftClient& client) {
    return client.unary(in_flight, kSmall, kEcho, options.seconds, weft_latencies);
  });
  Latencies raw_latencies;
  const double raw = with_raw_tcp(options, [&](std::uint16_t port) {
    return raw_unary(port, in_flight, options.seconds, raw_latencies);
  });
  const Result result{weft, weft_latencies.at(0.5), weft_latencies.at(0.99)};
  print_line(name, "weft", "requests/s", result, raw);
  table.add(row, "raw TCP", raw);
  table.add(row, "weft", weft);
  run_peers(run, name, row, in_flight == 1 ? Pattern::pingpong : Pattern::unary, "requests/s", raw,
            has_unary, [&](const PeerDriver& peer, std::uint16_t port, Latencies& latencies) {
              return peer.unary(port, in_flight, options.seconds, latencies);
            });
}

void stream_scenario(Run& run) {
  const Options& options = run.options;
  const double weft =
      with_weft(options, [&](WeftClient& client) { return client.stream_oneway(options.seconds); });
  // The same bytes as 64 B messages written 256 at a time.
  const double raw = with_raw_tcp(options, [&](std::uint16_t port) {
    return raw_bulk(port, 256 * kSmall, options.seconds) / static_cast<double>(kSmall);
  });
  print_line("stream_oneway_64B", "weft", "messages/s", {weft, 0, 0}, raw);
  const std::string& row = row_name(Row::stream);
  run.table.add(row, "raw TCP", raw);
  run.table.add(row, "weft", weft);
  run_peers(run, "stream_oneway_64B", row, Pattern::stream, "messages/s", raw, has_stream,
            [&](const PeerDriver& peer, std::uint16_t port, Latencies&) {
              return peer.stream(port, options.seconds);
            });
}

void bulk_scenario(Run& run) {
  const Options& options = run.options;
  Latencies latencies;
  const double requests_per_s = with_weft(options, [&](WeftClient& client) {
    return client.unary(4, kBulk, kDiscard, options.seconds, latencies);
  });
  const double weft_gbps = requests_per_s * static_cast<double>(kBulk) / 1e9;
  const double raw_gbps = with_raw_tcp(
      options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  print_line("request_1MiB", "weft", "GB/s", {weft_gbps, latencies.at(0.5), latencies.at(0.99)},
             raw_gbps);
  const std::string& row = row_name(Row::bulk);
  run.table.add(row, "raw TCP", raw_gbps);
  run.table.add(row, "weft", weft_gbps);
  run_peers(run, "request_1MiB", row, Pattern::bulk, "GB/s", raw_gbps, has_bulk,
            [&](const PeerDriver& peer, std::uint16_t port, Latencies&) {
              return peer.bulk(port, options.seconds) / 1e9;
            });
}

// unary_p99_under_bulk, or with `batch` unary_p99_under_bulk_batch: every process and loop
// thread of both (weft's through EventNodeOptions::loop_scheduling) under SCHED_BATCH.
void p99_scenario(Run& run, bool batch) {
  const Options& options = run.options;
  const char* name = batch ? "unary_p99_under_bulk_batch" : "unary_p99_under_bulk";
  const std::string& row = row_name(batch ? Row::p99_batch : Row::p99);
  Latencies idle;
  Latencies loaded;
  const double bulk_gbps = with_weft(
      options,
      [&](WeftClient& client) {
        client.unary(1, kSmall, kEcho, options.seconds / 2, idle);
        return client.pings_under_bulk(options.seconds, loaded);
      },
      4096, nullptr, batch ? io::LoopScheduling::batch : io::LoopScheduling::inherit);
  Latencies raw_idle;
  with_raw_tcp(
      options,
      [&](std::uint16_t port) { return raw_unary(port, 1, options.seconds / 2, raw_idle); }, batch);
  // The floor on one connection: raw TCP's ideal mux, with weft's chunk and socket tuning,
  // its idle pings first (the same client without bulk), as weft's.
  Latencies mux_idle;
  Latencies mux_loaded;
  const std::size_t chunk = config_for("", "", options.queue_kib).limits.chunk_bytes;
  const double mux_bulk_bps = with_raw_tcp(
      options,
      [&](std::uint16_t port) {
        raw_pings_under_bulk(port, chunk, options.queue_kib, false, options.seconds / 2, mux_idle);
        return raw_pings_under_bulk(port, chunk, options.queue_kib, true, options.seconds,
                                    mux_loaded);
      },
      batch);
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
             extra);
  if (idle_p99 > 0) run.table.add(row, "weft", loaded_p99 / idle_p99);
  if (mux_idle_p99 > 0 && mux_loaded_p99 > 0) {
    run.table.add(row, "raw TCP", mux_loaded_p99 / mux_idle_p99);
  }
}

void p99_under_stream_scenario(const Options& options) {
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
             0, extra);
}

void object_scenario(Run& run) {
  const Options& options = run.options;
  const double weft_gbps =
      with_weft(options, [&](WeftClient& client) { return client.objects(options.seconds, 8); });
  const double raw_gbps = with_raw_tcp(
      options, [&](std::uint16_t port) { return raw_bulk(port, kBulk, options.seconds) / 1e9; });
  print_line("object_1MiB", "weft", "GB/s", {weft_gbps, 0, 0}, raw_gbps);
  run.table.add(row_name(Row::objects), "raw TCP", raw_gbps);
  run.table.add(row_name(Row::objects), "weft", weft_gbps);
}

void p99_under_objects_scenario(const Options& options) {
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
             extra);
}

// `name`: `unary` (`in_flight` requests of `size` bytes to `handler`) over TLS against the
// same without TLS, each node pair with its default checksums; `scale` turns requests/s
// into the unit printed.
void tls_scenario(Run& run, const char* name, std::size_t in_flight, std::size_t size,
                  std::uint16_t handler, double scale, const char* unit) {
  const Options& options = run.options;
  const BenchTls tls = make_bench_tls();
  Latencies plain_latencies;
  const double plain = with_weft(options, [&](WeftClient& client) {
    return client.unary(in_flight, size, handler, options.seconds, plain_latencies);
  });
  Latencies tls_latencies;
  const double over_tls = with_weft(
      options,
      [&](WeftClient& client) {
        return client.unary(in_flight, size, handler, options.seconds, tls_latencies);
      },
      4096, &tls);
  char extra[128];
  std::snprintf(extra, sizeof extra, ",\"plain_p50_us\":%.1f,\"plain_p99_us\":%.1f",
                plain_latencies.at(0.5), plain_latencies.at(0.99));
  print_line(name, "weft", unit, {over_tls * scale, tls_latencies.at(0.5), tls_latencies.at(0.99)},
             plain * scale, extra, "weft_plain");
  if (size == kBulk) run.table.add(row_name(Row::tls), "weft", over_tls * scale);
}

}  // namespace

bool run_scenarios(Run& run) {
  const Options& options = run.options;
  const std::vector<std::pair<std::string, std::function<void()>>> scenarios = {
      {"unary_pingpong_64B",
       [&] { unary_scenario(run, "unary_pingpong_64B", row_name(Row::pingpong).c_str(), 1); }},
      {"unary_pipeline_64B_x64",
       [&] {
         unary_scenario(run, "unary_pipeline_64B_x64", row_name(Row::in_flight).c_str(), 64);
       }},
      {"stream_oneway_64B", [&] { stream_scenario(run); }},
      {"request_1MiB", [&] { bulk_scenario(run); }},
      {"unary_p99_under_bulk", [&] { p99_scenario(run, false); }},
      {"unary_p99_under_bulk_batch", [&] { p99_scenario(run, true); }},
      {"unary_p99_under_stream_8MiB", [&] { p99_under_stream_scenario(options); }},
      {"object_1MiB", [&] { object_scenario(run); }},
      {"unary_p99_under_objects", [&] { p99_under_objects_scenario(options); }},
      {"tls_unary_pingpong_64B",
       [&] { tls_scenario(run, "tls_unary_pingpong_64B", 1, kSmall, kEcho, 1, "requests/s"); }},
      {"tls_request_1MiB",
       [&] { tls_scenario(run, "tls_request_1MiB", 4, kBulk, kDiscard, kBulk / 1e9, "GB/s"); }},
  };
  // Every name asked for must exist; they run in the order above.
  const std::vector<std::string> asked = split_commas(options.scenario);
  const bool all = options.scenario == "all";
  for (const std::string& name : asked) {
    const bool known = std::any_of(scenarios.begin(), scenarios.end(),
                                   [&](const auto& scenario) { return scenario.first == name; });
    if (!all && !known) return false;
  }
  for (const auto& [name, scenario] : scenarios) {
    if (all || std::find(asked.begin(), asked.end(), name) != asked.end()) scenario();
  }
  return true;
}

}  // namespace weft_bench
