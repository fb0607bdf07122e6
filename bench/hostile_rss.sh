#!/usr/bin/env bash
# The hub's memory with hostile pre-CONNECT connections held on its MQTT port (docs/SECURITY.md):
# for each scenario a fresh coffre-hub (TLS certificates from a `coffre up` run) holds 2,000
# connections made by bench's mqtt_hostile, and its RSS (VmRSS) is read while they are held;
# then, with the default deadline, every one is cut after 10 s. Loopback only; every process it
# starts is stopped by its pid.
# Usage: bench/hostile_rss.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$build/apps/coffre" up --dir "$dir/stack" --ports-from $((20000 + RANDOM % 12000)) >/dev/null
"$build/apps/coffre" down --dir "$dir/stack" >/dev/null  # only its TLS certificates are used
hub_pid=
start_hub() {  # a fresh service-managed coffre-hub per scenario: RSS is never given back
  local n=$1 mqtt=$((20000 + RANDOM % 12000)); shift
  "$build/apps/coffre-hub" --dir "$dir/hub$n" --service-key-file "$dir/service$n.key" \
    --tls-cert "$dir/stack/tls/server.pem" --tls-key "$dir/stack/tls/server-key.pem" \
    --mqtt-listen "127.0.0.1:$mqtt" --https-listen "127.0.0.1:$((mqtt + 1))" \
    --amqp-listen "127.0.0.1:$((mqtt + 2))" "$@" > "$dir/hub$n.log" 2>&1 &
  hub_pid=$!
  for _ in $(seq 300); do grep -q "listening" "$dir/hub$n.log" && break; sleep 0.1; done
  port=$mqtt
  sleep 1
}
stop_hub() { kill "$hub_pid"; wait "$hub_pid" || true; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$hub_pid/status"; }

n=0
scenario() {  # name, then mqtt_hostile arguments; the hub's CONNECT deadline is 60 s here so
              # every connection is still held when RSS is read
  local name=$1; shift
  n=$((n + 1))
  start_hub $n --mqtt-connect-timeout-ms 60000
  local before; before=$(rss)
  local out="$dir/$name.out"
  "$build/bench/mqtt_hostile" --port "$port" --hold 3 "$@" > "$out" &
  local tool=$!
  for _ in $(seq 1200); do grep -q holding "$out" && break; sleep 0.1; done
  sleep 1
  local during; during=$(rss)
  wait "$tool"
  printf '%-48s RSS %6s KiB -> %7s KiB (+%s KiB)  %s\n' "$name" "$before" "$during" \
    $((during - before)) "$(tail -1 "$out")"
  stop_hub
}

scenario "2000 TLS, no bytes (20 sources)" --connections 2000 --sources 20 --mode handshake
scenario "2000 TLS + 15 KB of a 16 KB CONNECT (20 sources)" --connections 2000 --sources 20 --mode partial --announce 16000 --bytes 15000
scenario "2000 TLS + 1 KB of a 270 KB CONNECT (20 sources)" --connections 2000 --sources 20 --mode partial --announce 276000 --bytes 1024
scenario "2000 TLS, one byte a second (20 sources)" --connections 2000 --sources 20 --mode trickle
scenario "2000 TLS + 15 KB of 16 KB, one source (cap 100)" --connections 2000 --sources 1 --mode partial --announce 16000 --bytes 15000
# With the default 10 s deadline, nothing is left after it: hold past it.
start_hub 99
echo "default deadline, 500 TLS held 12 s: $("$build/bench/mqtt_hostile" --port "$port" --connections 500 --sources 5 --mode handshake --hold 12 | tail -1)"
stop_hub
