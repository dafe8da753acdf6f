#!/usr/bin/env bash
# Real processes, back-pressure end to end (issue 14, items 8 and 11): weft-call streams
# 6000 messages to weft-node's echo handler and reads the replies slowly (100 us each, on
# its loop thread: the socket backs up), printing every one. The echo keeps a message
# it cannot send yet (StreamSession::defer) instead of dropping it, and weft-call waits for
# room instead of ignoring queue_full, so every message comes back, in order, and weft-call
# exits 0 (it exits 4 when a stream ends with replies missing).
# Usage: stream_echo_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
node_pid=
cleanup() {
  [[ -n "$node_pid" ]] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT
fail() {
  echo "stream_echo_check: FAIL: $*"
  tail -n 5 "$scratch/call.out" "$scratch/call.err" 2>/dev/null
  exit 1
}
printf 'stream-echo-token\n' > "$scratch/token"
"$node_bin" --name node-a --listen 127.0.0.1:0 --peer cli=127.0.0.1:9 \
  --token-file "$scratch/token" > "$scratch/node-a.log" 2>&1 &
node_pid=$!
port=
for _ in $(seq 1 500); do
  port=$(sed -nE 's/.* listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$scratch/node-a.log")
  [[ -n "$port" ]] && break
  sleep 0.01
done
[[ -n "$port" ]] || fail "node-a did not report its port within 5 s"

count=6000
mapfile -t messages < <(seq -f "message-%g" 1 "$count")
timeout 120 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
  --token-file "$scratch/token" stream 3 "${messages[@]}" --reply-delay-us 100 \
  > "$scratch/call.out" 2> "$scratch/call.err"
status=$?
[[ $status -eq 0 ]] || fail "weft-call exited $status"
grep '^reply: ' "$scratch/call.out" | sed 's/^reply: //' > "$scratch/replies"
printf '%s\n' "${messages[@]}" > "$scratch/sent"
replies=$(wc -l < "$scratch/replies")
[[ $replies -eq $count ]] || fail "$replies of $count replies"
cmp -s "$scratch/sent" "$scratch/replies" || fail "replies out of order or altered"
echo "stream_echo_check: $count messages echoed in order, weft-call exit 0"
