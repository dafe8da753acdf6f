#!/usr/bin/env bash
# Runs one of the guide's programs as a user would: keys from weft-keys and certificates
# from weft-certs in a scratch directory, then the program, which exits 0 only when every
# check of what its nodes did passed.
#   run_example.sh PROGRAM WEFT_KEYS WEFT_CERTS ARG...
# Each ARG is `keys` (the key directory) or `pki` (the certificate directory).
set -euo pipefail
program=$1 weft_keys=$2 weft_certs=$3
shift 3
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
names=(server client store-1 store-2 store-3 loop own-loop)
"$weft_keys" "$scratch/keys" "${names[@]}" >/dev/null
"$weft_certs" "$scratch/pki" "${names[@]}" >/dev/null
args=()
for arg in "$@"; do
  case $arg in
    keys | pki) args+=("$scratch/$arg") ;;
    *) echo "run_example.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
"$program" "${args[@]}"
