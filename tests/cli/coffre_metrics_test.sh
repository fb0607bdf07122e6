#!/usr/bin/env bash
# GET /metrics on both daemons of a real stack (`coffre up`, docs/METRICS.md): refused without a
# credential; served to a ServiceConnect SAS token (hub) and to a vault principal without any
# key permission; after telemetry over HTTPS and MQTT the counters have moved; no key, token or
# device id is in either scrape; and `promtool check metrics` (Debian's prometheus package)
# accepts both. Exits 77 (skipped) without promtool.
set -euo pipefail
coffre="$1"
compat="$(cd "$(dirname "$0")/../compat" && pwd)"
if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool not found (Debian package prometheus)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
ca=$(conn ca_file)
hub="https://localhost:$(conn https_port)/metrics"
vault="$(conn vault_url)/metrics"
device=$(conn device_id)
sas=$("$coffre" hub generate-sas-token --dir "$dir/s")
vault_token=$("$coffre" vault access set prometheus --permissions get --keys no-such-key \
  --output json --dir "$dir/s" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).token)')
[ -n "$vault_token" ] && [ "$vault_token" != undefined ] || fail "no token for the prometheus principal"

# scrape URL AUTHORIZATION OUT: prints the status, the body in OUT.
scrape() {
  curl -s --max-time 20 --cacert "$ca" ${2:+-H "Authorization: $2"} -o "$3" -w '%{http_code}' "$1" \
    || echo "curl-failed-$?"
}
# value FILE SERIES: the value of one series (name with its labels, as rendered), or "absent".
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"; }
# at_least FILE SERIES N
at_least() {
  local v
  v=$(value "$1" "$2")
  [ "$v" != absent ] && awk -v v="$v" -v n="$3" 'BEGIN { exit !(v + 0 >= n + 0) }' \
    || fail "$2 is $v in $1, wanted at least $3"
}

# Refused without a credential, or with a bad one.
[ "$(scrape "$hub" "" "$dir/out")" = 401 ] || fail "hub /metrics without a token: $(cat "$dir/out")"
[ "$(scrape "$hub" "SharedAccessSignature sr=x&sig=y&se=1&skn=service" "$dir/out")" = 401 ] ||
  fail "hub /metrics with a forged token: $(cat "$dir/out")"
[ "$(scrape "$vault" "" "$dir/out")" = 401 ] || fail "vault /metrics without a token"
[ "$(scrape "$vault" "Bearer not-a-token" "$dir/out")" = 401 ] || fail "vault /metrics, bad token"

[ "$(scrape "$hub" "$sas" "$dir/hub0")" = 200 ] || fail "hub /metrics: $(cat "$dir/hub0")"
[ "$(value "$dir/hub0" 'coffre_hub_messages_received_total{protocol="https"}')" = 0 ] ||
  fail "https messages before any was sent: $(grep received_total "$dir/hub0")"

# Telemetry: 5 messages over the HTTPS device API, 3 over MQTT (the device SDK), each acknowledged.
"$coffre" hub device send "$device" --message '{"n": {n}}' --count 5 --dir "$dir/s" >/dev/null
NODE_PATH="$compat/node_modules" node -e '
  const { Client, Message } = require("azure-iot-device");
  const { Mqtt } = require("azure-iot-device-mqtt");
  (async () => {
    const client = Client.fromConnectionString(process.argv[1], Mqtt);
    await client.setOptions({ ca: require("fs").readFileSync(process.argv[2], "utf8") });
    await client.open();
    for (let i = 0; i < 3; i++) await client.sendEvent(new Message(JSON.stringify({ i })));
    await client.close();
  })().catch((e) => { console.error(String(e)); process.exit(1); });
' "$(conn device_connection_string)" "$ca" || fail "MQTT send"

[ "$(scrape "$hub" "$sas" "$dir/hub.txt")" = 200 ] || fail "hub /metrics: $(cat "$dir/hub.txt")"
[ "$(scrape "$vault" "Bearer $vault_token" "$dir/vault.txt")" = 200 ] ||
  fail "vault /metrics: $(cat "$dir/vault.txt")"
