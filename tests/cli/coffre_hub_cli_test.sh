#!/usr/bin/env bash
# Black-box check of `coffre hub ...` against the hub of a local stack: device identities,
# connection strings and SAS tokens that the Azure device SDK accepts, monitor-events over the
# read API and over the Event Hubs-compatible endpoint (--amqp), exit codes 1 (hub error) and 2
# (usage).
set -euo pipefail
coffre="$1"
compat="$(cd "$(dirname "$0")/../compat" && pwd)"
source "$(dirname "$0")/lib.sh"
# `coffre hub ARGS` against the stack, as iothubowner.
h() { "$coffre" hub "$@" --dir "$dir/s"; }
# field NAME: the value on the "NAME  value" line of a details table on stdin (two spaces at
# least: "STATUS REASON" is not "STATUS").
field() { sed -n "s/^$1   *//p"; }
# check_events DEVICE N: stdin holds exactly N JSON lines, each a message of DEVICE.
check_events() {
  node -e '
    const [device, n] = process.argv.slice(1);
    const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l !== "");
    if (lines.length !== Number(n)) throw new Error(`${lines.length} lines, wanted ${n}`);
    for (const l of lines) {
      const e = JSON.parse(l);
      for (const f of ["deviceId", "body", "properties", "systemProperties", "partition",
                       "offset", "sequenceNumber", "enqueuedTime"]) {
        if (!(f in e)) throw new Error(`no ${f} in ${l}`);
      }
      if (e.deviceId !== device) throw new Error(`not ${device}: ${l}`);
      if (e.systemProperties["iothub-connection-device-id"] !== device) throw new Error(l);
    }
  ' "$1" "$2"
}

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
mqtt_port=$(conn mqtt_port)
[ -n "$mqtt_port" ] || fail "no mqtt_port in $(cat "$dir/s/connection.json")"

# send CONNECTION_STRING N TAG: N messages from that device through the Azure device SDK, each
# acknowledged. One Node process (the SDK takes a second or more to load) sends every batch: it
# reads "CONNECTION_STRING N TAG" lines and answers "sent" once a batch is acknowledged and the
# client closed.
coproc SENDER {
  NODE_PATH="$compat/node_modules" exec node -e '
    const fs = require("fs");
    const readline = require("readline");
    const { Client, Message } = require("azure-iot-device");
    const { Mqtt } = require("azure-iot-device-mqtt");
    const ca = fs.readFileSync(process.argv[1], "utf8");
    (async () => {
      for await (const line of readline.createInterface({ input: process.stdin })) {
        const [cs, n, tag] = line.split(" ");
        try {
          const client = Client.fromConnectionString(cs, Mqtt);
          await client.setOptions({ ca });
          await client.open();
          for (let i = 0; i < Number(n); i++) {
            const m = new Message(JSON.stringify({ tag, i }));
            m.properties.add("tag", tag);
            await client.sendEvent(m);
          }
          await client.close();
          console.log("sent");
        } catch (e) {
          console.log(`failed: ${String(e).replace(/\n/g, " ")}`);
        }
      }
    })();
  ' "$(conn ca_file)"
}
send() {
  local reply=
  echo "$1 $2 $3" >&"${SENDER[1]}"
  read -r reply <&"${SENDER[0]}" || true
  [ "$reply" = sent ] || fail "send $2 from tag $3: ${reply:-the sender ended}"
}

# create, show, list
out=$(h device create d1)
[ "$(field 'DEVICE ID' <<<"$out")" = d1 ] || fail "create: $out"
[ "$(field STATUS <<<"$out")" = enabled ] || fail "create: $out"
[ "$(field AUTH <<<"$out")" = sas ] || fail "create: $out"
h device show d1 --output json | grep -q '"deviceId": "d1"' || fail "show: $(h device show d1)"
h device create d2 --disabled | grep -Eq '^STATUS +disabled$' || fail "create --disabled"
out=$(h device list)
grep -Eq '^DEVICE ID +STATUS +CONNECTION +AUTH +LAST ACTIVITY$' <<<"$out" || fail "list: $out"
grep -Eq '^demo-device +enabled ' <<<"$out" || fail "list: $out"
grep -Eq '^d1 +enabled +Disconnected +sas ' <<<"$out" || fail "list: $out"
grep -Eq '^d2 +disabled ' <<<"$out" || fail "list: $out"
must_fail 1 'coffre hub device create: DeviceAlreadyExists' hub device create d1 --dir "$dir/s"

