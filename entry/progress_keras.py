"""The progress API for `model.fit`: `callbacks=[ProgressCallback(env)]` (see entry/progress.py)."""

from __future__ import annotations

from typing import Any

import keras

from entry.progress import HasOutput, ProgressReporter


class ProgressCallback(keras.callbacks.Callback):
    """Reports step, epoch, samples/s, ETA and the latest logs (loss, accuracy, ...) to progress.json."""

    def __init__(self, env: HasOutput, samples_per_step: int | None = None, total_steps: int | None = None) -> None:
        super().__init__()
        self.enabled = env.is_chief
        self.reporter = ProgressReporter(env.output_dir, total_steps, samples_per_step)
        self.step = 0
        self.epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        params = self.params or {}
        if self.reporter.total_steps is None and params.get("steps") and params.get("epochs"):
            self.reporter.total_steps = int(params["steps"]) * int(params["epochs"])

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        if self.enabled:
            self.reporter.update(self.step, epoch=self.epoch + 1, metrics=logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.enabled:
            self.reporter.update(self.step, epoch=epoch + 1, metrics=logs, force=True)
