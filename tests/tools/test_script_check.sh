#!/usr/bin/env bash
# Self-test of scripts/test: runs it on a tiny scratch project (presets release, asan and
# tsan; a target weft_io_tests; tests io.ok, io.check and io.skipper) and checks that it
#   - passes a good tree and counts 6 passed, 0 failed, 3 skipped;
#   - fails a broken build even though binaries of an earlier good build are still there;
#   - fails a failing test, counts it, and ends with a digest naming it (each preset) with
#     the output it printed;
#   - .ci/run repeats that digest and the summary after the fuzz output, once;
#   - fails a configure error, and does not report "0 failed";
#   - fails a selection that matches no test.
# Usage: test_script_check.sh REPO_DIR [SCRIPT]  (SCRIPT defaults to REPO_DIR/scripts/test;
# pass an older copy to see it fail these checks).
set -uo pipefail
repo=$(cd "$1" && pwd)
script=${2:-$repo/scripts/test}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failures=0

mkdir -p "$scratch/scripts"
cp "$script" "$scratch/scripts/test"
cp "$repo/scripts/install-deps" "$scratch/scripts/install-deps"
chmod +x "$scratch/scripts/test" "$scratch/scripts/install-deps"

cat > "$scratch/CMakePresets.json" <<'EOF'
{
  "version": 6,
  "configurePresets": [
    {"name": "release", "generator": "Ninja", "binaryDir": "${sourceDir}/build/release"},
    {"name": "asan", "generator": "Ninja", "binaryDir": "${sourceDir}/build/asan"},
    {"name": "tsan", "generator": "Ninja", "binaryDir": "${sourceDir}/build/tsan"}
  ],
  "buildPresets": [
    {"name": "release", "configurePreset": "release"},
    {"name": "asan", "configurePreset": "asan"},
    {"name": "tsan", "configurePreset": "tsan"}
  ],
  "testPresets": [
    {"name": "release", "configurePreset": "release", "output": {"outputOnFailure": true}},
    {"name": "asan", "configurePreset": "asan", "output": {"outputOnFailure": true}},
    {"name": "tsan", "configurePreset": "tsan", "output": {"outputOnFailure": true}}
  ]
}
EOF
# CHECK_RESULT: what the test io.check does ("pass" or "fail").
write_cmakelists() {
  local check_result=$1 extra=${2:-}
  cat > "$scratch/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(mini CXX)
$extra
enable_testing()
add_executable(weft_io_tests main.cpp)
add_test(NAME io.ok COMMAND weft_io_tests pass)
add_test(NAME io.check COMMAND weft_io_tests $check_result)
add_test(NAME io.skipper COMMAND weft_io_tests skip)
set_tests_properties(io.ok io.check io.skipper PROPERTIES TIMEOUT 60)
set_tests_properties(io.skipper PROPERTIES SKIP_RETURN_CODE 77)
EOF
}
write_main() {
  cat > "$scratch/main.cpp" <<'EOF'
#include <cstdio>
#include <cstring>
int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (std::strcmp(argv[1], "skip") == 0) return 77;
  if (std::strcmp(argv[1], "pass") == 0) return 0;
  std::puts("io.check says why it failed");
  return 1;
}
EOF
}

# expect NAME WANT_RC LAST_LINE_REGEX [ENV...]: runs the script; checks its exit status
# (0 or "nonzero") and that its last line matches.
expect() {
  local name=$1 want=$2 pattern=$3
  shift 3
  local log="$scratch/$name.log" rc
  (cd "$scratch" && env "$@" scripts/test) > "$log" 2>&1
  rc=$?
  local last
  last=$(tail -n 1 "$log")
  local ok=1
  if [[ $want == 0 ]]; then ((rc == 0)) || ok=0; else ((rc != 0)) || ok=0; fi
  [[ $last =~ $pattern ]] || ok=0
  if ((ok)); then
    echo "ok   $name: exit $rc, '$last'"
  else
    echo "FAIL $name: exit $rc (want $want), last line '$last' (want /$pattern/)"
    tail -n 30 "$log" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}

