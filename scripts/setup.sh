#!/usr/bin/env bash
# Installs what Coffre needs on Debian 12 and is quick when all of it is there: Debian packages
# (apt-get), then the pinned npm packages of the compatibility tests (npm ci). Idempotent.
#   scripts/setup.sh [packages|npm]   (no argument: both, in that order)
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-all}"

# Build tools, libraries, servers the tests start (mosquitto: the reference broker of the
# benchmarks), the fuzzing toolchain, what packaging uses (dpkg-dev, file: CPack's Depends) and
# promtool (prometheus: the coffre_metrics test checks both daemons' /metrics) and chromium (the
# status page's test drives it headless), PostgreSQL 15 and libpq (cluster mode's store; its tests
# start their own server), Patroni and etcd (`coffre up --cluster` replicates that store:
# docs/CLUSTER.md):
# docs/ARCHITECTURE.md.
packages=(
  g++ cmake ninja-build ccache pkg-config git ca-certificates openssl iproute2
  libssl-dev libboost1.81-dev librocksdb-dev zlib1g-dev libargon2-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  libqpid-proton-cpp12-dev libqpid-proton11-dev
  softhsm2 libsofthsm2-dev libp11-kit-dev mosquitto
  dpkg-dev file
  prometheus chromium
  postgresql-15 libpq-dev patroni etcd-server
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
[ "$part" = npm ] && packages=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js for the compatibility tests: any installed node (>= 20) will do; else Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ "$part" = npm ] && missing=()

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
fi

[ "$part" = packages ] && exit 0

# npm ci only when the lock file changed since the last install.
compat=tests/compat
stamp="$compat/node_modules/.coffre-lock-sha256"
want=$(sha256sum "$compat/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci in $compat"
  (cd "$compat" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi
echo "setup: all dependencies present"
