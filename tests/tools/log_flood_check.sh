#!/usr/bin/env bash
# Strangers who connect and send anything but a weft hello cannot fill a node's disk with
# log lines: 1500 such connections in a row against weft-node, and each kind of line about
# them (weft-node's "handshake failed" on stdout, the library's warning and its "closing
# transport" line on stderr) stays within 10 a second (EventNodeOptions::
# connection_log_lines_per_s and weft-node's own throttle), with a line saying how many
# were left out; the node still serves a real peer afterwards.
# Usage: log_flood_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
trap 'stop_node_a; rm -rf "$scratch"' EXIT
fail() { fail_with_log log_flood_check "$@"; }

start_node_a "$node_bin" "$scratch" || fail "node-a did not report its port within 5 s"
connections=1500
began=$(date +%s%N)
for _ in $(seq 1 "$connections"); do
  exec {fd}<> "/dev/tcp/127.0.0.1/$port" || fail "could not connect"
  printf 'GET / HTTP/1.0\r\n\r\n' >&"$fd"
  exec {fd}>&-
done
sleep 1.2
# One more after a quiet second: its lines come with the count of those left out.
exec {fd}<> "/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.0\r\n\r\n' >&"$fd" && exec {fd}>&-
sleep 0.5
elapsed_ms=$((($(date +%s%N) - began) / 1000000))
limit=$((10 * (elapsed_ms / 1000 + 2)))
for pattern in "peer  handshake failed" "node-a: peer : " "closing transport: "; do
  count=$(grep -c -- "$pattern" "$scratch/node-a.log")
  [[ $count -ge 1 && $count -le $limit ]] ||
    fail "$count lines '$pattern' for $connections strangers in $elapsed_ms ms (limit $limit)"
done
grep -q "more handshake failures not shown" "$scratch/node-a.log" ||
  fail "weft-node did not say how many handshake failures it left out"
grep -q "lines about single connections not logged" "$scratch/node-a.log" ||
  fail "the library did not say how many lines it left out"
credentials cli
timeout 30 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
  "${cred[@]}" --connect-ms 15000 ping > "$scratch/call.log" 2>&1 ||
  { cat "$scratch/call.log"; fail "the real peer was not served after the flood"; }
echo "log_flood_check: $connections strangers in $elapsed_ms ms: $(wc -l < "$scratch/node-a.log") log lines (limit $limit per kind); the peer was served"
