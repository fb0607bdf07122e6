#!/usr/bin/env python3
"""Tests of scripts/check_layers.py.

Usage: check_layers_test.py CHECK_SCRIPT LAYERS_JSON [unittest args]
  planted: a copy of the real tree's src/ passes, then fails once a src/common file includes
           hubapi, and the failure names that file and line.
  rules:   on a made-up tree: nested folders (longest prefix wins), a dependency's PUBLIC deps are
           reachable, its PRIVATE ones are not, a file outside src/ follows its target's links.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECK, LAYERS = sys.argv[1], sys.argv[2]


def run(layers, root):
    r = subprocess.run([sys.executable, CHECK, layers, "--root", root],
                       capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


class Planted(unittest.TestCase):
    def test_back_include_from_common_fails_and_names_the_file(self):
        with open(LAYERS) as f:
            source_root = json.load(f)["source_root"]
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(source_root, "src"), os.path.join(tmp, "src"))
            code, out = run(LAYERS, tmp)
            self.assertEqual(code, 0, out)  # the copy is clean before the plant

            victim = os.path.join(tmp, "src", "common", "status.cc")
            with open(victim) as f:
                lines = f.read().splitlines(keepends=True)
            lines.insert(1, '#include "hubapi/service_api.h"\n')
            with open(victim, "w") as f:
                f.writelines(lines)
            code, out = run(LAYERS, tmp)
            print(out)
            self.assertNotEqual(code, 0, out)
            self.assertIn('src/common/status.cc:2: includes "hubapi/service_api.h"', out)
            self.assertIn("coffre_common does not link coffre_hubapi", out)


class Rules(unittest.TestCase):
    """A made-up tree: seal <- keys (PUBLIC seal) <- api (PRIVATE keys); app links api."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        self.write("src/vault/seal/seal.h", "")
        self.write("src/vault/keys/keys.h", '#include "vault/seal/seal.h"\n')
        self.write("src/vault/api.cc", '#include "vault/keys/keys.h"\n')
        self.write("app/main.cc", '#include "vault/api.h"\n')
        self.targets = [
            self.target("seal", "src/vault/seal", ["seal.cc"], [], []),
            self.target("keys", "src/vault/keys", ["keys.cc"], ["seal"], ["seal"]),
            self.target("api", "src/vault", ["api.cc"], ["keys"], []),
            self.target("app", "app", ["main.cc"], ["api"], [], "EXECUTABLE"),
        ]

    def write(self, rel, text):
        path = os.path.join(self.tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def target(self, name, folder, srcs, links, public, kind="STATIC_LIBRARY"):
        return {"name": name, "type": kind, "source_dir": os.path.join(self.tmp, folder),
                "sources": srcs, "links": links, "public": public}

    def check(self):
        layers = os.path.join(self.tmp, "layers.json")
        with open(layers, "w") as f:
            json.dump({"source_root": self.tmp, "targets": self.targets}, f)
        return run(layers, self.tmp)

    def test_clean_tree_passes(self):
        code, out = self.check()
        self.assertEqual(code, 0, out)

    def test_public_dep_of_a_link_is_reachable(self):
        self.write("src/vault/api.cc", '#include "vault/seal/seal.h"\n')
        code, out = self.check()
        self.assertEqual(code, 0, out)

    def test_private_dep_of_a_link_is_not(self):
        self.write("app/main.cc", '#include "vault/keys/keys.h"\n')
        code, out = self.check()
        self.assertNotEqual(code, 0, out)
        self.assertIn('app/main.cc:1: includes "vault/keys/keys.h" (folder vault/keys), '
                      "but app does not link keys", out)

    def test_nested_folder_belongs_to_its_own_library(self):
        # seal is below vault, but it is its own library: it may not include its parent's folder.
        self.write("src/vault/seal/seal.h", '#include "vault/api.h"\n')
        code, out = self.check()
        self.assertNotEqual(code, 0, out)
        self.assertIn('src/vault/seal/seal.h:1: includes "vault/api.h" (folder vault)', out)

    def test_file_in_no_library_folder_is_reported(self):
        self.write("src/orphan/x.cc", "")
        code, out = self.check()
        self.assertNotEqual(code, 0, out)
        self.assertIn("src/orphan/x.cc: no library's folder contains this file", out)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
