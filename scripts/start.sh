#!/usr/bin/env bash
# Quick start (1): set up, build, and start the local stack on localhost in .coffre/
# (`coffre up`: generated TLS certificates, embedded storage, connection.json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec build/release/apps/coffre up --dir "${COFFRE_DIR:-.coffre}" "$@"
