#!/usr/bin/env bash
# Side by side on this machine, same load tool (bench/mqtt_load), same TLS, loopback only:
# coffre-hub (both encryption layers on, every PUBACK after fdatasync) and Mosquitto from Debian
# (persistence on, which snapshots its queue now and then; its PUBACK is not durable). Prints,
# per scenario, msgs/s, p99 latency and broker CPU per message for each, and the ratios.
#   bench/compare_mosquitto.sh [BUILD_DIR] [--quick] [--fleet N] [--fleet-only] [--idle N]
# --quick: a few thousand messages per run (the test suite's smoke run); else 200,000.
# --fleet N: devices in the many-devices rows (default 10,000; --quick: 40). --fleet-only: only
# those rows (N devices at 1 msg/s each; the reconnect storm, full then resumed handshakes, and
# across a restart). --idle N: idle TLS connections held (default 10,000; the issue's row is
# 50,000, which needs a hard limit of open files above N for the tool and each broker).
# It also runs coffre-hub-plain (the same hub with the customer layer compiled out, built beside
# coffre-hub when benchmarks are on) to show what that layer costs, sustains 1,000,000 messages while counting the bytes each broker wrote to
# disk, and reads every retained message back through the read API.
set -euo pipefail
build=${1:-build/release}
build=$(cd "$build" && pwd)
shift || true
quick=0 fleet= fleet_only=0 idle=10000
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --fleet) fleet=$2; shift ;;
    --fleet-only) fleet_only=1 ;;
    --idle) idle=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
command -v mosquitto >/dev/null || { echo "SKIP: mosquitto is not installed (scripts/setup.sh installs it)"; exit 77; }

coffre="$build/apps/coffre"
load="$build/bench/mqtt_load"
count=200000
seconds=60
[ $quick = 1 ] && count=3000 && seconds=10
clients=16

# Every connection is a file: the load tool, the hub and Mosquitto (started from here) may hold
# as many as the hard limit allows (20,000 on the machine of docs/BENCHMARKS.md).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d)
# The stack without the customer layer (never a runtime option): `coffre up` starts the
# coffre-hub beside it, so the plain hub gets a folder of its own with copies (not links: the CLI
# finds its daemons through /proc/self/exe).
plain_bin="$tmp/plain-bin"
mkdir -p "$plain_bin"
cp "$build/apps/coffre" "$build/apps/coffre-vault" "$plain_bin/"
cp "$build/apps/coffre-hub-plain" "$plain_bin/coffre-hub"
mosq_pid=
fresh_vault=
cleanup() {
  [ -n "$fresh_vault" ] && kill -CONT "$fresh_vault" 2>/dev/null || true
  [ -n "$mosq_pid" ] && kill "$mosq_pid" 2>/dev/null || true
  "$coffre" down --dir "$tmp/stack" >/dev/null 2>&1 || true
  "$plain_bin/coffre" down --dir "$tmp/plain" >/dev/null 2>&1 || true
  "$coffre" down --dir "$tmp/full" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

base=$((20000 + RANDOM % 12000))  # below Linux's ephemeral ports (32768 on), which clients' source ports take
# The registry throttle (100 operations/s by default, Azure's S1 figure) off for this stack: the
# many-devices rows create their 10,000 devices in seconds, not 100 s. Nothing else it limits is
# on a measured path; the connect admission limits (10,000 unauthenticated, 100 per source address)
# stay: the load tool keeps at most 256 handshakes in flight from 64 source addresses.
stack_args=(--hub-arg=--throttle-registry-ops-per-second=0)  # not recorded: again at each start
"$coffre" up --dir "$tmp/stack" --ports-from "$base" "${stack_args[@]}" >/dev/null
# field NAME [STACK_DIR]: a value of the stack's connection.json.
field() { sed -n "s/.*\"$1\": *\"\\{0,1\\}\\([^\",}]*\\).*/\\1/p" "${2:-$tmp/stack}/connection.json" | head -1; }
mqtt_port=$(field mqtt_port)
ca="$tmp/stack/tls/ca.pem"
pid_of() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" "$2/connection.json" | head -1; }
hub_pid=$(pid_of hub "$tmp/stack")

# make_devices STACK_DIR FILE: the devices load-0.. the load tool connects as (Azure SAS from
# each device's key), created through the stack's service API by the load tool itself in one
# run (one message each), their keys kept in FILE.
make_devices() {
  local owner
  owner=$(sed -n 's/.*"service_connection_string": *"\([^"]*\)".*/\1/p' "$1/connection.json")
  "$load" --ca-file "$ca" --clients "$clients" --count 1 --seconds 10 --port "$(field mqtt_port "$1")" \
    --owner "$owner" --https-port "$(field https_port "$1")" --keep-devices-file "$2" >/dev/null
}
make_devices "$tmp/stack" "$tmp/devices"

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
# start_mosquitto: (again) in the background, sets mosq_pid once it listens.
start_mosquitto() {
  mosquitto -c "$tmp/mosq/mosquitto.conf" >>"$tmp/mosq/log" 2>&1 &
  mosq_pid=$!
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/$mosq_port) 2>/dev/null && break
    sleep 0.05
  done
}
start_mosquitto

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)
json() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2"; }