# The shape of the default plan: every test in two presets, one target's tests in a third.
plan='WEFT_TEST_PLAN=release asan tsan:weft_io_tests:^io\.'
write_main
write_cmakelists pass
expect good_tree 0 '^scripts/test: 6 passed, 0 failed, 3 skipped$' "$plan"

echo '#error deliberately broken' >> "$scratch/main.cpp"
expect broken_build_with_old_binaries nonzero '^scripts/test: [0-9]+ passed, [1-9][0-9]* failed' \
  "$plan"
write_main

write_cmakelists fail
expect failing_test nonzero '^scripts/test: 3 passed, 3 failed, 3 skipped$' "$plan"
# The digest after "=== scripts/test: failures" names the failing test of every preset and
# carries what it printed; a passing test is not in it.
digest=$(sed -n '/^=== scripts\/test: failures$/,$p' "$scratch/failing_test.log")
digest_ok=1
for preset in release asan tsan; do
  grep -qE "^\[$preset\] .*io\.check .*Failed" <<<"$digest" || digest_ok=0
done
[[ $(grep -c 'io.check says why it failed' <<<"$digest") == 3 ]] || digest_ok=0
grep -qE 'io\.ok|io\.skipper|Start +[0-9]+:|tests passed' <<<"$digest" && digest_ok=0
if ((digest_ok)); then
  echo "ok   failing_test_digest"
else
  echo "FAIL failing_test_digest: the digest does not name io.check with its output:"
  sed 's/^/     | /' <<<"${digest:-<no digest>}"
  failures=$((failures + 1))
fi

# .ci/run repeats the digest and the summary after the fuzz output, once each: its own copy
# in a scratch tree whose scripts/test prints the failing run above (and fails) and whose
# scripts/fuzz prints a page of output (and passes).
ci=$scratch/ci
mkdir -p "$ci/.ci" "$ci/scripts"
cp "$repo/.ci/run" "$ci/.ci/run"
cp "$scratch/failing_test.log" "$ci/test_output"
printf '#!/usr/bin/env bash\ncat "$(dirname "$0")/../test_output"\nexit 1\n' > "$ci/scripts/test"
printf '#!/usr/bin/env bash\nseq 1 500\necho "scripts/fuzz all: 5 targets, 0 failed"\n' \
  > "$ci/scripts/fuzz"
chmod +x "$ci/.ci/run" "$ci/scripts/test" "$ci/scripts/fuzz"
(cd "$ci" && bash .ci/run) > "$scratch/ci.log" 2>&1
ci_rc=$?
tail_part=$(sed -n '/^=== .ci\/run: the tests again, in short$/,$p' "$scratch/ci.log")
if ((ci_rc != 0)) && grep -qE '^\[release\] .*io\.check .*Failed' <<<"$tail_part" &&
  [[ $(grep -c '^scripts/test: [0-9]* passed' <<<"$tail_part") == 1 ]] &&
  [[ $(tail -n 1 "$scratch/ci.log") =~ ^scripts/test:\ 3\ passed,\ 3\ failed ]]; then
  echo "ok   ci_run_repeats_the_digest"
else
  echo "FAIL ci_run_repeats_the_digest: exit $ci_rc, the end of .ci/run's log:"
  tail -n 20 "$scratch/ci.log" | sed 's/^/     | /'
  failures=$((failures + 1))
fi

write_cmakelists pass 'message(FATAL_ERROR "deliberately broken")'
expect configure_error nonzero '^scripts/test: 0 passed, 3 failed, 0 skipped$' "$plan"

write_cmakelists pass
expect empty_selection nonzero '^scripts/test: 0 passed, 1 failed, 0 skipped$' \
  'WEFT_TEST_PLAN=release:weft_io_tests:^no-such-test$'

if ((failures > 0)); then
  echo "test_script_check: $failures of 7 checks failed"
  exit 1
fi
echo "test_script_check: all 7 checks passed"
