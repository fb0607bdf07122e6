#!/usr/bin/env bash
# Black-box check of `coffre vault key ...` and `coffre vault access ...` against the vault of
# a local stack: every command, table and JSON output, exit codes 1 (vault error) and 2 (usage).
set -euo pipefail
coffre="$1"
unset COFFRE_VAULT_TOKEN
source "$(dirname "$0")/lib.sh"
vault_pids=()  # vaults this script starts itself (a restore into a second vault)
cleanup_vaults() {
  for pid in "${vault_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${vault_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  cleanup
}
trap cleanup_vaults EXIT
# `coffre vault ARGS` against the stack, as its owner.
v() { "$coffre" vault "$@" --dir "$dir/s"; }
# field NAME: the value on the "NAME  value" line of a details table on stdin.
field() { sed -n "s/^$1  *//p"; }

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
iso='20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z'

# create, show, list
out=$(v key create k1 --kty RSA --size 2048 --ops wrapKey,unwrapKey)
[ "$(field KTY <<<"$out")" = RSA ] || fail "create: $out"
[ "$(field SIZE <<<"$out")" = 2048 ] || fail "create: $out"
[ "$(field OPERATIONS <<<"$out")" = wrapKey,unwrapKey ] || fail "create: $out"
first=$(field VERSION <<<"$out")
out=$(v key show k1)
[ "$(field VERSION <<<"$out")" = "$first" ] || fail "show: $out"
[ "$(field ENABLED <<<"$out")" = true ] || fail "show: $out"
out=$(v key list)
grep -Eq '^NAME +VERSION +KTY +SIZE +ENABLED +UPDATED$' <<<"$out" || fail "list header: $out"
grep -Eq "^k1 +$first +RSA +2048 +true +$iso\$" <<<"$out" || fail "list: $out"
grep -Eq "^hub-cmk +[0-9a-f]+ +RSA +${COFFRE_UP_KEY_SIZE:-3072} +true +$iso\$" <<<"$out" || fail "list: $out"
v key create o1 --kty oct-HSM --disabled | grep -Eq '^ENABLED +false$'

# rotate, versions, disable/enable (latest and one version)
second=$(v key rotate k1 | field VERSION)
[ "$second" != "$first" ] || fail "rotate kept version $first"
[ "$(v key versions k1 | tail -n +2 | wc -l)" = 2 ] || fail "versions: $(v key versions k1)"
[ "$(v key versions k1 --output json | json_count)" = 2 ] || fail "versions json"
v key disable k1 >/dev/null
v key show k1 --output json | grep -q '"enabled": false' || fail "disable: $(v key show k1)"
v key enable k1 >/dev/null
v key show k1 --output json | grep -q '"enabled": true' || fail "enable: $(v key show k1)"
v key disable k1 --version "$first" >/dev/null
v key versions k1 | grep -Eq "^$first +false " || fail "disable --version: $(v key versions k1)"
[ "$(v key show k1 | field ENABLED)" = true ] || fail "disabling $first changed the latest"
[ "$(v key show k1 --version "$first" | field ENABLED)" = false ] || fail "show --version"

# lists longer than a page (25) follow nextLink
for i in $(seq -w 1 26); do v key create "p$i" --kty oct-HSM --output json >/dev/null; done
[ "$(v key list | grep -c '^p[0-9]')" = 26 ] || fail "list across pages: $(v key list)"
[ "$(v key list --output json | json_count)" = 29 ] || fail "list json across pages"

# delete, list-deleted, recover; purge is refused (purge protection)
out=$(v key delete k1)
grep -Eq "^RECOVERY ID +https://localhost:[0-9]+/deletedkeys/k1$" <<<"$out" || fail "delete: $out"
must_fail 1 KeyNotFound vault key show k1 --dir "$dir/s"
v key list-deleted | grep -Eq "^k1 +$iso +$iso +true$" || fail "list-deleted: $(v key list-deleted)"
v key recover k1 | grep -Eq "^VERSION +$second$" || fail "recover"
[ "$(v key show k1 | field VERSION)" = "$second" ] || fail "show after recover"
v key delete k1 >/dev/null
must_fail 1 'coffre vault key purge: .*Forbidden' vault key purge k1 --dir "$dir/s"

