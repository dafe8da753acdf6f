#!/usr/bin/env bash
# The Wireshark dissector (scripts/wireshark/weft.lua) under tshark against weft-dump, frame
# by frame (dissector_compare.py), on three sources of bytes:
#
#   dissector_check.sh live    LUA WEFT_DUMP WEFT_NODE WEFT_CALL
#       a real loopback capture (tcpdump) of weft-call sessions with a weft-node: requests
#       of 1 B to 40 KB (in parts), a stream, objects; found by the heuristic, then decoded
#       by port (-d tcp.port==P,weft);
#   dissector_check.sh sim     LUA WEFT_DUMP WEFT_SIM WIRE_TO_PCAP
#       every connection of a short `weft-sim --capture` run, made a pcap by
#       weft_wire_to_pcap in segments of 1..1448 bytes, and again in segments of 1..64
#       bytes (tshark's two passes), and once without each direction's first 700 bytes (a
#       capture begun mid-stream, decoded by port); the pcap's bytes must equal the capture
#       files;
#   dissector_check.sh vectors LUA WEFT_DUMP PROTOCOL_MD WIRE_TO_PCAP
#       every vector of PROTOCOL.md §10 (each frame with and without checksum, every error
#       vector, the compressed stream), in segments of 1..16 bytes; each error vector must
#       be flagged with the error and offset the document gives.
# live, vectors and sim's mid-stream capture run a second time with tshark's
# tcp.relative_sequence_numbers off: the dissector must not depend on that preference.
#   dissector_check.sh mutants LUA WEFT_DUMP PROTOCOL_MD WIRE_TO_PCAP
#       600 copies of those vectors with random edits (seeded): the same frames and the
#       same first error as weft-dump, on bytes nobody wrote on purpose;
#   dissector_check.sh object_headers LUA WEFT_DUMP OBJECT_HEADER_MUTANTS WIRE_TO_PCAP
#       object_begin frames whose object headers break each check of weft's decoder
#       (weft_object_header_mutants: opcode over 16 bits, present over 7, a value for an
#       absent attribute, ...) in segments of 1..40 bytes: the frames as weft-dump decodes
#       them, and each header refused (weft.object.bad) with decode_object_header's reason,
#       or shown whole where it accepts it;
#   dissector_check.sh xxh3    LUA - WEFT_XXH3_VECTORS
#       the dissector's xxh3-64 (in Lua, UInt64) equals libxxhash's on 1116 inputs of 0 bytes
#       to 1 MiB (tests/tools/xxh3_check.lua);
#   dissector_check.sh install LUA CMAKE BUILD_DIR PLUGIN_DIR
#       `cmake --install BUILD_DIR --component wireshark` puts LUA (unchanged) in PLUGIN_DIR
#       under the prefix (WEFT_WIRESHARK_PLUGIN_DIR), and tshark loads it from there when
#       that folder is its personal Lua plugin folder.
#
# Exit status: 0 everything agreed; 1 a difference (printed); 77 skipped: no tshark, no
# Python 3, or (live) no tcpdump or no permission to capture on lo.
set -uo pipefail
mode=$1
lua=$2
dump=${3:-}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
capture_pid=
cleanup() {
  [[ -n "$capture_pid" ]] && kill "$capture_pid" 2> /dev/null && wait "$capture_pid" 2> /dev/null
  [[ "$mode" == live ]] && stop_node_a
  rm -rf "$scratch"
}
trap cleanup EXIT
skip() {
  echo "dissector_check $mode: SKIPPED: $*"
  exit 77
}
fail() {
  echo "dissector_check $mode: FAIL: $*"
  exit 1
}

command -v tshark > /dev/null || skip "no tshark (Debian package tshark)"
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3) || skip "no python3"
# tshark runs with a HOME of its own, so a weft.lua in the user's personal plugin folder is
# not loaded beside the one under test.
mkdir -p "$scratch/home"
export TSHARK_HOME="$scratch/home"
HOME=$TSHARK_HOME tshark -G protocols > "$scratch/protocols.txt" 2> "$scratch/lua.err"
awk -F'\t' '$3 == "weft" { found = 1 } END { exit found }' "$scratch/protocols.txt" ||
  skip "tshark already loads a weft dissector from its global plugin folder (tshark -G folders)"
HOME=$TSHARK_HOME tshark -G protocols -X "lua_script:$lua" > "$scratch/protocols.txt" \
  2> "$scratch/lua.err"
