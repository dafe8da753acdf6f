#!/bin/sh
# Checks `weft-sim shrink` on a run that fails (a planted canary): it must print a command
# with fewer nodes than the original, and that command must fail the same way (safety, 129).
# usage: shrink_check.sh WEFT_SIM
set -u
sim=$1
out=$("$sim" shrink --seed 19 --profile swarm --duration 10 --canary old_generation_frames)
status=$?
[ "$status" -eq 129 ] || { echo "shrink exited $status, expected 129"; echo "$out"; exit 1; }
cmd=$(printf '%s\n' "$out" | sed -n 's/^shrunk after [0-9]* runs: weft-sim //p')
[ -n "$cmd" ] || { echo "no shrunk command in:"; echo "$out"; exit 1; }
case "$cmd" in
  *"--nodes 8 "*) echo "not shrunk: $cmd"; exit 1 ;;
esac
# shellcheck disable=SC2086 # the command is a list of words
"$sim" $cmd > /dev/null
status=$?
[ "$status" -eq 129 ] || { echo "shrunk run exited $status, expected 129: $cmd"; exit 1; }
echo "ok: $cmd"
