#!/bin/sh
# A weft-sim run or swarm killed part way leaves a record of what it was running:
# - `run` has printed its seed (flushed before the run starts, even into a file);
# - `swarm` whose worker dies by a signal names the seed that worker was running, counts it
#   as failed with its replay command, names the seeds it never ran, and exits 2.
# usage: killed_run_check.sh WEFT_SIM
set -u
sim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Waits up to 30 s for `pattern` in file $1.
wait_for() {
  i=0
  while ! grep -q "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 300 ] || return 1
    sleep 0.1
  done
}

# An hour of simulated time runs for minutes: long enough to be killed in the middle.
"$sim" run --seed 5 --duration 3600 > "$dir/run.out" 2>&1 &
run=$!
sleep 1
kill -KILL "$run"
wait "$run" 2> /dev/null
grep -q '^seed=5 ' "$dir/run.out" || {
  echo "a killed run left no seed:"
  cat "$dir/run.out"
  exit 1
}

"$sim" swarm --first 5 --seeds 3 --jobs 1 --duration 3600 > "$dir/swarm.out" \
  2> "$dir/swarm.err" &
swarm=$!
i=0
worker=""
while [ -z "$worker" ]; do
  worker=$(pgrep -P "$swarm" | head -n 1)
  i=$((i + 1))
  [ "$i" -le 300 ] || { echo "no swarm worker appeared"; kill "$swarm"; exit 1; }
  sleep 0.1
done
sleep 1  # it has started seed 5
kill -KILL "$worker"
wait "$swarm"
status=$?
fail() {
  echo "$1 (exit status $status)"
  cat "$dir/swarm.out" "$dir/swarm.err"
  exit 1
}
[ "$status" -eq 2 ] || fail "a swarm whose worker died did not exit 2"
grep -q 'worker 0 died running seed 5: weft-sim run --seed 5 ' "$dir/swarm.err" ||
  fail "the seed the worker died running is not named"
grep -q 'worker 0 never ran 2 seeds: 6 7$' "$dir/swarm.err" || fail "the seeds never run are not named"
grep -q '^failed: weft-sim run --seed 5 ' "$dir/swarm.out" || fail "no replay line for seed 5"
grep -q '^seeds=1 failed=1 ' "$dir/swarm.out" || fail "the killed seed is not counted as failed"
echo "ok"
