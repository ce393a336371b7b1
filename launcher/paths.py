"""Where the launcher keeps its state: LAUNCHER_HOME (default ~/.launcher)."""

from __future__ import annotations

import os
from pathlib import Path


def launcher_home() -> Path:
    """The state folder; created on first use."""
    home = Path(os.environ.get("LAUNCHER_HOME") or Path.home() / ".launcher").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def objects_root() -> Path:
    """Root of the embedded object store: obs://bucket/key -> objects_root()/bucket/key."""
    return launcher_home() / "objects"


def jobs_root() -> Path:
    """Per-job folders for the local backend (logs, data cache, output)."""
    return launcher_home() / "jobs"
