#!/usr/bin/env bash
# weft-chaos without the right to make a network namespace (run as nobody) must say why and
# exit 77, which ctest shows as skipped; it must never pass quietly or leave a directory.
# Usage: skip_check.sh WEFT_CHAOS
set -u
chaos=$1
if [[ $(id -u) -ne 0 ]] || ! command -v setpriv > /dev/null; then
  echo "SKIPPED: needs root and setpriv to run weft-chaos as an unprivileged user"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"
for command in run mesh; do
  output=$(cd "$work" && setpriv --reuid=65534 --regid=65534 --clear-groups \
             "$chaos" "$command" --dir "$work/$command" 2>&1)
  status=$?
  if [[ $status -ne 77 ]]; then
    echo "FAIL: weft-chaos $command as nobody exited $status, expected 77; it said: $output"
    exit 1
  fi
  if [[ "$output" != *"SKIPPED: cannot create a network namespace"* ]]; then
    echo "FAIL: weft-chaos $command as nobody did not say why it skipped: $output"
    exit 1
  fi
  if [[ -e "$work/$command" ]]; then
    echo "FAIL: weft-chaos $command as nobody created its directory before skipping"
    exit 1
  fi
  echo "ok: weft-chaos $command as nobody: $output"
done
