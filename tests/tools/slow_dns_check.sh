#!/usr/bin/env bash
# weft-node and slow DNS: a SIGTERM while a peer host's lookup waits for a name server stops
# the node at once, at start (members and --peer hosts) and on a SIGHUP's reload (before,
# the lookup ran with the stop signals blocked, and the stop waited out the resolver's
# timeouts: here 3 x 10 s for one name); and a peer host is looked up once, not again by
# the node (before, start() and add_peer asked the name server a second time, with the
# stop signals blocked again).
#
# Inside namespaces of its own (mount and network; root): /etc/resolv.conf is replaced by
# one whose name server, 127.0.0.1:53 in the new network, answers the A query for
# slow-answer.weft-test with 127.0.0.1 after 3 s, logs every query, and answers nothing else.
# The check first shows a lookup of another name is still waiting after 3 s, so it cannot
# pass on a resolver that fails fast. Skipped (77) without root, unshare, mount or python3.
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
python3 - "$scratch/queries" > "$scratch/dns.log" 2>&1 << 'EOF' &
import socket, sys, threading, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
log = open(sys.argv[1], "a", buffering=1)
def name_of(query):
    labels, at = [], 12
    while query[at]:
        labels.append(query[at + 1:at + 1 + query[at]].decode())
        at += 1 + query[at]
    qtype = int.from_bytes(query[at + 1:at + 3], "big")
    return ".".join(labels), qtype, at + 5
def answer(query, client):
    name, qtype, end = name_of(query)
    log.write(f"{name} {qtype}\n")
    if name != "slow-answer.weft-test" or qtype != 1:
        return  # never answered
    time.sleep(3)
    reply = (query[:2] + b"\x81\x80" + query[4:6] + b"\x00\x01\x00\x00\x00\x00" +
             query[12:end] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" +
             bytes([127, 0, 0, 1]))
    s.sendto(reply, client)
print("taking queries", flush=True)
while True:
    query, client = s.recvfrom(4096)
    threading.Thread(target=answer, args=(query, client), daemon=True).start()
EOF
pid[dns]=$!
wait_for "$scratch/dns.log" "taking queries" || fail "the silent name server did not start"
slow=slow-member.weft-test
timeout 3 getent hosts "$slow" > /dev/null
[[ $? == 124 ]] || fail "a lookup of $slow did not wait for DNS: the check would prove nothing"
answered=slow-answer.weft-test
# As the node asks (getaddrinfo, IPv4, no AI_ADDRCONFIG: only loopback is up here).
lookup='import socket, sys; print(socket.getaddrinfo(sys.argv[1], None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])'
[[ $(python3 -c "$lookup" "$answered") == 127.0.0.1 ]] ||
  fail "the name server did not answer for $answered"
# queries_for NAME: the A queries the name server took for NAME so far.
queries_for() { grep -c "^$1 1\$" "$scratch/queries"; }
: > "$scratch/queries"

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
grep -q "while resolving peer hosts" "$scratch/start.log" ||
  fail "the start's stop did not say it came while resolving"

# A member whose host answers slowly is looked up once: the node starts about 3 s later
# (not 6), and a SIGTERM then stops it at once.
printf 'b=%s:7000\n' "$answered" > "$scratch/members.answered"
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --members "$scratch/members.answered" > "$scratch/answered.log" \
  2> "$scratch/answered.err.log" &
pid[answered]=$!
wait_for "$scratch/answered.log" "listening on" 20 || fail "the node did not start"
[[ $(queries_for "$answered") == 1 ]] ||
  fail "$answered was asked $(queries_for "$answered") times for the start, not once"
stop_within answered 2

# A --peer host that does not resolve is an error of the command line (exit 1, said).
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --peer "b=bad..host:7000" > "$scratch/bad-peer.log" 2> "$scratch/bad-peer.err.log"
status=$?
[[ $status == 1 ]] || fail "a --peer host that does not resolve exited $status, not 1"
grep -q "the host does not resolve" "$scratch/bad-peer.err.log" || fail "no reason for the bad --peer"

# A --peer host is looked up the same way: a stop while it waits, and one query for one
# answered (before, start() asked again).
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --peer "b=$slow:7000" > "$scratch/peer.log" 2> "$scratch/peer.err.log" &
pid[peer]=$!
sleep 1
stop_within peer 5
before=$(queries_for "$answered")
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --peer "b=$answered:7000" > "$scratch/peer-answered.log" 2> "$scratch/peer-answered.err.log" &
pid[peer_answered]=$!
wait_for "$scratch/peer-answered.log" "listening on" 20 || fail "the node did not start"
[[ $(( $(queries_for "$answered") - before )) == 1 ]] ||
  fail "$answered was asked $(( $(queries_for "$answered") - before )) times as a --peer"
stop_within peer_answered 2

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

# A reload adding the slowly answered member asks for it once too.
printf '# nobody yet\n' > "$scratch/members"
"$node_bin" --name a --listen 127.0.0.1:0 --cluster-key-file "$scratch/cluster.key" \
  --members "$scratch/members" > "$scratch/added.log" 2> "$scratch/added.err.log" &
pid[added]=$!
wait_for "$scratch/added.log" "listening on" || fail "the node did not start"
before=$(queries_for "$answered")
printf 'b=%s:7000\n' "$answered" > "$scratch/members.new"
mv "$scratch/members.new" "$scratch/members"
kill -HUP "${pid[added]}"
wait_for "$scratch/added.log" "member_added b (ok)" 20 || fail "the reload did not add b"
[[ $(( $(queries_for "$answered") - before )) == 1 ]] ||
  fail "$answered was asked $(( $(queries_for "$answered") - before )) times for the reload"
stop_within added 2
echo "$check: PASS"
