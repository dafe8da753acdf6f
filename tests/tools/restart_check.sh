#!/usr/bin/env bash
# Real processes draw their own seed (DESIGN.md rule 10). weft-node serves as node-a; weft-call
# joins as "cli" ten times in a row, each a new process under the same name. Checks, from
# node-a's log: each run was admitted at its first dial (no handshake failure, no
# stale_hello), runs 2..10 were reported as restarts, and the ten incarnations all differ.
# Usage: restart_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
trap 'stop_node_a; rm -rf "$scratch"' EXIT
fail() { fail_with_log restart_check "$@"; }
start_node_a "$node_bin" "$scratch" || fail "node-a did not report its port within 5 s"

credentials cli
for run in $(seq 1 10); do
  if ! timeout 20 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
    "${cred[@]}" request 1 "run $run" > "$scratch/cli-$run.log" 2>&1; then
    cat "$scratch/cli-$run.log"
    fail "weft-call run $run failed"
  fi
done
# node-a reports a peer coming up as "peer cli up (generation N, incarnation X[, restarted])".
for _ in $(seq 1 500); do
  [[ $(grep -c "peer cli up" "$scratch/node-a.log") -ge 10 ]] && break
  sleep 0.01
done
ups=$(grep -c "peer cli up" "$scratch/node-a.log")
failures=$(grep -c "handshake failed" "$scratch/node-a.log")
restarts=$(grep "peer cli up" "$scratch/node-a.log" | grep -c "restarted")
incarnations=$(grep "peer cli up" "$scratch/node-a.log" |
  sed -nE 's/.*incarnation ([0-9a-f]+).*/\1/p' | sort -u | wc -l)
[[ $ups -eq 10 ]] || fail "$ups of 10 runs came up"
[[ $failures -eq 0 ]] || fail "$failures handshake failures (a run was not admitted at its first dial)"
[[ $restarts -eq 9 ]] || fail "$restarts of runs 2..10 reported as restarts"
[[ $incarnations -eq 10 ]] || fail "$incarnations distinct incarnations in 10 runs"
echo "restart_check: 10 runs admitted at first dial, 9 restarts reported, 10 incarnations"
