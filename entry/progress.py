"""The trainers' progress API: `report_progress(env, step, total_steps, metrics=...)` in a training loop, or
`entry.progress_keras.ProgressCallback` in `model.fit`. Both write a ProgressReport (the model is defined here;
the launcher's status/list/dashboard read it through launcher/progress.py) to `progress.json` in the job's
output folder, atomically (a reader never sees half a file), at most every few seconds, and only on the chief
(ranks share one train_url). The output folder is pushed to train_url while the job runs, so `launcher
status`/`list` and the dashboard see it on every backend.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from entry.contract import PROGRESS_FILE

MIN_INTERVAL_S = 2.0  # between two writes; the first, the last and every epoch end are always written
HISTORY_POINTS = 200  # curve points kept: thinned to every other point when full, so a long run stays small
RATE_WINDOW = 20  # updates over which samples/s is measured


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


class HasOutput(Protocol):
    @property
    def output_dir(self) -> Path: ...

    @property
    def is_chief(self) -> bool: ...


def write_report(output_dir: Path, report: ProgressReport) -> Path:
    """Write `progress.json` atomically: a temporary file in the same folder, then a rename over the old one."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / PROGRESS_FILE
    handle, temporary = tempfile.mkstemp(prefix=".progress-", suffix=".tmp", dir=output_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(report.model_dump_json())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _finite(metrics: Mapping[str, float] | None) -> dict[str, float]:
    out = {}
    for name, value in (metrics or {}).items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):  # NaN/inf are not JSON; a diverged loss shows as absent, the log says why
            out[str(name)] = number
    return out


class ProgressReporter:
    """Keeps the rate window and the history of one run; `update` once per step is cheap (writes are throttled)."""

    def __init__(
        self,
        output_dir: Path,
        total_steps: int | None = None,
        samples_per_step: int | None = None,
        min_interval_s: float = MIN_INTERVAL_S,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.total_steps = total_steps
        self.samples_per_step = samples_per_step
        self.min_interval_s = min_interval_s
        self._now = time.monotonic
        self._window: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
        self._history: list[dict[str, float]] = []
        self._last_write = -math.inf
        self._epoch: int | None = None

    def update(
        self,
        step: int,
        *,
        total_steps: int | None = None,
        epoch: int | None = None,
        metrics: Mapping[str, float] | None = None,
        samples_per_step: int | None = None,
        force: bool = False,
    ) -> ProgressReport | None:
        """Record the state after `step` optimizer steps; returns the report when it was written."""
        now = self._now()
        self.total_steps = total_steps if total_steps is not None else self.total_steps
        self.samples_per_step = samples_per_step if samples_per_step is not None else self.samples_per_step
        if self._window and step < self._window[-1][1]:  # the run went back (resumed from a checkpoint): start over
            self._window.clear()
            self._history = [point for point in self._history if point["step"] < step]
        if not self._window or step != self._window[-1][1]:
            self._window.append((now, step))
        values = _finite(metrics)
        if values:
            self._history.append({"step": float(step), **values})
            if len(self._history) > HISTORY_POINTS:
                self._history = self._history[::2]
        new_epoch = epoch is not None and epoch != self._epoch
        self._epoch = epoch if epoch is not None else self._epoch
        done = self.total_steps is not None and step >= self.total_steps
        if not (force or done or new_epoch or now - self._last_write >= self.min_interval_s):
            return None
        self._last_write = now
        report = self._report(step, values)
        write_report(self.output_dir, report)
        return report

    def _report(self, step: int, values: dict[str, float]) -> ProgressReport:
        steps_per_sec = None
        if len(self._window) >= 2:
            (t0, s0), (t1, s1) = self._window[0], self._window[-1]
            if t1 > t0 and s1 > s0:
                steps_per_sec = (s1 - s0) / (t1 - t0)
        eta = None
        if steps_per_sec and self.total_steps is not None:
            eta = max(0.0, (self.total_steps - step) / steps_per_sec)
        latest = values or ({k: v for k, v in self._history[-1].items() if k != "step"} if self._history else {})
        return ProgressReport(
            step=max(0, step),
            total_steps=self.total_steps,
            epoch=self._epoch,
            samples_per_sec=steps_per_sec * self.samples_per_step if steps_per_sec and self.samples_per_step else None,
            eta_seconds=eta,
            metrics=latest,
            history=list(self._history),
        )


_reporters: dict[Path, ProgressReporter] = {}


def report_progress(
    env: HasOutput,
    step: int,
    total_steps: int | None = None,
    *,
    epoch: int | None = None,
    metrics: Mapping[str, float] | None = None,
    samples_per_step: int | None = None,
    force: bool = False,
) -> ProgressReport | None:
    """One call per step (or per log line) from a training loop; a no-op on ranks other than the chief."""
    if not env.is_chief:
        return None
    reporter = _reporters.get(env.output_dir)
    if reporter is None:
        reporter = _reporters[env.output_dir] = ProgressReporter(env.output_dir, total_steps, samples_per_step)
    return reporter.update(
        step, total_steps=total_steps, epoch=epoch, metrics=metrics, samples_per_step=samples_per_step, force=force
    )