h="$dir/hub.txt"
[ "$(value "$h" 'coffre_hub_messages_received_total{protocol="https"}')" = 5 ] ||
  fail "https received: $(grep received_total "$h")"
[ "$(value "$h" 'coffre_hub_messages_received_total{protocol="mqtt"}')" = 3 ] ||
  fail "mqtt received: $(grep received_total "$h")"
at_least "$h" 'coffre_hub_received_bytes_total{protocol="https"}' 40
at_least "$h" coffre_hub_messages_stored_total 8
at_least "$h" coffre_hub_ack_latency_seconds_count 8
at_least "$h" 'coffre_hub_ack_latency_seconds_bucket{le="+Inf"}' 8
at_least "$h" coffre_hub_group_commit_messages_count 1
at_least "$h" coffre_hub_commit_duration_seconds_count 1
at_least "$h" 'coffre_hub_customer_key_checks_total{result="ok"}' 1
at_least "$h" coffre_hub_customer_key_check_duration_seconds_count 1
at_least "$h" coffre_hub_seals_total 8
at_least "$h" 'coffre_hub_opens_total{result="ok"}' 1
at_least "$h" 'coffre_hub_auth_refusals_total{caller="service",reason="malformed"}' 1
at_least "$h" 'coffre_hub_connections{protocol="https"}' 1
at_least "$h" coffre_hub_disk_free_bytes 1
at_least "$h" 'coffre_hub_partition_retained_messages{partition="0"}' 0
[ "$(value "$h" 'coffre_hub_customer_key_accessible{mode="customer-managed",reason=""}')" = 1 ] ||
  fail "key state: $(grep key_accessible "$h")"
[ "$(value "$h" 'coffre_hub_authenticated_connections{protocol="mqtt"}')" = 0 ] ||
  fail "the MQTT client closed: $(grep authenticated_connections "$h")"
grep -q '^coffre_hub_build_info{version="[0-9.]*"} 1$' "$h" || fail "no build info in $h"
v="$dir/vault.txt"
at_least "$v" 'coffre_vault_requests_total{operation="unwrapKey",code="200"}' 1
at_least "$v" 'coffre_vault_requests_total{operation="getMetrics",code="401"}' 2
at_least "$v" coffre_vault_unwrap_duration_seconds_count 1
at_least "$v" coffre_vault_audit_log_bytes 1
at_least "$v" coffre_vault_audit_entries_total 1
grep -q '^coffre_vault_build_info{version="[0-9.]*"} 1$' "$v" || fail "no build info in $v"

# Nothing secret, and no device id: the tokens used, the device's key, the vault token.
device_key=$(sed -n 's/.*SharedAccessKey=\([^;"]*\).*/\1/p' <<<"$(conn device_connection_string)")
sig=$(sed -n 's/.*sig=\([^&]*\).*/\1/p' <<<"$sas")
for secret in "$device_key" "$sig" "$vault_token" "$(conn vault_token)" "$device"; do
  [ -n "$secret" ] || fail "an empty secret to look for"
  ! grep -qF -- "$secret" "$h" "$v" || fail "a secret or device id is in a scrape"
done

# Every metric docs/METRICS.md and the example dashboard name is exposed.
docs="$(dirname "$0")/../../docs"
for name in $(grep -ohE 'coffre_(hub|vault)_[a-z_]+' "$docs/METRICS.md" "$docs/grafana/coffre.json" |
              sort -u); do
  base=${name%_bucket}
  base=${base%_sum}
  base=${base%_count}
  grep -qE "^# TYPE ($name|$base) " "$h" "$v" || fail "$name, in the docs, is in neither scrape"
done

# The exposition format and Prometheus' naming conventions.
for f in "$h" "$v"; do
  out=$(promtool check metrics <"$f" 2>&1) || fail "promtool check metrics $f: $out"
done
echo "OK: /metrics on both daemons"
