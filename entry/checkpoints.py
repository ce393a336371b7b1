"""Checkpoints that are either complete or invisible.

A checkpoint is a folder `step-<N>` under the checkpoint dir. It is written under a hidden temporary name, its
MANIFEST.json (file names and sizes) is written last, and only then is the folder renamed to its final name.
`latest_checkpoint` trusts a folder only when its manifest is present and every listed file has the listed size,
so a copy interrupted half-way (locally or in the object store) is never resumed from.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "MANIFEST.json"
STATE = "state.json"
_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:09d}"


def save_checkpoint(checkpoint_dir: Path, step: int, write: Callable[[Path], None], state: dict[str, Any]) -> Path:
    """Call `write(folder)` to fill a fresh folder, add state.json and the manifest, then publish it atomically."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir / checkpoint_name(step)
    tmp = checkpoint_dir / f".{checkpoint_name(step)}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    (tmp / STATE).write_text(json.dumps({"step": step, **state}, indent=2))
    files = {p.relative_to(tmp).as_posix(): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
    (tmp / MANIFEST).write_text(json.dumps({"step": step, "files": files}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def is_complete(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        files: dict[str, int] = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size for name, size in files.items())


def latest_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step, or None."""
    if not checkpoint_dir.is_dir():
        return None
    candidates = sorted(
        (int(m.group(1)), p) for p in checkpoint_dir.iterdir() if p.is_dir() and (m := _NAME.match(p.name))
    )
    for _, folder in reversed(candidates):
        if is_complete(folder):
            return folder
    return None


def read_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / STATE).read_text())