awk -F'\t' '$3 == "weft" { found = 1 } END { exit !found }' "$scratch/protocols.txt" ||
  fail "tshark did not load $lua: $(cat "$scratch/lua.err")"

compare() {
  HOME=$TSHARK_HOME "$python" "$here/dissector_compare.py" --tshark tshark --lua "$lua" --dump "$dump" "$@"
}

case "$mode" in
  live)
    node_bin=$1 call_bin=$2
    command -v tcpdump > /dev/null || skip "no tcpdump (Debian package tcpdump)"
    source "$here/node_process.sh"
    start_node_a "$node_bin" "$scratch" || fail "node-a did not report its port within 5 s"
    credentials cli
    run_call() {
      timeout 20 "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=127.0.0.1:$port" \
        "${cred[@]}" "$@" >> "$scratch/calls.log" 2>&1
    }
    call() { run_call "$@" || fail "weft-call $1 failed: $(tail -5 "$scratch/calls.log")"; }
    # capture_session PCAP: tcpdump of a session of weft-calls; status 1 when tcpdump says
    # the kernel dropped packets (the capture is then not the bytes that went by).
    capture_session() {
      # -Z root: Debian's tcpdump would otherwise drop to its own user, who cannot write
      # here. --immediate-mode: libpcap hands over each packet at once, not blocks of them
      # after a timeout (a block still waiting when tcpdump stops is lost).
      tcpdump -i lo -Z root -U --immediate-mode -s 0 -w "$1" "tcp port $port" \
        2> "$scratch/tcpdump.log" &
      capture_pid=$!
      for _ in $(seq 1 500); do
        grep -q "listening on" "$scratch/tcpdump.log" && break
        kill -0 "$capture_pid" 2> /dev/null || break
        sleep 0.01
      done
      grep -q "listening on" "$scratch/tcpdump.log" ||
        skip "tcpdump cannot capture on lo: $(cat "$scratch/tcpdump.log")"
      # Payloads of every checksum size class and one cut into parts (32 KiB each).
      for size in 1 20 200 1000 5000 40000; do
        call request 1 "$(head -c "$size" /dev/zero | tr '\0' x)"
      done
      call stream 3 one two three
      call objects gen 3 100000
      run_call request 9 nobody-serves-handler-9  # answered unknown_handler
      # tcpdump writes each packet as it reads it (-U), and on a loaded machine it reads
      # late: stop it once the file has not grown for 1 s (at most 20 s).
      local size=-1 stable=0
      for _ in $(seq 1 100); do
        local now
        now=$(stat -c %s "$1")
        if [[ $now == "$size" ]]; then
          stable=$((stable + 1))
          [[ $stable -ge 5 ]] && break
        else
          stable=0 size=$now
        fi
        sleep 0.2
      done
      kill -INT "$capture_pid"
      wait "$capture_pid" 2> /dev/null
      capture_pid=
      local dropped
      dropped=$(sed -nE 's/^([0-9]+) packets? dropped by kernel$/\1/p' "$scratch/tcpdump.log")
      [[ ${dropped:-0} -eq 0 ]]
    }
    if ! capture_session "$scratch/live.pcap"; then
      capture_session "$scratch/live.pcap" ||
        skip "tcpdump lost packets twice (a loaded machine): $(tail -3 "$scratch/tcpdump.log")"
    fi
    packets=$(tshark -r "$scratch/live.pcap" 2> /dev/null | wc -l)
    [[ $packets -gt 20 ]] || fail "the capture holds $packets packets"
    compare --pcap "$scratch/live.pcap" --min-frames 40 || fail "the heuristic's decoding differs"
    compare --pcap "$scratch/live.pcap" --decode-port "$port" --min-frames 40 ||
      fail "decoding by port differs"
    # The kernel's random initial sequence numbers, shown absolute: the same decoding.
    compare --pcap "$scratch/live.pcap" --min-frames 40 --absolute-seq ||
      fail "with absolute sequence numbers, the heuristic's decoding differs"
    ;;
  sim)
    sim_bin=$1 to_pcap=$2
    mkdir "$scratch/capture"
    # Seed 5: 11 connections, 440 KB; one direction ends inside a frame (a crash), which
    # weft-dump reports as truncated and the dissector must leave undecoded.
    "$sim_bin" run --seed 5 --nodes 4 --profile chaos --duration 10 --rate 4 \
      --capture "$scratch/capture" > "$scratch/sim.log" || fail "weft-sim failed: $(tail -3 "$scratch/sim.log")"
    for max in 1448 64; do
      passes=()
      [[ $max == 64 ]] && passes=(--two-pass)
      # The manifest says which capture file each direction of each TCP stream came from.
      "$to_pcap" --seed "$max" --max-segment "$max" --manifest "$scratch/originals.txt" \
        --capture-dir "$scratch/capture" "$scratch/sim.pcap" > /dev/null ||
        fail "weft_wire_to_pcap failed"
      compare --pcap "$scratch/sim.pcap" --originals "$scratch/originals.txt" --min-frames 200 \
        "${passes[@]}" ||
        fail "segments of up to $max bytes: the decodings differ"
    done
    # A capture that begins inside the connections (no SYN, the first 700 bytes of each
    # direction gone): the dissector finds the first whole frame and goes on from there.
    "$to_pcap" --seed 7 --skip-bytes 700 --manifest "$scratch/originals.txt" \
      --capture-dir "$scratch/capture" "$scratch/cut.pcap" > /dev/null ||
      fail "weft_wire_to_pcap failed"
    compare --pcap "$scratch/cut.pcap" --originals "$scratch/originals.txt" --cut 700 \
      --decode-port 7700 --min-frames 100 || fail "a capture begun mid-stream: the decodings differ"
    compare --pcap "$scratch/cut.pcap" --originals "$scratch/originals.txt" --cut 700 \
      --decode-port 7700 --min-frames 100 --absolute-seq ||
      fail "a capture begun mid-stream, absolute sequence numbers: the decodings differ"
    ;;
  vectors)
    protocol_md=$1 to_pcap=$2
    "$python" "$here/protocol_vectors.py" "$protocol_md" "$scratch" > "$scratch/list.txt" ||
      fail "cannot read the vectors of $protocol_md"
    mapfile -t connections < "$scratch/list.txt"
    "$to_pcap" --seed 16 --max-segment 16 "$scratch/vectors.pcap" "${connections[@]}" \
      > /dev/null || fail "weft_wire_to_pcap failed"
    compare --pcap "$scratch/vectors.pcap" --decode-port 7700 --expect "$scratch/expect.txt" \
      --min-frames 100 || fail "the decodings differ"
    compare --pcap "$scratch/vectors.pcap" --decode-port 7700 --expect "$scratch/expect.txt" \
      --min-frames 100 --absolute-seq || fail "with absolute sequence numbers, the decodings differ"
    # Under a verification limit of 0 KiB no checksum is verified, each says so, and none
    # is flagged: not even the vector whose checksum is wrong.
    HOME=$TSHARK_HOME tshark -n -q -r "$scratch/vectors.pcap" -X "lua_script:$lua" \
      -d tcp.port==7700,weft -o weft.verify_max_kib:0 -z expert > "$scratch/expert.txt" 2>&1
    grep -q "checksum not verified" "$scratch/expert.txt" ||
      fail "no frame says its checksum was not verified: $(cat "$scratch/expert.txt")"
    if grep -q "checksum_mismatch" "$scratch/expert.txt"; then
      fail "a checksum was verified above the limit"
    fi
    ;;
  mutants)
    protocol_md=$1 to_pcap=$2
    "$python" "$here/protocol_vectors.py" "$protocol_md" "$scratch" --mutants 600 19 \
      > "$scratch/list.txt" || fail "cannot read the vectors of $protocol_md"
    mapfile -t connections < "$scratch/list.txt"
    "$to_pcap" --seed 19 --max-segment 40 "$scratch/mutants.pcap" "${connections[@]}" \
      > /dev/null || fail "weft_wire_to_pcap failed"
    compare --pcap "$scratch/mutants.pcap" --decode-port 7700 --allow-checksum-missing \
      --min-frames 100 || fail "the decodings differ"
    ;;
  object_headers)
    mutants_bin=$1 to_pcap=$2
    "$mutants_bin" "$scratch/headers.wire" > "$scratch/expected.txt" ||
      fail "weft_object_header_mutants failed"
    "$to_pcap" --seed 23 --max-segment 40 "$scratch/headers.pcap" "$scratch/headers.wire" \
      > /dev/null || fail "weft_wire_to_pcap failed"
    compare --pcap "$scratch/headers.pcap" --decode-port 7700 --min-frames 10 ||
      fail "the decodings differ"
    HOME=$TSHARK_HOME tshark -n -r "$scratch/headers.pcap" -X "lua_script:$lua" \
      -d tcp.port==7700,weft -T json --no-duplicate-keys -J "weft" > "$scratch/headers.json" ||
      fail "tshark failed"
    "$python" - "$scratch/headers.json" "$scratch/expected.txt" << 'PY' || fail "the object headers differ"
