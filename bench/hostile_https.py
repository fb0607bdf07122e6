#!/usr/bin/env python3
"""The hub's memory with hostile connections held open on its HTTPS port.

Starts a local stack (`coffre up`) in a temporary directory, then opens N connections to the
hub's HTTPS port from several loopback addresses (127.0.0.2, .3, ...; each is a "source" to
the hub's per-source cap), none of which ever completes a request:
  silent   TCP only, no TLS handshake (held until the handshake deadline)
  slow     TLS done, a request header begun and never finished
  fat      TLS done, 15 KB of header (just under the 16 KB cap) and no end
and prints the hub's resident memory (VmRSS) before, with all of them open, and its peak
(VmHWM), then how many more from one source the per-source cap refuses. Everything targets
127.0.0.x and is bounded in count and time; the stack is stopped at the end.

usage: bench/hostile_https.py BIN_DIR [--connections 2000] [--sources 20] [--ports-from N]
"""

import argparse
import concurrent.futures
import json
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def still_open(sock):
    """True if the server has not closed the connection."""
    try:
        sock.setblocking(False)
        raw = sock if not isinstance(sock, ssl.SSLSocket) else socket.socket(fileno=os.dup(sock.fileno()))
        try:
            data = raw.recv(1, socket.MSG_PEEK)
            return len(data) > 0
        finally:
            if raw is not sock:
                raw.close()
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--sources", type=int, default=20)
    ap.add_argument("--ports-from", type=int, default=31400)
    args = ap.parse_args()
    n = min(args.connections, 5000)  # bounded, whatever is asked
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1000)), hard))

    coffre = os.path.join(args.bin_dir, "coffre")
    with tempfile.TemporaryDirectory(prefix="coffre-hostile-") as d:
        stack = os.path.join(d, "stack")
        subprocess.run([coffre, "up", "--dir", stack, "--ports-from", str(args.ports_from)],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            run(stack, n, args.sources)
        finally:
            subprocess.run([coffre, "down", "--dir", stack], stdout=subprocess.DEVNULL)


def run(stack, n, sources):
    conn = json.load(open(os.path.join(stack, "connection.json")))
    pid = conn["pids"]["hub"]
    port = conn["https_port"]
    ctx = ssl.create_default_context(cafile=conn["ca_file"])
    ctx.check_hostname = False
    time.sleep(1)
    before = rss_kib(pid)

    def source(i):
        return f"127.0.0.{2 + i % sources}"

    def tcp(i):
        s = socket.socket()
        s.bind((source(i), 0))
        s.connect(("127.0.0.1", port))
        return s

    def tls(i, header):
        s = ctx.wrap_socket(tcp(i), server_hostname="localhost")
        s.sendall(header)
        return s

    slow = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
    fat = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Fat: " + b"f" * (15 * 1024)
    held = []
    start = time.time()
    # The TLS ones first (they take longest to open), then the silent ones: all are inside
    # their 10 s deadlines when the memory is read.
    third = n // 3
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(tls, i, slow if i % 2 else fat) for i in range(n - third)]
        for f in futures:
            try:
                held.append(f.result())
            except OSError:
                pass
    for i in range(n - third, n):
        try:
            held.append(tcp(i))
        except OSError:
            pass
    opened = time.time() - start
    time.sleep(0.5)
    with_all = rss_kib(pid)
    alive = sum(1 for s in held if still_open(s))
    peak = rss_kib(pid, "VmHWM")
    print(f"hub RSS before: {before / 1024:.1f} MiB")
    print(f"hub RSS with {alive} of {n} hostile connections open (opened in {opened:.1f} s, "
          f"{sources} sources): {with_all / 1024:.1f} MiB "
          f"(+{(with_all - before) / max(alive, 1):.1f} KiB each); peak {peak / 1024:.1f} MiB")
    for s in held:
        s.close()

    # The per-source cap: one more source, held open until refused.
    time.sleep(1)
    extra = []
    for i in range(200):
        s = socket.socket()
        s.bind(("127.0.0.250", 0))
        s.connect(("127.0.0.1", port))
        extra.append(s)
    time.sleep(0.5)
    refused = sum(1 for s in extra if not still_open(s))
    print(f"200 unproven connections from one source: {200 - refused} held, {refused} refused "
          f"by the per-source cap")
    for s in extra:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
