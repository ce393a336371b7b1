"""Runs one local job to its end: `python -m launcher.backends.local.supervisor JOB_DIR`.

Started detached by LocalBackend.send. It owns the job record's RUNNING -> terminal transitions, so the
record is right even when the CLI that submitted the job is long gone. The ranks themselves run under the
in-job rank supervisor (entry/ranks.py), as in a Docker container or a Volcano pod: one process group led by
rank 0 (its pgid goes into the job record: the SIGKILL after the grace period goes there), fail fast,
SIGTERM/SIGINT to this process (`launcher stop`'s cancel) forwarded to the group. This process sits outside the
group (in the session LocalBackend.send gave it), so it stays to record the end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from entry.contract import ENV_WORK_DIR, FAILURE_FILE, REQUEST_FILE
from entry.failure import describe_exit
from entry.ranks import RankGroup
from launcher.backends.local import process
from launcher.backends.local.backend import LocalRequest
from launcher.jobs import JobState, JobStore


def _kill_trainers(work_dir: Path) -> None:
    """Trainer groups the entries recorded and could not end themselves (an entry killed with SIGKILL): the
    trainer runs in a session of its own, outside the rank group."""
    for pgid_file in work_dir.glob("trainer-rank-*.pgid"):
        try:
            os.killpg(int(pgid_file.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _entry_reason(work_dir: Path) -> str | None:
    """The entry's own account of the failure (it knows an exception's message, or that the OOM killer struck)."""
    try:
        return json.loads((work_dir / "output" / "logs" / FAILURE_FILE).read_text())["reason"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def supervise(job_dir: Path) -> int:
    request = LocalRequest.model_validate_json((job_dir / REQUEST_FILE).read_text())
    store = JobStore()
    work_dir = Path(request.env[ENV_WORK_DIR])
    group = RankGroup(request.argv, request.ranks, env={**os.environ, **request.env}, cwd=request.cwd)
    with group.forwarding():
        try:
            group.start()
        except OSError as error:
            with open(request.ranks[0].log_path or os.devnull, "ab") as log:
                log.write(f"launcher: cannot start the job: {error}\n".encode())
            store.transition(request.job_id, JobState.FAILED, reason=f"cannot start: {error}")
            return 1
        if not store.transition(request.job_id, JobState.RUNNING, handle_update=process.identity(group.pgid)):
            group.signal(signal.SIGKILL)  # stopped while PENDING: never let it run
            group.wait()
            return 0
        result = group.wait()  # ends with SIGKILL to what is left of the group
        # Still forwarding: a stop that arrives now must not kill this process before it records the end.
        _kill_trainers(work_dir)
        failed_rank, returncode, exit_code = result.rank, result.returncode, result.exit_code
        record = store.get(request.job_id)
        if returncode == 0:  # finished before (or despite) a stop request: the truth is that it succeeded
            store.transition(request.job_id, JobState.SUCCEEDED, exit_code=0)
        elif record.stop_requested:
            store.transition(request.job_id, JobState.STOPPED, exit_code=exit_code, reason="stopped")
        elif group.stop_signal is not None:  # the job's owner was told to stop (a shutdown, a `kill`): so was the job
            reason = f"stopped: the supervisor got {group.stop_signal.name}"
            store.transition(request.job_id, JobState.STOPPED, exit_code=exit_code, reason=reason)
        else:
            where = f"rank {failed_rank}: " if len(request.ranks) > 1 else ""
            reason = _entry_reason(work_dir) or describe_exit(returncode)
            store.transition(request.job_id, JobState.FAILED, exit_code=exit_code, reason=where + reason)
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
