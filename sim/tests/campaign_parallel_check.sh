#!/usr/bin/env bash
# A campaign run by GNU parallel as docs/SIMULATION.md shows it: 8 shards of 200 seeds, two
# at a time, one file per shard, then merge --expect-range; the union is the range, once.
# Then the same through --sshlogin with only the local host (2/:, no ssh), with the
# --return/--cleanup options a many-machine run uses. Skipped (77) where parallel is not
# installed (scripts/install-deps installs it).
# usage: campaign_parallel_check.sh WEFT_SIM
set -uo pipefail
sim=$1
if ! command -v parallel > /dev/null; then
  echo "campaign_parallel_check: skipped: GNU parallel is not installed (scripts/install-deps)"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "campaign_parallel_check: $*"; exit 1; }
cd "$scratch" || exit 1

parallel --will-cite -j2 "$sim" swarm --first 0 --seeds 200 --duration 2 --jobs 1 \
  --shard {}/8 --jsonl shard-{}.jsonl ::: $(seq 0 7) > parallel.log 2>&1 ||
  { cat parallel.log; fail "parallel exited $?"; }
report=$("$sim" merge shard-*.jsonl --expect-range 0 200)
status=$?
[[ $status -eq 0 ]] || { echo "$report"; fail "merge exited $status"; }
{ grep -q '^seeds=200 passed=200 failed=0 duplicates=0 lines=200$' <<< "$report" &&
  grep -q '^range first=0 count=200: complete' <<< "$report"; } ||
  { echo "$report"; fail "the shards run by parallel are not the range 0..199 once"; }
[[ $(grep -c '^swarm seeds=200 first=0 jobs=1 profile=swarm .* shard=[0-7]/8 shard_seeds=25$' \
  parallel.log) -eq 8 ]] || { cat parallel.log; fail "not 8 shards of 25 seeds in parallel's output"; }

mkdir ssh && cd ssh || exit 1
parallel --will-cite --sshlogin 2/: --return shard-{}.jsonl --cleanup "$sim" swarm --first 0 \
  --seeds 200 --duration 2 --jobs 1 --shard {}/8 --jsonl shard-{}.jsonl ::: $(seq 0 7) \
  > parallel.log 2>&1 || { cat parallel.log; fail "parallel --sshlogin 2/: exited $?"; }
cmp <(cat ../shard-*.jsonl | sed 's/"wall_s":[0-9.]*,//' | sort) \
  <(cat shard-*.jsonl | sed 's/"wall_s":[0-9.]*,//' | sort) ||
  fail "the --sshlogin run's records differ from the first run's (wall_s aside)"
echo "campaign_parallel_check: 8 shards by parallel -j2 = 0..199 once; --sshlogin 2/: the same"
