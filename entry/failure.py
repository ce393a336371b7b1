"""Why a trainer ended badly, in words a user can act on, and failure.json beside the logs."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

FAILURE_FILE = "failure.json"
LAST_LINES = 50
_CGROUP_EVENTS = Path("/sys/fs/cgroup/memory.events")


def oom_kills(events: Path = _CGROUP_EVENTS) -> int | None:
    """The cgroup's oom_kill counter (cgroup v2), or None where it cannot be read."""
    try:
        for line in events.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def describe_exit(returncode: int, oom_before: int | None = None, oom_after: int | None = None) -> str:
    """`returncode` as Popen gives it (negative: killed by that signal)."""
    oom = oom_before is not None and oom_after is not None and oom_after > oom_before
    if returncode in (-signal.SIGKILL, 137):
        return "killed: out of memory (137)" if oom else "killed by SIGKILL (137): out of memory or killed from outside"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"killed by {name} ({128 - returncode})"
    return f"exit code {returncode}"


def exit_code_of(returncode: int) -> int:
    """Shell convention: a signal N becomes 128+N."""
    return returncode if returncode >= 0 else 128 - returncode


def tail(path: Path, lines: int = LAST_LINES) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def write_failure(log_dir: Path, job_id: str, exit_code: int, reason: str, log_file: Path, signal_name: str = "") -> Path:
    path = log_dir / FAILURE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "job_id": job_id,
        "exit_code": exit_code,
        "signal": signal_name or None,
        "reason": reason,
        "time": time.time(),
        "last_log_lines": tail(log_file),
    }
    path.write_text(json.dumps(document, indent=2))
    return path
