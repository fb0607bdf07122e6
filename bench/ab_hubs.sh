#!/usr/bin/env bash
# Two hub builds side by side on the same machine, alternating, to measure what a change costs:
#   bench/ab_hubs.sh A_APPS B_APPS ROUNDS CLIENTS COUNT [mqtt_load options...]
# A_APPS and B_APPS are the build/release/apps directories of two checkouts (e.g. a worktree of
# the commit before the change). Each gets its own `coffre up` stack on loopback (B reuses A's
# CA), its own CLIENTS devices, then ROUNDS rounds of A then B, each COUNT QoS 1 messages of
# 256 B through bench/mqtt_load (options added after COUNT, e.g. --inflight 32 --coalesce).
# Prints msgs/s, p99 and the hub's CPU per message of every run; read the per-round ratios, as
# the machine's speed drifts between rounds.
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,9p' "$0"; exit 2; }
A=$1 B=$2 rounds=$3 clients=$4 count=$5
shift 5
load="$(cd "$(dirname "$0")/.." && pwd)/build/release/bench/mqtt_load"
[ -x "$load" ] || { echo "build bench/mqtt_load first (scripts/build.sh release)"; exit 2; }
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
trap '"$A/coffre" down --dir "$tmp/a" >/dev/null 2>&1 || true; "$B/coffre" down --dir "$tmp/b" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
base=$((20000 + RANDOM % 10000))
"$A/coffre" up --dir "$tmp/a" --ports-from $base --hub-arg=--throttle-registry-ops-per-second=0 >/dev/null
mkdir -p "$tmp/b" && cp -r "$tmp/a/tls" "$tmp/b/"
"$B/coffre" up --dir "$tmp/b" --ports-from $((base + 100)) --hub-arg=--throttle-registry-ops-per-second=0 >/dev/null
field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" "$2/connection.json" | head -1; }
pid_of() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$2/connection.json" | head -1; }
ca="$tmp/a/tls/ca.pem"
for s in a b; do
  owner=$(sed -n 's/.*"service_connection_string": *"\([^"]*\)".*/\1/p' "$tmp/$s/connection.json")
  "$load" --ca-file "$ca" --clients "$clients" --create-only --id-prefix ab- --owner "$owner" \
    --https-port "$(field https_port "$tmp/$s")" --keep-devices-file "$tmp/$s-devices" >/dev/null
done
for r in $(seq "$rounds"); do
  for s in a b; do
    out=$("$load" --ca-file "$ca" --clients "$clients" --count "$count" --seconds 600 \
      --broker-pid "$(pid_of hub "$tmp/$s")" --port "$(field mqtt_port "$tmp/$s")" \
      --devices-file "$tmp/$s-devices" --qos 1 --size 256 "$@")
    j() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$out"; }
    echo "round $r $s: $(j msgs_per_s) msgs/s p99 $(j p99_ms) ms hub CPU $(awk -v t="$(j pub_broker_cpu_s)" -v n="$(j messages)" 'BEGIN{printf "%.2f", t*1e6/n}') us/msg"
  done
done
