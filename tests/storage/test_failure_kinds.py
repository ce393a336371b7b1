"""`launcher data` tells what the user must fix (exit 2) from transient infrastructure failures (exit 75),
always in one line: unreachable or failing servers, a listing that is not XML, a full disk, Ctrl-C (130)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from entry.contract import EXIT_BAD_INPUT, EXIT_INFRA
from launcher import storage
from launcher.storage.errors import LocalDiskError, StorageUnavailable
from launcher.storage.profiles import load_profile
from launcher.storage.s3client import S3Client
from launcher.storage.stores import PART_MARK, LocalStore
from tests.launcher.helpers import REPO, run_cli
from tests.reliability.faultproxy import FaultProxy
from tests.storage.helpers import write_tree
from tests.storage.hostile_server import HostileServer
from tests.storage.test_interrupt import assert_no_partial_files, many_files, wait_for_files
from tests.small_disk import small_tmpfs


def error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("launcher: error:")]


def test_unreachable_endpoint_exits_75_in_one_line(tmp_path: Path) -> None:
    env = {"S3_ENDPOINT": "http://127.0.0.1:9", "LAUNCHER_S3_MAX_ATTEMPTS": "2"}
    for command in (["ls", "s3://bucket/x/"], ["sync", "s3://bucket/x/", str(tmp_path / "out")]):
        result = run_cli("data", *command, env=env, timeout=120)
        assert result.returncode == EXIT_INFRA, result.stderr
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and "127.0.0.1:9" in errors[0]


def test_what_the_user_must_fix_exits_2(s3: str, seaweed, tmp_path: Path) -> None:  # noqa: ANN001
    cases = [
        (["ls", "s3://no-such-bucket-here/x/"], {}, "does not exist"),
        (["ls", f"s3://{s3}/x/"], {"SECRET_ACCESS_KEY": "wrong-secret"}, "refused"),
        (["ls", "gs://bucket/x/"], {}, "unsupported URL scheme"),
        (["sync", f"s3://{s3}/../x", str(tmp_path)], {}, "refused"),
    ]
    for command, env, expected in cases:
        result = run_cli("data", *command, env=env, timeout=120)
        assert result.returncode == EXIT_BAD_INPUT, (command, result.stderr)
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and expected in errors[0], (command, errors)
        assert "wrong-secret" not in result.stderr


@pytest.mark.parametrize("fault", ["error", "reset"])
def test_a_server_failing_after_retries_exits_75(
    fault: str, s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    write_tree(tmp_path / "src", {"a.bin": b"a" * 100, "b/c.bin": b"c" * 200})
    storage.sync(str(tmp_path / "src"), f"s3://{s3}/stored")
    with FaultProxy(seaweed.endpoint, fault, failures=1000) as proxy:  # type: ignore[arg-type]
        env = {"S3_ENDPOINT": proxy.endpoint, "LAUNCHER_S3_MAX_ATTEMPTS": "2"}
        result = run_cli("data", "sync", f"s3://{s3}/stored", str(tmp_path / "back"), env=env, timeout=120)
        assert result.returncode == EXIT_INFRA, result.stderr
        assert len(error_lines(result.stderr)) == 1
        # The same in-process: the transient class the entry maps to EXIT_INFRA.
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "2")
        with pytest.raises(StorageUnavailable) as info:
            storage.sync(f"s3://{s3}/stored", str(tmp_path / "back"))
        assert info.value.exit_code == EXIT_INFRA


@pytest.mark.parametrize("command", [["ls", "s3://bucket/x/"], ["sync", "s3://bucket/x/", "OUT"]])
@pytest.mark.parametrize("body", [b"<html><body>502 Bad Gateway</body></html>", b"<?xml version='1.0'?><ListBucketResult><Con"])
def test_a_listing_that_is_not_xml_is_one_line(command: list[str], body: bytes, tmp_path: Path) -> None:
    with HostileServer(200, body, "text/html") as server:
        argv = [str(tmp_path / "out") if a == "OUT" else a for a in command]
        result = run_cli("data", *argv, env={"S3_ENDPOINT": server.endpoint, "LAUNCHER_S3_MAX_ATTEMPTS": "1"})
    assert server.requests, "the command never reached the server"
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "not valid S3 XML" in errors[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_reply_that_is_not_http_is_retried_then_one_line_exit_75() -> None:
    with HostileServer(200, b"", raw=b"SSH-2.0-OpenSSH_9.2\r\n\r\n") as server:
        result = run_cli("data", "ls", "s3://bucket/x/", env={"S3_ENDPOINT": server.endpoint, "LAUNCHER_S3_MAX_ATTEMPTS": "2"})
    assert len(server.requests) == 2  # retried once, as a connection fault
    assert result.returncode == EXIT_INFRA, result.stderr
    assert len(error_lines(result.stderr)) == 1


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root, as CI is; skipped with the reason elsewhere)."""
    with small_tmpfs(tmp_path / "small-disk", "1m") as mount_point:
        yield mount_point


