#!/usr/bin/env bash
# Quick start (1): set up, build, and start the local stack on localhost in .coffre/
# (`coffre up`: generated TLS certificates, embedded storage, connection.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Only what it runs: the three programs (the tests build with scripts/test.sh).
echo "start: building coffre, coffre-hub and coffre-vault (a few minutes on a fresh clone)"
scripts/build.sh release coffre coffre-hub coffre-vault
exec build/release/apps/coffre up --dir "${COFFRE_DIR:-.coffre}" "$@"
