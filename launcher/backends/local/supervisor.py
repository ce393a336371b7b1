"""Runs one local job to its end: `python -m launcher.backends.local.supervisor JOB_DIR`.

Started detached by LocalBackend.send. It owns the job record's RUNNING -> terminal transitions, so the
record is right even when the CLI that submitted the job is long gone. All ranks share one process group;
when one rank fails the others get SIGTERM at once (fail fast), then SIGKILL after the grace period.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from entry.failure import FAILURE_FILE, describe_exit, exit_code_of
from launcher.backends.local import process
from launcher.backends.local.backend import REQUEST_FILE, LocalRequest
from launcher.jobs import JobState, JobStore

FAIL_FAST_GRACE = 30.0


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _kill_trainers(work_dir: Path) -> None:
    """Trainer groups the entries recorded and could not end themselves (an entry killed with SIGKILL)."""
    for pgid_file in work_dir.glob("trainer-rank-*.pgid"):
        try:
            _kill_group(int(pgid_file.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _start(request: LocalRequest, logs: list) -> list[subprocess.Popen[bytes]]:  # noqa: ANN001 - open log files
    children: list[subprocess.Popen[bytes]] = []
    for rank, log in zip(request.ranks, logs, strict=True):
        # Rank 0 leads a new group in the supervisor's session (a group in another session cannot be joined).
        group = children[0].pid if children else 0
        children.append(
            subprocess.Popen(
                request.argv,
                cwd=request.cwd,
                env={**os.environ, **request.env, **rank.env},
                stdin=subprocess.DEVNULL,
                stdout=log,  # unbuffered child (PYTHONUNBUFFERED) writes straight into its log, line by line
                stderr=subprocess.STDOUT,
                process_group=group,  # one group for all ranks: a stop signals the job and every child it started
            )
        )
    return children


def _wait_all(children: list[subprocess.Popen[bytes]]) -> tuple[int, int]:
    """Wait for every rank; when one fails, SIGTERM the rest. Returns (rank, returncode) of the first failure,
    or (0, 0) when all succeeded."""
    first_failure: tuple[int, int] | None = None
    deadline: float | None = None
    pgid = children[0].pid
    while any(c.returncode is None for c in children):
        for rank, child in enumerate(children):
            if (
                child.returncode is None
                and child.poll() is not None
                and child.returncode != 0
                and first_failure is None
            ):
                first_failure = (rank, child.returncode)
                if len(children) > 1:
                    _kill_group(pgid, signal.SIGTERM)
                    deadline = time.monotonic() + FAIL_FAST_GRACE
        if deadline is not None and time.monotonic() > deadline:
            _kill_group(pgid, signal.SIGKILL)
        time.sleep(0.1)
    return first_failure or (0, 0)


def _entry_reason(work_dir: Path) -> str | None:
    """The entry's own account of the failure (it knows an exception's message, or that the OOM killer struck)."""
    try:
        return json.loads((work_dir / "output" / "logs" / FAILURE_FILE).read_text())["reason"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def supervise(job_dir: Path) -> int:
    request = LocalRequest.model_validate_json((job_dir / REQUEST_FILE).read_text())
    store = JobStore()
    work_dir = Path(request.env["LAUNCHER_WORK_DIR"])
    with ExitStack() as stack:
        logs = [stack.enter_context(open(r.log_path, "ab", buffering=0)) for r in request.ranks]
        try:
            children = _start(request, logs)
        except OSError as error:
            logs[0].write(f"launcher: cannot start the job: {error}\n".encode())
            store.transition(request.job_id, JobState.FAILED, reason=f"cannot start: {error}")
            return 1
        identity = process.identity(children[0].pid)
        if not store.transition(request.job_id, JobState.RUNNING, handle_update=identity):
            _kill_group(children[0].pid, signal.SIGKILL)  # stopped while PENDING: never let it run
            for child in children:
                child.wait()
            return 0
        failed_rank, returncode = _wait_all(children)
        # Whatever the job left behind (daemons, orphaned workers, trainers of killed entries) ends with it.
        _kill_group(children[0].pid, signal.SIGKILL)
        _kill_trainers(work_dir)
    record = store.get(request.job_id)
    exit_code = exit_code_of(returncode)
    if returncode == 0:  # finished before (or despite) a stop request: the truth is that it succeeded
        store.transition(request.job_id, JobState.SUCCEEDED, exit_code=0)
    elif record.stop_requested:
        store.transition(request.job_id, JobState.STOPPED, exit_code=exit_code, reason="stopped")
    else:
        where = f"rank {failed_rank}: " if len(request.ranks) > 1 else ""
        reason = _entry_reason(work_dir) or describe_exit(returncode)
        store.transition(request.job_id, JobState.FAILED, exit_code=exit_code, reason=where + reason)
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