# run NAME PID ARGS...: one load run against a broker; prints its line, sets r_* values. The
# broker's CPU is the tool's reading (--broker-pid) from the last CONNACK to the end: messages
# only, not the connects (nor, with --owner, the devices' creation); so is the tool's own beside.
run() {
  local name=$1 pid=$2
  shift 2
  local out
  out=$("$load" --ca-file "$ca" --clients "$clients" --count "$count" --seconds "$seconds" --broker-pid "$pid" "$@") ||
    { echo "  $name: the load tool failed: $out"; return 1; }
  r_rate=$(json msgs_per_s "$out")
  r_p99=$(json p99_ms "$out")
  r_msgs=$(json messages "$out")
  r_tool=$(json pub_tool_cpu_s "$out")
  r_cpu_us=$(awk -v t="$(json pub_broker_cpu_s "$out")" -v n="$r_msgs" 'BEGIN { printf "%.2f", t * 1e6 / n }')
  r_tool_us=$(awk -v t="$r_tool" -v n="$r_msgs" 'BEGIN { printf "%.2f", t * 1e6 / n }')
  printf '  %-10s %9s msgs/s  p99 %7s ms  broker CPU %6s us/msg  (load tool CPU %s us/msg)\n' \
    "$name" "$r_rate" "$r_p99" "$r_cpu_us" "$r_tool_us"
}

scenario() {
  local title=$1
  shift
  echo "$title"
  run coffre "$hub_pid" --port "$mqtt_port" --devices-file "$tmp/devices" "$@"
  c_rate=$r_rate
  local c_p99=$r_p99 c_cpu=$r_cpu_us
  run mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret "$@"
  awk -v cr="$c_rate" -v mr="$r_rate" -v cp="$c_p99" -v mp="$r_p99" -v cc="$c_cpu" -v mc="$r_cpu_us" \
    'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
     BEGIN { printf "  ratios: msgs/s %s, p99 %s, CPU per message %s (coffre / mosquitto)\n", ratio(cr, mr), ratio(cp, mp), ratio(cc, mc) }'
}

