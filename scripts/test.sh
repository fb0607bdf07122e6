#!/usr/bin/env bash
# Quick start (2): set up, build, and run the whole test suite (ctest prints the summary).
# Every test that needs a server starts its own on a free loopback port and stops it.
# `scripts/test.sh asan` runs the same suite under AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/setup.sh
scripts/build.sh "$preset"
if [ "$preset" = asan ]; then
  # Full stacks, so tests/lsan.supp can match frames below OpenSSL's own.
  export ASAN_OPTIONS="fast_unwind_on_malloc=0"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
fi
# Two tests per core: most of a test's time is spent waiting on its servers and the network
# (ctest's child processes use about 120 CPU-seconds in a 113 s run on 2 cores), and the tests
# whose pass/fail has a time bound run alone (RUN_SERIAL). docs/ARCHITECTURE.md: "Keeping the
# suite fast".
ctest --test-dir "build/$preset" -j "$(( $(nproc) * 2 ))" --output-on-failure --timeout 600
