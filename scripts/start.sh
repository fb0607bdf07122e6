#!/usr/bin/env bash
# Quick start (1): set up, build, and start the local stack on localhost in .coffre/
# (`coffre up`: generated TLS certificates, embedded storage, connection.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh packages
# The compatibility tests' npm packages install while the programs build (mostly downloads).
mkdir -p build
scripts/setup.sh npm >build/setup-npm.log 2>&1 &
npm_pid=$!
# Only what it runs: the three programs (the tests build with scripts/test.sh).
echo "start: building coffre, coffre-hub and coffre-vault (a few minutes on a fresh clone)"
scripts/build.sh release coffre coffre-hub coffre-vault
wait "$npm_pid" || { cat build/setup-npm.log; echo "start: npm ci failed (above)"; exit 1; }
cat build/setup-npm.log
exec build/release/apps/coffre up --dir "${COFFRE_DIR:-.coffre}" "$@"
