#!/usr/bin/env bash
# The programs' credentials (examples/credentials.hpp; issue 18): no default secret.
#   1. weft-node and weft-call given no credentials exit 2 naming both choices; both kinds
#      at once, half a key ring, a ring whose line for the node is another key, a ring
#      without the node and a cluster key under 16 bytes are refused the same way, each
#      with its reason; a key file others may read and a shared key are warned about.
#   2. Three weft-node processes with a key ring each; node-a's ring lacks node-c: node-a
#      refuses node-c (auth_failed) while node-a and node-b, node-b and node-c connect.
#   3. node-a's ring file is fixed and node-a gets SIGHUP: the next handshake with node-c
#      uses the new ring and they connect, with no restart.
#   4. A reload that fails (node-b's ring rewritten without node-b) keeps the old keys:
#      node-b says why, and node-c restarted is still let in by node-b.
#   5. node-c's key revoked (taken out of node-a's ring) and node-a gets SIGHUP: their live
#      connection closes at once, and node-c's next handshakes are refused; node-b stays.
# Usage: credentials_check.sh WEFT_NODE WEFT_CALL WEFT_KEYS
set -uo pipefail
node_bin=$1
call_bin=$2
keys_bin=$3
check=credentials_check
source "$(dirname "$0")/processes.sh"
keys=$scratch/keys
"$keys_bin" "$keys" node-a node-b node-c cli > /dev/null || fail "weft-keys failed"
ring=(--keyring "$keys/keyring")

# expect_refusal WHAT TEXT PROGRAM ARGS...: PROGRAM exits 2 and says TEXT on stderr.
expect_refusal() {
  local what=$1 text=$2
  shift 2
  "$@" > "$scratch/refused.out" 2> "$scratch/refused.err"
  local status=$?
  [[ $status -eq 2 ]] || fail "$what: exit $status, not 2"
  grep -qF -- "$text" "$scratch/refused.err" ||
    fail "$what: no \"$text\" in: $(head -n 2 "$scratch/refused.err")"
}
node_args=(--name node-a --listen 127.0.0.1:0 --peer node-b=127.0.0.1:9)
call_args=(--name cli --listen 127.0.0.1:0 --peer node-a=127.0.0.1:9 --connect-ms 100 ping)
for program in node call; do
  if [[ $program == node ]]; then run=("$node_bin" "${node_args[@]}"); else run=("$call_bin" "${call_args[@]}"); fi
  expect_refusal "weft-$program without credentials" "no credentials" "${run[@]}"
  for choice in "--key FILE --keyring FILE" "--cluster-key-file FILE"; do
    grep -qF -- "$choice" "$scratch/refused.err" ||
      fail "weft-$program without credentials does not name $choice"
  done
done
printf 'a cluster key of 32 bytes, enough\n' > "$scratch/cluster.key"
printf 'too short\n' > "$scratch/short.key"
chmod 600 "$scratch/cluster.key" "$scratch/short.key"
grep -v '^node-a ' "$keys/keyring" > "$scratch/ring-without-a"
expect_refusal "both kinds" "not both" \
  "$node_bin" "${node_args[@]}" --key "$keys/node-a.key" "${ring[@]}" --cluster-key-file "$scratch/cluster.key"
expect_refusal "--key alone" "--key and --keyring go together" \
  "$node_bin" "${node_args[@]}" --key "$keys/node-a.key"
expect_refusal "another node's key" "does not match the public key of $keys/node-b.key" \
  "$node_bin" "${node_args[@]}" --key "$keys/node-b.key" "${ring[@]}"
expect_refusal "a ring without the node" "has no line for this node, node-a" \
  "$node_bin" "${node_args[@]}" --key "$keys/node-a.key" --keyring "$scratch/ring-without-a"
expect_refusal "a short cluster key" "at least 16 bytes" \
  "$call_bin" --cluster-key-file "$scratch/short.key" "${call_args[@]}"
expect_refusal "a missing key file" "$keys/nobody.key" \
  "$call_bin" --key "$keys/nobody.key" "${ring[@]}" "${call_args[@]}"
# Accepted with warnings (then unreachable: exit 3).
chmod 644 "$keys/cli.key"
"$call_bin" --key "$keys/cli.key" "${ring[@]}" "${call_args[@]}" > /dev/null 2> "$scratch/warned.err"
status=$?
chmod 600 "$keys/cli.key"
[[ $status -eq 3 ]] || fail "a key others can read: exit $status, not 3 (unreachable)"
grep -qF "warning: permissions 0644 of $keys/cli.key" "$scratch/warned.err" ||
  fail "no warning for a key others can read: $(cat "$scratch/warned.err")"
"$call_bin" --cluster-key-file "$scratch/cluster.key" "${call_args[@]}" > /dev/null 2> "$scratch/warned.err"
grep -qF "warning: a shared cluster key" "$scratch/warned.err" ||
  fail "no warning for a shared key: $(cat "$scratch/warned.err")"
