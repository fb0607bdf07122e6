#!/usr/bin/env bash
# Black-box check of the vault's audit log through `coffre vault audit show|verify` on a local
# stack: requests (refused ones too) are recorded, only the owner reads the log, a clean log
# verifies, and a log tampered with while the vault is stopped fails verification after the
# restart with a message naming the first bad entry.
set -euo pipefail
coffre="$1"
unset COFFRE_VAULT_TOKEN
source "$(dirname "$0")/lib.sh"
# `coffre vault ARGS` against the stack, as its owner.
v() { "$coffre" vault "$@" --dir "$dir/s"; }

port=$((41000 + RANDOM % 8000))
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
log="$dir/s/vault/data/audit.log"
[ -s "$log" ] || fail "no audit log at $log"
[ "$(stat -c %a "$log")" = 600 ] || fail "audit log mode $(stat -c %a "$log")"
url=$(sed -n 's/.*"vault_url": "\(.*\)".*/\1/p' "$dir/s/connection.json")
ca=(--vault-url "$url" --ca-file "$dir/s/tls/ca.pem")

# Requests of every kind are recorded: the owner's, a refused principal's, an unknown token's.
v key create a1 --kty oct-HSM >/dev/null
token=$(v access set app1 --permissions get 2>/dev/null | sed -n 's/^TOKEN  *//p')
printf '%s\n' "$token" >"$dir/app1-token"
printf 'cvt1.not-a-token\n' >"$dir/bad-token"
must_fail 1 'Forbidden' vault key rotate a1 "${ca[@]}" --token-file "$dir/app1-token"
must_fail 1 'UNAUTHENTICATED' vault key list "${ca[@]}" --token-file "$dir/bad-token"

out=$(v audit show --top 50)
grep -Eq '^SEQ +TIME +PRINCIPAL +OP +KEY +VERSION +STATUS +CODE +CLIENT$' <<<"$out" ||
  fail "show header: $out"
iso='20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3}Z'
grep -Eq "^[0-9]+ +$iso +owner +createKey +a1 +[0-9a-f]{32} +200 +- +127\.0\.0\.1\$" <<<"$out" ||
  fail "no createKey entry: $out"
grep -Eq ' +app1 +rotateKey +a1 +- +403 +AccessDenied +127\.0\.0\.1$' <<<"$out" ||
  fail "no refused rotateKey entry: $out"
grep -Eq ' +- +listKeys +- +- +401 +Unauthorized +127\.0\.0\.1$' <<<"$out" ||
  fail "no anonymous 401 entry: $out"
grep -q 'hub  *unwrapKey  *hub-cmk' <<<"$out" || fail "no entry of the hub's unwraps: $out"
grep -q "$token" "$log" && fail "a token reached the audit log"
[ "$(v audit show --top 3 --output json | json_count)" = 3 ] || fail "show --top 3 --output json"
must_fail 1 'Forbidden' vault audit show "${ca[@]}" --token-file "$dir/app1-token"
must_fail 1 'Forbidden' vault audit verify "${ca[@]}" --token-file "$dir/app1-token"
must_fail 2 '' vault audit show --top 0 --dir "$dir/s"

out=$(v audit verify)
grep -Eq '^audit log OK: [0-9]+ entries, chain and sealed head verified$' <<<"$out" ||
  fail "verify on a clean log: $out"
v audit verify --output json | grep -q '"ok": true' || fail "verify --output json"

# Drop the last three entries while the vault is stopped: the vault says so at start, records
# it in the log, and verify names the missing entries.
"$coffre" down --dir "$dir/s" >/dev/null
head -n -3 "$log" >"$dir/cut" && cat "$dir/cut" >"$log"
"$coffre" up --dir "$dir/s" >/dev/null
grep -q 'AUDIT LOG DAMAGED (AuditLogTruncated)' "$dir/s/vault/vault.log" ||
  fail "no damage report in vault.log: $(tail -5 "$dir/s/vault/vault.log")"
out=$(v audit show --top 1000)  # not piped: grep -q would stop reading, and pipefail trip
grep -Eq '\(vault\) +auditDamaged +- +- +500 +AuditLogTruncated +-$' <<<"$out" ||
  fail "no auditDamaged entry: $out"
must_fail 1 'FAILED verification at entry [0-9]+: entries [0-9]+ to [0-9]+ are missing' \
  vault audit verify --dir "$dir/s"

# Edit an early entry while the vault is stopped: verify names it after the restart.
"$coffre" down --dir "$dir/s" >/dev/null
sed -i '2s/"principal":"[^"]*"/"principal":"mallory"/' "$log"
"$coffre" up --dir "$dir/s" >/dev/null
must_fail 1 'coffre vault audit verify: .*FAILED verification at entry 2: MAC mismatch' \
  vault audit verify --dir "$dir/s"
echo "coffre vault audit: ok"
