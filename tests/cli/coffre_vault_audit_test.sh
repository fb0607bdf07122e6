#!/usr/bin/env bash
# Black-box check of the vault's audit log through `coffre vault audit show|verify` on a local
# stack: requests (refused ones too) are recorded, only the owner reads the log, a clean log
# verifies, and a log tampered with while the vault is stopped fails verification after the
# restart with a message naming the first bad entry. Issue 12: the files are private, a flood
# without a valid token is throttled and sampled (the log stays small), and a second vault
# with small files rotates, drops old files, verifies across them and catches an edit inside
# a kept file.
set -euo pipefail
coffre="$1"
unset COFFRE_VAULT_TOKEN
source "$(dirname "$0")/lib.sh"
vault_pid=""  # the second vault, which this script starts itself
cleanup_vault() {
  if [ -n "$vault_pid" ]; then kill "$vault_pid" 2>/dev/null || true; wait "$vault_pid" 2>/dev/null || true; fi
  cleanup
}
trap cleanup_vault EXIT
# `coffre vault ARGS` against the stack, as its owner.
v() { "$coffre" vault "$@" --dir "$dir/s"; }

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
log="$dir/s/vault/data/audit.log"
[ -s "$log" ] || fail "no audit log at $log"
[ "$(stat -c %a "$log")" = 600 ] || fail "audit log mode $(stat -c %a "$log")"
url=$(sed -n 's/.*"vault_url": "\(.*\)".*/\1/p' "$dir/s/connection.json")
ca=(--vault-url "$url" --ca-file "$dir/s/tls/ca.pem")

# Issue 12, finding 9: nothing the vault or the hub wrote is readable by group or others.
loose=$(find "$dir/s/vault" "$dir/s/hub" \( -type f -o -type d \) -perm /077)
[ -z "$loose" ] || fail "group/other-accessible after coffre up: $(ls -ld $loose)"

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

# Issue 12, finding 5: one client without a valid token, hammering over one connection. Before,
# each refusal added ~355 bytes to the log and nothing slowed it; now the address is answered
# 429 past its budget (200 at once, then 20 a second) and only 10 a minute are logged one by
# one, the rest counted in one line.
flood="$dir/flood.curl"
for i in $(seq 1500); do
  printf 'url = "%s/keys?api-version=7.5"\noutput = "/dev/null"\n' "$url"
done >"$flood"
before=$(stat -c %s "$log")
start=$(date +%s%N)
codes=$(timeout 60 curl -s --cacert "$dir/s/tls/ca.pem" -H 'Authorization: Bearer cvt1.forged' \
  -w '%{http_code}\n' -K "$flood" || true)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grown=$(( $(stat -c %s "$log") - before ))
# The hub's own key checks go on meanwhile: count the anonymous lines the flood added.
anonymous=$(tail -c +$((before + 1)) "$log" | grep -c '"principal":""' || true)
n401=$(grep -c '^401$' <<<"$codes" || true)
n429=$(grep -c '^429$' <<<"$codes" || true)
echo "flood: $((n401 + n429)) requests in $ms ms: $n401 x 401, $n429 x 429; audit log +$grown bytes, $anonymous anonymous lines"
[ "$((n401 + n429))" -ge 1000 ] || fail "the flood did not run: $n401 x 401, $n429 x 429"
[ "$n429" -gt 0 ] || fail "no 429 after $n401 failed authentications"
# 10 per address and minute (20 if the flood straddles the end of an interval).
[ "$anonymous" -le 20 ] || fail "$anonymous audit lines for $((n401 + n429)) refusals"
# More at once (the budget refills 1 per 50 ms): 429s, as Azure shapes them.
mkdir "$dir/probe"
for i in $(seq 300); do
  printf 'url = "%s/keys?api-version=7.5"\noutput = "%s"\n' "$url" "$dir/probe/$i"
done >"$dir/probe.curl"
curl -s --cacert "$dir/s/tls/ca.pem" -H 'Authorization: Bearer cvt1.forged' -D "$dir/probe-headers" \
  -K "$dir/probe.curl"
