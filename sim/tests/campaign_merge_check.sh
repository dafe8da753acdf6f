#!/usr/bin/env bash
# weft-sim merge reports what a campaign's files hold: with a planted bug (canary
# old_generation_frames, which some seeds of 10..29 catch) split into 2 shards, it lists
# every failing seed with its replay command, and each replay fails again with the same
# outcome and trace_hash; a line given twice is a duplicate, a lost line a missing seed, a
# damaged line an error naming FILE:LINE; only a clean, complete set exits 0.
# usage: campaign_merge_check.sh WEFT_SIM
set -uo pipefail
sim=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "campaign_merge_check: $*"; exit 1; }
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
merge() {
  report=$("$sim" merge "$@")
  status=$?
}

for shard in 0 1; do
  "$sim" swarm --first 10 --seeds 20 --duration 10 --canary old_generation_frames \
    --shard "$shard/2" --jsonl "$scratch/shard-$shard.jsonl" > "$scratch/swarm-$shard.log"
  status=$?
  [[ $status -le 1 ]] || { cat "$scratch/swarm-$shard.log"; fail "shard $shard/2 exited $status"; }
done
a=$scratch/shard-0.jsonl
b=$scratch/shard-1.jsonl

merge "$a" "$b" --expect-range 10 20
[[ $status -eq 1 ]] || { echo "$report"; fail "merge with failing seeds exited $status, not 1"; }
grep -q '^range first=10 count=20: complete' <<< "$report" || { echo "$report"; fail "range"; }
failed=$(sed -n 's/^seeds=20 passed=\([0-9]*\) failed=\([0-9]*\) duplicates=0 lines=20$/\2/p' \
  <<< "$report")
[[ -n "$failed" && $failed -ge 1 && $failed -lt 20 ]] ||
  { echo "$report"; fail "expected some but not all of 20 seeds to fail"; }
[[ $(grep -c '^failed: seed ' <<< "$report") -eq $failed ]] ||
  { echo "$report"; fail "not one 'failed:' entry per failing seed"; }
[[ $(grep -c '^  replay: weft-sim run ' <<< "$report") -eq $failed ]] ||
  { echo "$report"; fail "not one replay command per failing seed"; }

# Every replay command reproduces its failure: same outcome (exit status) and trace.
while read -r seed; do
  line=$(grep -h "^{\"seed\":$seed," "$a" "$b")
  replay=$(sed -n "/^failed: seed $seed /{n;s/^  replay: weft-sim //p}" <<< "$report")
  [[ "$replay" == "run --seed $seed "*"--canary old_generation_frames" ]] ||
    fail "seed $seed: replay '$replay'"
  outcome=$(field outcome <<< "$line")
  hash=$(field trace_hash <<< "$line")
  # shellcheck disable=SC2086 # the command is a list of words
  run=$("$sim" $replay)
  status=$?
  case $outcome in
    assertion) want=127 ;; liveness) want=128 ;; safety) want=129 ;; *) fail "outcome '$outcome'" ;;
  esac
  [[ $status -eq $want ]] || fail "'weft-sim $replay' exited $status, the record says $outcome"
  [[ "$(tail -1 <<< "$run")" == "result=$outcome seed=$seed "*" trace_hash=$hash "* ]] ||
    fail "'weft-sim $replay' ended '$(tail -1 <<< "$run")', the record has $outcome $hash"
done < <(sed -n 's/^failed: seed \([0-9]*\) .*/\1/p' <<< "$report")

# Only the passing lines, no range: nothing to report.
grep -h '"result":"pass"' "$a" "$b" > "$scratch/passing.jsonl"
merge "$scratch/passing.jsonl"
[[ $status -eq 0 ]] || { echo "$report"; fail "merge of passing seeds exited $status"; }

# A seed twice.
sed -n 3p "$b" > "$scratch/again.jsonl"
dup=$(sed -n 's/^{"seed":\([0-9]*\),.*/\1/p' "$scratch/again.jsonl")
merge "$a" "$b" "$scratch/again.jsonl" --expect-range 10 20
grep -q "^duplicate: seed $dup at $scratch/again.jsonl:1, first at $b:3\$" <<< "$report" ||
  { echo "$report"; fail "seed $dup given twice not reported"; }
grep -q "^seeds=20 passed=[0-9]* failed=$failed duplicates=1 lines=21\$" <<< "$report" ||
  { echo "$report"; fail "a duplicate counted as a seed"; }
merge "$scratch/passing.jsonl" "$scratch/passing.jsonl"
{ grep -q " duplicates=$(wc -l < "$scratch/passing.jsonl") " <<< "$report" && [[ $status -eq 1 ]]; } ||
  { echo "$report"; fail "a file merged twice: every line must be a duplicate (exit 1)"; }

# A lost line.
lost=$(sed -n 's/^{"seed":\([0-9]*\),.*/\1/p' <(sed -n 4p "$b"))
sed 4d "$b" > "$scratch/lost.jsonl"
merge "$a" "$scratch/lost.jsonl" --expect-range 10 20
{ grep -q "^missing: $lost\$" <<< "$report" && [[ $status -eq 1 ]]; } ||
  { echo "$report"; fail "seed $lost left out is not reported missing (exit 1)"; }
merge "$a" "$b" --expect-range 10 19
{ grep -q '^extra: 29$' <<< "$report" && [[ $status -eq 1 ]]; } ||
  { echo "$report"; fail "seed 29 outside 10..28 not reported extra (exit 1)"; }

# A damaged line (a shard cut off while writing).
{ cat "$a"; head -c 40 "$b"; echo; } > "$scratch/cut.jsonl"
merge "$scratch/cut.jsonl" "$b"
lines=$(wc -l < "$scratch/cut.jsonl")
{ grep -q "^error: $scratch/cut.jsonl:$lines: .* at column [0-9]*\$" <<< "$report" &&
  [[ $status -eq 2 ]]; } || { echo "$report"; fail "a cut line is not an error at its FILE:LINE (2)"; }
"$sim" merge > /dev/null 2>&1
[[ $? -eq 2 ]] || fail "merge without files must exit 2"
"$sim" merge "$a" --expect-range 10 > /dev/null 2>&1
[[ $? -eq 2 ]] || fail "--expect-range with one number must exit 2"
echo "campaign_merge_check: $failed of 20 seeds failed and replayed; duplicates, missing, extra and damaged lines reported"
