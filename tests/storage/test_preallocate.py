"""preallocate.py on real filesystems: a large download's space is reserved before its bytes arrive (tmpfs),
a file that cannot fit fails with ENOSPC at once, and a filesystem without fallocate (ramfs) gets a sparse
file of the right size, never glibc's byte-per-block emulation. Mounting needs root, as CI has."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from launcher.storage.preallocate import preallocate
from tests.small_disk import mounted, small_tmpfs

MiB = 1 << 20


def reserve(path: Path, size: int) -> bool:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        return preallocate(fd, size)
    finally:
        os.close(fd)


def test_the_space_is_reserved_and_the_file_has_its_size(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "8m") as disk:
        used_before = shutil.disk_usage(disk).used
        assert reserve(disk / "f.bin", 3 * MiB) is True
        assert shutil.disk_usage(disk).used - used_before >= 3 * MiB  # taken from the disk now, not as written
        found = (disk / "f.bin").stat()
        assert found.st_size == 3 * MiB and found.st_blocks * 512 >= 3 * MiB
        assert (disk / "f.bin").read_bytes() == bytes(3 * MiB)  # reads as zeros until the ranges are written


def test_a_file_that_cannot_fit_is_enospc_before_anything_is_written(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        used_before = shutil.disk_usage(disk).used
        with pytest.raises(OSError) as info:
            reserve(disk / "f.bin", 4 * MiB)
        assert info.value.errno == errno.ENOSPC and "No space left on device" in str(info.value)
        assert shutil.disk_usage(disk).used == used_before  # what was taken on the way is given back


def test_a_filesystem_without_fallocate_gets_a_sparse_file_not_an_emulation(tmp_path: Path) -> None:
    with mounted(tmp_path / "ram", "ramfs") as disk:
        assert reserve(disk / "f.bin", 3 * MiB) is False  # ramfs: EOPNOTSUPP
        found = (disk / "f.bin").stat()
        # glibc's posix_fallocate would have written a byte into every block: pages, and blocks, for all of it.
        assert found.st_size == 3 * MiB and found.st_blocks == 0


def test_an_empty_file_needs_no_reservation(tmp_path: Path) -> None:
    assert reserve(tmp_path / "f.bin", 0) is False
    assert (tmp_path / "f.bin").stat().st_size == 0