grep -qF "permissions" "$scratch/warned.err" && fail "a warning for a key file of mode 0600"
grep -qF "test guesses" "$scratch/warned.err" && fail "a warning for a cluster key of 33 bytes"
printf 'exactly twenty bytes\n' > "$scratch/guessable.key"
chmod 600 "$scratch/guessable.key"
"$call_bin" --cluster-key-file "$scratch/guessable.key" "${call_args[@]}" > /dev/null 2> "$scratch/warned.err"
grep -qF "cluster key in $scratch/guessable.key is 20 bytes" "$scratch/warned.err" ||
  fail "no warning for a cluster key of 20 bytes: $(cat "$scratch/warned.err")"
echo "credentials_check: refusals and warnings as expected"

# Three nodes, each on a port the kernel picks; they learn each other's addresses from
# members files once all listen (then SIGHUP, which rereads the keys too).
grep -v '^node-c ' "$keys/keyring" > "$scratch/ring-a"
cp "$keys/keyring" "$scratch/ring-b"
declare -A port
# wait_for NAME PATTERN COUNT: NAME's log has COUNT lines matching PATTERN within 15 s.
wait_for() {
  for _ in $(seq 1 1500); do
    [[ $(grep -cE "$2" "$scratch/$1.log") -ge $3 ]] && return 0
    sleep 0.01
  done
  return 1
}
start() {  # NAME RING [PORT]
  local name=$1 ring_file=$2 listened
  touch "$scratch/members-$name" "$scratch/$name.log"
  # Counted before the node starts: counted after, a node that listened at once would be
  # waited for twice (a restart appends to the same log).
  listened=$(grep -c "listening on" "$scratch/$name.log" || true)
  "$node_bin" --name "$name" --listen "127.0.0.1:${3:-0}" --members "$scratch/members-$name" \
    --key "$keys/$name.key" --keyring "$ring_file" >> "$scratch/$name.log" 2>&1 &
  pid[$name]=$!
  wait_for "$name" "listening on" "$((listened + 1))" || fail "$name did not listen"
  port[$name]=$(sed -nE 's/.* listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$scratch/$name.log" | tail -n 1)
}
declare -A ring_of=([node-a]=$scratch/ring-a [node-b]=$scratch/ring-b [node-c]=$keys/keyring)
for name in node-a node-b node-c; do start "$name" "${ring_of[$name]}"; done
for name in node-a node-b node-c; do
  for peer in node-a node-b node-c; do
    [[ $peer != "$name" ]] && echo "$peer=127.0.0.1:${port[$peer]}"
  done > "$scratch/members-$name"
  kill -HUP "${pid[$name]}"
done
wait_for node-a "warning: the key ring has no key for peer node-c" 1 ||
  fail "node-a did not warn that its ring lacks node-c"
wait_for node-a "peer node-c handshake failed \(auth_failed" 2 ||
  fail "node-a did not refuse node-c twice with auth_failed"
wait_for node-a "peer node-b up" 1 || fail "node-a and node-b did not connect"
wait_for node-c "peer node-b up" 1 || fail "node-b and node-c did not connect"
grep -q "peer node-c up" "$scratch/node-a.log" && fail "node-a let node-c in without its key"
echo "credentials_check: node-a refuses node-c (not in its ring); the other pairs are up"

cp "$keys/keyring" "$scratch/ring-a.new"
mv "$scratch/ring-a.new" "$scratch/ring-a"
kill -HUP "${pid[node-a]}"
wait_for node-a "credentials reloaded" 2 || fail "node-a did not reload on SIGHUP"
wait_for node-a "peer node-c up" 1 || fail "node-a and node-c did not connect after the reload"
kill -0 "${pid[node-a]}" || fail "node-a exited"
echo "credentials_check: after SIGHUP with the fixed ring, node-a and node-c are up"

grep -v '^node-b ' "$keys/keyring" > "$scratch/ring-b"
kill -HUP "${pid[node-b]}"
wait_for node-b "SIGHUP: .*has no line for this node, node-b.*; keys unchanged" 1 ||
  fail "node-b did not report the bad ring on SIGHUP"
kill "${pid[node-c]}"
wait "${pid[node-c]}"
ups_before=$(grep -c "peer node-c up" "$scratch/node-b.log")
start node-c "$keys/keyring" "${port[node-c]}"
wait_for node-b "peer node-c up" $((ups_before + 1)) ||
  fail "node-b refused node-c after a failed reload (its old keys should stay)"
echo "credentials_check: a failed reload kept node-b's keys; node-c restarted was let in"

wait_for node-a "peer node-c up" 2 || fail "node-a and the restarted node-c did not connect"
grep -v '^node-c ' "$keys/keyring" > "$scratch/ring-a.new"
mv "$scratch/ring-a.new" "$scratch/ring-a"
refusals_before=$(grep -c "peer node-c handshake failed (auth_failed" "$scratch/node-a.log")
kill -HUP "${pid[node-a]}"
wait_for node-a "peer node-c down \(credentials no longer verify" 1 ||
  fail "node-a kept node-c's connection up after SIGHUP revoked its key"
wait_for node-a "peer node-c handshake failed \(auth_failed" $((refusals_before + 1)) ||
  fail "node-a did not refuse node-c's next handshake after revoking its key"
grep -q "peer node-b down" "$scratch/node-a.log" && fail "the revocation closed node-b's connection"
kill -0 "${pid[node-a]}" || fail "node-a exited"
echo "credentials_check: node-c's key revoked on SIGHUP closed its connection to node-a at once"
