#!/usr/bin/env bash
# End to end: the local stack's vault with its master key sealed by a key on a SoftHSM2 token
# that this test starts in its own temp dir (never the system's token dir). A key created
# through the CLI survives a restart of the vault, which unseals from the token again;
# `coffre vault seal-status` shows the method online and offline; a wrong PIN or the wrong
# method stops the vault with a clear error and no PIN in it.
set -euo pipefail
coffre="$1"
bin=$(dirname "$coffre")
unset COFFRE_VAULT_TOKEN
source "$(dirname "$0")/lib.sh"
# field NAME: the value on the "NAME  value" line of a details table on stdin.
field() { sed -n "s/^$1   *//p"; }
v() { "$coffre" vault "$@" --dir "$dir/s"; }

# The test's own SoftHSM2: a config and token dir under $dir, for this shell and its children.
mkdir -p "$dir/hsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$dir/hsm/tokens" >"$dir/hsm/softhsm2.conf"
export SOFTHSM2_CONF="$dir/hsm/softhsm2.conf"
pin=4821-e2e-user-pin
softhsm2-util --init-token --free --label coffre-e2e --pin "$pin" --so-pin 1357-e2e-so >/dev/null
printf '%s\n' "$pin" >"$dir/pin"
chmod 600 "$dir/pin"

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" --pkcs11-token-label coffre-e2e \
  --pkcs11-pin-file "$dir/pin" >/dev/null
[ ! -e "$dir/s/vault/passphrase" ] || fail "a token-sealed stack made a passphrase file"
grep -q '"kdf": "pkcs11"' "$dir/s/vault/data/master.json" || fail "master.json: $(cat "$dir/s/vault/data/master.json")"

version=$(v key create e2e-key --kty RSA --size 2048 | field VERSION)
[ -n "$version" ] || fail "key create printed no version"

out=$(v seal-status)
[ "$(field METHOD <<<"$out")" = pkcs11 ] || fail "seal-status: $out"
[ "$(field TOKEN <<<"$out")" = coffre-e2e ] || fail "seal-status: $out"
[ "$(field KEY <<<"$out")" = coffre-vault-master ] || fail "seal-status: $out"
[ "$(field MECHANISM <<<"$out")" = CKM_AES_GCM ] || fail "seal-status: $out"
grep -Eq '^UNSEALED +true \(running at https://localhost:[0-9]+\)$' <<<"$out" || fail "seal-status: $out"
lineage=$(field LINEAGE <<<"$out")
grep -Eq '^[0-9a-f]{32}$' <<<"$lineage" || fail "lineage: $out"
v seal-status --output json | grep -q '"unsealed": true' || fail "seal-status json"

# Stopped: master.json alone still tells how it is sealed, and its lineage.
"$coffre" down --dir "$dir/s" >/dev/null
out=$(v seal-status)
[ "$(field METHOD <<<"$out")" = pkcs11 ] || fail "offline seal-status: $out"
[ "$(field LINEAGE <<<"$out")" = "$lineage" ] || fail "offline lineage: $out"
grep -Eq '^UNSEALED +false \(the stack is down' <<<"$out" || fail "offline seal-status: $out"
out=$("$coffre" vault seal-status --vault-dir "$dir/s/vault/data")
[ "$(field TOKEN <<<"$out")" = coffre-e2e ] || fail "seal-status --vault-dir: $out"
grep -Eq '^UNSEALED +unknown \(no vault given' <<<"$out" || fail "seal-status --vault-dir: $out"

# The wrong method: a passphrase for a token-sealed vault.
printf 'a passphrase of some length\n' >"$dir/passphrase"
chmod 600 "$dir/passphrase"
rc=0
err=$("$bin/coffre-vault" --dir "$dir/s/vault/data" --listen 127.0.0.1:0 \
  --tls-cert "$dir/s/tls/server.pem" --tls-key "$dir/s/tls/server-key.pem" \
  --passphrase-file "$dir/passphrase" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "passphrase start: exit $rc: $err"
grep -q "sealed by the key 'coffre-vault-master' on the PKCS#11 token 'coffre-e2e', not by a passphrase" \
  <<<"$err" || fail "wrong method: $err"

# A wrong PIN: the restart fails, says so, and never shows either PIN.
printf '0000-wrong-pin\n' >"$dir/pin"
if "$coffre" up --dir "$dir/s" >"$dir/up.out" 2>&1; then fail "started with a wrong PIN"; fi
grep -q 'CKR_PIN_INCORRECT' "$dir/up.out" "$dir/s/vault/vault.log" || fail "wrong PIN: $(cat "$dir/up.out")"
if grep -q -e 0000-wrong-pin -e "$pin" "$dir/up.out" "$dir/s/vault/vault.log"; then
  fail "a PIN in the output"
fi

# The right PIN: the restarted vault (options from stack.json) unseals from the token, and the
# key is still there.
printf '%s\n' "$pin" >"$dir/pin"
"$coffre" up --dir "$dir/s" >/dev/null
[ "$(v key show e2e-key | field VERSION)" = "$version" ] || fail "key lost: $(v key show e2e-key)"
out=$(v seal-status)
[ "$(field LINEAGE <<<"$out")" = "$lineage" ] || fail "lineage after restart: $out"
echo "coffre vault with a PKCS#11 token: ok"
