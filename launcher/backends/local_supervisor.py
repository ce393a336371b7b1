"""Runs one local job to its end: `python -m launcher.backends.local_supervisor JOB_DIR`.

Started detached by LocalBackend.send. It owns the job record's RUNNING -> terminal transitions, so the
record is right even when the CLI that submitted the job is long gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from launcher.backends import process
from launcher.backends.local import REQUEST_FILE, LocalRequest
from launcher.jobs import JobState, JobStore


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    if returncode == 137:
        return "killed: out of memory or SIGKILL (137)"
    return f"exit code {returncode}"


def supervise(job_dir: Path) -> int:
    request = LocalRequest.model_validate_json((job_dir / REQUEST_FILE).read_text())
    store = JobStore()
    with open(request.log_path, "ab", buffering=0) as log:
        try:
            child = subprocess.Popen(
                request.argv,
                cwd=request.cwd,
                env={**os.environ, **request.env},
                stdin=subprocess.DEVNULL,
                stdout=log,  # unbuffered child (PYTHONUNBUFFERED) writes straight into the log, line by line
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop signals the job and all its children
            )
        except OSError as error:
            log.write(f"launcher: cannot start the job: {error}\n".encode())
            store.transition(request.job_id, JobState.FAILED, reason=f"cannot start: {error}")
            return 1
        record = store.get(request.job_id)
        handle = {**record.handle, **process.identity(child.pid)}
        if not store.transition(request.job_id, JobState.RUNNING, handle=handle):
            # Stopped while PENDING: never let it run.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return 0
        returncode = child.wait()
        # Whatever the job left behind in its group (daemons, orphaned workers) ends with it.
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    record = store.get(request.job_id)
    exit_code = returncode if returncode >= 0 else 128 - returncode
    if returncode == 0:  # finished before (or despite) a stop request: the truth is that it succeeded
        store.transition(request.job_id, JobState.SUCCEEDED, exit_code=0)
    elif record.stop_requested:
        store.transition(request.job_id, JobState.STOPPED, exit_code=exit_code, reason="stopped")
    else:
        store.transition(request.job_id, JobState.FAILED, exit_code=exit_code, reason=describe_exit(returncode))
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
