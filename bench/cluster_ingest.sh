#!/usr/bin/env bash
# Cluster mode next to embedded mode on the same machine, alternating:
#   bench/cluster_ingest.sh ROUNDS CLIENTS COUNT [mqtt_load options...]
# Starts two stacks on loopback: E, `coffre up` (embedded: RocksDB and segment files) and C,
# `coffre up --cluster` (two hub nodes on 3 Patroni-managed PostgreSQL 15 nodes with a
# synchronous standby, and 3 etcd). Each round sends COUNT QoS 1 messages of 256 B from CLIENTS
# devices (bench/mqtt_load) to E, then to C's hub node 0 alone ("cluster"), then to both of C's
# hub nodes, half the devices (and messages) each ("cluster-2"), and prints msgs/s, p99 and CPU
# per message by component: the hub nodes, PostgreSQL (every process of the 3 servers), Patroni
# and etcd. Then the raw store rate of C's cluster per transaction size (bench/pg_store_bench,
# 4 writers, 300-byte rows).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,9p' "$0"; exit 2; }
rounds=$1 clients=$2 count=$3
shift 3
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build/release/apps"
load="$root/build/release/bench/mqtt_load"
store_bench="$root/build/release/bench/pg_store_bench"
[ -x "$load" ] && [ -x "$store_bench" ] || { echo "build first: scripts/build.sh release"; exit 2; }
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d /var/tmp/coffre-cluster-bench.XXXXXX)
chmod 711 "$tmp"  # PostgreSQL's user crosses it to the cluster's DIR
trap '"$bin/coffre" down --dir "$tmp/e" >/dev/null 2>&1 || true; "$bin/coffre" down --dir "$tmp/c" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
base=$((20000 + RANDOM % 10000))
"$bin/coffre" up --dir "$tmp/e" --ports-from $base --hub-arg=--throttle-registry-ops-per-second=0 >/dev/null
mkdir -p "$tmp/c" && cp -r "$tmp/e/tls" "$tmp/c/"
"$bin/coffre" up --cluster --dir "$tmp/c" --ports-from $((base + 100)) \
  --hub-arg=--throttle-registry-ops-per-second=0 >/dev/null
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2"; }
ca="$tmp/e/tls/ca.pem"
for s in e c; do
  owner=$(json "$tmp/$s/connection.json" 'd["service_connection_string"]')
  "$load" --ca-file "$ca" --clients "$clients" --create-only --id-prefix cb- --owner "$owner" \
    --https-port "$(json "$tmp/$s/connection.json" 'd["https_port"]')" \
    --keep-devices-file "$tmp/$s-devices" >/dev/null
done
# The two halves of cluster-2's devices: one per hub node.
owner=$(json "$tmp/c/connection.json" 'd["service_connection_string"]')
for i in 0 1; do
  "$load" --ca-file "$ca" --clients $((clients / 2)) --create-only --id-prefix "cb$i-" --owner "$owner" \
    --https-port "$(json "$tmp/c/connection.json" 'd["https_port"]')" \
    --keep-devices-file "$tmp/c2-$i-devices" >/dev/null
