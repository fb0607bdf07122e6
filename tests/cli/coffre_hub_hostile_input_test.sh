#!/usr/bin/env bash
# Issue 12, through the real protocol against the hub of a local stack (curl over HTTPS):
# - finding 1: requests whose JSON fields have the wrong type, null or huge numbers get 400
#   ArgumentInvalid naming the field, and the hub process answers on (it used to die on the
#   first one: nlohmann's value() threw and nothing caught it);
# - throttling: a source that keeps sending refused credentials gets 429 ThrottlingException
#   with Retry-After, even with a good token, until its budget refills;
# - TLS clients that resume their session on the device ports are served, and the hub lives.
set -euo pipefail
coffre="$1"
source "$(dirname "$0")/lib.sh"

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" \
  --hub-arg=--throttle-failed-auth-burst=5 --hub-arg=--throttle-failed-auth-per-second=0.25 >/dev/null
https="https://localhost:$(conn https_port)"
ca=$(conn ca_file)
hub_pid=$(conn_pid hub)
token=$("$coffre" hub generate-sas-token --dir "$dir/s")
version="api-version=2021-04-12"

# call METHOD PATH BODY [TOKEN]: prints the status, leaves the body in $dir/body and the
# headers in $dir/headers.
call() {
  curl -s --max-time 20 --cacert "$ca" -X "$1" -H "Authorization: ${4-$token}" \
    -H 'Content-Type: application/json' --data-binary "$3" \
    -D "$dir/headers" -o "$dir/body" -w '%{http_code}' "$https$2" || echo "curl-failed-$?"
}
# alive WHAT: coffre-hub still runs (a zombie, dead but not yet reaped, does not count).
alive() {
  local state
  state=$(ps -o stat= -p "$hub_pid" 2>/dev/null || true)
  [ -n "$state" ] && [ "${state:0:1}" != Z ] || fail "coffre-hub (pid $hub_pid) is gone after $*"
}
# refused STATUS PATTERN METHOD PATH BODY: answered STATUS with an IoT Hub error body matching
# PATTERN, and the hub lives.
refused() {
  local want=$1 pattern=$2 status
  shift 2
  status=$(call "$@")
  alive "$*"
  [ "$status" = "$want" ] || fail "$*: status $status, wanted $want: $(cat "$dir/body")"
  grep -q '"Message":"ErrorCode:' "$dir/body" || fail "$*: not an IoT Hub error: $(cat "$dir/body")"
  grep -Eq -- "$pattern" "$dir/body" || fail "$*: no '$pattern' in $(cat "$dir/body")"
}

# The issue's reproductions, then more of the same kind.
dev="/devices/c1?$version"
refused 400 "ArgumentInvalid;field 'status' must be a string" PUT "$dev" '{"status":null}'
refused 400 "ArgumentInvalid;field 'status' must be a string" PUT "$dev" '{"status":5}'
refused 400 "field 'authentication.type' must be a string" PUT "$dev" '{"authentication":{"type":5}}'
refused 400 "field 'vaultToken' must be a string" PUT "/%24coffre/encryption" \
  "{\"keyUri\":\"$(conn vault_url)/keys/hub-cmk\",\"vaultToken\":5}"
refused 400 "field 'deviceId' must be a string" PUT "$dev" '{"deviceId":["c1"]}'
refused 400 "field 'statusReason' must be a string" PUT "$dev" '{"statusReason":{"a":1}}'
refused 400 "field 'authentication' must be an object" PUT "$dev" '{"authentication":"sas"}'
refused 400 "field 'authentication.symmetricKey.primaryKey' must be a string" PUT "$dev" \
  '{"authentication":{"symmetricKey":{"primaryKey":12345678901234567890123}}}'
refused 400 "field 'authentication.x509Thumbprint' must be an object" PUT "$dev" \
  '{"authentication":{"type":"selfSigned","x509Thumbprint":[]}}'
