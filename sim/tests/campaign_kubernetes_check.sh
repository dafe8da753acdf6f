#!/usr/bin/env bash
# sim/campaign/kubernetes-{campaign,merge}.yaml without a cluster: the YAML parses; the
# campaign is an Indexed Job with one completion per shard (SHARDS == completions,
# parallelism <= completions, restartPolicy Never), both Jobs mount the PVC the file defines
# where RESULTS points, and the merge checks the campaign's own range. Then each pod's
# command runs here under /bin/sh with its env, JOB_COMPLETION_INDEX 0..completions-1 (as
# Kubernetes sets it), a smaller seed count and a scratch RESULTS, and the merge Job's
# command finds the range complete. No kubectl is run or imitated. Skipped (77) without
# python3 and its yaml module (Debian: python3-yaml), which read the manifests.
# usage: campaign_kubernetes_check.sh WEFT_SIM CAMPAIGN_YAML MERGE_YAML
set -uo pipefail
sim=$1
# Debian's python3 first: scripts/install-deps gives it python3-yaml.
python=python3
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3
if ! "$python" -c 'import yaml' 2> /dev/null; then
  echo "campaign_kubernetes_check: skipped: no python3 with the yaml module to read the manifests"
  exit 77
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/bin" && ln -s "$sim" "$scratch/bin/weft-sim"
PATH="$scratch/bin:$PATH" SCRATCH=$scratch "$python" - "$2" "$3" <<'PYTHON'
import os, subprocess, sys, yaml

def fail(what):
    print("campaign_kubernetes_check:", what)
    sys.exit(1)

def load(path):
    with open(path) as f:
        return {doc["kind"]: doc for doc in yaml.safe_load_all(f) if doc}

campaign, merge = load(sys.argv[1]), load(sys.argv[2])
job, merge_job, pvc = campaign.get("Job"), merge.get("Job"), campaign.get("PersistentVolumeClaim")
if not (job and merge_job and pvc):
    fail("expected a Job and a PersistentVolumeClaim in the campaign, a Job in the merge")
spec = job["spec"]
if spec.get("completionMode") != "Indexed":
    fail("the campaign is not an Indexed Job")

def container(job):
    pod = job["spec"]["template"]["spec"]
    if pod.get("restartPolicy") != "Never":
        fail(job["metadata"]["name"] + ": restartPolicy is not Never")
    (only,) = pod["containers"]
    env = {e["name"]: str(e["value"]) for e in only.get("env", [])}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]}
    mounts = {m["mountPath"]: claims[m["name"]] for m in only["volumeMounts"]}
    if mounts.get(env.get("RESULTS")) != pvc["metadata"]["name"]:
        fail(job["metadata"]["name"] + ": RESULTS is not where the results volume is mounted")
    return only["command"], env

command, env = container(job)
merge_command, merge_env = container(merge_job)
completions = spec["completions"]
if int(env["SHARDS"]) != completions:
    fail(f"SHARDS is {env['SHARDS']} but completions is {completions}: one pod per shard")
if not 1 <= spec["parallelism"] <= completions:
    fail("parallelism must be 1..completions")
for key in ("CAMPAIGN_FIRST", "CAMPAIGN_SEEDS"):
    if merge_env[key] != env[key]:
        fail(f"the merge's {key} {merge_env[key]} is not the campaign's {env[key]}")
if "--shard \"$JOB_COMPLETION_INDEX/$SHARDS\"" not in command[-1]:
    fail("the pod does not run shard JOB_COMPLETION_INDEX/SHARDS")

results = os.path.join(os.environ["SCRATCH"], "results")
os.mkdir(results)
small = {"CAMPAIGN_SEEDS": "50", "CAMPAIGN_DURATION": "2", "RESULTS": results}
for index in range(completions):
    run_env = {**os.environ, **env, **small, "JOB_COMPLETION_INDEX": str(index)}
    done = subprocess.run(command, env=run_env, capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"pod {index}'s command exited {done.returncode}:\n{done.stdout}{done.stderr}")
done = subprocess.run(merge_command, env={**os.environ, **merge_env, **small},
                      capture_output=True, text=True)
first = env["CAMPAIGN_FIRST"]
if done.returncode != 0 or f"range first={first} count=50: complete" not in done.stdout:
    fail(f"the merge Job's command exited {done.returncode}:\n{done.stdout}{done.stderr}")
print(f"campaign_kubernetes_check: {completions} indexed pods cover {first}.. (50 seeds) once;"
      " the merge Job finds the range complete")
PYTHON
