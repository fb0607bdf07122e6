"""What crash_harness.py does besides telemetry while the hub is killed: twin patches, C2D
messages and device identities, each with the check that runs after the restart.

Every worker is a thread that runs until the harness sets its stop event (right after the kill),
sends one request at a time over one keep-alive connection, and records what was answered. An
unanswered request may or may not have taken effect; only answered ones are promises. The checks
raise Loss with the figures they counted, so the harness can report them before it fails.
"""
import http.client
import json
import random
import threading
import time
import urllib.parse

API = "api-version=2021-04-12"
KEYS = 4  # properties per twin section: value n goes to key n % KEYS, so each key's values rise


class Loss(Exception):
    """An acknowledged write missing (or a completed message back) after a restart."""


class Connection:
    """One keep-alive HTTPS connection; a request that fails closes it and the next dials again."""

    def __init__(self, stack, token):
        self.stack, self.token, self.conn = stack, token, None

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes); raises OSError / HTTPException when unanswered."""
        try:
            if self.conn is None:
                self.conn = self.stack.https()
            h = {"Authorization": self.token, **(headers or {})}
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                h.setdefault("Content-Type", "application/json")
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            return r.status, r, r.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class Worker(threading.Thread):
    """Calls step() until stopped; a step that is not answered is left behind (never resent)."""

    def __init__(self, stack, token):
        super().__init__(daemon=True)
        self.http = Connection(stack, token)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.step()
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)  # the hub is down or going down
        self.http.close()


class DesiredPatcher(Worker):
    """PATCH /twins/{id} with desired property d{n % KEYS} = n, n rising; a 200 acknowledges it
    and carries the desired section's $version after it."""

    def __init__(self, stack, token, device, first):
        super().__init__(stack, token)
        self.device, self.next = device, first
        self.acked, self.top_version = [], 0

    def step(self):
        n = self.next
        self.next += 1  # never sent again, answered or not
        status, _, body = self.http.request(
            "PATCH", f"/twins/{urllib.parse.quote(self.device)}?{API}",
            {"properties": {"desired": {f"d{n % KEYS}": n}}})
        if status == 200:
            self.acked.append(n)
            self.top_version = max(self.top_version,
                                   json.loads(body)["properties"]["desired"]["$version"])
        else:
            time.sleep(0.05)


class TwinCheck:
    """The twin one device patches (reported, over MQTT) and the service patches (desired).

    After each restart, for each section: every key holds its last acknowledged value or a later
    one that was sent (n rises per key, and one patch is in flight at a time); the section's
    $version rose by at least the patches acknowledged since the last check (each applied patch
    adds one), and the twin's version by at least both."""

    def __init__(self, device, twin):
        self.device = device
        self.versions = self._versions(twin)
        self.counted = {"reported": 0, "desired": 0}  # acknowledged patches already checked

    @staticmethod
    def _versions(twin):
        p = twin["properties"]
        return {"reported": p["reported"]["$version"], "desired": p["desired"]["$version"],
                "twin": twin["version"]}

    def check(self, twin, acked, sent_next, desired_top_version, figures):
        """acked/sent_next: per section ("reported", "desired"), the acknowledged numbers and the
        next number not sent."""
        p = twin["properties"]
        problems = []
        lost = 0
        for section, prefix in (("reported", "r"), ("desired", "d")):
            have = p[section]
            for k in range(KEYS):
                mine = [n for n in acked[section] if n % KEYS == k]
                if not mine:
                    continue
                last, v = max(mine), have.get(f"{prefix}{k}")
                if not (isinstance(v, int) and v % KEYS == k and last <= v < sent_next[section]):
                    lost += 1
                    problems.append(f"{section} {prefix}{k} is {v!r}, last acknowledged {last}")
        now = self._versions(twin)
        new = {s: len(acked[s]) - self.counted[s] for s in ("reported", "desired")}
        need = {"reported": self.versions["reported"] + new["reported"],
                "desired": max(self.versions["desired"] + new["desired"], desired_top_version),
                "twin": self.versions["twin"] + new["reported"] + new["desired"]}
        for what, least in need.items():
            if now[what] < least:
                problems.append(f"{what} $version {now[what]} < {least} "
                                f"(was {self.versions[what]})")
        figures["twin_lost"] += lost
        if problems:
            raise Loss(f"twin {self.device}: " + "; ".join(problems))
        self.versions = now
        self.counted = {s: len(acked[s]) for s in acked}
        figures["twin_patches_checked"] = len(acked["reported"]) + len(acked["desired"])


