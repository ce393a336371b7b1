"""Small reports that must be written when the disk may be full: space set aside early, overwritten in place.

Overwriting blocks a file already holds needs no new space (tmpfs, ext4, xfs), so a report written with
`overwrite` into a file `reserve` made at the start succeeds on a full disk. No heavy imports: the trainer's own
process uses this too.
"""

from __future__ import annotations

import os
from pathlib import Path


def reserve(path: Path, size: int) -> bool:
    """Set aside `size` bytes at `path` now; it holds spaces (as JSON: blank, not a report). False if no room."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        overwrite(path, b" " * size)
        return True
    except OSError:
        return False  # already full: the report will fall back to stderr


def overwrite(path: Path, data: bytes) -> None:
    """Write `data` over the start of `path` (created if missing), cut it to that length, fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
