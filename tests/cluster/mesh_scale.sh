#!/usr/bin/env bash
# The scale figures of docs/CHAOS.md: weft-chaos mesh at each size, one markdown table row
# per size from the mesh.jsonl each run writes. Needs root (a network namespace per run).
# usage: mesh_scale.sh WEFT_CHAOS [SIZES...]     (default 8 16 32 64)
set -euo pipefail
chaos=$1
shift
sizes=("$@")
[[ $# -eq 0 ]] && sizes=(8 16 32 64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "| nodes | pairs | full mesh up | RSS per node (mean / max) | idle CPU, all nodes | echo p50 / p99 | relay p50 / p99 | restart per node (median / max) | rolling-restart calls: ok / disconnected | verdict |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in "${sizes[@]}"; do
  if "$chaos" mesh --nodes "$n" --idle-s 30 --latency-calls 1000 --dir "$work/mesh-$n" \
       > "$work/out-$n.txt" 2>&1; then
    verdict=PASS
  else
    verdict="FAIL ($(grep -c VIOLATION "$work/out-$n.txt") violations)"
  fi
  python3 - "$work/mesh-$n/mesh.jsonl" "$n" "$verdict" <<'PYTHON'
import json, sys
f = json.loads(open(sys.argv[1]).read().splitlines()[-1])
n = int(sys.argv[2])
g = lambda k: f.get(k, 0)
print(f"| {n} | {n * (n - 1) // 2} | {g('full_mesh_ms')} ms | {g('rss_kib_mean') / 1024:.1f} / "
      f"{g('rss_kib_max') / 1024:.1f} MiB | {g('idle_cpu_total_pct_x100') / 100:.2f} % of a core | "
      f"{g('echo_p50_us')} / {g('echo_p99_us')} us | {g('relay_p50_us')} / {g('relay_p99_us')} us | "
      f"{g('restart_ms_median')} / {g('restart_ms_max')} ms | {g('restart_calls_ok')} / "
      f"{g('restart_calls_disconnected')} | {sys.argv[3]} |")
PYTHON
done
