#!/usr/bin/env bash
# bench.rounds_alternate: runs ping-pong for a moment in three rounds and checks that
#   - each round printed weft's and raw TCP's lines, numbered 0, 1, 2;
#   - weft ran first in rounds 0 and 2 and last in round 1 (the order alternates);
#   - the table's weft cell is the median of weft's three values, with their lowest and
#     highest in brackets;
#   - --rounds 0 is refused.
#   rounds_check.sh WEFT_BENCH
set -uo pipefail
bench=$1
out=$("$bench" --scenario unary_pingpong_64B --seconds 0.2 --peers none --rounds 3 --table)
status=$?
echo "$out"
if [[ $status -ne 0 ]]; then
  echo "FAIL: weft-bench exited with $status"
  exit 1
fi
weft_lines=$(grep -E '^\{"scenario":"unary_pingpong_64B","peer":"weft",' <<< "$out")
if [[ $(grep -c . <<< "$weft_lines") -ne 3 ]]; then
  echo "FAIL: not three weft lines"
  exit 1
fi
# "round position" of each weft line: weft is phase 0 of 2 (weft, raw TCP).
positions=$(sed -nE 's/.*"round":([0-9]+),"position":([0-9]+).*/\1 \2/p' <<< "$weft_lines" | tr '\n' ' ')
if [[ $positions != "0 0 1 1 2 0 " ]]; then
  echo "FAIL: weft's rounds and positions are '$positions', want '0 0 1 1 2 0 '"
  exit 1
fi
values=$(sed -nE 's/.*"peer":"weft","value":([0-9.]+),.*/\1/p' <<< "$weft_lines" | sort -g)
cell=$(awk -v a="$(sed -n 1p <<< "$values")" -v m="$(sed -n 2p <<< "$values")" \
  -v b="$(sed -n 3p <<< "$values")" \
  'function h(v) { return v >= 1e6 ? sprintf("%.3g M", v / 1e6) : v >= 1e3 ? sprintf("%.3g k", v / 1e3) : sprintf("%.2f", v) }
   BEGIN { printf "%s (%s-%s)", h(m), h(a), h(b) }')
row=$(grep -F '| ping-pong 64 B, round trips/s |' <<< "$out")
weft_cell=$(awk -F' [|] ' '{ print $(NF) }' <<< "$row" | sed 's/ |$//')
if [[ $weft_cell != "$cell" ]]; then
  echo "FAIL: the table's weft cell is '$weft_cell', want '$cell' (median, lowest-highest)"
  exit 1
fi
if "$bench" --scenario unary_pingpong_64B --rounds 0 > /dev/null 2>&1; then
  echo "FAIL: --rounds 0 was accepted"
  exit 1
fi
echo "ok: three rounds in alternating order, table cell '$weft_cell'"
