"""Local backend: the entry boot script as child processes on this machine, one per rank.

`send` writes the rendered request into the job's folder and starts a detached supervisor
(`launcher.backends.local_supervisor`) that runs every rank in one process group, captures each rank's output
line by line into its log, fails the job fast when a rank dies, and records the exit code. The supervisor
outlives the CLI, so `--detach`, Ctrl-C on a follower, or a closed terminal never leave a job without an owner.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

import entry
from entry.contract import REQUEST_FILE
from entry.ranktable import single_server_table
from launcher.backends import process
from launcher.backends.base import Backend
from launcher.backends.devices import DeviceRequest
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState
from launcher.jobspec import JobSpec
from launcher.paths import jobs_root, launcher_home, private_dir, touch_private, write_private
from launcher.redact import redact_mapping

JOB_LOG = "job.log"
RANK_TABLE = "rank_table.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
# Linux refuses to exec a command with one argument over 128 KiB (E2BIG); far below that, the document goes in
# a file in the job folder that the entry reads (`--hyperparameters=@file`), so a render stays readable too.
MAX_INLINE_HYPERPARAMETERS = 16 * 1024


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_seconds: float = Field(30.0, ge=0, description="after SIGTERM, how long the job may take to push and exit")
    python: str = Field(sys.executable, description="interpreter that runs the entry script")


class RankProcess(BaseModel):
    rank: int
    env: dict[str, str]  # this rank's own variables (RANK_ID, DEVICE_ID, ...)
    log_path: Path


class LocalRequest(BaseModel):
    """Exactly what the supervisor runs: the same command once per rank."""

    job_id: str
    argv: list[str]
    env: dict[str, str]  # added to the launcher's own environment, for every rank
    cwd: Path
    job_dir: Path
    ranks: list[RankProcess]
    files: dict[str, str] = Field(default_factory=dict, description="written into job_dir first (rank table)")

    def command_line(self) -> str:
        lines = []
        for rank in self.ranks:
            shown = redact_mapping({**self.env, **rank.env})
            assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in shown.items())
            lines.append(f"(cd {shlex.quote(str(self.cwd))} && {assignments} {shlex.join(self.argv)})")
        return " &\n".join(lines)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def distributed_env(
    kind: str, cards: list[int], job_dir: Path
) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
    """Common env, per-rank env and job files for several processes on this machine to find each other:
    an HCCL rank table for Ascend; JAX's coordinator settings and TF_CONFIG for GPU/CPU."""
    count = len(cards)
    if count == 1:
        return {}, [{}], {}
    if kind == "ascend":
        table = single_server_table(cards)
        return {"RANK_TABLE_FILE": str(job_dir / RANK_TABLE)}, [{} for _ in cards], {RANK_TABLE: table.to_json()}
    coordinator, *workers = _free_ports(count + 1)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in workers]}
    common = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{coordinator}", "JAX_NUM_PROCESSES": str(count)}
    per_rank = [
        {
            "JAX_PROCESS_ID": str(r),
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": r}}),
        }
        for r in range(count)
    ]
    return common, per_rank, {}


def entry_script(mode: str) -> Path:
    return Path(entry.__file__).resolve().parent / f"modelarts_entry_{mode}.py"


def hyperparameters_json(job: JobSpec) -> str:
    return json.dumps(job.hyperparameters, separators=(",", ":"), sort_keys=True)


def hyperparameters_argument(job: JobSpec, job_dir_in_job: str, files: dict[str, str]) -> str:
    """The entry's `--hyperparameters` argument: inline when small, else `@<job dir>/hyperparameters.json`
    (the document is added to `files`, which the backend writes into the job folder)."""
    document = hyperparameters_json(job)
    if len(document.encode()) <= MAX_INLINE_HYPERPARAMETERS:
        return f"--hyperparameters={document}"
    files[HYPERPARAMETERS_FILE] = document
    return f"--hyperparameters=@{job_dir_in_job}/{HYPERPARAMETERS_FILE}"


class LocalBackend(Backend):
    name: ClassVar[str] = "local"
    Options: ClassVar[type[BaseModel]] = LocalOptions
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
            "LAUNCHER_JOB_ID": job.id,
            "JOB_ID": job.id,
            "LAUNCHER_HOME": str(launcher_home()),
            "LAUNCHER_WORK_DIR": str(job_dir / "work"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(job.code_dir), os.environ.get("PYTHONPATH", "")])),
            "RANK_SIZE": str(len(cards)),
            "LAUNCHER_LOCAL_SIZE": str(len(cards)),
            **common,
        }
        ranks = [
            RankProcess(
                rank=r,
                env={
                    "RANK_ID": str(r),
                    "LAUNCHER_LOCAL_RANK": str(r),
                    **device.env_for(card, len(cards)),
                    **per_rank[r],
                },
                log_path=job_dir / (JOB_LOG if r == 0 else f"job-rank-{r}.log"),
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
            touch_private(rank.log_path)
        for name, content in request.files.items():
            write_private(request.job_dir / name, content)
        write_private(request.job_dir / REQUEST_FILE, request.model_dump_json(indent=2))
        self.create_record(
            job, {"job_dir": str(request.job_dir), "logs": [str(r.log_path) for r in request.ranks]}
        )
        with open(touch_private(request.job_dir / "supervisor.log"), "ab") as supervisor_log:
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "launcher.backends.local_supervisor", str(request.job_dir)],
                stdin=subprocess.DEVNULL,
                stdout=supervisor_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI's terminal and Ctrl-C
                env={**os.environ, "LAUNCHER_HOME": str(launcher_home())},
            )
        # Merged, not written back: the supervisor may already have added the job's own pid/pgid.
        self.store.update(job.id, handle_update=process.identity(supervisor.pid, prefix="supervisor_"))
        return self.store.get(job.id)

    def status(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal or process.alive(record.handle, prefix="supervisor_"):
            return record
        # The supervisor is gone without recording an end (killed, machine rebooted): say what we know.
        if process.alive(record.handle):
            return record  # the job itself still runs; its end can no longer be recorded, but it is not over
        self.store.transition(record.id, JobState.FAILED, reason="lost: the job's supervisor died before it ended")
        return self.store.get(record.id)

    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        record = self.store.get(job_id)
        paths = record.handle.get("logs", [])
        if not 0 <= rank < len(paths):
            raise UserError(f"job {record.id} has ranks 0..{len(paths) - 1}, not {rank}")
        return self.follow_file(record.id, Path(paths[rank]), follow)

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
