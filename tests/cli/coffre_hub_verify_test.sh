#!/usr/bin/env bash
# Issue 17, tamper evidence through the binaries: a hub of a local stack verifies clean; its
# telemetry put back from an older copy while it is stopped (the end of a partition cut off, as
# a restored backup or a rolled-back disk would) is found at start (logged), by `coffre hub
# verify` (exit 1, the partition and records named) and by the read API (500
# DataIntegrityBreak for those records), while devices go on sending and newer records are read.
set -euo pipefail
coffre="$1"
source "$(dirname "$0")/lib.sh"
h() { "$coffre" hub "$@" --dir "$dir/s"; }

port=$(stack_port_base)
"$coffre" up --dir "$dir/s" --ports-from "$port" >/dev/null
h device create dv >/dev/null
telemetry="$dir/s/hub/data/telemetry"

# send FROM TO: messages FROM..TO of device dv over HTTPS, each acknowledged (204).
send() {
  local https ca token code i
  https="https://localhost:$(conn https_port)"
  ca=$(conn ca_file)
  token=$(h generate-sas-token --device-id dv)
  for i in $(seq "$1" "$2"); do
    code=$(curl -s --max-time 20 --cacert "$ca" -X POST -H "Authorization: $token" \
      --data-binary "{\"i\":$i}" -o /dev/null -w '%{http_code}' \
      "$https/devices/dv/messages/events?api-version=2021-04-12") || code="curl-failed-$?"
    [ "$code" = 204 ] || fail "sending message $i: $code"
  done
}
# read_from PARTITION FROM: the read API's status for that offset; the body in $dir/body.
read_from() {
  curl -s --max-time 20 --cacert "$(conn ca_file)" -H "Authorization: $(h generate-sas-token)" \
    -o "$dir/body" -w '%{http_code}' \
    "https://localhost:$(conn https_port)/telemetry/partitions/$1/messages?from=$2&api-version=2021-04-12"
}

send 1 20
h storage show >"$dir/out"
grep -Eq '^FULL +false$' "$dir/out" && grep -Eq '^PARTITION 0 +sequences ' "$dir/out" &&
  ! grep -q '[1-9][0-9]* integrity breaks' "$dir/out" || fail "storage show: $(cat "$dir/out")"
h verify >"$dir/out" || fail "an untouched hub does not verify: $(cat "$dir/out")"
grep -Eq '^PARTITION +FIRST +END +HEAD END +CHECKED +ERASED +ANCHORED +BREAK' "$dir/out" || fail "$(cat "$dir/out")"
grep -Eq '^METADATA +-$' "$dir/out" || fail "no metadata row: $(cat "$dir/out")"
cp -a "$telemetry" "$dir/older"  # the telemetry as it was with 20 messages
send 21 40
h verify >/dev/null || fail "40 messages do not verify"

"$coffre" down --dir "$dir/s" >/dev/null
rm -rf "$telemetry"
mv "$dir/older" "$telemetry"
"$coffre" up --dir "$dir/s" >/dev/null
grep -q 'INTEGRITY BREAK telemetry partition [0-9]*, records 20..39: missing' "$dir/s/hub/hub.log" ||
  fail "the start did not log the break: $(grep -i integrity "$dir/s/hub/hub.log" || true)"

if h verify --output json >"$dir/report"; then fail "a rolled-back partition verifies"; fi
partition=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (r.ok !== false) throw new Error("ok is not false");
  const broken = r.partitions.filter((p) => p.breaks.length > 0);
  if (broken.length !== 1) throw new Error(`${broken.length} broken partitions`);
  const [b] = broken[0].breaks;
  if (b.from !== 20 || b.to !== 40 || !/^missing/.test(b.what)) throw new Error(JSON.stringify(b));
  if (broken[0].headEnd !== 40 || broken[0].recordsChecked !== 20) throw new Error(JSON.stringify(broken[0]));
  console.log(broken[0].id);
' <"$dir/report") || fail "verify's report: $(cat "$dir/report")"
h verify >"$dir/out" 2>&1 && fail "verify exits 0"
grep -q "records 20..39: missing" "$dir/out" || fail "the table does not show the break: $(cat "$dir/out")"
h storage show >"$dir/out"
grep -Eq "^PARTITION $partition +sequences 0 to 40, 1 integrity breaks$" "$dir/out" ||
  fail "storage show does not count the break: $(cat "$dir/out")"

# Readers: the kept records are served, the missing ones refused by name, the new ones served.
[ "$(read_from "$partition" 0)" = 200 ] || fail "records 0..19: $(cat "$dir/body")"
status=$(read_from "$partition" 25)
[ "$status" = 500 ] && grep -q 'ErrorCode:DataIntegrityBreak' "$dir/body" && grep -q 'records 20..39' "$dir/body" ||
  fail "record 25: $status $(cat "$dir/body")"
send 41 45
[ "$(read_from "$partition" 40)" = 200 ] || fail "records after the break: $(cat "$dir/body")"
count=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8")).messages.length)' <"$dir/body")
[ "$count" = 5 ] || fail "$count messages after the break, not 5"
echo "coffre hub verify: clean stack verified; rolled-back partition $partition found (records 20..39), refused, and written after"
