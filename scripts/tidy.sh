#!/usr/bin/env bash
# clang-tidy with the repository's .clang-tidy over src/ (or the files given), using the compile
# database of build/release (configure it first: cmake --preset release). A developer tool, not
# part of the test suite: Debian's `clang-tidy` package provides clang-tidy and run-clang-tidy.
# Exit status non-zero if any check fires (.clang-tidy makes every warning an error).
#   scripts/tidy.sh                      # every .cc under src/
#   scripts/tidy.sh src/hub/registry.cc  # some files
set -euo pipefail
cd "$(dirname "$0")/.."
build=${COFFRE_BUILD_DIR:-build/release}
jobs=${TIDY_JOBS:-2}
if [ ! -f "$build/compile_commands.json" ]; then
  echo "tidy: no $build/compile_commands.json; run: cmake --preset release" >&2
  exit 2
fi
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy not found (apt-get install clang-tidy)" >&2; exit 2; }

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cc')
fi
# The compile database is GCC's: clang does not know some of its warning flags.
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -n 4 \
  clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option
