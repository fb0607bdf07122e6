#!/usr/bin/env python3
"""Random crashes of a local stack while devices send: nothing acknowledged is lost.

Each iteration: devices send telemetry over the hub's HTTPS device API (each message numbered,
an acknowledgement is the 204), over MQTT through the Azure device SDK (mqtt_senders.js: an
acknowledgement is the PUBACK) and over AMQP through it (--amqp-devices: the disposition; the
SDK dials port 5671, so the harness then runs the stack on the default ports, in a network
namespace of its own, which needs root: elsewhere it says so and goes on without AMQP devices);
at a random moment the hub is killed with SIGKILL, and in some
iterations the vault too, or the customer key is rotated just before, or a device that sends
too is being erased (`POST /$coffre/erasures`) when the kill comes; the stack is started again
(`coffre up` starts what is not running), and then:
  - every acknowledged message reads back through the read API, once, in its device's order;
  - an erased device's messages read as erasure markers, all of them, if its erasure was
    answered (or finished at the restart), else all of them as sent; an erasure cut short is
    asked again and must then take them all;
  - `coffre hub verify` finds no integrity break (the chains, the sealed heads and the metadata
    digests agree).
Meanwhile the hub's other stored state is written too (state_workloads.py), and checked after
each restart:
  - twin patches: one device patches its reported properties over MQTT (the SDK), the service
    its desired ones (PATCH /twins/{id}); each property holds its last acknowledged value or a
    later one sent, and no $version went back or lost an acknowledged patch;
  - C2D: the service enqueues (POST .../messages/devicebound), the device receives and completes
    over HTTPS (GET, DELETE .../{etag}); every acknowledged enqueue was completed with a 204, is
    still delivered, or was in a complete left unanswered; nothing completed with a 204 is back;
  - the registry: devices created (PUT /devices/{id}) and some deleted again (DELETE): each
    acknowledged create exists with its generation id unless an acknowledged delete followed,
    each acknowledged delete is gone.
Bounded: --iterations (default 3) and --seconds per iteration of sending; loopback only.
Prints one JSON line with the figures (docs/RELIABILITY.md); exit 1 on the first loss.

usage: crash_harness.py COFFRE [--iterations N] [--seed S] [--devices D] [--mqtt-devices M]
                          [--amqp-devices A] [--seconds T]
"""
import argparse
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by ctest
import state_workloads as sw  # noqa: E402 - after the line above


