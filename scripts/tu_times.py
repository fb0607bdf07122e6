#!/usr/bin/env python3
"""CPU time of compiling translation units, ccache bypassed, one at a time.

Usage: scripts/tu_times.py [--build DIR] [--source-root DIR] [--top N] REGEX...
Compiles every entry of DIR/compile_commands.json whose file matches one of the REGEXes with the
compiler itself (the ccache launcher is dropped), output to a temp file, and prints user+sys CPU
seconds per TU, slowest first. CPU time, not wall time: it does not grow when other jobs share
the cores. --source-root compiles another checkout of the same tree with the same commands (for a
before/after comparison from one build directory).
"""
import argparse, json, os, re, resource, shlex, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--build", default="build/release")
ap.add_argument("--source-root")
ap.add_argument("--top", type=int, default=0)
ap.add_argument("patterns", nargs="+")
args = ap.parse_args()

entries = json.load(open(os.path.join(args.build, "compile_commands.json")))
root = os.path.dirname(os.path.dirname(os.path.abspath(args.build)))
pats = [re.compile(p) for p in args.patterns]
seen, results = set(), []
with tempfile.TemporaryDirectory() as tmp:
    for e in entries:
        rel = os.path.relpath(e["file"], root)
        if rel in seen or not any(p.search(rel) for p in pats):
            continue
        seen.add(rel)
        argv = shlex.split(e["command"])
        if os.path.basename(argv[0]) == "ccache":
            argv = argv[1:]
        if args.source_root:
            argv = [a.replace(root, os.path.abspath(args.source_root)) for a in argv]
        i = argv.index("-o")
        argv[i + 1] = os.path.join(tmp, "tu.o")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(argv, cwd=e["directory"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if r.returncode != 0:
            print(f"FAILED {rel}\n{r.stderr[:2000]}", file=sys.stderr)
        results.append((cpu, rel))
        print(f"{cpu:7.1f} s  {rel}", file=sys.stderr, flush=True)
results.sort(reverse=True)
if args.top:
    results = results[:args.top]
print(f"# CPU seconds per TU (user+sys, ccache bypassed), slowest first; total {sum(c for c,_ in results):.1f} s")
for cpu, rel in results:
    print(f"{cpu:7.1f}  {rel}")