# connection strings and tokens
cs=$(h device connection-string d1)
grep -q ';DeviceId=d1;' <<<"$cs" || fail "connection-string: $cs"
[[ "$cs" == "HostName=localhost;DeviceId=d1;SharedAccessKey="*";GatewayHostName=localhost:$mqtt_port" ]] ||
  fail "connection-string: $cs"
h device connection-string d1 --output json | grep -q '"connectionString": "HostName=' ||
  fail "connection-string --output json"
token=$(h generate-sas-token --device-id d1)
[[ "$token" == "SharedAccessSignature sr=localhost%2Fdevices%2Fd1&sig="* ]] || fail "device token: $token"
token=$(h generate-sas-token --duration 60)
[[ "$token" == "SharedAccessSignature sr=localhost&sig="*"&skn=iothubowner&se="* ]] ||
  fail "service token: $token"

# the device SDK accepts the printed connection string; monitor-events reads telemetry back
send "$(conn device_connection_string)" 3 demo
send "$cs" 2 d1
out=$(h monitor-events --device-id demo-device --from-start --max-messages 3 --timeout 30 --output json)
check_events demo-device 3 <<<"$out" || fail "monitor-events --device-id demo-device: $out"
# a timeout here, not --max-messages: this run shows there is nothing beyond the five (all five
# were acknowledged, so durable and readable, before it starts)
out_all=$(h monitor-events --from-start --timeout 1 --output json)
[ "$(grep -c '"deviceId":"d1"' <<<"$out_all")" = 2 ] || fail "monitor-events (all): $out_all"
[ "$(wc -l <<<"$out_all")" = 5 ] || fail "monitor-events (all): $out_all"
out=$(h monitor-events --device-id d1 --from-start --max-messages 1 --timeout 30)
grep -Eq '^20[0-9-]+T[0-9:.]+Z +d1 +[0-9]+/[0-9]+ +\{"tag":"d1","i":0\} +\{"tag":"d1"\}$' <<<"$out" ||
  fail "monitor-events (readable): $out"
# --amqp: the same five through the Event Hubs-compatible endpoint, printed identically (the
# partitions interleave differently: sorted)
all_http=$(sort <<<"$out_all")
all_amqp=$(h monitor-events --amqp --from-start --max-messages 5 --timeout 30 --output json | sort)
[ "$all_amqp" = "$all_http" ] || fail "monitor-events --amqp differs from the read API: $all_amqp vs $all_http"
out=$(h monitor-events --amqp --device-id d1 --from-start --max-messages 2 --timeout 30 --output json)
check_events d1 2 <<<"$out" || fail "monitor-events --amqp --device-id d1: $out"
out=$(h monitor-events --amqp --device-id d1 --from-start --max-messages 1 --timeout 30)
grep -Eq '^20[0-9-]+T[0-9:.]+Z +d1 +[0-9]+/[0-9]+ +\{"tag":"d1","i":0\} +\{"tag":"d1"\}$' <<<"$out" ||
  fail "monitor-events --amqp (readable): $out"
out=$(h monitor-events --amqp --enqueued-time 2000-01-01T00:00:00Z --device-id demo-device --max-messages 3 --timeout 30 --output json)
check_events demo-device 3 <<<"$out" || fail "monitor-events --amqp --enqueued-time: $out"
ehcs=$(conn eventhub_connection_string)
[[ "$ehcs" == "Endpoint=sb://localhost:$(conn amqp_port)/;SharedAccessKeyName="*";EntityPath="* ]] ||
  fail "eventhub_connection_string: $ehcs"
eh=(--ca-file "$(conn ca_file)" --timeout 30)
out=$("$coffre" hub monitor-events --amqp --eventhub-connection-string "$ehcs" "${eh[@]}" --from-start --max-messages 5)
[ "$(wc -l <<<"$out")" = 5 ] || fail "monitor-events --eventhub-connection-string: $out"
bad=$(sed 's/SharedAccessKey=[^;]*/SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=/' <<<"$ehcs")
must_fail 1 'refused the token .*amqp:unauthorized-access.*SharedAccessKey' hub monitor-events --amqp \
  --eventhub-connection-string "$bad" "${eh[@]}"
must_fail 1 'cannot connect to the Event Hubs-compatible endpoint at localhost:1: .*refused' hub monitor-events \
  --amqp --eventhub-connection-string "${ehcs/localhost:$(conn amqp_port)/localhost:1}" "${eh[@]}"
