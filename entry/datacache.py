"""The data cache: one process per node syncs data_url in, the others wait; a complete cache is reused.

A cache is complete once its marker (naming the data_url it holds) is written, after the sync succeeded.
A later job on the same node with the same data_url skips the listing altogether (ImageNet has 1.3 M files).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from filelock import FileLock
from loguru import logger

from launcher import storage

MARKER = ".launcher-data-complete"


def _marker(data_dir: Path) -> Path:
    # Beside the folder, not in it: the trainer sees exactly the synced files.
    return data_dir.parent / f"{data_dir.name}{MARKER}"


def is_complete(data_dir: Path, data_url: str) -> bool:
    try:
        return json.loads(_marker(data_dir).read_text())["data_url"] == data_url
    except (OSError, ValueError, KeyError, TypeError):
        return False


def prepare_data(data_url: str, data_dir: Path, timeout: float = 24 * 3600) -> None:
    """Make data_dir a complete copy of data_url, whichever process on this node gets the lock first."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(data_dir.parent / f"{data_dir.name}.lock"), timeout=timeout):
        if is_complete(data_dir, data_url):
            logger.info("data: reusing the complete cache of {} in {}", data_url, data_dir)
            return
        _marker(data_dir).unlink(missing_ok=True)
        report = storage.sync(data_url, str(data_dir))
        logger.info("data: {}", report.summary())
        _marker(data_dir).write_text(json.dumps({"data_url": data_url, "time": time.time()}))
