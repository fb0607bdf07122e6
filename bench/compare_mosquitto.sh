#!/usr/bin/env bash
# Side by side on this machine, same load tool (bench/mqtt_load), same TLS, loopback only:
# coffre-hub (both encryption layers on, every PUBACK after fdatasync) and Mosquitto from Debian
# (persistence on, which snapshots its queue now and then; its PUBACK is not durable). Prints,
# per scenario, msgs/s, p99 latency and broker CPU per message for each, and the ratios.
#   bench/compare_mosquitto.sh [BUILD_DIR] [--quick]
# --quick: a few thousand messages per run (the test suite's smoke run); else 200,000.
set -euo pipefail
build=${1:-build/release}
build=$(cd "$build" && pwd)
quick=0
[ "${2:-}" = "--quick" ] && quick=1
command -v mosquitto >/dev/null || { echo "SKIP: mosquitto is not installed (scripts/setup.sh installs it)"; exit 77; }

coffre="$build/apps/coffre"
load="$build/bench/mqtt_load"
count=200000
seconds=60
[ $quick = 1 ] && count=3000 && seconds=10
clients=16

tmp=$(mktemp -d)
mosq_pid=
cleanup() {
  [ -n "$mosq_pid" ] && kill "$mosq_pid" 2>/dev/null || true
  "$coffre" down --dir "$tmp/stack" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

base=$((40000 + RANDOM % 9000))
"$coffre" up --dir "$tmp/stack" --ports-from "$base" >/dev/null
field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" "$tmp/stack/connection.json" | head -1; }
mqtt_port=$(field mqtt_port)
ca="$tmp/stack/tls/ca.pem"
hub_pid=$(sed -n 's/.*"hub": *\([0-9]*\).*/\1/p' "$tmp/stack/connection.json" | head -1)

# The devices the load tool connects as (Azure SAS from each device's key).
: >"$tmp/devices"
for i in $(seq 0 $((clients - 1))); do
  "$coffre" hub device create "load-$i" --dir "$tmp/stack" >/dev/null
  key=$("$coffre" hub device connection-string "load-$i" --dir "$tmp/stack" | sed 's/.*SharedAccessKey=\([^;]*\).*/\1/')
  echo "load-$i $key" >>"$tmp/devices"
done

# Mosquitto with the same certificate, a password, persistence on.
mosq_port=$((base + 50))
mkdir -p "$tmp/mosq"
mosquitto_passwd -c -b "$tmp/mosq/passwd" load secret >/dev/null 2>&1
cat >"$tmp/mosq/mosquitto.conf" <<CONF
user $(id -un)
listener $mosq_port 127.0.0.1
certfile $tmp/stack/tls/server.pem
keyfile $tmp/stack/tls/server-key.pem
allow_anonymous false
password_file $tmp/mosq/passwd
persistence true
persistence_location $tmp/mosq/
max_inflight_messages 0
max_queued_messages 1000000
CONF
mosquitto -c "$tmp/mosq/mosquitto.conf" >"$tmp/mosq/log" 2>&1 &
mosq_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$mosq_port) 2>/dev/null && break
  sleep 0.05
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)
json() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2"; }

# run NAME PID ARGS...: one load run against a broker; prints its line, sets r_* values.
run() {
  local name=$1 pid=$2
  shift 2
  local t0 t1 out
  t0=$(cpu_ticks "$pid")
  out=$("$load" --ca-file "$ca" --clients "$clients" --count "$count" --seconds "$seconds" "$@")
  t1=$(cpu_ticks "$pid")
  r_rate=$(json msgs_per_s "$out")
  r_p99=$(json p99_ms "$out")
  r_msgs=$(json messages "$out")
  r_tool=$(json tool_cpu_s "$out")
  r_cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$ticks_per_s" -v n="$r_msgs" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
  printf '  %-10s %9s msgs/s  p99 %7s ms  broker CPU %6s us/msg  (load tool CPU %s s)\n' \
    "$name" "$r_rate" "$r_p99" "$r_cpu_us" "$r_tool"
}