must_fail 1 'certificate verify failed' hub monitor-events --amqp --eventhub-connection-string "$ehcs" --timeout 30
must_fail 1 "amqp:not-found: The messaging entity 'localhost/ConsumerGroups/nope' could not be found" \
  hub monitor-events --amqp --cg nope --timeout 30 --dir "$dir/s"
must_fail 2 'IoT Hub connection string' hub monitor-events --amqp \
  --eventhub-connection-string "$(conn service_connection_string)"
must_fail 2 'no EntityPath' hub monitor-events --amqp --eventhub-connection-string "${ehcs%;EntityPath=*}"
must_fail 2 'requires --amqp' hub monitor-events --eventhub-connection-string "$ehcs"
must_fail 2 'use --dir DIR, or --eventhub-connection-string' hub monitor-events --amqp

# Without --from-start it starts at the end: only what is sent while it runs. When it has taken
# the end is not visible from here, so one "late" message at a time goes out until it has
# printed one and stopped; what it printed is a late one, never an older message. Both paths.
late=0
for path in "" --amqp; do
  h monitor-events $path --max-messages 1 --timeout 30 --output json >"$dir/tail.out" &
  monitor=$!
  sent=0
  while kill -0 "$monitor" 2>/dev/null && [ "$sent" -lt 30 ]; do
    send "$cs" 1 late
    sent=$((sent + 1))
    for _ in $(seq 10); do
      kill -0 "$monitor" 2>/dev/null || break
      sleep 0.1
    done
  done
  late=$((late + sent))
  wait "$monitor" || fail "monitor-events $path in the background failed"
  check_events d1 1 <"$dir/tail.out" || fail "monitor-events $path from the end: $(cat "$dir/tail.out")"
  grep -qF '{\"tag\":\"late\",\"i\":0}' "$dir/tail.out" ||
    fail "monitor-events $path from the end printed an older message: $(cat "$dir/tail.out")"
done

# consumer groups: a group's run commits checkpoints, the next run resumes after them
out=$(h consumer-group list)
grep -Eq '^\$Default ' <<<"$out" || fail "consumer-group list: $out"
h consumer-group create alerts | grep -Eq '^alerts ' || fail "consumer-group create"
must_fail 1 'ConsumerGroupAlreadyExists' hub consumer-group create alerts --dir "$dir/s"
# over AMQP the group only names the reader (case-insensitively, as Event Hubs compares them)
out=$(h monitor-events --amqp --cg ALERTS --from-start --max-messages 1 --timeout 30 --output json)
[ "$(wc -l <<<"$out")" = 1 ] || fail "monitor-events --amqp --consumer-group: $out"
out=$(h monitor-events --consumer-group alerts --from-start --max-messages $((5 + late)) --timeout 30 --output json)
[ "$(wc -l <<<"$out")" = $((5 + late)) ] || fail "monitor-events --consumer-group (first run): $out"
send "$cs" 2 resumed
out=$(h monitor-events --consumer-group alerts --max-messages 2 --timeout 30 --output json)
[ "$(wc -l <<<"$out")" = 2 ] && grep -q '"tag":"resumed"' <<<"$out" ||
  fail "monitor-events --consumer-group (resumed): $out"
# stopping inside a batch leaves the group's checkpoint on the first message not printed
send "$cs" 3 split
out=$(h monitor-events --cg alerts --max-messages 1 --timeout 30 --output json)
grep -qF '{\"tag\":\"split\",\"i\":0}' <<<"$out" || fail "monitor-events --max-messages 1 (split): $out"
out=$(h monitor-events --cg alerts --max-messages 2 --timeout 30 --output json)
[ "$(wc -l <<<"$out")" = 2 ] && grep -qF '{\"tag\":\"split\",\"i\":1}' <<<"$out" &&
  grep -qF '{\"tag\":\"split\",\"i\":2}' <<<"$out" ||
  fail "monitor-events --consumer-group after a stop inside a batch: $out"
