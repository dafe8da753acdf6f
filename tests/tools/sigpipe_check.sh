#!/usr/bin/env bash
# A weft-node whose standard output has lost its reader (a `| head` that ended, a log
# shipper restarted) keeps serving: its next line (a peer coming up) must not kill it with
# SIGPIPE, and a later SIGTERM still stops it cleanly (exit status 0).
# Usage: sigpipe_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
trap 'stop_node_a; rm -rf "$scratch"' EXIT
fail() { fail_with_log sigpipe_check "$@"; }

"$(dirname "$node_bin")/weft-keys" "$scratch/keys" node-a cli > /dev/null ||
  fail "weft-keys could not make the keys"
credentials node-a
mkfifo "$scratch/stdout"
"$node_bin" --name node-a --listen 127.0.0.1:0 --peer cli=127.0.0.1:9 "${cred[@]}" \
  > "$scratch/stdout" 2> "$scratch/node-a.log" &
node_pid=$!
# The reader takes the first line (where the node listens) and goes away.
head -n 1 < "$scratch/stdout" > "$scratch/first_line"
port=$(sed -nE 's/.* listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$scratch/first_line")
[[ -n "$port" ]] || fail "no listening line on the node's standard output"

ping_node() {
  credentials cli
  timeout 30 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
    "${cred[@]}" --connect-ms 15000 ping > "$scratch/call.log" 2>&1
}
# Each ping brings peer cli up and down on node-a: a line each on the readerless stdout.
for round in 1 2; do
  ping_node || { cat "$scratch/call.log"; fail "ping $round was not answered"; }
done
sleep 0.2  # the down line of the second ping
kill -0 "$node_pid" 2> /dev/null || {
  wait "$node_pid"
  fail "weft-node died (exit status $?) writing to a standard output without a reader"
}
kill -TERM "$node_pid"
wait "$node_pid"
status=$?
node_pid=
[[ $status -eq 0 ]] || fail "weft-node stopped by SIGTERM exited with status $status"
echo "sigpipe_check: weft-node served two pings and stopped with status 0 after its stdout's reader left"
