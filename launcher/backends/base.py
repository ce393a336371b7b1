"""The protocol every backend implements (TorchX-style): `submit(job) == send(render(job))`.

`render` returns the exact request the backend would send (a pydantic model), so what `launcher render`
prints is the truth and tests assert on rendered requests. Each backend keeps where it finds its job again in a
typed `Handle` (stored as JSON in the job record). Stopping is two calls, as in TorchX: `cancel` asks and returns
at once, `wait` waits for the end; the CLI composes them, the web UI only cancels.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from launcher.errors import UserError, format_validation_error
from launcher.jobs import JobRecord, JobStore
from launcher.jobspec import JobSpec, ResolvedJob
from launcher.logs import logger


class JobHandle(BaseModel):
    """Where a backend finds its job again. Keys this launcher does not know (a newer one wrote them) are ignored,
    so a record stays readable across versions; a missing or mistyped key is an error that names the job."""

    model_config = ConfigDict(extra="ignore")

    cancelled_at: float | None = None  # when a cancel was delivered: a second one does not ask again

    def grace_over(self, grace_seconds: float) -> bool:
        """A cancel was delivered more than `grace_seconds` ago: the job gets SIGKILL, as `docker stop` does."""
        return self.cancelled_at is not None and time.time() > self.cancelled_at + grace_seconds


H = TypeVar("H", bound=JobHandle)


def read_handle(record: JobRecord, model: type[H]) -> H:
    try:
        return model.model_validate(record.handle)
    except ValidationError as error:
        raise UserError(
            f"job {record.id}: its stored {record.backend} handle cannot be read ({format_validation_error(error)}); "
            "the job record is damaged or was not written by this backend"
        ) from None


class Backend(ABC):
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]  # typed backend options (TorchX's runopts)
    Handle: ClassVar[type[JobHandle]]  # this backend's JobHandle

    def __init__(self, store: JobStore, options: BaseModel) -> None:
        self.store = store
        self.options = options

    @classmethod
    def parse_options(cls, values: dict[str, Any]) -> BaseModel:
        try:
            return cls.Options.model_validate(values)
        except ValidationError as error:
            raise UserError(f"{cls.name} backend options: {format_validation_error(error)}") from None

    @abstractmethod
    def render(self, job: JobSpec) -> BaseModel:
        """The exact request `send` would send; secrets must be redacted by the printer, not stored here."""

    @abstractmethod
    def send(self, job: JobSpec, request: BaseModel) -> JobRecord:
        """Start the job described by `request`; returns its record (PENDING or RUNNING)."""

    def submit(self, job: JobSpec) -> JobRecord:
        return self.send(job, self.render(job))

    def handle(self, record: JobRecord) -> JobHandle:
        return read_handle(record, self.Handle)

    def create_record(self, job: JobSpec, handle: JobHandle) -> JobRecord:
        """The job's record (PENDING), with this backend's ids in `handle`."""
        return self.store.create(
            JobRecord(
                id=job.id,
                name=job.recipe.name,
                recipe=str(job.recipe_path),
                backend=self.name,
                data_url=job.data_url,
                train_url=job.train_url,
                hyperparameters=job.hyperparameters,
                handle=handle.model_dump(mode="json", exclude_none=True),
                resolved=ResolvedJob.of(job, self.name, self.options).model_dump(mode="json"),
            )
        )

    def follow_file(self, job_id: str, path: Path, follow: bool) -> Iterator[str]:
        """Lines of a log file; with follow, keep reading until the job has ended and the file is drained."""
        if not path.exists():
            return
        with open(path, encoding="utf-8", errors="replace") as log:
            while True:
                line = log.readline()
                if line:
                    yield line
                    continue
                if not follow or self.status(job_id).state.terminal:
                    rest = log.read()  # anything written between the last read and the end
                    if rest:
                        yield rest
                    return
                time.sleep(0.2)

    @abstractmethod
    def status(self, job_id: str) -> JobRecord:
        """The record, reconciled with what the backend actually sees."""

    @abstractmethod
    def logs(self, job_id: str, follow: bool = False, rank: int = 0) -> Iterator[str]:
        """Log lines of one rank (with their newlines); with follow, until the job ends."""

    @abstractmethod
    def cancel(self, job_id: str) -> JobRecord:
        """Ask the job to stop (SIGTERM-like: it pushes its outputs) and return at once with its record.

        Idempotent: a second cancel does not ask again, and a cancel of an ended job changes nothing. The job ends
        STOPPED; one that outlives its grace period is forced by the next `status` (local, docker) or by the
        platform (ModelArts, Volcano)."""

    @property
    def poll_s(self) -> float:
        """How often `wait` looks."""
        return 0.2

    def stop_timeout(self, job_id: str) -> float:
        """How long a `wait` after a `cancel` should take at most: the grace period and a margin."""
        return 60.0

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """The record once the job has ended, or as it stands when `timeout` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.status(job_id)
            left = None if deadline is None else deadline - time.monotonic()
            if record.state.terminal or (left is not None and left <= 0):
                return record
            time.sleep(self.poll_s if left is None else min(self.poll_s, left))

    def list(self, limit: int = 50) -> list[JobRecord]:
        """The newest records, each reconciled; one that cannot be (its daemon is down, its handle is damaged) is
        listed as last known, and why is said once."""
        records, problems = [], set()
        for record in self.store.list(self.name, limit):
            try:
                records.append(record if record.state.terminal else self.status(record.id))
            except UserError as error:
                records.append(record)
                problems.add(str(error))
        for problem in sorted(problems):
            logger.warning("{}: showing the last known state", problem)
        return records
