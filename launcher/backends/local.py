"""Local backend: the entry boot script as a child process on this machine.

`send` writes the rendered request next to the job's folder and starts a detached supervisor
(`launcher.backends.local_supervisor`) that runs the entry in its own process group, captures its output
line by line into the job log, and records the exit code. The supervisor outlives the CLI, so `--detach`,
Ctrl-C on a follower, or a closed terminal never leave a job without an owner.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

import entry
from launcher.backends import process
from launcher.backends.base import Backend
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState
from launcher.jobspec import JobSpec
from launcher.paths import jobs_root, launcher_home
from launcher.redact import redact_mapping

REQUEST_FILE = "request.json"
JOB_LOG = "job.log"


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: float = Field(30.0, ge=0, description="after SIGTERM, how long the job may take to push and exit")
    python: str = Field(sys.executable, description="interpreter that runs the entry script")


class LocalRequest(BaseModel):
    """Exactly what the supervisor runs."""

    job_id: str
    argv: list[str]
    env: dict[str, str]  # added to the launcher's own environment
    cwd: Path
    job_dir: Path
    log_path: Path

    def command_line(self) -> str:
        shown = redact_mapping(self.env)
        assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in shown.items())
        return f"cd {shlex.quote(str(self.cwd))} && {assignments} {shlex.join(self.argv)}"


def device_env(device: str) -> dict[str, str]:
    """Which accelerators the process may see; `cpu` hides GPUs so a CPU recipe stays on the CPU."""
    kind, _, ids = device.partition(":")
    if kind == "cpu":
        return {"CUDA_VISIBLE_DEVICES": ""}
    if kind == "gpu":
        return {} if ids in ("", "all") else {"CUDA_VISIBLE_DEVICES": ids}
    if kind == "ascend":
        first = (ids or "0").split(",")[0]
        return {"ASCEND_VISIBLE_DEVICES": ids or "0", "DEVICE_ID": first, "ASCEND_DEVICE_ID": first}
    raise UserError(f"unknown device {device!r}; use cpu, gpu[:ids|all] or ascend[:ids]")


def entry_script(mode: str) -> Path:
    return Path(entry.__file__).resolve().parent / f"modelarts_entry_{mode}.py"


class LocalBackend(Backend):
    name: ClassVar[str] = "local"
    Options: ClassVar[type[BaseModel]] = LocalOptions
    options: LocalOptions

    def render(self, job: JobSpec) -> LocalRequest:
        resources = job.recipe.resources
        if resources.count != 1 or resources.nodes != 1:
            raise UserError("the local backend runs one process for now: set resources.count and nodes to 1")
        job_dir = jobs_root() / job.id
        env = {
            "LAUNCHER_JOB_ID": job.id,
            "JOB_ID": job.id,
            "LAUNCHER_HOME": str(launcher_home()),
            "LAUNCHER_WORK_DIR": str(job_dir / "work"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(job.code_dir), os.environ.get("PYTHONPATH", "")])),
            "RANK_ID": "0",
            "RANK_SIZE": "1",
            "DEVICE_ID": "0",
            **device_env(resources.device),
        }
        argv = [
            self.options.python,
            str(entry_script(job.entry)),
            f"--data_url={job.data_url}",
            f"--train_url={job.train_url}",
            f"--recipe={job.recipe_relpath}",
            f"--hyperparameters={job_hyperparameters_json(job)}",
        ]
        return LocalRequest(
            job_id=job.id, argv=argv, env=env, cwd=job.code_dir, job_dir=job_dir, log_path=job_dir / JOB_LOG
        )

    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        assert isinstance(request, LocalRequest)
        request.job_dir.mkdir(parents=True, exist_ok=True)
        request.log_path.touch()
        (request.job_dir / REQUEST_FILE).write_text(request.model_dump_json(indent=2))
        record = self.store.create(
            JobRecord(
                id=job.id,
                name=job.recipe.name,
                recipe=str(job.recipe_path),
                backend=self.name,
                data_url=job.data_url,
                train_url=job.train_url,
                hyperparameters=job.hyperparameters,
                handle={"job_dir": str(request.job_dir), "log": str(request.log_path)},
            )
        )
        with open(request.job_dir / "supervisor.log", "ab") as supervisor_log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "launcher.backends.local_supervisor", str(request.job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=supervisor_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI's terminal and Ctrl-C
                env={**os.environ, "LAUNCHER_HOME": str(launcher_home())},
            )
        handle = {**record.handle, **process.identity(supervisor.pid, prefix="supervisor_")}
        self.store.update(job.id, handle=handle)
        return self.store.get(job.id)

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        supervisor_alive = process.alive(record.handle, prefix="supervisor_")
        if supervisor_alive:
            return record
        # The supervisor is gone without recording an end (killed, machine rebooted): say what we know.
        if process.alive(record.handle):
            return record  # the job itself still runs; its end can no longer be recorded, but it is not over
        self.store.transition(record.id, JobState.FAILED, reason="lost: the job's supervisor died before it ended")
        return self.store.get(record.id)

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        record = self.store.get(job_id)
        path = Path(record.handle["log"])
        if not path.exists():
            return
        with open(path, encoding="utf-8", errors="replace") as log:
            while True:
                line = log.readline()
                if line:
                    yield line
                    continue
                if not follow or self.status(record.id).state.terminal:
                    rest = log.read()  # anything written between the last read and the end
                    if rest:
                        yield rest
                    return
                time.sleep(0.2)

    def stop(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        self.store.update(record.id, stop_requested=True)
        if record.state is JobState.PENDING and self.store.transition(record.id, JobState.STOPPED, reason="stopped"):
            return self.store.get(record.id)  # the supervisor will see STOPPED and not start it
        record = self._wait_for_handle(record.id)
        if process.alive(record.handle):
            process.signal_group(record.handle, signal.SIGTERM)
            if not self._wait_terminal(record.id, self.options.grace_seconds):
                process.signal_group(record.handle, signal.SIGKILL)
                self._wait_terminal(record.id, 10.0)
        final = self.status(record.id)
        if not final.state.terminal and not process.alive(record.handle):
            self.store.transition(record.id, JobState.STOPPED, reason="stopped; the supervisor did not record the end")
        return self.store.get(record.id)

    def _wait_for_handle(self, job_id: str, timeout: float = 10.0) -> JobRecord:
        """A job that just left PENDING may not have its pgid recorded yet."""
        deadline = time.monotonic() + timeout
        record = self.store.get(job_id)
        while "pgid" not in record.handle and not record.state.terminal and time.monotonic() < deadline:
            time.sleep(0.05)
            record = self.store.get(job_id)
        return record

    def _wait_terminal(self, job_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(job_id).state.terminal:
                return True
            time.sleep(0.1)
        return self.status(job_id).state.terminal


def job_hyperparameters_json(job: JobSpec) -> str:
    return json.dumps(job.hyperparameters, separators=(",", ":"), sort_keys=True)
