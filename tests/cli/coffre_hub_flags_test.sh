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
