"""The ranged download's page-cache writes (bulk.py): sliced, from a page-aligned buffer, every byte at its offset.

Large downloads receive each read into a page-aligned buffer per worker (measured: a bytearray's misaligned
bytes cost the kernel's copies system CPU), write it in 32 KiB slices (measured cheaper for the kernel than
1 MiB writes when memory comes cold), and one file's ranges take turns on a lock; none of that may change
what ends up in the file, whatever the sizes and offsets.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launcher.storage import bulk
from launcher.storage.errors import LocalDiskError, StorageError


def test_the_receive_buffer_is_page_aligned_and_writable() -> None:
    buffer = bulk._aligned_buffer(bulk._BUFFER)
    assert len(buffer) == bulk._BUFFER and not buffer.readonly
    assert ctypes.addressof(ctypes.c_char.from_buffer(buffer)) % mmap.PAGESIZE == 0


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 3 * bulk._WRITE_SLICE + 17), offset=st.integers(0, 70_000), start=st.integers(0, 5_000))
def test_a_sliced_write_puts_every_byte_at_its_offset(tmp_path_factory: pytest.TempPathFactory, size: int, offset: int,
                                               start: int) -> None:
    path = tmp_path_factory.mktemp("w") / "f.bin"
    data = os.urandom(size)
    buffer = bulk._aligned_buffer(start + size + 1)  # an mmap cannot be empty
    buffer[start : start + size] = data  # a view into the buffer, as a worker writes what it received
    path.write_bytes(b"\0" * (offset + size + 5))
    fd = os.open(path, os.O_WRONLY)
    try:
        bulk._write_at(fd, buffer[start : start + size], offset, str(path))
    finally:
        os.close(fd)
    written = path.read_bytes()
    assert written[offset : offset + size] == data
    assert written[:offset] == b"\0" * offset and written[offset + size :] == b"\0" * 5


def test_ranges_written_from_many_threads_make_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(8 * 100_003)
    path = tmp_path / "f.bin"
    with open(path, "wb") as fh:
        fh.truncate(len(data))
    lock = threading.Lock()
    fd = os.open(path, os.O_WRONLY)

    def write(start: int) -> None:
        for at in range(start, min(len(data), start + 100_003), 9_999):  # reads of odd sizes, as recv gives them
            piece = memoryview(bytearray(data[at : min(at + 9_999, start + 100_003)]))
            with lock:
                bulk._write_at(fd, piece, at, str(path))

    try:
        threads = [threading.Thread(target=write, args=(n * 100_003,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_a_write_error_is_one_storage_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # not open for writing: EBADF, not a disk condition
    try:
        with pytest.raises(StorageError, match="cannot write .*f.bin") as info:
            bulk._write_at(fd, memoryview(b"abc"), 0, str(path))
        assert not isinstance(info.value, LocalDiskError)
    finally:
        os.close(fd)
