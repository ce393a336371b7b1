"""Local backend: the entry boot script as child processes on this machine, one per rank.

`send` writes the rendered request into the job's folder and starts a detached supervisor
(`launcher.backends.local.supervisor`) that runs every rank in one process group, captures each rank's output
line by line into its log, fails the job fast when a rank dies, and records the exit code. The supervisor
outlives the CLI, so `--detach`, Ctrl-C on a follower, or a closed terminal never leave a job without an owner.
"""

from __future__ import annotations

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

from entry.contract import (
    ENV_HOME,
    ENV_JOB_ID,
    ENV_LOCAL_RANK,
    ENV_LOCAL_SIZE,
    ENV_WORK_DIR,
    REQUEST_FILE,
)
from entry.ranks import RankSpec
from launcher.backends.base import Backend, JobHandle, read_handle
from launcher.backends.common import (
    distributed_env,
    entry_script,
    hyperparameters_argument,
    rank_log_name,
)
from launcher.backends.devices import DeviceRequest
from launcher.backends.local import process
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState
from launcher.jobspec import JobSpec
from launcher.paths import (
    jobs_root,
    launcher_home,
    private_dir,
    touch_private,
    write_private,
)
from launcher.redact import redact_mapping


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: float = Field(30.0, ge=0, description="after SIGTERM, how long the job may take to push and exit")
    python: str = Field(sys.executable, description="interpreter that runs the entry script")


class LocalRequest(BaseModel):
    """Exactly what the supervisor runs: the same command once per rank."""

    job_id: str
    argv: list[str]
    env: dict[str, str]  # added to the launcher's own environment, for every rank
    cwd: Path
    job_dir: Path
    ranks: list[RankSpec]  # each with its log file in the job folder
    files: dict[str, str] = Field(default_factory=dict, description="written into job_dir first (rank table)")

    def command_line(self) -> str:
        lines = []
        for rank in self.ranks:
            shown = redact_mapping({**self.env, **rank.env})
            assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in shown.items())
            lines.append(f"(cd {shlex.quote(str(self.cwd))} && {assignments} {shlex.join(self.argv)})")
        return " &\n".join(lines)


class LocalHandle(JobHandle):
    """The job folder and rank logs; the supervisor's and the job's process identity (see process.py)."""

    logs: list[Path]  # one a rank
    job_dir: Path | None = None  # for people and tests reading the record; the backend needs only the logs
    grace_seconds: float | None = None  # None in records written before it was kept: the options' grace then
    supervisor_pid: int | None = None
    supervisor_pgid: int | None = None
    supervisor_start: int | None = None
    pid: int | None = None
    pgid: int | None = None
    start: int | None = None


