#!/usr/bin/env bash
# Issue 18: the Debian package. CPack builds it; its contents, control files and maintainer
# scripts are checked; dpkg installs it into a temporary root (the real postinst runs there,
# DPKG_ROOT set); both daemons start from the installed binaries, units and configuration files
# with systemd-style credentials ($CREDENTIALS_DIRECTORY, as LoadCredential= makes it; no
# systemd needed); an Azure IoT device SDK sends through them; a SIGHUP with a new certificate
# is picked up by the next TLS connection.
#   deb_install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg cpack openssl node; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# --- The package --------------------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$dir/pkg" >"$dir/cpack.log" 2>&1) ||
  fail "cpack: $(tail -20 "$dir/cpack.log")"
deb=$(ls "$dir"/pkg/coffre_*_*.deb)
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/coffre ./usr/bin/coffre-hub ./usr/bin/coffre-vault \
  ./usr/lib/systemd/system/coffre-hub.service ./usr/lib/systemd/system/coffre-vault.service \
  ./etc/coffre/hub.toml ./etc/coffre/vault.toml ./usr/share/doc/coffre/OPERATIONS.md \
  ./usr/share/doc/coffre/CONFIGURATION.md; do
  grep -q " $path$" <<<"$contents" || fail "$path is not in the package: $contents"
done
grep -q "^-rwxr-xr-x root/root .* ./usr/bin/coffre-hub$" <<<"$contents" || fail "coffre-hub's mode"
info=$(dpkg-deb --info "$deb")
grep -Eq "^ Depends: .*libssl3.*" <<<"$info" || fail "no shared-library Depends: $info"
grep -q "^ Depends: .*passwd" <<<"$info" || fail "postinst's tools not in Depends"
dpkg-deb --control "$deb" "$dir/control"
[ "$(cat "$dir/control/conffiles")" = $'/etc/coffre/hub.toml\n/etc/coffre/vault.toml' ] ||
  fail "conffiles: $(cat "$dir/control/conffiles")"
for script in postinst prerm postrm; do
  [ -x "$dir/control/$script" ] || fail "$script is missing or not executable"
  sh -n "$dir/control/$script" || fail "$script does not parse"
done
# The units' sandbox, as the issue asks.
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/coffre-hub.service >"$dir/hub.service"
for line in User=coffre NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
  CapabilityBoundingSet=CAP_NET_BIND_SERVICE AmbientCapabilities=CAP_NET_BIND_SERVICE \
  "ExecReload=/bin/kill -HUP \$MAINPID" "LoadCredential=vault-token:/etc/coffre/secrets/hub-vault-token"; do
  grep -qxF "$line" "$dir/hub.service" || fail "coffre-hub.service lacks $line"
done

# --- dpkg installs it into a temporary root -------------------------------------------------
root="$dir/root"
mkdir -p "$root/etc" "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/usr/sbin"
touch "$root/var/lib/dpkg/status"
grep -E '^(root|daemon|bin|sys|nogroup):' /etc/group >"$root/etc/group"
grep -E '^(root|daemon|bin|sys):' /etc/passwd >"$root/etc/passwd"
grep -E '^(root|daemon|bin|sys):' /etc/shadow >"$root/etc/shadow" 2>/dev/null || touch "$root/etc/shadow"
grep -E '^(root|daemon|bin|sys|nogroup):' /etc/gshadow >"$root/etc/gshadow" 2>/dev/null || touch "$root/etc/gshadow"
dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root \
  --log=/dev/null -i "$deb" >"$dir/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$dir/dpkg.log")"
grep -q "^coffre:x:[0-9]*:[0-9]*:Coffre IoT hub and vault:/var/lib/coffre:/usr/sbin/nologin$" \
  "$root/etc/passwd" || fail "postinst made no coffre user: $(cat "$root/etc/passwd")"
grep -q "^coffre:" "$root/etc/group" || fail "postinst made no coffre group"
[ "$(stat -c %a "$root/etc/coffre/secrets")" = 700 ] || fail "secrets directory mode"
grep -q "^Status: install ok installed$" <(sed -n '/^Package: coffre$/,/^$/p' "$root/var/lib/dpkg/status") ||
  fail "dpkg does not list coffre as installed"
