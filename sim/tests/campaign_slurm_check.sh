#!/usr/bin/env bash
# sim/campaign/slurm-campaign.sh without Slurm: it parses (bash -n), and run as each task of
# the array its #SBATCH --array line declares (with the SLURM_ARRAY_* variables sbatch sets),
# then with the argument merge, it covers a small campaign's range exactly once. A task
# whose seeds fail (a planted bug) still succeeds and the merge fails; an array that does not
# start at 0 is refused. No sbatch is run or imitated: only the script's own shell.
# usage: campaign_slurm_check.sh WEFT_SIM SLURM_SCRIPT
set -uo pipefail
sim=$1
script=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "campaign_slurm_check: $*"; exit 1; }
bash -n "$script" || fail "$script does not parse"
mkdir "$scratch/bin" && ln -s "$sim" "$scratch/bin/weft-sim"
export PATH="$scratch/bin:$PATH"

range=$(sed -n 's/^#SBATCH --array=\([0-9]*-[0-9]*\)$/\1/p' "$script")
[[ "$range" =~ ^0-([0-9]+)$ ]] || fail "no '#SBATCH --array=0-M' line in $script"
shards=$((BASH_REMATCH[1] + 1))
cpus=$(sed -n 's/^#SBATCH --cpus-per-task=\([0-9]*\)$/\1/p' "$script")
[[ -n "$cpus" ]] || fail "no #SBATCH --cpus-per-task"
task() {
  SLURM_ARRAY_TASK_ID=$1 SLURM_ARRAY_TASK_COUNT=$shards SLURM_ARRAY_TASK_MIN=${2:-0} \
    SLURM_ARRAY_TASK_MAX=$((shards - 1)) SLURM_ARRAY_TASK_STEP=1 SLURM_CPUS_PER_TASK=$cpus \
    SLURM_SUBMIT_DIR=$scratch CAMPAIGN_SEEDS=60 CAMPAIGN_DURATION=2 bash "$script" \
    > "$scratch/task-$1.log" 2>&1
}
for ((i = 0; i < shards; ++i)); do
  task "$i" || { cat "$scratch/task-$i.log"; fail "task $i of $shards exited $?"; }
done
[[ $(find "$scratch/weft-sim-results" -name 'shard-*.jsonl' | wc -l) -eq $shards ]] ||
  fail "not $shards files in $scratch/weft-sim-results"
report=$(SLURM_SUBMIT_DIR=$scratch CAMPAIGN_SEEDS=60 bash "$script" merge)
status=$?
[[ $status -eq 0 ]] || { echo "$report"; fail "the merge step exited $status"; }
grep -q '^range first=0 count=60: complete missing=0 extra=0$' <<< "$report" ||
  { echo "$report"; fail "the array's shards are not the range 0..59 once"; }

task 0 1 && fail "an array that starts at 1 was accepted"
grep -q 'the array must be 0-' "$scratch/task-0.log" || fail "no reason given: $(cat "$scratch/task-0.log")"
env -u SLURM_ARRAY_TASK_ID bash "$script" > /dev/null 2>&1 && fail "ran outside an array job"

if "$sim" canaries | grep -qx credit_off_by_one; then
  # weft-sim with a planted bug that every seed with a stream catches.
  rm -r "$scratch/weft-sim-results" "$scratch/bin/weft-sim"
  # shellcheck disable=SC2016 # the wrapper's own $1 and $@
  printf '#!/bin/sh\nif [ "$1" = swarm ]; then exec "%s" "$@" --canary credit_off_by_one; fi\nexec "%s" "$@"\n' \
    "$sim" "$sim" > "$scratch/bin/weft-sim"
  chmod +x "$scratch/bin/weft-sim"
  task 0 || { cat "$scratch/task-0.log"; fail "a task whose seeds failed exited $?, not 0"; }
  grep -q '"result":"fail"' "$scratch/weft-sim-results/shard-0.jsonl" || fail "no seed failed"
  report=$(SLURM_SUBMIT_DIR=$scratch CAMPAIGN_SEEDS=60 bash "$script" merge)
  status=$?
  { [[ $status -eq 1 ]] && grep -q "^seeds=$(((60 + shards - 1) / shards)) passed=[0-9]* failed=[1-9]" <<< "$report"; } ||
    { echo "$report"; fail "the merge of shard 0's failing seeds exited $status, not 1"; }
fi
echo "campaign_slurm_check: $shards array tasks cover 0..59 once and merge; failures reach the merge"
