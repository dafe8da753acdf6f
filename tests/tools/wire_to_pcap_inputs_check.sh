#!/usr/bin/env bash
# weft_wire_to_pcap on inputs it cannot use gives a clear error and exit status 1, never an
# abort or memory without bound: a directory or /dev/zero as a session file (an uncaught
# exception aborted on the first, the second read until memory ran out), a capture file
# whose link number does not fit 64 bits (it is not a capture name: skipped; std::stoull
# aborted), a manifest on a full disk (it exited 0).
# Usage: wire_to_pcap_inputs_check.sh WEFT_WIRE_TO_PCAP
set -uo pipefail
tool=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() {
  echo "wire_to_pcap_inputs_check: FAIL: $*"
  exit 1
}
# expect STATUS PATTERN ARGS...: the tool exits STATUS and prints PATTERN.
expect() {
  local status=$1 pattern=$2
  shift 2
  timeout 60 "$tool" "$@" > "$scratch/out" 2>&1
  local got=$?
  [[ $got -eq $status ]] || { cat "$scratch/out"; fail "$* exited $got, not $status"; }
  grep -q -- "$pattern" "$scratch/out" || { cat "$scratch/out"; fail "$* did not say '$pattern'"; }
}
mkdir "$scratch/dir" "$scratch/captures"
expect 1 "not a regular file" "$scratch/out.pcap" "$scratch/dir"
expect 1 "not a regular file" "$scratch/out.pcap" /dev/zero
printf 'x' > "$scratch/captures/99999999999999999999999-a-to-b.wire"
expect 0 "0 connections" --capture-dir "$scratch/captures" "$scratch/out.pcap"
printf 'w' > "$scratch/session"
expect 1 "cannot write /dev/full" --manifest /dev/full "$scratch/out.pcap" "$scratch/session"
echo "wire_to_pcap_inputs_check: ok"
