#!/usr/bin/env bash
# coffre-hub's listen flags go through one checked host:port parser: a port that is not a
# number, or out of range, is a message and exit 2 before anything starts (std::stoi used to
# throw on ':abc', ending the process with an uncaught exception, and wrapped ':70000' to 4464).
set -euo pipefail
hub="$1"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# must_refuse FLAG VALUE PATTERN
must_refuse() {
  local rc=0 err
  err=$("$hub" --dir "$dir/hub" --tls-cert "$dir/none.pem" --tls-key "$dir/none-key.pem" \
    --service-key-file "$dir/service.key" "$1" "$2" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "coffre-hub $1 $2: exit $rc, wanted 2: $err"
  grep -Eq -- "$3" <<<"$err" || fail "coffre-hub $1 $2: no '$3' in: $err"
  [ ! -e "$dir/hub" ] && [ ! -e "$dir/service.key" ] || fail "coffre-hub $1 $2 created files"
}

must_refuse --mqtt-listen 127.0.0.1:abc "^coffre-hub: --mqtt-listen: port must be a number from 1 to 65535 \(got '127.0.0.1:abc'\)$"
must_refuse --mqtt-listen 127.0.0.1:70000 "^coffre-hub: --mqtt-listen: port must be a number from 1 to 65535"
must_refuse --mqtt-listen 127.0.0.1:65536 "port must be a number from 1 to 65535"
must_refuse --mqtt-listen 127.0.0.1:-1 "port must be a number from 1 to 65535"
must_refuse --mqtt-listen 127.0.0.1 "^coffre-hub: --mqtt-listen must be host:port"
must_refuse --mqtt-listen :8883 "^coffre-hub: --mqtt-listen has no host"
must_refuse --mqtt-listen "[::1" "^coffre-hub: --mqtt-listen: IPv6 address has no closing"
must_refuse --mqtt-listen ::1:8883 "write an IPv6 address as \[v6\]:port"
must_refuse --https-listen localhost:abc "^coffre-hub: --https-listen: port must be a number"
must_refuse --https-listen localhost:99999999999999999999999 "^coffre-hub: --https-listen: port must be a number"
echo "coffre-hub flags: every bad listen address refused with a message and exit 2"

# The partition-to-cluster map: a bad entry is refused, naming it, before anything starts.
must_refuse --postgres-partition-cluster "1=host=db-b" \
  "^coffre-hub: --postgres-partition-cluster needs cluster mode \(--postgres-conninfo: the main store\)$"
must_refuse --postgres-partition-cluster "1,x=host=db-b" \
  "^coffre-hub: --postgres-partition-cluster entry 1: 'x' is not a partition number or range A-B$"
must_refuse --postgres-partition-cluster "host=db-b" "entry 1: '[a-z]+' is not a partition number"
# must_refuse_config TOML PATTERN: the same through a configuration file, in cluster mode.
must_refuse_config() {
  local rc=0 err
  printf 'partitions = 4\n[postgres]\nconninfo = "host=127.0.0.1 dbname=coffre"\n%s\n' "$1" >"$dir/hub.toml"
  err=$("$hub" --config "$dir/hub.toml" --dir "$dir/hub" --tls-cert "$dir/none.pem" \
    --tls-key "$dir/none-key.pem" --service-key-file "$dir/service.key" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = 2 ] || fail "config '$1': exit $rc, wanted 2: $err"
  grep -Eq -- "$2" <<<"$err" || fail "config '$1': no '$2' in: $err"
  [ ! -e "$dir/hub" ] && [ ! -e "$dir/service.key" ] || fail "config '$1' created files"
}
must_refuse_config 'partition_cluster = ["2,4=host=db-b"]' \
  "^coffre-hub: --postgres-partition-cluster entry 1 \(partitions 2,4\): partition 4 does not exist \(the hub has 4: 0 to 3\)$"
must_refuse_config 'partition_cluster = ["1=host=db-b", "3,1=host=db-c"]' \
  "entry 2 \(partitions 3,1\): partition 1 is listed twice$"
must_refuse_config 'partition_cluster = ["1="]' "entry 1 \(partitions 1\) has no connection string$"
must_refuse_config 'partition_cluster = [{ partitions = [1], conninfo = "host=db-b" }]' \
  ":4: postgres.partition_cluster: expects a string or a list of them$"
must_refuse_config 'partition_cluster = ["1=host=db-b password=hunter2"]' "no password in the connection string"
echo "coffre-hub flags: every bad partition-cluster entry refused with a message and exit 2"