class C2dSender(Worker):
    """POST /devices/{id}/messages/devicebound, message ids c2d-N; 204 acknowledges it."""

    def __init__(self, stack, token, device, counter):
        super().__init__(stack, token)
        self.device, self.counter = device, counter
        self.enqueued, self.sent, self.unanswered = set(), set(), set()

    def step(self):
        mid = f"c2d-{next(self.counter)}"
        self.sent.add(mid)
        self.unanswered.add(mid)
        status, _, _ = self.http.request(
            "POST", f"/devices/{urllib.parse.quote(self.device)}/messages/devicebound?{API}",
            f"body of {mid}", {"Content-Type": "text/plain", "iothub-messageid": mid})
        self.unanswered.discard(mid)
        if status == 204:
            self.enqueued.add(mid)
        else:
            time.sleep(0.02)  # 403: the queue is full (50)


class C2dCompleter(Worker):
    """The device receives over HTTPS (GET .../devicebound) and completes (DELETE .../{etag});
    a 204 to the DELETE acknowledges the complete."""

    def __init__(self, stack, token, device):
        super().__init__(stack, token)
        self.device = device
        self.completed, self.completing = set(), set()  # 204'd; sent, unanswered

    def step(self):
        mid = receive_and_complete(self.http, self.device, self.completing)
        if mid is None:
            time.sleep(0.01)
        elif mid is not False:
            self.completed.add(mid)


def receive_and_complete(http_conn, device, completing):
    """The next message's id once completed; None if none waits; False if the complete was
    answered with an error. The id stays in `completing` while the complete is unanswered."""
    base = f"/devices/{urllib.parse.quote(device)}/messages/devicebound"
    status, r, body = http_conn.request("GET", f"{base}?{API}")
    if status == 204:
        return None
    if status != 200:
        raise Loss(f"C2D receive for {device}: {status} {body[:200]!r}")
    mid, etag = r.getheader("iothub-messageid"), r.getheader("ETag").strip('"')
    if body != f"body of {mid}".encode():
        raise Loss(f"C2D message {mid} for {device} came with body {body[:100]!r}")
    completing.add(mid)
    status, _, body = http_conn.request(
        "DELETE", f"{base}/{urllib.parse.quote(etag, safe='')}?{API}")
    completing.discard(mid)
    return mid if status == 204 else False


def check_c2d(stack, device_token, device, sender, completer, figures):
    """After a restart: drain the queue; every acknowledged enqueue must have been completed with
    a 204, be delivered now, or have been in a complete left unanswered; nothing completed with a
    204 comes back; nothing is delivered twice."""
    conn = Connection(stack, device_token)
    drained, problems = [], []
    try:
        for _ in range(500):  # at most 50 wait; bounded anyway
            mid = receive_and_complete(conn, device, set())
            if mid is None:
                break
            if mid is False:
                raise Loss(f"C2D complete for {device} refused while draining")
            drained.append(mid)
    finally:
        conn.close()
    back = sorted(set(drained) & completer.completed)
    twice = len(drained) - len(set(drained))
    unknown = sorted(set(drained) - sender.sent)
    lost = sorted(sender.enqueued - completer.completed - set(drained) - completer.completing)
    figures["c2d_enqueued"] += len(sender.enqueued)
    figures["c2d_enqueues_unanswered"] += len(sender.unanswered)
    figures["c2d_completed"] += len(completer.completed)
    figures["c2d_complete_unanswered"] += len(completer.completing)
    figures["c2d_delivered_after_restart"] += len(set(drained) & sender.enqueued)
    figures["c2d_checked"] += len(sender.enqueued)
    figures["c2d_lost"] += len(lost)
    figures["c2d_completed_came_back"] += len(back)
    if back:
        problems.append(f"completed with a 204 before the kill, delivered again: {back[:10]}")
    if twice:
        problems.append(f"{twice} delivered twice while draining")
    if unknown:
        problems.append(f"never sent, delivered: {unknown[:10]}")
    if lost:
        problems.append(f"acknowledged enqueues gone: {lost[:10]}")
    if problems:
        raise Loss(f"C2D for {device}: " + "; ".join(problems))


