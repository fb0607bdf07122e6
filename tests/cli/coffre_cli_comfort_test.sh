#!/usr/bin/env bash
# Issue "Operators", the CLI's comforts, black-box against a local stack: `coffre hub device
# simulate` (a device over MQTT/TLS at a rate, its summary, refusals and usage errors), progress
# lines (on a terminal through script(1), and not), `coffre completion bash` (completing as bash
# would), and `--output tsv` on the vault commands.
set -euo pipefail
coffre="$1"
source "$(dirname "$0")/lib.sh"
# `coffre hub ARGS` against the stack, as iothubowner.
h() { "$coffre" hub "$@" --dir "$dir/s"; }
# field NAME: the value on the "NAME  value" line of a details table on stdin.
field() { sed -n "s/^$1   *//p"; }

# completes WORD...: what bash offers for the last word of `WORD...` (sorted, one line), through
# the sourced script's function, as bash calls it on TAB.
completes() {
  bash -c '
    source <("$1" completion bash) || exit 1
    fn=$(complete -p coffre | sed -n "s/.* -F \([^ ]*\) coffre$/\1/p")
    [ -n "$fn" ] || exit 1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    "$fn" coffre "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort | paste -sd " "' _ "$coffre" "$@"
}
# expect_completion "WANTED" WORD...
expect_completion() {
  local want=$1 got
  shift
  got=$(completes "$@") || fail "completing '$*': the script failed"
  [ "$got" = "$want" ] || fail "completing '$*': '$got', wanted '$want'"
}
expect_completion "device" coffre hub dev
expect_completion "send show simulate" coffre hub device s
expect_completion "hub" coffre h
expect_completion "--rate" coffre hub device simulate demo-device --dir "$dir/s" --ra
expect_completion "json table tsv" coffre vault key list --output ''
expect_completion "table tsv" coffre hub device simulate x --output = t
expect_completion "rotate" coffre vault key --output json rot
expect_completion "bash" coffre completion ''
expect_completion "set show" coffre vault key policy s
must_fail 2 'zsh' completion zsh

"$coffre" up --dir "$dir/s" --ports-from "$(stack_port_base)" >/dev/null

# 20 messages a second for 2 s, each acknowledged; progress and a final line on stderr.
h device simulate demo-device --rate 20 --duration 2 --props site=paris --props 'note=a b&c=d' \
  --content-type application/json --message '{"n": {n}}' >"$dir/out" 2>"$dir/err" ||
  fail "simulate: $(cat "$dir/out" "$dir/err")"
[ "$(field SENT <"$dir/out")" = 40 ] || fail "not 40 sent: $(cat "$dir/out")"
[ "$(field ACKNOWLEDGED <"$dir/out")" = 40 ] || fail "not 40 acknowledged: $(cat "$dir/out")"
[ "$(field 'NOT ACKNOWLEDGED' <"$dir/out")" = 0 ] || fail "unacknowledged: $(cat "$dir/out")"
grep -Eq '^LATENCY P99 MS +[0-9.]+$' "$dir/out" || fail "no p99: $(cat "$dir/out")"
grep -q '^demo-device: 40 sent, all acknowledged' "$dir/err" || fail "no final line: $(cat "$dir/err")"
grep -q $'\r' "$dir/err" && fail "a terminal's carriage returns on a non-terminal: $(od -c "$dir/err")"

# They arrived as sent: 40 bodies numbered 1..40, with the properties and the content type.
h monitor-events --device-id demo-device --from-start --timeout 5 --output json >"$dir/events"
node -e '
  const lines = require("fs").readFileSync(0, "utf8").split("\n").filter((l) => l !== "");
  if (lines.length !== 40) throw new Error(`${lines.length} messages, wanted 40`);
  const numbers = new Set();
  for (const l of lines) {
    const e = JSON.parse(l);
    if (e.properties.site !== "paris" || e.properties.note !== "a b&c=d") throw new Error(l);
    if (e.systemProperties.contentType !== "application/json") throw new Error(l);
    if (e.systemProperties.contentEncoding !== "utf-8") throw new Error(l);
    numbers.add(JSON.parse(e.body).n);
  }
  for (let n = 1; n <= 40; n++) if (!numbers.has(n)) throw new Error(`message ${n} missing`);
' <"$dir/events" || fail "monitor-events: $(head -c 2000 "$dir/events")"

# The summary as JSON and as tab-separated rows (another device: demo-device's count stays 40).
h device create sim2 >/dev/null
h device simulate sim2 --rate 10 --duration 1 --output json >"$dir/summary.json" 2>/dev/null ||
  fail "simulate --output json: $(cat "$dir/summary.json")"
node -e '
  const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
  if (s.deviceId !== "sim2" || s.sent !== 10 || s.acknowledged !== 10 || s.notAcknowledged !== 0)
    throw new Error(JSON.stringify(s));
  if (!(s.p50Ms <= s.p99Ms && s.p99Ms <= s.maxMs) || typeof s.seconds !== "number")
    throw new Error(JSON.stringify(s));
' <"$dir/summary.json" || fail "summary: $(cat "$dir/summary.json")"
h device simulate sim2 --rate 5 --duration 1 --output tsv 2>/dev/null >"$dir/summary.tsv"
grep -q $'^SENT\t5$' "$dir/summary.tsv" || fail "tsv summary: $(cat "$dir/summary.tsv")"

