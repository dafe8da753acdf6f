#!/usr/bin/env bash
# Shards of a weft-sim campaign partition its seed range, and a seed's trace does not depend
# on the shard or the number of worker processes that ran it: 3 shards of 30 seeds (2 workers
# each) hold every seed of 0..29 once, in the shard the rule names ((s - first) % 3); merge
# --expect-range finds the union complete (and a range one seed larger not); every seed has
# the trace_hash of an unsharded run with one worker, and of `weft-sim run` of its replay.
# usage: campaign_shards_check.sh WEFT_SIM
set -uo pipefail
sim=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "campaign_shards_check: $*"; exit 1; }
# "seed trace_hash" of every line of a result file, sorted.
hashes() { sed -n 's/^{"seed":\([0-9]*\),.*"trace_hash":"\([0-9a-f]*\)".*/\1 \2/p' "$@" | sort -n; }

for shard in 0 1 2; do
  "$sim" swarm --first 0 --seeds 30 --duration 2 --jobs 2 --shard "$shard/3" \
    --jsonl "$scratch/shard-$shard.jsonl" > "$scratch/swarm-$shard.log" ||
    { cat "$scratch/swarm-$shard.log"; fail "shard $shard/3 exited $?"; }
  grep -q "shard=$shard/3 shard_seeds=10" "$scratch/swarm-$shard.log" ||
    fail "shard $shard/3 did not announce 10 seeds: $(head -1 "$scratch/swarm-$shard.log")"
  seeds=$(hashes "$scratch/shard-$shard.jsonl" | cut -d' ' -f1 | tr '\n' ' ')
  expected=$(seq "$shard" 3 29 | tr '\n' ' ')
  [[ "$seeds" == "$expected" ]] || fail "shard $shard/3 ran seeds '$seeds', expected '$expected'"
done

report=$("$sim" merge "$scratch"/shard-*.jsonl --expect-range 0 30)
status=$?
[[ $status -eq 0 ]] || { echo "$report"; fail "merge exited $status"; }
grep -q '^seeds=30 passed=30 failed=0 duplicates=0 lines=30$' <<< "$report" ||
  { echo "$report"; fail "merge did not count 30 passing seeds"; }
grep -q '^range first=0 count=30: complete missing=0 extra=0$' <<< "$report" ||
  { echo "$report"; fail "the union of the shards is not the range"; }

report=$("$sim" merge "$scratch"/shard-*.jsonl --expect-range 0 31)
status=$?
[[ $status -eq 1 ]] || { echo "$report"; fail "merge of an incomplete range exited $status"; }
grep -q '^missing: 30$' <<< "$report" || { echo "$report"; fail "seed 30 not reported missing"; }

"$sim" swarm --first 0 --seeds 30 --duration 2 --jobs 1 --jsonl - 2> /dev/null \
  > "$scratch/whole.jsonl" || fail "the unsharded swarm exited $?"
[[ $(wc -l < "$scratch/whole.jsonl") -eq 30 ]] || fail "the unsharded swarm wrote no 30 lines"
diff <(hashes "$scratch/whole.jsonl") <(hashes "$scratch"/shard-*.jsonl) ||
  fail "trace hashes differ between the shards (2 workers) and one unsharded worker"
# Another shard count and three workers: the same hashes again.
"$sim" swarm --first 0 --seeds 30 --duration 2 --jobs 3 --shard 1/2 --jsonl - 2> /dev/null \
  > "$scratch/halves.jsonl" || fail "shard 1/2 exited $?"
diff <(hashes "$scratch/halves.jsonl") <(hashes "$scratch/whole.jsonl" | awk '$1 % 2 == 1') ||
  fail "trace hashes of shard 1/2 (3 workers) differ from the unsharded run"

# The replay command of a record is the run itself: same trace_hash.
line=$(sed -n 5p "$scratch/whole.jsonl")
replay=$(sed -n 's/.*"replay":"weft-sim \([^"]*\)".*/\1/p' <<< "$line")
hash=$(sed -n 's/.*"trace_hash":"\([0-9a-f]*\)".*/\1/p' <<< "$line")
# shellcheck disable=SC2086 # the command is a list of words
run=$("$sim" $replay | tail -1)
[[ "$run" == *" trace_hash=$hash "* ]] || fail "'weft-sim $replay' gave '$run', expected $hash"
echo "campaign_shards_check: 3 shards = 0..29 exactly; hashes match across shards and jobs; replay matches"
