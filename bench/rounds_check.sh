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
values=$(sed -nE 's/.*"peer":"weft","value":([0-9.]+),.*/\1/p' <<< "$weft_lines" | LC_ALL=C sort -g)
# weft's cell: the column the header names "weft" (others, such as "weft io_uring", follow it).
header=$(grep -E '^\| pattern \|' <<< "$out")
row=$(grep -F '| ping-pong 64 B, round trips/s |' <<< "$out")
weft_cell=$(printf '%s\n%s\n' "$header" "$row" | awk -F' *[|] *' '
  NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "weft") column = i }
  NR == 2 && column { print $column }')
# The cell is "MEDIAN (LOWEST-HIGHEST)", each to three digits with a unit ("37.6 k"): each
# must be the middle, lowest and highest of the three values printed, to within half a unit
# of its last digit (and the 0.05 the JSON lines round to).
if ! awk -v cell="$weft_cell" -v values="$(tr '\n' ' ' <<< "$values")" '
  function scale(text,   parts, n) {
    n = split(text, parts, " ")
    return n > 1 && parts[2] == "M" ? 1e6 : n > 1 && parts[2] == "k" ? 1e3 : 1
  }
  function shows(text, value,   parts, decimals, dot) {
    split(text, parts, " ")
    dot = index(parts[1], ".")
    decimals = dot > 0 ? length(parts[1]) - dot : 0
    delta = parts[1] * scale(text) - value
    if (delta < 0) delta = -delta
    return delta <= 0.5 * 10 ^ -decimals * scale(text) + 0.05 + 1e-9
  }
  BEGIN {
    if (match(cell, /^[0-9.]+( [kM])? \([0-9.]+( [kM])?-[0-9.]+( [kM])?\)$/) == 0) exit 1
    split(cell, halves, " [(]")
    range = substr(halves[2], 1, length(halves[2]) - 1)
    split(range, ends, "-")
    split(values, v, " ")
    exit !(shows(halves[1], v[2]) && shows(ends[1], v[1]) && shows(ends[2], v[3]))
  }'; then
  echo "FAIL: the table's weft cell is '$weft_cell'; want the median and range of: $values"
  exit 1
fi
if "$bench" --scenario unary_pingpong_64B --rounds 0 > /dev/null 2>&1; then
  echo "FAIL: --rounds 0 was accepted"
  exit 1
fi
echo "ok: three rounds in alternating order, table cell '$weft_cell'"
