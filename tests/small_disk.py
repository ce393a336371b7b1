"""Small real filesystems for disk tests (mounting needs root, as CI has; skipped with the reason elsewhere): a
tmpfs of a given size for a full disk, a ramfs for a filesystem without fallocate."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest


@contextmanager
def mounted(folder: Path, kind: str, *options: str) -> Iterator[Path]:
    """Mount a filesystem of `kind` ("tmpfs", "ramfs") at `folder` (made here) for the block; unmounted after."""
    folder.mkdir()
    flags = ["-o", ",".join(options)] if options else []
    done = subprocess.run(["mount", "-t", kind, *flags, kind, str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {kind} here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def small_tmpfs(folder: Path, size: str) -> AbstractContextManager[Path]:
    """A tmpfs of `size` (e.g. "1m") at `folder`, for the block."""
    return mounted(folder, "tmpfs", f"size={size}")
