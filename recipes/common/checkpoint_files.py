"""Housekeeping on the checkpoint folder written by entry.checkpoints (which owns the format)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from entry.checkpoints import is_complete

_STEP_FOLDER = re.compile(r"^step-\d+$")


def prune_checkpoints(checkpoint_dir: Path, keep: int) -> list[Path]:
    """Delete older checkpoint folders, keeping the newest `keep` *complete* ones (and anything newer than those).

    Names are zero-padded, so name order is step order. A newer folder that is not complete does not count
    towards `keep`: the complete ones behind it are what a restart falls back to.
    """
    if not checkpoint_dir.is_dir():
        return []
    folders = sorted(p for p in checkpoint_dir.iterdir() if p.is_dir() and _STEP_FOLDER.match(p.name))
    if keep > 0:
        complete = [p for p in folders if is_complete(p)]
        if not complete:  # nothing complete yet: keep everything rather than the only copies
            return []
        oldest_kept = complete[max(0, len(complete) - keep)]
        doomed = [p for p in folders if p < oldest_kept]
    else:
        doomed = folders
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return doomed