def run(args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


class Stack:
    def __init__(self, coffre, directory, port):
        self.coffre, self.dir = coffre, directory
        # A 2048-bit customer key: rotations make a new one, quickly enough on a busy machine.
        # Port None: the default ports (in a network namespace of the harness's own).
        ports = ["--ports-from", str(port)] if port is not None else []
        run([coffre, "up", "--dir", directory, *ports, "--key-size", "2048"])
        self.reload()

    def reload(self):
        with open(os.path.join(self.dir, "connection.json")) as f:
            self.conn = json.load(f)

    def up(self):
        run([self.coffre, "up", "--dir", self.dir])
        self.reload()

    def down(self):
        run([self.coffre, "down", "--dir", self.dir], check=False)
        for pid in self.conn.get("pids", {}).values():  # should `coffre down` itself have failed
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    ours = self.dir.encode() in f.read()
                if ours:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def hub(self, *args, check=True):
        return run([self.coffre, "hub", *args, "--dir", self.dir], check=check)

    def https(self):
        ctx = ssl.create_default_context(cafile=self.conn["ca_file"])
        return http.client.HTTPSConnection("localhost", int(self.conn["https_port"]), timeout=10,
                                           context=ctx)

    def kill(self, component):
        pid = self.conn["pids"][component]
        os.kill(pid, signal.SIGKILL)
        for _ in range(500):  # reaped by its parent, or gone
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            if open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z":
                return
            time.sleep(0.01)
        raise RuntimeError(f"{component} (pid {pid}) did not die")


class Sender(threading.Thread):
    """One device: sends numbered messages until told to stop; records the acknowledged ones."""

    def __init__(self, stack, device, token, first):
        super().__init__(daemon=True)
        self.stack, self.device, self.token, self.next = stack, device, token, first
        self.acked, self.stop = [], threading.Event()

    def run(self):
        conn = None
        while not self.stop.is_set():
            n = self.next
            self.next += 1  # never sent again: an unacknowledged message may or may not be stored
            try:
                if conn is None:
                    conn = self.stack.https()
                body = json.dumps({"device": self.device, "n": n})
                conn.request("POST", f"/devices/{self.device}/messages/events?api-version=2021-04-12",
                             body=body, headers={"Authorization": self.token,
                                                 "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status == 204:
                    self.acked.append(n)
                else:
                    time.sleep(0.05)
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()


class MqttSenders:
    """mqtt_senders.js: devices sending over MQTT through the Azure device SDK."""

    def __init__(self, ca_file):
        here = os.path.dirname(os.path.abspath(__file__))
        # The checkout's own packages, or where NODE_PATH says (a worktree without them).
        env = dict(os.environ, NODE_PATH=os.environ.get(
            "NODE_PATH", os.path.join(here, "..", "compat", "node_modules")))
        self.proc = subprocess.Popen(["node", os.path.join(here, "mqtt_senders.js"), ca_file],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.acked, self.next, self.paused = {}, {}, threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            words = line.split()
            with self.lock:
                if words[:1] == ["acked"]:
                    self.acked.setdefault(words[1], []).append(int(words[2]))
                elif words[:1] == ["next"]:
                    self.next[words[1]] = int(words[2])
                elif words[:1] == ["paused"]:
                    self.paused.set()

    def _send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def start(self, cs, device, transport="mqtt"):
        with self.lock:
            first = self.next.get(device, 0)
        self._send(f"start {cs} {device} {first} {transport}")

    def pause(self):
        self.paused.clear()
        self._send("pause")
        if not self.paused.wait(60):
            raise RuntimeError("the MQTT senders did not stop within 60 s")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def get_twin(stack, token, device):
    conn = sw.Connection(stack, token)
    try:
        status, _, body = conn.request("GET", f"/twins/{device}?api-version=2021-04-12")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET /twins/{device}: {status} {body[:200]!r}")
    return json.loads(body)


def erase(stack, device):
    """POST /$coffre/erasures for `device`; True once the hub answered 200."""
    token = stack.hub("generate-sas-token").stdout.strip()
    try:
        conn = stack.https()
        conn.request("POST", "/$coffre/erasures?api-version=2021-04-12",
                     body=json.dumps({"deviceId": device}),
                     headers={"Authorization": token, "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status == 200
    except (OSError, http.client.HTTPException):
        return False


def read_all(stack):
    """Every stored message as (device, n), partition by partition, in order; n is None for a
    message whose device was erased."""
    token = stack.hub("generate-sas-token").stdout.strip()
    conn = stack.https()
    headers = {"Authorization": token}

    def get(path):
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:400]!r}")
        return json.loads(body)

    out = []
    for p in get("/telemetry/partitions?api-version=2021-04-12")["partitions"]:
        at, end = p["beginSequence"], p["endSequence"]
        while at < end:
            page = get(f"/telemetry/partitions/{p['id']}/messages?from={at}&max=1000"
                       "&api-version=2021-04-12")
            if not page["messages"]:
                raise RuntimeError(f"partition {p['id']}: nothing at {at} before {end}")
            for m in page["messages"]:
                if "erased" in m:
                    out.append((m["deviceId"], None))
                    continue
                body = json.loads(m["body"])
                out.append((body["device"], body["n"]))
            at = int(page["nextOffset"])
    conn.close()
    return out


def own_network_namespace():
    """Runs this harness again in a network namespace of its own (a loopback whose default ports
    nobody holds), where the machine allows: root, unshare and ip. None if it does not (then the
    reason); else does not return."""
    if os.environ.get("COFFRE_OWN_NETNS"):
        return None
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return "the AMQP devices need the default ports: root, unshare and ip"
    if subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode != 0:
        return "the AMQP devices need a network namespace, which this machine refuses"
    os.execvp("unshare", ["unshare", "--net", "env", "COFFRE_OWN_NETNS=1", "bash", "-c",
                          'ip link set lo up && exec "$0" "$@"', sys.executable, *sys.argv])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("coffre")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--devices", type=int, default=4, help="sending over HTTPS")
    ap.add_argument("--mqtt-devices", type=int, default=2, help="sending over MQTT")
    ap.add_argument("--amqp-devices", type=int, default=0, help="sending over AMQP (default ports)")
    ap.add_argument("--seconds", type=float, default=1.5, help="longest sending before a kill")
    a = ap.parse_args()
    if (not 1 <= a.iterations <= 1000 or not 1 <= a.devices <= 64 or
            not 0 <= a.mqtt_devices <= 64 or not 0 <= a.amqp_devices <= 64 or
            not 0.1 <= a.seconds <= 60):
        sys.exit("--iterations 1..1000, --devices 1..64, --mqtt-devices 0..64, --amqp-devices "
                 "0..64, --seconds 0.1..60")
    amqp_skipped = own_network_namespace() if a.amqp_devices else None
    if amqp_skipped:
        print(f"without AMQP devices: {amqp_skipped}", file=sys.stderr)
        a.amqp_devices = 0
    rng = random.Random(a.seed)
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="coffre-crash-")
    stack = None
    mqtt = None
    figures = {"seed": a.seed, "iterations": 0, "hub_kills": 0, "vault_kills": 0, "rotations": 0,
               "erasures": 0, "erasures_cut_short": 0, "erasures_finished_at_restart": 0,
               "acknowledged": 0,
               "acknowledged_over_mqtt": 0, "acknowledged_over_amqp": 0, "checked_each_time": 0,
               "lost": 0, "duplicated": 0,
               "twin_reported_acked": 0, "twin_desired_acked": 0, "twin_patches_checked": 0,
               "twin_unacknowledged": 0, "twin_lost": 0,
               "c2d_enqueued": 0, "c2d_enqueues_unanswered": 0, "c2d_completed": 0,
               "c2d_complete_unanswered": 0, "c2d_delivered_after_restart": 0, "c2d_checked": 0,
               "c2d_lost": 0, "c2d_completed_came_back": 0,
               "devices_created": 0, "devices_deleted": 0, "registry_unacknowledged": 0,
               "creates_checked": 0, "deletes_checked": 0, "registry_lost": 0}
    try:
        stack = Stack(a.coffre, os.path.join(work, "s"),
                      None if a.amqp_devices else 20000 + rng.randrange(12000))
        devices = [f"crash-{i}" for i in range(a.devices)]
        for d in devices:
            stack.hub("device", "create", d)
        tokens = {d: stack.hub("generate-sas-token", "--device-id", d, "--duration", "86400")
                  .stdout.strip() for d in devices}
        mqtt_devices = [f"crash-mqtt-{i}" for i in range(a.mqtt_devices)]
        amqp_devices = [f"crash-amqp-{i}" for i in range(a.amqp_devices)]
        transport = {d: "amqp" for d in amqp_devices}
        mqtt_devices += amqp_devices  # the same SDK process drives both
        for d in mqtt_devices:
            stack.hub("device", "create", d)
        connection_strings = {d: stack.hub("device", "connection-string", d).stdout.strip()
                              for d in mqtt_devices}
        # The service's token (iothubowner) for twins, C2D and the registry; a day outlasts a run.
        service_token = stack.hub("generate-sas-token", "--duration", "86400").stdout.strip()
        twin_device, c2d_device = "crash-twin", "crash-c2d"
        for d in (twin_device, c2d_device):
            stack.hub("device", "create", d)
        connection_strings[twin_device] = stack.hub("device", "connection-string",
                                                    twin_device).stdout.strip()
        tokens[c2d_device] = stack.hub("generate-sas-token", "--device-id", c2d_device,
                                       "--duration", "86400").stdout.strip()
        twin_check = sw.TwinCheck(twin_device, get_twin(stack, service_token, twin_device))
        desired_acked, desired_next, desired_top_version = [], 0, 0
        c2d_numbers = itertools.count()
        registry = sw.Registry("crash-reg-")
        mqtt = MqttSenders(stack.conn["ca_file"])  # the twin's device patches through it
        acked = {d: [] for d in devices}
        next_n = {d: 0 for d in devices}
        erased = set()  # devices whose erasure was answered
        for it in range(a.iterations):
            # 0: the hub; 1: the vault, then the hub; 2: a key rotation, then the hub; 3: the hub
            # while a device that sends is being erased
            kind = it % 4
            victim = None
            if kind == 3:
                victim = f"crash-victim-{it}"
                stack.hub("device", "create", victim)
                tokens[victim] = stack.hub("generate-sas-token", "--device-id", victim,
                                           "--duration", "86400").stdout.strip()
                acked[victim], next_n[victim] = [], 0
            senders = [Sender(stack, d, tokens[d], next_n[d]) for d in devices + ([victim] if victim else [])]
            for s in senders:
                s.start()
            for d in mqtt_devices:
                mqtt.start(connection_strings[d], d, transport.get(d, "mqtt"))
            mqtt.start(connection_strings[twin_device], twin_device, "twin")
            desired = sw.DesiredPatcher(stack, service_token, twin_device, desired_next)
            c2d_sender = sw.C2dSender(stack, service_token, c2d_device, c2d_numbers)
            c2d_completer = sw.C2dCompleter(stack, tokens[c2d_device], c2d_device)
            # 8 creates a round at most, spread over the longest round: a hundred rounds keep the
            # registry listable in one page.
            churn = sw.RegistryChurn(stack, service_token, registry,
                                     random.Random(rng.random()), 8, a.seconds / 8)
            workers = [desired, c2d_sender, c2d_completer, churn]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.1, a.seconds))
            answered = []
            if kind == 3:
                eraser = threading.Thread(target=lambda: answered.append(erase(stack, victim)))
                eraser.start()
                # An erasure takes 50-300 ms (it compacts the metadata store): kills land before,
                # inside and after it.
                time.sleep(rng.uniform(0, 0.5))
                figures["erasures"] += 1
            if kind == 2:
                run([a.coffre, "vault", "key", "rotate", "hub-cmk", "--dir", stack.dir])
                figures["rotations"] += 1
                time.sleep(rng.uniform(0, 0.6))  # the hub rewraps its root key within 500 ms
            if kind == 1:
                stack.kill("vault")
                figures["vault_kills"] += 1
                time.sleep(rng.uniform(0, 0.3))
            stack.kill("hub")
            figures["hub_kills"] += 1
            for s in senders + workers:
                s.stop.set()
            for s in senders:
                s.join(30)
                acked[s.device] += s.acked
                next_n[s.device] = s.next
            for w in workers:
                w.join(30)
                if w.is_alive():
                    raise RuntimeError(f"{type(w).__name__} did not stop within 30 s")
            desired_acked += desired.acked
            desired_next = desired.next
            desired_top_version = max(desired_top_version, desired.top_version)
            stack.up()
            if kind == 3:
                eraser.join(30)
                if answered == [True]:
                    erased.add(victim)
                else:
                    figures["erasures_cut_short"] += 1
            time.sleep(rng.uniform(0, 0.5))  # the devices reconnect and send on meanwhile
            mqtt.pause()
            with mqtt.lock:
                for d in mqtt_devices:
                    acked[d] = sorted(mqtt.acked.get(d, []))
                reported_acked = list(mqtt.acked.get(twin_device, []))
                reported_next = mqtt.next.get(twin_device, 0)
            stored = read_all(stack)
            seen = {}
            for d, n in stored:
                seen.setdefault(d, []).append(n)
            if victim is not None and victim not in erased:
                # Cut short: either it finished at the restart (every message a marker) or it
                # had not begun (every message as sent); asked again, it must take them all.
                got = seen.get(victim, [])
                if None in got and any(n is not None for n in got):
                    raise RuntimeError(f"{victim}: an interrupted erasure left some messages readable")
                if None in got:
                    figures["erasures_finished_at_restart"] += 1
                if not erase(stack, victim):
                    raise RuntimeError(f"{victim}: the erasure asked again failed")
                erased.add(victim)
                stored = read_all(stack)
                seen = {}
                for d, n in stored:
                    seen.setdefault(d, []).append(n)
            for d in erased:
                got = seen.get(d, [])
                if any(n is not None for n in got) or len(got) < len(acked[d]):
                    raise RuntimeError(f"{d}: erased, yet {sum(n is not None for n in got)} of its "
                                       f"messages read back ({len(got)} stored, {len(acked[d])} acknowledged)")
            for d in devices + mqtt_devices:
                got = seen.get(d, [])
                if got != sorted(got) or len(set(got)) != len(got):
                    figures["duplicated"] += len(got) - len(set(got))
                    raise RuntimeError(f"{d}'s messages are out of order or repeated after iteration {it}")
                have = set(got)
                lost = [n for n in acked[d] if n not in have]
                if lost:
                    figures["lost"] += len(lost)
                    raise RuntimeError(f"{d}: acknowledged messages {lost[:10]} lost in iteration {it} "
                                       f"(seed {a.seed})")
            figures["checked_each_time"] = sum(len(v) for d, v in acked.items() if d not in erased)
            figures["twin_reported_acked"] = len(reported_acked)
            figures["twin_desired_acked"] = len(desired_acked)
            # Patches sent and not acknowledged: cut by a kill (or slow, given up); either way.
            figures["twin_unacknowledged"] = (reported_next - len(reported_acked) +
                                              desired_next - len(desired_acked))
            twin_check.check(get_twin(stack, service_token, twin_device),
                             {"reported": reported_acked, "desired": desired_acked},
                             {"reported": reported_next, "desired": desired_next},
                             desired_top_version, figures)
            sw.check_c2d(stack, tokens[c2d_device], c2d_device, c2d_sender, c2d_completer, figures)
            figures["devices_created"], figures["devices_deleted"] = registry.created, registry.deleted
            sw.check_registry(stack, service_token, registry, figures)
            verify = stack.hub("verify", check=False)
            if verify.returncode != 0:
                raise RuntimeError(f"coffre hub verify after iteration {it}: {verify.stdout}{verify.stderr}")
            figures["iterations"] += 1
        figures["acknowledged"] = sum(len(v) for d, v in acked.items() if d not in erased)
        figures["acknowledged_over_mqtt"] = sum(len(acked[d]) for d in mqtt_devices
                                                if d not in transport)
        figures["acknowledged_over_amqp"] = sum(len(acked[d]) for d in amqp_devices)
        if figures["acknowledged"] == 0:
            raise RuntimeError("nothing was acknowledged: the harness did not bite")
        figures["seconds"] = round(time.monotonic() - started)
        print(json.dumps(figures))
    except Exception as e:  # noqa: BLE001 - reported with the figures so far
        print(json.dumps(figures), file=sys.stderr)
        print(f"FAIL: {e}", file=sys.stderr)
        if stack is not None:
            for log in ("hub/hub.log", "vault/vault.log"):
                path = os.path.join(stack.dir, log)
                if os.path.exists(path):
                    print(f"--- last lines of {log}", file=sys.stderr)
                    print("".join(open(path, errors="replace").readlines()[-20:]), file=sys.stderr)
        sys.exit(1)
    finally:
        if mqtt is not None:
            mqtt.close()
        if stack is not None:
            stack.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
