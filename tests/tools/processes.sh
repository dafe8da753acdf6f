# Sourced by the checks that run several weft processes (set `check` to the check's name
# first): makes $scratch, a directory removed on exit; the array `pid` (NAME -> process id),
# whose processes are killed on exit; and fail MESSAGE..., which prints
# "$check: FAIL: MESSAGE" and the tail of every $scratch/*.log, and exits 1; and
# wait_for FILE TEXT [SECONDS], which waits up to SECONDS (10) for TEXT to appear in FILE.
scratch=$(mktemp -d)
declare -A pid
trap 'for p in "${pid[@]}"; do kill "$p" 2> /dev/null; done; wait; rm -rf "$scratch"' EXIT
fail() {
  echo "$check: FAIL: $*"
  for log in "$scratch"/*.log; do
    echo "--- $(basename "$log") (tail):"
    tail -n 8 "$log"
  done
  exit 1
}
wait_for() {
  local tries=$((${3:-10} * 100))
  for _ in $(seq 1 "$tries"); do
    grep -qF -- "$2" "$1" 2> /dev/null && return 0
    sleep 0.01
  done
  return 1
}