import json, sys
sys.path.insert(0, "")
shown = {}
def walk(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("weft.") and not isinstance(value, (dict, list)):
                out.setdefault(key, value)
            walk(value, out)
    elif isinstance(node, list):
        for value in node:
            walk(value, out)
    return out
for packet in json.load(open(sys.argv[1])):
    weft = packet["_source"]["layers"].get("weft")
    for item in weft if isinstance(weft, list) else ([weft] if weft else []):
        fields = walk(item, {})
        if fields.get("weft.op") == "object_begin":
            shown[int(fields["weft.seq"])] = fields.get("weft.object.bad", "ok")
differences = 0
count = 0
for line in open(sys.argv[2]):
    seq, want = line.rstrip("\n").split(" ", 1)
    got = shown.get(int(seq))
    count += 1
    if got != want:
        differences += 1
        print("DIFF object_begin seq %s: the dissector says %r, weft's decoder %r" % (seq, got, want))
print("object headers: %d compared, %d differences" % (count, differences))
sys.exit(1 if differences or count < 10 else 0)
PY
    ;;
  xxh3)
    vectors_bin=$1
    "$vectors_bin" "$scratch/xxh3.bin" > /dev/null || fail "weft_xxh3_vectors failed"
    WEFT_XXH3_VECTORS="$scratch/xxh3.bin" HOME=$TSHARK_HOME tshark -G protocols \
      -X "lua_script:$lua" -X "lua_script:$here/xxh3_check.lua" 2> "$scratch/lua.err" |
      grep '^xxh3_check:' > "$scratch/xxh3.txt"
    cat "$scratch/xxh3.txt"
    grep -Eq '^xxh3_check: [0-9]{4,} inputs, 0 mismatches' "$scratch/xxh3.txt" ||
      fail "the dissector's xxh3-64 differs from libxxhash's: $(cat "$scratch/lua.err")"
    echo "dissector_check xxh3: the dissector's xxh3-64 is libxxhash's"
    exit 0
    ;;
  install)
    cmake_bin=$dump build_dir=$1 plugin_dir=$2
    # A relative folder lands under the prefix; an absolute one under DESTDIR alone.
    prefix=/usr/local
    installed="$scratch/root$plugin_dir/weft.lua"
    [[ $plugin_dir == /* ]] || installed="$scratch/root$prefix/$plugin_dir/weft.lua"
    DESTDIR="$scratch/root" "$cmake_bin" --install "$build_dir" --component wireshark \
      --prefix "$prefix" > "$scratch/install.log" 2>&1 || fail "cmake --install: $(cat "$scratch/install.log")"
    [[ -f "$installed" ]] || fail "nothing installed at $installed: $(cat "$scratch/install.log")"
    cmp -s "$installed" "$lua" || fail "$installed differs from $lua"
    diff -r "$(dirname "$installed")/weft" "$(dirname "$lua")/weft" > /dev/null ||
      fail "the modules installed beside $installed differ from $(dirname "$lua")/weft"
    # tshark's personal Lua plugin folder is $HOME/.local/lib/wireshark/plugins.
    mkdir -p "$scratch/home/.local/lib/wireshark"
    ln -s "$(dirname "$installed")" "$scratch/home/.local/lib/wireshark/plugins"
    HOME="$scratch/home" tshark -G protocols > "$scratch/installed.txt" 2> "$scratch/lua.err"
    awk -F'\t' '$3 == "weft" { found = 1 } END { exit !found }' "$scratch/installed.txt" ||
      fail "tshark did not load the installed $installed: $(cat "$scratch/lua.err")"
    # Wireshark also runs the modules as plugins of their own: they must do so quietly.
    ! grep -qi "error" "$scratch/lua.err" || fail "tshark reported: $(cat "$scratch/lua.err")"
    echo "dissector_check install: $installed, loaded by tshark"
    exit 0
    ;;
  *)
    echo "usage: dissector_check.sh live|sim|vectors LUA WEFT_DUMP ..." >&2
    exit 2
    ;;
esac
echo "dissector_check $mode: the dissector agrees with weft-dump"