# The many-devices rows: $fleet TLS devices, each with a SAS key of its own (created through the
# service API; Mosquitto: the shared password), first sending 1 message per second each (each at
# its own phase) for 30 s, then reconnecting all at once. --quick: 40 devices at 20 msgs/s for
# a quarter of a second.
[ -z "$fleet" ] && { fleet=10000; [ $quick = 1 ] && fleet=40; }
fleet_rows() {
  local owner per_s=1 pub_s=30 connecting=256
  [ $quick = 1 ] && per_s=20 pub_s=0.25
  owner=$(sed -n 's/.*"service_connection_string": *"\([^"]*\)".*/\1/p' "$tmp/stack/connection.json")
  "$load" --ca-file "$ca" --clients "$fleet" --create-only --id-prefix fleet- --owner "$owner" \
    --https-port "$(field https_port)" --keep-devices-file "$tmp/fleet-devices" >/dev/null
  # run's bounds: every device's messages (count), or the connects and those messages (seconds).
  local clients=$fleet seconds=600 count
  count=$(awk -v n="$fleet" -v r=$per_s -v s=$pub_s 'BEGIN { printf "%d", n * r * s }')
  echo "$fleet TLS devices (SAS, a key each) at $per_s msg/s each, QoS 1, 256 B, $count messages:"
  run coffre "$hub_pid" --port "$mqtt_port" --devices-file "$tmp/fleet-devices" \
    --qos 1 --size 256 --inflight 4 --per-client-rate $per_s --connecting $connecting
  local c_p99=$r_p99 c_cpu=$r_cpu_us
  run mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret --id-prefix fleet- \
    --qos 1 --size 256 --inflight 4 --per-client-rate $per_s --connecting $connecting
  awk -v cp="$c_p99" -v mp="$r_p99" -v cc="$c_cpu" -v mc="$r_cpu_us" \
    'BEGIN { printf "  CPU per message %s (target at most 1.0x); p99 coffre %s ms, mosquitto %s ms (target: coffre at most 20 ms)\n", (mc > 0 ? sprintf("%.2fx", cc / mc) : "-"), cp, mp }'

  echo "Reconnect storm: $fleet devices at once ($connecting handshakes in flight), full handshakes, then again presenting each its TLS session (tickets):"
  storm coffre "$hub_pid" --port "$mqtt_port" --devices-file "$tmp/fleet-devices" --connecting $connecting
  local cf=$s_full cr=$s_resume cfc=$s_full_ms crc=$s_resume_ms
  storm mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret --id-prefix fleet- \
    --connecting $connecting
  awk -v cf="$cf" -v mf="$s_full" -v cr="$cr" -v mr="$s_resume" -v cfc="$cfc" -v mfc="$s_full_ms" -v crc="$crc" -v mrc="$s_resume_ms" \
    'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
     BEGIN { printf "  ratios (coffre / mosquitto): time to all connected %s full, %s resuming (target at most 1.0x); CPU per full connect %s (target at most 1.0x), per resuming connect %s\n", ratio(cf, mf), ratio(cr, mr), ratio(cfc, mfc), ratio(crc, mrc) }'

  echo "Reconnect storm after a restart: $fleet devices connect (full handshakes) and keep their TLS sessions, the broker restarts, all reconnect at once presenting them:"
  restart_storm coffre restart_hub --port "$mqtt_port" --devices-file "$tmp/fleet-devices" --connecting $connecting
  local ct=$rs_seconds cc=$rs_ms
  restart_storm mosquitto restart_mosquitto --port "$mosq_port" --username load --password secret \
    --id-prefix fleet- --connecting $connecting
  awk -v ct="$ct" -v mt="$rs_seconds" -v cc="$cc" -v cf="$cfc" \
    'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
     BEGIN { printf "  time to all connected after the restart: coffre / mosquitto %s (target at most 1.0x); coffre CPU per connect after the restart / per full connect above %s (target at most 0.3x)\n", ratio(ct, mt), ratio(cc, cf) }'
}

# restart_hub / restart_mosquitto: the broker killed (SIGTERM) and started again on its port;
# sets hub_pid / mosq_pid.
restart_hub() {
  local old=$hub_pid
  kill "$old"
  for _ in $(seq 600); do kill -0 "$old" 2>/dev/null || break; sleep 0.05; done  # 30 s at most
  "$coffre" up --dir "$tmp/stack" "${stack_args[@]}" >/dev/null  # starts what is not running
  hub_pid=$(pid_of hub "$tmp/stack")
}
restart_mosquitto() {
  kill "$mosq_pid"
  wait "$mosq_pid" 2>/dev/null || true
  start_mosquitto
}

