#!/usr/bin/env bash
# weft-certs writes what a TLS cluster needs (docs/TLS.md): a CA and one certificate and key
# per node. Checks: the files exist with their modes (keys 0600); each node certificate
# verifies against the CA (the openssl command, independent of weft) and carries its name
# as its one subjectAltName DNS entry; a second run keeps the CA and adds a node it signs; a
# name that is a path is refused with exit status 2 (usage) and nothing written; with only one
# of ca.pem and ca.key there, a run is refused (exit status 1) and writes nothing; with
# --ca-dir the CA's key stays in that directory and DIR gets only a copy of ca.pem, and a DIR
# whose ca.pem is another CA's is refused (exit status 1) with nothing written.
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
# The CA kept apart: DIR can go to the nodes whole, without the key that signs for the cluster.
kept=$scratch/ca-kept
nodes=$scratch/nodes
"$certs_bin" --ca-dir "$kept" "$nodes" node-e node-f > "$scratch/run6.log" 2>&1 ||
  { cat "$scratch/run6.log"; fail "a run with --ca-dir failed"; }
[[ -f $kept/ca.pem && -f $kept/ca.key ]] || fail "--ca-dir did not make the CA there"
[[ $(stat -c %a "$kept/ca.key") == 600 ]] || fail "the kept ca.key is not 0600"
[[ $(stat -c %a "$kept") == 700 ]] || fail "the CA's directory made by --ca-dir is not 0700"
[[ ! -e $nodes/ca.key ]] || fail "--ca-dir wrote ca.key beside the nodes' files"
cmp -s "$kept/ca.pem" "$nodes/ca.pem" || fail "the nodes' ca.pem is not the kept CA's"
[[ $(stat -c %a "$nodes/ca.pem") == 644 ]] || fail "the nodes' ca.pem is not 0644"
for name in node-e node-f; do
  openssl verify -CAfile "$nodes/ca.pem" "$nodes/$name.crt" > /dev/null ||
    fail "$name.crt does not verify against the nodes' ca.pem"
done
kept_before=$(sha256sum < "$kept/ca.pem")
"$certs_bin" "$nodes" node-g --ca-dir "$kept" > "$scratch/run7.log" 2>&1 ||
  { cat "$scratch/run7.log"; fail "a second run with --ca-dir failed"; }
[[ $(sha256sum < "$kept/ca.pem") == "$kept_before" ]] || fail "the second run replaced the kept CA"
openssl verify -CAfile "$nodes/ca.pem" "$nodes/node-g.crt" > /dev/null || fail "node-g.crt does not verify"
# DIR whose ca.pem is another CA's (the first directory's): refused, nothing written.
"$certs_bin" --ca-dir "$kept" "$dir" node-h > "$scratch/run8.log" 2>&1
status=$?
[[ $status -eq 1 ]] || { cat "$scratch/run8.log"; fail "a DIR of another CA exited $status, not 1"; }
grep -q "is not the CA in" "$scratch/run8.log" || { cat "$scratch/run8.log"; fail "the refusal does not say why"; }
[[ $(sha256sum < "$dir/ca.pem") == "$ca_before" && ! -e $dir/node-h.crt ]] ||
  fail "a refused --ca-dir run wrote files"
# And the same where no CA is kept yet: the new one would differ too.
"$certs_bin" --ca-dir "$scratch/ca-new" "$dir" node-h > "$scratch/run9.log" 2>&1
status=$?
[[ $status -eq 1 && ! -e $scratch/ca-new ]] ||
  { cat "$scratch/run9.log"; fail "a DIR with a CA of its own got a new kept CA (exit $status)"; }
grep -q "holds none: to keep that CA apart, move" "$scratch/run9.log" ||
  { cat "$scratch/run9.log"; fail "the refusal does not say how to keep the CA apart"; }
# Without the CA's key in DIR (kept elsewhere already): name where it is kept.
mv "$dir/ca.key" "$scratch/ca.key.away"
"$certs_bin" --ca-dir "$scratch/ca-new" "$dir" node-h > "$scratch/run15.log" 2>&1
status=$?
mv "$scratch/ca.key.away" "$dir/ca.key"
[[ $status -eq 1 && ! -e $scratch/ca-new ]] &&
  grep -q "holds none: name the directory that keeps that CA with --ca-dir" "$scratch/run15.log" ||
  { cat "$scratch/run15.log"; fail "without ca.key in DIR the refusal does not say what to do"; }
# A CA_DIR within DIR would travel with the nodes' files: a bad command line.
"$certs_bin" --ca-dir "$scratch/fresh/ca" "$scratch/fresh/" node-j > "$scratch/run11.log" 2>&1
status=$?
[[ $status -eq 2 && ! -e $scratch/fresh ]] ||
  { cat "$scratch/run11.log"; fail "a CA_DIR within DIR exited $status (not 2) or wrote files"; }