refused 400 "ArgumentInvalid" PUT "$dev" '[{"status":"enabled"}]'
refused 400 "field 'keyUri' must be a string" PUT "/%24coffre/encryption" '{"keyUri":{"a":1}}'
refused 400 "field 'keyEventsSecret' must be a string" PUT "/%24coffre/encryption" '{"keyEventsSecret":null}'
refused 400 "keyCheckIntervalMs must be 50 to 500" PUT "/%24coffre/encryption" '{"keyCheckIntervalMs":1e300}'
refused 400 "vaultGraceSeconds must be 0 to 86400" PUT "/%24coffre/encryption" \
  '{"vaultGraceSeconds":18446744073709551616}'
refused 400 "expiredKey must be inaccessible or continue" PUT "/%24coffre/encryption" '{"expiredKey":null}'
refused 400 "ArgumentInvalid" PUT "/telemetry/consumergroups/%24Default/partitions/0/checkpoint" \
  '{"offset":1e300}'

# Azure's nullable fields are still accepted, and the hub serves as before.
status=$(call PUT "$dev" '{"deviceId":"c1","status":"enabled","statusReason":null,
  "authentication":{"type":"sas","symmetricKey":{"primaryKey":null,"secondaryKey":null},
  "x509Thumbprint":{"primaryThumbprint":null,"secondaryThumbprint":null}}}')
[ "$status" = 200 ] || fail "a device with null keys: $status $(cat "$dir/body")"
grep -q '"deviceId":"c1"' "$dir/body" || fail "create: $(cat "$dir/body")"
[ "$(call GET "/devices/demo-device?$version" '')" = 200 ] || fail "GET after: $(cat "$dir/body")"
alive "the whole sequence"

# TLS clients on the device ports that reconnect offering their saved session (openssl
# s_client -sess_out, then -sess_in). It used to end the hub: the resumption failed the
# handshake (no session id context while a client certificate is asked for), and the server's
# alert to a client already gone raised SIGPIPE. Now they resume.
for port in "$(conn mqtt_port)" "$(conn amqp_port)"; do
  s_client() { timeout 20 openssl s_client -connect "127.0.0.1:$port" -CAfile "$ca" -servername localhost "$@" 2>&1 || true; }
  # The ticket comes after the handshake: stay until it did (a few tries on a loaded machine).
  for _ in 1 2 3 4 5; do
    sleep 0.3 | s_client -sess_out "$dir/session-$port" >/dev/null
    openssl sess_id -in "$dir/session-$port" -noout -text 2>/dev/null | grep -q 'TLS session ticket:' && break
  done
  for i in 1 2 3; do
    out=$(s_client -sess_in "$dir/session-$port" </dev/null)
    alive "a resumed TLS session on port $port"
    grep -q '^Reused, TLSv1.3' <<<"$out" || fail "port $port, resumption $i: $(grep -E '^(New|Reused),' <<<"$out")"
  done
done

# Refused credentials: 5 at once (the burst set above), then 429 for this source, even with the
# right token; one refusal every 4 s after that. (At 1 a second the bucket refilled while the
# seven requests below ran, about 1 s on a loaded machine, and the 429s came and went.)
for i in 1 2 3 4 5; do
  status=$(call GET "/devices/demo-device?$version" '' "SharedAccessSignature sr=localhost&sig=Zm9yZ2Vk&se=9999999999&skn=iothubowner")
  [ "$status" = 401 ] || fail "forged token $i: $status $(cat "$dir/body")"
done
refused 429 "ErrorCode:ThrottlingException;" GET "/devices/demo-device?$version" '' "SharedAccessSignature sr=x&sig=y&se=1&skn=z"
grep -iq '^Retry-After: [0-9]' "$dir/headers" || fail "no Retry-After: $(cat "$dir/headers")"
grep -iq '^iothub-errorcode: ThrottlingException' "$dir/headers" || fail "no iothub-errorcode: $(cat "$dir/headers")"
refused 429 "ThrottlingException" GET "/devices/demo-device?$version" ''
recovered=no
for _ in $(seq 1 100); do
  if [ "$(call GET "/devices/demo-device?$version" '')" = 200 ]; then recovered=yes; break; fi
  sleep 0.1
done
[ "$recovered" = yes ] || fail "the source was not let back in"
alive "throttling"
echo "OK"
