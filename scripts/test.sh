#!/usr/bin/env bash
# Quick start (2): set up, build, and run the whole test suite (ctest prints the summary).
# Every test that needs a server starts its own on a free loopback port and stops it.
# `scripts/test.sh asan` runs the same suite under AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/setup.sh
scripts/build.sh "$preset"
# The build left hundreds of MB of written pages for the kernel to flush; flushed during the
# tests, they slow every fsync (ext4 commits its journal behind them): a fresh clone's suite ran
# 10-15 s longer than the same suite run again.
sync
if [ "$preset" = asan ]; then
  # Full stacks, so tests/lsan.supp can match frames below OpenSSL's own.
  export ASAN_OPTIONS="fast_unwind_on_malloc=0"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
fi
# The tests timed against a second (label `timed`) run one after another at normal priority,
# beside the rest of the suite, which runs at SCHED_IDLE priority (chrt --idle, no privilege
# needed): the rest only takes the CPU the timed tests leave idle, so their bounds hold as if
# they ran alone, and the suite does not wait for them. (A plain `ctest -j` runs them alone:
# RUN_SERIAL.) The timed tests' results print first, then the rest's, ending with ctest's
# summary; either failing fails the run. Two tests per core for the rest: much of a test's time
# is waiting on its servers. docs/ARCHITECTURE.md: "Keeping the suite fast".
logs=$(mktemp -d)
rest=
# Under `set -e` a failing last command of an && list ends the trap, and the script, with its
# status: the rest's ctest has exited by then, so the kill fails, and a passing run exited 1.
trap 'if [ -n "$rest" ]; then kill "$rest" 2>/dev/null || true; fi; rm -rf "$logs"' EXIT
# GoogleTest cases are discovered when ctest starts (DISCOVERY_MODE PRE_TEST); two ctest
# processes discovering at once write the same files and lose tests, so discover them first.
# Tests labelled long (bounded, but minutes each: `ctest -L long`) are not part of this run.
all=$(ctest --test-dir "build/$preset" -N -LE long | sed -n 's/^Total Tests: //p')
chrt --idle 0 ctest --test-dir "build/$preset" -LE 'timed|long' -j "$(( $(nproc) * 2 ))" \
  --output-on-failure --timeout 600 >"$logs/rest" 2>&1 &
rest=$!
timed_status=0
ctest --test-dir "build/$preset" -L timed --output-on-failure --timeout 600 >"$logs/timed" 2>&1 ||
  timed_status=$?
echo "== the tests timed against a second (label timed), beside the rest =="
cat "$logs/timed"
echo "== the rest of the suite =="
rest_status=0
tail -n +1 -f --pid="$rest" "$logs/rest"
wait "$rest" || rest_status=$?
rest=
ran=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' "$logs/timed" "$logs/rest" | awk '{ n += $1 } END { print n + 0 }')
if [ "$timed_status" != 0 ]; then
  # Again at the end, where a log cut to its tail still shows which timed test failed and why.
  echo "== a timed test failed: their log again =="
  cat "$logs/timed"
fi
if [ "$ran" != "$all" ]; then
  echo "test.sh: the two runs ran $ran tests, the suite has $all"
  exit 1
fi
[ "$timed_status" = 0 ] && [ "$rest_status" = 0 ]