# On a terminal (script(1) gives it one) progress is one line rewritten in place, then the final
# line takes its place.
script -qec "'$coffre' hub device simulate sim2 --rate 5 --duration 2 --dir '$dir/s' >/dev/null" \
  /dev/null >"$dir/tty" || fail "simulate on a terminal: $(cat -A "$dir/tty")"
grep -q $'\r''sim2: [0-9]* of 10 sent, ' "$dir/tty" || fail "no updating line: $(cat -A "$dir/tty")"
grep -q $'\r''sim2: 10 sent, all acknowledged, .*'$'\033''\[K' "$dir/tty" ||
  fail "no final line on the terminal: $(cat -A "$dir/tty")"

# verify, backup and restore end with a line saying so (verify spins on a terminal meanwhile).
h verify 2>"$dir/err" >/dev/null || fail "verify: $(cat "$dir/err")"
grep -q '^verify: no break (' "$dir/err" || fail "verify's final line: $(cat "$dir/err")"
script -qec "'$coffre' hub verify --dir '$dir/s' >/dev/null" /dev/null >"$dir/tty" ||
  fail "verify on a terminal: $(cat -A "$dir/tty")"
grep -q $'\r''verify: no break (' "$dir/tty" || fail "verify on a terminal: $(cat -A "$dir/tty")"
h backup --file "$dir/hub.cbak" 2>"$dir/err" >/dev/null || fail "backup: $(cat "$dir/err")"
grep -q "written to $dir/hub.cbak in " "$dir/err" || fail "backup's final line: $(cat "$dir/err")"
"$coffre" hub restore --file "$dir/hub.cbak" --dir "$dir/s" 2>"$dir/err" >/dev/null ||
  fail "restore: $(cat "$dir/err")"
grep -q 'restore: .* records restored, all of the backup' "$dir/err" || fail "restore: $(cat "$dir/err")"
grep -q '^restore: done in ' "$dir/err" || fail "restore's final line: $(cat "$dir/err")"

# Refused: a device the hub does not know, a disabled one; bad bounds are usage errors.
must_fail 1 'DeviceNotFound' hub device simulate nobody --duration 1 --dir "$dir/s"
h device create off --disabled >/dev/null
must_fail 1 'refused the connection: not authorized' hub device simulate off --duration 1 --dir "$dir/s"
must_fail 2 'rate' hub device simulate demo-device --rate 0 --dir "$dir/s"
must_fail 2 'rate' hub device simulate demo-device --rate 10001 --dir "$dir/s"
must_fail 2 'duration' hub device simulate demo-device --duration 0 --dir "$dir/s"
must_fail 2 'duration' hub device simulate demo-device --duration 86401 --dir "$dir/s"
must_fail 1 'name=value' hub device simulate demo-device --props novalue --dir "$dir/s"

# The vault commands' --output tsv: tab-separated rows, no header, no padding.
key=$(conn key_name)
"$coffre" vault key list --output tsv --dir "$dir/s" >"$dir/keys.tsv"
grep -Eq "^$key"$'\t[0-9a-f]+\tRSA\t2048\ttrue\t' "$dir/keys.tsv" || fail "key list tsv: $(cat -A "$dir/keys.tsv")"
grep -q 'NAME' "$dir/keys.tsv" && fail "key list tsv has a header: $(cat "$dir/keys.tsv")"
"$coffre" vault key show "$key" --output tsv --dir "$dir/s" >"$dir/key.tsv"
grep -q $'^KTY\tRSA$' "$dir/key.tsv" || fail "key show tsv: $(cat -A "$dir/key.tsv")"
"$coffre" vault access list --output tsv --dir "$dir/s" >"$dir/access.tsv"
grep -q $'^owner\ttrue\t' "$dir/access.tsv" || fail "access list tsv: $(cat -A "$dir/access.tsv")"
"$coffre" vault audit show --top 3 --output tsv --dir "$dir/s" >"$dir/audit.tsv"
[ "$(awk -F'\t' 'NF == 9' "$dir/audit.tsv" | wc -l)" = 3 ] || fail "audit tsv: $(cat -A "$dir/audit.tsv")"
"$coffre" vault seal-status --output tsv --dir "$dir/s" >"$dir/seal.tsv"
grep -q $'^UNSEALED\ttrue' "$dir/seal.tsv" || fail "seal-status tsv: $(cat -A "$dir/seal.tsv")"
must_fail 2 'output' vault key list --output csv --dir "$dir/s"

# The customer key disabled mid-run: the hub drops the device, and the run says so (exit 1).
rc=0
h device simulate sim2 --rate 10 --duration 60 >"$dir/out" 2>"$dir/err" &
sim=$!
for _ in $(seq 100); do grep -q 'sent,' "$dir/err" && break; sleep 0.2; done
grep -q 'sent,' "$dir/err" || fail "no progress line after 20 s: $(cat "$dir/err")"
"$coffre" vault key disable "$key" --dir "$dir/s" >/dev/null
wait "$sim" || rc=$?
"$coffre" vault key enable "$key" --dir "$dir/s" >/dev/null
[ "$rc" = 1 ] || fail "simulate through a disabled key: exit $rc: $(cat "$dir/err")"
grep -q 'the hub closed the connection' "$dir/err" || fail "no reason: $(cat "$dir/err")"
[ "$(field SENT <"$dir/out")" -lt 600 ] || fail "it sent everything: $(cat "$dir/out")"

echo "coffre cli comforts: device simulate, progress, completion, vault tsv"
