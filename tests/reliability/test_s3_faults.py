"""Throttling, server errors and connection resets between us and a real S3 server: retried with backoff, then
either everything arrives byte for byte, or the sync fails with a clear error and no partial file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from launcher import storage
from launcher.retry import RetryPolicy
from launcher.storage import StorageError
from tests.reliability.faultproxy import Fault, FaultProxy
from tests.storage.helpers import read_tree, write_tree

FILES = {f"dir{i % 3}/file-{i}.bin": os.urandom(1000 + 97 * i) for i in range(24)}


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["throttle", "error", "reset"])
def test_transient_faults_are_retried_until_everything_arrives(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Fault  # noqa: ANN001
) -> None:
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "5")
    source, back = tmp_path / "source", tmp_path / "back"
    write_tree(source, FILES)
    with FaultProxy(seaweed.endpoint, fault, failures=2) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        storage.sync(str(source), f"s3://{s3}/faults/")
        storage.sync(f"s3://{s3}/faults/", str(back))
    assert read_tree(back) == FILES
    assert proxy.injected >= 2 * len(FILES)  # every upload and every download was hit, and retried


@pytest.mark.parametrize("fault", ["error", "reset"])
def test_persistent_faults_end_in_a_clear_failure_with_nothing_half_written(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: Fault  # noqa: ANN001
) -> None:
    source, back = tmp_path / "source", tmp_path / "back"
    write_tree(source, FILES)
    storage.sync(str(source), f"s3://{s3}/stored/")  # straight to the server: the data is there
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "2")
    with FaultProxy(seaweed.endpoint, fault, failures=1000) as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        with pytest.raises(StorageError) as error:
            storage.sync(f"s3://{s3}/stored/", str(back))
    assert "\n" not in str(error.value).strip()
    assert proxy.forwarded == 0
    assert not back.exists() or read_tree(back) == {}  # no file, complete or partial, under a final name


def test_throttling_waits_as_long_as_the_server_says(
    s3: str, seaweed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    """A 503 SlowDown with Retry-After: both the request loop and the threaded part transfers wait that long (the
    policy's cap still applies), instead of their own short backoff."""
    asked: list[float | None] = []
    delay = RetryPolicy.delay

    def recording(self: RetryPolicy, retry: int, retry_after: float | None = None) -> float:
        asked.append(retry_after)
        return delay(self, retry, retry_after)

    monkeypatch.setattr(RetryPolicy, "delay", recording)
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "3")
    source = tmp_path / "source"
    small = {"a.bin": b"a" * 100, "b/c.bin": b"c" * 200}
    write_tree(source, small)
    (source / "big.bin").write_bytes(os.urandom(17 * 1024 * 1024))  # over the multipart threshold: sent in parts
    with FaultProxy(seaweed.endpoint, "throttle", failures=1, retry_after="1") as proxy:
        monkeypatch.setenv("S3_ENDPOINT", proxy.endpoint)
        storage.sync(str(source), f"s3://{s3}/slowdown/")
    assert proxy.injected >= 4 and len(asked) == proxy.injected
    assert asked == [1.0] * len(asked)
