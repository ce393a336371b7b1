"""Why a job ended badly, in words a user can act on: the exit code an error maps to, and failure.json.

`classify` is the one place that decides whether an error is the user's to fix (exit 2: restarting cannot help),
a transient infrastructure failure (EXIT_INFRA: storage unreachable or failing after retries, disk full or
failing; platforms restart the job) or anything else (exit 1). The failure path itself never raises: a job folder
on a full disk still gets its reason logged, and failure.json written wherever a byte still fits.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time
from pathlib import Path

from entry.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INFRA, EXIT_STOPPED, FAILURE_FILE, exit_code_of
from entry.reserved import overwrite, reserve
from launcher.errors import UserError
from launcher.redact import redact
from launcher.storage.errors import Interrupted, StorageError

__all__ = [
    "FAILURE_FILE", "classify", "describe_error", "describe_exit", "exit_code_of", "oom_kills", "overwrite", "reserve",
    "reserve_report_space", "tail", "write_failure",
]

LAST_LINES = 50
_CGROUP_EVENTS = Path("/sys/fs/cgroup/memory.events")

# OS errors a restart (on another node, after the outage) can get past: the disk and the network, not the user.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM, errno.ESTALE, errno.ETIMEDOUT,
        errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
        errno.ENETDOWN, errno.EPIPE,
    }
)


def classify(exc: BaseException) -> int:
    """The entry's exit code for an error that ended the job outside the trainer."""
    if isinstance(exc, Interrupted):  # a sync cancelled by a signal: the job was stopped
        return EXIT_STOPPED
    if isinstance(exc, StorageError):  # the storage layer decides: StorageUnavailable is EXIT_INFRA, the rest 2
        return exc.exit_code
    if isinstance(exc, UserError):
        return EXIT_BAD_INPUT
    if isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS:
        return EXIT_INFRA
    return EXIT_FAILED


def describe_error(exc: BaseException) -> str:
    """One line, secrets masked: `Type: message`, or the OS's words and the path for an OSError."""
    if isinstance(exc, UserError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
        text = f"{type(exc).__name__}: {exc.strerror}" + (f": {where}" if where else "")
    else:
        text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return redact(" ".join(text.split()) or type(exc).__name__)


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


def tail(path: Path, lines: int = LAST_LINES) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except (OSError, ValueError):
        return []


RESERVED_BYTES = 64 * 1024
_reserved: list[Path] = []  # space set aside for failure.json at the start (see reserve_report_space)


def reserve_report_space(work_dir: Path) -> None:
    """Reserve room for failure.json in the job folder (outside the pushed output folder, same file system)."""
    path = work_dir / f".{FAILURE_FILE}.reserved"
    if reserve(path, RESERVED_BYTES):
        _reserved[:] = [path]


def write_failure(
    log_dir: Path, job_id: str, exit_code: int, reason: str, log_file: Path, signal_name: str = ""
) -> Path | None:
    """Write failure.json (secrets masked); never raises. Its path, or None when even that could not be written.

    On a full disk it goes into the space reserved at the start; failing that, the last log lines are dropped;
    failing that, the reason goes to stderr only (which the platform still captures).
    """
    path = log_dir / FAILURE_FILE
    document = {
        "job_id": job_id,
        "exit_code": exit_code,
        "signal": signal_name or None,
        "reason": redact(reason),
        "time": time.time(),
        "last_log_lines": [redact(line) for line in tail(log_file)],
    }
    problem = ""
    for attempt in (document, {**document, "last_log_lines": []}):
        data = json.dumps(attempt, indent=2).encode()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if _reserved and len(data) <= RESERVED_BYTES:
                overwrite(_reserved[0], data)
                os.replace(_reserved.pop(), path)
            else:
                _write_replacing(path, data)
            return path
        except OSError as error:
            problem = describe_error(error)
    _say(f"launcher: cannot write {path} ({problem}); the job failed: {document['reason']}")
    return None


def _write_replacing(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader never sees half a failure.json (written beside it, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        overwrite(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _say(line: str) -> None:
    try:
        sys.stderr.write(redact(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
