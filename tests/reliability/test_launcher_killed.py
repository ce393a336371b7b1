"""The launcher killed mid-job (SIGKILL on the CLI that submitted and follows it): the job goes on, and later
`status`/`list` report how it really ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from launcher.backends import get_backend
from launcher.jobs import JobState, JobStore
from tests.launcher.helpers import FIXTURES, REPO, run_cli, wait_for


def test_killing_the_following_cli_does_not_lose_the_job() -> None:
    cli = subprocess.Popen(
        [sys.executable, "-m", "launcher", "submit", str(FIXTURES / "toy_counter.yaml"), "--steps", "20", "--step_seconds", "0.1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy(),
    )
    first = cli.stdout.readline()
    assert first.startswith("submitted ")
    job_id = first.split()[1]
    store = JobStore()
    wait_for(lambda: store.get(job_id).state is JobState.RUNNING, timeout=30)
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    backend = get_backend("local", store)
    final = wait_for(lambda: (r := backend.status(job_id)).state.terminal and r, timeout=60)
    assert (final.state, final.exit_code) == (JobState.SUCCEEDED, 0)
    status = run_cli("status", job_id)
    assert f"job {job_id} SUCCEEDED (exit 0)" in status.stdout
