#!/usr/bin/env bash
# No secret in any log: a local stack is driven through most of what it does (devices created,
# telemetry sent and read back over HTTPS and AMQP, SAS tokens made and refused, key rotation,
# a key disabled and enabled again, twins, C2D, backup and restore, an erasure), then every key
# and token used or made on the way is looked for in both daemons' logs and the vault's audit log, whole and in the
# encodings a careless line could print it in: none may appear. Both daemons log JSON lines here
# (COFFRE_LOG_FORMAT=json, the environment's form of --log-format): every line must be one object
# with a time, a level, a component and a message.
set -euo pipefail
export COFFRE_LOG_FORMAT=json
coffre="$1"
source "$(dirname "$0")/lib.sh"
h() { "$coffre" hub "$@" --dir "$dir/s"; }
v() { "$coffre" vault "$@" --dir "$dir/s"; }

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
ca=$(conn ca_file)

# What the stack does, with the secrets it involves.
h device create logged >/dev/null
h device send logged --message 'hello {n}' --props k=v --count 5 >/dev/null
device_token=$(h generate-sas-token --device-id logged)
service_token=$(h generate-sas-token)
h monitor-events --device-id logged --from-start --max-messages 5 --timeout 30 >/dev/null
h monitor-events --amqp --device-id logged --from-start --max-messages 5 --timeout 30 >/dev/null
h twin update logged --set tags.site=lab >/dev/null
h c2d send logged --data 'to the device' >/dev/null
v key rotate "$(conn key_name)" >/dev/null
sleep 1
v key disable "$(conn key_name)" >/dev/null
sleep 1.5
v key enable "$(conn key_name)" >/dev/null
sleep 1.5
h backup --file "$dir/hub.cbak" >/dev/null 2>&1
h device erase logged >/dev/null
"$coffre" hub restore --file "$dir/hub.cbak" --dir "$dir/s" >/dev/null 2>&1

# Refused credentials: a device token signed with another key, a service token with a bad
# signature, a vault token that is not one. Their signatures must not be logged either.
forged=$(sed 's/sig=[^&]*/sig=Zm9yZ2VkLXNpZ25hdHVyZS10aGF0LW11c3Qtbm90LWJlLWxvZ2dlZA%3D%3D/' <<<"$device_token")
raw_request() {  # HOST:PORT REQUEST-LINE AUTHORIZATION
  printf '%s HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' \
    "$2" "$3" | openssl s_client -quiet -CAfile "$ca" -connect "$1" -servername localhost \
    >/dev/null 2>&1 || true
}
raw_request "localhost:$(conn https_port)" "POST /devices/logged/messages/events?api-version=2021-04-12" "$forged"
raw_request "localhost:$(conn https_port)" "GET /devices?api-version=2021-04-12" "${service_token}x"
vault_port=$(conn vault_url | sed 's/.*://')
raw_request "localhost:$vault_port" "GET /keys?api-version=7.5" "Bearer not-a-token-but-secret-looking-0123456789"

# Every secret: the stack's tokens and keys, the devices' and policies' keys, the tokens above.
secrets=()
add() { [ -n "$1" ] && secrets+=("$1"); }
add "$(conn vault_token)"
add "$(tr -d '\n' <"$dir/s/hub/vault-token")"
add "$(tr -d '\n' <"$dir/s/hub/key-events-secret")"
add "$(tr -d '\n' <"$dir/s/vault/owner-token")"
add "$(tr -d '\n' <"$dir/s/vault/passphrase")"
add "$(sed -n 's/.*"k": *"\([^"]*\)".*/\1/p' "$dir/s/hub/service.key")"
for cs in "$(conn service_connection_string)" "$(conn device_connection_string)" \
          "$(conn eventhub_connection_string)" "$(h device connection-string demo-device)"; do
  add "$(sed -n 's/.*SharedAccessKey=\([^;]*\).*/\1/p' <<<"$cs")"
done
for token in "$device_token" "$service_token" "$forged"; do
  add "$(sed -n 's/.*sig=\([^&]*\).*/\1/p' <<<"$token")"
done
add "Zm9yZ2VkLXNpZ25hdHVyZS10aGF0LW11c3Qtbm90LWJlLWxvZ2dlZA"
add "not-a-token-but-secret-looking-0123456789"
[ "${#secrets[@]}" -ge 12 ] || fail "only ${#secrets[@]} secrets collected"

logs=("$dir/s/hub/hub.log" "$dir/s/vault/vault.log" "$dir/s/vault/data"/audit.log*)
for f in "${logs[@]}"; do [ -s "$f" ] || fail "no log at $f"; done
for s in "${secrets[@]}"; do
  # As is, percent-decoded (a SAS signature travels encoded), and its first 16 characters.
  decoded=$(printf '%b' "${s//%/\\x}")
  for form in "$s" "$decoded" "${s:0:16}"; do
    if grep -F -q -- "$form" "${logs[@]}"; then
      fail "a secret is in the logs: $(grep -F -n -- "$form" "${logs[@]}" | head -3)"
    fi
  done
done
node -e '
  const fs = require("fs");
  for (const file of process.argv.slice(1)) {
    const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
    lines.forEach((line, i) => {
      let j;
      try { j = JSON.parse(line); } catch (e) { throw new Error(`${file}:${i + 1} is not JSON: ${line}`); }
      for (const field of ["time", "level", "component", "message"]) {
        if (typeof j[field] !== "string") throw new Error(`${file}:${i + 1} lacks ${field}: ${line}`);
      }
      if (!["info", "warning", "error"].includes(j.level)) throw new Error(`${file}:${i + 1}: level ${j.level}`);
    });
  }' "$dir/s/hub/hub.log" "$dir/s/vault/vault.log" || fail "a log line is not a JSON object"
grep -q '"level":"warning","component":"keys"' "$dir/s/hub/hub.log" ||
  fail "the disabled key is not a warning in the hub's log"
echo "no secret in the logs: ${#secrets[@]} secrets, $(cat "${logs[@]}" | wc -l) log lines"
