#!/usr/bin/env bash
# Black-box check of the `coffre` binary: up, restart with the same DIR, down.
set -euo pipefail
coffre="$1"
unset COFFRE_UP_KEY_SIZE  # the suite's smaller customer keys: this test starts as a deployment does
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

out=$("$coffre" up --dir "$dir/s" --ports-from 24000)
echo "$out"
grep -q "connection file:  $dir/s/connection.json" <<<"$out"
grep -q "^  coffre hub device send demo-device .* --dir $dir/s$" <<<"$out"
grep -q "^  coffre vault key disable hub-cmk --dir $dir/s " <<<"$out"
test -s "$dir/s/tls/ca.pem"
test -s "$dir/s/tls/server.pem"
grep -q '"ca_file": "'"$dir"'/s/tls/ca.pem"' "$dir/s/connection.json"
openssl verify -CAfile "$dir/s/tls/ca.pem" "$dir/s/tls/server.pem"
# The customer key a deployment gets by default.
"$coffre" vault key show hub-cmk --dir "$dir/s" | grep -q '^SIZE  *3072$'
if "$coffre" up --dir "$dir/other" --key-size 1024 2>"$dir/err"; then echo "--key-size 1024 accepted"; exit 1; fi
grep -q "key-size" "$dir/err"

ca_before=$(sha256sum "$dir/s/tls/ca.pem")
"$coffre" up --dir "$dir/s" >/dev/null
test "$ca_before" = "$(sha256sum "$dir/s/tls/ca.pem")"

"$coffre" down --dir "$dir/s"
if "$coffre" up 2>/dev/null; then echo "up without --dir must fail"; exit 1; fi
echo "coffre up/down: ok"
