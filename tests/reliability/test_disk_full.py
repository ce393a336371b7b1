"""A download onto a full disk: a clear error, no corrupt file under a final name, the rest still copied."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher import storage
from launcher.paths import objects_root
from launcher.storage import StorageError
from tests.launcher.helpers import run_cli
from tests.small_disk import small_tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (needs root, as CI is; skipped with the reason elsewhere)."""
    with small_tmpfs(tmp_path / "small-disk", "1m") as mount_point:
        yield mount_point


def seed_store() -> str:
    source = objects_root() / "big" / "data"
    source.mkdir(parents=True)
    (source / "small.bin").write_bytes(os.urandom(100_000))
    (source / "huge.bin").write_bytes(os.urandom(3_000_000))
    return "obs://big/data/"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_sync_onto_a_full_disk_fails_clearly_and_leaves_no_partial_file(small_disk: Path) -> None:
    url = seed_store()
    target = small_disk / "data"
    with pytest.raises(StorageError) as error:
        storage.sync(url, str(target))
    message = str(error.value)
    assert "No space left on device" in message and str(target) in message  # the full side is named
    assert "\n" not in message.strip()
    source = objects_root() / "big" / "data"
    # Files copied in parallel compete for the space: whatever is there under its final name is complete.
    assert "huge.bin" not in leftovers(small_disk)
    for name in leftovers(small_disk):
        assert (target / name).read_bytes() == (source / name).read_bytes()
    (source / "huge.bin").unlink()  # make room (the user's fix), and the re-run completes
    storage.sync(url, str(target))
    assert leftovers(small_disk) == ["small.bin"]


def test_cli_sync_onto_a_full_disk_exits_non_zero_with_one_line(small_disk: Path) -> None:
    url = seed_store()
    result = run_cli("data", "sync", url, str(small_disk / "data"))
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("launcher: error:")]
    # Both files may fail (copied in parallel, they compete for the space): the line names one of them, the
    # cause and the full side.
    assert len(errors) == 1 and "No space left on device" in errors[0] and str(small_disk / "data") in errors[0]
    assert "huge.bin" in errors[0] or "small.bin" in errors[0]
    assert "Traceback" not in result.stderr
    assert "huge.bin" not in leftovers(small_disk)
