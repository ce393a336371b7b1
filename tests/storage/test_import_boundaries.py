"""The SeaweedFS runner (tests/seaweed.py) is test and benchmark code (issue 20): nothing under launcher/ imports
it, nor anything else from tests/, so an installed launcher (which ships no tests/) never needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import launcher

ROOT = Path(launcher.__file__).resolve().parents[1]

# Import every module of the package in one fresh interpreter, then report which test modules got loaded.
_PROBE = """
import importlib, json, pkgutil, sys
import launcher
failed = {}
for info in pkgutil.walk_packages(launcher.__path__, "launcher."):
    if info.name.endswith(".__main__"):
        continue  # `python -m` entry points: importing them is harmless but they are not library modules
    try:
        importlib.import_module(info.name)
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on any
        failed[info.name] = repr(error)
names = sorted(m for m in sys.modules if m.startswith("launcher."))
leaked = sorted(m for m in sys.modules if m == "tests" or m.startswith("tests.") or m.endswith("seaweed"))
print(json.dumps({"imported": names, "failed": failed, "leaked": leaked}))
"""


def test_no_module_of_the_launcher_package_imports_the_tests_or_the_seaweed_runner() -> None:
    # The tree under test first on the path, and not the tests' folder (pytest's rootdir insertion is not inherited).
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["failed"] == {}
    assert "launcher.storage.s3client" in report["imported"]  # the walk really reached the storage package
    assert "launcher.storage.devserver" not in report["imported"]
    assert report["leaked"] == []