grep -qi '^retry-after: [0-9]' "$dir/probe-headers" || fail "429 without Retry-After: $(tail -8 "$dir/probe-headers")"
grep -lq '^{"error":{"code":"Throttled","message":' "$dir"/probe/* || fail "no Throttled body: $(cat "$dir/probe/300")"
v key list >/dev/null  # the owner, from the same address, is not throttled
# The flood's summary, written at the end of the interval (here: when the vault stops).
"$coffre" down --dir "$dir/s" >/dev/null
"$coffre" up --dir "$dir/s" >/dev/null
out=$(v audit show --top 1000)
grep -Eq '\(vault\) +unauthenticatedRequests +- +- +0 +Sampled +127\.0\.0\.1 +[0-9]{3,}$' <<<"$out" ||
  fail "no summary of the flood: $out"

# Drop the last three entries while the vault is stopped: the vault says so at start, records
# it in the log, and verify names the missing entries.
"$coffre" down --dir "$dir/s" >/dev/null
head -n -3 "$log" >"$dir/cut" && cat "$dir/cut" >"$log"
"$coffre" up --dir "$dir/s" >/dev/null
grep -q 'AUDIT LOG DAMAGED (AuditLogTruncated)' "$dir/s/vault/vault.log" ||
  fail "no damage report in vault.log: $(tail -5 "$dir/s/vault/vault.log")"
out=$(v audit show --top 1000)  # not piped: grep -q would stop reading, and pipefail trip
grep -Eq '\(vault\) +auditDamaged +- +- +500 +AuditLogTruncated +-( +-)?$' <<<"$out" ||
  fail "no auditDamaged entry: $out"
must_fail 1 'FAILED verification at entry [0-9]+: entries [0-9]+ to [0-9]+ are missing' \
  vault audit verify --dir "$dir/s"

# Edit an early entry while the vault is stopped: verify names it after the restart.
"$coffre" down --dir "$dir/s" >/dev/null
sed -i '2s/"principal":"[^"]*"/"principal":"mallory"/' "$log"
"$coffre" up --dir "$dir/s" >/dev/null
must_fail 1 'coffre vault audit verify: .*FAILED verification at entry 2: MAC mismatch' \
  vault audit verify --dir "$dir/s"

# Rotation and retention, on a vault of its own with 4 KiB files, 3 kept.
vdir="$dir/v2"
p2=$(free_port)
head -c 32 /dev/urandom | base64 >"$dir/v2-pass"
chmod 600 "$dir/v2-pass"  # a secret file others can read is refused
start_vault2() {
  "$(dirname "$coffre")/coffre-vault" --dir "$vdir" --listen "127.0.0.1:$p2" \
    --tls-cert "$dir/s/tls/server.pem" --tls-key "$dir/s/tls/server-key.pem" \
    --passphrase-file "$dir/v2-pass" --owner-token-file "$dir/v2-owner" \
    --public-url "https://localhost:$p2" --audit-file-size 4KiB --audit-keep-files 3 \
    >>"$dir/v2.log" 2>&1 &
  vault_pid=$!
  for _ in $(seq 300); do
    [ -s "$dir/v2-owner" ] && curl -s -o /dev/null --cacert "$dir/s/tls/ca.pem" \
      "https://localhost:$p2/keys?api-version=7.5" && return 0
    sleep 0.1
  done
  fail "the second vault did not start: $(cat "$dir/v2.log")"
}
stop_vault2() { kill "$vault_pid"; wait "$vault_pid" || true; vault_pid=""; }
v2() { "$coffre" vault "$@" --vault-url "https://localhost:$p2" --ca-file "$dir/s/tls/ca.pem" \
         --token-file "$dir/v2-owner"; }
start_vault2
for i in $(seq 200); do
  printf 'url = "https://localhost:%s/keys?api-version=7.5"\noutput = "/dev/null"\n' "$p2"
done >"$dir/v2.curl"
curl -s --cacert "$dir/s/tls/ca.pem" -H "Authorization: Bearer $(cat "$dir/v2-owner")" \
  -K "$dir/v2.curl"
# The background sync (every 200 ms) seals the head, then removes the dropped files.
for _ in $(seq 100); do
  files=$(ls "$vdir" | grep -c '^audit\.log' || true)
  [ "$files" = 3 ] && break
  sleep 0.1
done
[ "$files" = 3 ] || fail "$files audit files kept, wanted 3: $(ls "$vdir")"
[ -e "$vdir/audit.log" ] && fail "the first file was not dropped"
for f in "$vdir"/audit.log*; do
  [ "$(stat -c %s "$f")" -le 4096 ] || fail "$f is $(stat -c %s "$f") bytes"
  [ "$(stat -c %a "$f")" = 600 ] || fail "$f mode $(stat -c %a "$f")"
done
out=$(v2 audit verify)
grep -Eq '^audit log OK: [0-9]+ entries \(([0-9]+) to [0-9]+\), chain and sealed head verified; entries 1 to [0-9]+ were dropped by retention \([0-9]+ files, [0-9]+ bytes\)$' <<<"$out" ||
  fail "verify after retention: $out"
v2 audit verify --output json | grep -q '"lastSeq": [0-9]' || fail "verify json: no dropped range"
# show reads across files: 40 entries, consecutive
seqs=$(v2 audit show --top 40 --output json | node -e '
  const v = JSON.parse(require("fs").readFileSync(0, "utf8")).value.map((e) => e.seq);
  console.log(v.length === 40 && v.every((s, i) => i === 0 || s === v[i - 1] + 1) ? "ok" : v.join(","))')
[ "$seqs" = ok ] || fail "show across files: $seqs"
# An edit inside a kept file that is not the current one, made while the vault is stopped.
stop_vault2
middle=$(ls "$vdir"/audit.log.* | sort -t. -k3 -n | head -1)
seq2=$(sed -n '2s/^{"seq":\([0-9]*\),.*/\1/p' "$middle")
sed -i '2s/"principal":"owner"/"principal":"mallory"/' "$middle"
start_vault2
must_fail 1 "FAILED verification at entry $seq2: MAC mismatch" \
  vault audit verify --vault-url "https://localhost:$p2" --ca-file "$dir/s/tls/ca.pem" --token-file "$dir/v2-owner"
stop_vault2
echo "coffre vault audit: ok"
