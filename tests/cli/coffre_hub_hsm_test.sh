#!/usr/bin/env bash
# Issue 18: the hub's secrets on a PKCS#11 token (SoftHSM2, a token of the test's own): the
# service key is made sealed by the token's key, the vault token is sealed with
# `coffre seal-vault-token`, and the hub runs from both with only the sealed files on disk;
# without the PIN, or with a wrong one, it does not start.
set -euo pipefail
coffre="$1"
source "$(dirname "$0")/lib.sh"
command -v softhsm2-util >/dev/null || { echo "SKIP: softhsm2 is not installed"; exit 77; }
export SOFTHSM2_CONF="$dir/softhsm2.conf"
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label hub-token --pin 2468-user --so-pin 1357-so >/dev/null
printf '2468-user\n' >"$dir/pin"
chmod 600 "$dir/pin"
s="$dir/s"
hsm=(--hub-arg=--pkcs11-pin-file="$dir/pin" --hub-arg=--pkcs11-token-label=hub-token)
base=$(stack_port_base)
"$coffre" up --dir "$s" --ports-from "$base" "${hsm[@]}" >/dev/null
grep -q '"kdf":"pkcs11"' "$s/hub/service.key" || fail "the service key is not sealed: $(cat "$s/hub/service.key")"
grep -q '"k":' "$s/hub/service.key" && fail "a clear key in the service key file"

# The vault token sealed, the clear one replaced by junk below: the hub must use the sealed one.
"$coffre" seal-vault-token --in "$s/hub/vault-token" --out "$dir/vault-token.sealed" \
  --pkcs11-pin-file "$dir/pin" --pkcs11-token-label hub-token | grep -q "sealed the vault token"
token=$(cat "$s/hub/vault-token")
grep -qF "$token" "$dir/vault-token.sealed" && fail "the sealed file holds the token in the clear"
must_fail 1 "exists: seal into a new file" seal-vault-token --in "$s/hub/vault-token" \
  --out "$dir/vault-token.sealed" --pkcs11-pin-file "$dir/pin" --pkcs11-token-label hub-token
"$coffre" down --dir "$s" >/dev/null
# vault_token_file seeds a new hub (an existing one keeps the settings it stored): a new hub's
# data, under the same sealed service key.
rm -rf "$s/hub/data"
printf 'not-the-token\n' >"$s/hub/vault-token"
"$coffre" up --dir "$s" --ports-from "$base" "${hsm[@]}" \
  --hub-arg=--vault-token-file="$dir/vault-token.sealed" >/dev/null
"$coffre" hub encryption show --dir "$s" --output json | grep -q '"state": "Accessible"' ||
  fail "the hub is not under its key with the sealed token"
"$coffre" hub device send demo-device --message sealed --dir "$s" >/dev/null
"$coffre" down --dir "$s" >/dev/null

# Without the PIN the hub does not start, and says why; a wrong PIN is refused too.
must_fail 1 "sealed by a PKCS#11 token: give its PIN file" up --dir "$s" --ports-from "$base"
printf '0000-wrong\n' >"$dir/wrong-pin"
chmod 600 "$dir/wrong-pin"
must_fail 1 "PIN" up --dir "$s" --ports-from "$base" --hub-arg=--pkcs11-pin-file="$dir/wrong-pin" \
  --hub-arg=--vault-token-file="$dir/vault-token.sealed"
echo "hub on a PKCS#11 token: service key and vault token sealed, no start without the PIN"
