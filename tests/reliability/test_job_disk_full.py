"""The job folder's disk fills up: the failure path still reports why (ENOSPC), pushes, and never raises."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from entry import failure
from launcher.paths import objects_root
from tests.launcher.helpers import FIXTURES, REPO
from tests.small_disk import small_tmpfs

ENTRY = REPO / "entry" / "modelarts_entry_acc.py"
NO_SPACE = os.strerror(errno.ENOSPC)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (needs root, as CI is; skipped with the reason elsewhere)."""
    with small_tmpfs(tmp_path / "small-disk", "2m") as mount_point:
        yield mount_point


def fill(folder: Path) -> None:
    """Write until the file system refuses the next byte."""
    with open(folder / "filler.bin", "wb", buffering=0) as out:
        for size in (1 << 16, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC


def test_write_failure_on_a_full_disk_never_raises_and_says_why(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_dir = small_disk / "output" / "logs"
    log_dir.mkdir(parents=True)
    fill(small_disk)
    written = failure.write_failure(log_dir, "job-1", 1, "RuntimeError: the trainer gave up", tmp_path / "no-log.txt")
    assert written is None  # before: OSError raised out of the failure handler
    err = capsys.readouterr().err
    assert f"cannot write {log_dir / 'failure.json'}" in err and NO_SPACE in err
    assert "RuntimeError: the trainer gave up" in err and len(err.strip().splitlines()) == 1


def test_the_space_reserved_at_the_start_takes_failure_json_on_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    log_dir = small_disk / "output" / "logs"
    log_dir.mkdir(parents=True)
    failure.reserve_report_space(small_disk)
    fill(small_disk)
    log = tmp_path / "log.txt"
    log.write_text("".join(f"line {n}\n" for n in range(200)))
    written = failure.write_failure(log_dir, "job-1", 75, f"OSError: {NO_SPACE}", log)
    assert written == log_dir / "failure.json"
    document = json.loads(written.read_text())
    assert document["reason"] == f"OSError: {NO_SPACE}" and document["last_log_lines"][-1] == "line 199"
    assert not (small_disk / ".failure.json.reserved").exists()


def test_a_trainer_that_fills_the_job_disk_fails_with_the_cause_and_its_outputs_pushed(small_disk: Path) -> None:
    env = {
        **os.environ,
        "LAUNCHER_JOB_ID": "job-1",
        "LAUNCHER_WORK_DIR": str(small_disk / "work"),
        "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(REPO)]),
    }
    data = objects_root() / "toy-bucket" / "data"
    data.mkdir(parents=True)
    (data / "a.txt").write_text("hello\n")
    result = subprocess.run(
        [sys.executable, str(ENTRY), "--data_url=obs://toy-bucket/data/", "--train_url=obs://toy-bucket/full/",
         "--recipe=toy_disk_filler.yaml"],
        cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "entry/boot.py" not in result.stderr  # no traceback out of the boot core's own failure path
    stored = objects_root() / "toy-bucket" / "full"
    document = json.loads((stored / "logs" / "failure.json").read_text())  # before: never written, never pushed
    assert document["exit_code"] == 1 and document["reason"] == f"OSError: [Errno {errno.ENOSPC}] {NO_SPACE}"
    assert (stored / "logs" / "job-1-proc-rank-0-device-0.txt").is_file()
