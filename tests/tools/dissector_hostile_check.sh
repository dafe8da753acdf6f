#!/usr/bin/env bash
# The Wireshark dissector on a hostile capture begun mid-stream: 60 KB of a 10-byte unit
# that passes the first checks of a frame start (magic, version, the header's array tag for
# its op) at every 0x77 and claims a 1016-byte frame with a checksum. The search for the
# first frame must reject each candidate by its header, not hash every one in Lua and ask
# TCP for the rest of each: that took over two minutes for 55 KB (the test's timeout), and
# now about a second. Every byte is still shown, as bytes before the first whole frame.
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
python3 -c "
import sys
sys.stdout.buffer.write(bytes([0x77,0x01,0x00,0x02,0x00,0x00,0x03,0xf8,0x94,0x04]) * 6000)
" > "$scratch/stream"
"$to_pcap" --skip-bytes 1 "$scratch/hostile.pcap" "$scratch/stream" > /dev/null ||
  { echo "dissector_hostile_check: FAIL: weft_wire_to_pcap"; exit 1; }
# HOME: a fresh one, so no personal Wireshark settings change what tshark does.
HOME=$scratch timeout 100 tshark -r "$scratch/hostile.pcap" -V -X "lua_script:$lua" \
  -d tcp.port==7700,weft > "$scratch/out" 2>&1
status=$?
[[ $status -eq 0 ]] || { tail -5 "$scratch/out"; echo "dissector_hostile_check: FAIL: tshark exited $status (124: over 100 s)"; exit 1; }
grep -q "weft: bytes before the first whole frame" "$scratch/out" ||
  { echo "dissector_hostile_check: FAIL: the skipped bytes are not shown"; exit 1; }
grep -q "Lua Error" "$scratch/out" && { echo "dissector_hostile_check: FAIL: a Lua error"; exit 1; }
echo "dissector_hostile_check: ok"