grep -q "lies within" "$scratch/run11.log" ||
  { cat "$scratch/run11.log"; fail "a CA_DIR within DIR was refused without saying why"; }
# Spelled relative, before either exists: still within.
(cd "$scratch" && "$certs_bin" --ca-dir ./rel/ca rel node-j) > "$scratch/run13.log" 2>&1
status=$?
[[ $status -eq 2 && ! -e $scratch/rel ]] ||
  { cat "$scratch/run13.log"; fail "a relative CA_DIR within DIR exited $status, not 2"; }
# A link in DIR to a directory elsewhere: copied with DIR, so within it too.
mkdir -p "$scratch/linked" "$scratch/elsewhere"
ln -s "$scratch/elsewhere" "$scratch/linked/ca"
"$certs_bin" --ca-dir "$scratch/linked/ca" "$scratch/linked" node-j > "$scratch/run14.log" 2>&1
status=$?
[[ $status -eq 2 && ! -e $scratch/elsewhere/ca.key ]] ||
  { cat "$scratch/run14.log"; fail "a CA_DIR linked from within DIR exited $status, not 2"; }
# Through that link and back up (linked/ca/..): the link's target's parent, outside DIR, so a
# CA apart and not refused; the same spelling does not hide a CA_DIR that is within DIR.
mkdir -p "$scratch/elsewhere/keep"
"$certs_bin" --ca-dir "$scratch/linked/ca/../elsewhere/keep" "$scratch/linked" node-j \
  > "$scratch/run16.log" 2>&1 ||
  { cat "$scratch/run16.log"; fail "a CA_DIR outside DIR, spelled through a link in DIR, was refused"; }
[[ -f $scratch/elsewhere/keep/ca.key && -f $scratch/linked/node-j.crt && ! -e $scratch/linked/ca.key ]] ||
  { cat "$scratch/run16.log"; fail "the CA named through a link in DIR was not kept apart"; }
mkdir -p "$scratch/linked/sub/deeper"
ln -s "$scratch/linked/sub/deeper" "$scratch/linked/self"
"$certs_bin" --ca-dir "$scratch/linked/self/../inner" "$scratch/linked" node-j \
  > "$scratch/run17.log" 2>&1
status=$?
[[ $status -eq 2 && ! -e $scratch/linked/sub/inner ]] && grep -q "lies within" "$scratch/run17.log" ||
  { cat "$scratch/run17.log"; fail "a CA_DIR within DIR spelled through a link and .. exited $status (not 2) or not for lying within"; }
# DIR itself reached through a link, and CA_DIR through a link in DIR, .. and a link in DIR
# that leads out: the link in DIR travels with it, so within.
ln -s "$scratch/linked" "$scratch/dir-link"
ln -s "$scratch/elsewhere" "$scratch/linked/out"
"$certs_bin" --ca-dir "$scratch/dir-link/self/../../out" "$scratch/dir-link" node-j \
  > "$scratch/run18.log" 2>&1
status=$?
[[ $status -eq 2 ]] && grep -q "lies within" "$scratch/run18.log" ||
  { cat "$scratch/run18.log"; fail "a CA_DIR through a link in a DIR spelled with a link exited $status (not 2) or not for lying within"; }
# DIR named as it is, CA_DIR through a link to DIR and a link in it that leads out: within.
"$certs_bin" --ca-dir "$scratch/dir-link/out" "$scratch/linked" node-j > "$scratch/run19.log" 2>&1
status=$?
[[ $status -eq 2 ]] && grep -q "lies within" "$scratch/run19.log" ||
  { cat "$scratch/run19.log"; fail "a CA_DIR through a link to DIR and a link out of it exited $status (not 2) or not for lying within"; }
# The same directory spelled two ways is not a CA apart: no copy, no warning.
"$certs_bin" --ca-dir "$scratch/both/" "$scratch/both" node-k > "$scratch/run12.log" 2>&1 ||
  { cat "$scratch/run12.log"; fail "a run with CA_DIR = DIR failed"; }
[[ -f $scratch/both/ca.key ]] && ! grep -q "warning" "$scratch/run12.log" ||
  { cat "$scratch/run12.log"; fail "CA_DIR = DIR (with a trailing /) was taken for a CA apart"; }
"$certs_bin" "$dir" node-i --ca-dir > "$scratch/run10.log" 2>&1
status=$?
[[ $status -eq 2 ]] && grep -qF -- "--ca-dir takes a path" "$scratch/run10.log" ||
  { cat "$scratch/run10.log"; fail "--ca-dir without a path exited $status, not 2 with a reason"; }
[[ ! -e $dir/node-i.crt ]] || fail "a bad command line wrote files"
echo "weft_certs_check: ok"
