#!/usr/bin/env bash
# Runs a command in a network namespace of its own (unshare --net, loopback up), for a test that
# builds a network (a bridge, a namespace per cluster node: lib/netns.js) and must never touch the
# host's. Needs root, util-linux's unshare and iproute2's ip: elsewhere the test is skipped with
# the reason (exit 77, ctest's SKIP_RETURN_CODE), never passed by doing nothing.
# Node namespaces are named COFFRE_NETNS_PREFIX-*; any the command left behind (it was killed
# before its own clean-up) are emptied, by pid, and deleted here.
set -uo pipefail
if [ -z "${COFFRE_NETNS_PREFIX:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: $* needs root (a network namespace of its own, ip netns)"
    exit 77
  fi
  if ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
    echo "SKIP: $* needs unshare (util-linux) and ip (iproute2)"
    exit 77
  fi
  if ! why=$(unshare --net true 2>&1); then
    echo "SKIP: $* needs a network namespace of its own; unshare --net refused: $why"
    exit 77
  fi
  export COFFRE_NETNS_PREFIX="coffre-$$"
  unshare --net bash -c 'ip link set lo up && "$0" "$@"' "$0" "$@"
  status=$?
  for ns in /run/netns/"$COFFRE_NETNS_PREFIX"-*; do
    [ -e "$ns" ] || continue
    name=$(basename "$ns")
    for pid in $(timeout 10 ip netns pids "$name"); do kill -9 "$pid" 2>/dev/null; done
    timeout 10 ip netns delete "$name"
    echo "# removed network namespace $name left behind"
  done
  exit $status
fi
exec "$@"
