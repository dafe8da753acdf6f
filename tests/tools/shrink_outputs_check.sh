#!/bin/sh
# weft-sim's output files are those of the run they name:
# - `shrink --trace T --capture D` leaves the trace and captures of the shrunk run (before,
#   those of the last candidate it tried, which may have passed);
# - --capture refuses a directory that holds captures (.wire files) of another run;
# - a capture file that cannot be written is reported (exit 2), not ignored.
# usage: shrink_outputs_check.sh WEFT_SIM
set -u
sim=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() {
  echo "$1"
  exit 1
}

mkdir "$dir/shrink" "$dir/replay"
out=$("$sim" shrink --seed 19 --profile swarm --duration 10 --canary old_generation_frames \
  --trace "$dir/shrink.jsonl" --capture "$dir/shrink")
status=$?
[ "$status" -eq 129 ] || fail "shrink exited $status, expected 129: $out"
cmd=$(printf '%s\n' "$out" | sed -n 's/^shrunk after [0-9]* runs: weft-sim //p')
[ -n "$cmd" ] || fail "no shrunk command in: $out"
# shellcheck disable=SC2086 # the command is a list of words
"$sim" $cmd --trace "$dir/replay.jsonl" --capture "$dir/replay" > /dev/null
cmp -s "$dir/shrink.jsonl" "$dir/replay.jsonl" ||
  fail "shrink's trace is not the shrunk run's ($cmd)"
diff -r "$dir/shrink" "$dir/replay" > /dev/null ||
  fail "shrink's captures are not the shrunk run's ($cmd)"

out=$("$sim" run --seed 1 --duration 1 --capture "$dir/replay" 2>&1)
status=$?
[ "$status" -eq 2 ] || fail "a capture directory holding captures was taken (exit $status)"
case "$out" in
  *"--capture takes a directory without .wire files"*) ;;
  *) fail "no reason given: $out" ;;
esac

# Directories where the captures of link 0 would go: neither can be written.
mkdir -p "$dir/blocked/0-n0-to-n1.wire" "$dir/blocked/0-n1-to-n0.wire"
out=$("$sim" run --seed 1 --nodes 2 --profile clean --duration 1 --capture "$dir/blocked" 2>&1)
status=$?
[ "$status" -eq 2 ] || fail "an unwritable capture passed (exit $status): $out"
case "$out" in
  *"weft-sim: cannot write $dir/blocked/0-n"*) ;;
  *) fail "the unwritable capture is not named: $out" ;;
esac
echo "ok"
