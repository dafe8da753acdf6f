#!/usr/bin/env bash
# weft-node stops at once on SIGTERM while a member host's lookup waits for DNS, at start
# and on a SIGHUP's reload. Before, the lookup ran with the stop signals blocked: the stop
# waited for the resolver's timeouts (here 3 x 10 s for one name).
#
# Inside namespaces of its own (mount and network; root): /etc/resolv.conf is replaced by
# one whose name server, 127.0.0.1:53 in the new network, takes every query and answers none.
# A name not in /etc/hosts then waits for the resolver's timeouts; the check first shows it
# does (getent still waiting after 3 s), so it cannot pass on a resolver that fails fast.
# Skipped (77) without root, unshare, mount or python3.
# Usage: slow_dns_check.sh WEFT_NODE
set -uo pipefail
node_bin=$1
check="slow_dns_check"

if [[ ${2:-} != --inside ]]; then
  [[ $(id -u) == 0 ]] || { echo "$check: skipped: needs root for its namespaces"; exit 77; }
  for tool in unshare mount python3 getent ip; do
    command -v "$tool" > /dev/null || { echo "$check: skipped: no $tool"; exit 77; }
  done
  if ! unshare -m -n true 2> /dev/null; then
    echo "$check: skipped: cannot make mount and network namespaces"
    exit 77
  fi
  exec unshare -m -n --propagation private bash "$0" "$node_bin" --inside
fi

source "$(dirname "$0")/processes.sh"
ip link set lo up || fail "cannot bring up lo"
printf 'nameserver 127.0.0.1\noptions timeout:10 attempts:3\n' > "$scratch/resolv.conf"
mount --bind "$scratch/resolv.conf" /etc/resolv.conf || fail "cannot bind resolv.conf"
python3 - > "$scratch/dns.log" 2>&1 << 'EOF' &
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
print("taking queries", flush=True)
while True:
    s.recvfrom(4096)  # and never answers
EOF
pid[dns]=$!
wait_for "$scratch/dns.log" "taking queries" || fail "the silent name server did not start"
slow=slow-member.weft-test
timeout 3 getent hosts "$slow" > /dev/null
[[ $? == 124 ]] || fail "a lookup of $slow did not wait for DNS: the check would prove nothing"

printf 'weft-slow-dns-check-cluster-key\n' | tr -d '\n' > "$scratch/cluster.key"
# stop_within NAME SECONDS: SIGTERM to node NAME, which must exit 0 within SECONDS.
stop_within() {
  local started=$SECONDS
  kill -TERM "${pid[$1]}"
  local waited=0
  while kill -0 "${pid[$1]}" 2> /dev/null; do
    ((waited++ < $2 * 100)) || fail "$1 still running $2 s after its SIGTERM"
    sleep 0.01
  done
  wait "${pid[$1]}"
  local status=$?
  unset "pid[$1]"
  [[ $status == 0 ]] || fail "$1 exited $status after its SIGTERM"
  echo "$check: $1 stopped $((SECONDS - started)) s after its SIGTERM"
}

# At start: the member's lookup is under way when the SIGTERM comes.
printf 'b=%s:7000\n' "$slow" > "$scratch/members.start"
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --members "$scratch/members.start" > "$scratch/start.log" 2> "$scratch/start.err.log" &
pid[start]=$!
sleep 1
grep -q "listening on" "$scratch/start.log" && fail "the node started before its member resolved"
stop_within start 5
grep -q "while resolving member hosts" "$scratch/start.log" ||
  fail "the start's stop did not say it came while resolving"

# On a reload: the node runs; a SIGHUP brings a member whose lookup waits.
printf '# nobody yet\n' > "$scratch/members"
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --members "$scratch/members" > "$scratch/reload.log" 2> "$scratch/reload.err.log" &
pid[reload]=$!
wait_for "$scratch/reload.log" "listening on" || fail "the node did not start"
printf 'b=%s:7000\n' "$slow" > "$scratch/members.new"
mv "$scratch/members.new" "$scratch/members"
kill -HUP "${pid[reload]}"
sleep 1
stop_within reload 5
grep -q "stopping (signal 15)" "$scratch/reload.log" || fail "the reload's stop was not logged"
echo "$check: PASS"
