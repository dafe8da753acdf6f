#!/usr/bin/env bash
# Real processes: weft-node --loop-scheduling batch runs its loop thread, and only that
# thread, under SCHED_BATCH (EventNodeOptions::loop_scheduling), as the kernel reports it in
# /proc/PID/task/TID/stat (field 41, the policy), and serves requests; without the option
# every thread keeps the policy it was started with; a policy weft-node does not know is a
# usage error (exit 2). Skipped (77) when this shell itself does not run under SCHED_OTHER.
# Usage: loop_scheduling_check.sh WEFT_NODE WEFT_CALL
set -uo pipefail
node_bin=$1
call_bin=$2
scratch=$(mktemp -d)
source "$(dirname "$0")/node_process.sh"
trap 'stop_node_a; rm -rf "$scratch"' EXIT
fail() {
  echo "loop_scheduling_check: FAIL: $*"
  tail -n 5 "$scratch/node-a.log" "$scratch/call.out" 2> /dev/null
  exit 1
}
# The policy (field 41 of stat; 0 SCHED_OTHER, 3 SCHED_BATCH, 5 SCHED_IDLE) of the task
# whose /proc directory is $1. The text after the last ") " skips the command name.
policy_of() {
  local stat
  stat=$(< "$1/stat") || return 1
  stat=${stat##*) }
  cut -d' ' -f39 <<< "$stat"
}
# The policies of node-a's threads, one per line, the main thread first.
policies() {
  local task main=/proc/$node_pid/task/$node_pid
  policy_of "$main"
  for task in /proc/"$node_pid"/task/*; do
    [[ $task == "$main" ]] || policy_of "$task"
  done
}
# echo_once: one request to node-a's echo handler must come back.
echo_once() {
  credentials cli
  timeout 20 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
    "${cred[@]}" request 1 scheduled > "$scratch/call.out" 2>&1 || fail "the echo failed"
  grep -q scheduled "$scratch/call.out" || fail "the echo's reply is missing"
}
own_policy=$(policy_of /proc/self)
[[ $own_policy == 0 ]] || { echo "SKIP: this check runs under policy '$own_policy', not SCHED_OTHER"; exit 77; }

NODE_EXTRA_ARGS="--loop-scheduling batch" start_node_a "$node_bin" "$scratch" ||
  fail "node-a did not report its port within 5 s"
echo_once
mapfile -t batch_run < <(policies)
[[ ${#batch_run[@]} -ge 2 ]] || fail "node-a has ${#batch_run[@]} threads, expected its main and loop threads"
[[ ${batch_run[0]} == "$own_policy" ]] || fail "the main thread's policy is ${batch_run[0]}"
batch_threads=$(printf '%s\n' "${batch_run[@]:1}" | grep -c '^3$')
[[ $batch_threads -eq 1 ]] || fail "$batch_threads threads under SCHED_BATCH (policies: ${batch_run[*]})"
stop_node_a

start_node_a "$node_bin" "$scratch" || fail "node-a did not report its port within 5 s"
echo_once
mapfile -t default_run < <(policies)
[[ ${#default_run[@]} -ge 2 ]] || fail "node-a has ${#default_run[@]} threads, expected its main and loop threads"
for policy in "${default_run[@]}"; do
  [[ $policy == "$own_policy" ]] || fail "without the option a thread runs under policy $policy"
done
stop_node_a

"$node_bin" --name node-a --listen 127.0.0.1:0 --loop-scheduling fifo > "$scratch/usage.out" 2>&1
status=$?
[[ $status -eq 2 ]] || fail "an unknown policy exited $status, expected 2"
grep -q "bad --loop-scheduling" "$scratch/usage.out" || fail "the usage error does not name the option"
echo "loop_scheduling_check: the loop thread alone under SCHED_BATCH (policies ${batch_run[*]}), none without the option"
