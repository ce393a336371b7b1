"""Hostile object keys and unreachable endpoints: refused or handled, never written outside the target."""

from __future__ import annotations

from pathlib import Path

import pytest

from launcher.storage.errors import TransferFailed
from launcher.storage.sync_engine import raise_on_failures
from tests.launcher.helpers import FIXTURES, run_cli
from tests.storage.test_traversal import sync_listing

KEYS = {
    "x" * 300 + ".bin": b"name too long for the file system",
    "deep/" + "/".join(["d"] * 60) + "/leaf.txt": b"deep but legal",
    "ünïcode/日本語 with spaces.txt": b"unicode",
    "..hidden-but-legal..txt": b"dots inside a name are fine",
    "trailing/../../../../up.txt": b"evil",
}


def test_long_deep_unicode_and_climbing_keys(tmp_path: Path) -> None:
    target = tmp_path / "sandbox" / "target"
    target.mkdir(parents=True)

    report = sync_listing(KEYS, target)
    with pytest.raises(TransferFailed) as info:
        raise_on_failures(report)
    assert "\n" not in str(info.value)
    written = {p.relative_to(target).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {k: v for k, v in KEYS.items() if k.startswith(("deep/", "ünïcode/", "..hidden"))}
    assert report.failed == 2


@pytest.mark.parametrize("command", [["data", "ls", "s3://bucket/x/"], ["data", "sync", "s3://bucket/x/", "/tmp/unused-target"]])
def test_unreachable_endpoint_is_one_clear_line(command: list[str]) -> None:
    result = run_cli(*command, env={"S3_ENDPOINT": "http://127.0.0.1:9", "LAUNCHER_S3_MAX_ATTEMPTS": "2"}, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("launcher: error:")]
    assert len(errors) == 1 and "127.0.0.1:9" in errors[0]
    assert "Traceback" not in result.stderr


def test_job_with_unreachable_data_fails_before_training(tmp_path: Path) -> None:
    env = {"S3_ENDPOINT": "http://127.0.0.1:9", "LAUNCHER_S3_MAX_ATTEMPTS": "2"}
    result = run_cli("submit", str(FIXTURES / "toy_counter.yaml"), "--data_url", "s3://bucket/data/",
                     "--train_url", str(tmp_path / "out"), env=env, timeout=180)
    assert result.returncode == 75, result.stdout + result.stderr  # EXIT_INFRA: an outage is restartable, not bad input
    assert "127.0.0.1:9" in result.stdout and "toy: step" not in result.stdout
