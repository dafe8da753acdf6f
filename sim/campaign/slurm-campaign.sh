#!/bin/bash
# A weft-sim campaign as a Slurm job array: array task I of N runs shard I/N of the seed range
# (the seeds s with (s - FIRST) % N == I) and writes RESULTS/shard-I.jsonl; a job that
# depends on the whole array merges them (docs/SIMULATION.md, "Campaigns across machines").
#
#   jobid=$(sbatch --parsable sim/campaign/slurm-campaign.sh)
#   sbatch --dependency=afterany:"$jobid" --job-name=weft-sim-merge \
#          --wrap "bash $PWD/sim/campaign/slurm-campaign.sh merge"
#
# The shard count is the array's size (SLURM_ARRAY_TASK_COUNT), so `sbatch --array=0-15`
# runs 16 shards with no other change; the array must be 0..N-1 with step 1, which the
# script checks. Settings come from the environment (sbatch passes the submitter's on):
# CAMPAIGN_FIRST (0), CAMPAIGN_SEEDS (1000), CAMPAIGN_DURATION (30 simulated s),
# CAMPAIGN_PROFILE (swarm), CAMPAIGN_JOBS (worker processes per task: the CPUs it has),
# CAMPAIGN_RESULTS (a directory every node sees; default weft-sim-results in the directory
# sbatch was run from). weft-sim must be on PATH on every node (cmake --install).
# A task whose seeds failed still succeeds: the failures are in its file, and the merge job
# reports them (and fails). A task fails only when weft-sim could not run its shard.
#SBATCH --job-name=weft-sim-campaign
#SBATCH --array=0-7
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=01:00:00
#SBATCH --output=weft-sim-campaign-%A_%a.log
set -euo pipefail

first=${CAMPAIGN_FIRST:-0}
seeds=${CAMPAIGN_SEEDS:-1000}
duration=${CAMPAIGN_DURATION:-30}
profile=${CAMPAIGN_PROFILE:-swarm}
jobs=${CAMPAIGN_JOBS:-${SLURM_CPUS_PER_TASK:-2}}
results=${CAMPAIGN_RESULTS:-${SLURM_SUBMIT_DIR:-$PWD}/weft-sim-results}

if [[ "${1:-}" == merge ]]; then
  exec weft-sim merge "$results"/shard-*.jsonl --expect-range "$first" "$seeds"
fi

: "${SLURM_ARRAY_TASK_ID:?run this as a Slurm array job (sbatch), or with the argument merge}"
: "${SLURM_ARRAY_TASK_COUNT:?run this as a Slurm array job (sbatch)}"
shards=$SLURM_ARRAY_TASK_COUNT
if [[ "${SLURM_ARRAY_TASK_MIN:-0}" != 0 || "${SLURM_ARRAY_TASK_MAX:-$((shards - 1))}" != $((shards - 1)) ||
      "${SLURM_ARRAY_TASK_STEP:-1}" != 1 ]]; then
  echo "slurm-campaign: the array must be 0-$((shards - 1)) with step 1 (one task per shard)" >&2
  exit 2
fi
mkdir -p "$results"
status=0
weft-sim swarm --first "$first" --seeds "$seeds" --duration "$duration" --profile "$profile" \
  --jobs "$jobs" --shard "$SLURM_ARRAY_TASK_ID/$shards" \
  --jsonl "$results/shard-$SLURM_ARRAY_TASK_ID.jsonl" || status=$?
# 1: some seeds failed, recorded in the file for the merge. Anything else is this task's own.
if [[ $status -eq 1 ]]; then exit 0; fi
exit "$status"
