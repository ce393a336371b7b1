"""Interrupted transfers: nothing partial under a final name, and a re-run completes without re-sending."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import storage
from tests.seaweed import SeaweedServer
from launcher.storage.errors import TransferFailed
from launcher.storage.stores import PART_MARK
from tests.services import require_weed
from tests.storage.helpers import make_bucket, read_tree, write_tree

REPO = Path(__file__).resolve().parents[2]


def many_files(count: int, size: int) -> dict[str, bytes]:
    return {f"d{i % 7}/e{i % 13}/f{i:05d}.bin": os.urandom(size) for i in range(count)}


def wait_for_files(folder: Path, at_least: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if folder.exists() and sum(1 for p in folder.rglob("*.bin") if p.is_file()) >= at_least:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} files appeared in {folder}")


def assert_no_partial_files(folder: Path, expected: dict[str, bytes]) -> dict[str, bytes]:
    """Every file under its final name is complete; no temporary file is left. Returns what is there."""
    assert not [p for p in folder.rglob("*") if PART_MARK in p.name]
    present = read_tree(folder) if folder.exists() else {}
    for rel, data in present.items():
        assert data == expected[rel], f"{rel} is partial or wrong"
    return present


@pytest.fixture
def own_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeaweedServer]:
    """A server of this test's own, to be stopped and restarted (the shared one must stay up)."""
    require_weed()
    server = SeaweedServer(workdir=str(tmp_path / "seaweed"))
    server.start()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "3")
    make_bucket(server.endpoint, "restart")
    try:
        yield server
    finally:
        server.kill()  # a clean stop after a restart can take seconds; nothing here needs one


@pytest.mark.slow
def test_server_gone_mid_download_then_back(own_server: SeaweedServer, tmp_path: Path) -> None:
    files = many_files(1500, 16 << 10)
    write_tree(tmp_path / "src", files)
    storage.sync(str(tmp_path / "src"), "s3://restart/data")
    dst = tmp_path / "dst"
    outcome: dict[str, BaseException | None] = {}

    def run() -> None:
        try:
            storage.sync("s3://restart/data", str(dst), progress=False)
            outcome["error"] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    wait_for_files(dst, 50)
    own_server.kill()
    worker.join(60)
    assert not worker.is_alive(), "sync did not give up on a dead server"
    assert isinstance(outcome["error"], TransferFailed)
    done = assert_no_partial_files(dst, files)
    assert 0 < len(done) < len(files)

    own_server.start()
    rerun = storage.sync("s3://restart/data", str(dst))
    assert rerun.copied == len(files) - len(done)
    assert rerun.skipped == len(done)
    assert read_tree(dst) == files


@pytest.mark.slow
def test_server_gone_mid_upload_then_back(own_server: SeaweedServer, tmp_path: Path) -> None:
    files = many_files(600, 8 << 10)
    files["big/model.bin"] = os.urandom(48 << 20)  # multipart: its upload is cut mid-way and aborted
    write_tree(tmp_path / "src", files)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            storage.sync(str(tmp_path / "src"), "s3://restart/up", progress=False)
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.4)
    own_server.kill()
    worker.join(60)
    assert failure and isinstance(failure[0], TransferFailed)

    own_server.start()
    before = set(storage.ls("s3://restart/up", recursive=True))
    rerun = storage.sync(str(tmp_path / "src"), "s3://restart/up")
    assert rerun.copied == len(files) - len(before)
    storage.sync("s3://restart/up", str(tmp_path / "back"))
    assert read_tree(tmp_path / "back") == files


# SIGINT as in an interactive shell: a runner started in the background (CI, `cmd &`) hands its children an
# ignored SIGINT, and Python then installs no KeyboardInterrupt handler.
SYNC_SCRIPT = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from launcher import storage
storage.sync(sys.argv[1], sys.argv[2], progress=False)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_sync_leaves_no_partial_file(sig: signal.Signals, tmp_path: Path) -> None:
    files = many_files(3000, 2048)
    write_tree(tmp_path / "src", files)
    # The embedded store: obs:// with no endpoint, the same engine as a real server.
    storage.sync(str(tmp_path / "src"), "obs://bucket/data")
    dst = tmp_path / "dst"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SYNC_SCRIPT, "obs://bucket/data", str(dst)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_files(dst, 100)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    expected = "interrupted by SIGTERM" if sig == signal.SIGTERM else "KeyboardInterrupt"
    assert expected in stderr
    done = assert_no_partial_files(dst, files)
    assert 0 < len(done) < len(files)

    rerun = storage.sync("obs://bucket/data", str(dst))
    assert (rerun.copied, rerun.skipped) == (len(files) - len(done), len(done))
    assert read_tree(dst) == files
