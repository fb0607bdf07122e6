#!/usr/bin/env bash
# Black-box check of `coffre vault key ...` and `coffre vault access ...` against the vault of
# a local stack: every command, table and JSON output, exit codes 1 (vault error) and 2 (usage).
set -euo pipefail
coffre="$1"
unset COFFRE_VAULT_TOKEN
dir=$(mktemp -d)
cleanup() {
  "$coffre" down --dir "$dir/s" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# `coffre vault ARGS` against the stack, as its owner.
v() { "$coffre" vault "$@" --dir "$dir/s"; }
# must_fail CODE PATTERN ARGS...: `coffre ARGS` exits with CODE and PATTERN is on stderr.
must_fail() {
  local code=$1 pattern=$2 rc=0 err
  shift 2
  err=$("$coffre" "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" = "$code" ] || fail "coffre $*: exit $rc, wanted $code: $err"
  grep -q -- "$pattern" <<<"$err" || fail "coffre $*: no '$pattern' in: $err"
}
# json_count: the number of items in a list body on stdin.
json_count() { node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).value.length)'; }
# field NAME: the value on the "NAME  value" line of a details table on stdin.
field() { sed -n "s/^$1  *//p"; }

port=$((41000 + RANDOM % 8000))
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
grep -Eq "^hub-cmk +[0-9a-f]+ +RSA +3072 +true +$iso\$" <<<"$out" || fail "list: $out"
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

# access: set (prints a token on creation), list, show, the token works, remove
out=$(v access set app1 --permissions get,wrapKey,unwrapKey 2>/dev/null)
token=$(field TOKEN <<<"$out")
[ -n "$token" ] || fail "access set printed no token: $out"
v access list | grep -Eq '^app1 +false +get,unwrapKey,wrapKey$' || fail "access list: $(v access list)"
v access show app1 --output json | grep -q '"name": "app1"' || fail "access show"
[ -z "$(v access set app1 --permissions get 2>/dev/null | field TOKEN)" ] || fail "update issued a token"
[ "$(v access show app1 | field PERMISSIONS)" = get ] || fail "access set did not replace"
token=$(v access set app1 --permissions get,list --rotate-token 2>/dev/null | field TOKEN)
[ -n "$token" ] || fail "--rotate-token printed no token"
printf '%s\n' "$token" >"$dir/app1-token"
url=$(sed -n 's/.*"vault_url": "\(.*\)".*/\1/p' "$dir/s/connection.json")
as_app1=(--vault-url "$url" --ca-file "$dir/s/tls/ca.pem")
"$coffre" vault key show hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token" | grep -q '^SIZE  *3072$'
COFFRE_VAULT_TOKEN="$token" "$coffre" vault key list "${as_app1[@]}" | grep -q '^hub-cmk '
must_fail 1 'Forbidden' vault key rotate hub-cmk "${as_app1[@]}" --token-file "$dir/app1-token"
v access remove app1 | grep -q 'removed principal app1'
v access list | grep -q '^app1 ' && fail "access remove: $(v access list)"
must_fail 1 'UNAUTHENTICATED' vault key list "${as_app1[@]}" --token-file "$dir/app1-token"

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
echo "coffre vault key/access: ok"
