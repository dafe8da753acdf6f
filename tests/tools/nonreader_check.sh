#!/usr/bin/env bash
# Real processes, a peer that asks and never reads (issue 14, item 3): it sends 4096 echo
# requests of 64 KiB (256 MiB) to weft-node and reads none of the answers. The node's answer
# budgets (max_queued_response_bytes and max_inbound_request_bytes, 64 MiB each by default)
# bound what it holds: its peak resident memory stays under 160 MiB, where a node that queued
# every answer grew past 256 MiB. Meanwhile a real peer's ping is served.
# Usage: nonreader_check.sh WEFT_NODE WEFT_CALL WEFT_NONREADING_PEER
set -uo pipefail
node_bin=$1
call_bin=$2
peer_bin=$3
limit_kb=$((160 * 1024))
if [[ -n "${WEFT_SANITIZED:-}" ]]; then
  echo "nonreader_check: skipped: built with -fsanitize=$WEFT_SANITIZED, whose allocator makes resident memory meaningless"
  exit 77
fi
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
peer_pid=
trap '[[ -n "$peer_pid" ]] && kill "$peer_pid" 2>/dev/null; stop_node_a; rm -rf "$scratch"' EXIT
fail() { fail_with_log nonreader_check "$@"; }
# "bystander" dials node-a by the dial rule, as "cli" (the peer that does not read) does.
# The cluster has a shared key: weft_nonreading_peer proves its name with it.
export NODE_CLUSTER_KEY=1
NODE_EXTRA_PEERS=bystander start_node_a "$node_bin" "$scratch" ||
  fail "node-a did not report its port within 5 s"
"$peer_bin" "$port" "$node_pid" 4096 "$(cat "$scratch/cluster.key")" > "$scratch/peer.log" 2>&1 &
peer_pid=$!
sleep 1
credentials bystander
timeout 30 "$call_bin" --name bystander --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
  "${cred[@]}" --connect-ms 15000 ping > "$scratch/call.log" 2>&1 ||
  { cat "$scratch/call.log"; fail "a real peer was not served while the other did not read"; }
wait "$peer_pid" || { cat "$scratch/peer.log"; fail "the non-reading peer failed"; }
peer_pid=
report=$(cat "$scratch/peer.log")
peak_kb=$(sed -nE 's/.*peak_rss_kb_after=([0-9-]+).*/\1/p' <<< "$report")
sent=$(sed -nE 's/^sent_bytes=([0-9]+) .*/\1/p' <<< "$report")
# The node must have taken in more than its two 64 MiB budgets, or the check proved nothing.
[[ -n "$sent" && $sent -gt $((128 * 1024 * 1024)) ]] ||
  fail "the node took in only ${sent:-?} bytes from the peer that does not read: $report"
[[ -n "$peak_kb" && $peak_kb -gt 0 ]] || fail "no peak memory in: $report"
[[ $peak_kb -le $limit_kb ]] ||
  fail "weft-node peaked at $peak_kb kB with a peer that does not read (limit $limit_kb kB): $report"
echo "nonreader_check: $report (limit $limit_kb kB); a real peer was served"
