"""Job records in SQLite under LAUNCHER_HOME: one row a job, state changes checked and atomic.

Several launcher processes (a CLI, a local supervisor, a `stop` in another terminal) touch the same file, so
every write is one transaction (WAL journal, busy timeout) and a state change is a compare-and-set: it only
happens when the row is still in a state the transition may leave from.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from launcher.errors import JobNotFound, UserError
from launcher.paths import launcher_home, private_dir, touch_private
from launcher.redact import MASK, is_secret_name, redact


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED})
# Which states a job may move to from each state; terminal states never change again.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.FAILED, JobState.STOPPED}),
    JobState.RUNNING: frozenset(TERMINAL),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.STOPPED: frozenset(),
}


class JobRecord(BaseModel):
    id: str
    name: str
    recipe: str
    backend: str
    state: JobState = JobState.PENDING
    exit_code: int | None = None
    reason: str = ""
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    data_url: str = ""
    train_url: str = ""
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    handle: dict[str, Any] = Field(default_factory=dict, description="backend-specific: pid, log path, remote id")
    stop_requested: bool = False
    resolved: dict[str, Any] = Field(
        default_factory=dict, description="the job as resolved at submit (jobspec.ResolvedJob): what restart replays"
    )

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


def public_record(record: JobRecord) -> dict[str, Any]:
    """The record as a user sees it (`status --json`, the dashboard): a value under a secret-looking name (an
    option's env API_TOKEN, say) masked, wherever it sits; values known to be secrets are masked by the printer."""
    return _masked(record.model_dump(mode="json"))


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if is_secret_name(str(k)) and v not in (None, "") else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    recipe TEXT NOT NULL,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    exit_code INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    data_url TEXT NOT NULL DEFAULT '',
    train_url TEXT NOT NULL DEFAULT '',
    hyperparameters TEXT NOT NULL DEFAULT '{}',
    handle TEXT NOT NULL DEFAULT '{}',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    resolved TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
"""
_JSON_COLUMNS = ("hyperparameters", "handle", "resolved")
# Columns added after the first release, with their definitions: added to an older store when it is opened.
_ADDED_COLUMNS = {"resolved": "TEXT NOT NULL DEFAULT '{}'"}


class InvalidTransition(Exception):
    """A state change the job's current state does not allow (a programming error, not a user one)."""


class JobStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or launcher_home() / "jobs.sqlite"
        private_dir(self.path.parent)
        # Reasons and handles may quote secrets. SQLite gives its -wal/-shm files the database file's mode, so
        # the database is made 0600 first (and one made by an older version is tightened, with its companions).
        for companion in ("-wal", "-shm"):
            sidecar = self.path.with_name(self.path.name + companion)
            if sidecar.exists():
                touch_private(sidecar)
        touch_private(self.path)
        with self._connect() as db:
            db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns an older store lacks (its rows get the column's default)."""
        with self._transaction() as db:
            present = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            for column, definition in _ADDED_COLUMNS.items():
                if column not in present:
                    db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {definition}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # autocommit mode; transactions are opened explicitly with BEGIN IMMEDIATE (take the write lock up front,
        # so two writers never deadlock upgrading read locks).
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _from_row(row: sqlite3.Row) -> JobRecord:
        data = dict(row)
        for column in _JSON_COLUMNS:
            data[column] = json.loads(data[column])
        data["stop_requested"] = bool(data["stop_requested"])
        return JobRecord.model_validate(data)

    @staticmethod
    def _to_row(record: JobRecord) -> dict[str, Any]:
        data = record.model_dump(mode="json")
        for column in _JSON_COLUMNS:
            data[column] = json.dumps(data[column])
        data["stop_requested"] = int(data["stop_requested"])
        return data

    def create(self, record: JobRecord) -> JobRecord:
        row = self._to_row(record)
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        try:
            with self._transaction() as db:
                db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", row)
        except sqlite3.IntegrityError:
            raise UserError(f"a job with id {record.id!r} already exists") from None
        return record

    def get(self, job_id: str) -> JobRecord:
        """Exact id, or a unique prefix of one (case-sensitive, as ids are; an empty prefix names no job)."""
        if not job_id:
            raise UserError("give a job id (or a unique prefix of one; see `launcher list`)")
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                # substr, not LIKE: LIKE ignores ASCII case and treats '%' and '_' as wildcards.
                rows = db.execute(
                    "SELECT * FROM jobs WHERE substr(id, 1, ?) = ? LIMIT 2", (len(job_id), job_id)
                ).fetchall()
                if len(rows) > 1:
                    raise UserError(f"job id prefix {job_id!r} is ambiguous; give more characters")
                row = rows[0] if rows else None
        if row is None:
            raise JobNotFound(f"no job {job_id!r} (see `launcher list`)")
        return self._from_row(row)

    def list(self, backend: str | None = None, limit: int = 50) -> list[JobRecord]:
        query = "SELECT * FROM jobs" + (" WHERE backend = ?" if backend else "") + " ORDER BY created_at DESC LIMIT ?"
        params: tuple[Any, ...] = (backend, limit) if backend else (limit,)
        with self._connect() as db:
            return [self._from_row(r) for r in db.execute(query, params).fetchall()]

    def page(
        self, *, state: str = "", backend: str = "", name: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[list[JobRecord], int]:
        """One page of jobs, newest first, filtered in SQL (the dashboard pages thousands), and how many match."""
        where = " AND ".join(f"{c} = :{c}" for c, v in (("state", state), ("backend", backend), ("name", name)) if v)
        clause = f" WHERE {where}" if where else ""
        params = {"state": state, "backend": backend, "name": name, "offset": max(0, offset), "limit": limit}
        with self._connect() as db:
            total = db.execute(f"SELECT COUNT(*) FROM jobs{clause}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT * FROM jobs{clause} ORDER BY created_at DESC LIMIT :limit OFFSET :offset", params
            ).fetchall()
        return [self._from_row(r) for r in rows], total

    def distinct(self, column: str) -> list[str]:
        """The values one filterable column takes (backend, name, state), sorted."""
        if column not in ("backend", "name", "state"):
            raise ValueError(f"not a filterable column: {column}")
        with self._connect() as db:
            return [r[0] for r in db.execute(f"SELECT DISTINCT {column} FROM jobs ORDER BY {column}")]

    def transition(
        self, job_id: str, to: JobState, *, handle_update: dict[str, Any] | None = None, **fields: Any
    ) -> bool:
        """Move the job to `to` if its current state allows it; set `fields` in the same transaction.

        `handle_update` is merged into the stored handle (see `update`). Returns False (and changes nothing)
        when the job has already moved on, e.g. a stop raced with the end.
        """
        sources = [s.value for s, targets in TRANSITIONS.items() if to in targets]
        if not sources:
            raise InvalidTransition(f"no state may move to {to}")
        now = time.time()
        if to is JobState.RUNNING:
            fields.setdefault("started_at", now)
        if to.terminal:
            fields.setdefault("ended_at", now)
        updates = {"state": to.value, **self._encode(fields)}
        assignments = self._assignments(updates, handle_update)
        marks = ", ".join(f":s{i}" for i in range(len(sources)))
        params = {**updates, **self._handle_param(handle_update), "id": job_id}
        params.update({f"s{i}": s for i, s in enumerate(sources)})
        with self._transaction() as db:
            cursor = db.execute(f"UPDATE jobs SET {assignments} WHERE id = :id AND state IN ({marks})", params)
            return cursor.rowcount == 1

    def update(self, job_id: str, *, handle_update: dict[str, Any] | None = None, **fields: Any) -> None:
        """Set non-state fields (stop_requested, ...).

        `handle_update` merges keys into the stored handle inside the UPDATE itself (SQLite's json_patch), so
        two processes adding their own keys (the CLI its supervisor's pid, the supervisor the job's pgid) never
        erase each other's, as writing back a whole handle read earlier would. A None value removes its key.
        """
        if "state" in fields:
            raise InvalidTransition("use transition() to change state")
        updates = self._encode(fields)
        if not updates and not handle_update:
            return
        params = {**updates, **self._handle_param(handle_update), "id": job_id}
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET {self._assignments(updates, handle_update)} WHERE id = :id", params)

    @staticmethod
    def _assignments(updates: dict[str, Any], handle_update: dict[str, Any] | None) -> str:
        if handle_update and "handle" in updates:
            raise ValueError("give either a whole handle or handle_update, not both")
        parts = [f"{c} = :{c}" for c in updates]
        if handle_update:
            parts.append("handle = json_patch(handle, :handle_update)")
        return ", ".join(parts)

    @staticmethod
    def _handle_param(handle_update: dict[str, Any] | None) -> dict[str, str]:
        return {"handle_update": json.dumps(handle_update)} if handle_update else {}

    @staticmethod
    def _encode(fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - set(JobRecord.model_fields)
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        out = {}
        for key, value in fields.items():
            if key in _JSON_COLUMNS:
                value = json.dumps(value)
            elif key == "stop_requested":
                value = int(value)
            elif key == "reason" and isinstance(value, str):
                value = redact(value)  # a reason may quote an exception; status, list and the UI show it
            out[key] = value
        return out
