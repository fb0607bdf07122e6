#!/usr/bin/env bash
# Issue 18: the hub's status page in headless Chromium (Debian's chromium): sign in with the
# owner policy's connection string, live values in the DOM, the key disabled and the page turned
# Inaccessible, screenshots kept under the build tree (ARTIFACT_DIR).
#   status_page_test.sh COFFRE ARTIFACT_DIR
set -euo pipefail
coffre="$1"
artifacts="$2"
command -v chromium >/dev/null || { echo "SKIP: Debian's chromium is not installed (scripts/setup.sh installs it)"; exit 77; }
source "$(dirname "$0")/lib.sh"
"$coffre" up --dir "$dir/s" --ports-from "$(stack_port_base)" >/dev/null
"$coffre" hub device send demo-device --message '{"n": {n}}' --count 30 --dir "$dir/s" >/dev/null
# Chromium trusts the stack's server certificate by its public key's hash only.
spki=$(openssl x509 -in "$dir/s/tls/server.pem" -pubkey -noout | openssl pkey -pubin -outform der |
  openssl dgst -sha256 -binary | base64)
owner=$(conn service_connection_string)
[ -n "$owner" ] || fail "no service connection string in connection.json"
rm -rf "$artifacts"
node "$(dirname "$0")/status_page_driver.js" "https://localhost:$(conn https_port)/\$coffre/status" \
  "$owner" "$spki" "$artifacts" "$coffre" "$dir/s"
