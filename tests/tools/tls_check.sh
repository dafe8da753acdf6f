#!/usr/bin/env bash
# The programs over TLS (examples/tls_options.hpp; issue 18), real processes on loopback:
#   1. TLS files that cannot be loaded: weft-node exits 2 naming the file; half of the
#      explicit three options is a usage error.
#   2. node-a and node-b with certificates from weft-certs (--tls-dir) and no other
#      credentials (the certificate names the node) connect; weft-call over TLS gets an echo
#      from node-a, and a relay through node-a to node-b's echo (node to node over TLS).
#   3. A plain weft-call against TLS-only node-a fails; a weft-call whose certificate another
#      CA signed is refused. node-a logs each failure after its call: not_tls for the plain
#      one, an unknown CA for the other (an earlier line does not count).
#   4. node-a's files are replaced by a certificate of that other CA and node-a gets SIGHUP:
#      a new connection from the other CA's cli works, with no restart. Files that cannot be
#      loaded then (a damaged key) keep the loaded ones: node-a says why and still serves.
# Usage: tls_check.sh WEFT_NODE WEFT_CALL WEFT_CERTS WEFT_KEYS
set -uo pipefail
node_bin=$1
call_bin=$2
certs_bin=$3
keys_bin=$4
check=tls_check
source "$(dirname "$0")/processes.sh"
"$certs_bin" "$scratch/certs" node-a node-b cli > /dev/null || fail "weft-certs failed"
"$certs_bin" "$scratch/other" node-a cli > /dev/null || fail "weft-certs (other CA) failed"
# node-a reads its own directory, whose files step 4 replaces.
mkdir "$scratch/a"
cp "$scratch/certs/ca.pem" "$scratch/certs/node-a.crt" "$scratch/certs/node-a.key" "$scratch/a/"

# 1. Refusals at start.
"$node_bin" --name node-a --listen 127.0.0.1:0 --tls-dir "$scratch/missing" \
  > /dev/null 2> "$scratch/refused.err"
status=$?
[[ $status -eq 2 ]] || fail "missing TLS files: exit $status, not 2"
grep -qF "$scratch/missing/" "$scratch/refused.err" ||
  fail "missing TLS files: the error names no file: $(cat "$scratch/refused.err")"
"$call_bin" --name cli --listen 127.0.0.1:0 --peer node-a=127.0.0.1:9 \
  --tls-ca "$scratch/certs/ca.pem" ping > /dev/null 2> "$scratch/refused.err"
status=$?
[[ $status -eq 2 ]] || fail "--tls-ca alone: exit $status, not 2"
grep -qF "go together" "$scratch/refused.err" || fail "--tls-ca alone: $(cat "$scratch/refused.err")"

# 2. Two nodes and a caller over TLS. The lesser name dials, so node-b starts first and
# node-a is given its address.
"$node_bin" --name node-b --listen 127.0.0.1:0 --peer node-a=127.0.0.1:9 \
  --tls-ca "$scratch/certs/ca.pem" --tls-cert "$scratch/certs/node-b.crt" \
  --tls-key "$scratch/certs/node-b.key" > "$scratch/node-b.log" 2>&1 &
pid[b]=$!
# port_of LOG: the port a node's log says it listens on.
port_of() {
  wait_for "$1" "listening on" 5 && sed -nE 's/.* listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$1"
}
B=127.0.0.1:$(port_of "$scratch/node-b.log") || fail "node-b did not start"
"$node_bin" --name node-a --listen 127.0.0.1:0 --peer cli=127.0.0.1:9 --peer "node-b=$B" \
  --tls-dir "$scratch/a" > "$scratch/node-a.log" 2>&1 &
pid[a]=$!
A=127.0.0.1:$(port_of "$scratch/node-a.log") || fail "node-a did not start"
wait_for "$scratch/node-b.log" "peer node-a up" 5 || fail "node-a and node-b did not connect over TLS"
# call CERT_DIR ARGS...: weft-call as cli against node-a with the certificates of CERT_DIR
# ("" for none), its output in call.out.
call() {
  local dir=$1
  shift
  local tls=()
  [[ -n "$dir" ]] && tls=(--tls-dir "$dir")
  "$call_bin" --name cli --listen 127.0.0.1:0 --peer "node-a=$A" --connect-ms 1500 "${tls[@]}" \
    "$@" > "$scratch/call.out" 2>&1
}
call "$scratch/certs" request 1 "hello over tls" || fail "echo over TLS: $(cat "$scratch/call.out")"
grep -qF "ok: hello over tls" "$scratch/call.out" || fail "echo over TLS: $(cat "$scratch/call.out")"
call "$scratch/certs" request 4 $'node-b 2000\nrelayed' ||
  fail "relay to node-b over TLS: $(cat "$scratch/call.out")"
grep -qF "ok: relayed" "$scratch/call.out" || fail "relay: $(cat "$scratch/call.out")"

# 3. A plain caller, and a caller of another CA.
keys=$scratch/keys
"$keys_bin" "$keys" cli > /dev/null || fail "weft-keys failed"
# logged_since LOG LINES REGEX: waits up to 5 s for a line matching REGEX (grep -E) among
# those LOG got after its first LINES, so that a line an earlier call caused does not count.
logged_since() {
  for _ in $(seq 1 500); do
    # No grep -q: tail must not die of SIGPIPE (pipefail).
    tail -n "+$(($2 + 1))" "$1" | grep -E -- "$3" > /dev/null && return 0
    sleep 0.01
  done
  return 1
}
lines=$(wc -l < "$scratch/node-a.log")
call "" --key "$keys/cli.key" --keyring "$keys/keyring" ping &&
  fail "a plain weft-call got through to a TLS-only node: $(cat "$scratch/call.out")"
logged_since "$scratch/node-a.log" "$lines" 'handshake failed \(TLS not_tls' ||
  fail "node-a logged no TLS handshake failure (not_tls) for the plain caller"
# The other CA's caller refuses node-a's certificate (alert unknown CA), or node-a its.
lines=$(wc -l < "$scratch/node-a.log")
call "$scratch/other" ping && fail "a certificate of another CA got in: $(cat "$scratch/call.out")"
logged_since "$scratch/node-a.log" "$lines" \
  'handshake failed \(TLS (unknown_ca|peer_alert: .*\(unknown CA\))' ||
  fail "node-a logged no TLS handshake failure naming an unknown CA for the other CA's caller"

# 4. Replaced files and SIGHUP.
cp "$scratch/other/ca.pem" "$scratch/other/node-a.crt" "$scratch/other/node-a.key" "$scratch/a/"
kill -HUP "${pid[a]}"
wait_for "$scratch/node-a.log" "TLS files reloaded" 5 || fail "node-a did not reload its TLS files"
call "$scratch/other" request 1 "after reload" ||
  fail "the other CA's caller after the reload: $(cat "$scratch/call.out")"
grep -qF "ok: after reload" "$scratch/call.out" || fail "after reload: $(cat "$scratch/call.out")"
echo "not a key" > "$scratch/a/node-a.key"
kill -HUP "${pid[a]}"
wait_for "$scratch/node-a.log" "TLS files unchanged" 5 ||
  fail "node-a did not say why a damaged key was not loaded"
call "$scratch/other" request 1 "kept" || fail "after a failed reload: $(cat "$scratch/call.out")"
echo "tls_check: ok (TLS echo and relay, plain and foreign-CA callers refused, reload on SIGHUP)"
