"""Bring the newest complete checkpoint under train_url back into the job, so a restarted job resumes.

Candidates are `train_url/checkpoints/step-<N>/` folders, newest first. One counts only when, once downloaded,
its manifest (uploaded last by the pusher) lists files that are all there with their sizes.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from loguru import logger

from entry.checkpoints import MANIFEST, is_complete
from launcher import storage
from launcher.storage import StorageError

_STEP = re.compile(r"/?(step-(\d+))/?$")


def _candidates(checkpoints_url: str) -> list[tuple[int, str]]:
    try:
        names = storage.ls(checkpoints_url)
    except StorageError:
        return []
    found = []
    for name in names:
        match = _STEP.search(name.rstrip("/"))
        if match:
            found.append((int(match.group(2)), match.group(1)))
    return sorted(found, reverse=True)


def restore_latest(train_url: str, checkpoint_dir: Path) -> Path | None:
    """Download the newest complete remote checkpoint into checkpoint_dir; its local path, or None."""
    checkpoints_url = train_url.rstrip("/") + "/checkpoints/"
    for step, name in _candidates(checkpoints_url):
        local = checkpoint_dir / name
        if is_complete(local):
            logger.info("restore: step {} is already here", step)
            return local
        if not storage.exists(f"{checkpoints_url}{name}/{MANIFEST}"):
            logger.warning("restore: skipping {}{}: no manifest (upload was cut short)", checkpoints_url, name)
            continue
        partial = checkpoint_dir / f".{name}.restoring"
        shutil.rmtree(partial, ignore_errors=True)
        storage.sync(f"{checkpoints_url}{name}/", str(partial))
        if not is_complete(partial):
            logger.warning("restore: skipping {}{}: files missing or of the wrong size", checkpoints_url, name)
            shutil.rmtree(partial, ignore_errors=True)
            continue
        shutil.rmtree(local, ignore_errors=True)
        partial.rename(local)
        logger.info("restore: resuming from {}{} (step {})", checkpoints_url, name, step)
        return local
    return None
