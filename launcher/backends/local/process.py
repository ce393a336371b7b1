"""Process identity that survives pid reuse: a pid is only 'ours' if its start time still matches.

Handles store `<prefix>pid`, `<prefix>pgid` and `<prefix>start` (clock ticks since boot, /proc/<pid>/stat field 22).
"""

from __future__ import annotations

import os
import signal
from typing import Any


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            raw = f.read()
    except OSError:
        return None
    # The command name sits in parentheses and may hold spaces: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None  # field 22 overall; 3rd is state


def identity(pid: int, prefix: str = "") -> dict[str, Any]:
    return {f"{prefix}pid": pid, f"{prefix}pgid": os.getpgid(pid), f"{prefix}start": start_time(pid)}


def alive(handle: dict[str, Any], prefix: str = "") -> bool:
    """True while the recorded process runs (zombies and reused pids count as gone)."""
    pid = handle.get(f"{prefix}pid")
    if pid is None:
        return False
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return handle.get(f"{prefix}start") in (None, int(fields[19]))


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_group(handle: dict[str, Any], sig: signal.Signals) -> None:
    """Signal the job's whole process group (trainer children included)."""
    pgid = handle.get("pgid")
    if pgid is None:
        return
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
