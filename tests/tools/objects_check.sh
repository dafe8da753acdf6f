#!/usr/bin/env bash
# Object streams between real processes through real faults (scripts/demo_objects): in a
# network namespace of its own, with loopback slowed by tc tbf, files go from weft-call to
# weft-node's store through two connection cuts (each must be stored exactly once, with no
# retry: the stream resumes) and through the node killed mid-transfer (peer_restarted, then
# sent again); every file must end whole. Exits 77 (skipped) without the right to create a
# namespace or without tc/ss.
#   usage: objects_check.sh WEFT_NODE WEFT_CALL
set -euo pipefail
node=$1
call=$2
here=$(cd "$(dirname "$0")" && pwd)
for tool in unshare tc ss ip; do
  command -v "$tool" > /dev/null || { echo "SKIPPED: $tool is not installed"; exit 77; }
done
if ! unshare -n true 2> /dev/null; then
  echo "SKIPPED: cannot create a network namespace (needs root)"
  exit 77
fi
out=$(mktemp -d /tmp/weft-objects-check-XXXXXX)
trap 'rm -rf "$out"' EXIT
unshare -n bash "$here/../../scripts/demo_objects" "$node" "$call" "$out"
