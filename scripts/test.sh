#!/usr/bin/env bash
# Quick start (2): set up, build, and run the whole test suite (ctest prints the summary).
# Every test that needs a server starts its own on a free loopback port and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
ctest --test-dir build/release -j "$(nproc)" --output-on-failure --timeout 600
