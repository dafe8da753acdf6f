#!/usr/bin/env bash
# scripts/guide --check must catch every way docs/GUIDE.md can drift from examples/guide/:
# a block edited in the guide, a region edited in a source, a region quoted nowhere, a quote
# of a region that does not exist, a region that never ends; and scripts/guide must bring
# an edited source back into the guide. Runs on a scratch copy of the three.
#   guide_check_test.sh SOURCE_DIR
set -euo pipefail
source_dir=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fresh() {
  rm -rf "$scratch/tree"
  mkdir -p "$scratch/tree/docs" "$scratch/tree/examples" "$scratch/tree/scripts"
  cp "$source_dir/docs/GUIDE.md" "$scratch/tree/docs/"
  cp -r "$source_dir/examples/guide" "$scratch/tree/examples/"
  cp "$source_dir/scripts/guide" "$scratch/tree/scripts/"
}
check() { "$scratch/tree/scripts/guide" --check --root "$scratch/tree" >"$scratch/out" 2>&1; }
fails_with() {  # the check fails, and its output says $1
  if check; then
    echo "FAIL: $2: the check passed"; cat "$scratch/out"; exit 1
  fi
  grep -qF -- "$1" "$scratch/out" || { echo "FAIL: $2: no '$1' in:"; cat "$scratch/out"; exit 1; }
  echo "ok: $2"
}

fresh
check || { echo "FAIL: the unchanged copy does not pass"; cat "$scratch/out"; exit 1; }
echo "ok: the unchanged copy passes"

# A line of a quoted block edited in the guide.
sed -i '0,/request.responder.respond(std::move(request.payload));/s//request.responder.respond({});/' \
  "$scratch/tree/docs/GUIDE.md"
fails_with "block examples/guide/requests.cpp#serve differs" "a block edited in the guide"

# A region edited in its source; then scripts/guide copies it in and the check passes.
fresh
sed -i 's/"no such account"/"account closed"/g' "$scratch/tree/examples/guide/requests.cpp"
fails_with "block examples/guide/requests.cpp#serve differs" "a region edited in its source"
"$scratch/tree/scripts/guide" --root "$scratch/tree" >/dev/null
check || { echo "FAIL: scripts/guide did not bring the guide up to date"; cat "$scratch/out"; exit 1; }
grep -q '"account closed"' "$scratch/tree/docs/GUIDE.md" || { echo "FAIL: not copied"; exit 1; }
echo "ok: scripts/guide copies an edited region into the guide"

# A region no block quotes.
fresh
printf '// [guide:orphan]\nint orphan();\n// [/guide]\n' >>"$scratch/tree/examples/guide/common.hpp"
fails_with "region orphan is quoted nowhere" "a region quoted nowhere"

# A quote of a region its source does not have.
fresh
sed -i 's/#wait-up -->/#wait-for-it -->/' "$scratch/tree/docs/GUIDE.md"
fails_with "a region examples/guide/common.hpp does not have" "a quote of a missing region"

# A region that never ends.
fresh
printf '// [guide:unended]\nint unended();\n' >>"$scratch/tree/examples/guide/common.hpp"
fails_with "region unended never ends" "a region that never ends"

# A block whose end marker was lost.
fresh
sed -i '0,/<!-- \/guide -->/{/<!-- \/guide -->/d}' "$scratch/tree/docs/GUIDE.md"
fails_with "never ends" "a block without its end marker"
