#!/usr/bin/env python3
"""Draws a soak's samples (soak.py --samples) as one SVG: the hub's RSS, open file descriptors,
threads and data directory size against time, one panel each; the 5-second samples as a line,
the quiet samples (devices gone) as dots. No plotting library: plain SVG.

usage: plot_soak.py SAMPLES.csv OUT.svg [--title TEXT]
"""
import argparse
import csv

PANELS = [("rss_bytes", "RSS (MiB)", 1 / (1 << 20)), ("fds", "open file descriptors", 1),
          ("threads", "threads", 1), ("disk_bytes", "data directory (MiB)", 1 / (1 << 20))]
W, H, LEFT, RIGHT, TOP, GAP = 760, 150, 70, 20, 40, 40


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("out")
    ap.add_argument("--title", default="coffre-hub during the soak")
    a = ap.parse_args()
    with open(a.samples) as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    if not rows:
        raise SystemExit("no samples")
    t_max = max(r["seconds"] for r in rows) or 1
    height = TOP + len(PANELS) * (H + GAP)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{height}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">{a.title}</text>']
    for n, (key, label, scale) in enumerate(PANELS):
        top = TOP + n * (H + GAP)
        values = [r[key] * scale for r in rows]
        hi = max(values) * 1.1 or 1
        x = lambda t: LEFT + (W - LEFT - RIGHT) * t / t_max  # noqa: E731
        y = lambda v: top + H - H * v / hi  # noqa: E731, B023
        out.append(f'<rect x="{LEFT}" y="{top}" width="{W - LEFT - RIGHT}" height="{H}" '
                   'fill="none" stroke="#999"/>')
        out.append(f'<text x="{LEFT}" y="{top - 6}">{label}</text>')
        for frac in (0, 0.5, 1):
            v = hi * frac
            out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.0f}</text>')
        for m in range(0, int(t_max // 60) + 1, max(1, int(t_max // 60) // 6 or 1)):
            out.append(f'<text x="{x(m * 60):.1f}" y="{top + H + 14}" text-anchor="middle">'
                       f'{m} min</text>')
        busy = [r for r in rows if not r.get("quiet")]
        points = " ".join(f"{x(r['seconds']):.1f},{y(r[key] * scale):.1f}" for r in busy)
        out.append(f'<polyline points="{points}" fill="none" stroke="#3060c0" stroke-width="1.2"/>')
        for r in rows:
            if r.get("quiet"):
                out.append(f'<circle cx="{x(r["seconds"]):.1f}" cy="{y(r[key] * scale):.1f}" '
                           'r="3" fill="#c03030"/>')
    out.append(f'<text x="{W - RIGHT}" y="{height - 8}" text-anchor="end">blue: every 5 s; '
               'red: quiet samples (the sending devices gone)</text>')
    out.append("</svg>")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
