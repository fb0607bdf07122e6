#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release) with as many jobs as there are cores.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset "$preset" >/dev/null
cmake --build "build/$preset" -j "$(nproc)"