class LocalBackend(Backend):
    name: ClassVar[str] = "local"
    Options: ClassVar[type[BaseModel]] = LocalOptions
    Handle: ClassVar[type[JobHandle]] = LocalHandle
    options: LocalOptions

    def render(self, job: JobSpec) -> LocalRequest:
        resources = job.recipe.resources
        if resources.nodes != 1:
            raise UserError("the local backend runs on this one machine: nodes must be 1 (use volcano or modelarts)")
        device = DeviceRequest.parse(resources.device)
        cards = device.per_rank(resources.count)
        job_dir = jobs_root() / job.id
        common, per_rank, files = distributed_env(device.kind, cards, job_dir)
        env = {
            ENV_JOB_ID: job.id,
            "JOB_ID": job.id,
            ENV_HOME: str(launcher_home()),
            ENV_WORK_DIR: str(job_dir / "work"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(job.code_dir), os.environ.get("PYTHONPATH", "")])),
            "RANK_SIZE": str(len(cards)),
            ENV_LOCAL_SIZE: str(len(cards)),
            **common,
        }
        ranks = [
            RankSpec(
                rank=r,
                env={
                    "RANK_ID": str(r),
                    ENV_LOCAL_RANK: str(r),
                    **device.env_for(card, len(cards)),
                    **per_rank[r],
                },
                log_path=str(job_dir / rank_log_name(r)),
            )
            for r, card in enumerate(cards)
        ]
        argv = [
            self.options.python,
            str(entry_script(job.entry)),
            f"--data_url={job.data_url}",
            f"--train_url={job.train_url}",
            f"--recipe={job.recipe_relpath}",
            hyperparameters_argument(job, str(job_dir), files),
        ]
        return LocalRequest(
            job_id=job.id, argv=argv, env=env, cwd=job.code_dir, job_dir=job_dir, ranks=ranks, files=files
        )

    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        assert isinstance(request, LocalRequest)
        private_dir(request.job_dir)
        for rank in request.ranks:
            touch_private(Path(rank.log_path))
        for name, content in request.files.items():
            write_private(request.job_dir / name, content)
        write_private(request.job_dir / REQUEST_FILE, request.model_dump_json(indent=2))
        handle = LocalHandle(
            job_dir=request.job_dir,
            logs=[Path(r.log_path) for r in request.ranks if r.log_path],
            grace_seconds=self.options.grace_seconds,
        )
        self.create_record(job, handle)
        with open(touch_private(request.job_dir / "supervisor.log"), "ab") as supervisor_log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "launcher.backends.local.supervisor", str(request.job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=supervisor_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI's terminal and Ctrl-C
                env={**os.environ, ENV_HOME: str(launcher_home())},
            )
        # Merged, not written back: the supervisor may already have added the job's own pid/pgid.
        self.store.update(job.id, handle_update=process.identity(supervisor.pid, prefix="supervisor_"))
        return self.store.get(job.id)

    def handle(self, record: JobRecord) -> LocalHandle:
        return read_handle(record, LocalHandle)

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        handle = self.handle(record)
        ids = handle.model_dump()
        if handle.grace_over(self._grace(handle)):
            process.signal_group(ids, signal.SIGKILL)  # its grace period is over: forced, as `docker stop` does
        if process.alive(ids, prefix="supervisor_"):
            return record
        # The supervisor is gone without recording an end (killed, machine rebooted): say what we know.
        if process.alive(ids):
            return record  # the job itself still runs; its end can no longer be recorded, but it is not over
        if record.stop_requested:
            self.store.transition(record.id, JobState.STOPPED, reason="stopped; the supervisor did not record the end")
        else:
            self.store.transition(record.id, JobState.FAILED, reason="lost: the job's supervisor died before it ended")
        return self.store.get(record.id)

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        record = self.store.get(job_id)
        paths = self.handle(record).logs
        if not 0 <= rank < len(paths):
            raise UserError(f"job {record.id} has ranks 0..{len(paths) - 1}, not {rank}")
        return self.follow_file(record.id, paths[rank], follow)

    def cancel(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        self.store.update(record.id, stop_requested=True)
        if record.state is JobState.PENDING and self.store.transition(record.id, JobState.STOPPED, reason="stopped"):
            return self.store.get(record.id)  # the supervisor will see STOPPED and not start it
        # RUNNING (or ended) now: the supervisor recorded the job's process group in the same transition.
        record = self.store.get(record.id)
        handle = self.handle(record)
        if record.state.terminal or handle.cancelled_at is not None:
            return self.status(record.id)  # asked already: a second SIGTERM could cut the job's final push short
        self.store.update(record.id, handle_update={"cancelled_at": time.time()})
        ids = handle.model_dump()
        if process.alive(ids, prefix="supervisor_"):
            # Through the supervisor: it forwards the stop to the whole rank group and then does not fail fast on
            # the first rank that exits 143 (its 30 s SIGKILL would cut a longer grace short).
            os.kill(ids["supervisor_pid"], signal.SIGTERM)
        else:
            process.signal_group(ids, signal.SIGTERM)  # the supervisor is gone: the whole group directly
        return self.status(record.id)

    @property
    def poll_s(self) -> float:
        return 0.1

    def stop_timeout(self, job_id: str) -> float:
        return self._grace(self.handle(self.store.get(job_id))) + 15.0

    def _grace(self, handle: LocalHandle) -> float:
        return self.options.grace_seconds if handle.grace_seconds is None else handle.grace_seconds
