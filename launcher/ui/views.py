"""What each page shows, read through the same API as the CLI: the job store, each backend's status/logs/stop,
and launcher.storage for what a job left in its train_url (progress.json, metrics.json, failure.json, curves)."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

from entry.contract import FAILURE_FILE, METRICS_FILE, PROGRESS_FILE
from entry.progress import ProgressReport
from launcher.backends import get_backend
from launcher.backends.base import Backend
from launcher.jobs import JobRecord, JobState, JobStore
from launcher.logs import logger
from launcher.progress import parse_metrics, parse_progress
from launcher.redact import is_secret_name, redact
from launcher.ui import curves
from launcher.ui.outputs import list_outputs, read_many

PER_PAGE = 50
MAX_PAGE = 1_000_000
# Metrics worth a column, best first (the CLI's summary order, then the recipes' own).
HEADLINE_METRICS = ("accuracy", "top1", "rank1", "mAP", "loss", "error", "samples_per_sec")
MAX_EVENT_FILE_BYTES = 64 * 1024 * 1024
_CACHE_SIZE = 4096


class Filters(BaseModel):
    state: str = ""
    backend: str = ""
    recipe: str = ""
    page: int = 1


class JobRow(BaseModel):
    id: str
    name: str
    backend: str
    state: JobState
    exit_code: int | None
    created_at: float
    duration: float | None
    step: int | None = None
    total_steps: int | None = None
    eta_seconds: float | None = None
    headline: tuple[str, float] | None = None


class JobsPage(BaseModel):
    rows: list[JobRow]
    total: int  # matching the filters
    empty: bool  # no job in the store at all: the page says how to submit one
    page: int
    pages: int
    filters: Filters
    states: list[str]
    backends: list[str]
    recipes: list[str]


class Failure(BaseModel):
    reason: str = ""
    exit_code: int | None = None
    last_lines: list[str] = []


class JobView(BaseModel):
    record: JobRecord
    progress: ProgressReport | None
    metrics: dict[str, float]
    failure: Failure | None
    log_tabs: list[tuple[str, int]]  # (label, rank to ask the backend for)
    resolved: dict[str, Any]  # what the job ran with, secrets masked


def headline(metrics: dict[str, float]) -> tuple[str, float] | None:
    for name in HEADLINE_METRICS:
        if name in metrics:
            return name, metrics[name]
    return None


def masked(value: Any, key: str = "") -> Any:
    """A JSON-ready value fit for a page: secret-named keys masked, known secret values redacted."""
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return "***" if key and is_secret_name(key) and value else redact(value)
    return value


def log_tabs(handle: dict[str, Any]) -> list[tuple[str, int]]:
    """One tab per log the backend keeps: per rank on local/docker (handle["logs"]), per node on ModelArts and
    Volcano (handle["nodes"] x handle["ranks_per_node"]: a node's log holds all its ranks)."""
    logs = handle.get("logs")
    if isinstance(logs, list) and logs:
        return [(f"rank {r}", r) for r in range(len(logs))]
    try:
        nodes, per_node = max(1, int(handle.get("nodes", 1))), max(1, int(handle.get("ranks_per_node", 1)))
    except (TypeError, ValueError):
        return [("log", 0)]
    if nodes == 1:
        return [("log", 0)]
    return [(f"node {n}", n * per_node) for n in range(nodes)]


def output_url(record: JobRecord, name: str) -> str:
    return record.train_url.rstrip("/") + "/" + name


class Dashboard:
    """The data behind every page. One per app; safe to call from several request threads."""

    def __init__(self, store: JobStore | None = None) -> None:
        self.store = store or JobStore()
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()
        # progress/metrics of ended jobs do not change: read once, keep the newest few thousand.
        self._ended: OrderedDict[str, tuple[ProgressReport | None, dict[str, float]]] = OrderedDict()

    def backend(self, name: str) -> Backend:
        with self._lock:
            if name not in self._backends:
                self._backends[name] = get_backend(name, self.store)
            return self._backends[name]

    def status(self, record: JobRecord) -> JobRecord:
        """The record reconciled with its backend (as `launcher status` does); the stored one if that fails."""
        if record.state.terminal:
            return record
        try:
            return self.backend(record.backend).status(record.id)
        except Exception as error:  # noqa: BLE001  (a cloud API down must not take the dashboard with it)
            logger.warning("status of {} from {}: {}", record.id, record.backend, redact(str(error)))
            return record

    def _live(self, records: list[JobRecord]) -> dict[str, tuple[ProgressReport | None, dict[str, float]]]:
        found: dict[str, tuple[ProgressReport | None, dict[str, float]]] = {}
        wanted: list[JobRecord] = []
        for record in records:
            cached = self._ended.get(record.id) if record.state.terminal else None
            if cached is not None:
                found[record.id] = cached
            elif record.train_url:
                wanted.append(record)
        urls = [output_url(r, n) for r in wanted for n in (PROGRESS_FILE, METRICS_FILE)]
        contents = read_many(urls)
        for record in wanted:
            pair = (
                parse_progress(contents.get(output_url(record, PROGRESS_FILE))),
                parse_metrics(contents.get(output_url(record, METRICS_FILE))),
            )
            found[record.id] = pair
            if record.state.terminal:
                with self._lock:
                    self._ended[record.id] = pair
                    while len(self._ended) > _CACHE_SIZE:
                        self._ended.popitem(last=False)
        return found

    def jobs_page(self, filters: Filters, per_page: int = PER_PAGE) -> JobsPage:
        query = {"state": filters.state, "backend": filters.backend, "name": filters.recipe}
        requested = min(max(1, filters.page), MAX_PAGE)  # a page number from a URL: keep SQLite's OFFSET in range
        chosen, total = self.store.page(**query, offset=(requested - 1) * per_page, limit=per_page)
        pages = max(1, -(-total // per_page))
        page = min(requested, pages)
        if total and not chosen:  # past the last page: show the last one
            chosen, total = self.store.page(**query, offset=(page - 1) * per_page, limit=per_page)
        backends, recipes = self.store.distinct("backend"), self.store.distinct("name")
        shown = [self.status(r) for r in chosen]
        live = self._live(shown)
        rows = []
        for r in shown:
            progress, metrics = live.get(r.id, (None, {}))
            rows.append(
                JobRow(
                    id=r.id,
                    name=r.name,
                    backend=r.backend,
                    state=r.state,
                    exit_code=r.exit_code,
                    created_at=r.created_at,
                    duration=r.duration,
                    step=progress.step if progress else None,
                    total_steps=progress.total_steps if progress else None,
                    eta_seconds=progress.eta_seconds if progress and not r.state.terminal else None,
                    headline=headline(metrics) or (headline(progress.metrics) if progress else None),
                )
            )
        return JobsPage(
            rows=rows,
            total=total,
            empty=not backends,
            page=page,
            pages=pages,
            filters=filters.model_copy(update={"page": page}),
            states=[s.value for s in JobState],
            backends=backends,
            recipes=recipes,
        )

    def job(self, job_id: str) -> JobView:
        record = self.status(self.store.get(job_id))
        progress, metrics = self._live([record]).get(record.id, (None, {}))
        failure = self._failure(record) if record.state is JobState.FAILED else None  # a stop is not a failure
        resolved = masked(record.model_dump(mode="json", exclude={"handle", "stop_requested"}))
        return JobView(
            record=record,
            progress=progress,
            metrics=metrics,
            failure=failure,
            log_tabs=log_tabs(record.handle),
            resolved=resolved,
        )

    def _failure(self, record: JobRecord) -> Failure:
        raw = read_many([output_url(record, f"logs/{FAILURE_FILE}")]).get(output_url(record, f"logs/{FAILURE_FILE}"))
        document: dict[str, Any] = {}
        if raw:
            try:
                document = json.loads(raw)
            except ValueError:
                document = {}
        lines = document.get("last_log_lines") if isinstance(document, dict) else None
        return Failure(
            reason=redact(str(document.get("reason") or record.reason)),
            exit_code=document.get("exit_code", record.exit_code),
            last_lines=[redact(str(x)) for x in lines[-30:]] if isinstance(lines, list) else [],
        )

    def curves(self, record: JobRecord) -> list[curves.Series]:
        files, _ = list_outputs(record.train_url)
        events = [f for f in files if curves.EVENT_FILE_MARK in f.path.rsplit("/", 1)[-1]]
        events = [f for f in events if f.size <= MAX_EVENT_FILE_BYTES]
        histories = [f.path for f in files if f.path.rsplit("/", 1)[-1] == curves.HISTORY_FILE]
        names = [PROGRESS_FILE, *histories, *(f.path for f in events)]
        contents = read_many([output_url(record, n) for n in names])
        series = curves.from_progress(parse_progress(contents.get(output_url(record, PROGRESS_FILE))))
        for name in histories:
            series += curves.from_history(contents.get(output_url(record, name)))
        for f in events:
            data = contents.get(output_url(record, f.path))
            if data:
                series += curves.from_event_file(data, curves.event_source(f.path))
        return curves.merge(series)

    def compare(self, job_ids: list[str]) -> tuple[list[JobRecord], dict[str, list[Any]], dict[str, list[float | None]]]:
        """The jobs, the hyperparameters that differ between them, and every final metric (None where absent)."""
        records = [self.status(self.store.get(i)) for i in dict.fromkeys(job_ids)]
        live = self._live(records)
        keys = sorted({k for r in records for k in r.hyperparameters})
        differing = {}
        for key in keys:
            values = [masked(r.hyperparameters.get(key), key) for r in records]
            if len({json.dumps(v, sort_keys=True) for v in values}) > 1:
                differing[key] = values
        finals = [live.get(r.id, (None, {})) for r in records]
        merged = [{**(p.metrics if p else {}), **m} for p, m in finals]
        metric_names = sorted({k for m in merged for k in m})
        metrics = {name: [m.get(name) for m in merged] for name in metric_names}
        return records, differing, metrics

    def stop(self, job_id: str) -> JobRecord:
        """Cancel only: the page must not hang for a grace period; the job is forced when its grace is over."""
        record = self.store.get(job_id)
        return self.backend(record.backend).cancel(record.id)

    def restart(self, job_id: str) -> JobRecord:
        """What `launcher restart JOB --detach` does: same recipe, hyperparameters, data and train_url."""
        from launcher.cli import _plan_restart, seed_demo_data  # the CLI's own planning; no second way to submit

        old = self.store.get(job_id)
        spec, runner = _plan_restart(old, {})
        seed_demo_data(spec)
        return runner.submit(spec)
