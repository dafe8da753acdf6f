#!/usr/bin/env bash
# weft-certs writes what a TLS cluster needs (docs/TLS.md): a CA and one certificate and key
# per node. Checks: the files exist with their modes (keys 0600); each node certificate
# verifies against the CA (the openssl command, independent of weft) and carries its name
# as its one subjectAltName DNS entry; a second run keeps the CA and adds a node it signs; a
# name that is a path is refused with exit status 2 (usage) and nothing written; with only one
# of ca.pem and ca.key there, a run is refused (exit status 1) and writes nothing.
# Usage: weft_certs_check.sh WEFT_CERTS
set -uo pipefail
certs_bin=$1
source "$(dirname "$0")/key_tool_check.sh" weft_certs_check
dir=$scratch/pki

"$certs_bin" "$dir" node-a node-b > "$scratch/run1.log" 2>&1 || { cat "$scratch/run1.log"; fail "first run failed"; }
for file in ca.pem ca.key node-a.crt node-a.key node-b.crt node-b.key; do
  [[ -f $dir/$file ]] || fail "$file missing"
done
for key in ca.key node-a.key node-b.key; do
  [[ $(stat -c %a "$dir/$key") == 600 ]] || fail "$key has mode $(stat -c %a "$dir/$key"), not 600"
done
[[ $(stat -c %a "$dir/node-a.crt") == 644 ]] || fail "node-a.crt is not 0644"
ca_before=$(sha256sum < "$dir/ca.pem")

"$certs_bin" --days 30 "$dir" node-c > "$scratch/run2.log" 2>&1 || { cat "$scratch/run2.log"; fail "second run failed"; }
[[ $(sha256sum < "$dir/ca.pem") == "$ca_before" ]] || fail "the second run replaced the CA"
for name in node-a node-b node-c; do
  openssl verify -CAfile "$dir/ca.pem" "$dir/$name.crt" > /dev/null ||
    fail "$name.crt does not verify against ca.pem"
  sans=$(openssl x509 -in "$dir/$name.crt" -noout -ext subjectAltName | tail -n +2 | tr -d ' ')
  [[ $sans == "DNS:$name" ]] || fail "$name.crt has subjectAltName '$sans', not DNS:$name"
  openssl pkey -in "$dir/$name.key" -noout 2> /dev/null || fail "$name.key is not a key"
done

expect_refusals "$certs_bin" "$dir" "cannot be a node name" evil.crt 2

# The CA's key kept offline (or lost): a run must refuse (exit 1, nothing written), not make
# a new CA over ca.pem that every existing certificate stops verifying against.
mv "$dir/ca.key" "$scratch/ca.key.offline"
"$certs_bin" "$dir" node-d > "$scratch/run3.log" 2>&1
status=$?
[[ $status -eq 1 ]] || { cat "$scratch/run3.log"; fail "a run without ca.key exited $status, not 1"; }
grep -q "ca.key" "$scratch/run3.log" || { cat "$scratch/run3.log"; fail "the refusal does not name ca.key"; }
[[ $(sha256sum < "$dir/ca.pem") == "$ca_before" ]] || fail "a run without ca.key replaced ca.pem"
[[ ! -e $dir/ca.key && ! -e $dir/node-d.crt ]] || fail "a run without ca.key wrote files"
mv "$scratch/ca.key.offline" "$dir/ca.key"
# The same for a ca.key without its ca.pem.
mv "$dir/ca.pem" "$scratch/ca.pem.away"
"$certs_bin" "$dir" node-d > "$scratch/run4.log" 2>&1
status=$?
[[ $status -eq 1 ]] || { cat "$scratch/run4.log"; fail "a run without ca.pem exited $status, not 1"; }
[[ ! -e $dir/ca.pem && ! -e $dir/node-d.crt ]] || fail "a run without ca.pem wrote files"
mv "$scratch/ca.pem.away" "$dir/ca.pem"
"$certs_bin" "$dir" node-d > "$scratch/run5.log" 2>&1 || { cat "$scratch/run5.log"; fail "a run with the CA back failed"; }
openssl verify -CAfile "$dir/ca.pem" "$dir/node-d.crt" > /dev/null || fail "node-d.crt does not verify"
echo "weft_certs_check: ok"
