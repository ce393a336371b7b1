"""What the remote backends (ModelArts, Volcano) share: their handle's shape, a cancel asked once, one listing per
account, and bringing a job record in line with what the remote engine reports.

The remote side is the truth; the record only moves forward along the allowed transitions. A job seen PENDING
that is already over on the remote side passes through RUNNING first, so its times and history stay coherent.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Hashable

from pydantic import BaseModel, Field

from launcher.backends.base import Backend, JobHandle
from launcher.errors import UserError
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.logs import logger


class RemoteHandle(JobHandle):
    """What every remote job's handle holds besides its ids: its shape, for `logs --rank` (a node keeps one log)."""

    nodes: int = Field(1, ge=1)
    ranks_per_node: int = Field(1, ge=1)


class RemoteStatus(BaseModel):
    """One backend's reading of a remote job, in our terms."""

    state: JobState
    phase: str  # the engine's own word for it (Running, Completed, Terminated, ...), for messages
    exit_code: int | None = None
    reason: str = ""
    started_at: float | None = None
    ended_at: float | None = None


def reconcile(store: JobStore, record: JobRecord, remote: RemoteStatus) -> JobRecord:
    if record.state.terminal or remote.state is record.state:
        return record
    if remote.state is JobState.PENDING:
        return record  # a restarting job's pods wait again; the record does not go back
    ran = remote.started_at is not None or remote.state is JobState.SUCCEEDED
    if record.state is JobState.PENDING and remote.state is not JobState.RUNNING and ran:
        # Over before we looked: RUNNING first (a job that never ran, e.g. stopped while queued, goes straight on).
        store.transition(record.id, JobState.RUNNING, started_at=remote.started_at or remote.ended_at)
    fields: dict[str, object] = {}
    if remote.state is JobState.RUNNING and remote.started_at is not None:
        fields["started_at"] = remote.started_at
    if remote.state.terminal:
        fields["exit_code"] = remote.exit_code
        fields["reason"] = remote.reason
        if remote.ended_at is not None:
            fields["ended_at"] = remote.ended_at
    store.transition(record.id, remote.state, **fields)
    return store.get(record.id)


class RemoteBackend(Backend):
    """A backend whose jobs run on a remote engine. Its options have `poll_interval_s` and `stop_timeout_s`."""

    @abstractmethod
    def _terminate(self, handle: RemoteHandle) -> None:
        """Ask the engine to stop the job (once: an engine may refuse to stop a job that is stopping)."""

    @abstractmethod
    def _account(self, handle: RemoteHandle) -> Hashable:
        """Where the job lives (ModelArts account and region, Kubernetes cluster and namespace): one listing each."""

    @abstractmethod
    def _refresh_account(self, account: Hashable, jobs: list[tuple[JobRecord, RemoteHandle]]) -> dict[str, JobRecord]:
        """The records of one account's unfinished jobs, reconciled from one listing (UserError when unreachable)."""

    def cancel(self, job_id: str) -> JobRecord:
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        handle = self.handle(record)
        self.store.update(record.id, stop_requested=True)
        if handle.cancelled_at is None:
            self._terminate(handle)
            self.store.update(record.id, handle_update={"cancelled_at": time.time()})
        return self.status(record.id)

    @property
    def poll_s(self) -> float:
        return self.options.poll_interval_s  # type: ignore[attr-defined]

    def stop_timeout(self, job_id: str) -> float:
        return self.options.stop_timeout_s  # type: ignore[attr-defined]

    def list(self, limit: int = 50) -> list[JobRecord]:
        """One listing per account for the unfinished jobs, instead of one call each."""
        records = self.store.list(self.name, limit)
        by_account: dict[Hashable, list[tuple[JobRecord, RemoteHandle]]] = {}
        for r in records:
            handle = None if r.state.terminal else self._readable_handle(r)
            if handle is not None:
                by_account.setdefault(self._account(handle), []).append((r, handle))
        fresh: dict[str, JobRecord] = {}
        for account, jobs in by_account.items():
            try:
                fresh.update(self._refresh_account(account, jobs))
            except UserError as error:  # one unreachable account must not hide every other job
                logger.warning("{} {}: showing the last known states: {}", self.name, account, error)
        return [fresh.get(r.id, r) for r in records]

    def _readable_handle(self, record: JobRecord) -> RemoteHandle | None:
        try:
            return self.handle(record)
        except UserError as error:  # one damaged record must not hide the others: it is listed as last known
            logger.warning("{}", error)
            return None
