# Sourced by scripts/demo_objects and scripts/demo_bundle: cut_connections, the cut of every
# TCP connection of the network namespace (ss -K), checked in the nodes' logs.
# downs LOG: how many times LOG says peer cli went down because its socket was destroyed
# (ss -K aborts it: ECONNABORTED; or the other end's destruction reset it first, before ss
# reached it: ECONNRESET, EPIPE), not closed at the end of the transfer.
cut_down='^\[ *[0-9.]+\] peer cli down \(.*(Software caused connection abort|Connection reset by peer|Broken pipe)'
downs() { grep -cE "$cut_down" "$1" || true; }
# cut_connections LOG...: closes every TCP connection of this namespace (ss -K) and checks
# that the cut happened: ss lists each socket it closed, and each LOG must say "peer cli
# down" (connection abort) within 5 s. A kernel without CONFIG_INET_DIAG_DESTROY refuses
# every socket silently (ss exits 0, closes nothing): then the cuts cannot be made here,
# exit 77 (skipped).
cut_connections() {
  local before=() log open closed i=0 deadline
  for log in "$@"; do before+=("$(downs "$log")"); done
  open=$(ss -H -t state established | wc -l)
  closed=$(ss -K -H -t state established | wc -l)
  if [ "$closed" = 0 ]; then
    [ "$open" != 0 ] || { echo "FAILED: no connection open to cut" >&2; exit 1; }
    echo "SKIPPED: ss -K closed none of $open established sockets: this kernel cannot destroy sockets" \
      "(CONFIG_INET_DIAG_DESTROY), the cuts cannot be made" >&2
    exit 77
  fi
  echo "      ss -K closed $closed sockets"
  deadline=$((SECONDS + 5))
  for log in "$@"; do
    while [ "$(downs "$log")" -le "${before[i]}" ] && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.05
    done
    [ "$(downs "$log")" -gt "${before[i]}" ] ||
      { echo "FAILED: ss -K closed $closed sockets, yet $(basename "$log" .log) saw no connection abort" >&2; exit 1; }
    echo "      $(basename "$log" .log): $(grep -E "$cut_down" "$log" | tail -n 1 |
      sed -E 's/^\[ *[0-9.]+\] //')"
    i=$((i + 1))
  done
}