grep -q "systemctl enable --now coffre-vault coffre-hub" "$dir/dpkg.log" || fail "no first-install note"

# --- Both daemons from the installed files, as their units start them -----------------------
# The units' paths, moved into the temporary root; ports on loopback, chosen free.
source "$src/tests/cli/ports.sh"  # free_port
vault_port=$(free_port); mqtt_port=$(free_port); https_port=$(free_port); amqp_port=$(free_port)
for f in hub vault; do
  sed -e "s|/var/lib/coffre|$root/var/lib/coffre|g; s|/etc/coffre|$root/etc/coffre|g" \
    -e "s|localhost:8443|localhost:$vault_port|g; s|127.0.0.1:8443|127.0.0.1:$vault_port|" \
    -e "s|0.0.0.0:8883|127.0.0.1:$mqtt_port|; s|0.0.0.0:443|127.0.0.1:$https_port|" \
    -e "s|0.0.0.0:5671|127.0.0.1:$amqp_port|; s|^watch_seconds = 2|watch_seconds = 0|" \
    "$root/etc/coffre/$f.toml" >"$dir/$f.toml"
  mkdir -p -m 700 "$root/var/lib/coffre/$f"  # the unit's StateDirectory=
done
# The certificates an operator would bring: a CA and a server certificate for localhost.
tls="$root/etc/coffre/tls"
issue() {  # issue CN: a new server certificate and key for localhost, signed by the test CA
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$dir/key.pem" -out "$dir/req.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir/ext"
  openssl x509 -req -in "$dir/req.csr" -CA "$tls/ca.pem" -CAkey "$dir/ca-key.pem" -set_serial "$RANDOM" \
    -days 30 -extfile "$dir/ext" -out "$dir/cert.pem" 2>/dev/null
  install -m 0644 "$dir/cert.pem" "$tls/server.pem"
  install -m 0640 "$dir/key.pem" "$tls/server-key.pem"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=test operator CA" \
  -keyout "$dir/ca-key.pem" -out "$tls/ca.pem" -days 30 2>/dev/null
issue installed
# Secrets where the units' LoadCredential= read them, and the directory systemd would make.
head -c 32 /dev/urandom | base64 >"$root/etc/coffre/secrets/vault-passphrase"
chmod 600 "$root/etc/coffre/secrets/vault-passphrase"
# credentials UNIT: $CREDENTIALS_DIRECTORY for UNIT, made from its LoadCredential= lines.
credentials() {
  local unit="$1" out="$dir/credentials-$1"
  rm -rf "$out"; mkdir -m 700 "$out"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/lib/systemd/system/$unit.service" |
    sed -n 's/^LoadCredential=\([^:]*\):\(.*\)$/\1 \2/p' | while read -r name path; do
      install -m 0400 "$root$path" "$out/$name"
    done
  echo "$out"
}
# ExecStart= of UNIT with the root's paths: the command the unit runs.
exec_start() {
  dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/lib/systemd/system/$1.service" |
    sed -n "s|^ExecStart=/usr/bin/\([a-z-]*\) --config /etc/coffre/\(.*\)$|$root/usr/bin/\1 --config $dir/\2|p"
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls the command every 0.1 s.
wait_for() {
  local tries=$(($1 * 10)) what=$2
  shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what within ${tries}0 ms"
}

vault_creds=$(credentials coffre-vault)
read -r -a vault_cmd <<<"$(exec_start coffre-vault)"
[ "${vault_cmd[0]}" = "$root/usr/bin/coffre-vault" ] || fail "coffre-vault.service ExecStart: ${vault_cmd[*]}"
CREDENTIALS_DIRECTORY="$vault_creds" "${vault_cmd[@]}" --check-config >"$dir/vault-check.log" ||
  fail "vault --check-config: $(cat "$dir/vault-check.log")"
CREDENTIALS_DIRECTORY="$vault_creds" "${vault_cmd[@]}" >"$dir/vault.log" 2>&1 &
pids+=($!)
wait_for 30 "the vault's owner token" test -s "$root/var/lib/coffre/vault/owner-token"

# The operator's set-up, with the installed CLI: the customer key and the hub's principal.
coffre="$root/usr/bin/coffre"
v=(--vault-url "https://localhost:$vault_port" --ca-file "$tls/ca.pem" --token-file "$root/var/lib/coffre/vault/owner-token")
"$coffre" vault key create hub-cmk --kty RSA --ops wrapKey unwrapKey "${v[@]}" >/dev/null
"$coffre" vault access set hub --permissions get wrapKey unwrapKey --keys hub-cmk --output json "${v[@]}" |
  node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0)).token + "\n")' \
    >"$root/etc/coffre/secrets/hub-vault-token"
