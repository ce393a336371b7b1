"""The protocol every backend implements (TorchX-style): `submit(job) == send(render(job))`.

`render` returns the exact request the backend would send (a pydantic model), so what `launcher render`
prints is the truth and tests assert on rendered requests.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from launcher.errors import UserError
from launcher.jobs import JobRecord, JobStore
from launcher.jobspec import JobSpec, ResolvedJob
from launcher.recipe import format_validation_error


class Backend(ABC):
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]  # typed backend options (TorchX's runopts)

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

    def create_record(self, job: JobSpec, handle: dict[str, Any]) -> JobRecord:
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
                handle=handle,
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
    def stop(self, job_id: str) -> JobRecord:
        """Ask the job to stop (SIGTERM-like), force it after the grace period; returns the final record."""

    def list(self, limit: int = 50) -> list[JobRecord]:
        return [self.status(r.id) if not r.state.terminal else r for r in self.store.list(self.name, limit)]
