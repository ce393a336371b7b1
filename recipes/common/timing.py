"""Per-step wall time of the training step alone (checkpoints and evaluation are timed outside it)."""

from __future__ import annotations

import time


class StepTimer:
    """Collects step durations; the mean skips the first `warmup` steps of the process (tracing/compilation)."""

    def __init__(self, warmup: int = 10) -> None:
        self.warmup = warmup
        self.durations: list[float] = []
        self._start = 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> float:
        elapsed = time.perf_counter() - self._start
        self.durations.append(elapsed)
        return elapsed

    def mean_ms(self) -> float | None:
        """Mean ms/step after warm-up; with too few steps, all steps but the first; None if nothing was timed."""
        if not self.durations:
            return None
        steady = self.durations[self.warmup :] or self.durations[1:] or self.durations
        return 1000.0 * sum(steady) / len(steady)

    def window_mean_s(self, last: int) -> float:
        window = self.durations[-last:]
        return sum(window) / len(window) if window else 0.0
