#!/usr/bin/env python3
"""A bounded soak of a local stack: resources stay flat while devices come and go.

For --minutes (default 30), on loopback:
  - --devices MQTT devices (default 2,000) in groups of 200: up to three groups at a time connect
    (bench/mqtt_load: a TLS handshake storm), send QoS 1 telemetry at 0.5 msg/s each for 10 to 40
    s, and disconnect; the next group is picked at random;
  - --twin-devices devices (default 20) connect with the Azure device SDK, read their twin,
    patch reported properties and disconnect, again and again (twin_patchers.js);
  - the customer key is rotated every --rotate-every seconds (default 180), and disabled for 10 s
    once, half way (every device is cut off, then comes back);
  - the hub keeps 5 minutes of telemetry in 4 MiB segments, so its disk use levels off.
Every 5 s the hub's RSS, open file descriptors, threads and data directory size are sampled
into --samples (CSV). Eight times in the run the groups' senders are killed (their devices
drop without a DISCONNECT) and, 3 s later, a quiet sample is taken with only the twin devices
about: the quiet samples after the warm-up (the first quarter) must stay within their bounds of
the first of them (RSS 10% + 16 MiB, fds 10% + 64, threads + 4, disk 10% + 32 MiB). One JSON
line with the figures is printed; exit 1 if a bound is passed or nothing was stored.
plot_soak.py draws the samples (docs/RELIABILITY.md).

usage: soak.py COFFRE MQTT_LOAD [--minutes M] [--devices N] [--twin-devices T]
                                 [--rotate-every S] [--samples FILE] [--seed S]
"""
import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

GROUP = 200


