#!/usr/bin/env bash
# Seal/open throughput of Coffre's AEAD next to `openssl speed -evp aes-256-gcm` on this machine,
# in one run, as ratios. Usage: bench/crypto_vs_openssl.sh [build dir, default build/release]
# `openssl speed -evp` streams one long message (the cipher's physical limit); `-aead` also
# sets a nonce and makes a tag per message, as Coffre does per record. Both are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build/release}"
secs="${BENCH_SECONDS:-2}"
sizes=(256 4096 16384 65536)

declare -A ossl ossl_aead
for n in "${sizes[@]}"; do
  ossl[$n]=$(openssl speed -evp aes-256-gcm -bytes "$n" -seconds "$secs" 2>/dev/null |
             awk '/^AES-256-GCM/ {sub("k","",$2); print $2 * 1000}')
  ossl_aead[$n]=$(openssl speed -aead -evp aes-256-gcm -bytes "$n" -seconds "$secs" 2>/dev/null |
             awk '/^AES-256-GCM/ {sub("k","",$2); print $2 * 1000}')
done

csv=$("$build/bench/crypto_bench" --benchmark_format=csv --benchmark_min_time="$secs" 2>/dev/null)
mbps() {  # benchmark name/size -> MB/s (10^6 bytes)
  awk -F, -v name="\"$1\"" '$1 == name {printf "%.0f", $6 / 1e6}' <<<"$csv"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "openssl: $(openssl version)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '%-6s %12s %12s %12s %12s %12s %12s %9s %9s\n' size openssl_evp openssl_aead \
  gcm_seal gcm_open env_seal env_open seal/evp open/evp
for n in "${sizes[@]}"; do
  o=$(awk -v v="${ossl[$n]}" 'BEGIN {printf "%.0f", v / 1e6}')
  oa=$(awk -v v="${ossl_aead[$n]}" 'BEGIN {printf "%.0f", v / 1e6}')
  s=$(mbps "BM_AesGcmSeal/$n"); op=$(mbps "BM_AesGcmOpen/$n")
  es=$(mbps "BM_EnvelopeSeal/$n"); eo=$(mbps "BM_EnvelopeOpen/$n")
  printf '%-6s %7s MB/s %7s MB/s %7s MB/s %7s MB/s %7s MB/s %7s MB/s %9s %9s\n' "$n" "$o" "$oa" \
    "$s" "$op" "$es" "$eo" "$(ratio "$es" "$o")" "$(ratio "$eo" "$o")"
done
echo "seal/evp and open/evp: envelope (header + AAD + tag, per record) vs openssl speed -evp"
