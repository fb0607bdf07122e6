#!/usr/bin/env bash
# Runs one compat test file against a stack on the ports the Azure SDKs hard-code (8443, 8883,
# 443), for SDK clients that cannot be pointed at another port (azure-iothub's REST client).
# The service SDK trusts the stack's CA through NODE_EXTRA_CA_CERTS, read at node's start, so
# the stack comes up first. Port 443 needs root: elsewhere the test is skipped (exit 77).
# Arguments after the test file go to `coffre up` (e.g. --hub-arg=--throttle-...).
# Where it can (root, util-linux's unshare, iproute2's ip), it runs in a network namespace of its
# own: a loopback of its own whose ports nobody else holds, so several of these run side by side
# (tests/CMakeLists.txt drops their shared lock then) and none meets a stray daemon on the host.
set -euo pipefail
if [ -z "${COFFRE_OWN_NETNS:-}" ] && [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null &&
   unshare --net true 2>/dev/null; then
  exec unshare --net env COFFRE_OWN_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
bin_dir=$(cd "$1" && pwd)
test_file="$2"
shift 2
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: $test_file needs ports 443/8883/8443 (run as root, as CI does)"
  exit 77
fi
dir=$(mktemp -d)
cleanup() { "$bin_dir/coffre" down --dir "$dir/stack" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"$bin_dir/coffre" up --dir "$dir/stack" "$@" >/dev/null
cd "$(dirname "$0")"
NODE_EXTRA_CA_CERTS="$dir/stack/tls/ca.pem" COFFRE_STACK_DIR="$dir/stack" \
  node --test --test-concurrency=1 "$test_file"
