#!/usr/bin/env bash
# bench.p99_floor_smoke: runs unary_p99_under_bulk for a moment and checks its line carries
# both measurements (weft's pings under bulk, and raw TCP's ideal mux on one connection: its
# idle and loaded ping latencies and a bulk rate above zero, p50 no later than p99), so the
# table's floor column cannot silently go missing.
#   p99_floor_check.sh WEFT_BENCH
set -uo pipefail
bench=$1
out=$("$bench" --scenario unary_p99_under_bulk --seconds 0.6 --peers none)
status=$?
echo "$out"
if [[ $status -ne 0 ]]; then
  echo "FAIL: weft-bench exited with $status"
  exit 1
fi
line=$(grep -E '^\{"scenario":"unary_p99_under_bulk","peer":"weft",' <<< "$out")
if [[ -z $line || $(wc -l <<< "$line") -ne 1 ]]; then
  echo "FAIL: no single result line"
  exit 1
fi
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p" <<< "$line"; }
p50=$(field raw_mux_p50_us) p99=$(field raw_mux_p99_us) gbps=$(field raw_mux_bulk_gbps)
weft_p99=$(field p99_us) idle=$(field raw_mux_idle_p99_us) ratio=$(field raw_mux_ratio_to_its_idle)
for name in p50 p99 gbps weft_p99 idle ratio; do
  if [[ -z ${!name} ]] || ! awk -v v="${!name}" 'BEGIN { exit !(v > 0) }'; then
    echo "FAIL: $name is '${!name}'"
    exit 1
  fi
done
if ! awk -v a="$p50" -v b="$p99" 'BEGIN { exit !(a <= b) }'; then
  echo "FAIL: the ideal mux's p50 ($p50 us) is above its p99 ($p99 us)"
  exit 1
fi
echo "ok: ideal mux p50 $p50 us, p99 $p99 us, bulk $gbps GB/s; weft p99 $weft_p99 us"
