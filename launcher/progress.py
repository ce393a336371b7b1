"""The reading side of a job's progress and results: plain functions the CLI and the dashboard share.

`read_progress(record)` finds the job's `progress.json` in its local job folder (local and docker backends,
fresh while it runs) or at its train_url (every backend: the entry pushes the output folder while it runs).
`progress_line` / `progress_cell` format it; `compare(records)` puts differing hyperparameters and final
metrics of several jobs side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from entry.contract import METRICS_FILE, PROGRESS_FILE
from entry.progress import ProgressReport
from launcher import storage
from launcher.jobs import JobRecord
from launcher.paths import jobs_root

BAR_WIDTH = 24
MAX_DOCUMENT_BYTES = 4 << 20  # progress/metrics files are small; a huge one is not read into memory


def local_output_dir(record: JobRecord) -> Path:
    """Where a local or docker job's entry writes its outputs on this machine (LAUNCHER_WORK_DIR/output)."""
    return jobs_root() / record.id / "work" / "output"


def _read_document(record: JobRecord, name: str, remote: bool) -> dict[str, Any] | None:
    local = local_output_dir(record) / name
    try:
        if local.is_file() and not local.is_symlink() and local.stat().st_size <= MAX_DOCUMENT_BYTES:
            return json.loads(local.read_bytes())
    except (OSError, ValueError):
        pass
    if not remote or not record.train_url:
        return None
    try:
        document = json.loads(storage.read_bytes(record.train_url.rstrip("/") + "/" + name))
    except Exception:  # absent, unreachable or not JSON: there is just nothing to show
        return None
    return document if isinstance(document, dict) else None


def parse_progress(document: bytes | dict[str, Any] | None) -> ProgressReport | None:
    """progress.json's content (bytes or parsed) as a ProgressReport; None when absent, torn or not one."""
    try:
        return ProgressReport.model_validate(json.loads(document) if isinstance(document, bytes) else document)
    except (ValueError, ValidationError):  # pydantic's ValidationError is a ValueError too; None is not a report
        return None


def parse_metrics(document: bytes | dict[str, Any] | None) -> dict[str, float]:
    """metrics.json's content (bytes or parsed): its numbers by name ({} when absent or not JSON)."""
    try:
        found = json.loads(document) if isinstance(document, bytes) else document
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {k: float(v) for k, v in found.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def read_progress(record: JobRecord, remote: bool = True) -> ProgressReport | None:
    """The job's latest progress report, or None when it has not written one (yet) or it cannot be read."""
    document = _read_document(record, PROGRESS_FILE, remote)
    return None if document is None else parse_progress(document)


def read_metrics(record: JobRecord, remote: bool = True) -> dict[str, float]:
    """The job's final metrics (metrics.json), numbers only."""
    return parse_metrics(_read_document(record, METRICS_FILE, remote))


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def fraction(report: ProgressReport) -> float | None:
    if not report.total_steps:
        return None
    return min(1.0, report.step / report.total_steps)


LINE_METRICS = ("loss", "accuracy", "acc", "error", "val_loss", "val_accuracy")


def progress_line(report: ProgressReport) -> str:
    """`[#########...............] 120/300 40% · epoch 2 · 35.2 samples/s · ETA 1m12s · loss 0.512 accuracy 0.83`."""
    done = fraction(report)
    parts = []
    if done is not None:
        filled = int(done * BAR_WIDTH)
        parts.append(f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {report.step}/{report.total_steps} {done:.0%}")
    else:
        parts.append(f"step {report.step}")
    if report.epoch is not None:
        parts.append(f"epoch {report.epoch}")
    if report.samples_per_sec:
        parts.append(f"{report.samples_per_sec:.1f} samples/s")
    if report.eta_seconds is not None and (done is None or done < 1):
        parts.append(f"ETA {format_seconds(report.eta_seconds)}")
    shown = [k for k in LINE_METRICS if k in report.metrics] or sorted(report.metrics)[:2]
    if shown:
        parts.append(" ".join(f"{k} {report.metrics[k]:.4g}" for k in shown))
    return " · ".join(parts)


def progress_cell(report: ProgressReport | None) -> str:
    """The `launcher list` PROGRESS column: `40% 120/300`, or the step when the total is unknown."""
    if report is None:
        return "-"
    done = fraction(report)
    return f"{done:.0%} {report.step}/{report.total_steps}" if done is not None else f"step {report.step}"


class Comparison(BaseModel):
    """Jobs side by side: the hyperparameters whose values differ, and every final metric."""

    jobs: list[str]
    hyperparameters: dict[str, list[Any]]  # name -> value per job (None where a job lacks it)
    metrics: dict[str, list[float | None]]


_MISSING = object()


def compare(records: list[JobRecord]) -> Comparison:
    names = sorted({k for r in records for k in r.hyperparameters})
    differing = {}
    for name in names:
        values = [r.hyperparameters.get(name, _MISSING) for r in records]
        if any(v != values[0] for v in values[1:]):
            differing[name] = [None if v is _MISSING else v for v in values]
    finals = [read_metrics(r) for r in records]
    metric_names = sorted({k for m in finals for k in m})
    return Comparison(
        jobs=[r.id for r in records],
        hyperparameters=differing,
        metrics={k: [m.get(k) for m in finals] for k in metric_names},
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)


def format_comparison(table: Comparison) -> str:
    rows: list[list[str]] = [["", *table.jobs]]
    if table.hyperparameters:
        rows.append(["hyperparameters that differ:", *[""] * len(table.jobs)])
        rows += [[f"  {k}", *map(_cell, v)] for k, v in table.hyperparameters.items()]
    else:
        rows.append(["(same hyperparameters)", *[""] * len(table.jobs)])
    if table.metrics:
        rows.append(["final metrics:", *[""] * len(table.jobs)])
        rows += [[f"  {k}", *map(_cell, v)] for k, v in table.metrics.items()]
    else:
        rows.append(["(no final metrics yet)", *[""] * len(table.jobs)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