# start_vault NAME PASSPHRASE_FILE: a standalone coffre-vault in $dir/NAME (with the stack's
# TLS files) on a free port; a master.json already in $dir/NAME/data is opened, not replaced.
# Sets vault_args to reach it as its owner.
start_vault() {
  local name=$1 passphrase=$2 port i
  port=$(free_port)
  mkdir -p -m 700 "$dir/$name/data"
  "$(dirname "$coffre")/coffre-vault" --dir "$dir/$name/data" --listen "127.0.0.1:$port" \
      --tls-cert "$dir/s/tls/server.pem" --tls-key "$dir/s/tls/server-key.pem" \
      --passphrase-file "$passphrase" --owner-token-file "$dir/$name/owner-token" \
      >"$dir/$name/log" 2>&1 &
  vault_pids+=($!)
  for i in $(seq 1 300); do
    grep -q listening "$dir/$name/log" && break
    sleep 0.1
  done
  grep -q listening "$dir/$name/log" || fail "vault $name did not start: $(cat "$dir/$name/log")"
  vault_args=(--vault-url "https://localhost:$port" --ca-file "$dir/s/tls/ca.pem"
              --token-file "$dir/$name/owner-token")
}

# key backup and restore: the file is private; the stack refuses it while the name is live or
# deleted; a twin vault (a copy of the stack's sealed master key, same passphrase) restores every
# version; a damaged file and a vault with another master key are refused
v key create b1 --kty oct-HSM >/dev/null
b1v2=$(v key rotate b1 | field VERSION)
v key backup b1 --file "$dir/b1.backup" | grep -q '^backed up key b1 ' || fail "backup"
[ "$(stat -c %a "$dir/b1.backup")" = 600 ] || fail "backup mode $(stat -c %a "$dir/b1.backup")"
must_fail 1 'exists' vault key backup b1 --file "$dir/b1.backup" --dir "$dir/s"
must_fail 1 'restore: .*Conflict' vault key restore --file "$dir/b1.backup" --dir "$dir/s"
v key delete b1 >/dev/null
must_fail 1 'Conflict/ObjectIsDeletedButRecoverable' vault key restore --file "$dir/b1.backup" --dir "$dir/s"
mkdir -p -m 700 "$dir/twin/data"
cp "$dir/s/vault/data/master.json" "$dir/twin/data/"
start_vault twin "$dir/s/vault/passphrase"
twin=("${vault_args[@]}")
out=$("$coffre" vault key restore --file "$dir/b1.backup" "${twin[@]}")
[ "$(field VERSION <<<"$out")" = "$b1v2" ] || fail "restore: $out"
[ "$("$coffre" vault key versions b1 "${twin[@]}" --output json | json_count)" = 2 ] || fail "restored versions"
head -c 60 "$dir/b1.backup" >"$dir/b1.cut"
must_fail 1 'BadParameter' vault key restore --file "$dir/b1.cut" "${twin[@]}"
node -e 'const fs=require("fs");const b=fs.readFileSync(process.argv[1]);b[b.length-5]^=1;fs.writeFileSync(process.argv[2],b)' \
  "$dir/b1.backup" "$dir/b1.flipped"
must_fail 1 'BadParameter.*integrity' vault key restore --file "$dir/b1.flipped" "${twin[@]}"
head -c 32 /dev/urandom | base64 >"$dir/other-passphrase"
chmod 600 "$dir/other-passphrase"
start_vault other "$dir/other-passphrase"
must_fail 1 'BadParameter.*different key vault' vault key restore --file "$dir/b1.backup" "${vault_args[@]}"
must_fail 2 '' vault key backup b1 --dir "$dir/s"
must_fail 2 '' vault key restore --file "$dir/missing.backup" --dir "$dir/s"

# access: set (prints a token on creation), list, show, the token works, remove
out=$(v access set app1 --permissions get,wrapKey,unwrapKey 2>/dev/null)
token=$(field TOKEN <<<"$out")
[ -n "$token" ] || fail "access set printed no token: $out"
v access list | grep -Eq '^app1 +false +get,unwrapKey,wrapKey +all$' || fail "access list: $(v access list)"
v access show app1 --output json | grep -q '"name": "app1"' || fail "access show"
[ -z "$(v access set app1 --permissions get 2>/dev/null | field TOKEN)" ] || fail "update issued a token"
[ "$(v access show app1 | field PERMISSIONS)" = get ] || fail "access set did not replace"
token=$(v access set app1 --permissions get,list --rotate-token 2>/dev/null | field TOKEN)
[ -n "$token" ] || fail "--rotate-token printed no token"
printf '%s\n' "$token" >"$dir/app1-token"
url=$(sed -n 's/.*"vault_url": "\(.*\)".*/\1/p' "$dir/s/connection.json")
as_app1=(--vault-url "$url" --ca-file "$dir/s/tls/ca.pem")
"$coffre" vault key show hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token" | grep -q "^SIZE  *${COFFRE_UP_KEY_SIZE:-3072}\$"
COFFRE_VAULT_TOKEN="$token" "$coffre" vault key list "${as_app1[@]}" | grep -q '^hub-cmk '
must_fail 1 'Forbidden' vault key rotate hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token"

