#!/usr/bin/env python3
"""Where a build's time went, from its .ninja_log.

Usage: scripts/build_times.py [BUILD_DIR] [--top N]
Reads the steps of BUILD_DIR/.ninja_log (the last run of each output) and ninja's graph, and
prints: the sum of the steps' durations, the N slowest steps, and the N translation units whose
longest chain of dependent steps (the TU's compile, then the archives and links that wait on it)
is longest, i.e. the critical path of the build with unlimited cores. Durations are wall times of
each step: on a machine shared with other builds they grow with the load; compare CPU time
(`/usr/bin/time`) for that.
"""
import argparse, os, subprocess, sys
from functools import lru_cache

ap = argparse.ArgumentParser()
ap.add_argument("build", nargs="?", default="build/release")
ap.add_argument("--top", type=int, default=10)
args = ap.parse_args()

steps = {}
with open(os.path.join(args.build, ".ninja_log")) as f:
    for line in f:
        if line.startswith("#"):
            continue
        start, end, _, out, _ = line.rstrip("\n").split("\t")
        steps[out] = (int(start), int(end))
if not steps:
    sys.exit("no steps in .ninja_log")

# One query for every logged output: its inputs (explicit, implicit and order-only) and the
# outputs that use it.
q = subprocess.run(["ninja", "-C", args.build, "-t", "query", *steps], capture_output=True,
                   text=True, check=True).stdout
inputs, users, node, section = {}, {}, None, None
for line in q.splitlines():
    if not line.startswith(" "):
        node = line.rstrip(":")
        inputs.setdefault(node, set()); users.setdefault(node, set())
    elif line.strip().startswith("input:"):
        section = "in"
    elif line.strip() == "outputs:":
        section = "out"
    else:
        name = line.strip().lstrip("|").strip()
        (inputs if section == "in" else users)[node].add(name)

def dur(n):
    s = steps.get(n)
    return (s[1] - s[0]) / 1000 if s else 0.0

def neighbours(table, n):
    if n not in table:  # a phony node between two logged steps
        r = subprocess.run(["ninja", "-C", args.build, "-t", "query", n], capture_output=True,
                           text=True).stdout.splitlines()
        table_in, table_out, sec = set(), set(), None
        for line in r[1:]:
            s = line.strip()
            if s.startswith("input:"): sec = "in"; continue
            if s == "outputs:": sec = "out"; continue
            (table_in if sec == "in" else table_out).add(s.lstrip("|").strip())
        inputs[n], users[n] = table_in, table_out
    return table[n]

sys.setrecursionlimit(10000)
@lru_cache(None)
def after(n):  # longest chain of steps that wait on n, n excluded
    return max((dur(u) + after(u) for u in neighbours(users, n)), default=0.0)

tus = [o for o in steps if o.endswith(".o")]
total = sum(dur(o) for o in steps)
first = min(s[0] for s in steps.values()); last = max(s[1] for s in steps.values())
print(f"{len(steps)} steps ({len(tus)} compiles): sum of step durations {total:.1f} s, "
      f"compiles {sum(dur(o) for o in tus):.1f} s, first start to last end {(last-first)/1000:.1f} s")
print(f"\nslowest {args.top} steps (s):")
for o in sorted(steps, key=dur, reverse=True)[:args.top]:
    print(f"  {dur(o):7.1f}  {o}")
print(f"\ncritical path, unlimited cores: the {args.top // 2} TUs with the longest chain "
      "(compile + the archives and links after it), s:")
chains = sorted(((dur(o) + after(o), o) for o in tus), reverse=True)
for length, o in chains[:max(1, args.top // 2)]:
    print(f"  {length:7.1f}  ({dur(o):5.1f} compile)  {o}")
