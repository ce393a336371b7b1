"""The Stop button cancels and returns: the page never waits out a job's grace period."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launcher.backends.local import process
from launcher.jobs import JobState, JobStore
from tests.ui.conftest import csrf_of, make_record

# Stands in for a running job that takes its time to push after SIGTERM (it notes the signal, then keeps going).
STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: print('got SIGTERM', flush=True))\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture
def stubborn_job() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        yield child
    finally:
        child.kill()
        child.wait()


def test_stop_button_sends_sigterm_once_and_returns_while_the_job_ends(
    store: JobStore, client: httpx.Client, stubborn_job: subprocess.Popen[str], tmp_path: Path
) -> None:
    identity = {**process.identity(stubborn_job.pid), **process.identity(stubborn_job.pid, prefix="supervisor_")}
    make_record(store, "busy-1", JobState.RUNNING, handle={"logs": [str(tmp_path / "job.log")], **identity})
    form = {"content-type": "application/x-www-form-urlencoded"}
    csrf = csrf_of(client.get("/jobs/busy-1").text)
    for _ in range(2):  # a second click asks nothing more
        stopped = client.post("/jobs/busy-1/stop", content=f"csrf={csrf}", headers=form)
        assert stopped.status_code == 303
    record = store.get("busy-1")
    assert record.stop_requested and record.state is JobState.RUNNING  # asked; its grace period has not run out
    assert record.handle["cancelled_at"] <= time.time()
    assert stubborn_job.stdout is not None and stubborn_job.stdout.readline() == "got SIGTERM\n"
    assert stubborn_job.poll() is None  # still pushing: nobody waited for it, nobody killed it
    stubborn_job.send_signal(signal.SIGUSR1)  # the default action ends it; one SIGTERM was all it got
    stubborn_job.wait(timeout=10)
    assert stubborn_job.stdout.read() == ""
