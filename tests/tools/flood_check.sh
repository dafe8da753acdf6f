#!/usr/bin/env bash
# Real processes under a connection flood (issue 14, item 2). Connections from strangers
# (half silent, half sending a frame one byte every 200 ms) arrive at once and are held for
# 5 s: 900 against a weft-node limited to 64 file descriptors, then 1000 against one with
# plenty (max_transports_awaiting_hello_per_source, 64, bounds what waits from the flood's one
# address). Meanwhile:
#   - weft-node's CPU stays near idle (below 25 % of one core over 2 s: an accept loop that
#     spins on EMFILE takes all of it);
#   - a real peer (weft-call, a ping) still gets in and is answered;
#   - a scraper's connection to the node's metrics port (--metrics), which waits in that
#     listener's queue while the node is out of descriptors, does not make that listener
#     spin either (its accept pauses as the node's does).
# Usage: flood_check.sh WEFT_NODE WEFT_CALL WEFT_CONNECT_FLOOD
set -uo pipefail
node_bin=$1
call_bin=$2
flood_bin=$3
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
flood_pid=
trap '[[ -n "$flood_pid" ]] && kill "$flood_pid" 2>/dev/null; stop_node_a; rm -rf "$scratch"' EXIT
fail() { fail_with_log flood_check "$@"; }
# flood FD_LIMIT COUNT: one round against a fresh node-a ("" for no descriptor limit).
flood() {
  local fd_limit=$1 count=$2
  NODE_FD_LIMIT=$fd_limit NODE_EXTRA_ARGS="--metrics 127.0.0.1:0" start_node_a "$node_bin" \
    "$scratch" || fail "node-a did not report its port within 5 s"
  local metrics_port
  metrics_port=$(sed -nE 's|.* metrics on http://127\.0\.0\.1:([0-9]+)/metrics$|\1|p' \
    "$scratch/node-a.log")
  [[ -n "$metrics_port" ]] || fail "node-a did not report its metrics port"
  "$flood_bin" "$port" "$count" 5000 > "$scratch/flood.log" 2>&1 &
  flood_pid=$!
  sleep 0.5
  # A scrape that connects now: out of descriptors, the node cannot accept it yet.
  local scrape_fd
  exec {scrape_fd}<> "/dev/tcp/127.0.0.1/$metrics_port" ||
    fail "could not connect to the metrics port"
  printf 'GET /metrics HTTP/1.0\r\n\r\n' >&"$scrape_fd"
  local before after used limit
  before=$(cpu_ticks)
  sleep 2
  after=$(cpu_ticks)
  used=$((after - before))
  limit=$(($(getconf CLK_TCK) / 2))  # 25 % of one core over 2 s
  [[ $used -le $limit ]] ||
    fail "weft-node used $used clock ticks in 2 s under the flood (limit $limit)"
  credentials cli
  timeout 30 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
    "${cred[@]}" --connect-ms 15000 ping > "$scratch/call.log" 2>&1 ||
    { cat "$scratch/call.log"; fail "the real peer was not served during the flood"; }
  wait "$flood_pid"
  flood_pid=
  # The scrape waited, and is answered once descriptors are free again.
  local status_line=
  read -r -t 10 -u "$scrape_fd" status_line || true
  exec {scrape_fd}>&-
  [[ "$status_line" == "HTTP/1.1 200 OK"* ]] ||
    fail "the scrape that waited was not answered (got '${status_line}')"
  if [[ -n "$fd_limit" ]] && ! grep -q "metrics: accept paused" "$scratch/node-a.log"; then
    fail "the metrics endpoint never paused accepting although the node ran out of descriptors"
  fi
  stop_node_a
  echo "flood_check: fd limit ${fd_limit:-none}, $(cat "$scratch/flood.log"): node CPU $used ticks in 2 s (limit $limit); the peer and the scrape were served"
}

cpu_ticks() {  # utime + stime of node-a, in clock ticks (fields 14 and 15 of stat)
  sed -E 's/^[0-9]+ \(.*\) //' "/proc/$node_pid/stat" | awk '{print $12 + $13}'
}

flood 64 900   # out of descriptors: accept pauses instead of spinning
flood "" 1000  # plenty of descriptors: at most max_transports_awaiting_hello_per_source wait
