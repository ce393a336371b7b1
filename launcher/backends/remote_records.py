"""Bring a job record in line with what a remote engine reports (ModelArts phase, Volcano Job phase).

The remote side is the truth; the record only moves forward along the allowed transitions. A job seen PENDING
that is already over on the remote side passes through RUNNING first, so its times and history stay coherent.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from launcher.backends.base import JobHandle
from launcher.jobs import JobRecord, JobState, JobStore


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
