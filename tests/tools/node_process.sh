# Sourced by the real-process checks: starts weft-node as "node-a" on a free loopback port,
# with "cli" as its peer (cli dials node-a by the dial rule; the address node-a is given
# for it is never used), and stops it on exit.
#   start_node_a WEFT_NODE SCRATCH_DIR   sets node_pid and port; node-a logs to
#                                        SCRATCH_DIR/node-a.log. Returns 1 when no port was
#                                        reported within 5 s. With NODE_FD_LIMIT set,
#                                        node-a may open at most that many descriptors.
#                                        NODE_EXTRA_PEERS ("NAME ...") adds peers that dial
#                                        node-a, as "cli" does. NODE_EXTRA_ARGS ("--opt V
#                                        ...") adds weft-node options.
# Credentials: a key ring, SCRATCH_DIR/keys, made with weft-keys (built beside weft-node)
# for node-a, cli and the extra peers; with NODE_CLUSTER_KEY=1 a cluster key instead,
# SCRATCH_DIR/cluster.key (for a peer that is not weft's, which speaks only that).
#   credentials NAME                     sets the array `cred` to the options giving NAME
#                                        its credentials (for weft-call --name NAME).
node_pid=
credentials() {
  if [[ -n "${NODE_CLUSTER_KEY:-}" ]]; then
    cred=(--cluster-key-file "$scratch/cluster.key")
  else
    cred=(--key "$scratch/keys/$1.key" --keyring "$scratch/keys/keyring")
  fi
}
# fail_with_log CHECK MESSAGE...: reports CHECK failed with MESSAGE, shows the end of
# node-a's log (in $scratch) and exits 1.
fail_with_log() {
  local check=$1
  shift
  echo "$check: FAIL: $*"
  echo "--- node-a's log (tail):"
  tail -n 20 "$scratch/node-a.log"
  exit 1
}
stop_node_a() {
  [[ -n "$node_pid" ]] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  node_pid=
}
start_node_a() {
  local node_bin=$1 scratch=$2
  if [[ -n "${NODE_CLUSTER_KEY:-}" ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$scratch/cluster.key")
  else
    # shellcheck disable=SC2086 # a list of names
    "$(dirname "$node_bin")/weft-keys" "$scratch/keys" node-a cli ${NODE_EXTRA_PEERS:-} \
      > /dev/null || return 1
  fi
  credentials node-a
  # A log of an earlier node-a would give its port before the new one truncates it.
  rm -f "$scratch/node-a.log"
  (
    [[ -n "${NODE_FD_LIMIT:-}" ]] && ulimit -n "$NODE_FD_LIMIT"
    extra=()
    for name in ${NODE_EXTRA_PEERS:-}; do extra+=(--peer "$name=127.0.0.1:9"); done
    # shellcheck disable=SC2206 # a list of options
    extra+=(${NODE_EXTRA_ARGS:-})
    exec "$node_bin" --name node-a --listen 127.0.0.1:0 --peer cli=127.0.0.1:9 "${extra[@]}" \
      "${cred[@]}" > "$scratch/node-a.log" 2>&1
  ) &
  node_pid=$!
  port=
  for _ in $(seq 1 500); do
    port=$(sed -nE 's/.* listening on 127\.0\.0\.1:([0-9]+)$/\1/p' "$scratch/node-a.log" 2> /dev/null)
    [[ -n "$port" ]] && return 0
    sleep 0.01
  done
  return 1
}