class Registry:
    """The devices RegistryChurn made, across rounds."""

    def __init__(self, prefix):
        self.prefix, self.next = prefix, 0
        self.state = {}  # id -> its generation id if a create was the last answer; None: deleted
        self.unsettled = set()  # ids whose last request was not acknowledged: either way
        self.created = self.deleted = 0


class RegistryChurn(Worker):
    """Creates devices (PUT /devices/{id}, 200) and deletes about half of them again (DELETE,
    204); at most `limit` creates in a round, so the registry stays listable in one page, one
    every `pace` seconds or so, so that kills land among them all through the round."""

    def __init__(self, stack, token, registry, rng, limit, pace):
        super().__init__(stack, token)
        self.reg, self.rng, self.left, self.pace = registry, rng, limit, pace

    def step(self):
        if self.left == 0:
            time.sleep(0.05)
            return
        self.left -= 1
        reg = self.reg
        did = f"{reg.prefix}{reg.next}"
        reg.next += 1
        path = f"/devices/{urllib.parse.quote(did)}?{API}"
        reg.unsettled.add(did)
        status, _, body = self.http.request("PUT", path, {"deviceId": did})
        if status != 200:
            return  # refused (429 or the like): left unsettled, never checked
        reg.unsettled.discard(did)
        reg.state[did] = json.loads(body)["generationId"]
        reg.created += 1
        time.sleep(0.02)
        if self.rng.random() < 0.5:
            reg.unsettled.add(did)
            status, _, _ = self.http.request("DELETE", path, headers={"If-Match": "*"})
            if status != 204:
                return
            reg.unsettled.discard(did)
            reg.state[did] = None
            reg.deleted += 1
        self.stop.wait(self.rng.uniform(0, 2 * self.pace))


def check_registry(stack, service_token, reg, figures):
    """After a restart: every device whose create was the last answer exists with the generation
    id it was created with; every device whose delete was answered is gone."""
    conn = Connection(stack, service_token)
    try:
        status, _, body = conn.request("GET", f"/devices?top=1000&{API}")
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET /devices: {status} {body[:200]!r}")
    listed = {d["deviceId"]: d["generationId"] for d in json.loads(body)}
    if len(listed) >= 1000:
        raise RuntimeError("1000 devices or more: the check would not see them all")
    lost, back = [], []
    for did, gen in reg.state.items():
        if did in reg.unsettled:
            continue
        if gen is not None and listed.get(did) != gen:
            lost.append(f"{did} ({'missing' if did not in listed else 'another generation'})")
        if gen is None and did in listed:
            back.append(did)
    checked = [g for d, g in reg.state.items() if d not in reg.unsettled]
    figures["creates_checked"] = sum(g is not None for g in checked)
    figures["deletes_checked"] = sum(g is None for g in checked)
    figures["registry_lost"] += len(lost) + len(back)
    if lost or back:
        raise Loss(f"registry: acknowledged creates gone: {lost[:10]}; acknowledged deletes "
                   f"undone: {back[:10]}")
    # An id whose last request was not acknowledged promises nothing: it is checked no more.
    figures["registry_unacknowledged"] += len(reg.unsettled)
    for did in reg.unsettled:
        reg.state.pop(did, None)
    reg.unsettled.clear()
