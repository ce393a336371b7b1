"""entry.failure.classify on real errors: what the user must fix is 2, storage or disk trouble is EXIT_INFRA."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from entry.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INFRA, EXIT_STOPPED
from entry.failure import classify, describe_error
from launcher import storage
from launcher.errors import UserError
from launcher.paths import objects_root
from launcher.storage import Interrupted, StorageError


def raised(call) -> BaseException:  # noqa: ANN001
    with pytest.raises(BaseException) as caught:
        call()
    return caught.value


def test_an_unreachable_endpoint_is_infrastructure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("LAUNCHER_S3_MAX_ATTEMPTS", "1")
    error = raised(lambda: storage.ls("s3://bucket/checkpoints/"))
    assert isinstance(error, StorageError)  # a UserError, which the entry used to exit 2 on
    assert classify(error) == EXIT_INFRA
    sync_error = raised(lambda: storage.sync("s3://bucket/data/", "/tmp/never-written"))
    assert classify(sync_error) == EXIT_INFRA


def test_wrong_credentials_and_unknown_buckets_are_the_users_to_fix(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert classify(raised(lambda: storage.ls(f"s3://{s3}-nope/x/", recursive=True))) == EXIT_BAD_INPUT
    monkeypatch.setenv("SECRET_ACCESS_KEY", "not-the-key")
    refused = raised(lambda: storage.ls(f"s3://{s3}/x/"))
    assert classify(refused) == EXIT_BAD_INPUT and "refused" in str(refused)


def test_os_errors_by_errno_and_a_copy_blocked_by_a_file_in_the_way(tmp_path: Path) -> None:
    assert classify(UserError("hyperparameters: steps must be > 0")) == EXIT_BAD_INPUT
    assert classify(OSError(errno.ENOSPC, "No space left on device", "/cache/x")) == EXIT_INFRA
    assert classify(OSError(errno.EIO, "Input/output error")) == EXIT_INFRA
    assert classify(FileNotFoundError(errno.ENOENT, "No such file or directory")) == EXIT_FAILED
    assert classify(ValueError("a bug")) == EXIT_FAILED
    assert classify(Interrupted("interrupted by SIGTERM")) == EXIT_STOPPED
    # A real TransferFailed whose files failed on the disk side (a file is in the way of a folder: not transient).
    source = objects_root() / "b" / "src"
    (source / "d").mkdir(parents=True)
    (source / "d" / "f.txt").write_text("x")
    target = tmp_path / "t"
    target.mkdir()
    (target / "d").write_text("a file where a folder must go")
    failed = raised(lambda: storage.sync("obs://b/src/", str(target)))
    assert classify(failed) == EXIT_BAD_INPUT, str(failed)


def test_describe_error_is_one_line_with_the_os_words_and_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_TOKEN", "tok-123456789")
    text = describe_error(OSError(errno.ENOSPC, "No space left on device", "/cache/tok-123456789/x"))
    assert text == "OSError: No space left on device: /cache/***/x"
    assert describe_error(RuntimeError("two\nlines")) == "RuntimeError: two lines"