done
# CPU seconds (utime + stime): `cpu tree PIDS...` of the pids and all their descendants,
# `cpu own PIDS...` of the pids alone.
cpu() {
  ps -e -o pid=,ppid= | python3 -c '
import os, sys
mode, roots = sys.argv[1], set(int(p) for p in sys.argv[2:])
children = {}
for line in sys.stdin:
    pid, ppid = map(int, line.split())
    children.setdefault(ppid, []).append(pid)
todo, seen = list(roots), set()
while todo and mode == "tree":
    p = todo.pop()
    if p in seen: continue
    seen.add(p); todo += children.get(p, [])
seen |= roots
tick = os.sysconf("SC_CLK_TCK"); total = 0
for p in seen:
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except OSError:
        pass
print(total / tick)' "$@"
}
patronis=$(json "$tmp/c/connection.json" '" ".join(str(m["pid"]) for m in d["cluster"]["postgres"])')
etcds=$(json "$tmp/c/connection.json" '" ".join(str(m["pid"]) for m in d["cluster"]["etcd"])')
postmasters() { for i in 0 1 2; do head -1 "$tmp/c/cluster/pg-$i/data/postmaster.pid" 2>/dev/null; done | tr '\n' ' '; }
per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.2f", (b-a)*1e6/n}'; }
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
# One cluster-2 round: both hub nodes loaded at once, half the devices and messages each.
two_nodes_round() {
  local r=$1 pm pg0 pa0 pg1 pa1 out0 out1
  shift
  pm=$(postmasters); pg0=$(cpu tree $pm); pa0=$(cpu own $patronis $etcds)
  for i in 0 1; do
    "$load" --ca-file "$ca" --clients $((clients / 2)) --count $((count / 2)) --seconds 600 \
      --broker-pid "$(json "$tmp/c/connection.json" "d['hub_nodes'][$i]['pid']")" \
      --port "$(json "$tmp/c/connection.json" "d['hub_nodes'][$i]['mqtt_port']")" \
      --devices-file "$tmp/c2-$i-devices" --qos 1 --size 256 "$@" >"$tmp/c2-$i.out" &
  done
  wait
  pg1=$(cpu tree $pm); pa1=$(cpu own $patronis $etcds)
  out0=$(cat "$tmp/c2-0.out"); out1=$(cat "$tmp/c2-1.out")
  awk -v n0="$(field "$out0" messages)" -v n1="$(field "$out1" messages)" \
      -v s0="$(field "$out0" seconds)" -v s1="$(field "$out1" seconds)" \
      -v p0="$(field "$out0" p99_ms)" -v p1="$(field "$out1" p99_ms)" \
      -v c0="$(field "$out0" pub_broker_cpu_s)" -v c1="$(field "$out1" pub_broker_cpu_s)" -v r="$r" \
      'BEGIN{n=n0+n1; s=(s0>s1?s0:s1); printf "round %s cluster-2: %.0f msgs/s p99 %s ms hub %.2f us/msg (node 0 %.2f, node 1 %.2f)", r, n/s, (p0>p1?p0:p1), (c0+c1)*1e6/n, c0*1e6/n0, c1*1e6/n1}'
  echo " postgres $(per "$pg0" "$pg1" "$count") us/msg patroni+etcd $(per "$pa0" "$pa1" "$count") us/msg"
}
for r in $(seq "$rounds"); do
  for s in e c; do
    pm=$(postmasters)
    pg0=0 pa0=0
    if [ "$s" = c ]; then pg0=$(cpu tree $pm); pa0=$(cpu own $patronis $etcds); fi
    out=$("$load" --ca-file "$ca" --clients "$clients" --count "$count" --seconds 600 \
      --broker-pid "$(json "$tmp/$s/connection.json" 'd["pids"]["hub"]')" \
      --port "$(json "$tmp/$s/connection.json" 'd["mqtt_port"]')" \
      --devices-file "$tmp/$s-devices" --qos 1 --size 256 "$@")
    j() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$out"; }
    n=$(j messages)
    line="round $r $([ $s = e ] && echo embedded || echo cluster): $(j msgs_per_s) msgs/s p99 $(j p99_ms) ms hub $(awk -v t="$(j pub_broker_cpu_s)" -v n="$n" 'BEGIN{printf "%.2f", t*1e6/n}') us/msg"
    if [ "$s" = c ]; then
      pg1=$(cpu tree $pm); pa1=$(cpu own $patronis $etcds)
      line="$line postgres $(per "$pg0" "$pg1" "$n") us/msg patroni+etcd $(per "$pa0" "$pa1" "$n") us/msg"
    fi
    echo "$line"
  done
  two_nodes_round "$r" "$@"
done
conninfo=$(json "$tmp/c/connection.json" 'd["cluster"]["postgres_conninfo"]')
"$bin/coffre" down --dir "$tmp/e" >/dev/null  # the store bench has the machine to itself
"$store_bench" --conninfo "$conninfo" --writers 4 --sizes 1,16,64,256 --bytes 300 --seconds 5