# restart_storm NAME RESTART ARGS...: every device connects (full handshakes) and keeps its TLS
# session, RESTART restarts the broker, then all connect at once presenting their sessions.
# Prints the round after the restart; sets rs_seconds and rs_ms (broker CPU per connect).
restart_storm() {
  local name=$1 restart=$2 out pid
  shift 2
  out=$("$load" --ca-file "$ca" --clients "$fleet" --storm --seconds 300 --sessions-file "$tmp/sessions" "$@") ||
    { echo "  $name: the load tool failed: $out"; return 1; }
  "$restart"
  pid=$hub_pid
  [ "$name" = mosquitto ] && pid=$mosq_pid
  out=$("$load" --ca-file "$ca" --clients "$fleet" --storm --seconds 300 --resume-from "$tmp/sessions" --broker-pid "$pid" "$@") ||
    { echo "  $name: the load tool failed: $out"; return 1; }
  rm -f "$tmp/sessions"
  rs_seconds=$(json resume_seconds "$out")
  rs_ms=$(awk -v t="$(json resume_broker_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  local tool
  tool=$(awk -v t="$(json resume_tool_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  printf '  %-10s after the restart: all in %6s s, broker CPU %s ms/connect (tool %s); %s of %s resumed\n' \
    "$name" "$rs_seconds" "$rs_ms" "$tool" "$(json resumed "$out")" "$fleet"
}

# storm NAME PID ARGS...: a reconnect storm with --resume; prints the round's figures, sets
# s_full s_resume (seconds to all connected) and s_full_ms s_resume_ms (broker CPU per connect).
storm() {
  local name=$1 pid=$2 out
  shift 2
  out=$("$load" --ca-file "$ca" --clients "$fleet" --storm --resume --seconds 300 --broker-pid "$pid" "$@") ||
    { echo "  $name: the load tool failed: $out"; return 1; }
  s_full=$(json full_seconds "$out") s_resume=$(json resume_seconds "$out")
  s_full_ms=$(awk -v t="$(json full_broker_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  s_resume_ms=$(awk -v t="$(json resume_broker_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  local tf tr
  tf=$(awk -v t="$(json full_tool_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  tr=$(awk -v t="$(json resume_tool_cpu_s "$out")" -v n="$fleet" 'BEGIN { printf "%.3f", t * 1000 / n }')
  printf '  %-10s full: all in %6s s, broker CPU %s ms/connect (tool %s)\n' "$name" "$s_full" "$s_full_ms" "$tf"
  printf '  %-10s resuming: all in %6s s, broker CPU %s ms/connect (tool %s); %s of %s resumed, %s refused (then a full handshake)%s; resumed/full CPU %s (target at most 0.3x)\n' \
    "" "$s_resume" "$s_resume_ms" "$tr" "$(json resumed "$out")" "$fleet" "$(json resume_refused "$out")" \
    "$(sed -n 's/.*"refusal":"\([^"][^"]*\)".*/: \1/p' <<<"$out")" \
    "$(awk -v a="$s_resume_ms" -v b="$s_full_ms" 'BEGIN { print (b > 0 ? sprintf("%.2fx", a / b) : "-") }')"
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $count messages per run, $clients clients, 256 B, TLS"
if [ $fleet_only = 1 ]; then
  fleet_rows
  exit 0
fi
scenario "QoS 1, one PUBLISH per write:" --qos 1 --size 256 --inflight 32
short_rate=$c_rate
scenario "QoS 1, writes coalesced:" --qos 1 --size 256 --inflight 32 --coalesce
# QoS 0: each client ends with a QoS 1 fence; timed until every fence is acknowledged.
scenario "QoS 0 (until each client's trailing QoS 1 fence is acknowledged):" --qos 0 --size 256 --inflight 64

# Encryption cost: the same load against two fresh stacks, one built without the customer layer,
# alternating three times per mode (the best run of each counts: the machine's noise only ever
# slows a run), with the full hub's vault frozen (SIGSTOP) while the full hub runs: no vault call
# is on the message path, so freezing the vault changes nothing inside the hub's grace period.
# up_fresh NAME COFFRE PORTS_FROM: starts (in the background; `wait` for it) a new stack in
# $tmp/NAME with the same CA and certificate. The two come up side by side: most of a start is
# waiting for the daemons to be ready. fresh_stack NAME: its devices in $tmp/NAME-devices; sets
# s_pid, s_vault, s_port.
up_fresh() {
  mkdir -p "$tmp/$1" && cp -r "$tmp/stack/tls" "$tmp/$1/"
  "$2" up --dir "$tmp/$1" --ports-from "$3" >/dev/null &
}
fresh_stack() {
  s_pid=$(pid_of hub "$tmp/$1") s_vault=$(pid_of vault "$tmp/$1") s_port=$(field mqtt_port "$tmp/$1")
  make_devices "$tmp/$1" "$tmp/$1-devices"
}
up_fresh full "$coffre" $((base + 100))  # apart from plain: both pick at once
up_full=$!
up_fresh plain "$plain_bin/coffre" $((base + 60))
up_plain=$!
wait "$up_full"
wait "$up_plain"
fresh_stack full
full_pid=$s_pid full_port=$s_port fresh_vault=$s_vault
fresh_stack plain
plain_pid=$s_pid plain_port=$s_port
rounds=3
[ $quick = 1 ] && rounds=1
for mode in "one PUBLISH per write" "writes coalesced"; do
  extra=()
  [ "$mode" = "writes coalesced" ] && extra=(--coalesce)
  echo "Encryption cost, QoS 1, $mode (the full hub's vault frozen during its runs):"
  best_full=0 best_plain=0 cpu_full=1e9 cpu_plain=1e9
  for _ in $(seq $rounds); do
    kill -STOP "$fresh_vault"
    run "both" "$full_pid" --port "$full_port" --devices-file "$tmp/full-devices" --qos 1 --size 256 --inflight 32 "${extra[@]}"
    kill -CONT "$fresh_vault"
    best_full=$(awk -v a="$best_full" -v b="$r_rate" 'BEGIN { print (b > a ? b : a) }')
    cpu_full=$(awk -v a="$cpu_full" -v b="$r_cpu_us" 'BEGIN { print (b < a ? b : a) }')
    run "infra only" "$plain_pid" --port "$plain_port" --devices-file "$tmp/plain-devices" \
      --qos 1 --size 256 --inflight 32 "${extra[@]}"
    best_plain=$(awk -v a="$best_plain" -v b="$r_rate" 'BEGIN { print (b > a ? b : a) }')
    cpu_plain=$(awk -v a="$cpu_plain" -v b="$r_cpu_us" 'BEGIN { print (b < a ? b : a) }')
  done
  awk -v f="$best_full" -v p="$best_plain" -v cf="$cpu_full" -v cp="$cpu_plain" 'BEGIN { printf "  best: both layers %s msgs/s at %s us/msg, customer layer compiled out %s msgs/s at %s us/msg: %.1f%% fewer msgs/s with it (target: at most 5%%)\n", f, cf, p, cp, (p > 0 ? (1 - f / p) * 100 : 0) }'
done
"$plain_bin/coffre" down --dir "$tmp/plain" >/dev/null
"$coffre" down --dir "$tmp/full" >/dev/null

# Many clients at a fixed rate: the latency target (p99 at most 20 ms).
many=1000 rate=20000 many_count=200000
[ $quick = 1 ] && many=100 rate=4000 many_count=2000
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

# Sustained: a million messages, throughput against the short run's, and the bytes each broker
# caused to be written to disk (/proc/PID/io write_bytes) against the payload bytes.
sustain=1000000
[ $quick = 1 ] && sustain=5000
io_written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
echo "Sustained, $sustain messages, QoS 1, one PUBLISH per write, 16 clients:"
clients=16 count=$sustain seconds=300
for broker in coffre mosquitto; do
  if [ $broker = coffre ]; then
    pid=$hub_pid w0=$(io_written "$hub_pid")
    # --owner: the many-clients run gave load-0.. new keys.
    run coffre "$hub_pid" --port "$mqtt_port" --owner "$owner" --https-port "$https_port" --qos 1 --size 256 --inflight 32
    sustained_rate=$r_rate
  else
    pid=$mosq_pid w0=$(io_written "$mosq_pid")
    run mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret --qos 1 --size 256 --inflight 32
  fi
  w1=$(io_written "$pid")
  awk -v b=$((w1 - w0)) -v n="$r_msgs" -v name=$broker 'BEGIN { printf "  %-10s wrote %.1f MB to disk for %.1f MB of payload: %.2fx the payload bytes\n", name, b / 1e6, n * 256 / 1e6, (n > 0 ? b / (n * 256) : 0) }'
done
awk -v s="$sustained_rate" -v r="$short_rate" 'BEGIN { printf "  coffre sustained %s msgs/s = %.2fx its short run (%s msgs/s; target at least 0.9x; disk target at most 2x the payload)\n", s, (r > 0 ? s / r : 0), r }'

# Reading back: every retained message through the read API, one reader per partition.
echo "Read-back of every retained message through the read API:"
out=$("$build/bench/read_back" --dir "$tmp/stack")
rb_rate=$(json msgs_per_s "$out")
awk -v n="$(json messages "$out")" -v r="$rb_rate" -v s="$sustained_rate" 'BEGIN { printf "  read_back  %d messages at %s msgs/s = %.2fx the sustained ingest rate (target at least 1x)\n", n, r, (s > 0 ? r / s : 0) }'

# Idle TLS connections: connects per second, CPU per connect, and memory per idle connection,
# on both brokers started afresh (their devices made first): heaps that earlier rows grew would
# take the new connections in pages already counted, and the RSS per connection would read low.
# After the sustained row: a restarted hub reads its segments back, the kernel (6.x, ext4) caches
# them in large folios, and every small append then counts a whole folio in /proc/PID/io's
# write_bytes (measured: 489 MB counted, 21 MB written to the disk).
conns=$idle hold=3
# --quick: the readings are taken 0.5 s after the last connect, inside a 1 s hold.
[ $quick = 1 ] && conns=100 hold=1
# Each connection is a file in the tool and in the broker: past the hard limit the row runs with
# what the machine allows, and says so (2026-12: 20,000 on the machine of docs/BENCHMARKS.md).
files=$(ulimit -Hn)
if [ "$files" != unlimited ] && [ "$conns" -gt $((files - 200)) ]; then
  echo "(idle row: $conns connections need more than this machine's hard limit of $files open files per process; holding $((files - 200)))"
  conns=$((files - 200))
fi
"$load" --ca-file "$ca" --clients "$conns" --create-only --id-prefix idle- --owner "$owner" \
  --https-port "$https_port" --keep-devices-file "$tmp/idle-devices" >/dev/null
"$coffre" down --dir "$tmp/stack" >/dev/null
"$coffre" up --dir "$tmp/stack" "${stack_args[@]}" >/dev/null
hub_pid=$(pid_of hub "$tmp/stack")
kill "$mosq_pid"
wait "$mosq_pid" 2>/dev/null || true
start_mosquitto
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# connect NAME PID ARGS...: sets c_rate c_cpu_ms c_rss_kb
connect() {
  local name=$1 pid=$2
  shift 2
  local out="$tmp/connect-$name" rss0 rss1 t0 t1
  "$load" --ca-file "$ca" --clients "$conns" --connect-only --hold "$hold" --seconds 300 "$@" >"$out" 2>&1 &
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
connect coffre "$hub_pid" --port "$mqtt_port" --devices-file "$tmp/idle-devices"
cr=$c_rate cc=$c_cpu_ms cm=$c_rss_kb
connect mosquitto "$mosq_pid" --port "$mosq_port" --username load --password secret
awk -v cr="$cr" -v mr="$c_rate" -v cc="$cc" -v mc="$c_cpu_ms" -v cm="$cm" -v mm="$c_rss_kb" \
  'function ratio(a, b) { return b > 0 ? sprintf("%.2fx", a / b) : "-" }
   BEGIN { printf "  ratios: connects/s %s, CPU per connect %s, RSS per connection %s (coffre / mosquitto)\n", ratio(cr, mr), ratio(cc, mc), ratio(cm, mm) }'

# Last: 10,000 connections grow both brokers' heaps, which the idle-connection row's RSS
# readings above must not start from; and their messages would add to the read-back.
fleet_rows