def test_a_large_download_that_cannot_fit_fails_before_any_range_is_fetched(
    s3: str, seaweed, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    big = os.urandom(20 << 20)  # two ranged parts, for the threaded path
    (tmp_path / "big.bin").write_bytes(big)
    storage.copy(str(tmp_path / "big.bin"), f"s3://{s3}/disk/big.bin")
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "5")
    target = small_disk / "data"
    with FaultProxy(seaweed.endpoint, "error", failures=0) as counter:  # counts, injects nothing
        monkeypatch.setenv("S3_ENDPOINT", counter.endpoint)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as info:
            storage.sync(f"s3://{s3}/disk", str(target))
        elapsed = time.monotonic() - started
    message = str(info.value)
    assert "No space left on device" in message and str(target / "big.bin") in message
    assert PART_MARK not in message and "\n" not in message.strip()
    assert info.value.exit_code == EXIT_INFRA
    gets = sum(n for request, n in counter.seen.items() if request.startswith("GET ") and "big.bin" in request)
    assert gets == 0, f"{gets} GETs of big.bin: its space was not reserved before the download began"
    assert elapsed < 5
    assert not [p for p in small_disk.rglob("*") if p.is_file()]  # neither the file nor its temporary part


def test_a_disk_error_mid_download_is_not_retried_as_a_network_fault(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """Where no space could be reserved (a filesystem without fallocate), a write can still find the disk full;
    /dev/full answers every write with ENOSPC. A disk condition stops the range at once: one GET, no retry."""
    size = 3 << 20
    storage.write_bytes(f"s3://{s3}/disk/mid.bin", os.urandom(size))
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "5")
    with FaultProxy(seaweed.endpoint, "error", failures=0) as counter:
        client = S3Client(load_profile(env={**seaweed.env(), "S3_ENDPOINT": counter.endpoint}))
        try:
            with pytest.raises(LocalDiskError, match="No space left on device") as info:
                client.bulk.download_range(s3, "disk/mid.bin", 0, size, "/dev/full", lambda n: None)
        finally:
            client.bulk.close()
    assert "/dev/full" in str(info.value)
    gets = sum(n for request, n in counter.seen.items() if request.startswith("GET ") and "mid.bin" in request)
    assert gets == 1, f"the disk error was retried: {gets} GETs"


def test_a_full_disk_names_the_file_for_small_files_too(small_disk: Path) -> None:
    storage.write_bytes("obs://bucket/d/huge.bin", os.urandom(2 << 20))
    with pytest.raises(StorageUnavailable) as info:
        storage.copy("obs://bucket/d/huge.bin", str(small_disk / "huge.bin"))
    assert "No space left on device" in str(info.value) and str(small_disk / "huge.bin") in str(info.value)
    with pytest.raises(LocalDiskError, match="No space left on device"):
        asyncio.run(LocalStore(str(small_disk)).write("x.bin", os.urandom(2 << 20)))
    assert not list(small_disk.iterdir())


def test_ctrl_c_during_data_sync_is_one_line_exit_130_and_no_partial_file(tmp_path: Path) -> None:
    files = many_files(3000, 2048)
    write_tree(tmp_path / "src", files)
    storage.sync(str(tmp_path / "src"), "obs://bucket/data")
    dst = tmp_path / "dst"
    proc = subprocess.Popen(
        [sys.executable, "-m", "launcher", "data", "sync", "obs://bucket/data", str(dst), "--progress=False"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from an interactive shell: a test runner in the background hands children an ignored SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for_files(dst, 100)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    errors = error_lines(stderr)
    assert len(errors) == 1 and "interrupted" in errors[0]
    done = assert_no_partial_files(dst, files)
    assert 0 < len(done) < len(files)
