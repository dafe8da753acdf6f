# Sourced by the checks of the tools that write keys (weft_certs_check.sh,
# weft_keys_check.sh) as `source key_tool_check.sh CHECK_NAME`. Sets:
#   scratch                                   a directory removed on exit
#   fail MESSAGE...                           "CHECK_NAME: MESSAGE" on stderr, exit 1
#   expect_refusals TOOL DIR REASON WRITTEN [STATUS]
#                                             TOOL DIR ../evil exits STATUS (default 1)
#                                             saying REASON and writes nothing outside DIR
#                                             ($scratch/WRITTEN stays missing); TOOL without
#                                             arguments exits 2.
check_name=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "$check_name: $*" >&2; exit 1; }
expect_refusals() {
  local tool=$1 dir=$2 reason=$3 written=$4 want=${5:-1} status
  "$tool" "$dir" ../evil > "$scratch/refused.log" 2>&1
  status=$?
  [[ $status -eq $want ]] || fail "a path as a name exited $status, not $want"
  grep -qF "$reason" "$scratch/refused.log" || fail "no reason given for a path as a name"
  [[ ! -e $scratch/$written ]] || fail "a path as a name wrote outside the directory"
  "$tool" > /dev/null 2>&1
  status=$?
  [[ $status -eq 2 ]] || fail "no arguments exited $status, not 2"
}
