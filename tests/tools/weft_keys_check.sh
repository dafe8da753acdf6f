#!/usr/bin/env bash
# weft-keys writes a key ring directory (examples/weft_keys.cpp). Checks: NAME.key files
# with mode 0600 that openssl reads as Ed25519 keys, a keyring with mode 0644 whose line
# for each node holds the public key openssl derives from the node's key (independent of
# weft); a second run keeps the keys there and adds the new one; a key made by openssl is
# listed; --ring-line prints a key's line; a name that is a path, a key file that is not a
# key and no arguments are refused (exit 1, 1 and 2), leaving the ring as it was.
# Usage: weft_keys_check.sh WEFT_KEYS
set -uo pipefail
keys_bin=$1
source "$(dirname "$0")/key_tool_check.sh" weft_keys_check
dir=$scratch/keys
# The Ed25519 public key of a private key file, by openssl: the last 32 bytes of the DER.
public_hex() { openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n'; }
# The ring lines (comments left out).
ring() { grep -v '^#' "$dir/keyring"; }

"$keys_bin" "$dir" node-b node-a > "$scratch/run1.log" 2>&1 || { cat "$scratch/run1.log"; fail "first run failed"; }
for name in node-a node-b; do
  [[ $(stat -c %a "$dir/$name.key") == 600 ]] || fail "$name.key has mode $(stat -c %a "$dir/$name.key"), not 600"
  openssl pkey -in "$dir/$name.key" -noout -text 2> /dev/null | grep -q ED25519 ||
    fail "$name.key is not an Ed25519 key openssl reads"
done
[[ $(stat -c %a "$dir/keyring") == 644 ]] || fail "keyring is not 0644"
expected=$(printf 'node-a %s\nnode-b %s' "$(public_hex "$dir/node-a.key")" "$(public_hex "$dir/node-b.key")")
[[ $(ring) == "$expected" ]] || fail "the ring is not the keys' public keys by name: $(ring)"
key_a=$(sha256sum < "$dir/node-a.key")

"$keys_bin" "$dir" node-a node-c > "$scratch/run2.log" 2>&1 || { cat "$scratch/run2.log"; fail "second run failed"; }
[[ $(sha256sum < "$dir/node-a.key") == "$key_a" ]] || fail "the second run replaced node-a's key"
grep -q "node-a.key" "$scratch/run2.log" && fail "the second run says it wrote node-a.key"
openssl genpkey -algorithm ed25519 -out "$dir/made-by-openssl.key" 2> /dev/null || fail "openssl genpkey failed"
"$keys_bin" "$dir" > /dev/null 2>&1 || fail "a run without names failed"
[[ $(ring | cut -d' ' -f1 | tr '\n' ' ') == "made-by-openssl node-a node-b node-c " ]] ||
  fail "the ring does not list the four keys by name: $(ring)"
grep -qx "made-by-openssl $(public_hex "$dir/made-by-openssl.key")" "$dir/keyring" ||
  fail "the openssl key's line is wrong"

[[ $("$keys_bin" --ring-line "$dir/node-c.key") == "$(grep '^node-c ' "$dir/keyring")" ]] ||
  fail "--ring-line differs from the ring's line"
[[ $("$keys_bin" --ring-line "$dir/node-c.key" other) == "other $(public_hex "$dir/node-c.key")" ]] ||
  fail "--ring-line with a name"

ring_before=$(sha256sum < "$dir/keyring")
printf 'not a key\n' > "$dir/broken.key"
"$keys_bin" "$dir" > "$scratch/run3.log" 2>&1
status=$?
[[ $status -eq 1 ]] || fail "a key file that is not a key: exit $status, not 1"
grep -q "broken.key" "$scratch/run3.log" || fail "the bad key file is not named: $(cat "$scratch/run3.log")"
[[ $(sha256sum < "$dir/keyring") == "$ring_before" ]] || fail "a bad key file changed the ring"
rm "$dir/broken.key"

# A key file copied to another name (a cloned image): its holder could prove both names, so
# no ring is written (every node would refuse it anyway). Before, it was written in silence.
cp "$dir/node-a.key" "$dir/node-z.key"
"$keys_bin" "$dir" > "$scratch/run4.log" 2>&1
status=$?
[[ $status -eq 1 ]] || fail "one key under two names: exit $status, not 1"
grep -q "node-z has the public key of node-a" "$scratch/run4.log" ||
  fail "the shared key is not named: $(cat "$scratch/run4.log")"
[[ $(sha256sum < "$dir/keyring") == "$ring_before" ]] || fail "one key under two names changed the ring"
rm "$dir/node-z.key"

expect_refusals "$keys_bin" "$dir" "cannot be a node's key file name" evil.key
echo "weft_keys_check: ok"
