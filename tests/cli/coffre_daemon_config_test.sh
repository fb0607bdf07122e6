#!/usr/bin/env bash
# Issue 18: the daemons run from configuration files (the local stack writes them), checked by
# --check-config with errors that name file, line and field; secret files others can read are
# refused and systemd credentials are taken; a renewed TLS certificate is served without a
# restart (the hub on SIGHUP, the vault by watching its files), a bad one refused.
set -euo pipefail
coffre="$1"
source "$(dirname "$0")/lib.sh"
bin=$(dirname "$coffre")
s="$dir/s"

# The hub looks at its TLS files only on SIGHUP here; the vault keeps its default watch.
"$coffre" up --dir "$s" --ports-from "$(stack_port_base)" --hub-arg=--tls-watch-seconds=0 >/dev/null
grep -q '^vault_key_uri = ' "$s/hub/hub.toml" || fail "the stack's hub.toml lacks its key"
grep -q '^purge_protection = true$' "$s/vault/vault.toml" || fail "the stack's vault.toml lacks a switch"

out=$("$bin/coffre-hub" --config "$s/hub/hub.toml" --check-config) || fail "hub check: $out"
grep -q "^coffre-hub: configuration OK$" <<<"$out" || fail "hub check: $out"
grep -q "ok       TLS certificate $s/tls/server.pem" <<<"$out" || fail "hub check: $out"
out=$("$bin/coffre-vault" --config "$s/vault/vault.toml" --check-config) || fail "vault check: $out"
grep -q "^coffre-vault: configuration OK$" <<<"$out" || fail "vault check: $out"

# Every flag of both daemons is documented, field by field.
docs="$(dirname "$0")/../../docs/CONFIGURATION.md"
for daemon in coffre-hub coffre-vault; do
  for flag in $("$bin/$daemon" --help | sed -n 's/^  \(--[a-z0-9-]*\).*/\1/p'); do
    [ "$flag" = --help ] || grep -q -- "\`$flag\`" "$docs" || fail "$daemon $flag is not in docs/CONFIGURATION.md"
  done
done

# must_refuse_config CODE PATTERN DAEMON ARGS...
must_refuse_config() {
  local code=$1 pattern=$2 daemon=$3 rc=0 err
  shift 3
  err=$("$bin/$daemon" "$@" --check-config 2>&1) || rc=$?
  [ "$rc" = "$code" ] || fail "$daemon $*: exit $rc, wanted $code: $err"
  grep -Eq -- "$pattern" <<<"$err" || fail "$daemon $*: no '$pattern' in: $err"
}
cp "$s/hub/hub.toml" "$dir/bad.toml"
echo 'key_check_interval_ms = 5000' >>"$dir/bad.toml"
line=$(wc -l <"$dir/bad.toml")
must_refuse_config 2 "^coffre-hub: $dir/bad.toml:$line: key_check_interval_ms: Value 5000 not in range 50 to 500$" \
  coffre-hub --config "$dir/bad.toml"
printf '[mqtt]\nlisten = true\n' >"$dir/bad.toml"
must_refuse_config 2 "bad.toml:2: mqtt.listen: expects a string" coffre-hub --config "$dir/bad.toml"
printf 'listen = "127.0.0.1:1"\n[audit]\nkeep_files = 0\n' >"$dir/bad.toml"
must_refuse_config 2 "bad.toml:3: audit.keep_files: Value 0 not in range" coffre-vault --config "$dir/bad.toml"
must_refuse_config 2 "^coffre-hub: .*none.toml" coffre-hub --config "$dir/none.toml"

