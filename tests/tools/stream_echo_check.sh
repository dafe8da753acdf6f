#!/usr/bin/env bash
# Real processes, back-pressure end to end (issue 14, items 8 and 11): weft-call streams
# 6000 messages to weft-node's echo handler and reads the replies slowly (100 us each: it
# defers each reply, so its credit stops), printing every one. The echo keeps a message
# it cannot send yet (StreamSession::defer) instead of dropping it, and weft-call waits for
# room instead of ignoring queue_full, so every message comes back, in order, and weft-call
# exits 0 (it exits 4 when a stream ends with replies missing).
# Usage: stream_echo_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
trap 'stop_node_a; rm -rf "$scratch"' EXIT
fail() {
  echo "stream_echo_check: FAIL: $*"
  tail -n 5 "$scratch/call.out" "$scratch/call.err" 2>/dev/null
  exit 1
}
start_node_a "$node_bin" "$scratch" || fail "node-a did not report its port within 5 s"

count=6000
mapfile -t messages < <(seq -f "message-%g" 1 "$count")
credentials cli
timeout 120 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
  "${cred[@]}" stream 3 "${messages[@]}" --reply-delay-us 100 \
  > "$scratch/call.out" 2> "$scratch/call.err"
status=$?
[[ $status -eq 0 ]] || fail "weft-call exited $status"
grep '^reply: ' "$scratch/call.out" | sed 's/^reply: //' > "$scratch/replies"
printf '%s\n' "${messages[@]}" > "$scratch/sent"
replies=$(wc -l < "$scratch/replies")
[[ $replies -eq $count ]] || fail "$replies of $count replies"
cmp -s "$scratch/sent" "$scratch/replies" || fail "replies out of order or altered"
echo "stream_echo_check: $count messages echoed in order, weft-call exit 0"
