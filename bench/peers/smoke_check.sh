#!/usr/bin/env bash
# bench.peers_smoke.PEER: runs PEER beside weft on a scenario (by default the ping-pong one)
# for a moment and checks it printed a valid result line with a rate above zero. Exit 77
# (skipped) when this build lacks the peer.
#   smoke_check.sh WEFT_BENCH PEER [SCENARIO UNIT]
set -uo pipefail
bench=$1 peer=$2 scenario=${3:-unary_pingpong_64B} unit=${4:-requests/s}
out=$("$bench" --scenario "$scenario" --seconds 0.2 --peers "$peer")
status=$?
if [[ $status -eq 77 ]]; then
  echo "skipped: weft-bench has no $peer in this build"
  exit 77
fi
echo "$out"
if [[ $status -ne 0 ]]; then
  echo "FAIL: weft-bench exited with $status"
  exit 1
fi
number='[0-9]+(\.[0-9]+)?'
line=$(grep -E "^\{\"scenario\":\"$scenario\",\"peer\":\"$peer\",\"value\":$number,\"unit\":\"$unit\",\"p50_us\":$number,\"p99_us\":$number,\"baseline\":\"raw_tcp\",\"baseline_value\":$number,\"ratio\":$number\}$" <<< "$out")
if [[ $(wc -l <<< "$line") -ne 1 || -z $line ]]; then
  echo "FAIL: no single valid result line for $peer"
  exit 1
fi
value=$(sed -E 's/.*"value":([0-9.]+).*/\1/' <<< "$line")
if ! awk -v v="$value" 'BEGIN { exit !(v > 0) }'; then
  echo "FAIL: $peer's rate is $value"
  exit 1
fi
echo "ok: $peer ran $scenario at $value $unit"