# Flags, then COFFRE_HUB_* variables, override the file.
out=$(COFFRE_HUB_HOST_NAME=env.example "$bin/coffre-hub" --config "$s/hub/hub.toml" --check-config \
  --vault-key-uri https://localhost:1/keys/flag) || fail "override: $out"
grep -q "customer-managed key https://localhost:1/keys/flag " <<<"$out" || fail "flag over file: $out"

# A secret file others can read is refused, naming it; a credential is read from systemd's dir.
chmod 644 "$s/hub/vault-token"
must_refuse_config 2 "^coffre-hub: the vault token file $s/hub/vault-token can be read or changed by others \(mode 0644\): chmod 600 it$" \
  coffre-hub --config "$s/hub/hub.toml"
chmod 600 "$s/hub/vault-token"
mkdir -m 700 "$dir/credentials"
install -m 400 "$s/hub/vault-token" "$dir/credentials/vault-token"
out=$(CREDENTIALS_DIRECTORY="$dir/credentials" COFFRE_HUB_VAULT_TOKEN_FILE=credential:vault-token \
  "$bin/coffre-hub" --config "$s/hub/hub.toml" --check-config) || fail "credential: $out"
grep -q "ok       the vault token file $dir/credentials/vault-token$" <<<"$out" || fail "credential: $out"
must_refuse_config 2 "CREDENTIALS_DIRECTORY is not set" coffre-hub --config "$s/hub/hub.toml" \
  --vault-token-file credential:vault-token

# A renewed certificate from the stack's CA, with another subject.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=renewed \
  -keyout "$dir/new-key.pem" -out "$dir/new.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext"
openssl x509 -req -in "$dir/new.csr" -CA "$s/tls/ca.pem" -CAkey "$s/tls/ca-key.pem" -set_serial 7 \
  -days 30 -extfile "$dir/ext" -out "$dir/new.pem" 2>/dev/null
# subject PORT: the subject a new TLS connection to the port is shown, verified against the CA.
subject() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$s/tls/ca.pem" \
    -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null || true
}
# wait_subject PORT PATTERN: polls (at most 15 s) until the port shows it.
wait_subject() {
  for _ in $(seq 150); do
    grep -q "$2" <<<"$(subject "$1")" && return 0
    sleep 0.1
  done
  fail "port $1 never showed '$2' (shows: $(subject "$1"))"
}
# wait_log FILE TEXT: polls (at most 15 s) until the log has the line.
wait_log() {
  for _ in $(seq 150); do
    grep -qF "$2" "$1" && return 0
    sleep 0.1
  done
  fail "no '$2' in $1: $(tail -5 "$1")"
}
https=$(conn https_port)
mqtt=$(conn mqtt_port)
vault=$(conn vault_url | sed 's/.*://')
grep -q "Coffre local stack" <<<"$(subject "$https")" || fail "hub before: $(subject "$https")"
cp "$dir/new.pem" "$s/tls/server.pem"
cp "$dir/new-key.pem" "$s/tls/server-key.pem"
# Without SIGHUP the hub keeps its pair (its watch is off); the vault's watch takes the new one.
wait_subject "$vault" "CN = renewed"
# The line is written just after the new pair is in use: wait for it as for the pair.
wait_log "$s/vault/vault.log" "tls: certificate reloaded from $s/tls/server.pem"
grep -q "Coffre local stack" <<<"$(subject "$https")" || fail "the hub reloaded without SIGHUP"
kill -HUP "$(conn_pid hub)"
wait_subject "$https" "CN = renewed"
wait_subject "$mqtt" "CN = renewed"
wait_log "$s/hub/hub.log" "tls: SIGHUP: certificate reloaded (/CN=renewed)"
"$coffre" status --dir "$s" | grep -q "^hub TLS .*/CN=renewed, valid until " ||
  fail "status: $("$coffre" status --dir "$s")"
"$coffre" status --dir "$s" --output tsv | grep -q $'^hub\tready\t' ||
  fail "status tsv: $("$coffre" status --dir "$s" --output tsv)"

# A bad pair (the new certificate with another key): refused, the renewed one stays.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$s/tls/server-key.pem" 2>/dev/null
kill -HUP "$(conn_pid hub)"
wait_log "$s/hub/hub.log" "SIGHUP: certificate not reloaded"
grep -q "tls: SIGHUP: certificate not reloaded, the one in use stays: .*is not the key of" \
  "$s/hub/hub.log" || fail "bad pair: $(tail -3 "$s/hub/hub.log")"
grep -q "CN = renewed" <<<"$(subject "$https")" || fail "the bad pair replaced the good one"
"$coffre" hub device send demo-device --message after-renewal --dir "$s" >/dev/null ||
  fail "the hub does not serve after the refused pair"
echo "daemon config: files, checks, secrets, credentials, and certificates renewed live"