# Issue 12, finding 7: `coffre up` scopes the hub's principal to its key, which allows only
# wrapKey and unwrapKey. The owner wraps under app-cmk; the hub's own token cannot unwrap it.
v access list | grep -Eq '^hub +false +get,unwrapKey,wrapKey +hub-cmk$' || fail "hub scope: $(v access list)"
[ "$(v access show hub | field KEYS)" = hub-cmk ] || fail "access show hub: $(v access show hub)"
[ "$(v key show hub-cmk | field OPERATIONS)" = wrapKey,unwrapKey ] || fail "hub-cmk ops: $(v key show hub-cmk)"
v key create app-cmk --kty RSA --size 2048 >/dev/null
owner=$(cat "$dir/s/vault/owner-token")
hub=$(cat "$dir/s/hub/vault-token")
curl_vault() {  # TOKEN METHOD PATH [BODY]: prints the body, then the status on its own line
  curl -s --cacert "$dir/s/tls/ca.pem" -X "$2" -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/json' ${4:+-d "$4"} -w '\n%{http_code}\n' "$url$3?api-version=7.5"
}
wrapped=$(curl_vault "$owner" POST /keys/app-cmk/wrapkey \
  '{"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}')
[ "$(tail -1 <<<"$wrapped")" = 200 ] || fail "owner wrap: $wrapped"
kid=$(head -1 <<<"$wrapped" | sed -n 's/.*"kid":"\([^"]*\)".*/\1/p')
value=$(head -1 <<<"$wrapped" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p')
out=$(curl_vault "$hub" POST "${kid#"$url"}/unwrapkey" "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$value\"}")
[ "$(tail -1 <<<"$out")" = 403 ] || fail "the hub's token unwrapped under app-cmk: $out"
grep -q '"code":"ForbiddenByRbac"' <<<"$out" || fail "scope refusal: $out"
out=$(curl_vault "$hub" GET /keys)
[ "$(tail -1 <<<"$out")" = 403 ] || fail "the hub's token listed the keys: $out"
out=$(curl_vault "$hub" GET /keys/HUB-CMK/)
[ "$(tail -1 <<<"$out")" = 200 ] || fail "the hub's token on its own key: $out"
# --keys on `access set`, and a set without it widens the grant again.
[ "$(v access set app1 --permissions get --keys app-cmk,K1 | field KEYS)" = app-cmk,k1 ] ||
  fail "access set --keys: $(v access show app1)"
must_fail 1 'Forbidden.*ForbiddenByRbac' vault key show hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token"
"$coffre" vault key show APP-CMK "${as_app1[@]}" --token-file "$dir/app1-token" | grep -q '^SIZE  *2048$'
must_fail 1 'BadParameter' vault access set app1 --permissions get --keys 'a/b' --dir "$dir/s"
[ "$(v access set app1 --permissions get,list | field KEYS)" = all ] || fail "access set without --keys"
"$coffre" vault key show hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token" | grep -q "^SIZE  *${COFFRE_UP_KEY_SIZE:-3072}\$"

# Issue 12, finding 9: key names are case-insensitive; the kid keeps the name as created.
v key create Case-Key --kty oct-HSM >/dev/null
[ "$(v key show CASE-KEY | field NAME)" = Case-Key ] || fail "case-insensitive show: $(v key show CASE-KEY)"
must_fail 1 'Conflict.*KeyNameConflict' vault key create case-key --kty oct-HSM --dir "$dir/s"
[ "$(v key list | grep -ci '^case-key ')" = 1 ] || fail "two keys by case: $(v key list)"

# seal-status: a passphrase vault, running; only the owner may ask
out=$(v seal-status)
[ "$(field METHOD <<<"$out")" = "passphrase (argon2id)" ] || fail "seal-status: $out"
grep -Eq '^UNSEALED +true \(running at https://localhost:[0-9]+\)$' <<<"$out" || fail "seal-status: $out"
grep -Eq '^LINEAGE +[0-9a-f]{32}$' <<<"$out" || fail "seal-status: $out"
must_fail 1 'Forbidden' vault seal-status "${as_app1[@]}" --token-file "$dir/app1-token"
v access remove app1 | grep -q 'removed principal app1'
v access list | grep -q '^app1 ' && fail "access remove: $(v access list)"
must_fail 1 'UNAUTHENTICATED' vault key list "${as_app1[@]}" --token-file "$dir/app1-token"

# rotation policy: the default, set (replaces it), show, rotate honours expiryTime, errors
out=$(v key policy show hub-cmk)
grep -Eq '^ID +https://localhost:[0-9]+/keys/hub-cmk/rotationpolicy$' <<<"$out" || fail "policy id: $out"
[ "$(field ROTATE <<<"$out")" = - ] || fail "default policy rotates: $out"
[ "$(field NOTIFY <<<"$out")" = "before expiry P30D" ] || fail "default notify: $out"
[ "$(field CREATED <<<"$out")" = - ] || fail "default policy has a creation time: $out"
v key create pol1 --kty oct-HSM >/dev/null
out=$(v key policy set pol1 --rotate-after P90D --expires-in P2Y)
[ "$(field ROTATE <<<"$out")" = "after creation P90D" ] || fail "policy set: $out"
[ "$(field NOTIFY <<<"$out")" = "before expiry P30D" ] || fail "policy set default notify: $out"
[ "$(field "EXPIRES IN" <<<"$out")" = P2Y ] || fail "policy set expiry: $out"
grep -Eq "^CREATED +$iso\$" <<<"$out" || fail "policy set created: $out"
v key policy show pol1 --output json | grep -q '"expiryTime": "P2Y"' || fail "policy show json"
out=$(v key policy set pol1 --rotate-before-expiry P30D --notify-before-expiry P10D --expires-in P90D)
[ "$(field ROTATE <<<"$out")" = "before expiry P30D" ] || fail "policy replace: $out"
[ "$(field NOTIFY <<<"$out")" = "before expiry P10D" ] || fail "policy replace notify: $out"
v key rotate pol1 --output json | grep -q '"exp": [0-9]' || fail "rotate ignored expiryTime"
must_fail 1 'BadParameter.*28 days' vault key policy set pol1 --expires-in P27D --dir "$dir/s"
must_fail 1 "'90d' is not a valid ISO 8601 duration" vault key policy set pol1 --rotate-after 90d --dir "$dir/s"
must_fail 1 KeyNotFound vault key policy show nope --dir "$dir/s"
must_fail 2 'excludes' vault key policy set pol1 --rotate-after P90D --rotate-before-expiry P30D --dir "$dir/s"
[ "$(v key policy show pol1 | field "EXPIRES IN")" = P90D ] || fail "a refused policy changed it"
# events: `coffre up` subscribed the hub; add (secret to a file), list (no secret), remove
v events list | grep -Eq '^[0-9a-f-]{36} +https://localhost:[0-9]+/\$coffre/keyevents +all ' \
  || fail "events list: $(v events list)"
out=$(v events add --endpoint https://hooks.example/kv --types KeyDisabled,keydeleted \
      --ca "$dir/s/tls/ca.pem" --secret-file "$dir/hook-secret")
sub=$(field ID <<<"$out")
[ "$(field 'EVENT TYPES' <<<"$out")" = "Coffre.KeyVault.KeyDisabled,Coffre.KeyVault.KeyDeleted" ] \
  || fail "events add: $out"
grep -q SECRET <<<"$out" && fail "--secret-file still printed the secret"
grep -Eq '^cwh1\.[A-Za-z0-9_-]{43}$' "$dir/hook-secret" || fail "secret file: $(cat "$dir/hook-secret")"
[ "$(stat -c %a "$dir/hook-secret")" = 600 ] || fail "secret file mode"
v events list --output json | grep -q secret && fail "events list shows a secret"
must_fail 1 'BadParameter.*https' vault events add --endpoint http://hooks.example/kv --dir "$dir/s"
must_fail 1 'BadParameter.*KeyRenamed' vault events add --endpoint https://h/x --types KeyRenamed --dir "$dir/s"
v events remove "$sub" | grep -q "removed event subscription $sub"
must_fail 1 'SubscriptionNotFound' vault events remove "$sub" --dir "$dir/s"

# usage errors exit 2
must_fail 2 'no vault given' vault key list
must_fail 2 'no vault token' vault key list --vault-url "$url"
must_fail 2 '' vault key show --dir "$dir/s"
must_fail 2 '' vault key create k2 --kty EC --dir "$dir/s"
echo "coffre vault key/policy/access: ok"
