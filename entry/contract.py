"""The in-job contract both sides read: exit codes, file names, the progress document.

The entry (inside the job) writes these; the launcher's backends, CLI and dashboard (outside) read them.
One definition here, imported by both, so the two sides cannot drift apart.
"""

from __future__ import annotations

import time

from pydantic import BaseModel, ConfigDict, Field

# Exit codes of the entry, the same on every backend (defined in entry/exit_codes.py, which imports nothing).
from entry.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INFRA, EXIT_OK, EXIT_STOPPED  # noqa: F401

# File names inside a job's folders.
REQUEST_FILE = "request.json"  # the rendered request a local/docker supervisor runs from (job folder)
FAILURE_FILE = "failure.json"  # why a job failed (log folder; pushed to train_url/logs/)
METRICS_FILE = "metrics.json"  # the trainer's final metrics (output folder)
PROGRESS_FILE = "progress.json"  # live progress (output folder; pushed with the outputs)


class ProgressReport(BaseModel):
    """What `progress.json` holds: written atomically by the trainer's progress API, read by status/list/ui."""

    model_config = ConfigDict(extra="ignore")

    step: int = Field(0, ge=0, description="optimizer steps done")
    total_steps: int | None = Field(None, ge=0, description="steps the run will do, when known")
    epoch: int | None = None
    samples_per_sec: float | None = None
    eta_seconds: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict, description="latest loss/accuracy/... by name")
    history: list[dict[str, float]] = Field(
        default_factory=list, description="a bounded series of {'step': s, <metric>: v, ...} points for curves"
    )
    updated_at: float = Field(default_factory=time.time)
