"""Housekeeping on the checkpoint folder written by entry.checkpoints (which owns the format)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_STEP_FOLDER = re.compile(r"^step-\d+$")


def prune_checkpoints(checkpoint_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoint folders (names are zero-padded, so name order is step order)."""
    if not checkpoint_dir.is_dir():
        return []
    folders = sorted(p for p in checkpoint_dir.iterdir() if p.is_dir() and _STEP_FOLDER.match(p.name))
    doomed = folders[:-keep] if keep > 0 else folders
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return doomed