def run(args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def sample(pid, data_dir):
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    rss_kb = int(status["VmRSS"].split()[0])
    threads = int(status["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    disk = 0
    for root, _, files in os.walk(data_dir):
        for name in files:
            try:
                disk += os.stat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return rss_kb * 1024, fds, threads, disk


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("coffre")
    ap.add_argument("mqtt_load")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--twin-devices", type=int, default=20)
    ap.add_argument("--rotate-every", type=float, default=180)
    ap.add_argument("--samples", default="")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    if (not 0.5 <= a.minutes <= 120 or not GROUP <= a.devices <= 20000 or a.devices % GROUP or
            not 0 <= a.twin_devices <= 200 or not 10 <= a.rotate_every <= 3600):
        sys.exit("--minutes 0.5..120, --devices a multiple of 200 up to 20000, "
                 "--twin-devices 0..200, --rotate-every 10..3600")
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="coffre-soak-")
    stack = os.path.join(work, "s")
    loads, twins = {}, None
    figures = {"seed": a.seed, "minutes": a.minutes, "devices": a.devices,
               "twin_devices": a.twin_devices, "group_runs": 0, "rotations": 0,
               "disable_enable": 0, "samples": 0}
    rows = []
    try:
        ports = 20000 + rng.randrange(11000)
        run([a.coffre, "up", "--dir", stack, "--ports-from", str(ports), "--key-size", "2048",
             "--hub-arg=--retention-minutes=5", "--hub-arg=--segment-mb=4",
             "--hub-arg=--throttle-registry-ops-per-second=0"])
        with open(os.path.join(stack, "connection.json")) as f:
            conn = json.load(f)
        hub_pid, ca = conn["pids"]["hub"], conn["ca_file"]
        data_dir = os.path.join(stack, "hub", "data")

        devices_file = os.path.join(work, "devices")
        run([a.mqtt_load, "--ca-file", ca, "--clients", str(a.devices), "--create-only",
             "--id-prefix", "soak-", "--owner", conn["service_connection_string"],
             "--https-port", str(conn["https_port"]), "--keep-devices-file", devices_file])
        with open(devices_file) as f:
            lines = f.read().splitlines()
        groups = []
        for g in range(len(lines) // GROUP):
            path = f"{devices_file}.{g}"
            with open(path, "w") as f:
                f.write("\n".join(lines[g * GROUP:(g + 1) * GROUP]) + "\n")
            os.chmod(path, 0o600)
            groups.append(path)

        if a.twin_devices:
            twin_file = os.path.join(work, "twin-devices")
            with open(twin_file, "w") as f:
                for i in range(a.twin_devices):
                    d = f"soak-twin-{i}"
                    run([a.coffre, "hub", "device", "create", d, "--dir", stack])
                    cs = run([a.coffre, "hub", "device", "connection-string", d, "--dir",
                              stack]).stdout.strip()
                    f.write(f"{d} {cs}\n")
            here = os.path.dirname(os.path.abspath(__file__))
            env = dict(os.environ, NODE_PATH=os.path.join(here, "..", "compat", "node_modules"))
            twins = subprocess.Popen(["node", os.path.join(here, "twin_patchers.js"), ca, twin_file,
                                      str(int(a.minutes * 60))], stdout=subprocess.PIPE,
                                     text=True, env=env)

        start = time.monotonic()
        deadline = start + a.minutes * 60
        next_sample, next_rotation = start, start + a.rotate_every
        disable_at = start + a.minutes * 30
        quiet_every = a.minutes * 60 / 8
        next_quiet = start + quiet_every
        quiet = []  # (seconds, rss, fds, threads, disk)
        while time.monotonic() < deadline:
            now = time.monotonic()
            for g, proc in list(loads.items()):
                if proc.poll() is not None:
                    del loads[g]
            while len(loads) < min(3, max(1, len(groups) - 1)) and now + 10 < deadline:
                g = rng.choice([i for i in range(len(groups)) if i not in loads])
                seconds = min(rng.uniform(10, 40), deadline - now)
                loads[g] = subprocess.Popen(
                    [a.mqtt_load, "--ca-file", ca, "--port", str(conn["mqtt_port"]),
                     "--devices-file", groups[g], "--clients", str(GROUP), "--qos", "1",
                     "--size", "256", "--per-client-rate", "0.5", "--count", "100000000",
                     "--seconds", f"{seconds:.1f}", "--connecting", "50"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                figures["group_runs"] += 1
            if now >= next_rotation:
                run([a.coffre, "vault", "key", "rotate", "hub-cmk", "--dir", stack])
                figures["rotations"] += 1
                next_rotation += a.rotate_every
            if disable_at and now >= disable_at:
                run([a.coffre, "vault", "key", "disable", "hub-cmk", "--dir", stack])
                time.sleep(10)
                run([a.coffre, "vault", "key", "enable", "hub-cmk", "--dir", stack])
                figures["disable_enable"] += 1
                disable_at = 0
            if now >= next_quiet:
                for proc in loads.values():
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                loads.clear()
                time.sleep(3)  # the hub sees the sockets close
                quiet.append((round(time.monotonic() - start, 1), *sample(hub_pid, data_dir)))
                next_quiet += quiet_every
                continue
            if now >= next_sample:
                rss, fds, threads, disk = sample(hub_pid, data_dir)
                rows.append((round(now - start, 1), rss, fds, threads, disk))
                next_sample += 5
            time.sleep(0.2)
        for proc in loads.values():
            proc.wait(60)
        if twins is not None:
            out, _ = twins.communicate(timeout=120)
            twins = None
            figures["twin"] = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        figures["samples"] = len(rows)
        if a.samples:
            with open(a.samples, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["seconds", "rss_bytes", "fds", "threads", "disk_bytes", "quiet"])
                w.writerows([(*r, 0) for r in rows] + [(*q, 1) for q in quiet])

        # The quiet samples after the warm-up, against the first of them.
        after = [q for q in quiet if q[0] >= a.minutes * 60 / 4]
        if len(after) < 2:
            raise RuntimeError(f"too few quiet samples after the warm-up ({len(after)})")
        figures["quiet"] = [list(q) for q in quiet]
        bounds = {"rss_bytes": (1, 1.10, 16 << 20), "fds": (2, 1.10, 64), "threads": (3, 1.0, 4),
                  "disk_bytes": (4, 1.10, 32 << 20)}
        failed = []
        for name, (i, ratio, extra) in bounds.items():
            first = after[0][i]
            figures[name] = {"first_quiet": first, "last_quiet": after[-1][i],
                             "max_quiet": max(q[i] for q in after),
                             "max_busy": max(r[i] for r in rows)}
            for q in after[1:]:
                if q[i] > first * ratio + extra:
                    failed.append(f"{name}: {q[i]} at {q[0]} s, {first} at the first quiet sample")
                    break
        total = run([a.coffre, "hub", "storage", "show", "--dir", stack, "--output", "json"])
        parts = json.loads(total.stdout)["partitions"]
        figures["telemetry_kept"] = sum(p["end"] - p["begin"] for p in parts)
        figures["telemetry_end"] = sum(p["end"] for p in parts)
        if figures["telemetry_end"] == 0:
            failed.append("no telemetry was stored")
        verify = run([a.coffre, "hub", "verify", "--dir", stack], check=False)
        figures["verify_ok"] = verify.returncode == 0
        if verify.returncode != 0:
            failed.append("coffre hub verify: " + verify.stdout[-400:])
        print(json.dumps(figures))
        if failed:
            print("FAIL: " + "; ".join(failed), file=sys.stderr)
            sys.exit(1)
    except Exception as e:  # noqa: BLE001 - reported with the figures so far
        print(json.dumps(figures), file=sys.stderr)
        print(f"FAIL: {e}", file=sys.stderr)
        log = os.path.join(stack, "hub", "hub.log")
        if os.path.exists(log):
            print("".join(open(log, errors="replace").readlines()[-20:]), file=sys.stderr)
        sys.exit(1)
    finally:
        for proc in loads.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        if twins is not None and twins.poll() is None:
            twins.kill()
            twins.wait()
        run([a.coffre, "down", "--dir", stack], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
