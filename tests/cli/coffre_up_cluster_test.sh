#!/usr/bin/env bash
# Black-box check of `coffre up --cluster`: the replicated PostgreSQL store comes up beside the
# vault and hub, connection.json gets its cluster object (the other fields as without it), the
# hub's conninfo reaches the primary as the application role, coffre status shows the store, a second start reuses ports and
# data, and `coffre down` leaves no etcd, Patroni or PostgreSQL behind. Exits 77 (skipped) where
# Patroni or etcd are not installed.
set -euo pipefail
coffre="$1"
for exe in /usr/bin/patroni /usr/bin/etcd /usr/lib/postgresql/15/bin/postgres; do
  [ -x "$exe" ] || { echo "SKIP: $exe is not installed (scripts/setup.sh)"; exit 77; }
done
source "$(dirname "$0")/lib.sh"

# Running as root, PostgreSQL runs as postgres, which must cross the directories above DIR.
if [ "$(id -u)" = 0 ]; then
  must_fail 1 "PostgreSQL runs as postgres, which cannot cross $dir" \
    up --cluster --dir "$dir/s" --ports-from "$(stack_port_base)"
  "$coffre" down --dir "$dir/s" >/dev/null 2>&1 || true
  rm -rf "$dir/s"
  chmod 0711 "$dir"
fi

out=$("$coffre" up --cluster --dir "$dir/s" --ports-from "$(stack_port_base)")
grep -q "^  cluster store:    PostgreSQL 15 on ports" <<<"$out" || fail "no cluster line in: $out"
c="$dir/s/connection.json"
# Every field of a single-node stack is still there; the cluster's are in their own object.
for key in ca_file hub_host pids vault_url vault_token key_name hub_principal mqtt_port \
           https_port service_connection_string device_id device_connection_string amqp_port \
           eventhub_connection_string eventhub_name; do
  jq -e "has(\"$key\")" "$c" >/dev/null || fail "connection.json lacks $key"
done
[ "$(jq '.cluster.etcd | length' "$c")" = 3 ] || fail "not 3 etcd members"
# Two hub nodes: node 0 the top-level hub, node 1 on ports of its own, both running.
[ "$(jq '.hub_nodes | length' "$c")" = 2 ] || fail "not 2 hub nodes: $(jq -c .hub_nodes "$c")"
[ "$(jq '.hub_nodes[0].mqtt_port == .mqtt_port and .hub_nodes[0].pid == .pids.hub' "$c")" = true ] ||
  fail "hub node 0 is not the top-level hub: $(jq -c .hub_nodes "$c")"
[ "$(jq '.hub_nodes[1].pid == .pids["hub-1"] and .hub_nodes[1].https_port != .https_port' "$c")" = true ] ||
  fail "hub node 1: $(jq -c .hub_nodes "$c")"
for pid in $(jq -r '.hub_nodes[].pid' "$c"); do kill -0 "$pid" || fail "hub node $pid is not running"; done
[ "$(jq '.cluster.postgres | length' "$c")" = 3 ] || fail "not 3 PostgreSQL nodes"
conninfo=$(jq -r .cluster.postgres_conninfo "$c")
grep -q "target_session_attrs=read-write" <<<"$conninfo" || fail "conninfo: $conninfo"
grep -q "passfile=$dir/s/cluster/pgpass" <<<"$conninfo" || fail "conninfo: $conninfo"
for f in "$dir/s/cluster/pgpass" "$dir/s/cluster/secrets.json"; do
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
# No password in what coffre up printed or in connection.json.
for secret in $(jq -r '.[]' "$dir/s/cluster/secrets.json"); do
  ! grep -qF -- "$secret" <<<"$out" || fail "coffre up printed a password"
  ! grep -qF -- "$secret" "$c" || fail "connection.json holds a password"
done

# As the hub will: the primary, as coffre, with synchronous replication on.
row=$(psql "$conninfo" -Atc "SELECT current_user, pg_is_in_recovery(),
  current_setting('synchronous_commit'), current_setting('synchronous_standby_names') <> ''")
[ "$row" = "coffre|f|on|t" ] || fail "the conninfo reached: $row"
psql "$conninfo" -qc "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"
leader_port=$(curl -s "http://127.0.0.1:$(jq '.cluster.postgres[0].patroni_port' "$c")/cluster" |
  jq '[.members[] | select(.role == "leader")][0].port')
[ -n "$leader_port" ] && [ "$leader_port" != null ] || fail "Patroni names no leader"

# coffre status: the hub ready on the store, a leader and a synchronous standby, 3 etcd.
status=$("$coffre" status --dir "$dir/s" --output json)
[ "$(jq -r '.cluster.synchronous' <<<"$status")" = true ] || fail "status: $status"
[ "$(jq '[.cluster.postgres[] | select(.role == "leader")] | length' <<<"$status")" = 1 ] ||
  fail "status names no single leader: $status"
[ "$(jq '[.cluster.etcd[] | select(.running)] | length' <<<"$status")" = 3 ] || fail "status: $status"
"$coffre" status --dir "$dir/s" | grep -q "^cluster store *ready" || fail "no cluster store row"
[ "$(jq -r '.hubNodes[0].ready' <<<"$status")" = true ] || fail "hub node 1 not ready: $status"
"$coffre" status --dir "$dir/s" | grep -q "^hub node 1 *ready" || fail "no hub node 1 row"

# A second start: the same ports, the same data, running processes kept.
before=$(jq -c '.cluster' "$c")
before_nodes=$(jq -c '.hub_nodes' "$c")
"$coffre" up --cluster --dir "$dir/s" >/dev/null
[ "$(jq -c '.cluster' "$c")" = "$before" ] || fail "a second up changed the cluster: $(jq -c .cluster "$c")"
[ "$(jq -c '.hub_nodes' "$c")" = "$before_nodes" ] || fail "a second up changed the hub nodes: $(jq -c .hub_nodes "$c")"

pids=$(jq -r '.cluster.etcd[].pid, .cluster.postgres[].pid, .hub_nodes[].pid' "$c")
"$coffre" down --dir "$dir/s" >/dev/null
for pid in $pids; do
  # A zombie (Zs: a daemon leads its session) is gone; in a container PID 1 may not reap it.
  ! kill -0 "$pid" 2>/dev/null || [[ "$(ps -o stat= -p "$pid")" == Z* ]] || fail "pid $pid still runs"
done
left=$(for p in /proc/[0-9]*; do readlink "$p/cwd" 2>/dev/null | grep -q "^$dir/s/cluster" && basename "$p"; done || true)
[ -z "$left" ] || fail "left running in $dir/s/cluster: $left"
[ "$(jq '[.cluster.postgres[].pid] | add' "$c")" = 0 ] || fail "pids not cleared"

# After a stop: up again from the data on disk, the row still there.
"$coffre" up --cluster --dir "$dir/s" >/dev/null
[ "$(psql "$conninfo" -Atc "SELECT v FROM kept")" = 42 ] || fail "the data did not survive a restart"
"$coffre" down --dir "$dir/s" >/dev/null
echo "coffre up --cluster: ok"
