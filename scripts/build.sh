#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release) with as many jobs as there are cores:
#   scripts/build.sh [PRESET] [TARGET...]   (no target: everything, tests and benchmarks too)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# Paths relative to the clone, so another clone (or a worktree) of the repository hits the same
# cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
cmake --preset "$preset" >/dev/null
targets=()
[ $# -gt 0 ] && targets=(--target "$@")
cmake --build "build/$preset" -j "$(nproc)" "${targets[@]}"
