#!/usr/bin/env bash
# The Wireshark dissector on a hostile capture begun mid-stream: a 10-byte unit, repeated,
# that passes the first checks of a frame start (magic, version, the header's array tag for
# its op) at every 0x77 and claims a 1016-byte frame with a checksum. The search for the
# first frame must reject each candidate by its header, not hash every one in Lua and ask
# TCP for the rest of each: that took over two minutes for 55 KB, and now about a second
# for 1 MB. Every byte is still shown, as bytes before the first whole frame.
# Linear time is measured, not assumed: tshark reads the hostile capture at 1 MB (N units)
# and 4 MB (4N), and a 100-byte one for its own start-up (Lua loaded, nothing to search);
# the least CPU time of 2 runs each (of 3 when the first 2 fail). Beyond start-up, 4N may
# take at most 9 times what N takes (3 times per doubling), plus 300 ms for noise: linear is 4
# (5 to 6 measured: the cost per byte grows a little with the capture), quadratic 16. The
# sizes are 4 apart rather than 2 so that a busy machine's noise passes for neither. Each
# run is also bounded by 30 s of the clock (4N takes about 4 s).
# Usage: dissector_hostile_check.sh LUA WIRE_TO_PCAP   (77: skipped without tshark/python3)
set -uo pipefail
lua=$1
to_pcap=$2
command -v tshark > /dev/null && command -v python3 > /dev/null || {
  echo "dissector_hostile_check: no tshark or python3: skipped"
  exit 77
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "dissector_hostile_check: FAIL: $*"; exit 1; }
units=100000
sizes=(10 "$units" $((4 * units)))
# capture UNITS: $scratch/hostile-UNITS.pcap, the hostile unit UNITS times.
capture() {
  python3 -c "
import sys
sys.stdout.buffer.write(bytes([0x77,0x01,0x00,0x02,0x00,0x00,0x03,0xf8,0x94,0x04]) * int(sys.argv[1]))
" "$1" > "$scratch/stream"
  "$to_pcap" --skip-bytes 1 "$scratch/hostile-$1.pcap" "$scratch/stream" > /dev/null ||
    fail "weft_wire_to_pcap"
}
# dissect UNITS: tshark over that capture (weft's details in $scratch/out, checked); the
# milliseconds of CPU it used (user and system: unlike the clock's, they do not grow while
# other work, a build or a test beside it, takes the machine's cores), the least so far, in
# best[UNITS].
declare -A best
dissect() {
  local status ms user system TIMEFORMAT='%3U %3S' LC_ALL=C  # C: a '.' before the decimals
  # HOME: a fresh one, so no personal Wireshark settings change what tshark does.
  { time HOME=$scratch timeout 30 tshark -r "$scratch/hostile-$1.pcap" -O weft \
    -X "lua_script:$lua" -d tcp.port==7700,weft > "$scratch/out" 2>&1; } 2> "$scratch/cpu"
  status=$?
  [[ $status -eq 0 ]] ||
    { tail -5 "$scratch/out"; fail "tshark on $1 units exited $status (124: over 30 s)"; }
  # The times are the last line (bash reports a child's death by a signal before them).
  read -r user system < <(tail -n 1 "$scratch/cpu")
  [[ $user =~ ^[0-9]+\.[0-9]{3}$ && $system =~ ^[0-9]+\.[0-9]{3}$ ]] ||
    fail "no CPU times from bash's time: $(cat "$scratch/cpu")"
  ms=$((10#${user/./} + 10#${system/./}))
  grep -q "weft: bytes before the first whole frame" "$scratch/out" ||
    fail "$1 units: the skipped bytes are not shown"
  grep -q "Lua Error" "$scratch/out" && fail "$1 units: a Lua error"
  [[ -n ${best[$1]:-} && ${best[$1]} -le $ms ]] || best[$1]=$ms
}
# linear: whether 4N took at most 9 times N beyond start-up (the best runs so far).
linear() {
  start_up=${best[10]}
  one=$((best[$units] - start_up))
  four=$((best[$((4 * units))] - start_up))
  ((one >= 50)) || one=50
  limit=$((9 * one + 300))
  echo "dissector_hostile_check: start-up ${start_up} ms; beyond it, $units units ${one} ms," \
    "$((4 * units)) units ${four} ms (at most ${limit} ms)"
  ((four <= limit))
}
for n in "${sizes[@]}"; do capture "$n"; done
for round in 1 2; do
  for n in "${sizes[@]}"; do dissect "$n"; done
done
if ! linear; then
  echo "dissector_hostile_check: a third run each, in case the machine was busy"
  for n in "${sizes[@]}"; do dissect "$n"; done
  linear || fail "4 times the capture took $four ms against $one ms: not linear time"
fi
echo "dissector_hostile_check: ok"
