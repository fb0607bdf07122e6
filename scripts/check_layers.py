#!/usr/bin/env python3
"""The layering check: a file may include (#include "X/...") only its own folder and the folders
its target links, directly or through a linked library's PUBLIC deps.

Usage:
  scripts/check_layers.py LAYERS_JSON [--root DIR]   check; exit 1 and name each offending line
  scripts/check_layers.py LAYERS_JSON --table        print the targets and their links (Markdown)

LAYERS_JSON is written by CMake at configure time (coffre_write_layers in cmake/Coffre.cmake:
build/release/coffre_layers.json), so the rule is the CMakeLists' link lists, never a copy.
A library's folder is the directory its sources share under src/ (folders may nest:
src/vault/seal). A file under src/ belongs to the library with the longest folder that contains
it; a file elsewhere (apps, tests, fuzz, bench) to the targets that list it. An include names a
folder when its path starts with a library folder (the longest one); other includes (system,
tests/fakes, same directory) are not checked. --root checks another copy of the tree (the
planted-back-include test).
"""
import argparse
import json
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
EXTS = (".h", ".hpp", ".cc", ".cpp", ".ipp", ".inc")


def load(path, root=None):
    with open(path) as f:
        data = json.load(f)
    cmake_root = data["source_root"]
    root = os.path.abspath(root or cmake_root)
    targets = {}
    for t in data["targets"]:
        srcs = []
        for s in t["sources"]:
            p = s if os.path.isabs(s) else os.path.join(t["source_dir"], s)
            p = os.path.normpath(p)
            if os.path.commonpath([p, cmake_root]) == cmake_root:
                srcs.append(os.path.relpath(p, cmake_root))
        targets[t["name"]] = {"type": t["type"], "sources": srcs,
                              "links": t["links"], "public": t["public"]}
    return root, targets


def library_folders(targets):
    """{target: folder under src/} for every library whose sources all lie under src/."""
    folders = {}
    for name, t in targets.items():
        if not t["type"].endswith("_LIBRARY") or not t["sources"]:
            continue
        dirs = [os.path.dirname(s) for s in t["sources"]]
        if not all(d == "src" or d.startswith("src/") for d in dirs):
            continue
        common = os.path.commonpath(dirs)
        if common != "src":
            folders[name] = common[len("src/"):]
    return folders


def longest_folder(path, by_folder):
    """The longest library folder that contains path (a path relative to src/), or None."""
    best = None
    for folder in by_folder:
        if path.startswith(folder + "/") and (best is None or len(folder) > len(best)):
            best = folder
    return best


def reachable(name, targets, folders):
    """Folders a file of target `name` may include: its own, its links', their PUBLIC deps'."""
    allowed = {folders[name]} if name in folders else set()
    seen = set()
    stack = [l for l in targets[name]["links"] if l in targets]
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        if dep in folders:
            allowed.add(folders[dep])
        stack.extend(l for l in targets[dep]["public"] if l in targets)
    return allowed


def includes(path):
    with open(path, errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield n, m.group(1)


def check(root, targets):
    folders = library_folders(targets)
    by_folder = {}
    for name, folder in folders.items():
        by_folder.setdefault(folder, []).append(name)
    errors = []
    for folder, names in by_folder.items():
        if len(names) > 1:
            errors.append(f"src/{folder}: claimed by several targets: {', '.join(sorted(names))}")

    # file (relative to root) -> targets whose rule applies to it
    owners = {}
    src = os.path.join(root, "src")
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(EXTS):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            folder = longest_folder(rel, by_folder)
            path = os.path.join("src", rel)
            if folder is None:
                errors.append(f"{path}: no library's folder contains this file")
                continue
            owners[path] = by_folder[folder]
    for name, t in targets.items():
        for s in t["sources"]:
            if not s.startswith("src/"):
                owners.setdefault(s, []).append(name)

    allowed = {name: reachable(name, targets, folders) for name in targets}
    for path, names in sorted(owners.items()):
        full = os.path.join(root, path)
        if not os.path.exists(full):
            continue
        for line, inc in includes(full):
            folder = longest_folder(inc, by_folder)
            if folder is None:
                continue
            for name in names:
                if folder not in allowed[name]:
                    errors.append(f'{path}:{line}: includes "{inc}" (folder {folder}), but '
                                  f'{name} does not link {"/".join(sorted(by_folder[folder]))} '
                                  f'(directly or through a PUBLIC dep)')
    return errors


def table(targets):
    """The libraries (src/) and programs (apps/) with their links, as a Markdown table."""
    folders = library_folders(targets)

    def short(name):
        return name[len("coffre_"):] if name.startswith("coffre_") else name

    rows = []
    for name, t in targets.items():
        if name in folders:
            where, order = f"src/{folders[name]}", 0
        elif t["sources"] and t["sources"][0].startswith("apps/"):
            where, order = os.path.dirname(t["sources"][0]), 1
        else:
            continue
        public = set(t["public"])
        links = [f"**{short(l)}**" if l in public else short(l) for l in t["links"]]
        rows.append((order, where, name, links))
    print("| target | folder | links (**PUBLIC**: its headers include it) |")
    print("|---|---|---|")
    for _, where, name, links in sorted(rows):
        print(f"| `{short(name)}` | {where} | {', '.join(links) or '-'} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("layers")
    ap.add_argument("--root", help="check this copy of the tree instead of the configured one")
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    root, targets = load(args.layers, args.root)
    if args.table:
        table(targets)
        return 0
    errors = check(root, targets)
    for e in errors:
        print(e)
    if errors:
        print(f"layering: {len(errors)} violation(s); fix the include or the target's DEPS "
              f"(cmake/Coffre.cmake explains DEPS and PUBLIC_DEPS)", file=sys.stderr)
        return 1
    print(f"layering: {len(owners_count(root))} src files and every target's sources checked, OK")
    return 0


def owners_count(root):
    out = []
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        out.extend(f for f in files if f.endswith(EXTS))
    return out


if __name__ == "__main__":
    sys.exit(main())
