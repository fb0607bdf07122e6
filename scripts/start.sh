#!/usr/bin/env bash
# Quick start (1): set up, build, and start the local stack on localhost in .coffre/
# (`coffre up`: generated TLS certificates, embedded storage, connection.json).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() { echo "start: [$1/4] $2 ($((SECONDS - started)) s so far)"; }
step 1 "Debian packages (apt-get; quick when they are there)"
scripts/setup.sh packages
# The compatibility tests' npm packages install while the programs build (mostly downloads).
mkdir -p build
scripts/setup.sh npm >build/setup-npm.log 2>&1 &
npm_pid=$!
# Only what it runs: the three programs (the tests build with scripts/test.sh). Ninja prints
# each file as it goes: [done/total].
step 2 "building coffre, coffre-hub and coffre-vault (about 10 minutes on 2 cores from a fresh clone, seconds after)"
scripts/build.sh release coffre coffre-hub coffre-vault
step 3 "the compatibility tests' npm packages (installed while building)"
wait "$npm_pid" || { cat build/setup-npm.log; echo "start: npm ci failed (above)"; exit 1; }
cat build/setup-npm.log
step 4 "starting the vault and the hub (coffre up): connection details and what to try next follow"
exec build/release/apps/coffre up --dir "${COFFRE_DIR:-.coffre}" "$@"
