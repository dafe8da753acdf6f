#!/usr/bin/env bash
# Runs one of scripts/demo's parts that need a network namespace of their own (they slow
# loopback with tc tbf and cut connections with ss -K) as a check: its exit status is the
# verdict. Exits 77 (skipped) without the right to create a namespace or without tc/ss/ip,
# and (the part's own 77) on a kernel where ss -K can close no socket (no cut can be made).
#   usage: netns_demo_check.sh DEMO_PART WEFT_NODE WEFT_CALL  (weft-keys, weft-certs beside WEFT_NODE)
#   DEMO_PART: demo_objects (files through connection cuts and a killed node, each stored
#   once, whole at the end) or demo_bundle (files to three nodes at once through a cut and a
#   killed node, each object completing once with every node's outcome).
set -euo pipefail
part=$1
node=$2
call=$3
here=$(cd "$(dirname "$0")" && pwd)
for tool in unshare tc ss ip; do
  command -v "$tool" > /dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
if ! unshare -n true 2> /dev/null; then
  echo "SKIPPED: cannot create a network namespace (needs root)"
  exit 77
fi
out=$(mktemp -d "/tmp/weft-$part-check-XXXXXX")
trap 'rm -rf "$out"' EXIT
unshare -n bash "$here/../../scripts/$part" "$node" "$call" "$out"
