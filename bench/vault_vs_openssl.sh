#!/usr/bin/env bash
# coffre-vault's wrapKey and unwrapKey requests per second over HTTPS keep-alive (bench/vault_ops,
# one connection per core) for an RSA-3072 key (RSA-OAEP-256) and a 256-bit oct key (A256KW),
# next to `openssl speed rsa3072` on the same cores: wrap is RSA's public operation (openssl's
# verify/s), unwrap its private one (openssl's sign/s).
#   bench/vault_vs_openssl.sh [BUILD_DIR] [--quick]
set -euo pipefail
build=${1:-build/release}
build=$(cd "$build" && pwd)
# --quick (the test suite's smoke run: that it works, not its speed): 0.3 s per vault run,
# openssl's shortest (1 s) on one core; its ratios then mean nothing, and nothing checks them.
seconds=5 ossl_seconds=5
cores=$(nproc) ossl_cores=$(nproc)
[ "${2:-}" = "--quick" ] && seconds=0.3 ossl_seconds=1 ossl_cores=1
coffre="$build/apps/coffre"
tmp=$(mktemp -d)
cleanup() {
  "$coffre" down --dir "$tmp/stack" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"$coffre" up --dir "$tmp/stack" --ports-from $((20000 + RANDOM % 12000)) >/dev/null
conn="$tmp/stack/connection.json"
url=$(sed -n 's/.*"vault_url": *"\([^"]*\)".*/\1/p' "$conn")
(umask 077 && sed -n 's/.*"vault_token": *"\([^"]*\)".*/\1/p' "$conn" >"$tmp/token")
"$coffre" vault key create bench-rsa --kty RSA --size 3072 --dir "$tmp/stack" >/dev/null
"$coffre" vault key create bench-oct --kty oct-HSM --size 256 --dir "$tmp/stack" >/dev/null

json() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2"; }
ops() {  # ops KEY ALG OP: prints a row, sets rate (requests per second)
  local out
  out=$("$build/bench/vault_ops" --vault-url "$url" --ca-file "$tmp/stack/tls/ca.pem" \
    --token-file "$tmp/token" --key "$1" --alg "$2" --op "$3" --connections "$cores" \
    --seconds "$seconds" --count 10000000) || { echo "vault_ops failed: $out"; return 1; }
  printf '  %-9s %-12s %-9s %8s requests/s  p50 %7s ms  p99 %7s ms  (tool CPU %s s)\n' \
    "$1" "$2" "$3" "$(json requests_per_s "$out")" "$(json p50_ms "$out")" "$(json p99_ms "$out")" \
    "$(json tool_cpu_s "$out")"
  rate=$(json requests_per_s "$out")
}

echo "machine: $cores cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $(openssl version)"
echo "coffre-vault over HTTPS keep-alive, $cores connections, ${seconds} s per run:"
ops bench-rsa RSA-OAEP-256 wrapKey
rsa_wrap=$rate
ops bench-rsa RSA-OAEP-256 unwrapKey
rsa_unwrap=$rate
ops bench-oct A256KW wrapKey
ops bench-oct A256KW unwrapKey
# openssl speed's table line: "rsa 3072 bits <sign s> <verify s> <sign/s> <verify/s>".
line=$(openssl speed -seconds "$ossl_seconds" -multi "$ossl_cores" rsa3072 2>/dev/null | grep -E '^rsa +3072' | tail -1)
sign=$(awk '{print $(NF-1)}' <<<"$line")
verify=$(awk '{print $NF}' <<<"$line")
echo "openssl speed -multi $ossl_cores rsa3072: $sign sign/s, $verify verify/s"
awk -v w="$rsa_wrap" -v u="$rsa_unwrap" -v s="$sign" -v v="$verify" 'BEGIN {
  printf "ratios: RSA-3072 wrapKey %.3fx openssl verify/s, unwrapKey %.3fx openssl sign/s\n", (v > 0 ? w / v : 0), (s > 0 ? u / s : 0) }'