chmod 600 "$root/etc/coffre/secrets/hub-vault-token"

hub_creds=$(credentials coffre-hub)
[ -s "$hub_creds/vault-token" ] || fail "no vault-token credential for the hub"
read -r -a hub_cmd <<<"$(exec_start coffre-hub)"
CREDENTIALS_DIRECTORY="$hub_creds" "${hub_cmd[@]}" --check-config >"$dir/hub-check.log" ||
  fail "hub --check-config: $(cat "$dir/hub-check.log")"
grep -q "ok       the vault token file $hub_creds/vault-token$" "$dir/hub-check.log" ||
  fail "the hub's token is not its credential: $(cat "$dir/hub-check.log")"
CREDENTIALS_DIRECTORY="$hub_creds" COFFRE_HUB_BOOTSTRAP_DEVICE=packaged-device \
  "${hub_cmd[@]}" >"$dir/hub.log" 2>&1 &
hub_pid=$!
pids+=("$hub_pid")
bootstrap="$root/var/lib/coffre/hub/data/bootstrap"
wait_for 60 "the hub's bootstrap files" test -s "$bootstrap/eventhub.connection-string"
# The start line comes after the bootstrap files: wait for it too (reading it once raced).
wait_for 30 "the hub's start line naming the vault's key" \
  grep -q "customer key https://localhost:$vault_port/keys/hub-cmk/" "$dir/hub.log"

# --- An SDK device sends through them -------------------------------------------------------
device_cs="$(cat "$bootstrap/packaged-device.connection-string");GatewayHostName=localhost:$mqtt_port"
NODE_PATH="$src/tests/compat/node_modules" node "$src/tests/packaging/send_device.js" \
  "$device_cs" "$tls/ca.pem" 5 || fail "the SDK device could not send"
owner=$(cat "$bootstrap/iothubowner.connection-string")
events=$("$coffre" hub monitor-events --login "$owner" --ca-file "$tls/ca.pem" --port "$https_port" \
  --device-id packaged-device --from-start --timeout 5 --output json)
[ "$(grep -c '"deviceId":"packaged-device"' <<<"$events")" = 5 ] || fail "monitor-events: $events"

# --- SIGHUP with a renewed certificate -------------------------------------------------------
subject() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$tls/ca.pem" \
    -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null || true
}
grep -q "CN = installed" <<<"$(subject "$https_port")" || fail "before: $(subject "$https_port")"
issue renewed
# watch_seconds = 0 in this test: only the signal reloads.
grep -q "CN = installed" <<<"$(subject "$mqtt_port")" || fail "reloaded without SIGHUP"
kill -HUP "$hub_pid"
renewed() { grep -q "CN = renewed" <<<"$(subject "$1")"; }
wait_for 15 "the renewed certificate on HTTPS" renewed "$https_port"
renewed "$mqtt_port" || fail "MQTT still shows: $(subject "$mqtt_port")"
renewed "$amqp_port" || fail "AMQP still shows: $(subject "$amqp_port")"
NODE_PATH="$src/tests/compat/node_modules" node "$src/tests/packaging/send_device.js" \
  "$device_cs" "$tls/ca.pem" 1 || fail "the SDK device could not send after the renewal"
echo "deb: built, checked, installed into a temporary root; daemons from its units and config" \
  "with credentials served an SDK device; SIGHUP took a renewed certificate"