scenario() {
  local title=$1
  shift
  echo "$title"
  run coffre "$hub_pid" --port "$mqtt_port" --devices-file "$tmp/devices" "$@"
  local c_rate=$r_rate c_p99=$r_p99 c_cpu=$r_cpu_us
  run mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret "$@"
  awk -v cr="$c_rate" -v mr="$r_rate" -v cp="$c_p99" -v mp="$r_p99" -v cc="$c_cpu" -v mc="$r_cpu_us" \
    'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
     BEGIN { printf "  ratios: msgs/s %s, p99 %s, CPU per message %s (coffre / mosquitto)\n", ratio(cr, mr), ratio(cp, mp), ratio(cc, mc) }'
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $count messages per run, $clients clients, 256 B, TLS"
scenario "QoS 1, one PUBLISH per write:" --qos 1 --size 256 --inflight 32
scenario "QoS 1, writes coalesced:" --qos 1 --size 256 --inflight 32 --coalesce
# QoS 0 has no acknowledgement: msgs/s is what the tool wrote, not what the broker stored.
scenario "QoS 0 (send side):" --qos 0 --size 256 --inflight 64

# Many clients at a fixed rate: the latency target (p99 at most 20 ms).
many=1000 rate=20000 many_count=200000
[ $quick = 1 ] && many=100 rate=2000 many_count=2000
owner=$(sed -n 's/.*"service_connection_string": *"\([^"]*\)".*/\1/p' "$tmp/stack/connection.json")
https_port=$(field https_port)
echo "$many clients at a fixed $rate msgs/s, QoS 1:"
clients=$many count=$many_count
run coffre "$hub_pid" --port "$mqtt_port" --owner "$owner" --https-port "$https_port" \
  --qos 1 --size 256 --inflight 8 --rate "$rate"
c_p99=$r_p99
run mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret \
  --qos 1 --size 256 --inflight 8 --rate "$rate"
awk -v cp="$c_p99" -v mp="$r_p99" 'BEGIN { printf "  p99: coffre %s ms, mosquitto %s ms (target: coffre at most 20 ms)\n", cp, mp }'

# Idle TLS connections: connects per second, CPU per connect, and memory per idle connection.
conns=10000
[ $quick = 1 ] && conns=100
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# connect NAME PID ARGS...: sets c_rate c_cpu_ms c_rss_kb
connect() {
  local name=$1 pid=$2
  shift 2
  local out="$tmp/connect-$name" rss0 rss1 t0 t1
  "$load" --ca-file "$ca" --clients "$conns" --connect-only --hold 3 --seconds 300 "$@" >"$out" 2>&1 &
  local tool=$!
  for _ in $(seq 6000); do grep -q '^ready' "$out" && break; kill -0 $tool 2>/dev/null || break; sleep 0.05; done
  rss0=$(rss_kb "$pid"); t0=$(cpu_ticks "$pid")
  for _ in $(seq 6000); do grep -q '^all-connected' "$out" && break; kill -0 $tool 2>/dev/null || break; sleep 0.05; done
  sleep 0.5
  rss1=$(rss_kb "$pid"); t1=$(cpu_ticks "$pid")
  wait $tool || { cat "$out"; return 1; }
  local line
  line=$(grep '^{' "$out")
  c_rate=$(json connects_per_s "$line")
  c_cpu_ms=$(awk -v t=$((t1 - t0)) -v hz="$ticks_per_s" -v n="$conns" 'BEGIN { printf "%.3f", t / hz * 1000 / n }')
  c_rss_kb=$(awk -v a="$rss0" -v b="$rss1" -v n="$conns" 'BEGIN { printf "%.1f", (b - a) / n }')
  printf '  %-10s %6s connects/s  broker CPU %6s ms/connect  RSS %6s KB per idle connection\n' \
    "$name" "$c_rate" "$c_cpu_ms" "$c_rss_kb"
}
echo "$conns idle TLS connections:"
connect coffre "$hub_pid" --port "$mqtt_port" --owner "$owner" --https-port "$https_port"
cr=$c_rate cc=$c_cpu_ms cm=$c_rss_kb
connect mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret
awk -v cr="$cr" -v mr="$c_rate" -v cc="$cc" -v mc="$c_cpu_ms" -v cm="$cm" -v mm="$c_rss_kb" \
  'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
   BEGIN { printf "  ratios: connects/s %s, CPU per connect %s, RSS per connection %s (coffre / mosquitto)\n", ratio(cr, mr), ratio(cc, mc), ratio(cm, mm) }'