out=$(h monitor-events --cg alerts --from-start --timeout 1 --output json)
[ -z "$out" ] || fail "monitor-events --consumer-group (nothing new): $out"
# --enqueued-time: from a time on (everything was sent after the stack came up)
out=$(h monitor-events --enqueued-time 2000-01-01T00:00:00Z --device-id d1 --max-messages $((7 + late)) --timeout 30 --output json)
[ "$(grep -c '"deviceId":"d1"' <<<"$out")" = $((7 + late)) ] || fail "monitor-events --enqueued-time: $out"
out=$(h monitor-events --et 4102444800000 --timeout 1 --output json)
[ -z "$out" ] || fail "monitor-events --enqueued-time (future): $out"
must_fail 2 'not an ISO 8601 time' hub monitor-events --enqueued-time yesterday --dir "$dir/s"
h consumer-group delete alerts | grep -q 'deleted consumer group alerts' || fail "consumer-group delete"
must_fail 1 'ConsumerGroupNotFound' hub monitor-events --consumer-group alerts --timeout 1 --dir "$dir/s"
must_fail 1 'ArgumentInvalid' hub consumer-group delete '$Default' --dir "$dir/s"

# device send: as the device, over the HTTPS device API; {n} numbers the messages
h device create sender >/dev/null
out=$(h device send sender --message '{"n":{n}}' --props site=paris --count 3 --output json)
grep -q '"sent": 3' <<<"$out" || fail "device send: $out"
out=$(h monitor-events --device-id sender --from-start --max-messages 3 --timeout 30 --output json)
for n in 1 2 3; do
  grep -F '"site":"paris"' <<<"$out" | grep -qF "\"body\":\"{\\\"n\\\":$n}\"" ||
    fail "device send, message $n: $out"
done
must_fail 1 'DeviceNotFound' hub device send nobody --message x --dir "$dir/s"
must_fail 1 'name=value' hub device send sender --message x --props nothing --dir "$dir/s"
must_fail 2 '' hub device send sender --dir "$dir/s"

# health probes, without credentials, on both daemons (the body: the reply's last line)
probe() {
  printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" |
    openssl s_client -quiet -CAfile "$(conn ca_file)" -connect "$1" -servername localhost 2>/dev/null |
    tail -n 1
}
[ "$(probe "localhost:$(conn https_port)" /healthz)" = '{"status":"alive"}' ] || fail "hub /healthz"
[ "$(probe "localhost:$(conn https_port)" /readyz)" = '{"status":"ready"}' ] || fail "hub /readyz"
vault_port=$(conn vault_url | sed 's/.*://')
[ "$(probe "localhost:$vault_port" /readyz)" = '{"status":"ready"}' ] || fail "vault /readyz"

# --output tsv: the table's rows, tab-separated, no header (for cut and awk)
tsv=$(h device list --output tsv)
[ "$(awk -F'\t' '$1 == "sender" { print $2 }' <<<"$tsv")" = enabled ] || fail "device list --output tsv: $tsv"
grep -q 'DEVICE ID' <<<"$tsv" && fail "device list --output tsv printed a header: $tsv"
must_fail 2 '' hub device list --output xml --dir "$dir/s"

# coffre status: both daemons ready, the key Accessible; exit 1 for a directory without a stack
out=$("$coffre" status --dir "$dir/s") || fail "status: $out"
grep -q '^vault  *ready ' <<<"$out" && grep -q '^hub  *ready ' <<<"$out" &&
  grep -q '^customer key .*Accessible' <<<"$out" || fail "status: $out"
[ "$("$coffre" status --dir "$dir/s" --output json | grep -c '"ready": true')" = 2 ] ||
  fail "status --output json"
must_fail 1 'coffre status: .*stack.json' status --dir "$dir/nothing-here"

# --login instead of --dir
login=(--login "$(conn service_connection_string)" --ca-file "$(conn ca_file)" --port "$(conn https_port)")
"$coffre" hub device list "${login[@]}" | grep -q '^d1 ' || fail "--login"
bad=$(conn service_connection_string | sed 's/SharedAccessKey=[^;]*/SharedAccessKey=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=/')
must_fail 1 'IotHubUnauthorizedAccess' hub device list --login "$bad" --ca-file "$(conn ca_file)" \
  --port "$(conn https_port)"

# delete
h device delete d1 | grep -q 'deleted device d1' || fail "delete"
must_fail 1 'coffre hub device show: DeviceNotFound: ' hub device show d1 --dir "$dir/s"
must_fail 1 'coffre hub device delete: DeviceNotFound' hub device delete d1 --dir "$dir/s"
h device list | grep -q '^d1 ' && fail "delete: $(h device list)"

# usage errors exit 2
must_fail 2 'no hub given' hub device list
must_fail 2 'not a policy connection string' hub device list --login 'HostName=localhost'
must_fail 2 '' hub device show --dir "$dir/s"
must_fail 2 '' hub monitor-events --timeout 0 --dir "$dir/s"
echo "coffre hub: ok"
