"""`launcher data ...` ends its process as soon as the command is done, skipping the interpreter's teardown
(launcher/__main__.py `_exit_now`, ~0.15 s of a data command on 2 vCPU, bench/cli_startup.py). What a normal
exit guarantees must still hold: every line written reaches a pipe, exit handlers run, exit codes are kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from launcher.paths import objects_root

# Like `python -m launcher`, plus an exit handler registered before the command, as a library would.
_WITH_HANDLER = """
import atexit, sys
marker, sys.argv = sys.argv[1], ["launcher", *sys.argv[2:]]
atexit.register(lambda: open(marker, "w").write("ran"))
from launcher.__main__ import main
main()
"""


def _launcher(*args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH is passed on: the child imports this tree.
    return subprocess.run([sys.executable, "-m", "launcher", *args], env=dict(os.environ), capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_long_listing_reaches_the_pipe_whole() -> None:
    folder = objects_root() / "bucket" / "many"
    folder.mkdir(parents=True)
    names = [f"file-{n:05d}.txt" for n in range(5000)]  # ~150 KB of output: many pipe buffers
    for name in names:
        (folder / name).write_bytes(b"x")
    done = _launcher("data", "ls", "obs://bucket/many/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"obs://bucket/many/{name}" for name in names]


def test_exit_handlers_run_and_a_users_mistake_still_exits_2_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    done = subprocess.run(
        [sys.executable, "-c", _WITH_HANDLER, str(marker), "data", "cp", str(tmp_path / "nothing"), "obs://b/x"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"launcher: error: nothing at {tmp_path / 'nothing'}: no such file or object"]
    assert marker.read_text() == "ran"


def test_a_successful_command_exits_0_after_its_exit_handlers(tmp_path: Path) -> None:
    marker = tmp_path / "handler-ran"
    (tmp_path / "a.txt").write_text("a")
    done = subprocess.run(
        [sys.executable, "-c", _WITH_HANDLER, str(marker), "data", "cp", str(tmp_path / "a.txt"), "obs://b/a.txt"],
        env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert marker.read_text() == "ran"
    assert _launcher("data", "ls", "obs://b/").stdout.split() == ["obs://b/a.txt"]
